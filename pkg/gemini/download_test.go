package gemini_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/geminihooks/geminihooks/internal/geminisim"
	"github.com/geminihooks/geminihooks/pkg/gemini"
)

// addResults stores a results file of the given size on the simulator and
// returns its name.
func addResults(t *testing.T, sim *geminisim.Server, size int64) string {
	t.Helper()
	name, err := sim.AddFile(geminisim.ResultsFile{Size: size, FailureRatio: 0.01, Seed: uint64(size)})
	if err != nil {
		t.Fatal(err)
	}
	return name
}

// downloadAll downloads ref and checks it against the simulator's digest
// of file.
func downloadAll(t *testing.T, e *env, ref, file string) {
	t.Helper()
	d, err := e.client.Download(testContext(t), ref)
	if err != nil {
		t.Fatalf("Download: %v", err)
	}
	defer d.Body.Close()
	n, sum, err := readDigest(d.Body)
	if err != nil {
		t.Fatalf("reading after %d bytes: %v", n, err)
	}
	want := digest(t, e.sim, file)
	if n != want.Size || sum != want.SHA256 {
		t.Fatalf("downloaded %d bytes (sha256 match %v), want %d identical bytes", n, sum == want.SHA256, want.Size)
	}
	if d.Size != want.Size {
		t.Errorf("Size = %d, want %d", d.Size, want.Size)
	}
}

// TestDownload_large streams 50 MiB and checks that memory use stays far
// below the file size. It does not run in parallel: the allocation count
// is process-wide.
func TestDownload_large(t *testing.T) {
	const size = 50<<20 + 17
	e := newEnv(t, envConfig{})
	name := addResults(t, e.sim, size)
	want := digest(t, e.sim, name)

	runtime.GC()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	d, err := e.client.Download(testContext(t), name)
	if err != nil {
		t.Fatalf("Download: %v", err)
	}
	n, sum, err := readDigest(d.Body)
	if err != nil {
		t.Fatal(err)
	}
	d.Body.Close()
	runtime.ReadMemStats(&after)

	if n != want.Size || sum != want.SHA256 || d.Size != want.Size {
		t.Fatalf("downloaded %d bytes (announced %d, sha256 match %v), want %d identical bytes", n, d.Size, sum == want.SHA256, want.Size)
	}
	if !strings.HasPrefix(d.ContentType, "application/jsonl") && !strings.Contains(d.ContentType, "json") {
		t.Errorf("ContentType = %q", d.ContentType)
	}
	t.Logf("allocated %d KiB while streaming %d MiB", (after.TotalAlloc-before.TotalAlloc)>>10, size>>20)
	// Client and simulator together; buffering the file would take 50 MiB.
	if alloc := after.TotalAlloc - before.TotalAlloc; alloc > 4<<20 {
		t.Errorf("allocated %d MiB to stream %d MiB", alloc>>20, size>>20)
	}
}

func TestDownload_resumesTruncated(t *testing.T) {
	t.Parallel()
	const size = 3<<20 + 5
	cases := []struct {
		name  string
		after int64
	}{
		{"before_first_byte", 0},
		{"after_one_byte", 1},
		{"mid_file", 1<<20 + 3},
		{"one_byte_short", size - 1},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var mu sync.Mutex
			var ranges []string
			e := newEnv(t, envConfig{wrapDownloads: handlerFunc(func(next http.Handler, w http.ResponseWriter, r *http.Request) {
				mu.Lock()
				ranges = append(ranges, r.Header.Get("Range"))
				mu.Unlock()
				next.ServeHTTP(w, r)
			})})
			name := addResults(t, e.sim, size)
			if err := e.sim.TruncateNext(1, tc.after); err != nil {
				t.Fatal(err)
			}
			downloadAll(t, e, name, name)
			// The resumption asks for the rest only (nothing is left to
			// ask for when no byte arrived).
			want := []string{"", "bytes=" + strconv.FormatInt(tc.after, 10) + "-"}
			if tc.after == 0 {
				want[1] = ""
			}
			mu.Lock()
			defer mu.Unlock()
			if diff := cmp.Diff(want, ranges); diff != "" {
				t.Errorf("Range headers (-want +got):\n%s", diff)
			}
		})
	}
}

