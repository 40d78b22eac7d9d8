// Package refresh coordinates the reloads of a cached value: concurrent
// callers share one reload, no reload starts sooner than a minimum interval
// after the previous one, and the reload runs on its own goroutine so that
// no single caller's cancellation can end it for the others.
//
// A Gate keeps only that bookkeeping. Its owner keeps the value, the error
// of the last reload and what to serve when a reload fails, and guards the
// Gate with the same mutex as the value: every method must be called with
// that mutex held.
package refresh

import (
	"context"
	"time"
)

// Gate decides when a reload starts and lets callers wait for it. The zero
// value is ready to use and does not rate limit.
type Gate struct {
	// MinInterval is the minimum time between the starts of two reloads.
	// Zero (or less) disables rate limiting.
	MinInterval time.Duration

	lastAttempt time.Time     // start of the last reload; zero if none
	inflight    chan struct{} // closed when the running reload ends; nil if none
}

// StartLocked returns a channel closed when a reload ends: the running one,
// or else a new one if the last started at least MinInterval before now. It
// returns nil when no reload may start. The owner's mutex must be held.
//
// A new reload runs reload on its own goroutine with ctx detached from its
// cancellation, since other callers may come to wait for it. reload must
// call FinishLocked, with the owner's mutex held, in the critical section
// that stores its result. The channel is closed only when reload returns, so
// waiters also see whatever reload does after storing, such as reporting an
// error.
func (g *Gate) StartLocked(ctx context.Context, now time.Time, reload func(ctx context.Context)) <-chan struct{} {
	if g.inflight != nil {
		return g.inflight
	}
	if !g.lastAttempt.IsZero() && now.Sub(g.lastAttempt) < g.MinInterval {
		return nil
	}
	g.lastAttempt = now
	done := make(chan struct{})
	g.inflight = done
	rctx := context.WithoutCancel(ctx)
	go func() {
		defer close(done)
		reload(rctx)
	}()
	return done
}

// FinishLocked marks the running reload as finished: callers of StartLocked
// no longer join it and may start the next one, rate limit permitting. The
// owner's mutex must be held.
func (g *Gate) FinishLocked() {
	g.inflight = nil
}
