package reconciler_test

import (
	"fmt"
	"testing"

	"github.com/geminihooks/geminihooks/internal/geminisim"
	"github.com/geminihooks/geminihooks/pkg/event"
	"github.com/geminihooks/geminihooks/pkg/reconciler"
)

// BenchmarkReconcilePass runs passes over 1,000 finished batches (the
// listing) and 100 registered jobs overdue and still running, which must
// each be polled: interactions and video operations, which cannot be
// listed, so the worst case. It reports the Gemini API calls of a pass
// (api_calls; the goal is at most pending + ceil(listed / page size), here
// 110, plus the one webhook listing) and the calls the simulator counted
// (sim_requests), which must agree.
func BenchmarkReconcilePass(b *testing.B) {
	const listed, pending = 1000, 100
	e := newEnv(b, envOptions{opts: reconciler.Options{MaxCalls: 500}})
	for i := range listed {
		e.batch(fmt.Sprintf("b%04d", i), geminisim.BatchSucceeded)
	}
	for i := range pending {
		if i%2 == 0 {
			e.register(event.KindInteraction, "interactions/"+e.interaction(), t0, nil)
			continue
		}
		name, err := e.sim.CreateVideo(geminisim.VideoSpec{})
		e.check(err)
		e.register(event.KindVideo, name, t0, nil)
	}
	var s reconciler.Summary
	var requests int64
	b.ResetTimer()
	for range b.N {
		// Past every job's next poll, so all 100 are overdue again.
		e.clock.Set(e.clock.Now().Add(reconciler.DefaultRecheckMax + reconciler.DefaultGrace))
		before := e.sim.Requests(geminisim.AnyRoute)
		s = e.pass()
		requests = e.sim.Requests(geminisim.AnyRoute) - before
		if s.Listed != listed || s.Checked != pending || s.StoppedEarly {
			b.Fatalf("pass %+v; want %d listed, %d checked, not stopped", s, listed, pending)
		}
	}
	b.StopTimer()
	b.ReportMetric(float64(s.APICalls), "api_calls")
	b.ReportMetric(float64(requests), "sim_requests")
	b.ReportMetric(float64(pending+(listed+reconciler.DefaultPageSize-1)/reconciler.DefaultPageSize), "goal_calls")
}
