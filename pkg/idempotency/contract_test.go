package idempotency

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// view is one stored record as read back from the backing store.
type view struct {
	Key         string
	State       string
	Lease       time.Time
	Attempts    int
	CreatedAt   time.Time
	UpdatedAt   time.Time
	ExpireAt    time.Time
	PublishedAt time.Time
	MessageID   string
}

// harness is one ledger under test, its clock, and a way to inspect storage.
type harness struct {
	ledger Ledger
	clock  *clock
	// read returns the record stored under docID, or false if there is none.
	read func(t *testing.T, docID string) (view, bool)
}

// newHarness builds a fresh, isolated ledger from opts; opts.Now is set to
// the harness clock by the caller.
type newHarness func(t *testing.T, opts Options) harness

// clock is a manually advanced clock, safe for concurrent use.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

// start is whole seconds so that Firestore's microsecond precision
// round-trips it exactly.
var start = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

func newClock() *clock { return &clock{now: start} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

const (
	testLease = 30 * time.Second
	testTTL   = 48 * time.Hour // not the default, to prove the option is used
)

// runContract runs the ledger contract against the implementation built by
// newH. Every subtest gets its own ledger.
func runContract(t *testing.T, newH newHarness) {
	setup := func(t *testing.T) harness {
		t.Helper()
		clk := newClock()
		h := newH(t, Options{Lease: testLease, TTL: testTTL, Now: clk.Now})
		h.clock = clk
		return h
	}
	ctx := func(t *testing.T) context.Context { return t.Context() }

	t.Run("first_claim", func(t *testing.T) {
		t.Parallel()
		h := setup(t)
		const id = "msg_2KWPBgLlAfxdpx2AI54pPJ85f4W"
		got := mustClaim(t, h, id)
		want := Claim{Key: id, DocID: DocID(id), Outcome: Claimed, Attempt: 1}
		if diff := cmp.Diff(want, got, cmpClaim); diff != "" {
			t.Errorf("Claim mismatch (-want +got):\n%s", diff)
		}
		rec, ok := h.read(t, DocID(id))
		if !ok {
			t.Fatal("no record stored after Claim")
		}
		wantRec := view{
			Key: id, State: "received", Lease: start.Add(testLease), Attempts: 1,
			CreatedAt: start, UpdatedAt: start, ExpireAt: start.Add(testTTL),
		}
		if diff := cmp.Diff(wantRec, rec); diff != "" {
			t.Errorf("stored record mismatch (-want +got):\n%s", diff)
		}
	})

	t.Run("duplicate_after_publish", func(t *testing.T) {
		t.Parallel()
		h := setup(t)
		c := mustClaim(t, h, "dup")
		h.clock.Advance(time.Second)
		if err := h.ledger.MarkPublished(ctx(t), c, "msg-17"); err != nil {
			t.Fatalf("MarkPublished: %v", err)
		}
		rec, _ := h.read(t, DocID("dup"))
		wantRec := view{
			Key: "dup", State: "published", Attempts: 1, CreatedAt: start,
			UpdatedAt: start.Add(time.Second), PublishedAt: start.Add(time.Second),
			ExpireAt: start.Add(time.Second + testTTL), MessageID: "msg-17",
		}
		if diff := cmp.Diff(wantRec, rec); diff != "" {
			t.Errorf("stored record mismatch (-want +got):\n%s", diff)
		}
		// Long after the lease, a published delivery stays a duplicate.
		for _, advance := range []time.Duration{0, 2 * testLease, 24 * time.Hour} {
			h.clock.Advance(advance)
			got := mustClaim(t, h, "dup")
			want := Claim{Key: "dup", DocID: DocID("dup"), Outcome: Duplicate, Attempt: 1, MessageID: "msg-17"}
			if diff := cmp.Diff(want, got, cmpClaim); diff != "" {
				t.Errorf("Claim after %v mismatch (-want +got):\n%s", advance, diff)
			}
		}
	})

	t.Run("in_flight_during_lease", func(t *testing.T) {
		t.Parallel()
		h := setup(t)
		mustClaim(t, h, "busy")
		for _, advance := range []time.Duration{0, testLease - time.Second} {
			h.clock.Advance(advance)
			got := mustClaim(t, h, "busy")
			want := Claim{Key: "busy", DocID: DocID("busy"), Outcome: InFlight, Attempt: 1}
			if diff := cmp.Diff(want, got, cmpClaim); diff != "" {
				t.Errorf("Claim mismatch (-want +got):\n%s", diff)
			}
		}
		if rec, _ := h.read(t, DocID("busy")); rec.Attempts != 1 || !rec.Lease.Equal(start.Add(testLease)) {
			t.Errorf("InFlight claims changed the record: attempts %d, lease %v", rec.Attempts, rec.Lease)
		}
	})

	t.Run("takeover_after_lease_expiry", func(t *testing.T) {
		t.Parallel()
		h := setup(t)
		mustClaim(t, h, "crashed")
		h.clock.Advance(testLease) // the lease ends at exactly this instant
		got := mustClaim(t, h, "crashed")
		want := Claim{Key: "crashed", DocID: DocID("crashed"), Outcome: Claimed, Attempt: 2, Takeover: true}
		if diff := cmp.Diff(want, got, cmpClaim); diff != "" {
			t.Fatalf("takeover Claim mismatch (-want +got):\n%s", diff)
		}
		now := start.Add(testLease)
		rec, _ := h.read(t, DocID("crashed"))
		wantRec := view{
			Key: "crashed", State: "received", Lease: now.Add(testLease), Attempts: 2,
			CreatedAt: start, UpdatedAt: now, ExpireAt: start.Add(testTTL),
		}
		if diff := cmp.Diff(wantRec, rec); diff != "" {
			t.Errorf("stored record mismatch (-want +got):\n%s", diff)
		}
		// The new holder has a fresh lease...
		if c := mustClaim(t, h, "crashed"); c.Outcome != InFlight {
			t.Errorf("Claim during the new lease = %v, want %v", c.Outcome, InFlight)
		}
		// ...and settles the delivery like a first claimer.
		if err := h.ledger.MarkPublished(ctx(t), got, "m-2"); err != nil {
			t.Fatalf("MarkPublished: %v", err)
		}
		if c := mustClaim(t, h, "crashed"); c.Outcome != Duplicate || c.Attempt != 2 {
			t.Errorf("Claim after publish = %v attempt %d, want %v attempt 2", c.Outcome, c.Attempt, Duplicate)
		}
	})

	t.Run("takeover_race_has_one_winner", func(t *testing.T) {
		t.Parallel()
		h := setup(t)
		mustClaim(t, h, "race")
		h.clock.Advance(testLease + time.Second)
		got := claimConcurrently(t, h, "race", 20)
		want := map[Outcome]int{Claimed: 1, InFlight: 19}
		if diff := cmp.Diff(want, got.outcomes); diff != "" {
			t.Errorf("outcomes mismatch (-want +got):\n%s", diff)
		}
		if got.takeovers != 1 {
			t.Errorf("%d claims report Takeover, want 1", got.takeovers)
		}
		if rec, _ := h.read(t, DocID("race")); rec.Attempts != 2 {
			t.Errorf("stored attempts = %d, want 2", rec.Attempts)
		}
	})

	t.Run("concurrent_first_claims_have_one_winner", func(t *testing.T) {
		t.Parallel()
		h := setup(t)
		got := claimConcurrently(t, h, "burst", 200)
		want := map[Outcome]int{Claimed: 1, InFlight: 199}
		if diff := cmp.Diff(want, got.outcomes); diff != "" {
			t.Errorf("outcomes mismatch (-want +got):\n%s", diff)
		}
	})

	t.Run("release_then_reclaim", func(t *testing.T) {
		t.Parallel()
		h := setup(t)
		c := mustClaim(t, h, "failed-publish")
		if err := h.ledger.Release(ctx(t), c); err != nil {
			t.Fatalf("Release: %v", err)
		}
		if _, ok := h.read(t, DocID("failed-publish")); ok {
			t.Fatal("record still stored after Release")
		}
		// The retry claims at once, without waiting for the lease.
		got := mustClaim(t, h, "failed-publish")
		want := Claim{Key: "failed-publish", DocID: DocID("failed-publish"), Outcome: Claimed, Attempt: 1}
		if diff := cmp.Diff(want, got, cmpClaim); diff != "" {
			t.Errorf("Claim after Release mismatch (-want +got):\n%s", diff)
		}
	})

	t.Run("release_does_not_delete_newer_claim", func(t *testing.T) {
		t.Parallel()
		h := setup(t)
		stale := mustClaim(t, h, "slow")
		h.clock.Advance(testLease)
		if c := mustClaim(t, h, "slow"); c.Outcome != Claimed || !c.Takeover {
			t.Fatalf("takeover Claim = %+v, want Claimed with Takeover", c)
		}
		// The original holder wakes up, fails to publish and releases.
		if err := h.ledger.Release(ctx(t), stale); err != nil {
			t.Fatalf("Release of a stale claim: %v", err)
		}
		rec, ok := h.read(t, DocID("slow"))
		if !ok || rec.Attempts != 2 {
			t.Fatalf("newer claim not intact after stale Release: present %v, attempts %d", ok, rec.Attempts)
		}
		if c := mustClaim(t, h, "slow"); c.Outcome != InFlight {
			t.Errorf("Claim after stale Release = %v, want %v", c.Outcome, InFlight)
		}
	})

	t.Run("release_after_publish_keeps_record", func(t *testing.T) {
		t.Parallel()
		h := setup(t)
		c := mustClaim(t, h, "done")
		h.clock.Advance(time.Millisecond)
		if err := h.ledger.MarkPublished(ctx(t), c, "m-1"); err != nil {
			t.Fatalf("MarkPublished: %v", err)
		}
		if err := h.ledger.Release(ctx(t), c); err != nil {
			t.Fatalf("Release: %v", err)
		}
		if got := mustClaim(t, h, "done"); got.Outcome != Duplicate {
			t.Errorf("Claim after Release of a published claim = %v, want %v", got.Outcome, Duplicate)
		}
	})

	t.Run("mark_published_recreates_vanished_record", func(t *testing.T) {
		t.Parallel()
		h := setup(t)
		c := mustClaim(t, h, "vanished")
		if err := h.ledger.Release(ctx(t), c); err != nil {
			t.Fatalf("Release: %v", err)
		}
		// The message went out after all: recording it must not depend on
		// the record still being there.
		if err := h.ledger.MarkPublished(ctx(t), c, "m-9"); err != nil {
			t.Fatalf("MarkPublished: %v", err)
		}
		got := mustClaim(t, h, "vanished")
		if got.Outcome != Duplicate || got.MessageID != "m-9" {
			t.Errorf("Claim = %v (message %q), want %v (message %q)", got.Outcome, got.MessageID, Duplicate, "m-9")
		}
		rec, _ := h.read(t, DocID("vanished"))
		if rec.Key != "vanished" || !rec.ExpireAt.Equal(start.Add(testTTL)) {
			t.Errorf("recreated record has webhook_id %q, %s %v; want %q, %v",
				rec.Key, ExpiryField, rec.ExpireAt, "vanished", start.Add(testTTL))
		}
	})

	t.Run("settling_requires_a_held_claim", func(t *testing.T) {
		t.Parallel()
		h := setup(t)
		held := mustClaim(t, h, "held")
		notHeld := mustClaim(t, h, "held") // InFlight
		if err := h.ledger.MarkPublished(ctx(t), notHeld, "m"); !errors.Is(err, ErrNotClaimed) {
			t.Errorf("MarkPublished(InFlight claim) error = %v, want %v", err, ErrNotClaimed)
		}
		if err := h.ledger.Release(ctx(t), notHeld); !errors.Is(err, ErrNotClaimed) {
			t.Errorf("Release(InFlight claim) error = %v, want %v", err, ErrNotClaimed)
		}
		if err := h.ledger.Release(ctx(t), Claim{}); !errors.Is(err, ErrNotClaimed) {
			t.Errorf("Release(zero Claim) error = %v, want %v", err, ErrNotClaimed)
		}
		if rec, ok := h.read(t, DocID("held")); !ok || rec.State != "received" {
			t.Errorf("rejected calls changed the record: present %v, state %q", ok, rec.State)
		}
		if err := h.ledger.MarkPublished(ctx(t), held, "m"); err != nil {
			t.Errorf("MarkPublished(held claim): %v", err)
		}
	})

	t.Run("empty_webhook_id", func(t *testing.T) {
		t.Parallel()
		h := setup(t)
		if _, err := h.ledger.Claim(ctx(t), ""); !errors.Is(err, ErrEmptyKey) {
			t.Errorf("Claim(\"\") error = %v, want %v", err, ErrEmptyKey)
		}
	})

	t.Run("hostile_webhook_ids", func(t *testing.T) {
		t.Parallel()
		h := setup(t)
		for _, id := range hostileIDs() {
			c := mustClaim(t, h, id)
			if c.Outcome != Claimed {
				t.Errorf("Claim(%.20q) = %v, want %v (ids must not collide)", id, c.Outcome, Claimed)
			}
			rec, ok := h.read(t, DocID(id))
			if !ok || rec.Key != id {
				t.Errorf("record for %.20q: present %v, webhook_id %.20q; want the raw id", id, ok, rec.Key)
			}
		}
	})
}

// hostileIDs are webhook-ids that are invalid or dangerous as raw Firestore
// document ids.
func hostileIDs() []string {
	return []string{"/", "a/b", ".", "..", "__x__", "__.*__", strings.Repeat("x", 2000), "webhook-ü-日本-🙂", " ", "\x00"}
}

// cmpClaim compares the exported fields of Claims.
var cmpClaim = cmp.Comparer(func(a, b Claim) bool {
	return a.Key == b.Key && a.DocID == b.DocID && a.Outcome == b.Outcome &&
		a.Attempt == b.Attempt && a.Takeover == b.Takeover && a.MessageID == b.MessageID
})

func mustClaim(t *testing.T, h harness, id string) Claim {
	t.Helper()
	c, err := h.ledger.Claim(t.Context(), id)
	if err != nil {
		t.Fatalf("Claim(%.20q): %v", id, err)
	}
	return c
}

type concurrentResult struct {
	outcomes  map[Outcome]int
	takeovers int
}

// claimConcurrently claims id from n goroutines released at once.
func claimConcurrently(t *testing.T, h harness, id string, n int) concurrentResult {
	t.Helper()
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		gate = make(chan struct{})
		res  = concurrentResult{outcomes: map[Outcome]int{}}
		errs []error
		ctx  = t.Context()
	)
	for range n {
		wg.Go(func() {
			<-gate
			c, err := h.ledger.Claim(ctx, id)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				errs = append(errs, err)
				return
			}
			res.outcomes[c.Outcome]++
			if c.Takeover {
				res.takeovers++
			}
		})
	}
	close(gate)
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		t.Fatalf("%d of %d concurrent claims failed: %v", len(errs), n, err)
	}
	return res
}

