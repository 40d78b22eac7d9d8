package registry

import (
	"encoding/json"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/geminihooks/geminihooks/internal/testenv"
	"github.com/geminihooks/geminihooks/pkg/event"
)

var t0 = time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)

// clock is a settable test clock.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time  { c.mu.Lock(); defer c.mu.Unlock(); return c.now }
func (c *clock) Set(t time.Time) { c.mu.Lock(); c.now = t; c.mu.Unlock() }

type factory func(t *testing.T, opts Options) *Registry

func TestMemory(t *testing.T) {
	t.Parallel()
	runContract(t, func(t *testing.T, opts Options) *Registry {
		r, err := NewMemory(opts)
		if err != nil {
			t.Fatal(err)
		}
		return r
	})
}

func TestFirestore(t *testing.T) {
	t.Parallel()
	client := testenv.Firestore(t)
	runContract(t, func(t *testing.T, opts Options) *Registry {
		opts.Collection = testenv.UniqueName(t, "jobs")
		r, err := NewFirestore(client, opts)
		if err != nil {
			t.Fatal(err)
		}
		return r
	})
}

func batch(id string) event.JobRef { return event.JobRef{Kind: event.KindBatch, ID: id} }

func mustGet(t *testing.T, r *Registry, ref event.JobRef) Job {
	t.Helper()
	j, ok, err := r.Get(t.Context(), ref)
	if err != nil || !ok {
		t.Fatalf("Get(%s) = %v, %v", ref.Key(), ok, err)
	}
	return j
}

