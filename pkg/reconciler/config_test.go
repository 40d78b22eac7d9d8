package reconciler_test

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"maps"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/sethvargo/go-envconfig"

	"github.com/geminihooks/geminihooks/internal/geminisim"
	"github.com/geminihooks/geminihooks/pkg/gemini"
	"github.com/geminihooks/geminihooks/pkg/idempotency"
	"github.com/geminihooks/geminihooks/pkg/reconciler"
	"github.com/geminihooks/geminihooks/pkg/registry"
	"github.com/geminihooks/geminihooks/pkg/tracing"
)

// TestLoadConfig_defaults keeps the env tags' defaults equal to the code's
// constants, which tags cannot name.
func TestLoadConfig_defaults(t *testing.T) {
	t.Parallel()
	cfg, err := reconciler.LoadConfig(t.Context(), envconfig.MapLookuper(map[string]string{"GEMINI_API_KEY": testAPIKey}))
	if err != nil {
		t.Fatalf("LoadConfig: %v", err)
	}
	want := &reconciler.Config{
		GeminiAPIKey: testAPIKey, GeminiBaseURL: gemini.DefaultBaseURL, FetchTimeout: gemini.DefaultTimeout,
		FirestoreDatabase:     "(default)",
		IdempotencyCollection: idempotency.DefaultCollection, IdempotencyTTL: idempotency.DefaultTTL, IdempotencyLease: idempotency.DefaultLease,
		Jobs:        registry.Config{Collection: registry.DefaultCollection, TTL: registry.DefaultTTL},
		EventsTopic: "geminihooks-events", Ordering: true,
		PublishTimeout: reconciler.DefaultPublishTimeout, LedgerTimeout: reconciler.DefaultLedgerTimeout,
		LookBack: reconciler.DefaultLookBack, PageSize: reconciler.DefaultPageSize, MaxPages: reconciler.DefaultMaxPages,
		MaxCalls: reconciler.DefaultMaxCalls, Grace: reconciler.DefaultGrace,
		RecheckMin: reconciler.DefaultRecheckMin, RecheckMax: reconciler.DefaultRecheckMax, Timeout: reconciler.DefaultTimeout,
		LogLevel: "info", Tracing: tracing.Config{Exporter: tracing.ExporterOTLP, Sampler: tracing.SamplerTraceIDRatio, SamplerArg: 1,
			BatchDelayMS: 5000, ExportTimeoutMS: 30000, MaxQueue: 2048, MaxBatch: 512},
	}
	if diff := cmp.Diff(want, cfg); diff != "" {
		t.Errorf("LoadConfig (-want +got):\n%s", diff)
	}
}

func TestLoadConfig_errors(t *testing.T) {
	t.Parallel()
	valid := map[string]string{"GEMINI_API_KEY": testAPIKey}
	tests := []struct {
		name string
		env  map[string]string // merged over valid
		want []string          // substrings of the error
	}{
		{name: "missing_api_key", env: map[string]string{"GEMINI_API_KEY": ""}, want: []string{"GEMINI_API_KEY must be set"}},
		{name: "look_back_past_the_ledger_ttl", env: map[string]string{"RECONCILE_LOOK_BACK": "200h"}, want: []string{"look-back", "TTL"}},
		{name: "look_back_past_the_registry_ttl", env: map[string]string{"RECONCILE_LOOK_BACK": "100h", "IDEMPOTENCY_TTL": "720h", "JOBS_TTL": "96h"}, want: []string{"registry's"}},
		{name: "budget_below_page_cap", env: map[string]string{"RECONCILE_MAX_CALLS": "5"}, want: []string{"call budget 5"}},
		{name: "zero_grace", env: map[string]string{"RECONCILE_GRACE": "0s"}, want: []string{"RECONCILE_GRACE must be positive"}},
		{name: "negative_page_size", env: map[string]string{"RECONCILE_PAGE_SIZE": "-1"}, want: []string{"RECONCILE_PAGE_SIZE must be positive"}},
		{name: "steps_outlast_the_lease", env: map[string]string{"PUBLISH_TIMEOUT": "20s", "LEDGER_TIMEOUT": "6s"}, want: []string{"IDEMPOTENCY_LEASE"}},
		{name: "ledger_ttl_below_gemini_retries", env: map[string]string{"IDEMPOTENCY_TTL": "24h", "RECONCILE_LOOK_BACK": "12h"}, want: []string{"IDEMPOTENCY_TTL"}},
		{name: "plain_http_base_url", env: map[string]string{"GEMINI_BASE_URL": "ftp://example.com"}, want: []string{"GEMINI_BASE_URL"}},
		{name: "bad_log_level", env: map[string]string{"LOG_LEVEL": "loud"}, want: []string{"LOG_LEVEL"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			env := maps.Clone(valid)
			maps.Copy(env, tc.env)
			_, err := reconciler.LoadConfig(t.Context(), envconfig.MapLookuper(env))
			if err == nil {
				t.Fatal("LoadConfig succeeded")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %q", err, w)
				}
			}
		})
	}
}

