package tracing_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"go.opentelemetry.io/otel"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"

	"github.com/geminihooks/geminihooks/pkg/tracing"
)

// batchRecorder is an exporter that records the names of the spans of
// each batch it is given.
type batchRecorder struct {
	mu       sync.Mutex
	batches  [][]string
	shutdown int
	fail     error
}

func (r *batchRecorder) ExportSpans(_ context.Context, spans []sdktrace.ReadOnlySpan) error {
	names := make([]string, len(spans))
	for i, s := range spans {
		names[i] = s.Name()
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.batches = append(r.batches, names)
	return r.fail
}

func (r *batchRecorder) Shutdown(context.Context) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.shutdown++
	return nil
}

// sizes returns the size of each batch exported so far.
func (r *batchRecorder) sizes() []int {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]int, len(r.batches))
	for i, b := range r.batches {
		out[i] = len(b)
	}
	return out
}

func (r *batchRecorder) names() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Concat(r.batches...)
}

// endSpans ends n spans named "s0", "s1"... on tp.
func endSpans(tp *sdktrace.TracerProvider, n int) {
	for i := range n {
		_, s := tp.Tracer("test").Start(context.Background(), fmt.Sprintf("s%d", i))
		s.End()
	}
}

func newBatcher(t *testing.T, exp sdktrace.SpanExporter, opts tracing.BatchOptions, sampler sdktrace.Sampler) (*tracing.Batcher, *sdktrace.TracerProvider) {
	t.Helper()
	b, err := tracing.NewBatcher(exp, opts)
	if err != nil {
		t.Fatal(err)
	}
	// Before the test ends: its goroutine would otherwise wait on its
	// ticker for ever.
	t.Cleanup(func() { _ = b.Shutdown(context.Background()) })
	return b, sdktrace.NewTracerProvider(sdktrace.WithSampler(sampler), sdktrace.WithSpanProcessor(b))
}

func TestBatcher_exportsAFullBatchAtOnceAndTheRestOnTheInterval(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		rec := &batchRecorder{}
		_, tp := newBatcher(t, rec, tracing.BatchOptions{MaxBatch: 4, Interval: time.Second}, sdktrace.AlwaysSample())

		endSpans(tp, 3)
		synctest.Wait()
		if got := rec.sizes(); len(got) != 0 {
			t.Fatalf("exported %v before a batch was full or the interval passed", got)
		}
		endSpans(tp, 1)
		synctest.Wait() // no time passes: the full batch went at once
		if got := rec.sizes(); !slices.Equal(got, []int{4}) {
			t.Fatalf("after a full batch, exported batches of %v, want [4]", got)
		}
		endSpans(tp, 2)
		time.Sleep(time.Second)
		synctest.Wait()
		if got := rec.sizes(); !slices.Equal(got, []int{4, 2}) {
			t.Errorf("after the interval, exported batches of %v, want [4 2]", got)
		}
		if got := rec.names(); !slices.Equal(got, []string{"s0", "s1", "s2", "s0", "s0", "s1"}) {
			t.Errorf("exported %v, want every span once, in the order they ended", got)
		}
	})
}

func TestBatcher_dropsWhatTheQueueCannotHoldAndSaysSo(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var reported []error
		var mu sync.Mutex
		otel.SetErrorHandler(otel.ErrorHandlerFunc(func(err error) {
			mu.Lock()
			defer mu.Unlock()
			reported = append(reported, err)
		}))
		defer otel.SetErrorHandler(otel.ErrorHandlerFunc(func(error) {}))
		// The exporter blocks, as a slow backend does, while more spans end
		// than the queue holds.
		release := make(chan struct{})
		blocking := &blockingExporter{release: release, batchRecorder: &batchRecorder{}}
		b, tp := newBatcher(t, blocking, tracing.BatchOptions{MaxQueue: 4, MaxBatch: 2, Interval: time.Hour}, sdktrace.AlwaysSample())
		endSpans(tp, 2) // a full batch: the goroutine takes it and blocks
		synctest.Wait()
		endSpans(tp, 7) // 4 queue, 3 are dropped
		close(release)
		synctest.Wait()
		if err := b.ForceFlush(context.Background()); err != nil {
			t.Fatalf("ForceFlush: %v", err)
		}
		if got := len(blocking.names()); got != 6 {
			t.Errorf("exported %d spans, want the 2 taken and the 4 queued", got)
		}
		mu.Lock()
		defer mu.Unlock()
		if len(reported) != 1 || !errorsContain(reported[0], "dropped 3 spans") {
			t.Errorf("reported %v, want one error saying 3 spans were dropped", reported)
		}
	})
}

