// Package logging builds log/slog loggers whose JSON lines Cloud Logging
// understands: "severity" and "message" keys, source locations, and the trace
// of the request being served, so one delivery's lines group together in the
// Logs Explorer.
package logging

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strconv"
	"strings"

	"go.opentelemetry.io/otel/trace"

	"github.com/geminihooks/geminihooks/pkg/config"
)

// Cloud Logging's special JSON keys.
// https://cloud.google.com/logging/docs/structured-logging#special-payload-fields
const (
	KeyTrace        = "logging.googleapis.com/trace"
	KeySpanID       = "logging.googleapis.com/spanId"
	KeyTraceSampled = "logging.googleapis.com/trace_sampled"
	KeySource       = "logging.googleapis.com/sourceLocation"
)

// LevelNotice and LevelCritical extend slog's levels with the Cloud Logging
// severities that slog lacks.
const (
	LevelNotice   = slog.Level(2)
	LevelCritical = slog.Level(12)
)

// New returns a JSON logger writing to w at the given level.
func New(w io.Writer, level slog.Leveler) *slog.Logger {
	return slog.New(slog.NewJSONHandler(w, &slog.HandlerOptions{
		Level:       level,
		AddSource:   true,
		ReplaceAttr: replaceAttr,
	}))
}

// NewFromEnv returns a logger to stdout at LOG_LEVEL (debug, info, notice,
// warning, error; default info).
func NewFromEnv() (*slog.Logger, error) {
	level, err := ParseLevel(os.Getenv(config.EnvLogLevel))
	if err != nil {
		return nil, err
	}
	return New(os.Stdout, level), nil
}

// ParseLevel parses a level name; the empty string means info.
func ParseLevel(s string) (slog.Level, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "debug":
		return slog.LevelDebug, nil
	case "", "info":
		return slog.LevelInfo, nil
	case "notice":
		return LevelNotice, nil
	case "warn", "warning":
		return slog.LevelWarn, nil
	case "error":
		return slog.LevelError, nil
	case "critical":
		return LevelCritical, nil
	}
	return 0, fmt.Errorf("unknown log level %q (want debug, info, notice, warning, error or critical)", s)
}

func replaceAttr(groups []string, a slog.Attr) slog.Attr {
	if len(groups) > 0 {
		return a
	}
	switch a.Key {
	case slog.LevelKey:
		level, _ := a.Value.Any().(slog.Level)
		return slog.String("severity", severity(level))
	case slog.MessageKey:
		a.Key = "message"
	case slog.SourceKey:
		if src, ok := a.Value.Any().(*slog.Source); ok && src != nil {
			return slog.Group(KeySource,
				slog.String("file", src.File),
				slog.String("line", strconv.Itoa(src.Line)),
				slog.String("function", src.Function))
		}
	}
	return a
}

func severity(l slog.Level) string {
	switch {
	case l >= LevelCritical:
		return "CRITICAL"
	case l >= slog.LevelError:
		return "ERROR"
	case l >= slog.LevelWarn:
		return "WARNING"
	case l >= LevelNotice:
		return "NOTICE"
	case l >= slog.LevelInfo:
		return "INFO"
	default:
		return "DEBUG"
	}
}

type ctxKey struct{}

// WithLogger returns a context carrying logger.
func WithLogger(ctx context.Context, logger *slog.Logger) context.Context {
	return context.WithValue(ctx, ctxKey{}, logger)
}

// FromContext returns the context's logger, or slog.Default.
func FromContext(ctx context.Context) *slog.Logger {
	if l, ok := ctx.Value(ctxKey{}).(*slog.Logger); ok && l != nil {
		return l
	}
	return slog.Default()
}

// FromContextOr returns the context's logger, or fallback when it has none:
// a component called outside a request logs on its own logger.
func FromContextOr(ctx context.Context, fallback *slog.Logger) *slog.Logger {
	if l, ok := ctx.Value(ctxKey{}).(*slog.Logger); ok && l != nil {
		return l
	}
	return fallback
}

// TraceAttrs returns the Cloud Logging attributes that link a log line to
// span sc of projectID's Cloud Trace: the trace's full name, the span id in
// 16 hex digits and whether the trace is sampled. It returns nil when
// projectID is empty or sc is not valid.
func TraceAttrs(sc trace.SpanContext, projectID string) []slog.Attr {
	if projectID == "" || !sc.IsValid() {
		return nil
	}
	return []slog.Attr{
		slog.String(KeyTrace, "projects/"+projectID+"/traces/"+sc.TraceID().String()),
		slog.String(KeySpanID, sc.SpanID().String()),
		slog.Bool(KeyTraceSampled, sc.IsSampled()),
	}
}

// WithTrace returns logger with every line logged with a context carrying
// the TraceAttrs of that context's span: a request's lines group under its
// trace in the Logs Explorer and show beside its spans in Cloud Trace. The
// keys are added at the top level, so the logger must open no groups
// (geminihooks' loggers open none). A logger that WithTrace returned is
// returned as it is.
func WithTrace(logger *slog.Logger, projectID string) *slog.Logger {
	if _, ok := logger.Handler().(*traceHandler); ok || projectID == "" {
		return logger
	}
	return slog.New(&traceHandler{inner: logger.Handler(), project: projectID})
}

// traceHandler adds the trace of a record's context to the record.
type traceHandler struct {
	inner   slog.Handler
	project string
}

func (h *traceHandler) Enabled(ctx context.Context, l slog.Level) bool {
	return h.inner.Enabled(ctx, l)
}

func (h *traceHandler) Handle(ctx context.Context, r slog.Record) error {
	if attrs := TraceAttrs(trace.SpanContextFromContext(ctx), h.project); attrs != nil {
		// r is this call's copy and nothing reads it after Handle: adding
		// to it needs no Clone, which would copy every attribute of every
		// line.
		r.AddAttrs(attrs...)
	}
	return h.inner.Handle(ctx, r)
}

func (h *traceHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	return &traceHandler{inner: h.inner.WithAttrs(attrs), project: h.project}
}

func (h *traceHandler) WithGroup(name string) slog.Handler {
	return &traceHandler{inner: h.inner.WithGroup(name), project: h.project}
}
