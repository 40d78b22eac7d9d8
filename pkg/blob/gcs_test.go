package blob_test

import (
	"bytes"
	"context"
	"crypto/md5"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"

	"cloud.google.com/go/storage"
	"github.com/fsouza/fake-gcs-server/fakestorage"
	"github.com/google/go-cmp/cmp"
	"google.golang.org/api/option"

	"github.com/geminihooks/geminihooks/pkg/blob"
)

const testBucket = "geminihooks-test-results"

// fakeGCS is an in-process fake-gcs-server with one bucket.
type fakeGCS struct {
	server *fakestorage.Server
}

func startFakeGCS(t *testing.T) *fakeGCS {
	t.Helper()
	srv, err := fakestorage.NewServerWithOptions(fakestorage.Options{Scheme: "http", Host: "127.0.0.1", Port: 0})
	if err != nil {
		t.Fatalf("starting fake-gcs-server: %v", err)
	}
	t.Cleanup(srv.Stop)
	srv.CreateBucketWithOpts(fakestorage.CreateBucketOpts{Name: testBucket})
	return &fakeGCS{server: srv}
}

// client returns a storage client that talks to the fake through transport
// (http.DefaultTransport when nil), configured the way a deployment points
// the client at an emulator. Reads use the JSON API because the fake serves
// XML API reads only on its public host name.
func (f *fakeGCS) client(t *testing.T, transport http.RoundTripper) *storage.Client {
	t.Helper()
	opts := []option.ClientOption{
		option.WithEndpoint(f.server.URL() + "/storage/v1/"),
		option.WithoutAuthentication(),
		storage.WithJSONReads(),
	}
	if transport != nil {
		opts = append(opts, option.WithHTTPClient(&http.Client{Transport: transport}))
	}
	c, err := storage.NewClient(t.Context(), opts...)
	if err != nil {
		t.Fatalf("storage.NewClient: %v", err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func (f *fakeGCS) store(t *testing.T, transport http.RoundTripper) *blob.GCS {
	t.Helper()
	g, err := blob.NewGCS(f.client(t, transport), testBucket, blob.GCSOptions{ChunkSize: testChunkSize})
	if err != nil {
		t.Fatalf("NewGCS: %v", err)
	}
	return g
}

func newFakeGCS(t *testing.T) blob.Store {
	return startFakeGCS(t).store(t, nil)
}

func TestNewGCSValidates(t *testing.T) {
	t.Parallel()
	client, err := storage.NewClient(t.Context(), option.WithoutAuthentication(), option.WithEndpoint("http://127.0.0.1:1/storage/v1/"))
	if err != nil {
		t.Fatalf("storage.NewClient: %v", err)
	}
	defer client.Close()
	tests := []struct {
		name    string
		client  *storage.Client
		bucket  string
		opts    blob.GCSOptions
		wantErr bool
	}{
		{name: "defaults", client: client, bucket: "results"},
		{name: "dotted_bucket", client: client, bucket: "results.example.com"},
		{name: "aligned_chunk", client: client, bucket: "results", opts: blob.GCSOptions{ChunkSize: 512 << 10}},
		{name: "nil_client", bucket: "results", wantErr: true},
		{name: "empty_bucket", client: client, wantErr: true},
		{name: "uppercase_bucket", client: client, bucket: "Results", wantErr: true},
		{name: "bucket_with_slash", client: client, bucket: "results/x", wantErr: true},
		{name: "short_bucket", client: client, bucket: "ab", wantErr: true},
		{name: "negative_chunk", client: client, bucket: "results", opts: blob.GCSOptions{ChunkSize: -1}, wantErr: true},
		{name: "unaligned_chunk", client: client, bucket: "results", opts: blob.GCSOptions{ChunkSize: 100 << 10}, wantErr: true},
		{name: "negative_deadline", client: client, bucket: "results", opts: blob.GCSOptions{ChunkRetryDeadline: -1}, wantErr: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			g, err := blob.NewGCS(tc.client, tc.bucket, tc.opts)
			if gotErr := err != nil; gotErr != tc.wantErr {
				t.Fatalf("NewGCS error = %v, want error: %v", err, tc.wantErr)
			}
			if !tc.wantErr && g == nil {
				t.Fatal("NewGCS returned nil without an error")
			}
		})
	}
}

// TestGCSCommittedAttributes checks that Create reports what Cloud Storage
// committed: its MD5 (which Create does not compute, so a faulty service's is
// passed on), no SHA-256 and no custom metadata.
func TestGCSCommittedAttributes(t *testing.T) {
	t.Parallel()
	serviceMD5 := make([]byte, 16)
	for i := range serviceMD5 {
		serviceMD5[i] = byte(i)
	}
	tests := []struct {
		name      string
		transport http.RoundTripper
		wantMD5   func(data []byte) []byte
	}{
		{name: "honest_service", wantMD5: func(data []byte) []byte { sum := md5.Sum(data); return sum[:] }},
		{
			name:      "service_reports_other_md5",
			transport: corruptingTransport{field: "md5Hash", value: base64.StdEncoding.EncodeToString(serviceMD5)},
			wantMD5:   func([]byte) []byte { return serviceMD5 },
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			fake := startFakeGCS(t)
			g := fake.store(t, tc.transport)
			for _, size := range []int{100, 2*testChunkSize + 5} { // single request and resumable
				data := randomBytes(50, size)
				name := fmt.Sprintf("results/%d.bin", size)
				created, err := g.Create(t.Context(), name, "", bytes.NewReader(data))
				if err != nil {
					t.Fatalf("Create(%d bytes): %v", size, err)
				}
				want := expected(g, name, blob.DefaultContentType, data)
				want.MD5 = tc.wantMD5(data)
				want.Created = true
				if diff := cmp.Diff(want, created, ignoreVolatile); diff != "" {
					t.Errorf("Create(%d bytes) mismatch (-want +got):\n%s", size, diff)
				}
				if wantURI := "gs://" + testBucket + "/" + name; created.URI != wantURI {
					t.Errorf("URI = %q, want %q", created.URI, wantURI)
				}
				attrs, err := fake.client(t, nil).Bucket(testBucket).Object(name).Attrs(t.Context())
				if err != nil {
					t.Fatalf("Attrs: %v", err)
				}
				if len(attrs.Metadata) != 0 {
					t.Errorf("object metadata = %v, want none", attrs.Metadata)
				}
			}
		})
	}
}

// TestGCSObjectWrittenElsewhere covers objects this package did not write:
// Create must not touch them.
func TestGCSObjectWrittenElsewhere(t *testing.T) {
	t.Parallel()
	fake := startFakeGCS(t)
	data := []byte("written by another tool")
	fake.server.CreateObject(fakestorage.Object{
		ObjectAttrs: fakestorage.ObjectAttrs{BucketName: testBucket, Name: "other/x.txt", ContentType: "text/plain"},
		Content:     data,
	})
	g := fake.store(t, nil)
	src := &countingReader{r: strings.NewReader("replacement")}
	got, err := g.Create(t.Context(), "other/x.txt", "text/plain", src)
	if err != nil {
		t.Fatalf("Create: %v", err)
	}
	want := expected(g, "other/x.txt", "text/plain", data)
	if diff := cmp.Diff(want, got, ignoreVolatile); diff != "" {
		t.Errorf("Create mismatch with the existing object (-want +got):\n%s", diff)
	}
	if n := src.n.Load(); n != 0 {
		t.Errorf("Create read %d bytes of its source", n)
	}
}

// corruptingTransport rewrites the object resource that completes an
// upload, as a faulty service or proxy might.
type corruptingTransport struct {
	field string
	value any
}

func (c corruptingTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := http.DefaultTransport.RoundTrip(req)
	if err != nil || !strings.HasPrefix(req.URL.Path, "/upload/") || resp.StatusCode != http.StatusOK ||
		resp.Header.Get("X-Http-Status-Code-Override") == "308" {
		return resp, err
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		return nil, err
	}
	var obj map[string]any
	if err := json.Unmarshal(body, &obj); err != nil {
		return nil, err
	}
	obj[c.field] = c.value
	body, err = json.Marshal(obj)
	if err != nil {
		return nil, err
	}
	resp.Body = io.NopCloser(bytes.NewReader(body))
	resp.ContentLength = int64(len(body))
	resp.Header.Del("Content-Length")
	return resp, nil
}

// TestGCSSizeMismatchDeletesObject has the service report a committed size
// other than the bytes streamed: Create fails and removes the object.
func TestGCSSizeMismatchDeletesObject(t *testing.T) {
	t.Parallel()
	fake := startFakeGCS(t)
	corrupt := fake.store(t, corruptingTransport{field: "size", value: "1"})
	for _, size := range []int{100, 3 * testChunkSize} { // single request and resumable
		data := randomBytes(60, size)
		_, err := corrupt.Create(t.Context(), "m/x.bin", "", bytes.NewReader(data))
		if !errors.Is(err, blob.ErrChecksumMismatch) {
			t.Fatalf("Create(%d bytes) error = %v, want ErrChecksumMismatch", size, err)
		}
		assertNotExist(t, fake.store(t, nil), "m/x.bin")
	}
}

// TestGCSCorruptedUploadIsRefused flips one byte of the content on its way
// to the service, which checks it against the CRC32C the client computed:
// the upload fails and no object appears. Create computes no checksum of its
// own, so this is the test that the client's one is sent.
func TestGCSCorruptedUploadIsRefused(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		size int
	}{
		{"single_request", 100},
		{"resumable_first_chunk", 3 * testChunkSize},
		{"resumable_last_chunk", 3*testChunkSize + 10},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			data := randomBytes(61, tc.size)
			// The byte to flip: in the middle of the content for a single
			// request, else in the chunk the test name says.
			target := tc.size / 2
			if tc.size > testChunkSize {
				target = testChunkSize / 2
				if strings.HasSuffix(tc.name, "last_chunk") {
					target = tc.size - 5
				}
			}
			var flipped atomic.Bool
			g := discardStore(t, func(next http.RoundTripper) http.RoundTripper {
				return roundTripFunc(func(req *http.Request) (*http.Response, error) {
					if req.Body == nil || !strings.HasPrefix(req.URL.Path, "/upload/") {
						return next.RoundTrip(req)
					}
					body, err := io.ReadAll(req.Body)
					req.Body.Close()
					if err != nil {
						return nil, err
					}
					if i := contentOffset(req, body, data); i >= 0 && target >= i && target-i < len(body) {
						pos := bytes.Index(body, data[i:i+min(64, tc.size-i)]) + target - i
						body = bytes.Clone(body)
						body[pos] ^= 0x20
						flipped.Store(true)
					}
					req.Body = io.NopCloser(bytes.NewReader(body))
					return next.RoundTrip(req)
				})
			})
			_, err := g.Create(t.Context(), "corrupt/x.bin", "", bytes.NewReader(data))
			if !flipped.Load() {
				t.Fatal("the test never found the byte to corrupt")
			}
			if err == nil {
				t.Fatal("Create of content corrupted in transit succeeded")
			}
			if _, err := g.Stat(t.Context(), "corrupt/x.bin"); !errors.Is(err, blob.ErrNotExist) {
				t.Errorf("after a refused upload Stat error = %v, want ErrNotExist", err)
			}
		})
	}
}

// contentOffset returns the offset in data of the first content byte that
// an upload request carries, or -1 for a request without content.
func contentOffset(req *http.Request, body, data []byte) int {
	if r := req.Header.Get("Content-Range"); r != "" {
		var start int
		if _, err := fmt.Sscanf(r, "bytes %d-", &start); err != nil {
			return -1
		}
		return start
	}
	if bytes.Contains(body, data[:min(64, len(data))]) { // a multipart request
		return 0
	}
	return -1
}

func TestGCSStatErrorIsNotNotExist(t *testing.T) {
	t.Parallel()
	fake := startFakeGCS(t)
	client := fake.client(t, nil)
	g, err := blob.NewGCS(client, "no-such-bucket", blob.GCSOptions{})
	if err != nil {
		t.Fatalf("NewGCS: %v", err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if _, err := g.Stat(ctx, "x"); err == nil || errors.Is(err, blob.ErrNotExist) {
		t.Errorf("Stat with a cancelled context error = %v, want a non-ErrNotExist error", err)
	}
}
