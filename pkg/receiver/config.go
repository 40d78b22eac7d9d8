package receiver

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"regexp"
	"strings"
	"time"

	"github.com/sethvargo/go-envconfig"

	"github.com/geminihooks/geminihooks/pkg/capture"
	"github.com/geminihooks/geminihooks/pkg/config"
	"github.com/geminihooks/geminihooks/pkg/logging"
	"github.com/geminihooks/geminihooks/pkg/registry"
	"github.com/geminihooks/geminihooks/pkg/signature"
	"github.com/geminihooks/geminihooks/pkg/tracing"
)

// Config is the receiver's configuration, read from the environment. Every
// field is documented in the README's configuration table.
type Config struct {
	// ProjectID is the Google Cloud project holding Firestore and Pub/Sub;
	// Cloud Functions sets GOOGLE_CLOUD_PROJECT only on some runtimes, so the
	// deployment sets it explicitly.
	ProjectID string `env:"GOOGLE_CLOUD_PROJECT"`

	// SigningSecrets are project-level webhook secrets ("whsec_…",
	// comma-separated). Local use; deployments use SigningSecretName.
	SigningSecrets string `env:"WEBHOOK_SIGNING_SECRETS"`
	// SigningSecretName is a Secret Manager secret (projects/P/secrets/S)
	// whose every enabled version is an accepted signing secret.
	SigningSecretName string `env:"WEBHOOK_SIGNING_SECRET"`
	// SecretCacheTTL is how long secrets read from Secret Manager are reused.
	SecretCacheTTL time.Duration `env:"WEBHOOK_SECRET_CACHE_TTL, default=5m"`
	// SecretRefreshInterval is the least time between two reloads forced by
	// a signature that matched no secret.
	SecretRefreshInterval time.Duration `env:"WEBHOOK_SECRET_REFRESH_INTERVAL, default=30s"`

	// JWKSURL is the key set that verifies per-request (JWT) webhooks. The
	// default is jwks.DefaultURL (a test keeps them equal): the Gemini
	// guide's prose links https://www.googleapis.com/oauth2/v3/certs, but
	// every code sample uses this URL.
	JWKSURL string `env:"WEBHOOK_JWKS_URL, default=https://generativelanguage.googleapis.com/.well-known/jwks.json"`
	// JWKSRefreshInterval is the least time between two key set fetches
	// forced by an unknown key id.
	JWKSRefreshInterval time.Duration `env:"WEBHOOK_JWKS_REFRESH_INTERVAL, default=30s"`
	// JWTAudience and JWTIssuer, when set, must match the token's aud / iss.
	JWTAudience string `env:"WEBHOOK_JWT_AUDIENCE"`
	JWTIssuer   string `env:"WEBHOOK_JWT_ISSUER"`
	// JWTLeeway is the clock skew allowed on exp, nbf and iat.
	JWTLeeway time.Duration `env:"WEBHOOK_JWT_LEEWAY, default=30s"`

	// TimestampTolerance bounds |now - webhook-timestamp| in both directions.
	TimestampTolerance time.Duration `env:"WEBHOOK_TIMESTAMP_TOLERANCE, default=5m"`
	// MaxBodyBytes caps the request body; larger ones get 413. At most
	// MaxBodyBytesLimit, so that every event fits a Pub/Sub message.
	MaxBodyBytes int64 `env:"WEBHOOK_MAX_BODY_BYTES, default=1048576"`

	// FirestoreDatabase is the Firestore database id.
	FirestoreDatabase string `env:"FIRESTORE_DATABASE, default=(default)"`
	// IdempotencyCollection holds one document per webhook-id.
	IdempotencyCollection string `env:"IDEMPOTENCY_COLLECTION, default=webhook_deliveries"`
	// IdempotencyTTL is how long a webhook-id is remembered; it must outlast
	// Gemini's 24-hour retry window.
	IdempotencyTTL time.Duration `env:"IDEMPOTENCY_TTL, default=168h"`
	// IdempotencyLease is how long a claim blocks concurrent retries before
	// another instance may take it over.
	IdempotencyLease time.Duration `env:"IDEMPOTENCY_LEASE, default=30s"`
	// Jobs configures the job registry, which the receiver advances when
	// it publishes a job's terminal event (in FIRESTORE_DATABASE too).
	Jobs registry.Config

	// EventsTopic is the Pub/Sub topic (id or full name) receiving events.
	EventsTopic string `env:"EVENTS_TOPIC, default=geminihooks-events"`
	// Ordering publishes with the job resource as ordering key.
	Ordering bool `env:"PUBSUB_ORDERING, default=true"`
	// PublishTimeout bounds one publish. Undocumented: how long Gemini
	// waits for an answer ("within a few seconds", says the guide). An
	// answer slower than that costs only a retry, which finds the delivery
	// published (duplicate), still claimed (503) or released after a failed
	// publish.
	PublishTimeout time.Duration `env:"PUBLISH_TIMEOUT, default=5s"`
	// LedgerTimeout bounds each Firestore step of a delivery (claim,
	// release, mark published), so a stalled Firestore is answered with
	// 503 and Retry-After long before the function's own timeout.
	LedgerTimeout time.Duration `env:"LEDGER_TIMEOUT, default=2s"`

	// CaptureLimit is how many verified deliveries the fleet stores, with
	// the receiver's verdict, under captures/ in ResultsBucket, so that real
	// traffic can pin what Gemini leaves undocumented. 0 turns capturing off.
	CaptureLimit int `env:"WEBHOOK_CAPTURE_LIMIT, default=0"`
	// ResultsBucket is the materializer's results bucket, which holds the
	// captures; it is needed only when CaptureLimit is above 0.
	ResultsBucket string `env:"RESULTS_BUCKET"`

	// LogLevel is debug, info, notice, warning or error.
	LogLevel string `env:"LOG_LEVEL, default=info"`
	// Tracing says where spans go and which are sampled (OTEL_TRACES_*).
	Tracing tracing.Config
}

