package blob_test

import (
	"bytes"
	"context"
	"crypto/md5"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"math/rand/v2"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/geminihooks/geminihooks/pkg/blob"
)

// testChunkSize is the GCS chunk size in tests: small, so that every test
// object above 256 KiB takes the multi-chunk resumable path.
const testChunkSize = 256 << 10

// errSource is what failing test readers return.
var errSource = errors.New("source failed")

// storeFactory builds a fresh, empty store for one test.
type storeFactory func(t *testing.T) blob.Store

// TestContract runs the shared Store contract against every implementation.
func TestContract(t *testing.T) {
	t.Parallel()
	factories := []struct {
		name string
		new  storeFactory
	}{
		{name: "memory", new: func(*testing.T) blob.Store { return blob.NewMemory() }},
		{name: "dir", new: func(t *testing.T) blob.Store {
			d, err := blob.NewDir(t.TempDir())
			if err != nil {
				t.Fatalf("NewDir: %v", err)
			}
			return d
		}},
		{name: "gcs", new: newFakeGCS},
	}
	for _, f := range factories {
		t.Run(f.name, func(t *testing.T) {
			t.Parallel()
			runContract(t, f.new)
		})
	}
}

func runContract(t *testing.T, newStore storeFactory) {
	tests := []struct {
		name string
		run  func(t *testing.T, s blob.Store)
	}{
		{"create_then_stat_and_open", testCreateThenStatAndOpen},
		{"create_existing_keeps_content", testCreateExistingKeepsContent},
		{"concurrent_creates_one_winner", testConcurrentCreates},
		{"loses_race_during_upload", testLosesRaceDuringUpload},
		{"not_found", testNotFound},
		{"checksums", testChecksums},
		{"interrupted_reader_leaves_nothing", testInterruptedReader},
		{"context_cancelled_before", testContextCancelledBefore},
		{"context_cancelled_during_upload", testContextCancelledDuringUpload},
		{"nested_and_unusual_names", testNestedNames},
		{"invalid_names_rejected", testInvalidNames},
		{"default_content_type", testDefaultContentType},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tc.run(t, newStore(t))
		})
	}
}

// randomBytes returns n reproducible pseudo-random bytes.
func randomBytes(seed uint64, n int) []byte {
	b := make([]byte, n)
	r := rand.NewChaCha8([32]byte{byte(seed), byte(seed >> 8), byte(seed >> 16), byte(seed >> 24)})
	_, _ = r.Read(b)
	return b
}

// expected returns the attributes s must report for data: every checksum,
// except the SHA-256 that GCS does not compute.
func expected(s blob.Store, name, contentType string, data []byte) blob.Object {
	md5sum := md5.Sum(data)
	o := blob.Object{
		Name:        name,
		Size:        int64(len(data)),
		CRC32C:      crc32.Checksum(data, crc32.MakeTable(crc32.Castagnoli)),
		MD5:         md5sum[:],
		ContentType: contentType,
	}
	if _, ok := s.(*blob.GCS); !ok {
		shasum := sha256.Sum256(data)
		o.SHA256 = hex.EncodeToString(shasum[:])
	}
	return o
}

// ignoreVolatile compares objects without the fields that depend on the
// store (URI) or the clock (Updated).
var ignoreVolatile = cmp.FilterPath(func(p cmp.Path) bool {
	switch p.String() {
	case "URI", "Updated":
		return true
	}
	return false
}, cmp.Ignore())

func readAll(t *testing.T, s blob.Store, name string) []byte {
	t.Helper()
	rc, err := s.Open(t.Context(), name)
	if err != nil {
		t.Fatalf("Open(%q): %v", name, err)
	}
	defer rc.Close()
	got, err := io.ReadAll(rc)
	if err != nil {
		t.Fatalf("reading %q: %v", name, err)
	}
	return got
}

func assertNotExist(t *testing.T, s blob.Store, name string) {
	t.Helper()
	if obj, err := s.Stat(t.Context(), name); !errors.Is(err, blob.ErrNotExist) {
		t.Fatalf("Stat(%q) = %+v, %v; want ErrNotExist", name, obj, err)
	}
	if rc, err := s.Open(t.Context(), name); !errors.Is(err, blob.ErrNotExist) {
		if err == nil {
			rc.Close()
		}
		t.Fatalf("Open(%q) error = %v; want ErrNotExist", name, err)
	}
}

// countingReader counts the bytes read through it.
type countingReader struct {
	r io.Reader
	n atomic.Int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n.Add(int64(n))
	return n, err
}

// failingReader yields data and then fails with errSource instead of EOF.
type failingReader struct{ r io.Reader }

func (f failingReader) Read(p []byte) (int, error) {
	n, err := f.r.Read(p)
	if err == io.EOF {
		return n, errSource
	}
	return n, err
}

