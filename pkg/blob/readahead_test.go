package blob_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"cloud.google.com/go/storage"
	"google.golang.org/api/googleapi"
	"google.golang.org/api/option"

	"github.com/geminihooks/geminihooks/internal/gcsdiscard"
	"github.com/geminihooks/geminihooks/pkg/blob"
)

// probeReader wraps a source and records how it is used, so that tests can
// check that Create lets go of its source before returning.
type probeReader struct {
	r        io.Reader
	read     atomic.Int64 // bytes delivered
	inFlight atomic.Int32 // Read calls in progress
	returned atomic.Bool  // set by the test once Create has returned
	late     atomic.Bool  // a Read started after Create returned
}

func (p *probeReader) Read(b []byte) (int, error) {
	if p.returned.Load() {
		p.late.Store(true)
	}
	p.inFlight.Add(1)
	defer p.inFlight.Add(-1)
	n, err := p.r.Read(b)
	p.read.Add(int64(n))
	return n, err
}

// roundTripFunc adapts a function to http.RoundTripper.
type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(req *http.Request) (*http.Response, error) { return f(req) }

// isChunk reports a request that carries a chunk of a resumable upload.
func isChunk(req *http.Request) bool {
	return strings.HasPrefix(req.URL.Path, "/upload/") && req.URL.Query().Has("upload_id")
}

// discardStore returns a GCS store with testChunkSize chunks on a gcsdiscard
// server, whose requests go through wrap(http.DefaultTransport).
func discardStore(t *testing.T, wrap func(http.RoundTripper) http.RoundTripper) *blob.GCS {
	t.Helper()
	srv := gcsdiscard.New()
	t.Cleanup(srv.Close)
	client, err := storage.NewClient(t.Context(), option.WithEndpoint(srv.Endpoint()),
		option.WithHTTPClient(&http.Client{Transport: wrap(http.DefaultTransport)}))
	if err != nil {
		t.Fatalf("storage.NewClient: %v", err)
	}
	t.Cleanup(func() { client.Close() })
	g, err := blob.NewGCS(client, "read-ahead", blob.GCSOptions{ChunkSize: testChunkSize})
	if err != nil {
		t.Fatalf("NewGCS: %v", err)
	}
	return g
}

// TestGCSReadsAheadWhileSendingChunk holds the first chunk's request until the
// source has been read well past that chunk: a copy that only reads between
// chunks would never get there.
func TestGCSReadsAheadWhileSendingChunk(t *testing.T) {
	t.Parallel()
	const size = 8 << 20
	data := randomBytes(70, size)
	src := &probeReader{r: bytes.NewReader(data)}
	want := int64(testChunkSize + blob.ReadAheadSize/2)
	var held atomic.Bool
	var readWhileHeld atomic.Int64
	g := discardStore(t, func(next http.RoundTripper) http.RoundTripper {
		return roundTripFunc(func(req *http.Request) (*http.Response, error) {
			if isChunk(req) && !held.Swap(true) {
				deadline := time.Now().Add(10 * time.Second)
				for src.read.Load() < want && time.Now().Before(deadline) {
					time.Sleep(time.Millisecond)
				}
				readWhileHeld.Store(src.read.Load())
			}
			return next.RoundTrip(req)
		})
	})
	obj, err := g.Create(t.Context(), "ahead/x.bin", "", src)
	if err != nil {
		t.Fatalf("Create: %v", err)
	}
	if n := readWhileHeld.Load(); !held.Load() || n < want {
		t.Errorf("while the first chunk was in flight the source was read to byte %d, want at least %d", n, want)
	}
	if w := expected(g, "ahead/x.bin", blob.DefaultContentType, data); obj.Size != w.Size || obj.CRC32C != w.CRC32C {
		t.Errorf("Create = size %d, crc32c %08x; want %d, %08x", obj.Size, obj.CRC32C, w.Size, w.CRC32C)
	}
}

