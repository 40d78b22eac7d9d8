package refresh_test

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/geminihooks/geminihooks/pkg/refresh"
)

var t0 = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

// owner uses a Gate the way a cache does: behind its own mutex.
type owner struct {
	mu   sync.Mutex
	gate refresh.Gate
}

func (o *owner) start(ctx context.Context, now time.Time, reload func(context.Context)) <-chan struct{} {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.gate.StartLocked(ctx, now, reload)
}

// finished is what a reload does where it stores its result.
func (o *owner) finished() {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.gate.FinishLocked()
}

type outcome int

const (
	started outcome = iota // a new reload: a new channel
	joined                 // the running reload's channel
	limited                // nil: no reload may start
)

func (o outcome) String() string { return [...]string{"started", "joined", "limited"}[o] }

func TestStartLocked(t *testing.T) {
	const interval = 30 * time.Second
	type call struct {
		at     time.Duration // since t0
		finish bool          // the running reload ends before this call
		want   outcome
	}
	tests := []struct {
		name        string
		minInterval time.Duration
		calls       []call
	}{
		{
			name:        "first_call_starts_whatever_the_interval",
			minInterval: time.Hour,
			calls:       []call{{at: 0, want: started}},
		},
		{
			name:        "concurrent_callers_join_the_running_reload",
			minInterval: interval,
			calls: []call{
				{at: 0, want: started},
				{at: time.Second, want: joined},
				{at: 2 * interval, want: joined}, // joining is not rate limited
			},
		},
		{
			name:        "within_the_interval_no_reload_starts",
			minInterval: interval,
			calls: []call{
				{at: 0, want: started},
				{at: interval - time.Nanosecond, finish: true, want: limited},
			},
		},
		{
			name:        "once_the_interval_has_passed_a_new_reload_starts",
			minInterval: interval,
			calls: []call{
				{at: 0, want: started},
				{at: interval - time.Nanosecond, finish: true, want: limited},
				{at: interval, want: started}, // counted from the last start, not the refused call
				{at: interval, want: joined},
			},
		},
		{
			name:        "zero_interval_does_not_rate_limit",
			minInterval: 0,
			calls: []call{
				{at: 0, want: started},
				{at: 0, finish: true, want: started},
				{at: 0, finish: true, want: started},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := &owner{gate: refresh.Gate{MinInterval: tt.minInterval}}
			var reloads atomic.Int32
			release := make(chan struct{}) // closed to let the running reload end
			var running <-chan struct{}
			finish := func() {
				close(release)
				release = make(chan struct{})
				select {
				case <-running:
				case <-time.After(5 * time.Second):
					t.Fatal("reload did not end")
				}
				running = nil
			}
			wantReloads := int32(0)
			for i, c := range tt.calls {
				if c.finish {
					finish()
				}
				r := release
				done := o.start(t.Context(), t0.Add(c.at), func(context.Context) {
					reloads.Add(1)
					<-r
					o.finished()
				})
				var got outcome
				switch done {
				case nil:
					got = limited
				case running:
					got = joined
				default:
					got = started
					running = done
					wantReloads++
				}
				if got != c.want {
					t.Fatalf("call %d at %s: %s, want %s", i, c.at, got, c.want)
				}
			}
			if running != nil {
				finish()
			}
			if n := reloads.Load(); n != wantReloads {
				t.Errorf("%d reloads ran, want %d", n, wantReloads)
			}
		})
	}
}

// The reload outlives the caller that started it, since others may be
// waiting for it, but keeps the caller's context values (such as trace ids).
func TestStartLockedDetachesContext(t *testing.T) {
	type key struct{}
	ctx, cancel := context.WithCancel(context.WithValue(t.Context(), key{}, "v"))
	var o owner
	cancelled := make(chan struct{})
	var gotErr error
	var gotValue any
	done := o.start(ctx, t0, func(ctx context.Context) {
		<-cancelled
		gotErr, gotValue = ctx.Err(), ctx.Value(key{})
		o.finished()
	})
	cancel()
	close(cancelled)
	<-done
	if gotErr != nil {
		t.Errorf("reload context error = %v, want nil after the caller's context was cancelled", gotErr)
	}
	if gotValue != "v" {
		t.Errorf("reload context value = %v, want %q", gotValue, "v")
	}
}

// Waiters are released when the reload returns, not when it marks itself
// finished, so they also see what it does afterwards (such as reporting an
// error); later callers no longer join it, though.
func TestStartLockedReleasesWaitersWhenReloadReturns(t *testing.T) {
	var o owner
	finished := make(chan struct{})
	returns := make(chan struct{})
	first := o.start(t.Context(), t0, func(context.Context) {
		o.finished()
		close(finished)
		<-returns
	})

	<-finished
	select {
	case <-first:
		t.Fatal("waiters released before the reload returned")
	default:
	}
	second := o.start(t.Context(), t0, func(context.Context) { o.finished() })
	if second == nil || second == first {
		t.Fatalf("a call after FinishLocked got %v, want a new reload (first is %v)", second, first)
	}
	<-second

	close(returns)
	<-first
}
