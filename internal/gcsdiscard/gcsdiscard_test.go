package gcsdiscard_test

import (
	"bytes"
	"context"
	"crypto/md5"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"hash/crc32"
	"io"
	"math/rand/v2"
	"net/http"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"cloud.google.com/go/storage"
	"github.com/google/go-cmp/cmp"
	"google.golang.org/api/googleapi"
	"google.golang.org/api/option"

	"github.com/geminihooks/geminihooks/internal/gcsdiscard"
	"github.com/geminihooks/geminihooks/pkg/blob"
)

const bucket = "discard-bucket"

func startServer(t *testing.T) *gcsdiscard.Server {
	t.Helper()
	s := gcsdiscard.New()
	t.Cleanup(s.Close)
	return s
}

func newClient(t *testing.T, s *gcsdiscard.Server) *storage.Client {
	t.Helper()
	c, err := storage.NewClient(t.Context(), option.WithEndpoint(s.Endpoint()), option.WithoutAuthentication())
	if err != nil {
		t.Fatalf("storage.NewClient: %v", err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func newStore(t *testing.T, s *gcsdiscard.Server, chunkSize int) *blob.GCS {
	t.Helper()
	g, err := blob.NewGCS(newClient(t, s), bucket, blob.GCSOptions{ChunkSize: chunkSize})
	if err != nil {
		t.Fatalf("NewGCS: %v", err)
	}
	return g
}

// sums returns the CRC32C and MD5 the server must report for data.
func sums(data []byte) (uint32, []byte) {
	m := md5.Sum(data)
	return crc32.Checksum(data, crc32.MakeTable(crc32.Castagnoli)), m[:]
}

// heapPeak samples the live heap until stop is called and returns the
// highest value seen above the heap at the start.
func heapPeak(t *testing.T) (stop func() uint64) {
	t.Helper()
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	base := ms.HeapAlloc
	var peak atomic.Uint64
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		tick := time.NewTicker(2 * time.Millisecond)
		defer tick.Stop()
		for {
			var ms runtime.MemStats
			runtime.ReadMemStats(&ms)
			if ms.HeapAlloc > base && ms.HeapAlloc-base > peak.Load() {
				peak.Store(ms.HeapAlloc - base)
			}
			select {
			case <-done:
				return
			case <-tick.C:
			}
		}
	})
	return func() uint64 {
		close(done)
		wg.Wait()
		return peak.Load()
	}
}

// TestUpload64MiBThroughStorageClient streams 64 MiB through the real storage
// client and blob.GCS. The heap must stay far below the object's size: the
// client holds one chunk and the server hashes and drops what it receives.
// Not parallel, so that the heap measures this upload alone.
func TestUpload64MiBThroughStorageClient(t *testing.T) {
	const (
		size      = 64 << 20
		chunkSize = 8 << 20
		// One chunk in the client's buffer, one in flight on the wire,
		// plus slack for the runtime and the HTTP stack. A server that
		// kept the bytes would need the whole 64 MiB.
		heapLimit = 3*chunkSize + 8<<20
	)
	s := startServer(t)
	g := newStore(t, s, chunkSize)

	wantCRC := crc32.New(crc32.MakeTable(crc32.Castagnoli))
	wantMD5 := md5.New()
	src := io.TeeReader(io.LimitReader(rand.NewChaCha8([32]byte{7}), size), io.MultiWriter(wantCRC, wantMD5))

	stop := heapPeak(t)
	obj, err := g.Create(t.Context(), "big/output.jsonl", "application/jsonl", src)
	peak := stop()
	if err != nil {
		t.Fatalf("Create: %v", err)
	}
	t.Logf("heap peak above baseline while uploading %d MiB: %.1f MiB", size>>20, float64(peak)/(1<<20))

	if !obj.Created || obj.Size != size || obj.CRC32C != wantCRC.Sum32() || !bytes.Equal(obj.MD5, wantMD5.Sum(nil)) {
		t.Errorf("Create = Created %v, Size %d, CRC32C %08x, MD5 %x; want true, %d, %08x, %x",
			obj.Created, obj.Size, obj.CRC32C, obj.MD5, size, wantCRC.Sum32(), wantMD5.Sum(nil))
	}
	stat, err := g.Stat(t.Context(), "big/output.jsonl")
	if err != nil {
		t.Fatalf("Stat: %v", err)
	}
	want := obj
	want.Created = false
	if diff := cmp.Diff(want, stat); diff != "" {
		t.Errorf("Stat mismatch (-want +got):\n%s", diff)
	}
	if got := s.BytesReceived(); got != size {
		t.Errorf("BytesReceived = %d, want %d", got, size)
	}
	if peak > heapLimit {
		t.Errorf("heap grew by %d MiB while uploading %d MiB; want at most %d MiB", peak>>20, size>>20, heapLimit>>20)
	}
}

func TestCreateSemanticsThroughStorageClient(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		size int
	}{
		{"empty", 0},
		{"single_request", 1000},
		{"exactly_two_chunks", 2 * 256 << 10},
		{"several_chunks", 5*256<<10 + 17},
	}
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s := startServer(t)
			g := newStore(t, s, 256<<10)
			data := make([]byte, tc.size)
			_, _ = rand.NewChaCha8([32]byte{byte(i)}).Read(data)
			name := "dir/" + tc.name

			if _, err := g.Stat(t.Context(), name); !errors.Is(err, blob.ErrNotExist) {
				t.Fatalf("Stat before Create error = %v, want ErrNotExist", err)
			}
			obj, err := g.Create(t.Context(), name, "text/plain", bytes.NewReader(data))
			if err != nil {
				t.Fatalf("Create: %v", err)
			}
			crc, md := sums(data)
			if !obj.Created || obj.Size != int64(tc.size) || obj.CRC32C != crc || !bytes.Equal(obj.MD5, md) {
				t.Errorf("Create = %+v; want created, size %d, crc32c %08x, md5 %x", obj, tc.size, crc, md)
			}
			again, err := g.Create(t.Context(), name, "text/plain", strings.NewReader("other"))
			if err != nil {
				t.Fatalf("second Create: %v", err)
			}
			want := obj
			want.Created = false
			if diff := cmp.Diff(want, again); diff != "" {
				t.Errorf("second Create mismatch (-want +got):\n%s", diff)
			}
			ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
			defer cancel()
			if _, err := g.Open(ctx, name); err == nil || errors.Is(err, blob.ErrNotExist) || errors.Is(err, context.DeadlineExceeded) {
				t.Errorf("Open error = %v; want a prompt refusal on a server that keeps no content", err)
			}
		})
	}
}

