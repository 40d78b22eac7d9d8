package jwks_test

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/lestrrat-go/jwx/v2/jwk"

	"github.com/geminihooks/geminihooks/internal/testenv"
	"github.com/geminihooks/geminihooks/pkg/gemini"
	"github.com/geminihooks/geminihooks/pkg/jwks"
	"github.com/geminihooks/geminihooks/pkg/signature"
)

// rsaKeys are generated once: RSA key generation dominates the test time.
var rsaKeys = sync.OnceValue(func() []*rsa.PrivateKey {
	keys := make([]*rsa.PrivateKey, 3)
	for i := range keys {
		k, err := rsa.GenerateKey(rand.Reader, 2048)
		if err != nil {
			panic(err)
		}
		keys[i] = k
	}
	return keys
})

// publicJWK returns the public half of the i-th test key as a JWK.
func publicJWK(t *testing.T, i int, kid, use string) jwk.Key {
	t.Helper()
	return toJWK(t, &rsaKeys()[i].PublicKey, kid, use)
}

func toJWK(t *testing.T, raw any, kid, use string) jwk.Key {
	t.Helper()
	k, err := jwk.FromRaw(raw)
	if err != nil {
		t.Fatalf("jwk.FromRaw: %v", err)
	}
	if kid != "" {
		if err := k.Set(jwk.KeyIDKey, kid); err != nil {
			t.Fatalf("set kid: %v", err)
		}
	}
	if use != "" {
		if err := k.Set(jwk.KeyUsageKey, use); err != nil {
			t.Fatalf("set use: %v", err)
		}
	}
	return k
}

func setJSON(t *testing.T, keys ...jwk.Key) []byte {
	t.Helper()
	set := jwk.NewSet()
	for _, k := range keys {
		if err := set.AddKey(k); err != nil {
			t.Fatalf("AddKey: %v", err)
		}
	}
	b, err := json.Marshal(set)
	if err != nil {
		t.Fatalf("marshal set: %v", err)
	}
	return b
}

// server serves a replaceable JWKS response and counts requests.
type server struct {
	*httptest.Server
	hits atomic.Int64

	mu     sync.Mutex
	status int
	body   []byte
	header http.Header
	gate   chan struct{} // if non-nil, requests wait for it to be closed
}

func newServer(t *testing.T, body []byte) *server {
	t.Helper()
	s := &server{status: http.StatusOK, body: body}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.hits.Add(1)
		s.mu.Lock()
		status, body, header, gate := s.status, s.body, s.header, s.gate
		s.mu.Unlock()
		if gate != nil {
			<-gate
		}
		for k, v := range header {
			w.Header()[k] = v
		}
		w.WriteHeader(status)
		_, _ = w.Write(body)
	}))
	t.Cleanup(s.Close)
	return s
}

func (s *server) serve(status int, body []byte, header http.Header) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.status, s.body, s.header = status, body, header
}

func (s *server) setGate(g chan struct{}) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.gate = g
}

// clock is a manually advanced time source.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock { return &clock{t: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

func newCache(t *testing.T, url string, clk *clock, opts jwks.Options) *jwks.Cache {
	t.Helper()
	opts.Now = clk.Now
	c, err := jwks.New(url, opts)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return c
}

// wantKey asserts that LookupKey finds kid and returns the public key want.
func wantKey(t *testing.T, c *jwks.Cache, kid string, want jwk.Key) {
	t.Helper()
	got, err := c.LookupKey(t.Context(), kid)
	if err != nil {
		t.Fatalf("LookupKey(%q): %v", kid, err)
	}
	if !jwk.Equal(got, want) {
		t.Fatalf("LookupKey(%q) returned a different key", kid)
	}
	if priv, err := jwk.IsPrivateKey(got); err != nil || priv {
		t.Fatalf("LookupKey(%q) returned a private key (err %v)", kid, err)
	}
}

