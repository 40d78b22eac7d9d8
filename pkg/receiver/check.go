package receiver

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"time"

	"github.com/geminihooks/geminihooks/pkg/event"
	"github.com/geminihooks/geminihooks/pkg/publish"
	"github.com/geminihooks/geminihooks/pkg/signature"
	"github.com/geminihooks/geminihooks/pkg/tracing"
)

// Verdict is an answer of the receiver: a 2xx status word, or an error code
// with its HTTP status and message.
type Verdict struct {
	// HTTPStatus is the response's status code.
	HTTPStatus int
	// Status is a 2xx answer's status: StatusAccepted, StatusDuplicate or
	// StatusIgnored.
	Status string
	// Code and Message are an error answer's, e.g. body_claims_mismatch.
	Code, Message string
}

// Inspection is what a Checker found out about one delivery: everything the
// receiver decides before it touches its ledger or Pub/Sub.
type Inspection struct {
	// Body is the body as read, up to the size limit.
	Body []byte
	// Delivery is the verified delivery; nil when the request was refused
	// before or by the verification.
	Delivery *signature.Delivery
	// EventType is the notification's type, once it parsed.
	EventType string
	// WebhookID is the id the delivery is recorded and published under: the
	// verified id or, for a JWT delivery without one, event.DerivedID.
	WebhookID string
	// Event is the event to publish; nil for a ping or a refused delivery.
	Event *event.Event
	// Message is Event as it is published.
	Message publish.Message
	// Verdict is the answer when the checks decide it: an error, or 200
	// ignored for a ping. Its HTTPStatus is 0 when the delivery passed them
	// all: the ledger then decides between accepted and duplicate, and a
	// failing backend can still make it a 503.
	Verdict Verdict
	// Err is the cause behind an error verdict (for example the verifier's
	// error); never shown to the sender.
	Err error

	// attrs are logged with the request's outcome.
	attrs []any
}

// Checker makes the checks that decide a delivery's answer before any
// backend is touched: the body limit, the signature, the event's parse and
// normalization (for a JWT delivery through event.FromDelivery, so a body
// that contradicts the verified claims is refused) and the event's size
// against Pub/Sub's limit. The Handler runs one on every request, and
// `geminihooks verify` one on a captured delivery, so that both reach the
// same verdict.
type Checker struct {
	verifier     Verifier
	maxBodyBytes int64
	now          func() time.Time
}

