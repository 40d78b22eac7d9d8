package tracing

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"go.opentelemetry.io/otel"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
)

// BatchOptions configure a Batcher. Zero fields take the defaults of the
// SDK's batch span processor, which OpenTelemetry's OTEL_BSP_* variables
// name (see Config).
type BatchOptions struct {
	// MaxQueue is how many ended spans wait for export at most; further
	// spans are dropped and counted. Default 2048.
	MaxQueue int
	// MaxBatch is how many spans go to the exporter at once, and how many
	// queued spans wake the exporting goroutine before Interval. Default 512.
	MaxBatch int
	// Interval is the longest a span waits for export. Default 5s.
	Interval time.Duration
	// ExportTimeout bounds each call to the exporter. Default 30s.
	ExportTimeout time.Duration
}

func (o BatchOptions) withDefaults() BatchOptions {
	if o.MaxQueue <= 0 {
		o.MaxQueue = 2048
	}
	if o.MaxBatch <= 0 {
		o.MaxBatch = 512
	}
	o.MaxBatch = min(o.MaxBatch, o.MaxQueue)
	if o.Interval <= 0 {
		o.Interval = 5 * time.Second
	}
	if o.ExportTimeout <= 0 {
		o.ExportTimeout = 30 * time.Second
	}
	return o
}

// Batcher is a span processor that exports sampled spans in batches, from
// a goroutine of its own, as the SDK's batch span processor does, and hands
// that goroutine a batch at a time. The SDK's processor passes every ended
// span through a channel to its goroutine: a wake-up per span, which cost
// a few microseconds each on a two-CPU instance whose CPUs are often idle
// between I/O (open-telemetry/opentelemetry-go#1178). Batcher's OnEnd
// appends the span to a slice under a lock and wakes the goroutine only
// when a batch is full; a timer sends the rest every Interval.
type Batcher struct {
	exporter sdktrace.SpanExporter
	opts     BatchOptions

	mu      sync.Mutex
	queue   []sdktrace.ReadOnlySpan
	dropped int // since the last export
	stopped bool

	// full has room for one signal: a batch is waiting.
	full chan struct{}
	stop chan struct{}
	done chan struct{}
	// exporting serializes calls to the exporter, which need not be safe
	// for concurrent use.
	exporting sync.Mutex
	shutdown  sync.Once
}

var _ sdktrace.SpanProcessor = (*Batcher)(nil)

// NewBatcher returns a Batcher exporting to exporter and starts its
// goroutine, which Shutdown stops.
func NewBatcher(exporter sdktrace.SpanExporter, opts BatchOptions) (*Batcher, error) {
	if exporter == nil {
		return nil, errors.New("tracing: NewBatcher needs an exporter")
	}
	b := &Batcher{exporter: exporter, opts: opts.withDefaults(),
		full: make(chan struct{}, 1), stop: make(chan struct{}), done: make(chan struct{})}
	go b.run()
	return b, nil
}

// OnStart implements sdktrace.SpanProcessor; it does nothing.
func (b *Batcher) OnStart(context.Context, sdktrace.ReadWriteSpan) {}

// OnEnd queues s for export if it is sampled. It never blocks on the
// exporter: a span that finds the queue full is dropped.
func (b *Batcher) OnEnd(s sdktrace.ReadOnlySpan) {
	if !s.SpanContext().IsSampled() {
		return
	}
	b.mu.Lock()
	switch {
	case b.stopped:
	case len(b.queue) >= b.opts.MaxQueue:
		b.dropped++
	default:
		b.queue = append(b.queue, s)
		if len(b.queue) == b.opts.MaxBatch {
			select {
			case b.full <- struct{}{}:
			default: // already signalled
			}
		}
	}
	b.mu.Unlock()
}

// run exports a batch whenever one is full and everything queued every
// Interval, until Shutdown.
func (b *Batcher) run() {
	defer close(b.done)
	t := time.NewTicker(b.opts.Interval)
	defer t.Stop()
	for {
		select {
		case <-b.stop:
			return
		case <-b.full:
		case <-t.C:
		}
		if err := b.export(context.Background()); err != nil {
			otel.Handle(err)
		}
	}
}

// export sends every queued span to the exporter, MaxBatch at a time, and
// reports spans dropped since the last export.
func (b *Batcher) export(ctx context.Context) error {
	b.exporting.Lock()
	defer b.exporting.Unlock()
	b.mu.Lock()
	spans, dropped := b.queue, b.dropped
	// A new slice rather than queue[:0]: the exporter may keep the batch
	// it was given until it returns, and OnEnd appends meanwhile.
	b.queue, b.dropped = make([]sdktrace.ReadOnlySpan, 0, min(len(spans), b.opts.MaxQueue)), 0
	b.mu.Unlock()
	var errs []error
	if dropped > 0 {
		errs = append(errs, fmt.Errorf("tracing: dropped %d spans: more than %d waited for export", dropped, b.opts.MaxQueue))
	}
	for len(spans) > 0 {
		n := min(len(spans), b.opts.MaxBatch)
		if err := b.exportBatch(ctx, spans[:n]); err != nil {
			errs = append(errs, err)
		}
		spans = spans[n:]
	}
	return errors.Join(errs...)
}

func (b *Batcher) exportBatch(ctx context.Context, spans []sdktrace.ReadOnlySpan) error {
	ctx, cancel := context.WithTimeout(ctx, b.opts.ExportTimeout)
	defer cancel()
	if err := b.exporter.ExportSpans(ctx, spans); err != nil {
		return fmt.Errorf("tracing: failed to export %d spans: %w", len(spans), err)
	}
	return nil
}

// ForceFlush exports every span queued so far.
func (b *Batcher) ForceFlush(ctx context.Context) error {
	return b.export(ctx)
}

// Shutdown stops the goroutine, exports what is queued and shuts the
// exporter down; spans ending afterwards are dropped. Calls after the
// first return nil.
func (b *Batcher) Shutdown(ctx context.Context) error {
	err := error(nil)
	b.shutdown.Do(func() {
		b.mu.Lock()
		b.stopped = true
		b.mu.Unlock()
		close(b.stop)
		<-b.done
		err = errors.Join(b.export(ctx), b.exporter.Shutdown(ctx))
	})
	return err
}
