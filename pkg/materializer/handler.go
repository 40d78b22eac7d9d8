package materializer

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"time"

	"cloud.google.com/go/pubsub/v2"
	"cloud.google.com/go/pubsub/v2/apiv1/pubsubpb"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"

	"github.com/geminihooks/geminihooks/pkg/event"
	"github.com/geminihooks/geminihooks/pkg/logging"
	"github.com/geminihooks/geminihooks/pkg/tracing"
)

// maxPushBytes caps a push request: events are a few KiB, and a Pub/Sub
// message of at most 10 MB is 13.4 MB in the envelope's base64, plus its
// attributes.
const maxPushBytes = 16 << 20

// Outcomes of a push request that Materialize did not decide, the outcome
// field of its log line beside the Outcome constants.
const (
	// OutcomeRetry: a transient failure, answered 503 for a redelivery.
	OutcomeRetry = "retry"
	// OutcomeRejected: the request is not a decodable event (4xx).
	OutcomeRejected = "rejected"
)

// MsgMaterialized, MsgRetry and MsgRejected are the messages of a push
// request's one log line; Terraform's log-based metrics match them.
const (
	MsgMaterialized = "event materialized"
	MsgRetry        = "materialization failed; the event will be redelivered"
	MsgRejected     = "push request rejected"
)

// HandlerOptions configures a Handler.
type HandlerOptions struct {
	// ProjectID attaches Cloud Trace ids to log lines.
	ProjectID string
	// Tracer records a span per push request, continuing the trace of the
	// receiver's publish (default: none recorded).
	Tracer trace.TracerProvider
}

// Handler serves Pub/Sub push requests (and Eventarc's CloudEvents) for the
// events topic. Its status code is the acknowledgement: 2xx acks (stored,
// redundant, or a permanent failure recorded and announced), 5xx nacks a
// transient failure so Pub/Sub redelivers with backoff, and 4xx nacks a
// request that is not a decodable event, which ends in the dead-letter topic
// after the subscription's maximum delivery attempts, where it is kept.
type Handler struct {
	m      *Materializer
	logger *slog.Logger
	tracer trace.Tracer
}

// NewHandler returns the push endpoint for m.
func NewHandler(m *Materializer, logger *slog.Logger, opts HandlerOptions) (*Handler, error) {
	if m == nil || logger == nil {
		return nil, errors.New("materializer: NewHandler needs a materializer and a logger")
	}
	return &Handler{m: m, logger: logging.WithTrace(logger, opts.ProjectID), tracer: tracing.Tracer(opts.Tracer)}, nil
}