// stripRange makes the server ignore Range headers, as a server without
// range support does: resumes get the whole file again.
func stripRange(next http.Handler, w http.ResponseWriter, r *http.Request) {
	r.Header.Del("Range")
	r.Header.Del("If-Range")
	next.ServeHTTP(w, r)
}

func TestDownload_resumeWithoutRangeSupport(t *testing.T) {
	t.Parallel()
	const size = 2<<20 + 11
	e := newEnv(t, envConfig{wrapDownloads: handlerFunc(stripRange)})
	name := addResults(t, e.sim, size)
	// Every full response is cut at the same place until the third: the
	// second is cut again while the client skips what it already has.
	if err := e.sim.TruncateNext(2, 1<<20); err != nil {
		t.Fatal(err)
	}
	downloadAll(t, e, name, name)
	if got := e.sim.Requests(geminisim.RouteDownload); got != 3 {
		t.Errorf("download requests = %d, want 3", got)
	}
}

// TestDownload_resumeFailures checks that a download that cannot be
// completed ends in an error, never in a short body.
func TestDownload_resumeFailures(t *testing.T) {
	t.Parallel()
	const (
		size  = 1<<20 + 1
		after = 100_000
	)
	cases := []struct {
		name       string
		wrap       func(http.Handler) http.Handler
		maxResumes int
		failStatus int // injected on every request after the first
		transient  bool
		wantAPI    int
	}{
		{name: "server_unavailable", failStatus: 503, transient: true, wantAPI: 503},
		{name: "file_gone", failStatus: 404, transient: false, wantAPI: 404},
		{name: "resuming_disabled", maxResumes: -1, transient: true},
		{name: "wrong_resume_offset", transient: true, wrap: handlerFunc(func(next http.Handler, w http.ResponseWriter, r *http.Request) {
			// Serve the range from one byte too early.
			if v, ok := strings.CutPrefix(r.Header.Get("Range"), "bytes="); ok {
				start, _ := strconv.ParseInt(strings.TrimSuffix(v, "-"), 10, 64)
				r.Header.Set("Range", "bytes="+strconv.FormatInt(start-1, 10)+"-")
			}
			next.ServeHTTP(w, r)
		})},
		{name: "different_content_on_restart", transient: true, wrap: handlerFunc(func(next http.Handler, w http.ResponseWriter, r *http.Request) {
			if r.Header.Get("Range") != "" {
				// A full response of another length, as if the file changed.
				w.Header().Set("Content-Length", "10")
				w.WriteHeader(http.StatusOK)
				_, _ = w.Write([]byte("0123456789"))
				return
			}
			next.ServeHTTP(w, r)
		})},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t, envConfig{wrapDownloads: tc.wrap, client: gemini.Options{MaxResumes: tc.maxResumes}})
			name := addResults(t, e.sim, size)
			if err := e.sim.TruncateNext(1, after); err != nil {
				t.Fatal(err)
			}
			d, err := e.client.Download(testContext(t), name)
			if err != nil {
				t.Fatalf("Download: %v", err)
			}
			defer d.Body.Close()
			if tc.failStatus != 0 {
				if err := e.sim.FailNext(geminisim.RouteDownload, 100, tc.failStatus); err != nil {
					t.Fatal(err)
				}
			}
			n, err := io.Copy(io.Discard, d.Body)
			if err == nil {
				t.Fatalf("read %d of %d bytes without an error", n, size)
			}
			if n >= size {
				t.Errorf("read %d bytes, want fewer than %d", n, size)
			}
			if !errors.Is(err, gemini.ErrIncomplete) {
				t.Errorf("error %v does not wrap ErrIncomplete", err)
			}
			if got := gemini.IsTransient(err); got != tc.transient {
				t.Errorf("IsTransient(%v) = %v, want %v", err, got, tc.transient)
			}
			if tc.wantAPI != 0 {
				wantAPIError(t, err, tc.wantAPI, map[int]string{503: "UNAVAILABLE", 404: "NOT_FOUND"}[tc.wantAPI])
			}
			// The error sticks.
			if _, again := d.Body.Read(make([]byte, 1)); again == nil || errors.Is(again, io.EOF) {
				t.Errorf("second read returned %v, want the error again", again)
			}
			assertNoSecret(t, err)
		})
	}
}

