package gemini_test

import (
	"errors"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/geminihooks/geminihooks/internal/geminisim"
	"github.com/geminihooks/geminihooks/pkg/gemini"
)

func TestNew(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name    string
		opts    gemini.Options
		wantErr bool
	}{
		{"default_base_url", gemini.Options{APIKey: testAPIKey}, false},
		{"https", gemini.Options{APIKey: testAPIKey, BaseURL: "https://gemini.example.com"}, false},
		{"https_trailing_slash", gemini.Options{APIKey: testAPIKey, BaseURL: "https://gemini.example.com/"}, false},
		{"loopback_ipv4", gemini.Options{APIKey: testAPIKey, BaseURL: "http://127.0.0.1:8080"}, false},
		{"loopback_ipv6", gemini.Options{APIKey: testAPIKey, BaseURL: "http://[::1]:8080"}, false},
		{"localhost", gemini.Options{APIKey: testAPIKey, BaseURL: "http://localhost:8080"}, false},
		{"missing_key", gemini.Options{}, true},
		{"key_with_space", gemini.Options{APIKey: "abc def"}, true},
		{"key_with_newline", gemini.Options{APIKey: "abc\r\nX-Injected: 1"}, true},
		{"plain_http_remote", gemini.Options{APIKey: testAPIKey, BaseURL: "http://generativelanguage.googleapis.com"}, true},
		{"other_scheme", gemini.Options{APIKey: testAPIKey, BaseURL: "ftp://127.0.0.1"}, true},
		{"relative", gemini.Options{APIKey: testAPIKey, BaseURL: "generativelanguage.googleapis.com"}, true},
		{"with_path", gemini.Options{APIKey: testAPIKey, BaseURL: "https://gemini.example.com/v1beta"}, true},
		{"with_query_key", gemini.Options{APIKey: testAPIKey, BaseURL: "https://gemini.example.com/?key=" + testAPIKey}, true},
		{"with_userinfo", gemini.Options{APIKey: testAPIKey, BaseURL: "https://me:" + testAPIKey + "@gemini.example.com"}, true},
		{"negative_timeout", gemini.Options{APIKey: testAPIKey, Timeout: -time.Second}, true},
		{"negative_attempts", gemini.Options{APIKey: testAPIKey, Retry: gemini.RetryPolicy{Attempts: -1}}, true},
		{"download_hosts", gemini.Options{APIKey: testAPIKey, DownloadHosts: []string{"storage.googleapis.com", ".googleusercontent.com", "127.0.0.1:9000", "[::1]:9000"}}, false},
		{"download_host_tld_suffix", gemini.Options{APIKey: testAPIKey, DownloadHosts: []string{".com"}}, true},
		{"download_host_wildcard", gemini.Options{APIKey: testAPIKey, DownloadHosts: []string{"*.googleusercontent.com"}}, true},
		{"download_host_url", gemini.Options{APIKey: testAPIKey, DownloadHosts: []string{"https://storage.googleapis.com"}}, true},
		{"download_host_path", gemini.Options{APIKey: testAPIKey, DownloadHosts: []string{"storage.googleapis.com/bucket"}}, true},
		{"download_host_blank", gemini.Options{APIKey: testAPIKey, DownloadHosts: []string{" "}}, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			c, err := gemini.New(t.Context(), tc.opts)
			if tc.wantErr {
				if err == nil || c != nil {
					t.Fatalf("New = %v, %v; want an error", c, err)
				}
				assertNoSecret(t, err)
				return
			}
			if err != nil || c == nil {
				t.Fatalf("New: %v", err)
			}
		})
	}
}

func TestNew_keepsCallersClient(t *testing.T) {
	t.Parallel()
	var redirects int
	hc := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error {
		redirects++
		return errors.New("caller's policy refused")
	}}
	e := newEnv(t, envConfig{
		client: gemini.Options{HTTPClient: hc, Retry: gemini.RetryPolicy{Attempts: 1}},
		wrap: handlerFunc(func(next http.Handler, w http.ResponseWriter, r *http.Request) {
			if strings.HasPrefix(r.URL.Path, "/home/") {
				http.Redirect(w, r, "/download/v1beta/"+strings.TrimPrefix(r.URL.Path, "/home/")+"?alt=media", http.StatusFound)
				return
			}
			next.ServeHTTP(w, r)
		}),
	})
	name, err := e.sim.AddFile(geminisim.StaticFile{Data: []byte("x")})
	if err != nil {
		t.Fatal(err)
	}
	// A same-host redirect passes the client's own rule, then the caller's.
	if _, err := e.client.Download(testContext(t), e.ts.URL+"/home/"+name+":download"); err == nil || redirects != 1 {
		t.Errorf("error %v after %d calls of the caller's CheckRedirect, want its refusal", err, redirects)
	}
	// The caller's client keeps its own rule, without the foreign-host one.
	foreign, err := http.NewRequest(http.MethodGet, "https://elsewhere.example.com/", nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := hc.CheckRedirect(foreign, nil); errors.Is(err, gemini.ErrForeignHost) || redirects != 2 {
		t.Errorf("the caller's client was modified: its CheckRedirect returned %v", err)
	}
}