func runContract(t *testing.T, newRegistry factory) {
	setup := func(t *testing.T) (*Registry, *clock) {
		t.Helper()
		c := &clock{now: t0}
		return newRegistry(t, Options{Now: c.Now}), c
	}

	t.Run("register_is_idempotent", func(t *testing.T) {
		t.Parallel()
		r, c := setup(t)
		ctx := t.Context()
		job := Job{Ref: batch("b1"), Resource: "batches/b1", Origin: OriginSubmitted, ExpectedAt: t0.Add(time.Hour),
			UserMetadata: map[string]any{"team": "eval"}}
		got, created, err := r.Register(ctx, job)
		if err != nil || !created {
			t.Fatalf("Register() = created %v, %v", created, err)
		}
		want := Job{Ref: job.Ref, Resource: job.Resource, Origin: OriginSubmitted, State: StatePending, ExpectedAt: t0.Add(time.Hour),
			UserMetadata: map[string]any{"team": "eval"}, CreatedAt: t0, UpdatedAt: t0}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("Register() (-want +got):\n%s", diff)
		}
		c.Set(t0.Add(time.Minute))
		again := job
		again.Origin, again.ExpectedAt = OriginWatched, t0.Add(9*time.Hour)
		if _, created, err := r.Register(ctx, again); err != nil || created {
			t.Fatalf("second Register() = created %v, %v; want false, nil", created, err)
		}
		if diff := cmp.Diff(want, mustGet(t, r, job.Ref)); diff != "" {
			t.Errorf("record changed by a second Register (-want +got):\n%s", diff)
		}
	})

	t.Run("register_refuses_bad_jobs", func(t *testing.T) {
		t.Parallel()
		r, _ := setup(t)
		for name, j := range map[string]Job{
			"no_id":          {Ref: event.JobRef{Kind: event.KindBatch}, Resource: "batches/x", Origin: OriginSubmitted},
			"no_resource":    {Ref: batch("x"), Origin: OriginSubmitted},
			"unknown_kind":   {Ref: event.JobRef{Kind: event.KindUnknown, ID: "x"}, Resource: "x", Origin: OriginSubmitted},
			"webhook_origin": {Ref: batch("x"), Resource: "batches/x", Origin: OriginWebhook},
		} {
			if _, _, err := r.Register(t.Context(), j); !errors.Is(err, ErrInvalidJob) {
				t.Errorf("%s: Register() error = %v, want ErrInvalidJob", name, err)
			}
		}
		if _, ok, _ := r.Get(t.Context(), batch("x")); ok {
			t.Error("a refused job was stored")
		}
	})

	t.Run("states_only_advance", func(t *testing.T) {
		t.Parallel()
		r, c := setup(t)
		ctx := t.Context()
		ref := batch("b2")
		if _, _, err := r.Register(ctx, Job{Ref: ref, Resource: "batches/b2", Origin: OriginSubmitted, ExpectedAt: t0}); err != nil {
			t.Fatal(err)
		}
		c.Set(t0.Add(time.Minute))
		if err := r.Notified(ctx, Notice{Ref: ref, Resource: "batches/b2", EventID: "job-1", UserMetadata: map[string]any{"k": json.Number("7")}}); err != nil {
			t.Fatal(err)
		}
		c.Set(t0.Add(2 * time.Minute))
		if err := r.Stored(ctx, Notice{Ref: ref, Resource: "batches/b2", EventID: "job-1"}, "gs://b/gemini/batch/b2/"); err != nil {
			t.Fatal(err)
		}
		c.Set(t0.Add(3 * time.Minute))
		// Late and out-of-order writers change nothing.
		if err := r.Notified(ctx, Notice{Ref: ref, Resource: "batches/b2", EventID: "job-2"}); err != nil {
			t.Fatal(err)
		}
		if err := r.Failed(ctx, Notice{Ref: ref, Resource: "batches/b2"}, "late failure"); err != nil {
			t.Fatal(err)
		}
		if err := r.Checked(ctx, ref, t0.Add(time.Hour)); err != nil {
			t.Fatal(err)
		}
		got := mustGet(t, r, ref)
		want := Job{Ref: ref, Resource: "batches/b2", Origin: OriginSubmitted, State: StateStored, ExpectedAt: t0,
			UserMetadata: map[string]any{"k": int64(7)}, EventID: "job-1", Location: "gs://b/gemini/batch/b2/",
			CreatedAt: t0, UpdatedAt: t0.Add(2 * time.Minute), NotifiedAt: t0.Add(time.Minute), FinishedAt: t0.Add(2 * time.Minute)}
		// Events decode numbers as json.Number; records hold int64 or float64.
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("record (-want +got):\n%s", diff)
		}
	})

	t.Run("unknown_jobs_are_added_by_their_first_writer", func(t *testing.T) {
		t.Parallel()
		r, _ := setup(t)
		ctx := t.Context()
		tests := []struct {
			name   string
			write  func(event.JobRef) error
			origin Origin
			state  State
		}{
			{"webhook", func(ref event.JobRef) error {
				return r.Notified(ctx, Notice{Ref: ref, Resource: "interactions/" + ref.ID, EventID: "e"})
			}, OriginWebhook, StateNotified},
			{"reconciled", func(ref event.JobRef) error {
				return r.Notified(ctx, Notice{Ref: ref, Resource: "interactions/" + ref.ID, EventID: "e", Reconciled: true})
			}, OriginReconciled, StateNotified},
			{"stored_first", func(ref event.JobRef) error {
				return r.Stored(ctx, Notice{Ref: ref, Resource: "interactions/" + ref.ID}, "/data/x")
			}, OriginWebhook, StateStored},
			{"reconciled_stored_first", func(ref event.JobRef) error {
				return r.Stored(ctx, Notice{Ref: ref, Resource: "interactions/" + ref.ID, Reconciled: true}, "/data/x")
			}, OriginReconciled, StateStored},
			{"failed_first", func(ref event.JobRef) error {
				return r.Failed(ctx, Notice{Ref: ref, Resource: "interactions/" + ref.ID}, "boom")
			}, OriginWebhook, StateFailed},
		}
		for _, tc := range tests {
			ref := event.JobRef{Kind: event.KindInteraction, ID: tc.name}
			if err := tc.write(ref); err != nil {
				t.Fatalf("%s: %v", tc.name, err)
			}
			if got := mustGet(t, r, ref); got.Origin != tc.origin || got.State != tc.state {
				t.Errorf("%s: origin %s state %s, want %s %s", tc.name, got.Origin, got.State, tc.origin, tc.state)
			}
		}
	})

	t.Run("overdue_lists_pending_jobs_past_their_time_oldest_first", func(t *testing.T) {
		t.Parallel()
		r, c := setup(t)
		ctx := t.Context()
		reg := func(id string, expected time.Time) {
			t.Helper()
			if _, _, err := r.Register(ctx, Job{Ref: batch(id), Resource: "batches/" + id, Origin: OriginWatched, ExpectedAt: expected}); err != nil {
				t.Fatal(err)
			}
		}
		reg("late2", t0.Add(-2*time.Hour))
		reg("late1", t0.Add(-3*time.Hour))
		reg("late3", t0.Add(-time.Hour))
		reg("future", t0.Add(time.Hour))
		reg("unknown_time", time.Time{})
		reg("notified", t0.Add(-4*time.Hour))
		if err := r.Notified(ctx, Notice{Ref: batch("notified"), Resource: "batches/notified"}); err != nil {
			t.Fatal(err)
		}
		got, err := r.Overdue(ctx, t0, 2)
		if err != nil {
			t.Fatal(err)
		}
		ids := func(js []Job) []string {
			var out []string
			for _, j := range js {
				out = append(out, j.Ref.ID)
			}
			return out
		}
		if diff := cmp.Diff([]string{"late1", "late2"}, ids(got)); diff != "" {
			t.Errorf("Overdue(limit 2) (-want +got):\n%s", diff)
		}
		// A poll that finds the job running pushes it back.
		c.Set(t0.Add(time.Second))
		if err := r.Checked(ctx, batch("late1"), t0.Add(10*time.Minute)); err != nil {
			t.Fatal(err)
		}
		got, err = r.Overdue(ctx, t0, 10)
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff([]string{"late2", "late3"}, ids(got)); diff != "" {
			t.Errorf("Overdue after Checked (-want +got):\n%s", diff)
		}
		if j := mustGet(t, r, batch("late1")); j.Checks != 1 || !j.ExpectedAt.Equal(t0.Add(10*time.Minute)) {
			t.Errorf("after Checked: checks %d expected %v", j.Checks, j.ExpectedAt)
		}
	})

	t.Run("racing_writers_end_in_the_final_state", func(t *testing.T) {
		t.Parallel()
		r, _ := setup(t)
		ctx := t.Context()
		ref := event.JobRef{Kind: event.KindVideo, ID: "race"}
		var wg sync.WaitGroup
		errs := make(chan error, 8)
		for i := range 8 {
			wg.Go(func() {
				if i%2 == 0 {
					errs <- r.Notified(ctx, Notice{Ref: ref, Resource: "models/m/operations/race", EventID: "e"})
				} else {
					errs <- r.Stored(ctx, Notice{Ref: ref, Resource: "models/m/operations/race", EventID: "e"}, "gs://b/x/")
				}
			})
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			if err != nil {
				t.Fatal(err)
			}
		}
		if got := mustGet(t, r, ref); got.State != StateStored || got.EventID != "e" {
			t.Errorf("after the race: state %s event %q, want stored and the event id", got.State, got.EventID)
		}
	})

	t.Run("get_all_returns_known_jobs_only", func(t *testing.T) {
		t.Parallel()
		r, _ := setup(t)
		ctx := t.Context()
		if err := r.Notified(ctx, Notice{Ref: batch("a"), Resource: "batches/a"}); err != nil {
			t.Fatal(err)
		}
		got, err := r.GetAll(ctx, []event.JobRef{batch("a"), batch("missing")})
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff([]string{"batch/a"}, keysOf(got), cmpopts.SortSlices(func(a, b string) bool { return a < b })); diff != "" {
			t.Errorf("GetAll keys (-want +got):\n%s", diff)
		}
	})
}