// hookReader calls hook once, the first time more than after bytes have
// been read, and then keeps reading.
type hookReader struct {
	r     io.Reader
	after int64
	hook  func()
	read  int64
	once  sync.Once
}

func (h *hookReader) Read(p []byte) (int, error) {
	n, err := h.r.Read(p)
	h.read += int64(n)
	if h.read > h.after {
		h.once.Do(h.hook)
	}
	return n, err
}

func testCreateThenStatAndOpen(t *testing.T, s blob.Store) {
	const name = "batches/b-1/output.jsonl"
	data := randomBytes(1, 3*testChunkSize+123)
	want := expected(s, name, "application/jsonl", data)
	want.Created = true

	got, err := s.Create(t.Context(), name, "application/jsonl", bytes.NewReader(data))
	if err != nil {
		t.Fatalf("Create: %v", err)
	}
	if diff := cmp.Diff(want, got, ignoreVolatile); diff != "" {
		t.Errorf("Create result mismatch (-want +got):\n%s", diff)
	}
	if got.URI == "" || !strings.HasSuffix(got.URI, "/"+name) {
		t.Errorf("URI = %q, want one ending in /%s", got.URI, name)
	}
	if got.Updated.IsZero() {
		t.Error("Updated is zero")
	}

	stat, err := s.Stat(t.Context(), name)
	if err != nil {
		t.Fatalf("Stat: %v", err)
	}
	wantStat := got
	wantStat.Created = false
	if diff := cmp.Diff(wantStat, stat); diff != "" {
		t.Errorf("Stat mismatch (-want +got):\n%s", diff)
	}
	if got := readAll(t, s, name); !bytes.Equal(got, data) {
		t.Errorf("Open returned %d bytes that differ from the %d written", len(got), len(data))
	}
}

func testCreateExistingKeepsContent(t *testing.T, s blob.Store) {
	const name = "reports/r-1.md"
	first := randomBytes(2, testChunkSize+7)
	created, err := s.Create(t.Context(), name, "text/markdown", bytes.NewReader(first))
	if err != nil {
		t.Fatalf("first Create: %v", err)
	}

	second := &countingReader{r: bytes.NewReader(randomBytes(3, 2*testChunkSize))}
	again, err := s.Create(t.Context(), name, "text/plain", second)
	if err != nil {
		t.Fatalf("second Create: %v", err)
	}
	want := created
	want.Created = false
	if diff := cmp.Diff(want, again); diff != "" {
		t.Errorf("second Create result mismatch (-want +got):\n%s", diff)
	}
	if n := second.n.Load(); n != 0 {
		t.Errorf("second Create read %d bytes of its source; want 0", n)
	}
	if got := readAll(t, s, name); !bytes.Equal(got, first) {
		t.Error("content changed after the second Create")
	}
}

func testConcurrentCreates(t *testing.T, s blob.Store) {
	const (
		name    = "videos/v-1.mp4"
		writers = 6
	)
	contents := make([][]byte, writers)
	for i := range contents {
		contents[i] = randomBytes(uint64(10+i), 2*testChunkSize+i)
	}
	results := make([]blob.Object, writers)
	errs := make([]error, writers)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range writers {
		wg.Go(func() {
			<-start
			results[i], errs[i] = s.Create(t.Context(), name, "video/mp4", bytes.NewReader(contents[i]))
		})
	}
	close(start)
	wg.Wait()

	winner := -1
	for i, err := range errs {
		if err != nil {
			t.Fatalf("writer %d: %v", i, err)
		}
		if results[i].Created {
			if winner >= 0 {
				t.Fatalf("writers %d and %d both report Created", winner, i)
			}
			winner = i
		}
	}
	if winner < 0 {
		t.Fatal("no writer reports Created")
	}
	want := expected(s, name, "video/mp4", contents[winner])
	for i, got := range results {
		// A loser may look the object up before the winner has renamed its
		// sidecar into place (Dir), and then reports the default content
		// type; the content type is checked below, once every writer is
		// done.
		got.ContentType, got.Created = want.ContentType, false
		if diff := cmp.Diff(want, got, ignoreVolatile); diff != "" {
			t.Errorf("writer %d result does not describe the winner's content (-want +got):\n%s", i, diff)
		}
	}
	stat, err := s.Stat(t.Context(), name)
	if err != nil {
		t.Fatalf("Stat: %v", err)
	}
	if diff := cmp.Diff(want, stat, ignoreVolatile); diff != "" {
		t.Errorf("Stat after the race mismatch (-want +got):\n%s", diff)
	}
	if got := readAll(t, s, name); !bytes.Equal(got, contents[winner]) {
		t.Error("stored content is not the winner's full content")
	}
}