// ServeHTTP implements http.Handler.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		writeJSON(w, http.StatusMethodNotAllowed, errBody("method_not_allowed", "only POST is accepted"))
		return
	}
	ctx := tracing.Extract(r.Context(), r.Header)
	body, readErr := io.ReadAll(http.MaxBytesReader(w, r.Body, maxPushBytes))
	var env *PushEnvelope
	var decodeErr error
	opts := []trace.SpanStartOption{trace.WithSpanKind(trace.SpanKindConsumer), trace.WithTimestamp(start)}
	if readErr == nil {
		if env, decodeErr = DecodePush(r, body); decodeErr == nil {
			var links []trace.Link
			ctx, links = continueTrace(ctx, env.Message.Attributes)
			opts = append(opts, trace.WithLinks(links...))
		}
	}
	ctx, span := tracing.StartRoot(ctx, h.tracer, SpanMaterialize, opts...)
	defer span.End()
	ctx = logging.WithLogger(ctx, h.logger)
	// A request that cannot be an event is an ERROR: it will end in the
	// dead-letter topic.
	reject := func(level slog.Level, status int, code, message string, err error, attrs ...any) {
		attrs = append(attrs, slog.String("outcome", OutcomeRejected), slog.String("code", code), slog.Int("status", status))
		if err != nil {
			attrs = append(attrs, slog.String("error", err.Error()))
		}
		span.SetAttributes(attribute.String("error.type", code), attribute.Int("http.response.status_code", status))
		h.logger.Log(ctx, level, MsgRejected, attrs...)
		writeJSON(w, status, errBody(code, message))
	}
	switch {
	case readErr != nil:
		if _, tooLarge := errors.AsType[*http.MaxBytesError](readErr); tooLarge {
			reject(slog.LevelWarn, http.StatusRequestEntityTooLarge, "body_too_large", "push request exceeds "+strconv.Itoa(maxPushBytes)+" bytes", nil)
			return
		}
		reject(slog.LevelWarn, http.StatusBadRequest, "unreadable_body", "the request body could not be read", readErr)
		return
	case decodeErr != nil:
		reject(slog.LevelError, http.StatusBadRequest, "invalid_push", "the request is not a Pub/Sub push or CloudEvent", decodeErr)
		return
	}
	attrs := []any{slog.String("message_id", env.Message.ID()), slog.Int("delivery_attempt", env.DeliveryAttempt)}
	ev, err := event.Decode(env.Message.Data)
	if err != nil {
		reject(slog.LevelError, http.StatusBadRequest, "invalid_event", "the message is not a geminihooks completion event", err, attrs...)
		return
	}
	attrs = append(attrs, slog.String("event_id", ev.ID), slog.String("resource", ev.Subject),
		slog.String("event_type", ev.Data.GeminiEventType), slog.String("kind", string(ev.Data.Kind)))

	res, err := h.m.Materialize(ctx, ev)
	if err != nil {
		attrs = append(attrs, slog.String("outcome", OutcomeRetry), slog.String("code", "transient_failure"),
			slog.Duration("latency", time.Since(start)), slog.String("error", err.Error()))
		span.SetAttributes(tracing.Attributes(attrs, spanKeys...)...)
		span.SetStatus(codes.Error, err.Error())
		h.logger.ErrorContext(ctx, MsgRetry, attrs...)
		writeJSON(w, http.StatusServiceUnavailable, errBody("transient_failure", "results could not be stored yet; retry"))
		return
	}
	attrs = append(attrs, slog.String("outcome", string(res.Outcome)), slog.String("folder", res.Folder))
	if res.Code != "" {
		attrs = append(attrs, slog.String("code", res.Code))
	}
	if res.Outcome == Stored {
		attrs = append(attrs, slog.Int64("bytes", res.Bytes), slog.Int("objects", res.Objects),
			slog.Float64("lag_ms", float64(res.Lag.Microseconds())/1000))
	}
	attrs = append(attrs, slog.Duration("latency", time.Since(start)))
	span.SetAttributes(tracing.Attributes(attrs, spanKeys...)...)
	h.logger.InfoContext(ctx, MsgMaterialized, attrs...)
	writeJSON(w, http.StatusOK, map[string]string{"outcome": string(res.Outcome), "folder": res.Folder})
}

// spanKeys are the fields of a push's log line its span records too: the
// job, the retry count and how it ended; the line keeps the rest.
var spanKeys = []string{"resource", "event_type", "kind", "delivery_attempt", "outcome", "code", "bytes", "objects"}

// continueTrace returns ctx with the trace context that the publisher's
// Pub/Sub client put in the message's attributes as the parent, and the
// push request's own trace (Cloud Run's) as a link. It returns ctx as it
// is when the message carries no trace context.
func continueTrace(ctx context.Context, attrs map[string]string) (context.Context, []trace.Link) {
	if len(attrs) == 0 {
		return ctx, nil
	}
	// The client's own carrier: it reads the googclient_ attributes the
	// client's OpenTelemetry support writes, with the client's propagator.
	carrier := pubsub.NewMessageCarrierFromPB(&pubsubpb.PubsubMessage{Attributes: attrs})
	mctx := propagation.TraceContext{}.Extract(ctx, carrier)
	msgSC, reqSC := trace.SpanContextFromContext(mctx), trace.SpanContextFromContext(ctx)
	if !msgSC.IsValid() || msgSC.Equal(reqSC) {
		return ctx, nil
	}
	if !reqSC.IsValid() {
		return mctx, nil
	}
	return mctx, []trace.Link{{SpanContext: reqSC}}
}

func errBody(code, message string) any {
	return map[string]any{"error": map[string]string{"code": code, "message": message}}
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, _ := json.Marshal(v) // fixed, encodable shapes
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(append(b, '\n'))
}
