// Package receiver is the webhook endpoint: it verifies a Gemini delivery,
// claims its webhook-id so retries have exactly one effect, publishes one
// normalized event to Pub/Sub and answers within milliseconds.
//
// The handler depends on three small interfaces it owns (Verifier, Ledger,
// Publisher); Build wires them from a Config onto Backends (Google Cloud's
// from CloudBackends, or the local runner's stand-ins) and tests use the
// in-memory ones. With WEBHOOK_CAPTURE_LIMIT above 0 it also stores the
// first verified deliveries and its answers (pkg/capture).
package receiver

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"strconv"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"

	"github.com/geminihooks/geminihooks/pkg/capture"
	"github.com/geminihooks/geminihooks/pkg/event"
	"github.com/geminihooks/geminihooks/pkg/idempotency"
	"github.com/geminihooks/geminihooks/pkg/logging"
	"github.com/geminihooks/geminihooks/pkg/publish"
	"github.com/geminihooks/geminihooks/pkg/registry"
	"github.com/geminihooks/geminihooks/pkg/signature"
	"github.com/geminihooks/geminihooks/pkg/tracing"
)

// Verifier authenticates a delivery.
type Verifier interface {
	Verify(ctx context.Context, h http.Header, body []byte) (*signature.Delivery, error)
}

// Ledger records which keys (webhook-ids, and jobs for terminal events)
// have been handled.
type Ledger interface {
	Claim(ctx context.Context, key string) (idempotency.Claim, error)
	MarkPublished(ctx context.Context, c idempotency.Claim, messageID string) error
	Release(ctx context.Context, c idempotency.Claim) error
}

// Publisher sends one message to the events topic and waits for the ack.
type Publisher interface {
	Publish(ctx context.Context, m publish.Message) (string, error)
}

// Jobs is the job registry, told when a job's terminal event is published.
type Jobs interface {
	Notified(ctx context.Context, n registry.Notice) error
}

// Capturer keeps verified deliveries with their verdicts (see package
// capture). Capture must not fail and must return quickly.
type Capturer interface {
	Capture(ctx context.Context, d capture.Delivery)
}

var (
	_ Verifier  = (*signature.Verifier)(nil)
	_ Ledger    = (*idempotency.Firestore)(nil)
	_ Ledger    = (*idempotency.Memory)(nil)
	_ Publisher = (*publish.PubSub)(nil)
	_ Publisher = (*publish.Memory)(nil)
	_ Publisher = (*publish.Direct)(nil)
	_ Jobs      = (*registry.Registry)(nil)
	_ Capturer  = (*capture.Recorder)(nil)
)

// Response statuses on 2xx.
const (
	StatusAccepted  = "accepted"  // verified, new, published
	StatusDuplicate = "duplicate" // verified retry of an already published id, or a finished job already published
	StatusIgnored   = "ignored"   // verified ping: acknowledged, nothing published
)

// Defaults of Options. A delivery's answer takes at most LedgerTimeout +
// PublishTimeout + LedgerTimeout (9 s), well inside the deployed function's
// 60 s timeout, so a stalled Firestore or Pub/Sub is answered with 503 and
// Retry-After instead of a timeout.
const (
	DefaultPublishTimeout = 5 * time.Second
	DefaultLedgerTimeout  = 2 * time.Second
)

// Limits of Options.MaxBodyBytes.
const (
	// DefaultMaxBodyBytes is the default cap on a request body.
	DefaultMaxBodyBytes = 1 << 20
	// MaxBodyBytesLimit is the largest allowed cap. An event is at most
	// about twice its body (each U+2028 or U+2029 grows from 3 to 6 bytes;
	// nothing is carried twice) plus its attributes, so every event built
	// from a body this large still fits Pub/Sub's 10 MB message.
	MaxBodyBytesLimit = 4 << 20
)

// codeEventTooLarge answers a verified delivery whose event Pub/Sub refuses
// as too large: retrying cannot help, so it is not a 5xx.
const codeEventTooLarge = "event_too_large"