// testLosesRaceDuringUpload makes another writer commit while a Create is
// streaming, which the up-front existence check cannot see; the store must
// still report the other writer's object and keep its content.
func testLosesRaceDuringUpload(t *testing.T, s blob.Store) {
	const name = "batches/b-2/output.jsonl"
	winnerData := randomBytes(20, testChunkSize/2)
	loserData := randomBytes(21, 3*testChunkSize)
	var winner blob.Object
	var winnerErr error
	src := &hookReader{r: bytes.NewReader(loserData), after: testChunkSize, hook: func() {
		winner, winnerErr = s.Create(t.Context(), name, "application/jsonl", bytes.NewReader(winnerData))
	}}

	got, err := s.Create(t.Context(), name, "application/jsonl", src)
	if winnerErr != nil {
		t.Fatalf("inner Create: %v", winnerErr)
	}
	if !winner.Created {
		t.Fatal("inner Create did not create the object")
	}
	if err != nil {
		t.Fatalf("outer Create: %v", err)
	}
	want := winner
	want.Created = false
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("outer Create result mismatch (-want +got):\n%s", diff)
	}
	if got := readAll(t, s, name); !bytes.Equal(got, winnerData) {
		t.Error("the losing upload changed the content")
	}
}

func testNotFound(t *testing.T, s blob.Store) {
	if _, err := s.Create(t.Context(), "present/x", "", strings.NewReader("x")); err != nil {
		t.Fatalf("Create: %v", err)
	}
	for _, name := range []string{"missing", "present", "present/x/y", "present/y"} {
		assertNotExist(t, s, name)
	}
}

func testChecksums(t *testing.T, s blob.Store) {
	tests := []struct {
		name string
		size int
	}{
		{"empty", 0},
		{"one_byte", 1},
		{"just_under_a_chunk", testChunkSize - 1},
		{"exactly_one_chunk", testChunkSize},
		{"one_chunk_and_a_byte", testChunkSize + 1},
		{"exactly_two_chunks", 2 * testChunkSize},
		{"two_chunks_and_a_byte", 2*testChunkSize + 1},
		{"exactly_three_chunks", 3 * testChunkSize},
		{"several_chunks", 10*testChunkSize + 4321},
	}
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			data := randomBytes(uint64(100+i), tc.size)
			name := "sums/" + tc.name
			want := expected(s, name, "application/octet-stream", data)
			want.Created = true
			got, err := s.Create(t.Context(), name, "application/octet-stream", bytes.NewReader(data))
			if err != nil {
				t.Fatalf("Create: %v", err)
			}
			if diff := cmp.Diff(want, got, ignoreVolatile); diff != "" {
				t.Errorf("Create mismatch (-want +got):\n%s", diff)
			}
			want.Created = false
			stat, err := s.Stat(t.Context(), name)
			if err != nil {
				t.Fatalf("Stat: %v", err)
			}
			if diff := cmp.Diff(want, stat, ignoreVolatile); diff != "" {
				t.Errorf("Stat mismatch (-want +got):\n%s", diff)
			}
			if got := readAll(t, s, name); !bytes.Equal(got, data) {
				t.Error("content differs")
			}
		})
	}
}

func testInterruptedReader(t *testing.T, s blob.Store) {
	tests := []struct {
		name     string
		failFrom int // bytes delivered before the source fails
	}{
		// Fails before the first chunk is full: GCS has not even started
		// its session.
		{"within_first_chunk", 100},
		// Fails after 3 MiB: twelve chunks have been committed to the
		// GCS session by then.
		{"after_many_chunks", 3 << 20},
	}
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			name := "interrupted/" + tc.name
			data := randomBytes(uint64(30+i), 5<<20)
			_, err := s.Create(t.Context(), name, "application/jsonl", failingReader{r: bytes.NewReader(data[:tc.failFrom])})
			if !errors.Is(err, errSource) {
				t.Fatalf("Create with a failing source: error = %v, want errSource", err)
			}
			assertNotExist(t, s, name)

			got, err := s.Create(t.Context(), name, "application/jsonl", bytes.NewReader(data))
			if err != nil {
				t.Fatalf("retry Create: %v", err)
			}
			if !got.Created || got.Size != int64(len(data)) {
				t.Errorf("retry Create = Created %v, Size %d; want true, %d", got.Created, got.Size, len(data))
			}
			if got := readAll(t, s, name); !bytes.Equal(got, data) {
				t.Error("content after the retry differs")
			}
		})
	}
}

func testContextCancelledBefore(t *testing.T, s blob.Store) {
	const name = "cancelled/before"
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	src := &countingReader{r: strings.NewReader("data")}
	if _, err := s.Create(ctx, name, "", src); !errors.Is(err, context.Canceled) {
		t.Fatalf("Create error = %v, want context.Canceled", err)
	}
	if _, err := s.Stat(ctx, name); !errors.Is(err, context.Canceled) {
		t.Errorf("Stat error = %v, want context.Canceled", err)
	}
	if _, err := s.Open(ctx, name); !errors.Is(err, context.Canceled) {
		t.Errorf("Open error = %v, want context.Canceled", err)
	}
	if n := src.n.Load(); n != 0 {
		t.Errorf("Create read %d bytes with a cancelled context", n)
	}
	assertNotExist(t, s, name)
}

