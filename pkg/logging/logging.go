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
	"net/http"
	"os"
	"strings"

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
				slog.String("line", fmt.Sprint(src.Line)),
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

// TraceAttrs returns the Cloud Logging trace attributes for r, read from
// X-Cloud-Trace-Context ("TRACE_ID/SPAN_ID;o=1") or, failing that, from a
// W3C traceparent ("00-TRACE_ID-SPAN_ID-FLAGS"); Cloud Run forwards both.
// It returns nil when projectID is empty or the request carries no trace.
func TraceAttrs(r *http.Request, projectID string) []any {
	if projectID == "" {
		return nil
	}
	traceID, spanID, sampled := parseCloudTrace(r.Header.Get("X-Cloud-Trace-Context"))
	if traceID == "" {
		traceID, spanID, sampled = parseTraceparent(r.Header.Get("traceparent"))
	}
	if traceID == "" {
		return nil
	}
	attrs := []any{slog.String(KeyTrace, "projects/"+projectID+"/traces/"+traceID)}
	if spanID != "" {
		attrs = append(attrs, slog.String(KeySpanID, spanID))
	}
	return append(attrs, slog.Bool(KeyTraceSampled, sampled))
}

// Middleware puts a logger carrying the request's trace into its context.
func Middleware(logger *slog.Logger, projectID string) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			l := logger
			if attrs := TraceAttrs(r, projectID); attrs != nil {
				l = logger.With(attrs...)
			}
			next.ServeHTTP(w, r.WithContext(WithLogger(r.Context(), l)))
		})
	}
}

func parseCloudTrace(h string) (traceID, spanID string, sampled bool) {
	if h == "" {
		return "", "", false
	}
	traceID, rest, _ := strings.Cut(h, "/")
	spanID, opts, _ := strings.Cut(rest, ";")
	if !isHex(traceID, 32) {
		return "", "", false
	}
	return traceID, spanID, opts == "o=1"
}

func parseTraceparent(h string) (traceID, spanID string, sampled bool) {
	parts := strings.Split(h, "-")
	if len(parts) != 4 || !isHex(parts[1], 32) || !isHex(parts[2], 16) || len(parts[3]) != 2 {
		return "", "", false
	}
	return parts[1], parts[2], parts[3][1]&1 == 1 // low bit of the flags byte's last hex digit: sampled
}

func isHex(s string, n int) bool {
	if len(s) != n {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F') {
			return false
		}
	}
	return true
}