func TestConfig_logValueRedactsTheKey(t *testing.T) {
	t.Parallel()
	cfg, err := reconciler.LoadConfig(t.Context(), envconfig.MapLookuper(map[string]string{"GEMINI_API_KEY": testAPIKey}))
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	slog.New(slog.NewJSONHandler(&buf, nil)).Info("ready", slog.Any("config", cfg))
	if strings.Contains(buf.String(), testAPIKey) || !strings.Contains(buf.String(), "(redacted)") {
		t.Errorf("logged configuration %s; want the key redacted", buf.String())
	}
}

func TestHandler(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name       string
		method     string
		fault      int // injected on the first call
		wantStatus int
		wantCode   string // error code; empty for a summary
	}{
		{name: "post_runs_a_pass", method: http.MethodPost, wantStatus: http.StatusOK},
		{name: "get_is_refused", method: http.MethodGet, wantStatus: http.StatusMethodNotAllowed, wantCode: "method_not_allowed"},
		{name: "rate_limited_at_once", method: http.MethodPost, fault: http.StatusTooManyRequests,
			wantStatus: http.StatusServiceUnavailable, wantCode: "reconcile_unavailable"},
		{name: "a_failed_listing_is_not_fatal", method: http.MethodPost, fault: http.StatusInternalServerError, wantStatus: http.StatusOK},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t, envOptions{})
			e.batch("b1", geminisim.BatchSucceeded)
			if tc.fault != 0 {
				e.check(e.sim.FailNext(geminisim.AnyRoute, 1, tc.fault))
			}
			e.clock.Set(t0.Add(time.Hour))
			h, err := reconciler.NewHandler(e.rec)
			e.check(err)
			w := httptest.NewRecorder()
			h.ServeHTTP(w, httptest.NewRequest(tc.method, "/", nil))
			var body struct {
				reconciler.Summary
				DurationMS *int64 `json:"duration_ms"`
				Error      struct {
					Code string `json:"code"`
				} `json:"error"`
			}
			if err := json.Unmarshal(w.Body.Bytes(), &body); err != nil || w.Code != tc.wantStatus || body.Error.Code != tc.wantCode ||
				w.Header().Get("Content-Type") != "application/json" {
				t.Fatalf("%s: %d %s; want %d with code %q", tc.method, w.Code, w.Body, tc.wantStatus, tc.wantCode)
			}
			switch {
			case w.Code == http.StatusServiceUnavailable && w.Header().Get("Retry-After") == "":
				t.Error("503 without Retry-After")
			case w.Code == http.StatusOK && (body.DurationMS == nil || body.APICalls == 0 || body.GapsFilled != 1):
				t.Errorf("summary %s; want the pass's figures, one gap filled", w.Body)
			}
		})
	}
}
