package gemini_test

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/geminihooks/geminihooks/internal/geminisim"
	"github.com/geminihooks/geminihooks/pkg/gemini"
)

// testAPIKey looks like a real key, so that a leak is easy to spot.
const testAPIKey = "AIzaSyTEST-geminihooks_0123456789abcdefg"

// testRSAKey is one signing key for every simulator of the package's tests:
// the simulator signs webhooks, which these tests do not use, and
// generating a key per simulator would dominate their run time.
var testRSAKey = sync.OnceValues(func() (*rsa.PrivateKey, error) { return rsa.GenerateKey(rand.Reader, 2048) })

// fixedNow is the simulator's clock in tests that compare timestamps.
var fixedNow = time.Date(2026, 5, 4, 12, 30, 0, 0, time.UTC)

// env is a simulator served on loopback, its download host on a second
// listener, and a client pointed at them.
type env struct {
	sim    *geminisim.Server
	ts     *httptest.Server
	dl     *httptest.Server // the download host
	client *gemini.Client
}

// envConfig customizes newEnv.
type envConfig struct {
	sim    geminisim.Options
	client gemini.Options
	// wrap, if set, wraps the simulator's handler (to alter requests or
	// responses on their way).
	wrap func(http.Handler) http.Handler
	// wrapDownloads, if set, wraps the download host's handler, which
	// serves the bytes.
	wrapDownloads func(http.Handler) http.Handler
}

// fastRetry retries quickly, so that tests of retries take milliseconds.
var fastRetry = gemini.RetryPolicy{Attempts: 4, Base: time.Millisecond, Max: 20 * time.Millisecond}

// newEnv starts a simulator and returns a client for it. Unset options get
// test defaults: the test API key, fast retries, a 10s timeout.
func newEnv(t *testing.T, cfg envConfig) *env {
	t.Helper()
	key, err := testRSAKey()
	if err != nil {
		t.Fatal(err)
	}
	if cfg.sim.APIKey == "" {
		cfg.sim.APIKey = testAPIKey
	}
	cfg.sim.SigningKey = key
	dl := httptest.NewUnstartedServer(nil)
	t.Cleanup(dl.Close)
	cfg.sim.DownloadURL = "http://" + dl.Listener.Addr().String()
	sim, err := geminisim.New(cfg.sim)
	if err != nil {
		t.Fatalf("geminisim.New: %v", err)
	}
	dl.Config.Handler = sim.DownloadHandler()
	if cfg.wrapDownloads != nil {
		dl.Config.Handler = cfg.wrapDownloads(dl.Config.Handler)
	}
	dl.Start()
	var h http.Handler = sim
	if cfg.wrap != nil {
		h = cfg.wrap(h)
	}
	ts := httptest.NewServer(h)
	t.Cleanup(ts.Close)
	opts := cfg.client
	if opts.BaseURL == "" {
		opts.BaseURL = ts.URL
	}
	if opts.DownloadHosts == nil {
		opts.DownloadHosts = []string{dl.Listener.Addr().String()}
	}
	if opts.APIKey == "" {
		opts.APIKey = testAPIKey
	}
	if opts.Retry == (gemini.RetryPolicy{}) {
		opts.Retry = fastRetry
	}
	if opts.Timeout == 0 {
		opts.Timeout = 10 * time.Second
	}
	c, err := gemini.New(t.Context(), opts)
	if err != nil {
		t.Fatalf("gemini.New: %v", err)
	}
	return &env{sim: sim, ts: ts, dl: dl, client: c}
}

// testContext returns a context that ends with the test or after a minute.
func testContext(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	t.Cleanup(cancel)
	return ctx
}

// rawGet fetches path from the simulator directly, with the test key, and
// returns the body: what the API sent, for comparing with what the client
// kept.
func rawGet(t *testing.T, e *env, path string) []byte {
	t.Helper()
	req, err := http.NewRequestWithContext(testContext(t), http.MethodGet, e.ts.URL+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("x-goog-api-key", testAPIKey)
	resp, err := e.ts.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %d %v", path, resp.StatusCode, err)
	}
	return body
}

// digest returns the simulator's digest of the named file.
func digest(t *testing.T, sim *geminisim.Server, name string) geminisim.Digest {
	t.Helper()
	c, ok := sim.File(name)
	if !ok {
		t.Fatalf("no file %s on the simulator", name)
	}
	d, err := geminisim.DigestOf(c)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// readDigest streams r through SHA-256 with a small buffer and returns its
// length and hash.
func readDigest(r io.Reader) (int64, [sha256.Size]byte, error) {
	h := sha256.New()
	n, err := io.CopyBuffer(h, r, make([]byte, 32<<10))
	var sum [sha256.Size]byte
	copy(sum[:], h.Sum(nil))
	return n, sum, err
}

// assertNoSecret fails the test if err's message reveals the API key.
func assertNoSecret(t *testing.T, err error) {
	t.Helper()
	if err == nil {
		return
	}
	for _, s := range []string{err.Error(), fmt.Sprintf("%v", err), fmt.Sprintf("%+v", err), fmt.Sprintf("%q", err)} {
		if strings.Contains(s, testAPIKey) {
			t.Errorf("error reveals the API key: %s", s)
		}
	}
}

// wantAPIError checks that err carries an APIError with the given HTTP
// status and google.rpc code.
func wantAPIError(t *testing.T, err error, status int, code string) *gemini.APIError {
	t.Helper()
	apiErr, ok := errors.AsType[*gemini.APIError](err)
	if !ok {
		t.Fatalf("error %v is not an *APIError", err)
	}
	if apiErr.Status != status || apiErr.Code != code {
		t.Errorf("APIError = %d %s, want %d %s", apiErr.Status, apiErr.Code, status, code)
	}
	return apiErr
}

// handlerFunc adapts a function to a wrap option.
func handlerFunc(f func(next http.Handler, w http.ResponseWriter, r *http.Request)) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { f(next, w, r) })
	}
}
