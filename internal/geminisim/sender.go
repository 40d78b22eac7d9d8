package geminisim

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/geminihooks/geminihooks/pkg/event"
	"github.com/geminihooks/geminihooks/pkg/gemini"
	"github.com/geminihooks/geminihooks/pkg/signature"
)

// ErrNotDelivered is wrapped by Send when every attempt failed: the retry
// policy ran out of attempts or of time.
var ErrNotDelivered = errors.New("geminisim: webhook not delivered")

// TokenSigner signs JWT claims as a compact RS256 JWS with a kid header.
// *Server and *signature.JWTSigner implement it.
type TokenSigner interface {
	Sign(claims map[string]any) (string, error)
}

// RetryPolicy is Gemini's redelivery schedule: "automatically retries
// failed requests for 24 hours using exponential backoff". Undocumented:
// the exact schedule and the answer timeout; the defaults are a plausible
// one. Delays are
// nominal and multiplied by TimeScale before sleeping, so a test can run a
// day of retries in milliseconds while checking the schedule in the Report.
type RetryPolicy struct {
	// MaxAttempts bounds the attempts, the first included. Default 20.
	MaxAttempts int
	// InitialBackoff is the delay before the first retry. Default 30s.
	InitialBackoff time.Duration
	// Multiplier grows the delay after each retry. Default 2.
	Multiplier float64
	// MaxBackoff caps the delay. Default 2h.
	MaxBackoff time.Duration
	// Window is how long after the first attempt retries may happen.
	// Default 24h.
	Window time.Duration
	// TimeScale multiplies every delay before sleeping: 1 is real time,
	// 1e-6 turns 24h into about 86ms. Default 1.
	TimeScale float64
}

// withDefaults fills zero fields.
func (p RetryPolicy) withDefaults() RetryPolicy {
	if p.MaxAttempts == 0 {
		p.MaxAttempts = 20
	}
	if p.InitialBackoff == 0 {
		p.InitialBackoff = 30 * time.Second
	}
	if p.Multiplier == 0 {
		p.Multiplier = 2
	}
	if p.MaxBackoff == 0 {
		p.MaxBackoff = 2 * time.Hour
	}
	if p.Window == 0 {
		p.Window = 24 * time.Hour
	}
	if p.TimeScale == 0 {
		p.TimeScale = 1
	}
	return p
}

// SenderOptions configures a Sender. Exactly one of Secrets and Signer must
// be set: Secrets makes the Sender a project-level (static) webhook, signed
// with Standard Webhooks HMAC; Signer makes it a per-request (dynamic)
// webhook, signed with an RS256 JWT.
type SenderOptions struct {
	// Secrets are the webhook's active signing secrets ("whsec_..."). Every
	// one signs each attempt, as during a secret rotation.
	Secrets []string
	// Signer signs per-request webhook JWTs; typically the Server, whose
	// JWKS then verifies them.
	Signer TokenSigner
	// Audience is the JWT aud claim. Empty means the delivery URL (one
	// reading of the sources; none states the value).
	Audience string
	// Issuer is the JWT iss claim. Empty means gemini.WebhookIssuer.
	Issuer string
	// OmitIDHeaders leaves webhook-id and webhook-timestamp off JWT
	// deliveries. Undocumented: whether Gemini sends them. One source says
	// dynamic webhooks share the static ones' headers, the guide shows only
	// the JWT; receivers must cope with both.
	OmitIDHeaders bool
	// Retry is the redelivery schedule.
	Retry RetryPolicy
	// Client sends the requests. Default: a client with a 10s timeout (the
	// guide asks endpoints to answer "within a few seconds").
	Client *http.Client
	// Now returns the current time, for webhook-timestamp and the JWT times.
	// Default time.Now.
	Now func() time.Time
}

// Sender delivers notifications to webhook endpoints the way Gemini does:
// signed, at least once, retrying with exponential backoff on non-2xx
// answers and network errors, with the same webhook-id on every attempt and
// a fresh timestamp and signature each time. It is safe for concurrent use.
type Sender struct {
	secrets       []signature.Secret
	signer        TokenSigner
	audience      string
	issuer        string
	omitIDHeaders bool
	retry         RetryPolicy
	client        *http.Client
	now           func() time.Time
}