func TestPreconditionsThroughStorageClient(t *testing.T) {
	t.Parallel()
	s := startServer(t)
	c := newClient(t, s)
	o := c.Bucket(bucket).Object("p")
	w := o.If(storage.Conditions{DoesNotExist: true}).NewWriter(t.Context())
	if _, err := io.WriteString(w, "first"); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatalf("first write: %v", err)
	}
	gen := w.Attrs().Generation

	w = o.If(storage.Conditions{DoesNotExist: true}).NewWriter(t.Context())
	_, _ = io.WriteString(w, "second")
	if err := w.Close(); !isStatus(err, http.StatusPreconditionFailed) {
		t.Errorf("second write error = %v, want 412", err)
	}
	if _, err := o.If(storage.Conditions{GenerationMatch: gen + 1}).Update(t.Context(),
		storage.ObjectAttrsToUpdate{Metadata: map[string]string{"k": "v"}}); !isStatus(err, http.StatusPreconditionFailed) {
		t.Errorf("Update at the wrong generation error = %v, want 412", err)
	}
	if err := o.If(storage.Conditions{GenerationMatch: gen + 1}).Delete(t.Context()); !isStatus(err, http.StatusPreconditionFailed) {
		t.Errorf("Delete at the wrong generation error = %v, want 412", err)
	}
	if err := o.If(storage.Conditions{GenerationMatch: gen}).Delete(t.Context()); err != nil {
		t.Errorf("Delete at the right generation: %v", err)
	}
	if _, err := o.Attrs(t.Context()); !errors.Is(err, storage.ErrObjectNotExist) {
		t.Errorf("Attrs after Delete error = %v, want ErrObjectNotExist", err)
	}
}