func TestMemoryContract(t *testing.T) {
	t.Parallel()
	runContract(t, func(t *testing.T, opts Options) harness {
		m, err := NewMemory(opts)
		if err != nil {
			t.Fatalf("NewMemory: %v", err)
		}
		return harness{ledger: m, read: func(t *testing.T, docID string) (view, bool) {
			m.mu.Lock()
			defer m.mu.Unlock()
			r, ok := m.records[docID]
			if !ok {
				return view{}, false
			}
			return view{
				Key: r.key, State: r.state, Lease: r.lease, Attempts: r.attempts,
				CreatedAt: r.createdAt, UpdatedAt: r.updatedAt, ExpireAt: r.expireAt,
				PublishedAt: r.publishedAt, MessageID: r.messageID,
			}, true
		}}
	})
}

func TestOutcomeString(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		o    Outcome
		want string
	}{
		{Claimed, "claimed"},
		{Duplicate, "duplicate"},
		{InFlight, "in_flight"},
		{Outcome(0), "Outcome(0)"},
		{Outcome(42), "Outcome(42)"},
	} {
		if got := tc.o.String(); got != tc.want {
			t.Errorf("Outcome(%d).String() = %q, want %q", int(tc.o), got, tc.want)
		}
	}
}

func TestDocID(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		id   string
	}{
		{name: "gemini_style", id: "msg_2KWPBgLlAfxdpx2AI54pPJ85f4W"},
		{name: "slash", id: "/"},
		{name: "path", id: "a/b/c"},
		{name: "dot", id: "."},
		{name: "dot_dot", id: ".."},
		{name: "reserved_underscores", id: "__x__"},
		{name: "long_2000_bytes", id: strings.Repeat("a", 2000)},
		{name: "unicode", id: "webhook-ü-日本-🙂"},
		{name: "empty", id: ""},
		{name: "case_differs", id: "MSG_2KWPBGLLAFXDPX2AI54PPJ85F4W"},
	}
	seen := map[string]string{}
	for _, tc := range tests {
		got := DocID(tc.id)
		hexPart, ok := strings.CutPrefix(got, "wh_")
		switch {
		case !ok:
			t.Errorf("%s: DocID = %q, want prefix wh_", tc.name, got)
		case len(hexPart) != 64 || strings.Trim(hexPart, "0123456789abcdef") != "":
			t.Errorf("%s: DocID = %q, want wh_ and 64 lowercase hex digits", tc.name, got)
		case strings.Contains(got, "/") || strings.HasPrefix(got, "__") || len(got) > 1500:
			t.Errorf("%s: DocID = %q is not a valid Firestore document id", tc.name, got)
		}
		if again := DocID(tc.id); again != got {
			t.Errorf("%s: DocID not deterministic: %q then %q", tc.name, got, again)
		}
		if prev, dup := seen[got]; dup {
			t.Errorf("%s: DocID collides with %s: %q", tc.name, prev, got)
		}
		seen[got] = tc.name
	}
	// Known SHA-256 of the empty string, to pin the derivation: records
	// written by one release must be found by the next.
	if got, want := DocID(""), "wh_e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"; got != want {
		t.Errorf("DocID(\"\") = %q, want %q", got, want)
	}
}