// wantErr asserts that LookupKey fails for kid with an error wrapping target
// and not wrapping notTarget.
func wantErr(t *testing.T, c *jwks.Cache, kid string, target, notTarget error) {
	t.Helper()
	_, err := c.LookupKey(t.Context(), kid)
	if !errors.Is(err, target) || errors.Is(err, notTarget) {
		t.Fatalf("LookupKey(%q) error = %v; want one wrapping %q and not %q", kid, err, target, notTarget)
	}
}

func wantHits(t *testing.T, s *server, want int64) {
	t.Helper()
	if got := s.hits.Load(); got != want {
		t.Fatalf("server was hit %d times; want %d", got, want)
	}
}

func TestNew(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		url     string
		opts    jwks.Options
		wantErr bool
	}{
		{name: "default_url", url: jwks.DefaultURL},
		{name: "http_ipv4_loopback", url: "http://127.0.0.1:8080/jwks.json"},
		{name: "http_ipv6_loopback", url: "http://[::1]:8080/jwks.json"},
		{name: "http_localhost", url: "http://localhost/jwks.json"},
		{name: "http_remote_host", url: "http://example.com/jwks.json", wantErr: true},
		{name: "other_scheme", url: "ftp://example.com/jwks.json", wantErr: true},
		{name: "no_host", url: "https:///jwks.json", wantErr: true},
		{name: "relative", url: "/jwks.json", wantErr: true},
		{name: "empty", url: "", wantErr: true},
		{name: "unparsable", url: "https://exa mple.com/%zz", wantErr: true},
		{name: "negative_interval", url: jwks.DefaultURL, opts: jwks.Options{MinRefreshInterval: -time.Second}, wantErr: true},
		{name: "negative_max_age", url: jwks.DefaultURL, opts: jwks.Options{MaxAge: -time.Second}, wantErr: true},
		{name: "negative_fetch_timeout", url: jwks.DefaultURL, opts: jwks.Options{FetchTimeout: -time.Second}, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c, err := jwks.New(tt.url, tt.opts)
			if gotErr := err != nil; gotErr != tt.wantErr {
				t.Fatalf("New(%q) error = %v; want error: %t", tt.url, err, tt.wantErr)
			}
			if err == nil && c == nil {
				t.Fatal("New returned a nil Cache without error")
			}
		})
	}
}

func TestLookupKey_fetchesLazilyAndCaches(t *testing.T) {
	t.Parallel()
	k0 := publicJWK(t, 0, "k0", "sig")
	k1 := publicJWK(t, 1, "k1", "")
	srv := newServer(t, setJSON(t, k0, k1))
	c := newCache(t, srv.URL, newClock(), jwks.Options{})

	wantHits(t, srv, 0)
	wantKey(t, c, "k0", k0)
	wantKey(t, c, "k1", k1) // use "" is accepted
	wantKey(t, c, "k0", k0)
	wantHits(t, srv, 1)
}

func TestLookupKey_rotation(t *testing.T) {
	t.Parallel()
	k0 := publicJWK(t, 0, "k0", "sig")
	k1 := publicJWK(t, 1, "k1", "sig")
	srv := newServer(t, setJSON(t, k0))
	clk := newClock()
	c := newCache(t, srv.URL, clk, jwks.Options{})
	wantKey(t, c, "k0", k0)

	// The server rotates to k1 and drops k0.
	srv.serve(http.StatusOK, setJSON(t, k1), nil)

	// Within the minimum interval of the first fetch, no refresh happens.
	clk.Advance(jwks.DefaultMinRefreshInterval - time.Second)
	wantErr(t, c, "k1", signature.ErrKeyNotFound, jwks.ErrFetch)
	wantHits(t, srv, 1)

	// Once the interval has passed, the unknown kid triggers a refresh.
	clk.Advance(time.Second)
	wantKey(t, c, "k1", k1)
	wantHits(t, srv, 2)

	// The refreshed set replaced the old one: k0 is no longer accepted.
	wantErr(t, c, "k0", signature.ErrKeyNotFound, jwks.ErrFetch)
	wantHits(t, srv, 2)
}

