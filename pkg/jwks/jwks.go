// Package jwks fetches and caches the JSON Web Key Set that Gemini signs
// dynamic (per-request) webhooks with, and resolves JWT key ids against it.
//
// The cache is a small hand-rolled one around jwk.Parse rather than jwk.Cache
// from jwx: jwk.Cache re-fetches on every explicit Refresh (so a flood of
// requests naming bogus key ids would become a flood of fetches), reads
// response bodies without a size limit, and owns a background goroutine whose
// lifetime must be managed. Here a refresh happens only on demand, at most
// once per minimum interval, with concurrent callers sharing one fetch.
package jwks

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/lestrrat-go/jwx/v2/jwa"
	"github.com/lestrrat-go/jwx/v2/jwk"

	"github.com/geminihooks/geminihooks/pkg/config"
	"github.com/geminihooks/geminihooks/pkg/refresh"
	"github.com/geminihooks/geminihooks/pkg/signature"
)

const (
	// DefaultURL is where Gemini publishes its webhook signing keys, on
	// gemini.DefaultBaseURL (a test keeps them equal).
	DefaultURL = "https://generativelanguage.googleapis.com/.well-known/jwks.json"
	// DefaultMinRefreshInterval bounds how often the key set is fetched.
	DefaultMinRefreshInterval = 30 * time.Second
	// DefaultMaxAge is how long a fetched key set is used before it is
	// fetched again, unless the response's Cache-Control allows less.
	DefaultMaxAge = time.Hour
	// DefaultFetchTimeout bounds one fetch, whatever the HTTP client allows.
	DefaultFetchTimeout = 10 * time.Second
	// MaxBodySize is the largest key set response accepted; real ones are a
	// few kilobytes.
	MaxBodySize = 1 << 20
)

// ErrFetch is wrapped by every error caused by failing to obtain the key set
// (network, HTTP status, unparsable or empty set). It is transient, unlike
// signature.ErrKeyNotFound.
var ErrFetch = errors.New("failed to fetch key set")

// Cache is a signature.KeySource backed by a JWKS URL. The set is fetched
// lazily on the first lookup, re-fetched when older than its maximum age or
// when an unknown key id is requested (at most once per minimum interval),
// and kept when a re-fetch fails so that known keys keep verifying.
// A Cache is safe for concurrent use.
type Cache struct {
	url          string
	client       *http.Client
	maxAge       time.Duration
	fetchTimeout time.Duration
	now          func() time.Time
	onError      func(context.Context, error)

	mu      sync.Mutex
	keys    map[string]jwk.Key // nil until the first successful fetch
	expires time.Time          // when keys should be fetched again
	lastErr error              // error of the last fetch; nil after a success
	fetches refresh.Gate       // one fetch at a time, at most one per MinInterval
}

var _ signature.KeySource = (*Cache)(nil)

// Options configures a Cache. Zero values select the documented defaults.
type Options struct {
	// HTTPClient fetches the key set. Default a client with a timeout of
	// DefaultFetchTimeout.
	HTTPClient *http.Client
	// MinRefreshInterval is the minimum time between two fetches. Default
	// DefaultMinRefreshInterval.
	MinRefreshInterval time.Duration
	// MaxAge is the longest time a fetched set is used before it is fetched
	// again. A shorter Cache-Control max-age from the server wins, within
	// the limit of one fetch per minimum refresh interval. Default
	// DefaultMaxAge.
	MaxAge time.Duration
	// FetchTimeout bounds one fetch. The fetch is shared by concurrent
	// callers, so it is not cancelled with any one caller's context; this
	// timeout is what ends it. Default DefaultFetchTimeout.
	FetchTimeout time.Duration
	// Now returns the current time. Default time.Now; tests inject a clock.
	Now func() time.Time
	// OnError, if set, is called once with each failed fetch, so failures
	// hidden by serving a previously fetched set can still be logged or
	// counted. It runs on the fetching goroutine and must not block for
	// long.
	OnError func(context.Context, error)
}