func TestOptionsValidation(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		opts    Options
		wantErr bool
	}{
		{name: "zero_value_uses_defaults", opts: Options{}},
		{name: "minimum_ttl", opts: Options{TTL: MinTTL}},
		{name: "ttl_within_retry_window", opts: Options{TTL: 24 * time.Hour}, wantErr: true},
		{name: "negative_ttl", opts: Options{TTL: -time.Hour}, wantErr: true},
		{name: "negative_lease", opts: Options{Lease: -time.Second}, wantErr: true},
		{name: "lease_not_shorter_than_ttl", opts: Options{Lease: MinTTL, TTL: MinTTL}, wantErr: true},
		{name: "collection_with_slash", opts: Options{Collection: "a/b"}, wantErr: true},
		{name: "collection_dot_dot", opts: Options{Collection: ".."}, wantErr: true},
		{name: "collection_reserved", opts: Options{Collection: "__deliveries__"}, wantErr: true},
		{name: "collection_too_long", opts: Options{Collection: strings.Repeat("c", 1501)}, wantErr: true},
		{name: "custom_collection", opts: Options{Collection: "deliveries_v2"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, err := NewMemory(tc.opts)
			if gotErr := err != nil; gotErr != tc.wantErr {
				t.Fatalf("NewMemory error = %v, want error: %v", err, tc.wantErr)
			}
			if err != nil && !errors.Is(err, ErrInvalidOptions) {
				t.Errorf("error %v does not wrap ErrInvalidOptions", err)
			}
		})
	}
}

