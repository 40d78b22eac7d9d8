package materializer

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
	"github.com/geminihooks/geminihooks/pkg/gemini"
	"github.com/geminihooks/geminihooks/pkg/logging"
	"github.com/geminihooks/geminihooks/pkg/registry"
	"github.com/geminihooks/geminihooks/pkg/tracing"
)

// Config is the materializer's configuration, read from the environment.
// Every field is documented in the README's configuration table.
type Config struct {
	// ProjectID is the Google Cloud project of the results topic.
	ProjectID string `env:"GOOGLE_CLOUD_PROJECT"`
	// GeminiAPIKey authenticates calls to the Gemini API. Deployed, it is
	// injected from Secret Manager.
	GeminiAPIKey string `env:"GEMINI_API_KEY"`
	// GeminiBaseURL is the only host the materializer contacts for jobs,
	// and the only one it sends the API key to. The default is
	// gemini.DefaultBaseURL (a test keeps them equal).
	GeminiBaseURL string `env:"GEMINI_BASE_URL, default=https://generativelanguage.googleapis.com"`
	// DownloadHosts are the hosts a download may be redirected to (see
	// gemini.Options.DownloadHosts); empty means gemini.DefaultDownloadHosts.
	DownloadHosts []string `env:"GEMINI_DOWNLOAD_HOSTS"`
	// ResultsBucket is the Cloud Storage bucket receiving the results.
	ResultsBucket string `env:"RESULTS_BUCKET"`
	// ResultsPrefix is the folder under which results are written; the
	// default is DefaultPrefix (a test keeps them equal).
	ResultsPrefix string `env:"RESULTS_PREFIX, default=gemini"`
	// ResultsTopic is the Pub/Sub topic (id or full name) announcing them.
	ResultsTopic string `env:"RESULTS_TOPIC, default=geminihooks-results"`
	// FirestoreDatabase is the Firestore database of the job registry.
	FirestoreDatabase string `env:"FIRESTORE_DATABASE, default=(default)"`
	// Jobs configures the job registry, which the materializer tells how
	// each job ended.
	Jobs registry.Config
	// UploadChunkSize is the resumable upload's chunk, the bulk of the
	// memory a copy needs.
	UploadChunkSize int `env:"UPLOAD_CHUNK_SIZE, default=8388608"`
	// FetchTimeout bounds one metadata call to the Gemini API.
	FetchTimeout time.Duration `env:"GEMINI_FETCH_TIMEOUT, default=30s"`
	// Ordering publishes results events with the job as ordering key.
	Ordering bool `env:"PUBSUB_ORDERING, default=true"`
	// LogLevel is debug, info, notice, warning or error.
	LogLevel string `env:"LOG_LEVEL, default=info"`
	// Tracing says where spans go and which are sampled (OTEL_TRACES_*).
	Tracing tracing.Config
}

// LoadConfig reads and validates the configuration.
func LoadConfig(ctx context.Context, lookuper envconfig.Lookuper) (*Config, error) {
	var cfg Config
	if err := config.Load(ctx, lookuper, &cfg); err != nil {
		return nil, err
	}
	return &cfg, nil
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
	if err := gemini.ValidateDownloadHosts(c.DownloadHosts); err != nil {
		add("GEMINI_DOWNLOAD_HOSTS: %w", err)
	}
	if c.ResultsBucket == "" || strings.ContainsAny(c.ResultsBucket, "/ ") {
		add("RESULTS_BUCKET must be a bucket name, got %q", c.ResultsBucket)
	}
	if strings.Contains(c.ResultsPrefix, "..") {
		add("RESULTS_PREFIX must not contain '..', got %q", c.ResultsPrefix)
	}
	if strings.TrimSpace(c.FirestoreDatabase) == "" {
		add("FIRESTORE_DATABASE must name the job registry's database (default \"(default)\")")
	}
	if err := c.Jobs.Validate(); err != nil {
		add("JOBS_COLLECTION/JOBS_TTL: %w", err)
	}
	if strings.TrimSpace(c.ResultsTopic) == "" {
		add("RESULTS_TOPIC must not be empty")
	}
	if c.UploadChunkSize < 256<<10 || c.UploadChunkSize%(256<<10) != 0 {
		add("UPLOAD_CHUNK_SIZE must be a positive multiple of 262144, got %d", c.UploadChunkSize)
	}
	if c.FetchTimeout <= 0 {
		add("GEMINI_FETCH_TIMEOUT must be positive, got %s", c.FetchTimeout)
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
		slog.Any("gemini_download_hosts", c.DownloadHosts),
		slog.String("results_bucket", c.ResultsBucket),
		slog.String("results_prefix", c.ResultsPrefix),
		slog.String("firestore_database", c.FirestoreDatabase),
		slog.String("jobs_collection", c.Jobs.Collection),
		slog.String("results_topic", c.ResultsTopic),
		slog.Int("upload_chunk_size", c.UploadChunkSize),
		slog.Any("tracing", c.Tracing),
	)
}