// Options tunes a Handler; zero values take the defaults.
type Options struct {
	// MaxBodyBytes caps the request body (default DefaultMaxBodyBytes, at
	// most MaxBodyBytesLimit).
	MaxBodyBytes int64
	// PublishTimeout bounds the publish (default DefaultPublishTimeout).
	PublishTimeout time.Duration
	// LedgerTimeout bounds each ledger step on its own: the claim, the
	// release after a failed publish and the mark after a successful one
	// (default DefaultLedgerTimeout).
	LedgerTimeout time.Duration
	// RetryAfter is sent with 503 answers (default 30s, the claim lease).
	RetryAfter time.Duration
	// ProjectID attaches Cloud Trace ids to log lines.
	ProjectID string
	// Tracer records a span per delivery, with its steps as children
	// (default: none recorded; incoming trace context still reaches the
	// log lines).
	Tracer trace.TracerProvider
	// Now is the clock (default time.Now).
	Now func() time.Time
	// Capture, when set, is given every verified delivery with its answer
	// before the answer is sent.
	Capture Capturer
}

// Handler is the webhook endpoint.
type Handler struct {
	checker   *Checker
	ledger    Ledger
	publisher Publisher
	jobs      Jobs
	logger    *slog.Logger
	tracer    trace.Tracer
	opts      Options
}

// Names of the spans a delivery's trace holds besides the publish and the
// ledger steps' (publish.SpanPublish, idempotency.SpanClaim, …).
const (
	// SpanDelivery is the delivery's root span, from the request to the
	// answer.
	SpanDelivery = "webhook delivery"
	// SpanVerify is the signature's verification.
	SpanVerify = "verify signature"
)

// Outcomes of a delivery, the outcome field of its log line: a 2xx status
// (StatusAccepted, StatusDuplicate, StatusIgnored) or OutcomeRejected.
const OutcomeRejected = "rejected"

// New returns a Handler; every dependency is required.
func New(v Verifier, l Ledger, p Publisher, jobs Jobs, logger *slog.Logger, opts Options) (*Handler, error) {
	switch {
	case v == nil:
		return nil, errors.New("receiver: missing verifier")
	case l == nil:
		return nil, errors.New("receiver: missing ledger")
	case p == nil:
		return nil, errors.New("receiver: missing publisher")
	case jobs == nil:
		return nil, errors.New("receiver: missing job registry")
	case logger == nil:
		return nil, errors.New("receiver: missing logger")
	}
	if opts.PublishTimeout <= 0 {
		opts.PublishTimeout = DefaultPublishTimeout
	}
	if opts.LedgerTimeout <= 0 {
		opts.LedgerTimeout = DefaultLedgerTimeout
	}
	if opts.RetryAfter <= 0 {
		opts.RetryAfter = 30 * time.Second
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	checker, err := NewChecker(v, opts)
	if err != nil {
		return nil, err
	}
	opts.MaxBodyBytes = checker.maxBodyBytes
	return &Handler{checker: checker, ledger: l, publisher: p, jobs: jobs, logger: logging.WithTrace(logger, opts.ProjectID),
		tracer: tracing.Tracer(opts.Tracer), opts: opts}, nil
}

// result is what a request came to: a 2xx status, or an error to render.
type result struct {
	status    string
	webhookID string
	attrs     []any // logged
	err       *apiError
	// verified and body are set once the signature has verified.
	verified *signature.Delivery
	body     []byte
}

// outcome is res's outcome field.
func (res *result) outcome() string {
	if res.err != nil {
		return OutcomeRejected
	}
	return res.status
}

// apiError separates what the sender sees (status, code, message) from what
// is logged (err). Messages never carry secrets, signatures or tokens.
type apiError struct {
	status  int
	code    string
	message string
	err     error
}

type okBody struct {
	Status    string `json:"status"`
	WebhookID string `json:"webhook_id,omitempty"`
}

type errorBody struct {
	Error struct {
		Code    string `json:"code"`
		Message string `json:"message"`
	} `json:"error"`
}

// ServeHTTP implements http.Handler.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := h.opts.Now()
	ctx, span := tracing.StartRoot(tracing.Extract(r.Context(), r.Header), h.tracer, SpanDelivery, trace.WithSpanKind(trace.SpanKindServer))
	defer span.End()
	logger := h.logger
	ctx = logging.WithLogger(ctx, logger)

	res := h.process(ctx, w, r)
	if h.opts.Capture != nil && res.verified != nil {
		h.opts.Capture.Capture(ctx, capture.Delivery{Header: r.Header, Body: res.body, Verified: res.verified, Verdict: res.verdict()})
	}
	latency := slog.Duration("latency", h.opts.Now().Sub(start))
	res.attrs = append(res.attrs, slog.String("outcome", res.outcome()))
	if span.IsRecording() {
		span.SetAttributes(res.spanAttributes()...)
	}
	if res.err != nil {
		e := res.err
		level := slog.LevelWarn
		if e.code == codeEventTooLarge {
			// A verified delivery is dropped for good.
			level = slog.LevelError
		}
		if e.status >= 500 {
			level = slog.LevelError
			w.Header().Set("Retry-After", strconv.Itoa(int(h.opts.RetryAfter.Seconds())))
		}
		if e.status == http.StatusMethodNotAllowed {
			w.Header().Set("Allow", http.MethodPost)
		}
		attrs := append(res.attrs, slog.Int("status", e.status), slog.String("code", e.code), latency)
		if e.err != nil {
			attrs = append(attrs, slog.String("error", e.err.Error()))
		}
		if e.status >= 500 {
			span.SetStatus(codes.Error, e.code)
		}
		logger.Log(ctx, level, "webhook rejected", attrs...)
		var body errorBody
		body.Error.Code, body.Error.Message = e.code, e.message
		writeJSON(w, e.status, body)
		return
	}
	logger.InfoContext(ctx, "webhook "+res.status, append(res.attrs, latency)...)
	writeJSON(w, http.StatusOK, okBody{Status: res.status, WebhookID: res.webhookID})
}