// New returns a Cache for the key set at rawURL, which must be https (or http
// on a loopback host, for tests and local simulators). Nothing is fetched
// until the first LookupKey.
func New(rawURL string, opts Options) (*Cache, error) {
	if err := validateURL(rawURL); err != nil {
		return nil, err
	}
	switch {
	case opts.MinRefreshInterval < 0:
		return nil, fmt.Errorf("jwks: minimum refresh interval %s is negative", opts.MinRefreshInterval)
	case opts.MaxAge < 0:
		return nil, fmt.Errorf("jwks: maximum age %s is negative", opts.MaxAge)
	case opts.FetchTimeout < 0:
		return nil, fmt.Errorf("jwks: fetch timeout %s is negative", opts.FetchTimeout)
	}
	c := &Cache{
		url:          rawURL,
		client:       opts.HTTPClient,
		maxAge:       cmp.Or(opts.MaxAge, DefaultMaxAge),
		fetchTimeout: cmp.Or(opts.FetchTimeout, DefaultFetchTimeout),
		now:          opts.Now,
		onError:      opts.OnError,
		fetches:      refresh.Gate{MinInterval: cmp.Or(opts.MinRefreshInterval, DefaultMinRefreshInterval)},
	}
	if c.client == nil {
		c.client = &http.Client{Timeout: DefaultFetchTimeout}
	}
	if c.now == nil {
		c.now = time.Now
	}
	return c, nil
}

func validateURL(rawURL string) error {
	u, err := url.Parse(rawURL)
	if err != nil {
		return fmt.Errorf("jwks: invalid URL: %w", err)
	}
	if u.Host == "" {
		return fmt.Errorf("jwks: URL %q has no host", rawURL)
	}
	switch u.Scheme {
	case "https":
		return nil
	case "http":
		if config.IsLoopback(u.Hostname()) {
			return nil
		}
		return fmt.Errorf("jwks: URL %q must use https (http is allowed only for loopback hosts)", rawURL)
	default:
		return fmt.Errorf("jwks: URL %q must use https", rawURL)
	}
}

// LookupKey returns the RSA signing key with the given id. An id missing from
// a freshly fetched set yields an error wrapping signature.ErrKeyNotFound; an
// error wrapping ErrFetch means the set could not be obtained, so the key may
// exist and the request should be retried later.
func (c *Cache) LookupKey(ctx context.Context, kid string) (jwk.Key, error) {
	if kid == "" {
		// Keys without an id are never cached, so there is nothing to fetch.
		return nil, fmt.Errorf("%w: empty key id", signature.ErrKeyNotFound)
	}
	c.mu.Lock()
	key, ok := c.keys[kid]
	if ok && c.now().Before(c.expires) {
		c.mu.Unlock()
		return key, nil
	}
	// The set is missing or stale, or does not know kid: fetch, unless a fetch
	// started too recently, in which case the current state is the answer.
	done := c.fetches.StartLocked(ctx, c.now(), c.fetch)
	c.mu.Unlock()

	if done != nil {
		select {
		case <-done:
		case <-ctx.Done():
			return nil, fmt.Errorf("failed to wait for key set: %w", ctx.Err())
		}
	}

	c.mu.Lock()
	defer c.mu.Unlock()
	if key, ok := c.keys[kid]; ok {
		// Possibly from an older set when the last fetch failed (stale-if-error).
		return key, nil
	}
	if c.lastErr != nil {
		// The current set, if any, may simply be outdated.
		return nil, c.lastErr
	}
	return nil, fmt.Errorf("%w: key id %.64q", signature.ErrKeyNotFound, kid)
}

// fetch is the reload run by c.fetches: it replaces the set, or records why
// it could not. Waiters are released when it returns.
func (c *Cache) fetch(ctx context.Context) {
	fctx, cancel := context.WithTimeout(ctx, c.fetchTimeout)
	keys, maxAge, err := c.download(fctx)
	cancel()

	c.mu.Lock()
	c.fetches.FinishLocked()
	if err != nil {
		c.lastErr = err // c.keys is kept: stale-if-error
	} else {
		c.keys, c.lastErr = keys, nil
		c.expires = c.now().Add(c.clampAge(maxAge))
	}
	c.mu.Unlock()

	if err != nil && c.onError != nil {
		c.onError(ctx, err)
	}
}

