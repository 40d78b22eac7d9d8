package main

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"cloud.google.com/go/pubsub/v2"
	"github.com/google/go-cmp/cmp"
	"github.com/sethvargo/go-envconfig"

	"github.com/geminihooks/geminihooks/internal/testenv"
	"github.com/geminihooks/geminihooks/pkg/blob"
	"github.com/geminihooks/geminihooks/pkg/config"
	"github.com/geminihooks/geminihooks/pkg/event"
	"github.com/geminihooks/geminihooks/pkg/local"
	"github.com/geminihooks/geminihooks/pkg/logging"
	"github.com/geminihooks/geminihooks/pkg/materializer"
	"github.com/geminihooks/geminihooks/pkg/results"
)

// wait bounds every wait for the pipeline.
const wait = time.Minute

// demoJobs is the number of jobs the local runner's demo stores.
const demoJobs = 7

// demo runs the local runner's demo (a batch with a results file, an
// inlined batch, a Deep Research interaction, a video, a failed batch, a
// batch whose webhook came twice and one whose webhook was lost)
// on env and returns the stack, whose results are files under a temporary
// directory.
func demo(t *testing.T, env map[string]string, before func(*local.Stack)) *local.Stack {
	t.Helper()
	stack, err := local.Start(t.Context(), local.Options{
		Addr: "127.0.0.1:0", Lookuper: envconfig.MapLookuper(env), Logger: logging.New(io.Discard, slog.LevelError), DataDir: t.TempDir(),
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := stack.Close(); err != nil {
			t.Errorf("closing the local stack: %v", err)
		}
	})
	if before != nil {
		before(stack)
	}
	if _, err := stack.Demo(t.Context(), io.Discard); err != nil {
		t.Fatalf("Demo: %v", err)
	}
	return stack
}

// announced returns the results events the demo published, from the
// _announced.json the materializer keeps in each job's folder. The
// materializer writes it just after publishing the event the demo waits
// for, so the last one may still be on its way.
func announced(t *testing.T, dataDir string) [][]byte {
	t.Helper()
	var files []string
	for deadline := time.Now().Add(wait); ; {
		var err error
		files, err = filepath.Glob(filepath.Join(dataDir, materializer.DefaultPrefix, "*", "*", "_announced.json"))
		if err != nil {
			t.Fatal(err)
		}
		if len(files) >= demoJobs || time.Now().After(deadline) {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	if len(files) != demoJobs {
		t.Fatalf("found %d results events, want the demo's %d", len(files), demoJobs)
	}
	var out [][]byte
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, b)
	}
	return out
}

// store is the summary store of the tests: a directory that records which
// summaries were written, and fails the first attempt at the names under
// failFirst, as a store out of reach for a moment would.
type store struct {
	*blob.Dir
	failFirst string

	mu      sync.Mutex
	failed  bool
	created []string
}

var errUnavailable = errors.New("storage unavailable (injected)")

func (s *store) Create(ctx context.Context, name, contentType string, r io.Reader) (blob.Object, error) {
	s.mu.Lock()
	fail := s.failFirst != "" && strings.HasPrefix(name, s.failFirst) && !s.failed
	s.failed = s.failed || fail
	s.mu.Unlock()
	if fail {
		return blob.Object{}, errUnavailable
	}
	o, err := s.Dir.Create(ctx, name, contentType, r)
	if err == nil && o.Created {
		s.mu.Lock()
		s.created = append(s.created, name)
		s.mu.Unlock()
	}
	return o, err
}

func (s *store) Created() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Sorted(slices.Values(s.created))
}