// blockingExporter records batches once release is closed.
type blockingExporter struct {
	*batchRecorder
	release chan struct{}
}

func (e *blockingExporter) ExportSpans(ctx context.Context, spans []sdktrace.ReadOnlySpan) error {
	<-e.release
	return e.batchRecorder.ExportSpans(ctx, spans)
}

func errorsContain(err error, s string) bool {
	return err != nil && strings.Contains(err.Error(), s)
}

func TestBatcher_shutdownFlushesOnceAndThenDrops(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		rec := &batchRecorder{}
		b, tp := newBatcher(t, rec, tracing.BatchOptions{MaxBatch: 512, Interval: time.Hour}, sdktrace.AlwaysSample())
		endSpans(tp, 3)
		if err := b.Shutdown(context.Background()); err != nil {
			t.Fatalf("Shutdown: %v", err)
		}
		if got := rec.sizes(); !slices.Equal(got, []int{3}) {
			t.Errorf("Shutdown exported batches of %v, want the 3 queued spans", got)
		}
		endSpans(tp, 2)
		if err := b.Shutdown(context.Background()); err != nil {
			t.Errorf("a second Shutdown: %v, want nil", err)
		}
		if err := b.ForceFlush(context.Background()); err != nil {
			t.Errorf("ForceFlush after Shutdown: %v", err)
		}
		if got := rec.sizes(); !slices.Equal(got, []int{3}) || rec.shutdown != 1 {
			t.Errorf("after Shutdown: batches %v and %d exporter shutdowns, want [3] and 1", got, rec.shutdown)
		}
	})
}

func TestBatcher_exportsOnlySampledSpansAndReportsExportErrors(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		rec := &batchRecorder{fail: errors.New("backend unavailable")}
		b, tp := newBatcher(t, rec, tracing.BatchOptions{}, sdktrace.NeverSample())
		endSpans(tp, 3)
		if err := b.ForceFlush(context.Background()); err != nil {
			t.Fatalf("ForceFlush with nothing sampled: %v", err)
		}
		if got := rec.sizes(); len(got) != 0 {
			t.Fatalf("exported %v of unsampled spans, want nothing", got)
		}

		sampled := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(b))
		endSpans(sampled, 1)
		if err := b.ForceFlush(context.Background()); !errorsContain(err, "backend unavailable") {
			t.Errorf("ForceFlush = %v, want the exporter's error", err)
		}
	})
}

func TestNewBatcher_needsAnExporter(t *testing.T) {
	t.Parallel()
	if _, err := tracing.NewBatcher(nil, tracing.BatchOptions{}); err == nil {
		t.Error("NewBatcher(nil) succeeded")
	}
}

// BenchmarkBatcherVsSDK ends spans from parallel goroutines on the SDK's
// batch span processor and on Batcher, both exporting to an exporter that
// only counts, and reports the share of ended spans exported (the rest
// were dropped with the queue full).
func BenchmarkBatcherVsSDK(b *testing.B) {
	otel.SetErrorHandler(otel.ErrorHandlerFunc(func(error) {})) // drops are counted below
	for _, tc := range []struct {
		name string
		proc func(sdktrace.SpanExporter) sdktrace.SpanProcessor
	}{
		{"sdk", func(e sdktrace.SpanExporter) sdktrace.SpanProcessor { return sdktrace.NewBatchSpanProcessor(e) }},
		{"batcher", func(e sdktrace.SpanExporter) sdktrace.SpanProcessor {
			p, err := tracing.NewBatcher(e, tracing.BatchOptions{})
			if err != nil {
				b.Fatal(err)
			}
			return p
		}},
	} {
		b.Run(tc.name, func(b *testing.B) {
			exp := &counter{}
			tp := sdktrace.NewTracerProvider(sdktrace.WithSampler(sdktrace.AlwaysSample()), sdktrace.WithSpanProcessor(tc.proc(exp)))
			tracer := tp.Tracer("bench")
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					_, s := tracer.Start(context.Background(), "span")
					s.End()
				}
			})
			b.StopTimer()
			_ = tp.Shutdown(context.Background())
			b.ReportMetric(float64(exp.n.Load())/float64(b.N), "exported/ended")
		})
	}
}

// counter is an exporter that counts the spans it is given.
type counter struct{ n atomic.Int64 }

func (c *counter) ExportSpans(_ context.Context, spans []sdktrace.ReadOnlySpan) error {
	c.n.Add(int64(len(spans)))
	return nil
}
func (c *counter) Shutdown(context.Context) error { return nil }