func keysOf(m map[string]Job) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}

func TestOptions(t *testing.T) {
	t.Parallel()
	for name, opts := range map[string]Options{
		"short_ttl":      {TTL: time.Hour},
		"bad_collection": {Collection: "a/b"},
	} {
		if _, err := NewMemory(opts); !errors.Is(err, ErrInvalidOptions) {
			t.Errorf("%s: NewMemory() error = %v, want ErrInvalidOptions", name, err)
		}
	}
}

func TestFirestore_expiryAndIndexFields(t *testing.T) {
	t.Parallel()
	client := testenv.Firestore(t)
	coll := testenv.UniqueName(t, "jobs")
	c := &clock{now: t0}
	r, err := NewFirestore(client, Options{Collection: coll, Now: c.Now, TTL: 100 * time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	ref := batch("ttl")
	c.Set(t0.Add(time.Minute))
	if err := r.Notified(t.Context(), Notice{Ref: ref, Resource: "batches/ttl"}); err != nil {
		t.Fatal(err)
	}
	snap, err := client.Collection(coll).Doc(docID(ref.Key())).Get(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	exp, ok := snap.Data()[ExpiryField].(time.Time)
	if !ok || !exp.Equal(t0.Add(time.Minute+100*time.Hour)) {
		t.Errorf("%s = %v (%T), want a timestamp TTL after the last write", ExpiryField, snap.Data()[ExpiryField], snap.Data()[ExpiryField])
	}
	for _, f := range IndexFields {
		if _, ok := snap.Data()[f]; !ok {
			t.Errorf("index field %q is not written", f)
		}
	}
}