// NewSender validates opts and returns a Sender.
func NewSender(opts SenderOptions) (*Sender, error) {
	if (len(opts.Secrets) > 0) == (opts.Signer != nil) {
		return nil, fmt.Errorf("%w: a Sender needs either Secrets or a Signer", ErrInvalidSpec)
	}
	s := &Sender{
		signer: opts.Signer, audience: opts.Audience, issuer: opts.Issuer,
		omitIDHeaders: opts.OmitIDHeaders, retry: opts.Retry.withDefaults(),
		client: opts.Client, now: opts.Now,
	}
	for i, raw := range opts.Secrets {
		sec, err := signature.ParseSecret(fmt.Sprintf("Secrets[%d]", i), raw)
		if err != nil {
			return nil, fmt.Errorf("%w: %w", ErrInvalidSpec, err)
		}
		s.secrets = append(s.secrets, sec)
	}
	if r := s.retry; r.MaxAttempts < 1 || r.InitialBackoff < 0 || r.Multiplier < 1 || r.MaxBackoff < 0 || r.Window < 0 || r.TimeScale < 0 {
		return nil, fmt.Errorf("%w: invalid retry policy %+v", ErrInvalidSpec, r)
	}
	if s.issuer == "" {
		s.issuer = gemini.WebhookIssuer
	}
	if s.client == nil {
		s.client = &http.Client{Timeout: 10 * time.Second}
	}
	if s.now == nil {
		s.now = time.Now
	}
	return s, nil
}

// CloseIdleConnections closes the connections the sender keeps open for
// later deliveries, so that the receiver can shut down at once.
func (s *Sender) CloseIdleConnections() { s.client.CloseIdleConnections() }

// Delivery is one notification to deliver, with optional faults.
type Delivery struct {
	// URL is the webhook endpoint.
	URL string
	// Notification is the event; its JSON is the request body.
	Notification event.Payload
	// WebhookID is the webhook-id (and JWT jti). Empty generates
	// "msg_" + 27 random characters, the spec example's shape.
	WebhookID string
	// Duplicate delivers the notification once more after it succeeded,
	// with the same webhook-id: an at-least-once duplicate.
	Duplicate bool
	// StaleBy backdates webhook-timestamp (and the JWT iat and exp) by this
	// much, to exercise replay protection.
	StaleBy time.Duration
	// TamperBody alters the body after signing (data.id gets a suffix), so
	// an HMAC signature no longer matches and a JWT's claims disagree with
	// the body.
	TamperBody bool
}

// Attempt is one HTTP request of a delivery.
type Attempt struct {
	// Elapsed is the nominal time since the first attempt (the schedule,
	// before TimeScale).
	Elapsed time.Duration
	// Timestamp is the webhook-timestamp sent.
	Timestamp time.Time
	// Status is the response status, 0 if no response arrived.
	Status int
	// Err is the transport error, if any.
	Err error
	// Duplicate marks the extra attempt made by Delivery.Duplicate.
	Duplicate bool
}

// succeeded reports whether the endpoint acknowledged the attempt.
func (a Attempt) succeeded() bool { return a.Err == nil && a.Status >= 200 && a.Status < 300 }

// Report describes what happened to a delivery.
type Report struct {
	// WebhookID is the webhook-id used on every attempt.
	WebhookID string
	// Attempts lists the attempts in order.
	Attempts []Attempt
	// Delivered reports whether an attempt got a 2xx answer.
	Delivered bool
}

// Statuses returns the status of each attempt (0 for transport errors).
func (r Report) Statuses() []int {
	out := make([]int, len(r.Attempts))
	for i, a := range r.Attempts {
		out[i] = a.Status
	}
	return out
}

// Send delivers d, retrying per the policy until an attempt gets a 2xx
// answer. The Report is complete even when an error is returned: the error
// wraps ErrNotDelivered when the attempts ran out, or the context's error.
func (s *Sender) Send(ctx context.Context, d Delivery) (Report, error) {
	body, err := s.prepare(&d)
	if err != nil {
		return Report{}, err
	}
	rep := Report{WebhookID: d.WebhookID}
	var elapsed time.Duration
	backoff := s.retry.InitialBackoff
	for n := 1; ; n++ {
		a := s.attempt(ctx, d, body)
		a.Elapsed = elapsed
		rep.Attempts = append(rep.Attempts, a)
		if a.succeeded() {
			rep.Delivered = true
			break
		}
		if err := ctx.Err(); err != nil {
			return rep, fmt.Errorf("failed to deliver %s: %w", d.WebhookID, err)
		}
		if n >= s.retry.MaxAttempts || elapsed+backoff > s.retry.Window {
			return rep, fmt.Errorf("failed to deliver %s after %d attempts: %w", d.WebhookID, n, ErrNotDelivered)
		}
		if err := sleep(ctx, time.Duration(float64(backoff)*s.retry.TimeScale)); err != nil {
			return rep, fmt.Errorf("failed to deliver %s: %w", d.WebhookID, err)
		}
		elapsed += backoff
		backoff = min(time.Duration(float64(backoff)*s.retry.Multiplier), s.retry.MaxBackoff)
	}
	if d.Duplicate {
		a := s.attempt(ctx, d, body)
		a.Elapsed, a.Duplicate = elapsed, true
		rep.Attempts = append(rep.Attempts, a)
	}
	return rep, nil
}

