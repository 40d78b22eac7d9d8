package materializer_test

import (
	"bytes"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/sethvargo/go-envconfig"

	"github.com/geminihooks/geminihooks/pkg/gemini"
	"github.com/geminihooks/geminihooks/pkg/materializer"
	"github.com/geminihooks/geminihooks/pkg/registry"
	"github.com/geminihooks/geminihooks/pkg/tracing"
)

func TestLoadConfig_defaults(t *testing.T) {
	t.Parallel()
	cfg, err := materializer.LoadConfig(t.Context(), envconfig.MapLookuper(map[string]string{
		"GEMINI_API_KEY": testAPIKey,
		"RESULTS_BUCKET": testBucket,
	}))
	if err != nil {
		t.Fatalf("LoadConfig() error = %v", err)
	}
	want := &materializer.Config{
		GeminiAPIKey:  testAPIKey,
		GeminiBaseURL: gemini.DefaultBaseURL, // the tag cannot name the constant
		ResultsBucket: testBucket,
		ResultsPrefix: materializer.DefaultPrefix,
		ResultsTopic:  "geminihooks-results",
		// The registry's defaults, which its tags cannot name either.
		FirestoreDatabase: "(default)",
		Jobs:              registry.Config{Collection: registry.DefaultCollection, TTL: registry.DefaultTTL},
		UploadChunkSize:   8 << 20,
		FetchTimeout:      30 * time.Second,
		Ordering:          true,
		LogLevel:          "info",
		Tracing: tracing.Config{Exporter: tracing.ExporterOTLP, Sampler: tracing.SamplerTraceIDRatio, SamplerArg: 1,
			BatchDelayMS: 5000, ExportTimeoutMS: 30000, MaxQueue: 2048, MaxBatch: 512},
	}
	if diff := cmp.Diff(want, cfg); diff != "" {
		t.Errorf("LoadConfig() (-want +got):\n%s", diff)
	}
}

func TestLoadConfig_errors(t *testing.T) {
	t.Parallel()
	valid := map[string]string{"GEMINI_API_KEY": testAPIKey, "RESULTS_BUCKET": testBucket}
	tests := []struct {
		name string
		env  map[string]string // merged over valid; "" deletes
		want []string          // substrings of the error, one per problem
	}{
		{name: "missing_api_key", env: map[string]string{"GEMINI_API_KEY": ""}, want: []string{"GEMINI_API_KEY must be set"}},
		{name: "blank_api_key", env: map[string]string{"GEMINI_API_KEY": "   "}, want: []string{"GEMINI_API_KEY must be set"}},
		{name: "missing_bucket", env: map[string]string{"RESULTS_BUCKET": ""}, want: []string{"RESULTS_BUCKET"}},
		{name: "bucket_with_path", env: map[string]string{"RESULTS_BUCKET": "bucket/folder"}, want: []string{"RESULTS_BUCKET"}},
		{
			name: "everything_missing_reported_at_once",
			env:  map[string]string{"GEMINI_API_KEY": "", "RESULTS_BUCKET": ""},
			want: []string{"GEMINI_API_KEY", "RESULTS_BUCKET"},
		},
		{name: "relative_base_url", env: map[string]string{"GEMINI_BASE_URL": "generativelanguage.googleapis.com"}, want: []string{"GEMINI_BASE_URL"}},
		{name: "download_host_too_broad", env: map[string]string{"GEMINI_DOWNLOAD_HOSTS": "storage.googleapis.com,.com"}, want: []string{"GEMINI_DOWNLOAD_HOSTS"}},
		{name: "download_host_url", env: map[string]string{"GEMINI_DOWNLOAD_HOSTS": "https://storage.googleapis.com"}, want: []string{"GEMINI_DOWNLOAD_HOSTS"}},
		{name: "prefix_escapes", env: map[string]string{"RESULTS_PREFIX": "../other"}, want: []string{"RESULTS_PREFIX"}},
		{name: "unaligned_chunk", env: map[string]string{"UPLOAD_CHUNK_SIZE": "1000000"}, want: []string{"UPLOAD_CHUNK_SIZE"}},
		{name: "zero_timeout", env: map[string]string{"GEMINI_FETCH_TIMEOUT": "0s"}, want: []string{"GEMINI_FETCH_TIMEOUT"}},
		{name: "unparsable_timeout", env: map[string]string{"GEMINI_FETCH_TIMEOUT": "soon"}, want: []string{"GEMINI_FETCH_TIMEOUT"}},
		{name: "unknown_log_level", env: map[string]string{"LOG_LEVEL": "loud"}, want: []string{"LOG_LEVEL"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			env := map[string]string{}
			for k, v := range valid {
				env[k] = v
			}
			for k, v := range tc.env {
				if v == "" {
					delete(env, k)
				} else {
					env[k] = v
				}
			}
			cfg, err := materializer.LoadConfig(t.Context(), envconfig.MapLookuper(env))
			if err == nil {
				t.Fatalf("LoadConfig() = %+v, want an error", cfg)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %q", err, w)
				}
			}
			if strings.Contains(err.Error(), testAPIKey) {
				t.Error("the error holds the API key")
			}
		})
	}
}

func TestConfig_logValueRedactsAPIKey(t *testing.T) {
	t.Parallel()
	for _, key := range []string{testAPIKey, ""} {
		cfg := &materializer.Config{GeminiAPIKey: key, ResultsBucket: testBucket, GeminiBaseURL: "https://generativelanguage.googleapis.com"}
		var buf bytes.Buffer
		slog.New(slog.NewJSONHandler(&buf, nil)).Info("config", slog.Any("config", cfg))
		out := buf.String()
		wantKey := `"gemini_api_key":"(redacted)"`
		if key == "" {
			wantKey = `"gemini_api_key":"(none)"`
		}
		if !strings.Contains(out, wantKey) || !strings.Contains(out, `"results_bucket":"`+testBucket+`"`) {
			t.Errorf("log line %s lacks %s or the bucket", out, wantKey)
		}
		if key != "" && strings.Contains(out, key) {
			t.Errorf("log line %s holds the API key", out)
		}
	}
}
