package materializer_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"

	"github.com/geminihooks/geminihooks/internal/geminisim"
	"github.com/geminihooks/geminihooks/pkg/blob"
	"github.com/geminihooks/geminihooks/pkg/logging"
	"github.com/geminihooks/geminihooks/pkg/materializer"
	"github.com/geminihooks/geminihooks/pkg/publish"
	"github.com/geminihooks/geminihooks/pkg/tracing"
)

// BenchmarkMaterializerTracing pushes completion events of small batches
// (64 KiB of results each, so that the per-event work tracing adds to
// weighs most) to two materializers side by side, b.N events each, in
// alternating chunks, from 4 workers, on the simulator and in-memory
// storage: one without tracing ("off") and one with every event traced
// ("on": every span sampled and exported in batches to an exporter that
// discards them). Each message carries the trace context the receiver's
// publish put in it. It reports each one's events/s and on_vs_off, the
// traced throughput ÷ the untraced one, and the process's CPU time per
// event on each side. Run with a fixed count, e.g. -benchtime=2000x.
func BenchmarkMaterializerTracing(b *testing.B) {
	sim, simURL := newSim(b, geminisim.Options{})
	off, on := newMaterializerRig(b, simURL, false), newMaterializerRig(b, simURL, true)
	offB, onB := pushBodies(b, sim, b.N), pushBodies(b, sim, b.N)
	var offT, onT, offCPU, onCPU time.Duration
	run := func(h http.Handler, bodies [][]byte, wall, cpu *time.Duration) {
		c0, t0 := processCPU(b), time.Now()
		pushAll(b, h, bodies)
		*wall += time.Since(t0)
		*cpu += processCPU(b) - c0
	}
	// Short turns (a few milliseconds each), so that a stall of the
	// machine lands on both sides rather than on one.
	const chunks = 200
	chunk := max(1, b.N/chunks)
	b.ResetTimer()
	for i := 0; i < b.N; i += chunk {
		j := min(b.N, i+chunk)
		if (i/chunk)%2 == 0 {
			run(off, offB[i:j], &offT, &offCPU)
			run(on, onB[i:j], &onT, &onCPU)
		} else {
			run(on, onB[i:j], &onT, &onCPU)
			run(off, offB[i:j], &offT, &offCPU)
		}
	}
	b.StopTimer()
	b.ReportMetric(float64(b.N)/offT.Seconds(), "off_events/s")
	b.ReportMetric(float64(b.N)/onT.Seconds(), "on_events/s")
	b.ReportMetric(offT.Seconds()/onT.Seconds(), "on_vs_off")
	b.ReportMetric(float64(offCPU.Microseconds())/float64(b.N), "off_cpu_us/event")
	b.ReportMetric(float64(onCPU.Microseconds())/float64(b.N), "on_cpu_us/event")
}

// discardSpans is a span exporter that drops every span.
type discardSpans struct{}

func (discardSpans) ExportSpans(context.Context, []sdktrace.ReadOnlySpan) error { return nil }
func (discardSpans) Shutdown(context.Context) error                             { return nil }

// newMaterializerRig returns a materializer's push handler on the
// simulator at simURL, in-memory storage and publisher, traced or not.
func newMaterializerRig(b *testing.B, simURL string, traced bool) http.Handler {
	b.Helper()
	m, err := materializer.New(newClient(b, simURL, 0), blob.NewMemory(), &publish.Memory{}, memJobs(b),
		logging.New(io.Discard, slog.LevelInfo), materializer.Options{Bucket: testBucket})
	if err != nil {
		b.Fatal(err)
	}
	opts := materializer.HandlerOptions{ProjectID: "bench"}
	if traced {
		// Batched as deployed (tracing.NewProvider).
		tp, err := tracing.NewBatchedProvider(discardSpans{}, tracing.BatchOptions{}, sdktrace.WithSampler(sdktrace.AlwaysSample()))
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { _ = tp.Shutdown(context.Background()) })
		opts.Tracer = tp
	}
	h, err := materializer.NewHandler(m, logging.New(io.Discard, slog.LevelInfo), opts)
	if err != nil {
		b.Fatal(err)
	}
	return h
}

// pushBodies finishes n batches in the simulator and returns the push
// requests of their completion events, outside the timer.
func pushBodies(b *testing.B, sim *geminisim.Server, n int) [][]byte {
	b.Helper()
	bodies := make([][]byte, n)
	for i := range bodies {
		j := finishedBatch(b, sim, geminisim.BatchSpec{Results: geminisim.ResultsFile{Size: 64 << 10, Seed: uint64(i)}})
		data := eventJSON(b, completionEvent(b, j.n, newWebhookID()))
		var err error
		bodies[i], err = json.Marshal(map[string]any{
			"message": map[string]any{
				"data":       base64.StdEncoding.EncodeToString(data),
				"attributes": map[string]string{"googclient_traceparent": "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"},
				"messageId":  "1",
			},
			"subscription": testSubscription,
		})
		if err != nil {
			b.Fatal(err)
		}
	}
	return bodies
}

// pushAll pushes bodies to h from 4 workers, failing the benchmark on any
// answer but 200.
func pushAll(b *testing.B, h http.Handler, bodies [][]byte) {
	const workers = 4
	var next, failures atomic.Int64
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for {
				i := int(next.Add(1)) - 1
				if i >= len(bodies) {
					return
				}
				w := httptest.NewRecorder()
				r := httptest.NewRequest(http.MethodPost, "/", bytes.NewReader(bodies[i]))
				r.Header.Set("Content-Type", "application/json")
				h.ServeHTTP(w, r)
				if w.Code != http.StatusOK {
					failures.Add(1)
				}
			}
		})
	}
	wg.Wait()
	if n := failures.Load(); n > 0 {
		b.Fatalf("%d of %d events failed", n, len(bodies))
	}
}