func TestOptionsDefaults(t *testing.T) {
	t.Parallel()
	got, err := Options{}.withDefaults()
	if err != nil {
		t.Fatalf("withDefaults: %v", err)
	}
	if got.Now == nil {
		t.Fatal("defaults left Now nil")
	}
	got.Now = nil // funcs are not comparable
	want := Options{Collection: "webhook_deliveries", TTL: 168 * time.Hour, Lease: 30 * time.Second}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("defaults mismatch (-want +got):\n%s", diff)
	}
}

func TestMemorySweepsExpiredRecords(t *testing.T) {
	t.Parallel()
	clk := newClock()
	m, err := NewMemory(Options{TTL: testTTL, Now: clk.Now})
	if err != nil {
		t.Fatalf("NewMemory: %v", err)
	}
	ctx := t.Context()
	c, err := m.Claim(ctx, "old")
	if err != nil {
		t.Fatalf("Claim: %v", err)
	}
	if err := m.MarkPublished(ctx, c, "m-1"); err != nil {
		t.Fatalf("MarkPublished: %v", err)
	}
	for _, step := range []struct {
		advance time.Duration
		want    Outcome
	}{
		{testTTL - time.Second, Duplicate},  // still within the TTL
		{time.Second + sweepEvery, Claimed}, // expired and swept: a new delivery
	} {
		clk.Advance(step.advance)
		got, err := m.Claim(ctx, "old")
		if err != nil {
			t.Fatalf("Claim: %v", err)
		}
		if got.Outcome != step.want {
			t.Errorf("Claim at %v = %v, want %v", clk.Now().Sub(start), got.Outcome, step.want)
		}
	}
}