func newSubscriber(t *testing.T, stack *local.Stack, summaries Summaries) *Subscriber {
	t.Helper()
	reader, err := results.New(stack.Store, stack.Bucket, results.Options{})
	if err != nil {
		t.Fatal(err)
	}
	s, err := NewSubscriber(reader, summaries, "summaries", logging.New(io.Discard, slog.LevelError))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// readSummary returns a summary as written.
func readSummary(t *testing.T, dir *blob.Dir, name string) Summary {
	t.Helper()
	rc, err := dir.Open(t.Context(), name)
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	var s Summary
	if err := json.NewDecoder(rc).Decode(&s); err != nil {
		t.Fatal(err)
	}
	return s
}

// checkSummaries checks the demo's summaries against their events.
func checkSummaries(t *testing.T, dir *blob.Dir, events [][]byte, sub *Subscriber) {
	t.Helper()
	for _, data := range events {
		ev, err := event.DecodeResults(data)
		if err != nil {
			t.Fatal(err)
		}
		got := readSummary(t, dir, sub.summaryName(ev))
		want := Summary{EventID: ev.ID, Type: ev.Type, Kind: ev.Data.Kind, Resource: ev.Data.Resource, State: ev.Data.State,
			Folder: ev.Data.Prefix, SummarizedAt: got.SummarizedAt}
		switch {
		case ev.Data.State == event.StateFailed:
			if got.Error == nil || got.Error.Message == "" {
				t.Errorf("%s: summary of a failed job without its error: %+v", ev.Data.Resource, got)
			}
			want.Error = got.Error
		case ev.Data.Kind == event.KindBatch:
			want.Requests, want.Succeeded, want.Failed = ev.Data.Counts.Requests, ev.Data.Counts.Succeeded, ev.Data.Counts.Failed
			if want.Requests == 0 {
				t.Errorf("%s: the demo's batch has no requests", ev.Data.Resource)
			}
		case ev.Data.Kind == event.KindInteraction:
			if got.Citations == 0 {
				t.Errorf("%s: no citations counted", ev.Data.Resource)
			}
			want.Citations = got.Citations
		case ev.Data.Kind == event.KindVideo:
			want.Videos = 1
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("%s summary (-want +got):\n%s", ev.Data.Resource, diff)
		}
	}
}

// TestSubscriber_summarizesEveryJob runs the demo on the embedded stack and
// hands its results events to the subscriber as messages would: each job
// gets its summary, a second copy finds it, a transient failure writes
// nothing, and a damaged result writes no summary.
func TestSubscriber_summarizesEveryJob(t *testing.T) {
	t.Parallel()
	stack := demo(t, map[string]string{}, nil)
	events := announced(t, stack.DataDir)
	summaries := &store{Dir: stack.Store, failFirst: "summaries/" + string(event.KindVideo) + "/"}
	sub := newSubscriber(t, stack, summaries)
	ctx := t.Context()

	for _, data := range events {
		ev, _ := event.DecodeResults(data)
		id, outcome, err := sub.process(ctx, data)
		if ev.Data.Kind == event.KindVideo {
			if !errors.Is(err, errUnavailable) {
				t.Fatalf("video, store failing: %v, want the store's error", err)
			}
			id, outcome, err = sub.process(ctx, data)
		}
		if err != nil || outcome != Written || id != ev.ID {
			t.Fatalf("process(%s) = %q, %q, %v; want %q, written", ev.Data.Resource, id, outcome, err, ev.ID)
		}
		// A copy, to another instance (nothing in memory) and to this one.
		if _, outcome, err := newSubscriber(t, stack, summaries).process(ctx, data); err != nil || outcome != AlreadyStored {
			t.Errorf("process(%s) by another instance = %q, %v; want already_stored", ev.Data.Resource, outcome, err)
		}
		sub.seen.add(id) // as Handle does once the ack succeeded
		if _, outcome, err := sub.process(ctx, data); err != nil || outcome != Duplicate {
			t.Errorf("process(%s) again = %q, %v; want duplicate", ev.Data.Resource, outcome, err)
		}
	}
	if got := summaries.Created(); len(got) != demoJobs || len(slices.Compact(got)) != demoJobs {
		t.Errorf("summaries written: %q, want %d distinct", got, demoJobs)
	}
	checkSummaries(t, stack.Store, events, sub)
}

func TestSubscriber_writesNoSummaryOfDamagedResults(t *testing.T) {
	t.Parallel()
	stack := demo(t, map[string]string{}, nil)
	summaries := &store{Dir: stack.Store}
	sub := newSubscriber(t, stack, summaries)
	for _, data := range announced(t, stack.DataDir) {
		ev, _ := event.DecodeResults(data)
		if ev.Data.Kind != event.KindBatch || ev.Data.State != event.StateSucceeded {
			continue
		}
		file := filepath.Join(stack.DataDir, filepath.FromSlash(strings.TrimPrefix(ev.Data.Prefix, "gs://"+stack.Bucket+"/")), materializer.ResultsName)
		info, err := os.Stat(file)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.Truncate(file, info.Size()-1); err != nil {
			t.Fatal(err)
		}
		if _, _, err := sub.process(t.Context(), data); !errors.Is(err, results.ErrCorrupt) {
			t.Errorf("process(%s) of a truncated result: %v, want ErrCorrupt", ev.Data.Resource, err)
		}
	}
	if got := summaries.Created(); len(got) != 0 {
		t.Errorf("summaries written from damaged results: %q", got)
	}
}

func TestSubscriber_failedEventThatStoredNothing(t *testing.T) {
	t.Parallel()
	dir, err := blob.NewDir(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	reader, err := results.New(dir, "geminihooks-local", results.Options{})
	if err != nil {
		t.Fatal(err)
	}
	sub, err := NewSubscriber(reader, dir, "summaries", logging.New(io.Discard, slog.LevelError))
	if err != nil {
		t.Fatal(err)
	}
	src := &event.Event{ID: "msg_1", Data: event.Data{Kind: event.KindBatch, Resource: "batches/b1", Delivery: event.Delivery{ReceivedAt: time.Now()}}}
	failure := event.Failure{Code: "gemini_404", Message: "the batch is unknown", Permanent: true}
	ev, err := event.NewResultsFailed(src, event.ResultsSpec{State: "unavailable", StartedAt: time.Now(), FinishedAt: time.Now()}, failure)
	if err != nil {
		t.Fatal(err)
	}
	data, err := json.Marshal(ev)
	if err != nil {
		t.Fatal(err)
	}
	if _, outcome, err := sub.process(t.Context(), data); err != nil || outcome != Written {
		t.Fatalf("process = %q, %v; want written", outcome, err)
	}
	got := readSummary(t, dir, "summaries/batch/b1.json")
	if got.Error == nil || *got.Error != failure || got.Type != event.ResultsTypeFailed {
		t.Errorf("summary %+v, want the failure %+v", got, failure)
	}
}

// TestSubscriber_onTheEmulator runs the subscriber's Receive callback on
// the Pub/Sub emulator against the local stack: every job's summary is
// written once, although the first delivery of every message loses its ack
// (the emulator has no exactly-once delivery, so the test forces the
// redeliveries it would otherwise not see), every event is published twice,
// and the video's first summary write fails.
func TestSubscriber_onTheEmulator(t *testing.T) {
	ps := testenv.PubSub(t) // skips, or fails in CI, without the emulator
	t.Parallel()
	env := map[string]string{
		config.EnvPubSubEmulatorHost:    os.Getenv(config.EnvPubSubEmulatorHost),
		config.EnvGoogleCloudProject:    testenv.Project(),
		"EVENTS_TOPIC":                  testenv.UniqueName(t, "events"),
		config.EnvResultsTopic:          testenv.UniqueName(t, "results"),
		config.EnvFirestoreEmulatorHost: "",
	}
	subName := fullName(testenv.Project(), "subscriptions", testenv.UniqueName(t, "consumer"))
	var summaries *store
	var sub *Subscriber
	type delivery struct {
		first   bool
		outcome Outcome
		err     error
		id      string
	}
	deliveries := make(chan delivery, 100)
	var (
		mu       sync.Mutex
		seen     = map[string]bool{}
		payloads []*pubsub.Message
	)
	ctx, cancel := context.WithCancel(context.Background())
	received := make(chan error, 1)
	stop := sync.OnceValue(func() error { cancel(); return <-received })
	t.Cleanup(func() {
		if err := stop(); err != nil {
			t.Errorf("Receive: %v", err)
		}
	})

	stack := demo(t, env, func(stack *local.Stack) {
		t.Cleanup(func() {
			testenv.DeleteTopic(t, ps, stack.Events)
			testenv.DeleteTopic(t, ps, stack.ResultsTopic)
		})
		if err := ensureSubscription(ctx, ps, stack.ResultsTopic, subName); err != nil {
			t.Fatal(err)
		}
		summaries = &store{Dir: stack.Store, failFirst: "summaries/" + string(event.KindVideo) + "/"}
		sub = newSubscriber(t, stack, summaries)
		go func() {
			received <- ps.Subscriber(subName).Receive(ctx, func(ctx context.Context, m *pubsub.Message) {
				mu.Lock()
				first := !seen[m.ID]
				seen[m.ID] = true
				if first {
					payloads = append(payloads, &pubsub.Message{Data: m.Data, Attributes: m.Attributes})
				}
				mu.Unlock()
				if first && m.Attributes[event.AttrKind] != string(event.KindVideo) {
					// The summary is made, then the ack is lost: the
					// process dies, or the ack does not reach Pub/Sub.
					id, outcome, err := sub.process(ctx, m.Data)
					m.Nack()
					deliveries <- delivery{first: true, outcome: outcome, err: err, id: id}
					return
				}
				outcome := sub.Handle(ctx, m)
				deliveries <- delivery{outcome: outcome, id: m.ID}
			})
		}()
	})

	// await collects deliveries until n were acknowledged.
	outcomes := map[Outcome]int{}
	await := func(n int) {
		t.Helper()
		timer := time.NewTimer(wait)
		defer timer.Stop()
		for acked := 0; acked < n; {
			select {
			case d := <-deliveries:
				if d.first {
					if d.err != nil {
						t.Errorf("first delivery of %s: %v", d.id, d.err)
					}
					outcomes["first:"+d.outcome]++
					continue
				}
				outcomes[d.outcome]++
				if d.outcome != Retried {
					acked++
				}
			case <-timer.C:
				t.Fatalf("%d of %d messages acknowledged within %v; outcomes so far %v", acked, n, wait, outcomes)
			}
		}
	}
	await(demoJobs)
	if want := map[Outcome]int{"first:written": demoJobs - 1, AlreadyStored: demoJobs - 1, Retried: 1, Written: 1}; !cmp.Equal(outcomes, want) {
		t.Errorf("outcomes %v, want %v", outcomes, want)
	}

	// Every event published a second time: duplicates, as a publisher that
	// retried would make.
	mu.Lock()
	copies := slices.Clone(payloads)
	mu.Unlock()
	pub := ps.Publisher(stack.ResultsTopic)
	defer pub.Stop()
	var events [][]byte
	for _, m := range copies {
		events = append(events, m.Data)
		if _, err := pub.Publish(t.Context(), m).Get(t.Context()); err != nil {
			t.Fatal(err)
		}
	}
	clear(outcomes)
	await(demoJobs)
	if want := map[Outcome]int{"first:duplicate": demoJobs - 1, Duplicate: demoJobs}; !cmp.Equal(outcomes, want) {
		t.Errorf("outcomes of the copies %v, want %v", outcomes, want)
	}

	if got := summaries.Created(); len(got) != demoJobs || len(slices.Compact(got)) != demoJobs {
		t.Errorf("summaries written: %q, want %d distinct, each once", got, demoJobs)
	}
	if st, want := sub.Stats(), (Stats{Written: 1, Duplicates: 2*demoJobs - 1, Retried: 1}); st != want {
		t.Errorf("Stats() = %+v, want %+v", st, want)
	}
	checkSummaries(t, stack.Store, events, sub)
	if err := stop(); err != nil {
		t.Fatalf("Receive: %v", err)
	}
	testenv.Pull(t, ps, subName, 0, time.Second) // nothing left unacknowledged
}

func TestLoadConfig(t *testing.T) {
	t.Parallel()
	base := map[string]string{"GOOGLE_CLOUD_PROJECT": "p", "RESULTS_BUCKET": "b"}
	with := func(kv ...string) map[string]string {
		m := map[string]string{}
		for k, v := range base {
			m[k] = v
		}
		for i := 0; i < len(kv); i += 2 {
			m[kv[i]] = kv[i+1]
		}
		return m
	}
	tests := []struct {
		name    string
		env     map[string]string
		want    *Config
		wantErr bool
	}{
		{name: "defaults", env: base, want: &Config{ProjectID: "p", ResultsBucket: "b", Subscription: "geminihooks-results-consumer",
			SummaryBucket: "b", SummaryPrefix: "summaries", MaxOutstanding: 4, ResultsTopic: "geminihooks-results", LogLevel: "info"}},
		{name: "local_runner", env: with("RESULTS_DIR", ".geminihooks", "SUMMARY_BUCKET", "s", "RESULTS_SUBSCRIPTION", "projects/q/subscriptions/x"),
			want: &Config{ProjectID: "p", ResultsBucket: "b", Subscription: "projects/q/subscriptions/x", ResultsDir: ".geminihooks",
				SummaryBucket: "s", SummaryPrefix: "summaries", MaxOutstanding: 4, ResultsTopic: "geminihooks-results", LogLevel: "info"}},
		{name: "no_project", env: map[string]string{"RESULTS_BUCKET": "b"}, wantErr: true},
		{name: "no_bucket", env: map[string]string{"GOOGLE_CLOUD_PROJECT": "p"}, wantErr: true},
		{name: "no_concurrency", env: with("MAX_OUTSTANDING", "0"), wantErr: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got, err := LoadConfig(t.Context(), envconfig.MapLookuper(tc.env))
			if (err != nil) != tc.wantErr {
				t.Fatalf("LoadConfig: %v, want error %v", err, tc.wantErr)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("config (-want +got):\n%s", diff)
			}
			if got != nil && got.SubscriptionName() != fullName("p", "subscriptions", got.Subscription) {
				t.Errorf("SubscriptionName() = %q", got.SubscriptionName())
			}
		})
	}
}