func isStatus(err error, code int) bool {
	var apiErr *googleapi.Error
	return errors.As(err, &apiErr) && apiErr.Code == code
}

// session drives the resumable protocol by hand.
type session struct {
	t        *testing.T
	location string
}

func startSession(t *testing.T, s *gcsdiscard.Server, query string) (*http.Response, *session) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodPost,
		s.URL()+"/upload/storage/v1/b/"+bucket+"/o?uploadType=resumable&"+query, strings.NewReader(`{"contentType":"text/plain"}`))
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp, &session{t: t, location: resp.Header.Get("Location")}
}

func (s *session) put(contentRange string, body []byte, header http.Header) *http.Response {
	s.t.Helper()
	req, err := http.NewRequestWithContext(s.t.Context(), http.MethodPut, s.location, bytes.NewReader(body))
	if err != nil {
		s.t.Fatal(err)
	}
	for k, v := range header {
		req.Header[k] = v
	}
	req.Header.Set("Content-Range", contentRange)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		s.t.Fatal(err)
	}
	return resp
}

// reply is the part of a response the protocol tests compare.
type reply struct {
	Status   int
	Range    string
	Override string
	Size     string `json:",omitempty"`
	CRC32C   string `json:",omitempty"`
	MD5      string `json:",omitempty"`
}

func summarize(t *testing.T, resp *http.Response) reply {
	t.Helper()
	defer resp.Body.Close()
	r := reply{Status: resp.StatusCode, Range: resp.Header.Get("Range"), Override: resp.Header.Get("X-Http-Status-Code-Override")}
	if resp.StatusCode == http.StatusOK && r.Override == "" {
		var obj struct{ Size, Crc32c, Md5Hash string }
		if err := json.NewDecoder(resp.Body).Decode(&obj); err != nil {
			t.Fatalf("decoding object: %v", err)
		}
		r.Size, r.CRC32C, r.MD5 = obj.Size, obj.Crc32c, obj.Md5Hash
	}
	return r
}

func encodedSums(data []byte) (string, string) {
	crc, md := sums(data)
	var b [4]byte
	binary.BigEndian.PutUint32(b[:], crc)
	return base64.StdEncoding.EncodeToString(b[:]), base64.StdEncoding.EncodeToString(md)
}