// TestGCSCreateReleasesSourceOnFailure fails uploads midway from either side
// and checks that Create returns the cause, leaves no object, and has stopped
// using the source and its reading goroutine when it returns. It is not
// parallel so that no other Create's goroutine is counted.
func TestGCSCreateReleasesSourceOnFailure(t *testing.T) {
	const size = 64 << 20
	block := randomBytes(71, 1<<20)
	errStorage := &googleapi.Error{Code: http.StatusBadRequest, Message: "chunk refused"}
	tests := []struct {
		name string
		// source returns the reader to upload; ctx is the context of
		// Create and cancel ends it.
		source func(ctx context.Context, cancel context.CancelFunc) io.Reader
		// refuseChunk makes the storage refuse chunks from this one on
		// (0: never).
		refuseChunk int
		wantErr     error
	}{
		{
			name: "source_fails",
			source: func(context.Context, context.CancelFunc) io.Reader {
				return failingReader{r: newRepeatReader(block, 3<<20)}
			},
			wantErr: errSource,
		},
		{
			name: "context_cancelled_source_ignores_it",
			source: func(_ context.Context, cancel context.CancelFunc) io.Reader {
				return &hookReader{r: newRepeatReader(block, size), after: 3 << 20, hook: cancel}
			},
			wantErr: context.Canceled,
		},
		{
			name: "context_cancelled_during_blocked_read",
			source: func(ctx context.Context, cancel context.CancelFunc) io.Reader {
				s := &stallingReader{r: newRepeatReader(block, 3<<20), ctx: ctx, stalled: make(chan struct{})}
				go func() {
					select {
					case <-s.stalled:
						cancel()
					case <-ctx.Done():
					}
				}()
				return s
			},
			wantErr: context.Canceled,
		},
		{
			name:        "storage_fails",
			source:      func(context.Context, context.CancelFunc) io.Reader { return newRepeatReader(block, size) },
			refuseChunk: 3,
			wantErr:     errStorage,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var chunks atomic.Int32
			g := discardStore(t, func(next http.RoundTripper) http.RoundTripper {
				return roundTripFunc(func(req *http.Request) (*http.Response, error) {
					if isChunk(req) && tc.refuseChunk > 0 && int(chunks.Add(1)) >= tc.refuseChunk {
						_, _ = io.Copy(io.Discard, req.Body)
						req.Body.Close()
						return &http.Response{
							StatusCode: errStorage.Code,
							Header:     http.Header{"Content-Type": {"application/json"}},
							Body:       io.NopCloser(strings.NewReader(`{"error":{"code":400,"message":"chunk refused"}}`)),
							Request:    req,
						}, nil
					}
					return next.RoundTrip(req)
				})
			})
			ctx, cancel := context.WithCancel(t.Context())
			defer cancel()
			src := &probeReader{r: tc.source(ctx, cancel)}

			_, err := g.Create(ctx, "failed/x.bin", "", src)
			inFlight := src.inFlight.Load()
			src.returned.Store(true)

			switch want := tc.wantErr; {
			case errors.Is(want, errStorage):
				var apiErr *googleapi.Error
				if !errors.As(err, &apiErr) || apiErr.Code != errStorage.Code {
					t.Errorf("Create error = %v, want the storage's %d", err, errStorage.Code)
				}
			case !errors.Is(err, want):
				t.Errorf("Create error = %v, want %v", err, want)
			}
			if inFlight != 0 {
				t.Errorf("%d reads of the source were in progress when Create returned", inFlight)
			}
			if n := src.read.Load(); n >= size {
				t.Errorf("the source was read to its end (%d bytes) after the failure", n)
			}
			waitNoReadAhead(t)
			if src.late.Load() {
				t.Error("the source was read after Create returned")
			}
			if obj, err := g.Stat(t.Context(), "failed/x.bin"); !errors.Is(err, blob.ErrNotExist) {
				t.Errorf("Stat after the failure = %+v, %v; want ErrNotExist", obj, err)
			}
		})
	}
}

// stallingReader yields r and then blocks, like a network read whose peer
// went silent, until its context ends, and takes a moment more to return, as
// a read does that learns of the cancellation from another goroutine. It
// closes stalled when it blocks.
type stallingReader struct {
	r       io.Reader
	ctx     context.Context
	stalled chan struct{}
	once    sync.Once
}

func (s *stallingReader) Read(p []byte) (int, error) {
	n, err := s.r.Read(p)
	if err != io.EOF {
		return n, err
	}
	s.once.Do(func() { close(s.stalled) })
	<-s.ctx.Done()
	time.Sleep(50 * time.Millisecond)
	return 0, s.ctx.Err()
}

// waitNoReadAhead waits until no read-ahead goroutine runs: Create waits for
// its goroutine to be done with the source, which then only has to return.
func waitNoReadAhead(t *testing.T) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	buf := make([]byte, 1<<20)
	for {
		n := runtime.Stack(buf, true)
		if !bytes.Contains(buf[:n], []byte("blob.(*readAhead).run")) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("a read-ahead goroutine is still running after Create returned:\n%s", buf[:n])
		}
		time.Sleep(time.Millisecond)
	}
}
