package results_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/geminihooks/geminihooks/internal/geminisim"
	"github.com/geminihooks/geminihooks/pkg/blob"
	"github.com/geminihooks/geminihooks/pkg/event"
	"github.com/geminihooks/geminihooks/pkg/gemini"
	"github.com/geminihooks/geminihooks/pkg/logging"
	"github.com/geminihooks/geminihooks/pkg/materializer"
	"github.com/geminihooks/geminihooks/pkg/publish"
	"github.com/geminihooks/geminihooks/pkg/registry"
	"github.com/geminihooks/geminihooks/pkg/results"
	"github.com/geminihooks/geminihooks/pkg/signature"
)

const (
	testAPIKey = "AIza-results-test-key-0123456789"
	testBucket = "geminihooks-test-results"
)

// testKey is one RSA key for the package's simulators.
var testKey = sync.OnceValues(signature.GenerateRSAKey)

// stack is the Gemini API simulator and a materializer storing into store,
// which is what produces the jobs the reader reads.
type stack struct {
	t     *testing.T
	sim   *geminisim.Server
	store blob.Store
	pub   *publish.Memory
	m     *materializer.Materializer
}

func newStack(t *testing.T, store blob.Store) *stack {
	t.Helper()
	key, err := testKey()
	if err != nil {
		t.Fatal(err)
	}
	sim, err := geminisim.New(geminisim.Options{APIKey: testAPIKey, SigningKey: key})
	if err != nil {
		t.Fatal(err)
	}
	if err := sim.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = sim.Close() })
	client, err := gemini.New(t.Context(), gemini.Options{
		BaseURL: sim.URL(), APIKey: testAPIKey, DownloadHosts: []string{"127.0.0.1"}, Timeout: 10 * time.Second,
	})
	if err != nil {
		t.Fatal(err)
	}
	s := &stack{t: t, sim: sim, store: store, pub: &publish.Memory{}}
	jobs, err := registry.NewMemory(registry.Options{})
	if err != nil {
		t.Fatal(err)
	}
	s.m, err = materializer.New(client, store, s.pub, jobs, logging.New(io.Discard, slog.LevelError), materializer.Options{Bucket: testBucket})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// materialize stores the job n announces and returns its results event as
// a subscriber decodes it.
func (s *stack) materialize(n event.Payload) *event.Results {
	s.t.Helper()
	body, err := json.Marshal(n)
	if err != nil {
		s.t.Fatal(err)
	}
	parsed, err := event.Parse(body)
	if err != nil {
		s.t.Fatal(err)
	}
	ev, err := event.Normalize(parsed, event.Meta{WebhookID: "msg_" + n.Data.ID, Scheme: event.SchemeHMAC, ReceivedAt: time.Now()})
	if err != nil {
		s.t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(s.t.Context(), 30*time.Second)
	defer cancel()
	res, err := s.m.Materialize(ctx, ev)
	if err != nil {
		s.t.Fatalf("Materialize: %v", err)
	}
	if res.Event == nil {
		s.t.Fatalf("Materialize: outcome %s announced nothing", res.Outcome)
	}
	data, err := json.Marshal(res.Event)
	if err != nil {
		s.t.Fatal(err)
	}
	r, err := event.DecodeResults(data)
	if err != nil {
		s.t.Fatal(err)
	}
	return r
}

func (s *stack) batch(spec geminisim.BatchSpec) *event.Results {
	s.t.Helper()
	name, err := s.sim.CreateBatch(spec)
	if err != nil {
		s.t.Fatal(err)
	}
	n, err := s.sim.CompleteBatch(name)
	if err != nil {
		s.t.Fatal(err)
	}
	return s.materialize(n)
}

func (s *stack) reader(opts results.Options) *results.Reader {
	s.t.Helper()
	r, err := results.New(s.store.(results.Opener), testBucket, opts)
	if err != nil {
		s.t.Fatal(err)
	}
	return r
}

// open opens the job of ev.
func (s *stack) open(ev *event.Results) *results.Job {
	s.t.Helper()
	j, err := s.reader(results.Options{}).Open(s.t.Context(), ev)
	if err != nil {
		s.t.Fatalf("Open(%s): %v", ev.ID, err)
	}
	return j
}

// read returns an object's content as stored.
func read(t testing.TB, s blob.Store, name string) []byte {
	t.Helper()
	rc, err := s.Open(t.Context(), name)
	if err != nil {
		t.Fatalf("Open(%s): %v", name, err)
	}
	defer rc.Close()
	b, err := io.ReadAll(rc)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// drain iterates over every line of j and returns them with the errors
// seen, in order.
func drain(t testing.TB, j *results.Job) (lines []results.Line, errs []error) {
	t.Helper()
	for line, err := range j.Lines(t.Context()) {
		if err != nil {
			errs = append(errs, err)
			continue
		}
		l := *line
		l.Raw = append([]byte(nil), line.Raw...)
		lines = append(lines, l)
	}
	return lines, errs
}

// onlyError returns the single error of errs, failing the test otherwise.
func onlyError(t testing.TB, errs []error, target error) {
	t.Helper()
	if len(errs) != 1 || !errors.Is(errs[0], target) {
		t.Fatalf("errors %v, want one wrapping %v", errs, target)
	}
}
