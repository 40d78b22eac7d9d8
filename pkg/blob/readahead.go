package blob

import (
	"context"
	"errors"
	"fmt"
	"io"
)

// errReadAheadStopped ends a read that the consumer no longer wants.
var errReadAheadStopped = errors.New("read-ahead stopped")

// readAhead reads a source on a goroutine of its own into a few fixed-size
// blocks, so that the next bytes of a download arrive while the storage
// writer is busy sending a chunk instead of the two taking turns.
//
// Blocks are allocated as needed, up to a fixed number, and recycled: the
// memory is bounded by the number of blocks times their size whatever the
// source's length. The consumer takes blocks with next, hands each back with
// release, and finally calls close, which stops the goroutine and waits for
// it, so that the source is no longer used once close returns.
type readAhead struct {
	// ready holds filled blocks in order. It has room for every block, so
	// the goroutine never waits to hand one over.
	ready chan block
	// free holds the buffers the consumer is done with; it has room for
	// every block too.
	free chan []byte
	stop chan struct{} // closed by close
	done chan struct{} // closed when the goroutine returns
}

// block is a run of the source's bytes. err is set on the last block only:
// io.EOF at the end of the source, otherwise why reading stopped, wrapped
// for the caller of Create.
type block struct {
	data []byte
	err  error
}

// startReadAhead starts reading src into at most blocks buffers of
// blockSize bytes each.
func startReadAhead(ctx context.Context, src io.Reader, blocks, blockSize int) *readAhead {
	ra := &readAhead{
		ready: make(chan block, blocks),
		free:  make(chan []byte, blocks),
		stop:  make(chan struct{}),
		done:  make(chan struct{}),
	}
	go ra.run(ctx, src, blocks, blockSize)
	return ra
}

func (ra *readAhead) run(ctx context.Context, src io.Reader, blocks, blockSize int) {
	defer close(ra.done)
	for allocated := 0; ; {
		var buf []byte
		select {
		case buf = <-ra.free:
		default:
			if allocated < blocks {
				buf = make([]byte, blockSize)
				allocated++
				break
			}
			select {
			case buf = <-ra.free:
			case <-ra.stop:
				return
			}
		}
		n, err := ra.fill(ctx, src, buf)
		if errors.Is(err, errReadAheadStopped) {
			return
		}
		ra.ready <- block{data: buf[:n], err: err}
		if err != nil {
			return
		}
	}
}

// fill reads src until buf is full or reading ends. It checks ctx before
// every read, since sources such as HTTP bodies may not observe it
// themselves, and stops early once the consumer has gone.
func (ra *readAhead) fill(ctx context.Context, src io.Reader, buf []byte) (int, error) {
	n := 0
	for n < len(buf) {
		select {
		case <-ra.stop:
			return n, errReadAheadStopped
		default:
		}
		if err := ctx.Err(); err != nil {
			return n, fmt.Errorf("upload aborted: %w", err)
		}
		m, err := src.Read(buf[n:])
		n += m
		switch {
		case err == io.EOF:
			return n, io.EOF
		case err != nil:
			return n, fmt.Errorf("failed to read content: %w", err)
		}
	}
	return n, nil
}

// next returns the source's next bytes, in order, and whether they are the
// last. It fails when the source does or ctx ends. The bytes stay valid until
// they are handed back with release.
func (ra *readAhead) next(ctx context.Context) (data []byte, last bool, err error) {
	var b block
	select {
	case b = <-ra.ready:
	case <-ctx.Done():
		return nil, false, fmt.Errorf("upload aborted: %w", ctx.Err())
	}
	switch {
	case errors.Is(b.err, io.EOF):
		return b.data, true, nil
	case b.err != nil:
		return nil, false, b.err
	}
	return b.data, false, nil
}

// release hands back the bytes of a block returned by next.
func (ra *readAhead) release(data []byte) { ra.free <- data[:cap(data)] }

// close stops the goroutine and waits until it no longer uses the source.
// A read in progress is waited for: a source that ignores ctx and blocks
// forever blocks close too, as it would block a plain copy.
func (ra *readAhead) close() {
	close(ra.stop)
	<-ra.done
}
