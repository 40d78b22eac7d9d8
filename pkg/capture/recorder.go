package capture

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/geminihooks/geminihooks/pkg/blob"
)

// DefaultTimeout bounds one Capture call, which the delivery waits for.
const DefaultTimeout = 2 * time.Second

// maxFailures is how many captures in a row may fail before an instance
// stops trying: a store that refuses (a missing grant) would otherwise cost
// every delivery a failed request.
const maxFailures = 3

// Store is where captures go: a write-once store such as [blob.GCS].
type Store interface {
	Create(ctx context.Context, name, contentType string, r io.Reader) (blob.Object, error)
	Stat(ctx context.Context, name string) (blob.Object, error)
}

var (
	_ Store = (*blob.GCS)(nil)
	_ Store = (*blob.Dir)(nil)
	_ Store = (*blob.Memory)(nil)
)

// Options configures a Recorder.
type Options struct {
	// Limit is the number of slots, 1 to MaxLimit.
	Limit int
	// Prefix is the folder of the slots (default Prefix).
	Prefix string
	// Timeout bounds one Capture (default DefaultTimeout).
	Timeout time.Duration
	// Logger receives the recorder's few log lines.
	Logger *slog.Logger
	// Now is the clock (default time.Now).
	Now func() time.Time
}

// Recorder writes the first Limit deliveries it is given, fleet-wide, to a
// Store. It is safe for concurrent use; captures run in parallel, each in
// its own slot.
type Recorder struct {
	store Store
	opts  Options

	off atomic.Bool // every slot is taken, or capturing failed for good

	mu       sync.Mutex
	probed   bool  // the last slot was seen free, so capturing is not over
	next     int   // the next slot never tried by this instance
	free     []int // slots whose write failed, to try again
	inflight int
	failures int // in a row
	warned   bool
}

// NewRecorder returns a Recorder writing to store.
func NewRecorder(store Store, opts Options) (*Recorder, error) {
	switch {
	case store == nil:
		return nil, errors.New("capture: missing store")
	case opts.Logger == nil:
		return nil, errors.New("capture: missing logger")
	case opts.Limit < 1 || opts.Limit > MaxLimit:
		return nil, fmt.Errorf("capture: limit must be 1 to %d, got %d", MaxLimit, opts.Limit)
	}
	if opts.Prefix == "" {
		opts.Prefix = Prefix
	}
	if opts.Timeout <= 0 {
		opts.Timeout = DefaultTimeout
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	return &Recorder{store: store, opts: opts, next: 1}, nil
}

// Done reports whether the recorder has stopped: every slot is taken, or the
// store failed too often.
func (r *Recorder) Done() bool { return r.off.Load() }

// Capture stores d in the next free slot, unless all are taken. It never
// fails: the delivery's answer does not depend on it. Problems are logged,
// the first one and the decision to stop, not one per delivery.
func (r *Recorder) Capture(ctx context.Context, d Delivery) {
	if r.off.Load() {
		return
	}
	// The capture must finish even when the sender hangs up, and must not
	// hold the answer up for long.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), r.opts.Timeout)
	defer cancel()

	var data []byte
	for {
		slot, ok, err := r.take(ctx)
		if err != nil {
			r.failed(ctx, 0, err)
			return
		}
		if !ok {
			return
		}
		if data == nil {
			if data, err = encode(NewRecord(r.opts.Now(), d)); err != nil {
				r.failed(ctx, slot, err)
				return
			}
		}
		name := SlotName(r.opts.Prefix, slot)
		obj, err := r.store.Create(ctx, name, "application/json", bytes.NewReader(data))
		if err != nil {
			r.failed(ctx, slot, err)
			return
		}
		r.release()
		if obj.Created {
			r.opts.Logger.InfoContext(ctx, "delivery captured", slog.String("object", name), slog.Int("limit", r.opts.Limit))
			return
		}
		// Another instance took this slot: try the next one.
	}
}

// take reserves a slot. It returns false when none is left. On its first
// call it looks at the last slot, so that an instance started after the
// captures are complete stops at once instead of walking every slot.
func (r *Recorder) take(ctx context.Context) (int, bool, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.off.Load() {
		return 0, false, nil
	}
	if !r.probed {
		_, err := r.store.Stat(ctx, SlotName(r.opts.Prefix, r.opts.Limit))
		switch {
		case err == nil:
			r.off.Store(true)
			r.opts.Logger.DebugContext(ctx, "captures are complete", slog.Int("limit", r.opts.Limit))
			return 0, false, nil
		case !errors.Is(err, blob.ErrNotExist):
			return 0, false, err
		}
		r.probed = true
	}
	var slot int
	switch {
	case len(r.free) > 0:
		slot, r.free = r.free[len(r.free)-1], r.free[:len(r.free)-1]
	case r.next <= r.opts.Limit:
		slot = r.next
		r.next++
	default:
		if r.inflight == 0 {
			r.off.Store(true)
			r.opts.Logger.InfoContext(ctx, "captures are complete; no more deliveries will be captured", slog.Int("limit", r.opts.Limit))
		}
		return 0, false, nil
	}
	r.inflight++
	return slot, true, nil
}

// release ends a successful write (or the discovery that the slot was taken).
func (r *Recorder) release() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.inflight--
	r.failures = 0
}

// failed records a failure; slot, when not 0, goes back to be tried again.
func (r *Recorder) failed(ctx context.Context, slot int, err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if slot != 0 {
		r.inflight--
		r.free = append(r.free, slot)
	}
	r.failures++
	if !r.warned {
		r.warned = true
		r.opts.Logger.WarnContext(ctx, "a delivery could not be captured; later failures are not logged",
			slog.String("error", err.Error()))
	}
	if r.failures >= maxFailures && !r.off.Load() {
		r.off.Store(true)
		r.opts.Logger.WarnContext(ctx, "capturing stopped on this instance after repeated failures",
			slog.Int("failures", r.failures), slog.String("error", err.Error()))
	}
}

// encode marshals rec leaving <, > and & alone, so that the body is kept as
// sent.
func encode(rec Record) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(rec); err != nil {
		return nil, fmt.Errorf("capture: failed to encode the record: %w", err)
	}
	return buf.Bytes(), nil
}
