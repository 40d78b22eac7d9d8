package idempotency

import (
	"context"
	"errors"
	"testing"
	"time"
)

// faultyLedger is a Memory whose steps can be made to fail.
type faultyLedger struct {
	*Memory
	claimErr, markErr, releaseErr error
	released                      int
}

func (f *faultyLedger) Claim(ctx context.Context, key string) (Claim, error) {
	if f.claimErr != nil {
		return Claim{}, f.claimErr
	}
	return f.Memory.Claim(ctx, key)
}

func (f *faultyLedger) MarkPublished(ctx context.Context, c Claim, id string) error {
	if f.markErr != nil {
		return f.markErr
	}
	return f.Memory.MarkPublished(ctx, c, id)
}

func (f *faultyLedger) Release(ctx context.Context, c Claim) error {
	f.released++
	if f.releaseErr != nil {
		return f.releaseErr
	}
	return f.Memory.Release(ctx, c)
}

var steps = Steps{Ledger: time.Second, Publish: time.Second}

func TestOnce(t *testing.T) {
	t.Parallel()
	errDown := errors.New("down")
	tests := []struct {
		name        string
		ledger      func(*faultyLedger)
		held        bool  // another process holds the key's claim
		publishErr  error // what publish returns
		alsoErr     error
		wantOutcome Outcome
		wantErr     error // errors.Is
		wantPublish bool
		wantRelease bool
		wantMarkErr bool
		// wantNext is the outcome of a claim on the key afterwards.
		wantNext Outcome
	}{
		{name: "claimed_publishes_and_marks", wantOutcome: Claimed, wantPublish: true, wantNext: Duplicate},
		{name: "failed_publish_releases_the_claim", publishErr: errDown, wantOutcome: Claimed, wantErr: errDown,
			wantPublish: true, wantRelease: true, wantNext: Claimed},
		{name: "failed_release_is_joined", ledger: func(f *faultyLedger) { f.releaseErr = errors.New("release failed") },
			publishErr: errDown, wantOutcome: Claimed, wantErr: errDown, wantPublish: true, wantRelease: true, wantNext: InFlight},
		{name: "claim_failure_publishes_nothing", ledger: func(f *faultyLedger) { f.claimErr = errDown },
			wantErr: ErrClaimFailed, wantNext: Claimed},
		{name: "held_claim_is_in_flight", held: true, wantOutcome: InFlight, wantNext: InFlight},
		{name: "mark_failure_is_reported_not_returned", ledger: func(f *faultyLedger) { f.markErr = errDown },
			wantOutcome: Claimed, wantPublish: true, wantMarkErr: true, wantNext: InFlight},
		{name: "also_failure_is_reported", alsoErr: errDown, wantOutcome: Claimed, wantPublish: true, wantNext: Duplicate},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			mem, err := NewMemory(Options{})
			if err != nil {
				t.Fatal(err)
			}
			l := &faultyLedger{Memory: mem}
			if tc.ledger != nil {
				tc.ledger(l)
			}
			if tc.held {
				if _, err := mem.Claim(t.Context(), "job k"); err != nil {
					t.Fatal(err)
				}
			}
			published, alsoID := 0, ""
			res, err := Once(t.Context(), l, "job k", steps,
				func(context.Context) (string, error) { published++; return "m-1", tc.publishErr },
				func(_ context.Context, id string) error { alsoID = id; return tc.alsoErr })
			if tc.wantErr == nil && err != nil || tc.wantErr != nil && !errors.Is(err, tc.wantErr) {
				t.Fatalf("Once error = %v, want %v", err, tc.wantErr)
			}
			if res.Claim.Outcome != tc.wantOutcome && tc.wantErr != ErrClaimFailed {
				t.Errorf("outcome %s, want %s", res.Claim.Outcome, tc.wantOutcome)
			}
			if got := published == 1; got != tc.wantPublish || published > 1 {
				t.Errorf("published %d times, want publish %v", published, tc.wantPublish)
			}
			if got := l.released > 0; got != tc.wantRelease {
				t.Errorf("released %d times, want release %v", l.released, tc.wantRelease)
			}
			if (res.MarkErr != nil) != tc.wantMarkErr {
				t.Errorf("MarkErr = %v, want set %v", res.MarkErr, tc.wantMarkErr)
			}
			if tc.wantPublish && tc.publishErr == nil {
				if res.MessageID != "m-1" || alsoID != "m-1" {
					t.Errorf("message id %q, also given %q; want m-1 for both", res.MessageID, alsoID)
				}
				if !errors.Is(res.AlsoErr, tc.alsoErr) || (tc.alsoErr == nil) != (res.AlsoErr == nil) {
					t.Errorf("AlsoErr = %v, want %v", res.AlsoErr, tc.alsoErr)
				}
			} else if alsoID != "" {
				t.Errorf("also ran (with %q) although nothing was published", alsoID)
			}
			next, err := mem.Claim(t.Context(), "job k")
			if err != nil || next.Outcome != tc.wantNext {
				t.Errorf("next claim = %s, %v; want %s", next.Outcome, err, tc.wantNext)
			}
		})
	}
}

// TestOnce_stepsOutliveTheCaller: a caller that gave up (Gemini hung up)
// still gets its claim settled, and a publish that used up its deadline
// leaves the release a fresh one.
func TestOnce_stepsOutliveTheCaller(t *testing.T) {
	t.Parallel()
	t.Run("cancelled_caller_still_marks", func(t *testing.T) {
		t.Parallel()
		mem, _ := NewMemory(Options{})
		ctx, cancel := context.WithCancel(t.Context())
		cancel()
		res, err := Once(ctx, mem, "job c", steps, func(context.Context) (string, error) { return "m-1", nil }, nil)
		if err != nil || res.Claim.Outcome != Claimed || res.MarkErr != nil {
			t.Fatalf("Once = %+v, %v; want claimed and marked", res, err)
		}
		if next, _ := mem.Claim(t.Context(), "job c"); next.Outcome != Duplicate {
			t.Errorf("next claim %s, want duplicate", next.Outcome)
		}
	})
	t.Run("stalled_publish_is_cut_and_released", func(t *testing.T) {
		t.Parallel()
		mem, _ := NewMemory(Options{})
		short := Steps{Ledger: time.Second, Publish: 20 * time.Millisecond}
		_, err := Once(t.Context(), mem, "job s", short, func(ctx context.Context) (string, error) {
			<-ctx.Done() // Pub/Sub never answers
			return "", ctx.Err()
		}, nil)
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("Once error = %v, want the publish deadline", err)
		}
		if next, _ := mem.Claim(t.Context(), "job s"); next.Outcome != Claimed {
			t.Errorf("next claim %s, want claimed: the release had a spent context", next.Outcome)
		}
	})
}
