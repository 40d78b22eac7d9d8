package receiver

import (
	"bytes"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"cloud.google.com/go/pubsub/v2"
	"cloud.google.com/go/pubsub/v2/apiv1/pubsubpb"
	"cloud.google.com/go/pubsub/v2/pstest"
	"github.com/sethvargo/go-envconfig"
	"google.golang.org/api/option"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/geminihooks/geminihooks/pkg/signature"
)

// TestBuild wires the handler the way the local runner does: in-memory
// idempotency and an in-process Pub/Sub.
func TestBuild(t *testing.T) {
	t.Parallel()
	raw, err := signature.GenerateSecret()
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name    string
		env     map[string]string
		extra   bool     // the signing secret is in Backends.Secrets, another one in the environment
		wantErr string   // Build fails with it
		want    []string // else the statuses of the same delivery sent twice
	}{
		{name: "in_memory_ledger_deduplicates", want: []string{StatusAccepted, StatusDuplicate}},
		{name: "backends_add_secrets", extra: true, want: []string{StatusAccepted, StatusDuplicate}},
		{name: "capture_limit_needs_a_store", env: map[string]string{"WEBHOOK_CAPTURE_LIMIT": "5", "RESULTS_BUCKET": "results"}, wantErr: "WEBHOOK_CAPTURE_LIMIT"},
		{name: "secret_name_needs_secret_manager", env: map[string]string{"WEBHOOK_SIGNING_SECRET": "projects/p/secrets/s"}, wantErr: "Secret Manager"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			env := map[string]string{"GOOGLE_CLOUD_PROJECT": "build-test", "WEBHOOK_SIGNING_SECRETS": raw}
			for k, v := range tc.env {
				env[k] = v
			}
			cfg, err := LoadConfig(t.Context(), envconfig.MapLookuper(env))
			if err != nil {
				t.Fatal(err)
			}
			b := Backends{PubSub: inProcessPubSub(t, "projects/build-test/topics/"+cfg.EventsTopic)}
			if tc.extra {
				other, _ := signature.GenerateSecret()
				extra, _ := signature.ParseSecret("extra", raw)
				cfg.SigningSecrets, b.Secrets = other, signature.StaticSecrets{extra}
			}
			h, stop, err := Build(t.Context(), cfg, b, slog.New(slog.DiscardHandler))
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("Build error = %v, want one naming %s", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = stop() })
			secret, _ := signature.ParseSecret("test", raw)
			payload := []byte(`{"type":"batch.succeeded","version":"v1","data":{"id":"batches/build-1"}}`)
			now := time.Now()
			for i, want := range tc.want {
				r := httptest.NewRequest(http.MethodPost, "/", bytes.NewReader(payload))
				r.Header.Set("webhook-id", "msg_build")
				r.Header.Set("webhook-timestamp", strconv.FormatInt(now.Unix(), 10))
				r.Header.Set("webhook-signature", signature.SignHMAC(secret, "msg_build", now, payload))
				w := httptest.NewRecorder()
				h.ServeHTTP(w, r)
				if got := decodeResponse(t, w.Code, w.Header(), w.Body.Bytes()); w.Code != http.StatusOK || got.Body["status"] != want {
					t.Errorf("delivery %d: %d %s, want 200 %s", i, w.Code, w.Body, want)
				}
			}
		})
	}
}

// inProcessPubSub returns a client of an in-process Pub/Sub holding topic.
func inProcessPubSub(t *testing.T, topic string) *pubsub.Client {
	t.Helper()
	srv := pstest.NewServer()
	t.Cleanup(func() { _ = srv.Close() })
	if _, err := srv.GServer.CreateTopic(t.Context(), &pubsubpb.Topic{Name: topic}); err != nil {
		t.Fatal(err)
	}
	conn, err := grpc.NewClient(srv.Addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	c, err := pubsub.NewClient(t.Context(), "build-test", option.WithGRPCConn(conn))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close(); _ = conn.Close() })
	return c
}
