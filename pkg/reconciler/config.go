package reconciler

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"strings"
	"time"

	"github.com/sethvargo/go-envconfig"

	"github.com/geminihooks/geminihooks/pkg/config"
	"github.com/geminihooks/geminihooks/pkg/idempotency"
	"github.com/geminihooks/geminihooks/pkg/logging"
	"github.com/geminihooks/geminihooks/pkg/registry"
	"github.com/geminihooks/geminihooks/pkg/tracing"
)

// Config is the reconciler's configuration, read from the environment.
// Every field is documented in the README's configuration table.
type Config struct {
	// ProjectID is the Google Cloud project of Firestore and Pub/Sub.
	ProjectID string `env:"GOOGLE_CLOUD_PROJECT"`
	// GeminiAPIKey authenticates calls to the Gemini API. Deployed, it is
	// injected from Secret Manager.
	GeminiAPIKey string `env:"GEMINI_API_KEY"`
	// GeminiBaseURL is the Gemini API's origin, the only host the key is
	// sent to; the default is gemini.DefaultBaseURL (a test keeps them
	// equal).
	GeminiBaseURL string `env:"GEMINI_BASE_URL, default=https://generativelanguage.googleapis.com"`
	// FetchTimeout bounds one call to the Gemini API.
	FetchTimeout time.Duration `env:"GEMINI_FETCH_TIMEOUT, default=30s"`

	// FirestoreDatabase holds the delivery ledger and the job registry.
	FirestoreDatabase string `env:"FIRESTORE_DATABASE, default=(default)"`
	// IdempotencyCollection, IdempotencyTTL and IdempotencyLease are the
	// receiver's ledger settings: the reconciler claims jobs in the same
	// ledger, and must agree on them.
	IdempotencyCollection string        `env:"IDEMPOTENCY_COLLECTION, default=webhook_deliveries"`
	IdempotencyTTL        time.Duration `env:"IDEMPOTENCY_TTL, default=168h"`
	IdempotencyLease      time.Duration `env:"IDEMPOTENCY_LEASE, default=30s"`
	// Jobs configures the job registry it reads and advances.
	Jobs registry.Config

	// EventsTopic is the Pub/Sub topic (id or full name) of completion
	// events, the receiver's.
	EventsTopic string `env:"EVENTS_TOPIC, default=geminihooks-events"`
	// Ordering publishes with the job resource as ordering key.
	Ordering bool `env:"PUBSUB_ORDERING, default=true"`
	// PublishTimeout and LedgerTimeout bound each step of publishing one
	// event, as in the receiver.
	PublishTimeout time.Duration `env:"PUBLISH_TIMEOUT, default=5s"`
	LedgerTimeout  time.Duration `env:"LEDGER_TIMEOUT, default=2s"`

	// LookBack is how far back batches are listed.
	LookBack time.Duration `env:"RECONCILE_LOOK_BACK, default=72h"`
	// PageSize batches are listed per call, at most MaxPages pages a pass.
	PageSize int `env:"RECONCILE_PAGE_SIZE, default=100"`
	MaxPages int `env:"RECONCILE_MAX_PAGES, default=10"`
	// MaxCalls caps a pass's calls to the Gemini API.
	MaxCalls int `env:"RECONCILE_MAX_CALLS, default=200"`
	// Grace is how long after a job ended, or was expected to, its webhook
	// may still come before the reconciler steps in.
	Grace time.Duration `env:"RECONCILE_GRACE, default=15m"`
	// RecheckMin and RecheckMax bound the backoff between polls of a
	// registered job still running.
	RecheckMin time.Duration `env:"RECONCILE_RECHECK_MIN, default=10m"`
	RecheckMax time.Duration `env:"RECONCILE_RECHECK_MAX, default=6h"`
	// Timeout bounds a pass.
	Timeout time.Duration `env:"RECONCILE_TIMEOUT, default=2m"`
	// ReenableWebhooks turns webhooks Gemini disabled after failed
	// deliveries back on; they are reported either way.
	ReenableWebhooks bool `env:"RECONCILE_REENABLE_WEBHOOKS, default=false"`

	// LogLevel is debug, info, notice, warning or error.
	LogLevel string `env:"LOG_LEVEL, default=info"`
	// Tracing says where spans go and which are sampled (OTEL_TRACES_*).
	Tracing tracing.Config
}

// LoadConfig reads the configuration through lookuper
// (envconfig.OsLookuper() in production, a MapLookuper in tests) and
// validates it.
func LoadConfig(ctx context.Context, lookuper envconfig.Lookuper) (*Config, error) {
	var cfg Config
	if err := config.Load(ctx, lookuper, &cfg); err != nil {
		return nil, err
	}
	return &cfg, nil
}