func TestLookupKey_floodOfUnknownKids(t *testing.T) {
	t.Parallel()
	k0 := publicJWK(t, 0, "k0", "sig")
	srv := newServer(t, setJSON(t, k0))
	gate := make(chan struct{})
	srv.setGate(gate)
	clk := newClock()
	c := newCache(t, srv.URL, clk, jwks.Options{})

	const lookups = 1000
	flood := func(ctxs []context.Context) {
		t.Helper()
		var wg sync.WaitGroup
		errs := make([]error, lookups)
		for i := range errs {
			wg.Go(func() {
				_, errs[i] = c.LookupKey(ctxs[i], fmt.Sprintf("bogus-%d", i))
			})
		}
		wg.Wait()
		for i, err := range errs {
			if !errors.Is(err, signature.ErrKeyNotFound) {
				t.Fatalf("lookup %d: error = %v; want ErrKeyNotFound", i, err)
			}
		}
	}
	plain := slices.Repeat([]context.Context{t.Context()}, lookups)

	// The first fetch is held open until every lookup waits for it; they
	// must all share it.
	ctxs, allWaiting := testenv.WaitingContexts(t.Context(), lookups)
	go func() {
		select {
		case <-allWaiting:
		case <-time.After(time.Minute):
			t.Error("the lookups did not all wait for the fetch")
		}
		close(gate)
	}()
	flood(ctxs)
	wantHits(t, srv, 1)

	// Within the interval, even more bogus kids cause no fetch.
	clk.Advance(jwks.DefaultMinRefreshInterval / 2)
	flood(plain)
	wantHits(t, srv, 1)

	// After it, one more.
	clk.Advance(jwks.DefaultMinRefreshInterval / 2)
	flood(plain)
	wantHits(t, srv, 2)
	wantKey(t, c, "k0", k0)
}

func TestLookupKey_transientErrors(t *testing.T) {
	t.Parallel()
	k0 := publicJWK(t, 0, "k0", "sig")
	ec, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	valid := setJSON(t, k0)
	tests := []struct {
		name   string
		status int
		body   []byte
	}{
		{name: "server_error", status: http.StatusInternalServerError, body: valid},
		{name: "not_found", status: http.StatusNotFound, body: valid},
		{name: "not_json", status: http.StatusOK, body: []byte("<html>")},
		{name: "truncated_json", status: http.StatusOK, body: valid[:len(valid)/2]},
		{name: "empty_set", status: http.StatusOK, body: []byte(`{"keys":[]}`)},
		{name: "only_ec_keys", status: http.StatusOK, body: setJSON(t, toJWK(t, &ec.PublicKey, "ec", "sig"))},
		{name: "only_encryption_keys", status: http.StatusOK, body: setJSON(t, publicJWK(t, 0, "k0", "enc"))},
		{name: "oversized", status: http.StatusOK, body: padTo(valid, jwks.MaxBodySize+1)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			srv := newServer(t, nil)
			srv.serve(tt.status, tt.body, nil)
			var handled atomic.Int64
			c := newCache(t, srv.URL, newClock(), jwks.Options{OnError: func(_ context.Context, err error) {
				if !errors.Is(err, jwks.ErrFetch) {
					t.Errorf("error handler got %v; want ErrFetch", err)
				}
				handled.Add(1)
			}})
			wantErr(t, c, "k0", jwks.ErrFetch, signature.ErrKeyNotFound)
			// Within the interval, the failure is remembered rather than retried.
			wantErr(t, c, "k0", jwks.ErrFetch, signature.ErrKeyNotFound)
			wantHits(t, srv, 1)
			if got := handled.Load(); got != 1 {
				t.Fatalf("error handler called %d times; want 1", got)
			}
		})
	}
}

