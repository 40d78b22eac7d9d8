package gemini

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"google.golang.org/genai"

	"github.com/geminihooks/geminihooks/pkg/config"
	"github.com/geminihooks/geminihooks/pkg/tracing"
)

// DefaultBaseURL is the Gemini Developer API.
const DefaultBaseURL = "https://generativelanguage.googleapis.com"

// WebhookIssuer is the iss claim that the simulator and the operator tool's
// send give per-request webhook JWTs. Undocumented: Gemini's own iss; this is
// the API's origin, and the receiver accepts any iss unless
// WEBHOOK_JWT_ISSUER pins one.
const WebhookIssuer = DefaultBaseURL

// DefaultVideoModel is the Veo model that names video operations built
// without one ("models/veo-3.0-generate-001/operations/…"), as in Google's
// examples.
const DefaultVideoModel = "veo-3.0-generate-001"

// Defaults of Options.
const (
	// DefaultTimeout bounds each metadata request, and the wait for a
	// download's headers or its next bytes.
	DefaultTimeout = 30 * time.Second
	// DefaultMaxResumes bounds how often one download may be resumed.
	DefaultMaxResumes = 16
	// DefaultRetryAttempts is the number of attempts of a request, the
	// first included.
	DefaultRetryAttempts = 4
	// DefaultRetryBase is the delay before the first retry.
	DefaultRetryBase = 250 * time.Millisecond
	// DefaultRetryMax caps any delay between attempts, including one asked
	// for by Retry-After.
	DefaultRetryMax = 10 * time.Second
)

// APIVersion is the API version of every path; the webhooks, Batch and
// Interactions APIs are all served under v1beta. Undocumented: the webhooks
// guide's REST samples use /v1/webhooks and rotate with .../rotate_secret,
// which the API reference and the SDKs (/v1beta/...:rotateSigningSecret)
// contradict; the SDK's form is the one used, and ids under either version
// are accepted (apiVersions).
const APIVersion = "v1beta"

// maxMetadataBody bounds a metadata response. Inlined batch responses are
// the largest; the API caps inline batch requests at 20 MB.
const maxMetadataBody = 256 << 20

// maxRedirects bounds the redirects followed by one request.
const maxRedirects = 10

// apiKeyHeader carries the API key; it is sent to the base URL only.
const apiKeyHeader = "x-goog-api-key"

// RetryPolicy bounds the in-call retries of transient failures: each
// request is attempted up to Attempts times, waiting an exponentially
// growing, jittered delay (Base, 2×Base, ... capped at Max) between
// attempts, or longer if the server asks with Retry-After (still capped at
// Max). Retries stop early when the context would expire during the wait.
type RetryPolicy struct {
	// Attempts is the number of attempts, the first included. Zero means
	// DefaultRetryAttempts; 1 disables retries.
	Attempts int
	// Base is the delay before the first retry. Zero means
	// DefaultRetryBase.
	Base time.Duration
	// Max caps every delay. Zero means DefaultRetryMax.
	Max time.Duration
}

// Options configures a Client.
type Options struct {
	// BaseURL is the API's origin (scheme://host[:port], no path). Empty
	// means DefaultBaseURL. It must be https, or http on a loopback host
	// (the simulator). It is the only host the API key is sent to.
	BaseURL string
	// APIKey authenticates every request to BaseURL. Required. It is a
	// secret: it is sent in the x-goog-api-key header only, never to
	// another host, and never appears in errors.
	APIKey string
	// DownloadHosts are the hosts besides BaseURL that a download may be
	// redirected to or a video URI may point at: exact host names
	// ("storage.googleapis.com"), optionally with a port, or a suffix with
	// a leading dot (".googleusercontent.com") matching every subdomain.
	// They are reached over https without the API key; plain http is
	// allowed only for a loopback host named exactly (the simulator's
	// download host). Empty means DefaultDownloadHosts. Metadata requests
	// never leave BaseURL.
	DownloadHosts []string
	// HTTPClient sends the requests; nil means a client on
	// http.DefaultTransport. The client is copied, and its CheckRedirect
	// is wrapped to enforce the rules above. Its Timeout, if set, also
	// bounds whole downloads, so leave it zero and rely on Timeout.
	HTTPClient *http.Client
	// Timeout bounds each metadata request, and the wait for a download's
	// headers or for its next bytes (a stalled download is resumed). Zero
	// means DefaultTimeout.
	Timeout time.Duration
	// Retry bounds the retries of transient failures.
	Retry RetryPolicy
	// MaxResumes bounds how many times one download is resumed after an
	// interruption. Zero means DefaultMaxResumes; negative disables
	// resuming.
	MaxResumes int
}

// Client fetches jobs and results from the Gemini API. It is safe for
// concurrent use.
type Client struct {
	base          *url.URL
	origin        string
	apiKey        string
	downloadHosts []hostRule
	hc            *http.Client
	sdk           *genai.Client
	timeout       time.Duration
	retry         RetryPolicy
	maxResumes    int
}

