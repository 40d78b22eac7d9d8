package materializer

import (
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"time"

	"github.com/geminihooks/geminihooks/pkg/event"
	"github.com/geminihooks/geminihooks/pkg/logging"
)

// maxPushBytes caps a push request: events are a few KiB, and a Pub/Sub
// message of at most 10 MB is 13.4 MB in the envelope's base64, plus its
// attributes.
const maxPushBytes = 16 << 20

// Handler serves Pub/Sub push requests (and Eventarc's CloudEvents) for the
// events topic. Its status code is the acknowledgement: 2xx acks (stored,
// redundant, or a permanent failure recorded and announced), 5xx nacks a
// transient failure so Pub/Sub redelivers with backoff, and 4xx nacks a
// request that is not a decodable event, which ends in the dead-letter topic
// after the subscription's maximum delivery attempts, where it is kept.
type Handler struct {
	m         *Materializer
	logger    *slog.Logger
	projectID string
}

// NewHandler returns the push endpoint for m.
func NewHandler(m *Materializer, logger *slog.Logger, projectID string) (*Handler, error) {
	if m == nil || logger == nil {
		return nil, errors.New("materializer: NewHandler needs a materializer and a logger")
	}
	return &Handler{m: m, logger: logger, projectID: projectID}, nil
}

// ServeHTTP implements http.Handler.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	logger := h.logger
	if attrs := logging.TraceAttrs(r, h.projectID); attrs != nil {
		logger = logger.With(attrs...)
	}
	ctx := logging.WithLogger(r.Context(), logger)
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		writeJSON(w, http.StatusMethodNotAllowed, errBody("method_not_allowed", "only POST is accepted"))
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxPushBytes))
	if _, tooLarge := errors.AsType[*http.MaxBytesError](err); tooLarge {
		writeJSON(w, http.StatusRequestEntityTooLarge, errBody("body_too_large", "push request exceeds "+strconv.Itoa(maxPushBytes)+" bytes"))
		return
	}
	if err != nil {
		logger.WarnContext(ctx, "push request unreadable", slog.String("code", "unreadable_body"), slog.String("error", err.Error()))
		writeJSON(w, http.StatusBadRequest, errBody("unreadable_body", "the request body could not be read"))
		return
	}
	env, err := DecodePush(r, body)
	if err != nil {
		logger.ErrorContext(ctx, "push request rejected", slog.String("code", "invalid_push"), slog.String("error", err.Error()))
		writeJSON(w, http.StatusBadRequest, errBody("invalid_push", "the request is not a Pub/Sub push or CloudEvent"))
		return
	}
	attrs := []any{slog.String("message_id", env.Message.ID()), slog.Int("delivery_attempt", env.DeliveryAttempt)}
	ev, err := event.Decode(env.Message.Data)
	if err != nil {
		logger.ErrorContext(ctx, "event rejected", append(attrs, slog.String("code", "invalid_event"), slog.String("error", err.Error()))...)
		writeJSON(w, http.StatusBadRequest, errBody("invalid_event", "the message is not a geminihooks completion event"))
		return
	}
	attrs = append(attrs, slog.String("event_id", ev.ID), slog.String("resource", ev.Subject), slog.String("event_type", ev.Data.GeminiEventType))

	res, err := h.m.Materialize(ctx, ev)
	attrs = append(attrs, slog.Duration("latency", time.Since(start)))
	if err != nil {
		logger.ErrorContext(ctx, "materialization failed; the event will be redelivered", append(attrs, slog.String("error", err.Error()))...)
		writeJSON(w, http.StatusServiceUnavailable, errBody("transient_failure", "results could not be stored yet; retry"))
		return
	}
	logger.InfoContext(ctx, "event materialized", append(attrs, slog.String("outcome", string(res.Outcome)), slog.String("folder", res.Folder))...)
	writeJSON(w, http.StatusOK, map[string]string{"outcome": string(res.Outcome), "folder": res.Folder})
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
