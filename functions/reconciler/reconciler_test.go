package reconciler

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/geminihooks/geminihooks/internal/geminisim"
	"github.com/geminihooks/geminihooks/internal/testenv"
	"github.com/geminihooks/geminihooks/pkg/event"
)

// TestReconcileJobs_wiresFromEnvironment runs the registered function the
// way Cloud Functions does, configured only through the environment,
// against the Firestore and Pub/Sub emulators and the Gemini API simulator:
// a batch that finished without a webhook gets its completion event.
func TestReconcileJobs_wiresFromEnvironment(t *testing.T) {
	ps := testenv.PubSub(t)
	testenv.Firestore(t)
	topic, sub := testenv.Topic(t, ps)
	const key = "sim-reconcile-fn-key"
	sim, err := geminisim.New(geminisim.Options{APIKey: key, Now: func() time.Time { return time.Now().Add(-time.Hour) }})
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(sim)
	t.Cleanup(ts.Close)
	name, err := sim.CreateBatch(geminisim.BatchSpec{ID: "fn-lost"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := sim.CompleteBatch(name); err != nil { // its webhook never comes
		t.Fatal(err)
	}
	t.Setenv("GOOGLE_CLOUD_PROJECT", testenv.Project())
	t.Setenv("GEMINI_API_KEY", key)
	t.Setenv("GEMINI_BASE_URL", ts.URL)
	t.Setenv("EVENTS_TOPIC", topic)
	t.Setenv("IDEMPOTENCY_COLLECTION", testenv.UniqueName(t, "fn"))
	t.Setenv("JOBS_COLLECTION", testenv.UniqueName(t, "jobs"))
	t.Setenv("LOG_LEVEL", "warning")
	// No credentials here to export spans with.
	t.Setenv("OTEL_TRACES_EXPORTER", "none")
	// The first write of a new Firestore client to an emulator shared with
	// the rest of the suite can take seconds.
	t.Setenv("LEDGER_TIMEOUT", "10s")
	t.Setenv("IDEMPOTENCY_LEASE", "60s")

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
	h.ServeHTTP(w, httptest.NewRequest(http.MethodPost, "/", nil))
	var got struct {
		GapsFilled int `json:"gaps_filled"`
	}
	if err := json.Unmarshal(w.Body.Bytes(), &got); err != nil || w.Code != http.StatusOK || got.GapsFilled != 1 {
		t.Fatalf("got %d %s; want 200 with one gap filled", w.Code, w.Body)
	}
	msgs := testenv.Pull(t, ps, sub, 1, 30*time.Second)
	if msgs[0].Attributes[event.AttrReconciled] != "true" || msgs[0].Attributes[event.AttrResource] != name {
		t.Errorf("published attributes %v; want the reconciled event of %s", msgs[0].Attributes, name)
	}
}