// New validates opts and returns a Client. It makes no request.
func New(ctx context.Context, opts Options) (*Client, error) {
	if opts.APIKey == "" {
		return nil, errors.New("gemini: Options.APIKey is required")
	}
	for _, r := range opts.APIKey {
		if r <= ' ' || r >= 0x7f {
			// The key goes into a header; say nothing about its content.
			return nil, errors.New("gemini: Options.APIKey contains characters that cannot be sent in a header")
		}
	}
	if opts.Timeout < 0 || opts.Retry.Attempts < 0 || opts.Retry.Base < 0 || opts.Retry.Max < 0 {
		return nil, errors.New("gemini: Options.Timeout and Options.Retry must not be negative")
	}
	rawBase := opts.BaseURL
	if rawBase == "" {
		rawBase = DefaultBaseURL
	}
	base, err := ParseBaseURL(rawBase)
	if err != nil {
		return nil, err
	}
	hosts := opts.DownloadHosts
	if len(hosts) == 0 {
		hosts = DefaultDownloadHosts()
	}
	downloadHosts, err := parseDownloadHosts(hosts)
	if err != nil {
		return nil, err
	}
	c := &Client{
		base: base, origin: origin(base), apiKey: opts.APIKey, downloadHosts: downloadHosts,
		timeout: opts.Timeout, retry: opts.Retry, maxResumes: opts.MaxResumes,
	}
	if c.timeout == 0 {
		c.timeout = DefaultTimeout
	}
	if c.retry.Attempts == 0 {
		c.retry.Attempts = DefaultRetryAttempts
	}
	if c.retry.Base == 0 {
		c.retry.Base = DefaultRetryBase
	}
	if c.retry.Max == 0 {
		c.retry.Max = DefaultRetryMax
	}
	if c.maxResumes == 0 {
		c.maxResumes = DefaultMaxResumes
	}
	c.maxResumes = max(c.maxResumes, 0)

	hc := &http.Client{}
	if opts.HTTPClient != nil {
		*hc = *opts.HTTPClient
	}
	next := hc.CheckRedirect
	hc.CheckRedirect = func(req *http.Request, via []*http.Request) error {
		if len(via) >= maxRedirects {
			return fmt.Errorf("%w: stopped after %d redirects", ErrUnexpectedResponse, maxRedirects)
		}
		if origin(req.URL) != c.origin {
			if !isDownload(req.Context()) || !c.downloadHost(req.URL) {
				return fmt.Errorf("%w: refused redirect to %s", ErrForeignHost, c.redact(req.URL.String()))
			}
			// net/http copies every header but a few standard credentials
			// to the next hop, whatever its host: the key stays behind.
			req.Header.Del(apiKeyHeader)
		}
		if next != nil {
			return next(req, via)
		}
		return nil
	}
	c.hc = hc

	// The SDK shares the HTTP client, so its requests obey the same
	// redirect rule. It does not retry by default (no RetryOptions), which
	// leaves retries to withRetry.
	c.sdk, err = genai.NewClient(ctx, &genai.ClientConfig{
		APIKey:      opts.APIKey,
		Backend:     genai.BackendGeminiAPI,
		HTTPClient:  hc,
		HTTPOptions: genai.HTTPOptions{BaseURL: base.String(), APIVersion: APIVersion},
	})
	if err != nil {
		return nil, scrub(fmt.Errorf("failed to create the genai client: %w", err), opts.APIKey)
	}
	return c, nil
}

// ParseBaseURL checks that raw is an origin the API key may be sent to:
// https anywhere, plain http only on a loopback host (the simulator).
func ParseBaseURL(raw string) (*url.URL, error) {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" || u.Opaque != "" {
		return nil, fmt.Errorf("gemini: base URL %q is not an absolute URL", redactURL(raw))
	}
	if u.User != nil || u.RawQuery != "" || u.Fragment != "" || (u.Path != "" && u.Path != "/") {
		return nil, fmt.Errorf("gemini: base URL %q must be an origin (scheme://host[:port])", redactURL(raw))
	}
	switch u.Scheme {
	case "https":
	case "http":
		if !config.IsLoopback(u.Hostname()) {
			return nil, fmt.Errorf("gemini: base URL %q must use https unless the host is loopback", redactURL(raw))
		}
	default:
		return nil, fmt.Errorf("gemini: base URL %q must use https", redactURL(raw))
	}
	return &url.URL{Scheme: u.Scheme, Host: u.Host}, nil
}

// origin returns the scheme, host and port of u in a canonical form, for
// comparing URLs with the base URL.
func origin(u *url.URL) string {
	scheme := strings.ToLower(u.Scheme)
	port := u.Port()
	if port == "" {
		switch scheme {
		case "https":
			port = "443"
		case "http":
			port = "80"
		}
	}
	return scheme + "://" + net.JoinHostPort(strings.ToLower(u.Hostname()), port)
}

// apiURL returns the URL of an API path such as "batches/123".
func (c *Client) apiURL(path string) string {
	return c.base.String() + "/" + APIVersion + "/" + path
}

