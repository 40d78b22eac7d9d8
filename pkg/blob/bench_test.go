package blob_test

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"

	"cloud.google.com/go/storage"
	"google.golang.org/api/option"

	"github.com/geminihooks/geminihooks/internal/gcsdiscard"
	"github.com/geminihooks/geminihooks/pkg/blob"
)

// benchSize is the object size of the upload benchmarks.
const benchSize = 256 << 20

// repeatReader yields size bytes by repeating block, so that producing the
// source costs next to nothing and the benchmarks measure the upload path.
type repeatReader struct {
	block     []byte
	remaining int64
	off       int
}

func newRepeatReader(block []byte, size int64) *repeatReader {
	return &repeatReader{block: block, remaining: size}
}

func (r *repeatReader) Read(p []byte) (int, error) {
	if r.remaining == 0 {
		return 0, io.EOF
	}
	if int64(len(p)) > r.remaining {
		p = p[:r.remaining]
	}
	n := 0
	for n < len(p) {
		c := copy(p[n:], r.block[r.off:])
		n += c
		r.off = (r.off + c) % len(r.block)
	}
	r.remaining -= int64(n)
	return n, nil
}

// BenchmarkGCSCreateDiscard uploads benchSize bytes per operation through
// GCS.Create (default chunk size, read-ahead, size check) and the real
// storage client, which computes the CRC32C, to a gcsdiscard server over
// loopback, which checks it. The server skips MD5, which Cloud Storage
// computes on its own machines. Compare with BenchmarkLoopbackIOCopy for the
// cost of the store over a bare copy.
func BenchmarkGCSCreateDiscard(b *testing.B) {
	srv := gcsdiscard.NewWithOptions(gcsdiscard.Options{SkipMD5: true})
	defer srv.Close()
	client, err := storage.NewClient(b.Context(), option.WithEndpoint(srv.Endpoint()), option.WithoutAuthentication())
	if err != nil {
		b.Fatal(err)
	}
	defer client.Close()
	g, err := blob.NewGCS(client, "bench", blob.GCSOptions{})
	if err != nil {
		b.Fatal(err)
	}
	block := randomBytes(1, 1<<20)
	b.SetBytes(benchSize)
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		obj, err := g.Create(b.Context(), fmt.Sprintf("bench/%d", i), "application/octet-stream", newRepeatReader(block, benchSize))
		if err != nil {
			b.Fatal(err)
		}
		if !obj.Created || obj.Size != benchSize {
			b.Fatalf("Create = Created %v, Size %d", obj.Created, obj.Size)
		}
	}
}

// BenchmarkLoopbackIOCopy sends the same bytes as BenchmarkGCSCreateDiscard
// in one plain HTTP PUT to a loopback server that discards them: the floor
// for moving benchSize bytes over loopback HTTP.
func BenchmarkLoopbackIOCopy(b *testing.B) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, err := io.Copy(io.Discard, r.Body); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
		}
	}))
	defer srv.Close()
	client := srv.Client()
	block := randomBytes(1, 1<<20)
	b.SetBytes(benchSize)
	b.ReportAllocs()
	for b.Loop() {
		req, err := http.NewRequestWithContext(b.Context(), http.MethodPut, srv.URL, newRepeatReader(block, benchSize))
		if err != nil {
			b.Fatal(err)
		}
		req.ContentLength = benchSize
		resp, err := client.Do(req)
		if err != nil {
			b.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			b.Fatalf("status %d", resp.StatusCode)
		}
	}
}
