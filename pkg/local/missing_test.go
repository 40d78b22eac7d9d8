package local

import (
	"context"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/sethvargo/go-envconfig"

	"github.com/geminihooks/geminihooks/internal/geminisim"
	"github.com/geminihooks/geminihooks/internal/testenv"
	"github.com/geminihooks/geminihooks/pkg/config"
	"github.com/geminihooks/geminihooks/pkg/event"
	"github.com/geminihooks/geminihooks/pkg/logging"
	"github.com/geminihooks/geminihooks/pkg/reconciler"
	"github.com/geminihooks/geminihooks/pkg/registry"
)

// arrival is how a job's webhook reaches the receiver in
// TestStack_noFinishedJobGoesMissing.
type arrival int

const (
	arriveOnce       arrival = iota
	arriveTwice              // under two webhook-ids, concurrently
	arriveNever              // dropped: only the reconciler can find it
	arriveDuringPass         // delivered while the reconcile pass runs
)

type missingJob struct {
	kind     event.Kind
	resource string
	arrival  arrival
	jwt      bool
	fail     bool
}

// TestStack_noFinishedJobGoesMissing drives 200 jobs (batches, Deep
// Research interactions and videos) through the simulator, the receiver,
// the reconciler and the materializer on the Firestore and Pub/Sub
// emulators: 10% of the webhooks are dropped, 10% arrive under two
// webhook-ids, 10% arrive while a reconcile pass runs, the rest once, in
// random order and concurrently. After one reconcile pass every job has
// exactly one completion event and one results event, and a second pass
// finds nothing left to do.
func TestStack_noFinishedJobGoesMissing(t *testing.T) {
	t.Parallel()
	fs := testenv.Firestore(t)
	testenv.PubSub(t)
	jobsCollection := testenv.UniqueName(t, "jobs")
	env := map[string]string{
		config.EnvFirestoreEmulatorHost: envOr(config.EnvFirestoreEmulatorHost),
		config.EnvPubSubEmulatorHost:    envOr(config.EnvPubSubEmulatorHost),
		config.EnvGoogleCloudProject:    testenv.Project(),
		"IDEMPOTENCY_COLLECTION":        testenv.UniqueName(t, "ledger"),
		config.EnvJobsCollection:        jobsCollection,
		config.EnvEventsTopic:           testenv.UniqueName(t, "events"),
		config.EnvResultsTopic:          testenv.UniqueName(t, "results"),
		// Every job here ended before the pass; none is waited for.
		config.EnvReconcileGrace: "1ms",
		// The emulators share two CPUs with the whole suite: give each
		// Firestore step more than the deployed 2 s.
		"LEDGER_TIMEOUT": "5s",
	}
	ctx, cancel := context.WithTimeout(t.Context(), 3*time.Minute)
	defer cancel()
	logs := &testenv.SyncBuffer{}
	stack, err := Start(ctx, Options{
		Addr: "127.0.0.1:0", Lookuper: envconfig.MapLookuper(env), Logger: logging.New(logs, slog.LevelError),
		DataDir: t.TempDir(),
	})
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("the stack's errors:\n%s", logs.String())
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := stack.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	jobs, err := registry.NewFirestore(fs, registry.Options{Collection: jobsCollection})
	if err != nil {
		t.Fatal(err)
	}
	events := countBySubject(stack.Received, func(e *event.Event) string { return e.Subject })
	results := countBySubject(stack.Results, func(r *event.Results) string { return r.Subject })

	// 140 batches (20 of them failing), 30 interactions, 30 videos; every
	// tenth job of each arrival kind.
	rng := rand.New(rand.NewPCG(12, 200))
	var all []*missingJob
	for i := range 200 {
		j := &missingJob{arrival: []arrival{arriveNever, arriveTwice, arriveDuringPass, arriveOnce, arriveOnce, arriveOnce, arriveOnce, arriveOnce, arriveOnce, arriveOnce}[i%10], jwt: i%3 == 0}
		switch {
		case i < 140:
			j.kind, j.fail = event.KindBatch, i%7 == 0
			j.resource, err = stack.Sim.CreateBatch(geminisim.BatchSpec{Results: geminisim.ResultsFile{Size: 2 << 10, Seed: uint64(i)}})
		case i < 170:
			j.kind = event.KindInteraction
			var id string
			id, err = stack.Sim.CreateInteraction(geminisim.InteractionSpec{Input: fmt.Sprintf("question %d", i)})
			j.resource = "interactions/" + id
		default:
			j.kind = event.KindVideo
			j.resource, err = stack.Sim.CreateVideo(geminisim.VideoSpec{Video: geminisim.VideoFile{Size: 16 << 10, Seed: uint64(i)}})
		}
		if err != nil {
			t.Fatal(err)
		}
		if j.kind != event.KindBatch {
			// Interactions and videos cannot be listed: `submit` registers
			// them, expected now.
			ref, _ := event.ParseJob(j.kind, j.resource)
			if _, _, err := jobs.Register(ctx, registry.Job{Ref: ref, Resource: j.resource, Origin: registry.OriginSubmitted, ExpectedAt: time.Now()}); err != nil {
				t.Fatal(err)
			}
		}
		all = append(all, j)
	}
	rng.Shuffle(len(all), func(a, b int) { all[a], all[b] = all[b], all[a] })

	retry := geminisim.RetryPolicy{MaxAttempts: 10, InitialBackoff: 50 * time.Millisecond, Multiplier: 2, MaxBackoff: time.Second}
	hmac, err := geminisim.NewSender(geminisim.SenderOptions{Secrets: []string{stack.Secret}, Retry: retry})
	if err != nil {
		t.Fatal(err)
	}
	jwt, err := geminisim.NewSender(geminisim.SenderOptions{Signer: stack.Sim, Retry: retry})
	if err != nil {
		t.Fatal(err)
	}
	send := func(j *missingJob, n event.Payload, webhookID string) {
		sender := hmac
		if j.jwt {
			sender = jwt
		}
		if rep, err := sender.Send(ctx, geminisim.Delivery{URL: stack.URL, Notification: n, WebhookID: webhookID}); err != nil {
			t.Errorf("%s: webhook %s not delivered: %v (statuses %v)", j.resource, webhookID, err, rep.Statuses())
		}
	}

	// Finish every job, eight at a time, delivering as each one says.
	var (
		mu    sync.Mutex
		later = map[*missingJob]event.Payload{}
		work  = make(chan *missingJob)
		wg    sync.WaitGroup
	)
	for range 8 {
		wg.Go(func() {
			for j := range work {
				n, err := finish(stack.Sim, j)
				if err != nil {
					t.Error(err)
					continue
				}
				switch j.arrival {
				case arriveOnce:
					send(j, n, "")
				case arriveTwice:
					var both sync.WaitGroup
					for k := range 2 {
						both.Go(func() { send(j, n, fmt.Sprintf("msg_%s_%d", j.resource[len(j.resource)-8:], k)) })
					}
					both.Wait()
				case arriveDuringPass:
					mu.Lock()
					later[j] = n
					mu.Unlock()
				}
			}
		})
	}
	for _, j := range all {
		work <- j
	}
	close(work)
	wg.Wait()

	// One pass, with the late webhooks arriving meanwhile.
	var sum reconcilerSummary
	wg.Go(func() { sum.Summary, sum.err = stack.ReconcileNow(ctx) })
	for j, n := range later {
		wg.Go(func() { send(j, n, "") })
	}
	wg.Wait()
	if sum.err != nil {
		t.Fatalf("reconcile pass: %v", sum.err)
	}
	t.Logf("reconcile pass: %+v", sum.Summary)
	if sum.GapsFilled < 20 {
		t.Errorf("the pass filled %d gaps; at least the 20 dropped webhooks are gaps", sum.GapsFilled)
	}

	// Every job's results arrive, once.
	want := map[string]int{}
	for _, j := range all {
		want[j.resource] = 1
	}
	if got := results.await(ctx, want); len(got) > 0 {
		t.Fatalf("results events missing or repeated (resource: count): %v", got)
	}
	// A second pass finds nothing to do: every job is known to be done.
	again, err := stack.ReconcileNow(ctx)
	if err != nil || again.GapsFilled != 0 {
		t.Errorf("second pass: %+v, %v; want no gap filled", again, err)
	}
	if got := events.await(ctx, want); len(got) > 0 {
		t.Errorf("completion events missing or repeated (resource: count): %v", got)
	}
	// Nothing more comes: a repeated event would have been published by
	// now, but the topic is given a moment to show one.
	quiet, stop := context.WithTimeout(ctx, 2*time.Second)
	defer stop()
	<-quiet.Done()
	for name, c := range map[string]*subjectCounter{"completion": events, "results": results} {
		if extra := c.over(want); len(extra) > 0 {
			t.Errorf("%s events repeated afterwards: %v", name, extra)
		}
	}
	// The registry ends every job: stored, or failed for the failed batches.
	for _, j := range all {
		ref, _ := event.ParseJob(j.kind, j.resource)
		rec, ok, err := jobs.Get(ctx, ref)
		wantState := registry.StateStored
		if j.fail {
			wantState = registry.StateFailed
		}
		if err != nil || !ok || rec.State != wantState {
			t.Errorf("%s: registry %+v (%v, %v); want %s", j.resource, rec, ok, err, wantState)
		}
		if j.arrival == arriveNever && rec.Origin != registry.OriginReconciled && rec.Origin != registry.OriginSubmitted {
			t.Errorf("%s: dropped webhook, but the registry says origin %s", j.resource, rec.Origin)
		}
	}
}

