package receiver

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"
	"time"

	"github.com/geminihooks/geminihooks/internal/testenv"
	"github.com/geminihooks/geminihooks/pkg/signature"
)

// TestReceiveWebhook_wiresFromEnvironment runs the registered function the
// way Cloud Functions does, configured only through the environment, against
// the Firestore and Pub/Sub emulators.
func TestReceiveWebhook_wiresFromEnvironment(t *testing.T) {
	ps := testenv.PubSub(t)
	testenv.Firestore(t)
	topic, sub := testenv.Topic(t, ps)
	raw, err := signature.GenerateSecret()
	if err != nil {
		t.Fatal(err)
	}
	t.Setenv("GOOGLE_CLOUD_PROJECT", testenv.Project())
	t.Setenv("WEBHOOK_SIGNING_SECRETS", raw)
	t.Setenv("EVENTS_TOPIC", topic)
	t.Setenv("IDEMPOTENCY_COLLECTION", testenv.UniqueName(t, "fn"))
	t.Setenv("LOG_LEVEL", "warning")
	// No credentials here to export spans with.
	t.Setenv("OTEL_TRACES_EXPORTER", "none")
	// The first write of a new Firestore client to an emulator shared with
	// the rest of the suite can take seconds; the default 2 s bound would
	// answer that one with 503, which is right but not what this test checks.
	t.Setenv("LEDGER_TIMEOUT", "10s")

	secret, _ := signature.ParseSecret("test", raw)
	payload := []byte(`{"type":"batch.succeeded","version":"v1","data":{"id":"batches/fn-1"}}`)
	now := time.Now()
	r := httptest.NewRequest(http.MethodPost, "/", bytes.NewReader(payload))
	r.Header.Set("webhook-id", "msg_fn")
	r.Header.Set("webhook-timestamp", strconv.FormatInt(now.Unix(), 10))
	r.Header.Set("webhook-signature", signature.SignHMAC(secret, "msg_fn", now, payload))
	h, stop, err := build(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := stop(); err != nil {
			t.Errorf("stopping the function: %v", err)
		}
	})
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)

	var got map[string]string
	if err := json.Unmarshal(w.Body.Bytes(), &got); err != nil || w.Code != 200 || got["status"] != "accepted" {
		t.Fatalf("got %d %s; want 200 accepted", w.Code, w.Body)
	}
	msgs := testenv.Pull(t, ps, sub, 1, 30*time.Second)
	if msgs[0].Attributes["webhook_id"] != "msg_fn" {
		t.Errorf("published attributes %v", msgs[0].Attributes)
	}
}