// LoadConfig reads the configuration through lookuper (envconfig.OsLookuper()
// in production, a MapLookuper in tests) and validates it.
func LoadConfig(ctx context.Context, lookuper envconfig.Lookuper) (*Config, error) {
	var cfg Config
	if err := config.Load(ctx, lookuper, &cfg); err != nil {
		return nil, err
	}
	return &cfg, nil
}

var secretNameRE = regexp.MustCompile(`^projects/[^/]+/secrets/[^/]+$`)

// Validate reports every problem in the configuration at once. A malformed
// signing secret is an error here, so start-up stops with a clear message
// instead of every delivery failing later.
func (c *Config) Validate() error {
	var errs []error
	add := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }

	if _, err := c.Secrets(); err != nil {
		errs = append(errs, fmt.Errorf("WEBHOOK_SIGNING_SECRETS: %w", err))
	}
	if c.SigningSecretName != "" && !secretNameRE.MatchString(c.SigningSecretName) {
		add("WEBHOOK_SIGNING_SECRET must look like projects/PROJECT/secrets/NAME, got %q", c.SigningSecretName)
	}
	if u, err := url.Parse(c.JWKSURL); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		add("WEBHOOK_JWKS_URL must be an absolute http(s) URL, got %q", c.JWKSURL)
	}
	for name, d := range map[string]time.Duration{
		"WEBHOOK_SECRET_CACHE_TTL":        c.SecretCacheTTL,
		"WEBHOOK_SECRET_REFRESH_INTERVAL": c.SecretRefreshInterval,
		"WEBHOOK_JWKS_REFRESH_INTERVAL":   c.JWKSRefreshInterval,
		"WEBHOOK_TIMESTAMP_TOLERANCE":     c.TimestampTolerance,
		"IDEMPOTENCY_LEASE":               c.IdempotencyLease,
		"PUBLISH_TIMEOUT":                 c.PublishTimeout,
		"LEDGER_TIMEOUT":                  c.LedgerTimeout,
	} {
		if d <= 0 {
			add("%s must be positive, got %s", name, d)
		}
	}
	if c.PublishTimeout >= c.IdempotencyLease {
		// A publish still running when the lease ends lets a retry take the
		// claim over and publish a second time.
		add("PUBLISH_TIMEOUT (%s) must be shorter than IDEMPOTENCY_LEASE (%s)", c.PublishTimeout, c.IdempotencyLease)
	} else if c.LedgerTimeout > 0 && 2*c.LedgerTimeout+c.PublishTimeout >= c.IdempotencyLease {
		// The lease starts before the claim is written and must outlast the
		// publish and the mark: otherwise the same takeover.
		add("2 × LEDGER_TIMEOUT + PUBLISH_TIMEOUT (%s) must be shorter than IDEMPOTENCY_LEASE (%s)",
			2*c.LedgerTimeout+c.PublishTimeout, c.IdempotencyLease)
	}
	if c.JWTLeeway < 0 {
		add("WEBHOOK_JWT_LEEWAY must not be negative, got %s", c.JWTLeeway)
	}
	if c.IdempotencyTTL < 25*time.Hour {
		add("IDEMPOTENCY_TTL must exceed Gemini's 24h retry window (at least 25h), got %s", c.IdempotencyTTL)
	}
	if c.MaxBodyBytes < 1024 || c.MaxBodyBytes > MaxBodyBytesLimit {
		add("WEBHOOK_MAX_BODY_BYTES must be 1024 to %d, got %d", MaxBodyBytesLimit, c.MaxBodyBytes)
	}
	if strings.TrimSpace(c.IdempotencyCollection) == "" || strings.Contains(c.IdempotencyCollection, "/") {
		add("IDEMPOTENCY_COLLECTION must be a top-level collection id, got %q", c.IdempotencyCollection)
	}
	if err := c.Jobs.Validate(); err != nil {
		add("JOBS_COLLECTION/JOBS_TTL: %w", err)
	}
	if strings.TrimSpace(c.EventsTopic) == "" {
		add("EVENTS_TOPIC must not be empty")
	}
	if c.CaptureLimit < 0 || c.CaptureLimit > capture.MaxLimit {
		add("WEBHOOK_CAPTURE_LIMIT must be 0 (off) to %d, got %d", capture.MaxLimit, c.CaptureLimit)
	}
	if c.CaptureLimit > 0 && (c.ResultsBucket == "" || strings.ContainsAny(c.ResultsBucket, "/ ")) {
		add("RESULTS_BUCKET must be a bucket name when WEBHOOK_CAPTURE_LIMIT is set, got %q", c.ResultsBucket)
	}
	if err := c.Tracing.Validate(); err != nil {
		errs = append(errs, err)
	}
	if _, err := logging.ParseLevel(c.LogLevel); err != nil {
		errs = append(errs, fmt.Errorf("LOG_LEVEL: %w", err))
	}
	return errors.Join(errs...)
}