// SendAll sends the deliveries one after another, in order, and returns a
// report for each. It stops at the first error, which it returns with the
// reports so far. Shuffle the slice first to deliver out of order.
func (s *Sender) SendAll(ctx context.Context, ds []Delivery) ([]Report, error) {
	reports := make([]Report, 0, len(ds))
	for _, d := range ds {
		rep, err := s.Send(ctx, d)
		reports = append(reports, rep)
		if err != nil {
			return reports, err
		}
	}
	return reports, nil
}

// Shuffle returns a copy of ds in a pseudo-random order determined by seed,
// for delivering events out of order (Gemini does not promise ordering).
func Shuffle(ds []Delivery, seed uint64) []Delivery {
	out := append([]Delivery(nil), ds...)
	rng := rand.New(rand.NewPCG(seed, seed^0x5DEECE66D))
	rng.Shuffle(len(out), func(i, j int) { out[i], out[j] = out[j], out[i] })
	return out
}

// Request returns the signed HTTP request of a single attempt of d, for
// tests that call a handler directly (httptest.NewRecorder) instead of
// over the network.
func (s *Sender) Request(ctx context.Context, d Delivery) (*http.Request, error) {
	body, err := s.prepare(&d)
	if err != nil {
		return nil, err
	}
	return s.newRequest(ctx, d, body, s.now().Add(-d.StaleBy))
}

// prepare validates d, fills its webhook id and returns the body.
func (s *Sender) prepare(d *Delivery) ([]byte, error) {
	if d.URL == "" {
		return nil, fmt.Errorf("%w: delivery has no URL", ErrInvalidSpec)
	}
	if d.WebhookID == "" {
		d.WebhookID = newWebhookID()
	}
	body, err := json.Marshal(d.Notification)
	if err != nil {
		return nil, fmt.Errorf("failed to encode notification: %w", err)
	}
	return body, nil
}

// attempt makes one request and drains its answer.
func (s *Sender) attempt(ctx context.Context, d Delivery, body []byte) Attempt {
	ts := s.now().Add(-d.StaleBy)
	a := Attempt{Timestamp: ts.Truncate(time.Second)}
	req, err := s.newRequest(ctx, d, body, ts)
	if err != nil {
		a.Err = err
		return a
	}
	resp, err := s.client.Do(req)
	if err != nil {
		a.Err = fmt.Errorf("failed to post webhook: %w", err)
		return a
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	a.Status = resp.StatusCode
	return a
}

// newRequest builds the signed POST of one attempt made at ts.
func (s *Sender) newRequest(ctx context.Context, d Delivery, body []byte, ts time.Time) (*http.Request, error) {
	sent := body
	if d.TamperBody {
		n := d.Notification
		n.Data.ID += "-tampered"
		var err error
		if sent, err = json.Marshal(n); err != nil {
			return nil, fmt.Errorf("failed to encode notification: %w", err)
		}
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, d.URL, bytes.NewReader(sent))
	if err != nil {
		return nil, fmt.Errorf("failed to build webhook request: %w", err)
	}
	req.Header.Set("Content-Type", "application/json")
	unix := strconv.FormatInt(ts.Unix(), 10)
	if s.signer == nil {
		sigs := make([]string, len(s.secrets))
		for i, sec := range s.secrets {
			sigs[i] = signature.SignHMAC(sec, d.WebhookID, ts, body)
		}
		req.Header.Set(signature.HeaderID, d.WebhookID)
		req.Header.Set(signature.HeaderTimestamp, unix)
		req.Header.Set(signature.HeaderSignature, strings.Join(sigs, " "))
		return req, nil
	}
	aud := s.audience
	if aud == "" {
		aud = d.URL
	}
	tok, err := s.signer.Sign(signature.WebhookClaims(body, s.issuer, aud, d.WebhookID, ts))
	if err != nil {
		return nil, fmt.Errorf("failed to sign webhook: %w", err)
	}
	req.Header.Set(signature.HeaderSignature, tok)
	if !s.omitIDHeaders {
		req.Header.Set(signature.HeaderID, d.WebhookID)
		req.Header.Set(signature.HeaderTimestamp, unix)
	}
	return req, nil
}

// newWebhookID returns a fresh webhook-id: "msg_" and 27 random
// characters, the shape of the Standard Webhooks spec's example.
func newWebhookID() string { return "msg_" + randomString(27) }

// sleep waits for d or until ctx is done.
func sleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
