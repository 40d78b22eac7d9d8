package receiver

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/sethvargo/go-envconfig"

	"github.com/geminihooks/geminihooks/pkg/jwks"
)

func TestLoadConfig_defaults(t *testing.T) {
	t.Parallel()
	cfg, err := LoadConfig(context.Background(), envconfig.MapLookuper(map[string]string{}))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.JWKSURL != jwks.DefaultURL {
		t.Errorf("default JWKS URL %q differs from jwks.DefaultURL %q", cfg.JWKSURL, jwks.DefaultURL)
	}
	if cfg.TimestampTolerance != 5*time.Minute || cfg.IdempotencyTTL != 7*24*time.Hour || cfg.MaxBodyBytes != DefaultMaxBodyBytes || !cfg.Ordering {
		t.Errorf("unexpected defaults: %+v", cfg)
	}
	if cfg.PublishTimeout != DefaultPublishTimeout || cfg.LedgerTimeout != DefaultLedgerTimeout {
		t.Errorf("PUBLISH_TIMEOUT, LEDGER_TIMEOUT default to %s, %s; want Options' defaults %s, %s",
			cfg.PublishTimeout, cfg.LedgerTimeout, DefaultPublishTimeout, DefaultLedgerTimeout)
	}
}

func TestLoadConfig_capture(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name string
		env  map[string]string
		want int
	}{
		{"off_by_default", map[string]string{}, 0},
		{"off_needs_no_bucket", map[string]string{"WEBHOOK_CAPTURE_LIMIT": "0"}, 0},
		{"on_with_bucket", map[string]string{"WEBHOOK_CAPTURE_LIMIT": "50", "RESULTS_BUCKET": "p-geminihooks-results"}, 50},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			cfg, err := LoadConfig(context.Background(), envconfig.MapLookuper(tc.env))
			if err != nil {
				t.Fatal(err)
			}
			if cfg.CaptureLimit != tc.want {
				t.Errorf("CaptureLimit = %d, want %d", cfg.CaptureLimit, tc.want)
			}
		})
	}
}

func TestLoadConfig_rejects(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name string
		env  map[string]string
		want string
	}{
		{"malformed_secret", map[string]string{"WEBHOOK_SIGNING_SECRETS": "whsec_!!notbase64!!"}, "WEBHOOK_SIGNING_SECRETS[0]"},
		{"short_secret", map[string]string{"WEBHOOK_SIGNING_SECRETS": "whsec_c2hvcnQ="}, "at least 16"},
		{"bad_secret_name", map[string]string{"WEBHOOK_SIGNING_SECRET": "my-secret"}, "projects/PROJECT/secrets/NAME"},
		{"jwks_not_url", map[string]string{"WEBHOOK_JWKS_URL": "jwks.json"}, "WEBHOOK_JWKS_URL"},
		{"ttl_inside_retry_window", map[string]string{"IDEMPOTENCY_TTL": "12h"}, "IDEMPOTENCY_TTL"},
		{"publish_outlasts_lease", map[string]string{"PUBLISH_TIMEOUT": "45s"}, "shorter than IDEMPOTENCY_LEASE"},
		{"steps_outlast_lease", map[string]string{"LEDGER_TIMEOUT": "10s", "PUBLISH_TIMEOUT": "10s"}, "2 × LEDGER_TIMEOUT + PUBLISH_TIMEOUT (30s) must be shorter"},
		{"zero_ledger_timeout", map[string]string{"LEDGER_TIMEOUT": "0s"}, "LEDGER_TIMEOUT must be positive"},
		{"zero_tolerance", map[string]string{"WEBHOOK_TIMESTAMP_TOLERANCE": "0s"}, "WEBHOOK_TIMESTAMP_TOLERANCE"},
		{"tiny_body_cap", map[string]string{"WEBHOOK_MAX_BODY_BYTES": "10"}, "WEBHOOK_MAX_BODY_BYTES"},
		{"body_cap_over_limit", map[string]string{"WEBHOOK_MAX_BODY_BYTES": "4194305"}, "WEBHOOK_MAX_BODY_BYTES"},
		{"nested_collection", map[string]string{"IDEMPOTENCY_COLLECTION": "a/b"}, "IDEMPOTENCY_COLLECTION"},
		{"bad_log_level", map[string]string{"LOG_LEVEL": "loud"}, "LOG_LEVEL"},
		{"not_a_duration", map[string]string{"IDEMPOTENCY_LEASE": "soon"}, "IDEMPOTENCY_LEASE"},
		{"negative_capture_limit", map[string]string{"WEBHOOK_CAPTURE_LIMIT": "-1", "RESULTS_BUCKET": "b-results"}, "WEBHOOK_CAPTURE_LIMIT"},
		{"capture_limit_too_large", map[string]string{"WEBHOOK_CAPTURE_LIMIT": "1001", "RESULTS_BUCKET": "b-results"}, "WEBHOOK_CAPTURE_LIMIT"},
		{"capture_without_bucket", map[string]string{"WEBHOOK_CAPTURE_LIMIT": "50"}, "RESULTS_BUCKET"},
		{"capture_bucket_is_a_path", map[string]string{"WEBHOOK_CAPTURE_LIMIT": "50", "RESULTS_BUCKET": "b/captures"}, "RESULTS_BUCKET"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, err := LoadConfig(context.Background(), envconfig.MapLookuper(tc.env))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("LoadConfig error %v; want one mentioning %q", err, tc.want)
			}
			if v := tc.env["WEBHOOK_SIGNING_SECRETS"]; v != "" && strings.Contains(err.Error(), strings.TrimPrefix(v, "whsec_")) {
				t.Errorf("error leaks the secret: %v", err)
			}
		})
	}
}

func TestConfig_LogValueRedactsSecrets(t *testing.T) {
	t.Parallel()
	const secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
	cfg, err := LoadConfig(context.Background(), envconfig.MapLookuper(map[string]string{"WEBHOOK_SIGNING_SECRETS": secret}))
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	slog.New(slog.NewJSONHandler(&buf, nil)).Info("config", slog.Any("config", cfg))
	if strings.Contains(buf.String(), "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw") || !strings.Contains(buf.String(), "(redacted)") {
		t.Errorf("config log line does not redact the secret: %s", buf.String())
	}
}