func TestResumableProtocol(t *testing.T) {
	t.Parallel()
	data := []byte("0123456789abcdefghij")
	crc, md := encodedSums(data)
	no308 := http.Header{"X-Guploader-No-308": {"yes"}}
	type step struct {
		contentRange string
		body         []byte
		header       http.Header
		want         reply
	}
	tests := []struct {
		name  string
		steps []step
	}{
		{
			name: "known_total_on_last_chunk",
			steps: []step{
				{"bytes 0-9/*", data[:10], nil, reply{Status: 308, Range: "bytes=0-9"}},
				{"bytes 10-19/20", data[10:], nil, reply{Status: 200, Size: "20", CRC32C: crc, MD5: md}},
			},
		},
		{
			name: "no_308_header",
			steps: []step{
				{"bytes 0-9/*", data[:10], no308, reply{Status: 200, Range: "bytes=0-9", Override: "308"}},
				{"bytes 10-19/20", data[10:], no308, reply{Status: 200, Size: "20", CRC32C: crc, MD5: md}},
			},
		},
		{
			name: "empty_final_request",
			steps: []step{
				{"bytes 0-19/*", data, nil, reply{Status: 308, Range: "bytes=0-19"}},
				{"bytes */20", nil, nil, reply{Status: 200, Size: "20", CRC32C: crc, MD5: md}},
			},
		},
		{
			name: "retried_chunk_overlaps",
			steps: []step{
				{"bytes 0-9/*", data[:10], nil, reply{Status: 308, Range: "bytes=0-9"}},
				{"bytes 5-14/*", data[5:15], nil, reply{Status: 308, Range: "bytes=0-14"}},
				{"bytes 15-19/20", data[15:], nil, reply{Status: 200, Size: "20", CRC32C: crc, MD5: md}},
			},
		},
		{
			name: "gap_rejected_then_resumed",
			steps: []step{
				{"bytes 0-9/*", data[:10], nil, reply{Status: 308, Range: "bytes=0-9"}},
				{"bytes 12-19/20", data[12:], nil, reply{Status: 400}},
				{"bytes 10-19/20", data[10:], nil, reply{Status: 200, Size: "20", CRC32C: crc, MD5: md}},
			},
		},
		{
			name: "short_body_rejected_then_resumed",
			steps: []step{
				{"bytes 0-19/20", data[:10], nil, reply{Status: 400}},
				{"bytes 0-19/20", data, nil, reply{Status: 200, Size: "20", CRC32C: crc, MD5: md}},
			},
		},
		{
			name: "matching_hash_header",
			steps: []step{
				{"bytes 0-19/20", data, http.Header{"X-Goog-Hash": {"crc32c=" + crc + ",md5=" + md}}, reply{Status: 200, Size: "20", CRC32C: crc, MD5: md}},
			},
		},
		{
			name: "mismatched_crc32c_header",
			steps: []step{
				{"bytes 0-19/20", data, http.Header{"X-Goog-Hash": {"crc32c=AAAAAA=="}}, reply{Status: 400}},
				{"bytes 0-19/20", data, nil, reply{Status: 404}}, // the session is gone
			},
		},
		{
			name: "total_disagrees",
			steps: []step{
				{"bytes 0-9/*", data[:10], nil, reply{Status: 308, Range: "bytes=0-9"}},
				{"bytes */25", nil, nil, reply{Status: 400}},
			},
		},
		{
			name: "malformed_range",
			steps: []step{
				{"bytes 9-0/*", data[:10], nil, reply{Status: 400}},
			},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s := startServer(t)
			resp, sess := startSession(t, s, "name=obj&ifGenerationMatch=0")
			if resp.StatusCode != http.StatusOK || sess.location == "" {
				t.Fatalf("starting session: status %d, Location %q", resp.StatusCode, sess.location)
			}
			for i, st := range tc.steps {
				got := summarize(t, sess.put(st.contentRange, st.body, st.header))
				if diff := cmp.Diff(st.want, got); diff != "" {
					t.Fatalf("step %d (%s) mismatch (-want +got):\n%s", i, st.contentRange, diff)
				}
			}
		})
	}
}

