package reconciler_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"cloud.google.com/go/pubsub/v2"

	"github.com/geminihooks/geminihooks/internal/geminisim"
	"github.com/geminihooks/geminihooks/internal/testenv"
	"github.com/geminihooks/geminihooks/pkg/event"
	"github.com/geminihooks/geminihooks/pkg/gemini"
	"github.com/geminihooks/geminihooks/pkg/idempotency"
	"github.com/geminihooks/geminihooks/pkg/logging"
	"github.com/geminihooks/geminihooks/pkg/publish"
	"github.com/geminihooks/geminihooks/pkg/reconciler"
	"github.com/geminihooks/geminihooks/pkg/registry"
)

const testAPIKey = "AIzaSyRECONCILE-test_0123456789abcdefg"

// signingKey is one RSA key for every simulator of the package's tests.
var signingKey = sync.OnceValues(func() (*rsa.PrivateKey, error) { return rsa.GenerateKey(rand.Reader, 2048) })

// t0 is when the simulator's jobs are created; passes run an hour later
// unless a test moves the clock, so the default grace has passed.
var t0 = time.Date(2026, 12, 7, 9, 0, 0, 0, time.UTC)

// clock is a settable clock shared by the simulator, the registry and the
// reconciler.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.now }

func (c *clock) Set(t time.Time) { c.mu.Lock(); c.now = t; c.mu.Unlock() }

// env is a reconciler on the simulator with its backends: in memory, or on
// the Firestore and Pub/Sub emulators.
type env struct {
	t      testing.TB
	clock  *clock
	sim    *geminisim.Server
	ts     *httptest.Server
	api    *gemini.Client
	ledger reconciler.Ledger
	jobs   *registry.Registry
	logs   *testenv.SyncBuffer
	rec    *reconciler.Reconciler
	opts   reconciler.Options

	// Exactly one of these receives the events: publish.Memory in memory,
	// a Pub/Sub emulator topic (with one subscription) otherwise.
	mem       *publish.Memory
	ps        *pubsub.Client
	topic     string
	sub       string
	publisher reconciler.Publisher
}

type envOptions struct {
	emulators bool
	// sim configures the simulator; its key, signing key and clock are the
	// env's.
	sim  geminisim.Options
	opts reconciler.Options
	// api wraps the Gemini client, to alter what the API answers.
	api func(*gemini.Client) reconciler.Gemini
}

func newEnv(t testing.TB, o envOptions) *env {
	t.Helper()
	key, err := signingKey()
	if err != nil {
		t.Fatal(err)
	}
	e := &env{t: t, clock: &clock{now: t0}, logs: &testenv.SyncBuffer{}}
	simOpts := o.sim
	simOpts.APIKey, simOpts.SigningKey, simOpts.Now = testAPIKey, key, e.clock.Now
	if e.sim, err = geminisim.New(simOpts); err != nil {
		t.Fatal(err)
	}
	e.ts = httptest.NewServer(e.sim)
	t.Cleanup(e.ts.Close)
	t.Cleanup(func() { _ = e.sim.Close() }) // its own deliveries
	// No retries, as Build configures it: the next pass is the retry.
	if e.api, err = gemini.New(t.Context(), gemini.Options{BaseURL: e.ts.URL, APIKey: testAPIKey, Retry: gemini.RetryPolicy{Attempts: 1}}); err != nil {
		t.Fatal(err)
	}
	regOpts := registry.Options{Now: e.clock.Now}
	ledgerOpts := idempotency.Options{Now: e.clock.Now}
	if o.emulators {
		fs := testenv.Firestore(t)
		e.ps = testenv.PubSub(t)
		regOpts.Collection = testenv.UniqueName(t, "jobs")
		ledgerOpts.Collection = testenv.UniqueName(t, "ledger")
		if e.jobs, err = registry.NewFirestore(fs, regOpts); err != nil {
			t.Fatal(err)
		}
		if e.ledger, err = idempotency.NewFirestore(fs, ledgerOpts); err != nil {
			t.Fatal(err)
		}
		e.topic, e.sub = testenv.Topic(t, e.ps)
		pub, err := publish.NewPubSub(e.ps, e.topic, publish.Options{})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(pub.Stop)
		e.publisher = pub
	} else {
		if e.jobs, err = registry.NewMemory(regOpts); err != nil {
			t.Fatal(err)
		}
		if e.ledger, err = idempotency.NewMemory(ledgerOpts); err != nil {
			t.Fatal(err)
		}
		e.mem = &publish.Memory{}
		e.publisher = e.mem
	}
	e.opts = o.opts
	if e.opts.Now == nil {
		e.opts.Now = e.clock.Now
	}
	var api reconciler.Gemini = e.api
	if o.api != nil {
		api = o.api(e.api)
	}
	if e.rec, err = reconciler.New(api, e.api, e.ledger, e.publisher, e.jobs, logging.New(e.logs, slog.LevelDebug), e.opts); err != nil {
		t.Fatal(err)
	}
	return e
}

// pass runs one pass, failing the test on an error. It runs an hour after
// t0 at the earliest, so the grace period of jobs ended at t0 is over.
func (e *env) pass() reconciler.Summary {
	e.t.Helper()
	if earliest := t0.Add(time.Hour); e.clock.Now().Before(earliest) {
		e.clock.Set(earliest)
	}
	s, err := e.rec.Pass(e.t.Context())
	if err != nil {
		e.t.Fatalf("Pass: %v\nlogs:\n%s", err, e.logs.String())
	}
	return s
}