// Options returns the reconciler options c describes.
func (c *Config) Options() Options {
	return Options{
		LookBack: c.LookBack, PageSize: c.PageSize, MaxPages: c.MaxPages, MaxCalls: c.MaxCalls, Grace: c.Grace,
		RecheckMin: c.RecheckMin, RecheckMax: c.RecheckMax, ReenableWebhooks: c.ReenableWebhooks,
		LedgerTTL: c.IdempotencyTTL, RegistryTTL: c.Jobs.TTL, Timeout: c.Timeout,
		PublishTimeout: c.PublishTimeout, LedgerTimeout: c.LedgerTimeout,
	}
}

// ledgerOptions returns the delivery ledger's options.
func (c *Config) ledgerOptions() idempotency.Options {
	return idempotency.Options{Collection: c.IdempotencyCollection, TTL: c.IdempotencyTTL, Lease: c.IdempotencyLease}
}

// Validate reports every problem at once.
func (c *Config) Validate() error {
	var errs []error
	add := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	if strings.TrimSpace(c.GeminiAPIKey) == "" {
		add("GEMINI_API_KEY must be set")
	}
	if u, err := url.Parse(c.GeminiBaseURL); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		add("GEMINI_BASE_URL must be an absolute http(s) URL, got %q", c.GeminiBaseURL)
	}
	for name, d := range map[string]time.Duration{
		"GEMINI_FETCH_TIMEOUT":  c.FetchTimeout,
		"IDEMPOTENCY_LEASE":     c.IdempotencyLease,
		"PUBLISH_TIMEOUT":       c.PublishTimeout,
		"LEDGER_TIMEOUT":        c.LedgerTimeout,
		"RECONCILE_LOOK_BACK":   c.LookBack,
		"RECONCILE_GRACE":       c.Grace,
		"RECONCILE_RECHECK_MIN": c.RecheckMin,
		"RECONCILE_RECHECK_MAX": c.RecheckMax,
		"RECONCILE_TIMEOUT":     c.Timeout,
	} {
		if d <= 0 {
			add("%s must be positive, got %s", name, d)
		}
	}
	for name, n := range map[string]int{"RECONCILE_PAGE_SIZE": c.PageSize, "RECONCILE_MAX_PAGES": c.MaxPages, "RECONCILE_MAX_CALLS": c.MaxCalls} {
		if n <= 0 {
			add("%s must be positive, got %d", name, n)
		}
	}
	if c.LedgerTimeout > 0 && 2*c.LedgerTimeout+c.PublishTimeout >= c.IdempotencyLease {
		// As in the receiver: a claim must outlast its publish and mark,
		// or another process could take it over and publish again.
		add("2 × LEDGER_TIMEOUT + PUBLISH_TIMEOUT (%s) must be shorter than IDEMPOTENCY_LEASE (%s)",
			2*c.LedgerTimeout+c.PublishTimeout, c.IdempotencyLease)
	}
	if err := c.ledgerOptions().Validate(); err != nil {
		add("IDEMPOTENCY_COLLECTION/IDEMPOTENCY_TTL/IDEMPOTENCY_LEASE: %w", err)
	}
	if err := c.Jobs.Validate(); err != nil {
		add("JOBS_COLLECTION/JOBS_TTL: %w", err)
	}
	if len(errs) == 0 {
		// The cross-checks (look-back below both TTLs, grace below the
		// look-back, the budget above the page cap) are the Options'.
		if _, err := c.Options().withDefaults(); err != nil {
			errs = append(errs, err)
		}
	}
	if strings.TrimSpace(c.EventsTopic) == "" {
		add("EVENTS_TOPIC must not be empty")
	}
	if err := c.Tracing.Validate(); err != nil {
		errs = append(errs, err)
	}
	if _, err := logging.ParseLevel(c.LogLevel); err != nil {
		errs = append(errs, fmt.Errorf("LOG_LEVEL: %w", err))
	}
	return errors.Join(errs...)
}

// Level returns the configured log level (validated by Validate).
func (c *Config) Level() slog.Level {
	level, _ := logging.ParseLevel(c.LogLevel)
	return level
}

// LogValue implements slog.LogValuer, redacting the API key.
func (c *Config) LogValue() slog.Value {
	key := "(none)"
	if c.GeminiAPIKey != "" {
		key = "(redacted)"
	}
	return slog.GroupValue(
		slog.String("project", c.ProjectID),
		slog.String("gemini_api_key", key),
		slog.String("gemini_base_url", c.GeminiBaseURL),
		slog.String("firestore_database", c.FirestoreDatabase),
		slog.String("idempotency_collection", c.IdempotencyCollection),
		slog.String("jobs_collection", c.Jobs.Collection),
		slog.String("events_topic", c.EventsTopic),
		slog.Duration("look_back", c.LookBack),
		slog.Int("page_size", c.PageSize),
		slog.Int("max_pages", c.MaxPages),
		slog.Int("max_calls", c.MaxCalls),
		slog.Duration("grace", c.Grace),
		slog.Duration("timeout", c.Timeout),
		slog.Bool("reenable_webhooks", c.ReenableWebhooks),
		slog.Any("tracing", c.Tracing),
	)
}
