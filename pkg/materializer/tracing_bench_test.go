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
)

// BenchmarkMaterializerTracing pushes completion events of small batches
// (64 KiB of results each, so that the per-event work tracing adds to
// weighs most) to the materializer's handler, from 4 workers, on the
// simulator and in-memory storage, without tracing ("off") and with every
// event traced ("on": every span sampled and exported in batches to an
// exporter that discards them). Each message carries the trace context the
// receiver's publish put in it. It reports events/s; scripts/bench.sh
// divides the two. Run with a fixed count, e.g. -benchtime=300x.
func BenchmarkMaterializerTracing(b *testing.B) {
	b.Run("off", func(b *testing.B) { benchMaterializerTracing(b, false) })
	b.Run("on", func(b *testing.B) { benchMaterializerTracing(b, true) })
}

// discardSpans is a span exporter that drops every span.
type discardSpans struct{}

func (discardSpans) ExportSpans(context.Context, []sdktrace.ReadOnlySpan) error { return nil }
func (discardSpans) Shutdown(context.Context) error                             { return nil }

func benchMaterializerTracing(b *testing.B, traced bool) {
	const workers = 4
	sim, simURL := newSim(b, geminisim.Options{})
	m, err := materializer.New(newClient(b, simURL, 0), blob.NewMemory(), &publish.Memory{}, memJobs(b),
		logging.New(io.Discard, slog.LevelInfo), materializer.Options{Bucket: testBucket})
	if err != nil {
		b.Fatal(err)
	}
	opts := materializer.HandlerOptions{ProjectID: "bench"}
	if traced {
		tp := sdktrace.NewTracerProvider(sdktrace.WithSampler(sdktrace.AlwaysSample()), sdktrace.WithBatcher(discardSpans{}))
		b.Cleanup(func() { _ = tp.Shutdown(context.Background()) })
		opts.Tracer = tp
	}
	h, err := materializer.NewHandler(m, logging.New(io.Discard, slog.LevelInfo), opts)
	if err != nil {
		b.Fatal(err)
	}

	// The jobs and their push bodies, outside the timer.
	bodies := make([][]byte, b.N)
	for i := range bodies {
		j := finishedBatch(b, sim, geminisim.BatchSpec{Results: geminisim.ResultsFile{Size: 64 << 10, Seed: uint64(i)}})
		data := eventJSON(b, completionEvent(b, j.n, newWebhookID()))
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
	var next, failures atomic.Int64
	var wg sync.WaitGroup
	b.ResetTimer()
	start := time.Now()
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
	elapsed := time.Since(start)
	b.StopTimer()
	if n := failures.Load(); n > 0 {
		b.Fatalf("%d of %d events failed", n, b.N)
	}
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "events/s")
}