// padTo pads a JSON document with trailing spaces to exactly n bytes.
func padTo(b []byte, n int) []byte {
	return append(bytes.Clone(b), bytes.Repeat([]byte(" "), n-len(b))...)
}

func TestLookupKey_bodyAtSizeLimitAccepted(t *testing.T) {
	t.Parallel()
	k0 := publicJWK(t, 0, "k0", "sig")
	srv := newServer(t, padTo(setJSON(t, k0), jwks.MaxBodySize))
	c := newCache(t, srv.URL, newClock(), jwks.Options{})
	wantKey(t, c, "k0", k0)
}

func TestLookupKey_serverUnreachable(t *testing.T) {
	t.Parallel()
	srv := newServer(t, nil)
	srv.Close()
	c := newCache(t, srv.URL, newClock(), jwks.Options{})
	wantErr(t, c, "k0", jwks.ErrFetch, signature.ErrKeyNotFound)
}

func TestLookupKey_staleIfError(t *testing.T) {
	t.Parallel()
	k0 := publicJWK(t, 0, "k0", "sig")
	srv := newServer(t, setJSON(t, k0))
	clk := newClock()
	var handled atomic.Int64
	c := newCache(t, srv.URL, clk, jwks.Options{OnError: func(context.Context, error) { handled.Add(1) }})
	wantKey(t, c, "k0", k0)

	srv.serve(http.StatusServiceUnavailable, nil, nil)
	clk.Advance(jwks.DefaultMaxAge)

	// The set is due for a refresh, which fails: k0 is still served.
	wantKey(t, c, "k0", k0)
	wantHits(t, srv, 2)
	if got := handled.Load(); got != 1 {
		t.Fatalf("error handler called %d times; want 1", got)
	}
	// A kid missing from the stale set may be in the set that could not be
	// fetched: that is transient, not "not found".
	wantErr(t, c, "k1", jwks.ErrFetch, signature.ErrKeyNotFound)
	wantHits(t, srv, 2)

	// Once the server recovers, the set is fresh again and the error is gone.
	k1 := publicJWK(t, 1, "k1", "sig")
	srv.serve(http.StatusOK, setJSON(t, k0, k1), nil)
	clk.Advance(jwks.DefaultMinRefreshInterval)
	wantKey(t, c, "k1", k1)
	wantErr(t, c, "k2", signature.ErrKeyNotFound, jwks.ErrFetch)
	wantHits(t, srv, 3)
}

func TestLookupKey_maxAge(t *testing.T) {
	t.Parallel()
	const interval = 30 * time.Second
	tests := []struct {
		name         string
		cacheControl string
		wantAge      time.Duration
	}{
		{name: "no_header", wantAge: time.Hour},
		{name: "shorter_max_age", cacheControl: "public, max-age=120, must-revalidate", wantAge: 2 * time.Minute},
		{name: "longer_max_age_capped", cacheControl: "max-age=86400", wantAge: time.Hour},
		{name: "zero_max_age_rate_limited", cacheControl: "max-age=0", wantAge: interval},
		{name: "no_store_rate_limited", cacheControl: "no-store", wantAge: interval},
		{name: "malformed_ignored", cacheControl: "max-age=soon", wantAge: time.Hour},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			k0 := publicJWK(t, 0, "k0", "sig")
			srv := newServer(t, nil)
			var h http.Header
			if tt.cacheControl != "" {
				h = http.Header{"Cache-Control": {tt.cacheControl}}
			}
			srv.serve(http.StatusOK, setJSON(t, k0), h)
			clk := newClock()
			c := newCache(t, srv.URL, clk, jwks.Options{MaxAge: time.Hour, MinRefreshInterval: interval})

			wantKey(t, c, "k0", k0)
			clk.Advance(tt.wantAge - time.Second)
			wantKey(t, c, "k0", k0)
			wantHits(t, srv, 1)
			clk.Advance(time.Second)
			wantKey(t, c, "k0", k0)
			wantHits(t, srv, 2)
		})
	}
}