// stallOnce serves the first download request up to after bytes and then
// sends nothing more until the client gives up.
type stallOnce struct {
	after int64
	used  atomic.Bool
}

func (s *stallOnce) wrap(next http.Handler, w http.ResponseWriter, r *http.Request) {
	if s.used.Swap(true) {
		next.ServeHTTP(w, r)
		return
	}
	next.ServeHTTP(&stallingWriter{ResponseWriter: w, left: s.after, done: r.Context().Done()}, r)
}

// stallingWriter passes left bytes through, then blocks until done.
type stallingWriter struct {
	http.ResponseWriter
	left int64
	done <-chan struct{}
}

func (w *stallingWriter) Write(p []byte) (int, error) {
	if int64(len(p)) <= w.left {
		w.left -= int64(len(p))
		return w.ResponseWriter.Write(p)
	}
	n, _ := w.ResponseWriter.Write(p[:w.left])
	w.left = 0
	_ = http.NewResponseController(w.ResponseWriter).Flush()
	<-w.done
	return n, http.ErrAbortHandler
}

func TestDownload_resumesStalled(t *testing.T) {
	t.Parallel()
	stall := &stallOnce{after: 300_000}
	e := newEnv(t, envConfig{wrapDownloads: handlerFunc(stall.wrap), client: gemini.Options{Timeout: 300 * time.Millisecond}})
	name := addResults(t, e.sim, 1<<20+7)
	start := time.Now()
	downloadAll(t, e, name, name)
	if got := e.sim.Requests(geminisim.RouteDownload); got != 2 {
		t.Errorf("download requests = %d, want 2 (one stalled, one resumed)", got)
	}
	if elapsed := time.Since(start); elapsed > 5*time.Second {
		t.Errorf("took %v to notice a stall with a 300ms timeout", elapsed)
	}
}

func TestDownload_openErrors(t *testing.T) {
	t.Parallel()
	t.Run("unavailable_then_ok", func(t *testing.T) {
		t.Parallel()
		e := newEnv(t, envConfig{})
		name := addResults(t, e.sim, 10_000)
		if err := e.sim.FailNext(geminisim.RouteDownload, 2, 503); err != nil {
			t.Fatal(err)
		}
		downloadAll(t, e, name, name)
		if got := e.sim.Requests(geminisim.RouteDownload); got != 3 {
			t.Errorf("download requests = %d, want 3", got)
		}
	})
	t.Run("not_found", func(t *testing.T) {
		t.Parallel()
		e := newEnv(t, envConfig{})
		_, err := e.client.Download(testContext(t), "files/doesnotexist")
		if gemini.IsTransient(err) {
			t.Errorf("error %v, want permanent", err)
		}
		wantAPIError(t, err, 404, "NOT_FOUND")
		assertNoSecret(t, err)
	})
	t.Run("headers_timeout", func(t *testing.T) {
		t.Parallel()
		e := newEnv(t, envConfig{client: gemini.Options{Timeout: 50 * time.Millisecond}})
		name := addResults(t, e.sim, 10_000)
		if err := e.sim.SetDelay(geminisim.RouteDownload, 5*time.Second); err != nil {
			t.Fatal(err)
		}
		_, err := e.client.Download(testContext(t), name)
		if !gemini.IsTransient(err) || !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("error %v, want a transient deadline error", err)
		}
		if got := e.sim.Requests(geminisim.RouteDownload); got != int64(fastRetry.Attempts) {
			t.Errorf("download requests = %d, want %d", got, fastRetry.Attempts)
		}
	})
}