func TestSessionErrors(t *testing.T) {
	t.Parallel()
	s := startServer(t)
	g := newStore(t, s, 0)
	if _, err := g.Create(t.Context(), "taken", "", strings.NewReader("x")); err != nil {
		t.Fatalf("Create: %v", err)
	}
	if resp, _ := startSession(t, s, "name=taken&ifGenerationMatch=0"); resp.StatusCode != http.StatusPreconditionFailed {
		t.Errorf("starting a session for an existing object: status %d, want 412", resp.StatusCode)
	}
	if resp, _ := startSession(t, s, "ifGenerationMatch=0"); resp.StatusCode != http.StatusBadRequest {
		t.Errorf("starting a session without a name: status %d, want 400", resp.StatusCode)
	}
	unknown := &session{t: t, location: s.URL() + "/upload/storage/v1/b/" + bucket + "/o?upload_id=nope"}
	if got := summarize(t, unknown.put("bytes 0-0/1", []byte("x"), nil)); got.Status != http.StatusNotFound {
		t.Errorf("chunk for an unknown session: status %d, want 404", got.Status)
	}
	for _, path := range []string{"/storage/v1/b/" + bucket + "/o/taken?alt=media", "/" + bucket + "/taken"} {
		resp, err := http.Get(s.URL() + path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusBadRequest {
			t.Errorf("GET %s: status %d, want 400", path, resp.StatusCode)
		}
	}
}

// TestConcurrentCreates checks that the commit-time precondition lets exactly
// one of several simultaneous uploads win.
func TestConcurrentCreates(t *testing.T) {
	t.Parallel()
	s := startServer(t)
	g := newStore(t, s, 256<<10)
	const writers = 8
	var created atomic.Int32
	var wg sync.WaitGroup
	errs := make(chan error, writers)
	start := make(chan struct{})
	for i := range writers {
		wg.Go(func() {
			<-start
			data := make([]byte, 600<<10)
			_, _ = rand.NewChaCha8([32]byte{byte(i)}).Read(data)
			obj, err := g.Create(context.WithoutCancel(t.Context()), "race", "", bytes.NewReader(data))
			if obj.Created {
				created.Add(1)
			}
			errs <- err
		})
	}
	close(start)
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Errorf("Create: %v", err)
		}
	}
	if n := created.Load(); n != 1 {
		t.Errorf("%d writers created the object, want 1", n)
	}
}

// TestSkipMD5 checks that a server told to skip MD5 stores objects without
// one and ignores the MD5s uploads declare, but still checks CRC32C.
func TestSkipMD5(t *testing.T) {
	t.Parallel()
	data := []byte("0123456789abcdefghij")
	crc, _ := encodedSums(data)
	wrongMD5 := base64.StdEncoding.EncodeToString(make([]byte, 16))
	tests := []struct {
		name string
		hash string // X-Goog-Hash of the only chunk
		want reply
	}{
		{"no_declared_hash", "", reply{Status: 200, Size: "20", CRC32C: crc}},
		{"declared_md5_ignored", "crc32c=" + crc + ",md5=" + wrongMD5, reply{Status: 200, Size: "20", CRC32C: crc}},
		{"wrong_crc32c_refused", "crc32c=AAAAAA==", reply{Status: 400}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s := gcsdiscard.NewWithOptions(gcsdiscard.Options{SkipMD5: true})
			t.Cleanup(s.Close)
			resp, sess := startSession(t, s, "name=obj")
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("starting session: status %d", resp.StatusCode)
			}
			var header http.Header
			if tc.hash != "" {
				header = http.Header{"X-Goog-Hash": {tc.hash}}
			}
			if diff := cmp.Diff(tc.want, summarize(t, sess.put("bytes 0-19/20", data, header))); diff != "" {
				t.Errorf("reply mismatch (-want +got):\n%s", diff)
			}
		})
	}
	t.Run("through_storage_client", func(t *testing.T) {
		t.Parallel()
		s := gcsdiscard.NewWithOptions(gcsdiscard.Options{SkipMD5: true})
		t.Cleanup(s.Close)
		g := newStore(t, s, 256<<10)
		for _, size := range []int{1000, 3*256<<10 + 5} { // single request and resumable
			data := make([]byte, size)
			_, _ = rand.NewChaCha8([32]byte{byte(size)}).Read(data)
			obj, err := g.Create(t.Context(), "sizes/"+strconv.Itoa(size), "", bytes.NewReader(data))
			if err != nil {
				t.Fatalf("Create(%d bytes): %v", size, err)
			}
			if crc, _ := sums(data); obj.Size != int64(size) || obj.CRC32C != crc || obj.MD5 != nil {
				t.Errorf("Create(%d bytes) = size %d, crc32c %08x, md5 %x; want %d, %08x and no md5",
					size, obj.Size, obj.CRC32C, obj.MD5, size, crc)
			}
		}
	})
}