// TestErrors_neverRevealAPIKey provokes every kind of failure and scans the
// errors for the key. Some inputs carry the key themselves, as a careless
// caller or a hostile webhook might.
func TestErrors_neverRevealAPIKey(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envConfig{client: gemini.Options{Timeout: 100 * time.Millisecond}})
	ctx := testContext(t)
	batch, err := e.sim.CreateBatch(geminisim.BatchSpec{})
	if err != nil {
		t.Fatal(err)
	}
	file := addResults(t, e.sim, 300_000)
	var errs []error
	collect := func(_ any, err error) {
		if err == nil {
			t.Error("expected an error")
			return
		}
		errs = append(errs, err)
	}
	collect(e.client.GetBatch(ctx, "batches/"+testAPIKey+"x"))
	collect(e.client.GetBatch(ctx, testAPIKey+"?"))
	collect(e.client.GetInteraction(ctx, testAPIKey))
	collect(e.client.GetVideoOperation(ctx, "models/"+testAPIKey+"/operations/x"))
	collect(e.client.Download(ctx, "https://evil.example.com/f?key="+testAPIKey))
	collect(e.client.Download(ctx, e.ts.URL+"/nope?key="+testAPIKey))
	collect(e.client.Download(ctx, "files/"+testAPIKey+"/x"))
	_ = e.sim.FailNext(geminisim.AnyRoute, 100, 503)
	collect(e.client.GetBatch(ctx, batch))
	collect(e.client.GetInteraction(ctx, "nope"))
	collect(e.client.GetVideoOperation(ctx, "models/veo-3.0-generate-001/operations/nope"))
	collect(e.client.Download(ctx, file))
	e.sim.ResetFaults()
	_ = e.sim.SetDelay(geminisim.AnyRoute, time.Second)
	collect(e.client.GetBatch(ctx, batch))
	collect(e.client.GetVideoOperation(ctx, "models/veo-3.0-generate-001/operations/nope"))
	e.sim.ResetFaults()
	_ = e.sim.TruncateNext(1, 1000)
	d, err := e.client.Download(ctx, file)
	if err != nil {
		t.Fatal(err)
	}
	_ = e.sim.FailNext(geminisim.RouteDownload, 100, 500)
	_, err = d.Body.Read(make([]byte, 1<<20))
	for err == nil {
		_, err = d.Body.Read(make([]byte, 1<<20))
	}
	collect(nil, err)
	e.ts.Close()
	collect(e.client.GetBatch(ctx, batch))
	collect(e.client.GetVideoOperation(ctx, "models/veo-3.0-generate-001/operations/x"))

	for _, err := range errs {
		assertNoSecret(t, err)
	}
	_, err = gemini.New(ctx, gemini.Options{APIKey: testAPIKey, BaseURL: "http://example.com/?key=" + testAPIKey})
	assertNoSecret(t, err)
}

// TestClient_sendsKeyInHeaderOnly checks every kind of request the client
// makes: the key rides in x-goog-api-key and never in ?key=, which the
// Interactions API refuses next to the header.
func TestClient_sendsKeyInHeaderOnly(t *testing.T) {
	t.Parallel()
	var (
		mu   sync.Mutex
		seen []string
	)
	e := newEnv(t, envConfig{wrap: handlerFunc(func(next http.Handler, w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		seen = append(seen, r.URL.Path)
		mu.Unlock()
		if r.URL.Query().Has("key") || r.Header.Get("x-goog-api-key") != testAPIKey {
			t.Errorf("%s: key in the query %v, header key right %v", r.URL.Path, r.URL.Query().Has("key"), r.Header.Get("x-goog-api-key") == testAPIKey)
		}
		next.ServeHTTP(w, r)
	})})
	ctx := testContext(t)
	batch, err := e.sim.CreateBatch(geminisim.BatchSpec{Results: geminisim.ResultsFile{Size: 4096}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.sim.CompleteBatch(batch); err != nil {
		t.Fatal(err)
	}
	it, err := e.sim.CreateInteraction(geminisim.InteractionSpec{})
	if err != nil {
		t.Fatal(err)
	}
	video, err := e.sim.CreateVideo(geminisim.VideoSpec{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.sim.CompleteVideo(video); err != nil {
		t.Fatal(err)
	}

	b, err := e.client.GetBatch(ctx, batch)
	if err != nil {
		t.Fatalf("GetBatch: %v", err)
	}
	if _, err := e.client.GetInteraction(ctx, it); err != nil {
		t.Fatalf("GetInteraction: %v", err)
	}
	op, err := e.client.GetVideoOperation(ctx, video)
	if err != nil || len(op.Videos) != 1 {
		t.Fatalf("GetVideoOperation: %v %+v", err, op)
	}
	// A key pasted into a download URI is dropped, not sent twice.
	withKey, err := url.Parse(op.Videos[0])
	if err != nil {
		t.Fatal(err)
	}
	q := withKey.Query()
	q.Set("key", testAPIKey)
	withKey.RawQuery = q.Encode()
	for _, ref := range []string{b.ResponsesFile, op.Videos[0], withKey.String()} {
		d, err := e.client.Download(ctx, ref)
		if err != nil {
			t.Fatalf("Download %s: %v", ref, err)
		}
		if _, err := io.Copy(io.Discard, d.Body); err != nil {
			t.Fatalf("Download %s: %v", ref, err)
		}
		d.Body.Close()
	}
	mu.Lock()
	defer mu.Unlock()
	if len(seen) != 6 {
		t.Errorf("requests %v, want one of each kind", seen)
	}
}