func TestDownload_refusedReferences(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envConfig{})
	host := strings.TrimPrefix(e.ts.URL, "http://")
	port := host[strings.LastIndex(host, ":")+1:]
	cases := []struct {
		name string
		ref  string
		want error
	}{
		{"empty", "", gemini.ErrInvalidID},
		{"bad_file_name", "files/../batches/1", gemini.ErrInvalidID},
		{"bare_id", "abc", gemini.ErrInvalidID},
		{"gcs_uri", "gs://bucket/results.jsonl", gemini.ErrInvalidID},
		{"relative_path", "/download/v1beta/files/abc:download?alt=media", gemini.ErrInvalidID},
		{"ftp", "ftp://" + host + "/x", gemini.ErrInvalidID},
		{"userinfo", "http://user:" + testAPIKey + "@" + host + "/x", gemini.ErrInvalidID},
		{"foreign_host", "https://evil.example.com/v1beta/files/abc:download?alt=media&key=" + testAPIKey, gemini.ErrForeignHost},
		{"foreign_port", "http://127.0.0.1:1/v1beta/files/abc:download?alt=media", gemini.ErrForeignHost},
		{"other_scheme", "https://" + host + "/v1beta/files/abc:download?alt=media", gemini.ErrForeignHost},
		{"lookalike_host", "http://127.0.0.1.evil.example.com:" + port + "/x?key=" + testAPIKey, gemini.ErrForeignHost},
		{"same_machine_other_name", "http://localhost:" + port + "/x", gemini.ErrForeignHost},
	}
	for _, tc := range cases {
		_, err := e.client.Download(testContext(t), tc.ref)
		if !errors.Is(err, tc.want) || gemini.IsTransient(err) {
			t.Errorf("%s: error %v, want a permanent %v", tc.name, err, tc.want)
		}
		assertNoSecret(t, err)
	}
	if n := e.sim.Requests(geminisim.AnyRoute); n != 0 {
		t.Errorf("the simulator received %d requests, want 0", n)
	}
}

func TestDownload_redirects(t *testing.T) {
	t.Parallel()
	var foreignHits atomic.Int64
	foreign := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		foreignHits.Add(1)
		_, _ = w.Write([]byte("not the file"))
	}))
	t.Cleanup(foreign.Close)

	var mu sync.Mutex
	var seen []*http.Request
	e := newEnv(t, envConfig{wrap: handlerFunc(func(next http.Handler, w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		seen = append(seen, r.Clone(r.Context()))
		mu.Unlock()
		switch {
		case strings.HasPrefix(r.URL.Path, "/away/"):
			http.Redirect(w, r, foreign.URL+"/steal?"+r.URL.RawQuery, http.StatusFound)
		case strings.HasPrefix(r.URL.Path, "/home/"):
			http.Redirect(w, r, "/download/v1beta/"+strings.TrimPrefix(r.URL.Path, "/home/")+"?alt=media", http.StatusFound)
		default:
			next.ServeHTTP(w, r)
		}
	})})
	name := addResults(t, e.sim, 200_000)

	t.Run("same_host_followed", func(t *testing.T) {
		downloadAll(t, e, e.ts.URL+"/home/"+name+":download?key="+testAPIKey, name)
	})
	t.Run("other_host_refused", func(t *testing.T) {
		_, err := e.client.Download(testContext(t), e.ts.URL+"/away/"+name)
		if !errors.Is(err, gemini.ErrForeignHost) || gemini.IsTransient(err) {
			t.Errorf("error %v, want a permanent ErrForeignHost", err)
		}
		assertNoSecret(t, err)
		if n := foreignHits.Load(); n != 0 {
			t.Errorf("the other host received %d requests", n)
		}
	})
	t.Run("api_key_only_in_header", func(t *testing.T) {
		mu.Lock()
		defer mu.Unlock()
		if len(seen) == 0 {
			t.Fatal("no requests seen")
		}
		for _, r := range seen {
			if strings.Contains(r.URL.String(), testAPIKey) {
				t.Errorf("request URL carries the API key: %s", r.URL.Path)
			}
			if r.Header.Get("x-goog-api-key") != testAPIKey {
				t.Errorf("request to %s lacks the x-goog-api-key header", r.URL.Path)
			}
		}
	})
}