// events returns the events published so far, decoded: in memory, all of
// them; on the emulator, it pulls exactly want of them (failing on more).
func (e *env) events(want int) []*event.Event {
	e.t.Helper()
	var raw [][]byte
	var attrs []map[string]string
	if e.mem != nil {
		for _, m := range e.mem.Messages() {
			raw, attrs = append(raw, m.Data), append(attrs, m.Attributes)
		}
	} else {
		for _, m := range testenv.Pull(e.t, e.ps, e.sub, want, 30*time.Second) {
			raw, attrs = append(raw, m.Data), append(attrs, m.Attributes)
		}
	}
	out := make([]*event.Event, 0, len(raw))
	for i, data := range raw {
		ev, err := event.Decode(data)
		if err != nil {
			e.t.Fatalf("published event %d does not decode: %v\n%s", i, err, data)
		}
		if attrs[i][event.AttrReconciled] != "true" && ev.Data.Delivery.Reconciled {
			e.t.Errorf("event %s is reconciled but lacks the reconciled attribute: %v", ev.ID, attrs[i])
		}
		out = append(out, ev)
	}
	if len(out) != want {
		e.t.Errorf("published %d events, want %d", len(out), want)
	}
	return out
}

// subjects returns the sorted subjects of evs.
func subjects(evs []*event.Event) []string {
	var out []string
	for _, ev := range evs {
		out = append(out, ev.Subject)
	}
	slices.Sort(out)
	return out
}

// batch creates a batch on the simulator at t0 and moves it to st.
func (e *env) batch(id string, st geminisim.BatchState) string {
	e.t.Helper()
	name, err := e.sim.CreateBatch(geminisim.BatchSpec{ID: id, Results: geminisim.ResultsFile{Size: 1 << 10}})
	if err != nil {
		e.t.Fatal(err)
	}
	switch st {
	case geminisim.BatchPending:
	case geminisim.BatchRunning:
		err = e.sim.StartBatch(name)
	case geminisim.BatchSucceeded:
		_, err = e.sim.CompleteBatch(name)
	case geminisim.BatchFailed:
		_, err = e.sim.FailBatch(name, geminisim.JobError{Code: 13, Message: "internal failure"})
	case geminisim.BatchCancelled:
		_, err = e.sim.CancelBatch(name)
	case geminisim.BatchExpired:
		_, err = e.sim.ExpireBatch(name)
	}
	if err != nil {
		e.t.Fatal(err)
	}
	return name
}

// register registers a pending job expected at expected.
func (e *env) register(kind event.Kind, resource string, expected time.Time, meta map[string]any) event.JobRef {
	e.t.Helper()
	ref, ok := event.ParseJob(kind, resource)
	if !ok {
		e.t.Fatalf("%s is not a %s", resource, kind)
	}
	if _, _, err := e.jobs.Register(e.t.Context(), registry.Job{Ref: ref, Resource: resource, Origin: registry.OriginSubmitted,
		ExpectedAt: expected, UserMetadata: meta}); err != nil {
		e.t.Fatal(err)
	}
	return ref
}

// job returns the registry's record of ref.
func (e *env) job(ref event.JobRef) registry.Job {
	e.t.Helper()
	j, ok, err := e.jobs.Get(context.Background(), ref)
	if err != nil || !ok {
		e.t.Fatalf("registry has no %s: %v", ref.Key(), err)
	}
	return j
}

// check fails the test on err.
func (e *env) check(err error) {
	e.t.Helper()
	if err != nil {
		e.t.Fatal(err)
	}
}

// interaction creates a running Deep Research interaction and returns its id.
func (e *env) interaction() string {
	e.t.Helper()
	id, err := e.sim.CreateInteraction(geminisim.InteractionSpec{Input: "research this"})
	e.check(err)
	return id
}

// webhook registers a webhook the way an operator does and returns its id.
func (e *env) webhook(uri string) string {
	e.t.Helper()
	body, _ := json.Marshal(map[string]any{"uri": uri, "subscribed_events": []string{event.TypeBatchSucceeded}})
	req, err := http.NewRequestWithContext(e.t.Context(), http.MethodPost, e.ts.URL+"/v1beta/webhooks", bytes.NewReader(body))
	e.check(err)
	req.Header.Set("x-goog-api-key", testAPIKey)
	resp, err := e.ts.Client().Do(req)
	e.check(err)
	defer resp.Body.Close()
	var created struct {
		ID string `json:"id"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&created); err != nil || resp.StatusCode != http.StatusOK {
		e.t.Fatalf("creating a webhook: %d %v", resp.StatusCode, err)
	}
	return created.ID
}

// logLines returns the JSON log lines whose message is msg.
func (e *env) logLines(msg string) []map[string]any {
	e.t.Helper()
	var out []map[string]any
	for _, line := range strings.Split(strings.TrimSpace(e.logs.String()), "\n") {
		var m map[string]any
		if json.Unmarshal([]byte(line), &m) == nil && m["message"] == msg {
			out = append(out, m)
		}
	}
	return out
}

func slogDiscard() *slog.Logger { return slog.New(slog.DiscardHandler) }