// spanKeys are the fields of a delivery's log line its span records too:
// what identifies the delivery and its job, and how it ended. The rest
// (secret, message id, publish time...) stays on the line or is a child
// span's.
var spanKeys = []string{"scheme", "event_type", "webhook_id", "resource", "outcome"}

// spanAttributes are the delivery span's attributes for res.
func (res *result) spanAttributes() []attribute.KeyValue {
	kv, status := tracing.Attributes(res.attrs, spanKeys...), http.StatusOK
	if res.err != nil {
		status = res.err.status
		kv = append(kv, attribute.String("error.type", res.err.code))
	}
	return append(kv, attribute.Int("http.response.status_code", status))
}

// verdict is the answer res leads to, as a capture records it.
func (res *result) verdict() capture.Verdict {
	if res.err != nil {
		return capture.Verdict{HTTPStatus: res.err.status, Code: res.err.code}
	}
	return capture.Verdict{HTTPStatus: http.StatusOK, Status: res.status}
}

func (h *Handler) process(ctx context.Context, w http.ResponseWriter, r *http.Request) result {
	if r.Method != http.MethodPost {
		return fail(http.StatusMethodNotAllowed, "method_not_allowed", "only POST is accepted", nil)
	}
	in := h.checker.Check(ctx, r.Header, http.MaxBytesReader(w, r.Body, h.opts.MaxBodyBytes))
	res := h.deliver(ctx, in)
	if in.Delivery != nil {
		res.verified, res.body = in.Delivery, in.Body
	}
	return res
}