// Secrets parses WEBHOOK_SIGNING_SECRETS.
func (c *Config) Secrets() ([]signature.Secret, error) {
	return signature.ParseSecretList(config.EnvSigningSecrets, c.SigningSecrets)
}

// Level returns the configured log level (validated by Validate).
func (c *Config) Level() slog.Level {
	level, _ := logging.ParseLevel(c.LogLevel)
	return level
}

// LogValue implements slog.LogValuer, redacting the signing secrets.
func (c *Config) LogValue() slog.Value {
	secrets := "(none)"
	if c.SigningSecrets != "" {
		secrets = "(redacted)"
	}
	return slog.GroupValue(
		slog.String("project", c.ProjectID),
		slog.String("signing_secrets", secrets),
		slog.String("signing_secret", c.SigningSecretName),
		slog.String("jwks_url", c.JWKSURL),
		slog.String("jwt_audience", c.JWTAudience),
		slog.String("jwt_issuer", c.JWTIssuer),
		slog.Duration("timestamp_tolerance", c.TimestampTolerance),
		slog.Int64("max_body_bytes", c.MaxBodyBytes),
		slog.String("firestore_database", c.FirestoreDatabase),
		slog.String("idempotency_collection", c.IdempotencyCollection),
		slog.Duration("idempotency_ttl", c.IdempotencyTTL),
		slog.Duration("idempotency_lease", c.IdempotencyLease),
		slog.String("jobs_collection", c.Jobs.Collection),
		slog.Duration("jobs_ttl", c.Jobs.TTL),
		slog.String("events_topic", c.EventsTopic),
		slog.Bool("ordering", c.Ordering),
		slog.Duration("publish_timeout", c.PublishTimeout),
		slog.Duration("ledger_timeout", c.LedgerTimeout),
		slog.Int("capture_limit", c.CaptureLimit),
		slog.String("results_bucket", c.ResultsBucket),
		slog.Any("tracing", c.Tracing),
	)
}