type reconcilerSummary struct {
	reconciler.Summary
	err error
}

// finish ends j in the simulator and returns its notification.
func finish(sim *geminisim.Server, j *missingJob) (event.Payload, error) {
	switch j.kind {
	case event.KindBatch:
		if j.fail {
			return sim.FailBatch(j.resource, geminisim.JobError{Code: 13, Message: "internal error"})
		}
		return sim.CompleteBatch(j.resource)
	case event.KindInteraction:
		return sim.CompleteInteraction(j.resource[len("interactions/"):])
	default:
		return sim.CompleteVideo(j.resource)
	}
}

// subjectCounter counts the events a stack channel carries, by subject.
type subjectCounter struct {
	mu      sync.Mutex
	n       map[string]int
	changed chan struct{}
}

// countBySubject counts what ch carries until it closes.
func countBySubject[E any](ch <-chan E, subject func(E) string) *subjectCounter {
	c := &subjectCounter{n: map[string]int{}, changed: make(chan struct{})}
	go func() {
		for e := range ch {
			c.mu.Lock()
			c.n[subject(e)]++
			close(c.changed)
			c.changed = make(chan struct{})
			c.mu.Unlock()
		}
	}()
	return c
}

// await waits until every subject of want has its count, or ctx ends, and
// returns the subjects whose count differs (nil when none does).
func (c *subjectCounter) await(ctx context.Context, want map[string]int) map[string]int {
	for {
		c.mu.Lock()
		diff := c.diffLocked(want)
		changed := c.changed
		c.mu.Unlock()
		if len(diff) == 0 {
			return nil
		}
		select {
		case <-changed:
		case <-ctx.Done():
			return diff
		}
	}
}

// over returns the subjects counted more often than want says.
func (c *subjectCounter) over(want map[string]int) map[string]int {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := map[string]int{}
	for s, n := range c.n {
		if n > want[s] {
			out[s] = n
		}
	}
	return out
}

func (c *subjectCounter) diffLocked(want map[string]int) map[string]int {
	out := map[string]int{}
	for s, n := range want {
		if c.n[s] != n {
			out[s] = c.n[s]
		}
	}
	for s, n := range c.n {
		if _, ok := want[s]; !ok {
			out[s] = n
		}
	}
	return out
}
