package receiver

import (
	"context"
	"net/http"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/geminihooks/geminihooks/pkg/idempotency"
	"github.com/geminihooks/geminihooks/pkg/publish"
)

// stallingLedger wraps a ledger; the steps named in stall block until their
// context ends, as calls to an unreachable Firestore do. It records whether
// each step started with a live context that carried a deadline.
type stallingLedger struct {
	Ledger
	stall map[string]bool
	mu    sync.Mutex
	calls map[string][]stepCall
}

type stepCall struct {
	live     bool          // ctx not yet done when the step began
	deadline time.Duration // time left to its deadline (0: none)
}

func (l *stallingLedger) step(ctx context.Context, name string) error {
	c := stepCall{live: ctx.Err() == nil}
	if d, ok := ctx.Deadline(); ok {
		c.deadline = time.Until(d)
	}
	l.mu.Lock()
	if l.calls == nil {
		l.calls = map[string][]stepCall{}
	}
	l.calls[name] = append(l.calls[name], c)
	l.mu.Unlock()
	if l.stall[name] {
		<-ctx.Done()
		return ctx.Err()
	}
	return nil
}

func (l *stallingLedger) Claim(ctx context.Context, id string) (idempotency.Claim, error) {
	if err := l.step(ctx, "claim"); err != nil {
		return idempotency.Claim{}, err
	}
	return l.Ledger.Claim(ctx, id)
}

func (l *stallingLedger) MarkPublished(ctx context.Context, c idempotency.Claim, msgID string) error {
	if err := l.step(ctx, "mark"); err != nil {
		return err
	}
	return l.Ledger.MarkPublished(ctx, c, msgID)
}

func (l *stallingLedger) Release(ctx context.Context, c idempotency.Claim) error {
	if err := l.step(ctx, "release"); err != nil {
		return err
	}
	return l.Ledger.Release(ctx, c)
}

func (l *stallingLedger) calledWith(name string) []stepCall {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.calls[name]
}

// stallingPublisher blocks every publish until its context ends while
// stalled is set, as a publish to an unreachable Pub/Sub does.
type stallingPublisher struct {
	*publish.Memory
	mu      sync.Mutex
	stalled bool
}

func (p *stallingPublisher) setStalled(v bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.stalled = v
}

func (p *stallingPublisher) Publish(ctx context.Context, m publish.Message) (string, error) {
	p.mu.Lock()
	stalled := p.stalled
	p.mu.Unlock()
	if stalled {
		<-ctx.Done()
		return "", ctx.Err()
	}
	return p.Memory.Publish(ctx, m)
}

// TestReceiver_stepDeadlines checks that every ledger and publish step has
// its own deadline: a stalled step is answered within its bound, and the
// step after it never inherits a spent context.
func TestReceiver_stepDeadlines(t *testing.T) {
	t.Parallel()
	const ledgerTimeout, publishTimeout = 2 * time.Second, 5 * time.Second
	cases := []struct {
		name         string
		stallLedger  map[string]bool
		stallPublish bool
		hangUp       bool // the sender's request context ends as the delivery starts
		wantStatus   int
		wantCode     string // error code, or the status field on 200
		wantElapsed  time.Duration
		wantMessages int
		wantRelease  bool
	}{
		{name: "firestore_stalled_on_claim", stallLedger: map[string]bool{"claim": true},
			wantStatus: 503, wantCode: "idempotency_unavailable", wantElapsed: ledgerTimeout},
		{name: "pubsub_stalled_releases_with_fresh_deadline", stallPublish: true,
			wantStatus: 503, wantCode: "publish_failed", wantElapsed: publishTimeout, wantRelease: true},
		{name: "pubsub_and_firestore_stalled", stallPublish: true, stallLedger: map[string]bool{"release": true},
			wantStatus: 503, wantCode: "publish_failed", wantElapsed: publishTimeout + ledgerTimeout, wantRelease: true},
		{name: "firestore_stalled_on_mark", stallLedger: map[string]bool{"mark": true},
			wantStatus: 200, wantCode: StatusAccepted, wantElapsed: ledgerTimeout, wantMessages: 1},
		{name: "sender_hangs_up_during_stalled_publish", stallPublish: true, hangUp: true,
			wantStatus: 503, wantCode: "publish_failed", wantElapsed: publishTimeout, wantRelease: true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			synctest.Test(t, func(t *testing.T) {
				ledger := &stallingLedger{stall: tc.stallLedger}
				pub := &stallingPublisher{Memory: &publish.Memory{}, stalled: tc.stallPublish}
				h := newHarness(t, harnessOptions{ledger: ledger, pub: pub, ledgerTimeout: ledgerTimeout, publishTimeout: publishTimeout})
				ledger.Ledger = h.mem
				req := h.hmacRequest("msg_stall", h.clock.Now(), body("batch.succeeded", "batches/stall"), 0)
				if tc.hangUp {
					ctx, cancel := context.WithCancel(req.Context())
					cancel()
					req = req.WithContext(ctx)
				}

				start := time.Now()
				res := h.do(req)
				elapsed := time.Since(start)

				code := res.errCode()
				if res.Status == 200 {
					code, _ = res.Body["status"].(string)
				}
				if res.Status != tc.wantStatus || code != tc.wantCode {
					t.Fatalf("got %d %s; want %d %s", res.Status, res.Raw, tc.wantStatus, tc.wantCode)
				}
				if res.Status == 503 && res.Header.Get("Retry-After") == "" {
					t.Error("503 without Retry-After")
				}
				if elapsed != tc.wantElapsed {
					t.Errorf("answered after %s; want %s", elapsed, tc.wantElapsed)
				}
				if n := len(pub.Messages()); n != tc.wantMessages {
					t.Errorf("published %d messages; want %d", n, tc.wantMessages)
				}
				for _, step := range []string{"claim", "release", "mark"} {
					for _, c := range ledger.calledWith(step) {
						if !c.live || c.deadline <= 0 || c.deadline > ledgerTimeout {
							t.Errorf("%s began with a live context: %t, %s to its deadline; want live, at most %s", step, c.live, c.deadline, ledgerTimeout)
						}
					}
				}
				if got := len(ledger.calledWith("release")) == 1; got != tc.wantRelease {
					t.Errorf("released: %t; want %t", got, tc.wantRelease)
				}
				if !tc.wantRelease || tc.stallLedger["release"] {
					return
				}
				// The claim was released: once Pub/Sub is back, the retry
				// publishes without waiting for the lease.
				pub.setStalled(false)
				start = time.Now()
				retry := h.do(h.hmacRequest("msg_stall", h.clock.Now(), body("batch.succeeded", "batches/stall"), 0))
				if retry.Status != http.StatusOK || retry.Body["status"] != StatusAccepted || time.Since(start) != 0 {
					t.Fatalf("retry after recovery: %d %s after %s; want accepted at once", retry.Status, retry.Raw, time.Since(start))
				}
				if n := len(pub.Messages()); n != 1 {
					t.Errorf("published %d messages after the retry; want 1", n)
				}
			})
		})
	}
}