// download fetches and parses the key set, returning the usable keys by id
// and the server's max-age (negative if it gave none).
func (c *Cache) download(ctx context.Context) (map[string]jwk.Key, time.Duration, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.url, nil)
	if err != nil {
		return nil, 0, c.fetchError("failed to build request: %w", err)
	}
	req.Header.Set("Accept", "application/json")
	resp, err := c.client.Do(req)
	if err != nil {
		var uerr *url.Error
		if errors.As(err, &uerr) {
			err = uerr.Err // the URL is already in the message
		}
		return nil, 0, c.fetchError("%w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, 0, c.fetchError("unexpected status %s", resp.Status)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, MaxBodySize+1))
	if err != nil {
		return nil, 0, c.fetchError("failed to read body: %w", err)
	}
	if len(body) > MaxBodySize {
		return nil, 0, c.fetchError("body exceeds %d bytes", MaxBodySize)
	}
	// Keys of types jwx cannot parse are skipped rather than failing the set:
	// only the RSA keys matter here.
	set, err := jwk.Parse(body, jwk.WithIgnoreParseError(true))
	if err != nil {
		return nil, 0, c.fetchError("failed to parse key set: %w", err)
	}
	keys := usableKeys(set)
	if len(keys) == 0 {
		return nil, 0, c.fetchError("key set has no RSA signing keys")
	}
	return keys, cacheControlMaxAge(resp.Header), nil
}

func (c *Cache) fetchError(format string, args ...any) error {
	return fmt.Errorf("%w from %s: %w", ErrFetch, c.url, fmt.Errorf(format, args...))
}

// usableKeys returns the valid RSA public keys meant for signatures, by id.
// Keys without an id cannot be selected by a JWT header and are skipped.
func usableKeys(set jwk.Set) map[string]jwk.Key {
	keys := make(map[string]jwk.Key, set.Len())
	for i := range set.Len() {
		k, ok := set.Key(i)
		if !ok || k.KeyType() != jwa.RSA || k.KeyID() == "" {
			continue
		}
		if use := k.KeyUsage(); use != "" && use != string(jwk.ForSignature) {
			continue
		}
		if k.Validate() != nil {
			continue
		}
		// Never hold private material, should a server publish it by mistake.
		pub, err := k.PublicKey()
		if err != nil {
			continue
		}
		if _, dup := keys[k.KeyID()]; !dup {
			keys[k.KeyID()] = pub
		}
	}
	return keys
}

// clampAge turns the server's max-age into the time the set is used: at most
// the configured maximum age. A max-age of zero needs no special case: the
// rate limit still allows at most one fetch per minimum interval.
func (c *Cache) clampAge(serverAge time.Duration) time.Duration {
	if serverAge < 0 {
		return c.maxAge
	}
	return min(serverAge, c.maxAge)
}

// cacheControlMaxAge returns the max-age of a Cache-Control header (0 for
// no-cache or no-store), or -1 when the header sets no usable limit.
func cacheControlMaxAge(h http.Header) time.Duration {
	age := time.Duration(-1)
	for _, v := range h.Values("Cache-Control") {
		for directive := range strings.SplitSeq(v, ",") {
			name, value, _ := strings.Cut(strings.TrimSpace(directive), "=")
			switch strings.ToLower(name) {
			case "no-store", "no-cache":
				return 0
			case "max-age":
				n, err := strconv.ParseInt(strings.Trim(value, `"`), 10, 64)
				if err == nil && n >= 0 && n <= int64(time.Duration(1<<63-1)/time.Second) {
					age = time.Duration(n) * time.Second
				}
			}
		}
	}
	return age
}
