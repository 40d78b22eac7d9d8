package gemini_test

import (
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/geminihooks/geminihooks/pkg/gemini"
	"github.com/geminihooks/geminihooks/pkg/geminisim"
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