// NewChecker returns a Checker with opts' MaxBodyBytes and Now (the other
// fields do not apply); v is required.
func NewChecker(v Verifier, opts Options) (*Checker, error) {
	if v == nil {
		return nil, errors.New("receiver: missing verifier")
	}
	if opts.MaxBodyBytes <= 0 {
		opts.MaxBodyBytes = DefaultMaxBodyBytes
	}
	if opts.MaxBodyBytes > MaxBodyBytesLimit {
		return nil, fmt.Errorf("receiver: MaxBodyBytes %d exceeds %d", opts.MaxBodyBytes, MaxBodyBytesLimit)
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	return &Checker{verifier: v, maxBodyBytes: opts.MaxBodyBytes, now: opts.Now}, nil
}

// Check reads body (the Handler passes it through http.MaxBytesReader; any
// reader will do) and judges the delivery.
func (c *Checker) Check(ctx context.Context, h http.Header, body io.Reader) Inspection {
	b, err := io.ReadAll(io.LimitReader(body, c.maxBodyBytes+1))
	if err != nil {
		if maxErr := (*http.MaxBytesError)(nil); errors.As(err, &maxErr) {
			return c.tooLarge()
		}
		return refuse(http.StatusBadRequest, "body_unreadable", "request body could not be read", err)
	}
	if int64(len(b)) > c.maxBodyBytes {
		return c.tooLarge()
	}
	vctx, span := tracing.Start(ctx, SpanVerify)
	delivery, err := c.verifier.Verify(vctx, h, b)
	tracing.End(span, err)
	if err != nil {
		in := verifyFailure(err)
		in.Body = b
		return in
	}
	in := c.inspect(delivery, b)
	in.Body, in.Delivery = b, delivery
	return in
}

func (c *Checker) tooLarge() Inspection {
	return refuse(http.StatusRequestEntityTooLarge, "body_too_large",
		"request body exceeds "+strconv.FormatInt(c.maxBodyBytes, 10)+" bytes", nil)
}

// inspect turns a verified delivery into the event to publish.
func (c *Checker) inspect(delivery *signature.Delivery, body []byte) Inspection {
	attrs := []any{slog.String("scheme", string(delivery.Scheme))}
	if delivery.SecretLabel != "" {
		attrs = append(attrs, slog.String("secret", delivery.SecretLabel))
	}
	if delivery.KeyID != "" {
		// Undocumented: Gemini's iss and aud. Log them so operators can pin
		// WEBHOOK_JWT_ISSUER / WEBHOOK_JWT_AUDIENCE from a real delivery.
		attrs = append(attrs, slog.String("kid", delivery.KeyID),
			slog.Any("jwt_iss", delivery.Claims["iss"]), slog.Any("jwt_aud", delivery.Claims["aud"]))
	}
	n, err := notification(delivery, body)
	if err != nil {
		in := eventFailure(err)
		in.attrs = append(attrs, in.attrs...)
		return in
	}
	attrs = append(attrs, slog.String("event_type", n.Type))
	if n.IsPing() {
		return Inspection{EventType: n.Type, WebhookID: delivery.ID, Verdict: Verdict{HTTPStatus: http.StatusOK, Status: StatusIgnored},
			attrs: append(attrs, slog.String("webhook_id", delivery.ID))}
	}

	webhookID := delivery.ID
	if webhookID == "" {
		// Undocumented: whether per-request (JWT) deliveries carry a
		// webhook-id. Without one (and without a jti) a job ends once, so
		// its type and resource identify the event instead.
		webhookID = event.DerivedID(n)
	}
	attrs = append(attrs, slog.String("webhook_id", webhookID))
	ev, err := event.Normalize(n, event.Meta{WebhookID: webhookID, Scheme: string(delivery.Scheme), ReceivedAt: c.now()})
	if err != nil {
		in := eventFailure(err)
		in.EventType, in.attrs = n.Type, append(attrs, in.attrs...)
		return in
	}
	attrs = append(attrs, slog.String("resource", ev.Subject))
	// Called directly: json.Marshal would re-validate and compact the
	// output of the event's own MarshalJSON, a second pass for nothing.
	data, err := ev.MarshalJSON()
	if err != nil {
		in := refuse(http.StatusInternalServerError, "internal", "event could not be encoded", err)
		in.EventType, in.attrs = n.Type, attrs
		return in
	}
	in := Inspection{EventType: n.Type, WebhookID: webhookID, Event: ev,
		Message: publish.Message{Data: data, Attributes: ev.Attributes(), OrderingKey: ev.OrderingKey()}, attrs: attrs}
	if size := in.Message.Size(); size > publish.MaxMessageBytes {
		// Known before any claim: no retry can succeed.
		in.Verdict, in.Err = tooLargeVerdict(), fmt.Errorf("%w: %d bytes", publish.ErrMessageTooLarge, size)
		in.attrs = append(in.attrs, slog.Int("event_bytes", len(data)))
	}
	return in
}

// tooLargeVerdict answers a verified delivery whose event Pub/Sub refuses
// as too large.
func tooLargeVerdict() Verdict {
	return Verdict{HTTPStatus: http.StatusUnprocessableEntity, Code: codeEventTooLarge,
		Message: "the event built from this delivery exceeds Pub/Sub's message size limit and cannot be published"}
}

// notification extracts the event from a verified delivery: for a JWT, its
// verified claims decide (event.FromDelivery); otherwise the body does.
func notification(d *signature.Delivery, body []byte) (*event.Notification, error) {
	if d.Scheme == signature.SchemeJWT {
		return event.FromDelivery(body, d.Claims)
	}
	return event.Parse(body)
}

// refuse is an Inspection that ends in an error answer.
func refuse(status int, code, message string, err error) Inspection {
	return Inspection{Verdict: Verdict{HTTPStatus: status, Code: code, Message: message}, Err: err}
}

func verifyFailure(err error) Inspection {
	var se *signature.Error
	if !errors.As(err, &se) {
		return refuse(http.StatusInternalServerError, "internal", "verification failed unexpectedly", err)
	}
	return refuse(se.Kind.HTTPStatus(), se.Code, se.Message, se.Err)
}

func eventFailure(err error) Inspection {
	var ee *event.Error
	if !errors.As(err, &ee) {
		return refuse(http.StatusInternalServerError, "internal", "event could not be processed", err)
	}
	status := http.StatusBadRequest
	if ee.Code == event.CodeBodyClaimsMismatch {
		// The body is not what the verified token says: it is unauthenticated.
		status = http.StatusUnauthorized
	}
	return refuse(status, ee.Code, ee.Message, nil)
}