func TestDownload_close(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envConfig{})
	name := addResults(t, e.sim, 500_000)
	d, err := e.client.Download(testContext(t), name)
	if err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 1000)
	if _, err := io.ReadFull(d.Body, buf); err != nil {
		t.Fatal(err)
	}
	if err := d.Body.Close(); err != nil {
		t.Fatal(err)
	}
	if n, err := d.Body.Read(buf); n != 0 || err == nil || errors.Is(err, io.EOF) {
		t.Errorf("Read after Close = %d, %v; want an error other than EOF", n, err)
	}
	if !bytes.Equal(buf[:1], []byte("{")) {
		t.Errorf("content starts with %q, want a JSON line", buf[:1])
	}
}

// recordHeaders wraps a handler and records the x-goog-api-key header of
// every request it serves.
type recordHeaders struct {
	mu   sync.Mutex
	keys []string
}

func (h *recordHeaders) wrap(next http.Handler, w http.ResponseWriter, r *http.Request) {
	h.mu.Lock()
	h.keys = append(h.keys, r.Header.Get("x-goog-api-key"))
	h.mu.Unlock()
	next.ServeHTTP(w, r)
}

func (h *recordHeaders) seen() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]string(nil), h.keys...)
}

// TestDownload_downloadHost checks the redirect that the API answers a
// download with: followed to an allowed download host without the API key,
// refused anywhere else, and taken again on every resume.
func TestDownload_downloadHost(t *testing.T) {
	t.Parallel()
	t.Run("allowed_without_key", func(t *testing.T) {
		t.Parallel()
		var rec recordHeaders
		e := newEnv(t, envConfig{wrapDownloads: handlerFunc(rec.wrap)})
		name := addResults(t, e.sim, 300_001)
		downloadAll(t, e, name, name)
		if got := rec.seen(); !cmp.Equal(got, []string{""}) {
			t.Errorf("the download host saw API key headers %q, want one request without", got)
		}
		if a, d := e.sim.Requests(geminisim.RouteDownload), e.sim.Requests(geminisim.RouteDownloadHost); a != 1 || d != 1 {
			t.Errorf("requests: API %d, download host %d; want 1 and 1", a, d)
		}
	})
	t.Run("resume_redirects_again", func(t *testing.T) {
		t.Parallel()
		var rec recordHeaders
		e := newEnv(t, envConfig{wrapDownloads: handlerFunc(rec.wrap)})
		name := addResults(t, e.sim, 1<<20+9)
		if err := e.sim.TruncateNext(2, 200_000); err != nil {
			t.Fatal(err)
		}
		downloadAll(t, e, name, name)
		// A truncation hits full responses only: the first, then the
		// resume is a Range request served whole.
		if a, d := e.sim.Requests(geminisim.RouteDownload), e.sim.Requests(geminisim.RouteDownloadHost); a != 2 || d != 2 {
			t.Errorf("requests: API %d, download host %d; want 2 and 2", a, d)
		}
		for _, k := range rec.seen() {
			if k != "" {
				t.Error("the download host received the API key")
			}
		}
	})
	t.Run("not_allowed", func(t *testing.T) {
		t.Parallel()
		e := newEnv(t, envConfig{client: gemini.Options{DownloadHosts: []string{"storage.googleapis.com"}}})
		name := addResults(t, e.sim, 1000)
		_, err := e.client.Download(testContext(t), name)
		if !errors.Is(err, gemini.ErrForeignHost) || gemini.IsTransient(err) {
			t.Fatalf("error %v, want a permanent ErrForeignHost", err)
		}
		if strings.Contains(err.Error(), "sig=") {
			t.Errorf("error %q reveals the signed URL's query", err)
		}
		assertNoSecret(t, err)
		if n := e.sim.Requests(geminisim.RouteDownloadHost); n != 0 {
			t.Errorf("the download host received %d requests, want 0", n)
		}
		if n := e.sim.Requests(geminisim.RouteDownload); n != 1 {
			t.Errorf("download requests = %d, want 1 (a refusal is not retried)", n)
		}
	})
	t.Run("loopback_suffix_not_enough", func(t *testing.T) {
		t.Parallel()
		// Plain http is allowed for a loopback host named exactly only.
		e := newEnv(t, envConfig{client: gemini.Options{DownloadHosts: []string{".0.0.1"}}})
		name := addResults(t, e.sim, 1000)
		if _, err := e.client.Download(testContext(t), name); !errors.Is(err, gemini.ErrForeignHost) {
			t.Fatalf("error %v, want ErrForeignHost", err)
		}
	})
	t.Run("direct_uri_without_key", func(t *testing.T) {
		t.Parallel()
		var rec recordHeaders
		host := httptest.NewServer(handlerFunc(rec.wrap)(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			_, _ = w.Write([]byte("video bytes"))
		})))
		t.Cleanup(host.Close)
		e := newEnv(t, envConfig{client: gemini.Options{DownloadHosts: []string{strings.TrimPrefix(host.URL, "http://")}}})
		d, err := e.client.Download(testContext(t), host.URL+"/v.mp4?key="+testAPIKey)
		if err != nil {
			t.Fatal(err)
		}
		defer d.Body.Close()
		if b, err := io.ReadAll(d.Body); err != nil || string(b) != "video bytes" {
			t.Errorf("read %q, %v", b, err)
		}
		if got := rec.seen(); !cmp.Equal(got, []string{""}) {
			t.Errorf("the download host saw API key headers %q, want one request without", got)
		}
	})
	t.Run("metadata_never_leaves_the_api", func(t *testing.T) {
		t.Parallel()
		var rec recordHeaders
		host := httptest.NewServer(handlerFunc(rec.wrap)(http.NotFoundHandler()))
		t.Cleanup(host.Close)
		e := newEnv(t, envConfig{
			client: gemini.Options{DownloadHosts: []string{strings.TrimPrefix(host.URL, "http://")}},
			wrap: handlerFunc(func(_ http.Handler, w http.ResponseWriter, r *http.Request) {
				http.Redirect(w, r, host.URL+r.URL.Path, http.StatusFound)
			}),
		})
		_, err := e.client.GetBatch(testContext(t), "batches/abc")
		if !errors.Is(err, gemini.ErrForeignHost) || gemini.IsTransient(err) {
			t.Errorf("error %v, want a permanent ErrForeignHost", err)
		}
		if n := len(rec.seen()); n != 0 {
			t.Errorf("the other host received %d requests", n)
		}
	})
	t.Run("redirects_bounded", func(t *testing.T) {
		t.Parallel()
		var hops atomic.Int64
		e := newEnv(t, envConfig{wrap: handlerFunc(func(_ http.Handler, w http.ResponseWriter, r *http.Request) {
			hops.Add(1)
			http.Redirect(w, r, "/loop/"+strconv.FormatInt(hops.Load(), 10), http.StatusFound)
		})})
		_, err := e.client.Download(testContext(t), "files/abc")
		if err == nil || gemini.IsTransient(err) || !errors.Is(err, gemini.ErrUnexpectedResponse) {
			t.Fatalf("error %v, want a permanent ErrUnexpectedResponse", err)
		}
		if n := hops.Load(); n != 10 {
			t.Errorf("requests = %d, want 10: the 10th redirect is not followed", n)
		}
	})
}