func TestLookupKey_skipsUnusableKeys(t *testing.T) {
	t.Parallel()
	ec, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	good := publicJWK(t, 0, "good", "sig")
	// A private key published by mistake is served as its public half.
	private := toJWK(t, rsaKeys()[2], "private", "sig")
	privatePub, err := private.PublicKey()
	if err != nil {
		t.Fatal(err)
	}
	set := jwk.NewSet()
	for _, k := range []jwk.Key{
		good,
		private,
		toJWK(t, &ec.PublicKey, "ec", "sig"),
		publicJWK(t, 1, "enc", "enc"),
		publicJWK(t, 1, "", "sig"),
	} {
		if err := set.AddKey(k); err != nil {
			t.Fatal(err)
		}
	}
	raw, err := json.Marshal(set)
	if err != nil {
		t.Fatal(err)
	}
	// Append keys jwx cannot parse or that are invalid; they must not spoil the set.
	var doc struct {
		Keys []json.RawMessage `json:"keys"`
	}
	if err := json.Unmarshal(raw, &doc); err != nil {
		t.Fatal(err)
	}
	doc.Keys = append(doc.Keys,
		json.RawMessage(`{"kty":"XYZ","kid":"unknown-type"}`),
		json.RawMessage(`{"kty":"RSA","kid":"no-modulus","e":"AQAB"}`),
		json.RawMessage(`{"kty":"RSA","kid":"empty-modulus","n":"","e":"AQAB"}`),
	)
	body, err := json.Marshal(doc)
	if err != nil {
		t.Fatal(err)
	}

	srv := newServer(t, body)
	c := newCache(t, srv.URL, newClock(), jwks.Options{})
	wantKey(t, c, "good", good)
	wantKey(t, c, "private", privatePub)
	for _, kid := range []string{"ec", "enc", "unknown-type", "no-modulus", "empty-modulus", ""} {
		wantErr(t, c, kid, signature.ErrKeyNotFound, jwks.ErrFetch)
	}
	wantHits(t, srv, 1)
}

func TestLookupKey_callerCancellation(t *testing.T) {
	t.Parallel()
	k0 := publicJWK(t, 0, "k0", "sig")
	srv := newServer(t, setJSON(t, k0))
	gate := make(chan struct{})
	srv.setGate(gate)
	c := newCache(t, srv.URL, newClock(), jwks.Options{})

	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	_, err := c.LookupKey(ctx, "k0")
	if !errors.Is(err, context.Canceled) || errors.Is(err, signature.ErrKeyNotFound) {
		t.Fatalf("LookupKey with a cancelled context: error = %v; want context.Canceled", err)
	}

	// The fetch the cancelled caller started carries on for the others.
	close(gate)
	wantKey(t, c, "k0", k0)
	wantHits(t, srv, 1)
}

func TestLookupKey_fetchTimeout(t *testing.T) {
	t.Parallel()
	srv := newServer(t, nil)
	gate := make(chan struct{})
	srv.setGate(gate)
	t.Cleanup(func() { close(gate) })
	c := newCache(t, srv.URL, newClock(), jwks.Options{FetchTimeout: 50 * time.Millisecond})
	wantErr(t, c, "k0", jwks.ErrFetch, signature.ErrKeyNotFound)
	_, err := c.LookupKey(t.Context(), "k0")
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("LookupKey error = %v; want one wrapping context.DeadlineExceeded", err)
	}
}

func TestDefaultURL_isOnGeminisOrigin(t *testing.T) {
	t.Parallel()
	if want := gemini.DefaultBaseURL + "/.well-known/jwks.json"; jwks.DefaultURL != want {
		t.Errorf("DefaultURL = %q, want %q", jwks.DefaultURL, want)
	}
}