// deliver answers a checked delivery: the checks' verdict when they reached
// one, else the ledger's and the publisher's.
func (h *Handler) deliver(ctx context.Context, in Inspection) result {
	attrs := in.attrs
	switch v := in.Verdict; {
	case v.Code != "":
		return failAttrs(attrs, v.HTTPStatus, v.Code, v.Message, in.Err)
	case v.HTTPStatus != 0:
		return result{status: v.Status, webhookID: in.WebhookID, attrs: attrs}
	}
	webhookID, ev := in.WebhookID, in.Event
	attrs = append(attrs, slog.String("event_id", ev.ID))
	// A job ends once: its terminal event is claimed on the job, so the
	// same end delivered under a second webhook-id (two webhooks on one
	// URL, a re-created webhook) or already found by the reconciler is a
	// duplicate. Other events are claimed on their webhook-id.
	key := webhookID
	job, terminal := ev.Job()
	if terminal = terminal && event.IsTerminal(in.EventType); terminal {
		key = idempotency.JobKey(job)
	}

	var also func(context.Context, string) error
	if terminal {
		also = func(ctx context.Context, _ string) error {
			return h.jobs.Notified(ctx, registry.Notice{Ref: job, Resource: ev.Data.Resource, EventID: ev.ID, UserMetadata: ev.Data.UserMetadata})
		}
	}
	// The publish's own time, the publish_ms field (a distribution in
	// Terraform's log-based metrics): Pub/Sub's share of the answer.
	var publishTook time.Duration
	// Each step runs on its own deadline, detached from the request (see
	// idempotency.Once), so a claim made or a publish done is settled even
	// if Gemini hangs up.
	once, err := idempotency.Once(ctx, h.ledger, key, idempotency.Steps{Ledger: h.opts.LedgerTimeout, Publish: h.opts.PublishTimeout},
		func(ctx context.Context) (string, error) {
			t0 := h.opts.Now()
			defer func() { publishTook = h.opts.Now().Sub(t0) }()
			return h.publisher.Publish(ctx, in.Message)
		}, also)
	if once.Claim.Outcome == idempotency.Claimed {
		attrs = append(attrs, slog.Float64("publish_ms", float64(publishTook.Microseconds())/1000))
	}
	if once.Claim.Takeover {
		attrs = append(attrs, slog.Bool("takeover", true), slog.Int("attempt", once.Claim.Attempt))
	}
	switch {
	case errors.Is(err, idempotency.ErrClaimFailed):
		return failAttrs(attrs, http.StatusServiceUnavailable, "idempotency_unavailable",
			"the delivery ledger is unavailable; retry later", err)
	case errors.Is(err, publish.ErrMessageTooLarge):
		// The client's own measure includes framing that Size leaves out.
		v := tooLargeVerdict()
		return failAttrs(append(attrs, slog.Int("event_bytes", len(in.Message.Data))), v.HTTPStatus, v.Code, v.Message, err)
	case err != nil:
		// The claim was released: a retry publishes (and subscribers
		// de-duplicate a copy Pub/Sub may have stored by event id).
		return failAttrs(attrs, http.StatusServiceUnavailable, "publish_failed",
			"the event could not be published; retry later", err)
	}
	switch once.Claim.Outcome {
	case idempotency.Duplicate:
		return result{status: StatusDuplicate, webhookID: webhookID, attrs: attrs}
	case idempotency.InFlight:
		return failAttrs(attrs, http.StatusServiceUnavailable, "delivery_in_progress",
			"another attempt of this delivery is in progress; retry later", nil)
	}
	attrs = append(attrs, slog.String("message_id", once.MessageID))
	if once.MarkErr != nil {
		// The event is out; answering 5xx would only make Gemini retry.
		logging.FromContextOr(ctx, h.logger).WarnContext(ctx, "published but could not mark the delivery published", append(attrs, slog.String("error", once.MarkErr.Error()))...)
	}
	if once.AlsoErr != nil {
		// The event is out and the materializer will record the job stored;
		// only the reconciler's shortcut is lost for it.
		logging.FromContextOr(ctx, h.logger).WarnContext(ctx, "published but could not record the job notified", append(attrs, slog.String("error", once.AlsoErr.Error()))...)
	}
	return result{status: StatusAccepted, webhookID: webhookID, attrs: attrs}
}

func fail(status int, code, message string, err error) result {
	return result{err: &apiError{status: status, code: code, message: message, err: err}}
}

func failAttrs(attrs []any, status int, code, message string, err error) result {
	res := fail(status, code, message, err)
	res.attrs = attrs
	return res
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil { // cannot happen for the fixed body types above
		status, b = http.StatusInternalServerError, []byte(`{"error":{"code":"internal","message":"response encoding failed"}}`)
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	_, _ = w.Write(append(b, '\n'))
}