func testContextCancelledDuringUpload(t *testing.T, s blob.Store) {
	const name = "cancelled/during"
	data := randomBytes(40, 8*testChunkSize)
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	src := &hookReader{r: bytes.NewReader(data), after: 2 * testChunkSize, hook: cancel}
	if _, err := s.Create(ctx, name, "", src); !errors.Is(err, context.Canceled) {
		t.Fatalf("Create error = %v, want context.Canceled", err)
	}
	assertNotExist(t, s, name)
}

func testNestedNames(t *testing.T, s blob.Store) {
	names := []string{
		"a/b/c/d/e/f.jsonl",
		"a/b/c/d/e/g.jsonl",
		"a/b/x",
		"with space/and #hash?query=1&x%2Fy",
		"unicode/résumé-日本語.txt",
		"trailing-dot./dots..in..name",
		"colon:and;semicolon/@at+plus=equals,comma",
	}
	for i, name := range names {
		data := fmt.Appendf(nil, "object %d %s", i, name)
		got, err := s.Create(t.Context(), name, "text/plain", bytes.NewReader(data))
		if err != nil {
			t.Fatalf("Create(%q): %v", name, err)
		}
		if got.Name != name || !got.Created {
			t.Errorf("Create(%q) = Name %q, Created %v", name, got.Name, got.Created)
		}
	}
	for i, name := range names {
		want := fmt.Appendf(nil, "object %d %s", i, name)
		if got := readAll(t, s, name); !bytes.Equal(got, want) {
			t.Errorf("Open(%q) = %q, want %q", name, got, want)
		}
		stat, err := s.Stat(t.Context(), name)
		if err != nil {
			t.Fatalf("Stat(%q): %v", name, err)
		}
		if diff := cmp.Diff(expected(s, name, "text/plain", want), stat, ignoreVolatile); diff != "" {
			t.Errorf("Stat(%q) mismatch (-want +got):\n%s", name, diff)
		}
	}
}

func testInvalidNames(t *testing.T, s blob.Store) {
	tests := []struct {
		name   string
		object string
	}{
		{"empty", ""},
		{"absolute", "/etc/passwd"},
		{"parent", ".."},
		{"parent_segment", "a/../../b"},
		{"current", "."},
		{"current_segment", "a/./b"},
		{"double_slash", "a//b"},
		{"trailing_slash", "a/"},
		{"backslash", `a\b`},
		{"windows_parent", `..\b`},
		{"dot_file", ".meta.json"},
		{"dot_segment", "a/.b/c"},
		{"nul", "a\x00b"},
		{"newline", "a\nb"},
		{"c1_control", "a\u0085b"},
		{"invalid_utf8", "a\xffb"},
		{"too_long", strings.Repeat("a/", blob.MaxNameLength/2) + "a"},
		{"segment_too_long", strings.Repeat("a", blob.MaxSegmentLength+1)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			src := &countingReader{r: strings.NewReader("data")}
			if _, err := s.Create(t.Context(), tc.object, "", src); !errors.Is(err, blob.ErrInvalidName) {
				t.Errorf("Create error = %v, want ErrInvalidName", err)
			}
			if n := src.n.Load(); n != 0 {
				t.Errorf("Create read %d bytes for an invalid name", n)
			}
			if _, err := s.Stat(t.Context(), tc.object); !errors.Is(err, blob.ErrInvalidName) {
				t.Errorf("Stat error = %v, want ErrInvalidName", err)
			}
			if _, err := s.Open(t.Context(), tc.object); !errors.Is(err, blob.ErrInvalidName) {
				t.Errorf("Open error = %v, want ErrInvalidName", err)
			}
		})
	}
}

func testDefaultContentType(t *testing.T, s blob.Store) {
	// Content that a sniffer would call HTML must still be stored with the
	// default type.
	got, err := s.Create(t.Context(), "untyped", "", strings.NewReader("<!DOCTYPE html><html></html>"))
	if err != nil {
		t.Fatalf("Create: %v", err)
	}
	if got.ContentType != blob.DefaultContentType {
		t.Errorf("ContentType = %q, want %q", got.ContentType, blob.DefaultContentType)
	}
	stat, err := s.Stat(t.Context(), "untyped")
	if err != nil {
		t.Fatalf("Stat: %v", err)
	}
	if stat.ContentType != blob.DefaultContentType {
		t.Errorf("Stat ContentType = %q, want %q", stat.ContentType, blob.DefaultContentType)
	}
}