// newRequest returns a GET request, authenticated when it goes to the base
// URL: the key is never sent to another host.
func (c *Client) newRequest(ctx context.Context, rawURL string) (*http.Request, error) {
	return c.newRequestBody(ctx, http.MethodGet, rawURL, nil)
}

// newRequestBody is newRequest for any method, with an optional JSON body.
func (c *Client) newRequestBody(ctx context.Context, method, rawURL string, body []byte) (*http.Request, error) {
	var r io.Reader
	if body != nil {
		r = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, rawURL, r)
	if err != nil {
		return nil, fmt.Errorf("failed to build request for %s: %w", c.redact(rawURL), err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if origin(req.URL) == c.origin {
		req.Header.Set(apiKeyHeader, c.apiKey)
	}
	return req, nil
}

// do sends req. Transport errors name the URL, which is redacted.
func (c *Client) do(req *http.Request) (*http.Response, error) {
	resp, err := c.hc.Do(req)
	if err != nil {
		if ue, ok := errors.AsType[*url.Error](err); ok {
			ue.URL = c.redact(ue.URL)
		}
		return nil, err
	}
	return resp, nil
}

// redact returns raw fit for an error: redactURL's redactions, and no query
// at all off the base URL, where it may hold a signed URL's credentials.
func (c *Client) redact(raw string) string {
	if u, err := url.Parse(raw); err == nil && u.RawQuery != "" && origin(u) != c.origin {
		u.RawQuery = ""
		raw = u.String()
	}
	return redactURL(raw)
}

// downloadKey marks the context of a download request, the only kind that
// may be redirected to a download host.
type downloadKey struct{}

func isDownload(ctx context.Context) bool { return ctx.Value(downloadKey{}) != nil }

// getJSON GETs an API path, with retries, and returns the response body
// exactly as received.
func (c *Client) getJSON(ctx context.Context, path string) ([]byte, error) {
	return c.sendJSON(ctx, http.MethodGet, path, nil)
}

// sendJSON sends a request with an optional JSON body to an API path (which
// may carry a query), with retries, and returns the response body exactly
// as received. Only idempotent requests go through it: a retry must not
// repeat an effect.
func (c *Client) sendJSON(ctx context.Context, method, path string, reqBody []byte) (_ []byte, err error) {
	// One span per call, its retries included, named after the collection
	// (batches, interactions, models, webhooks) so that names stay few.
	bare, _, _ := strings.Cut(path, "?")
	collection, _, _ := strings.Cut(bare, "/")
	ctx, span := tracing.Start(ctx, "gemini "+method+" "+collection)
	attempts := 0
	defer func() {
		if span.IsRecording() {
			// One call: each grows the span's attribute storage.
			span.SetAttributes(attribute.String("gemini.path", bare), attribute.Int("gemini.attempts", attempts))
		}
		tracing.End(span, err)
	}()
	var body []byte
	err = c.withRetry(ctx, func(ctx context.Context) error {
		attempts++
		ctx, cancel := context.WithTimeout(ctx, c.timeout)
		defer cancel()
		req, err := c.newRequestBody(ctx, method, c.apiURL(path), reqBody)
		if err != nil {
			return err
		}
		req.Header.Set("Accept", "application/json")
		resp, err := c.do(req)
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return newAPIError(resp)
		}
		b, err := io.ReadAll(io.LimitReader(resp.Body, maxMetadataBody+1))
		if err != nil {
			return fmt.Errorf("failed to read the response: %w", err)
		}
		if len(b) > maxMetadataBody {
			return fmt.Errorf("%w: response exceeds %d bytes", ErrUnexpectedResponse, maxMetadataBody)
		}
		body = b
		return nil
	})
	return body, err
}

// withRetry runs op until it succeeds, fails permanently, runs out of
// attempts, or the context would expire before the next attempt. It
// returns op's last error.
func (c *Client) withRetry(ctx context.Context, op func(context.Context) error) error {
	for attempt := 1; ; attempt++ {
		err := op(ctx)
		if err == nil || !IsTransient(err) || attempt >= c.retry.Attempts || ctx.Err() != nil {
			return err
		}
		delay := c.backoff(attempt, err)
		if deadline, ok := ctx.Deadline(); ok && time.Until(deadline) < delay {
			return err
		}
		t := time.NewTimer(delay)
		select {
		case <-ctx.Done():
			t.Stop()
			return err
		case <-t.C:
		}
	}
}

// backoff returns the delay after the given failed attempt (1-based):
// exponential with jitter in [d/2, d], raised to the server's Retry-After,
// capped at Max.
func (c *Client) backoff(attempt int, err error) time.Duration {
	d := c.retry.Base
	for i := 1; i < attempt && d < c.retry.Max; i++ {
		d *= 2
	}
	d = min(d, c.retry.Max)
	d = d/2 + rand.N(d/2+1)
	if apiErr, ok := errors.AsType[*APIError](err); ok && apiErr.RetryAfter > d {
		d = min(apiErr.RetryAfter, c.retry.Max)
	}
	return d
}
