package tracing

import (
	"context"
	"fmt"
	"io"
	"strings"
	"sync"
	"time"

	"go.opentelemetry.io/otel/codes"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
)

// LineExporter writes each span as one line of text, for a person reading
// a terminal:
//
//	span 4bf92f3577b34da6a3ce929d0e0e4736 00f067aa0ba902b7<-53995c3f42cd8ad8   1.873ms publish messaging.destination.name=projects/p/topics/events
//
// that is the trace id, the span id after its parent's (or "-" for a root),
// the duration, the name, "ERROR: message" for a failed span, and the
// attributes.
type LineExporter struct {
	mu sync.Mutex
	w  io.Writer
}

var _ sdktrace.SpanExporter = (*LineExporter)(nil)

// NewLineExporter returns an exporter writing to w.
func NewLineExporter(w io.Writer) *LineExporter { return &LineExporter{w: w} }

// ExportSpans writes one line per span.
func (e *LineExporter) ExportSpans(_ context.Context, spans []sdktrace.ReadOnlySpan) error {
	var b strings.Builder
	for _, s := range spans {
		b.WriteString(FormatSpan(s))
		b.WriteByte('\n')
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	_, err := io.WriteString(e.w, b.String())
	return err
}

// Shutdown does nothing: the writer belongs to the caller.
func (e *LineExporter) Shutdown(context.Context) error { return nil }

// FormatSpan returns s as a LineExporter writes it, without the newline.
func FormatSpan(s sdktrace.ReadOnlySpan) string {
	parent := "-"
	if p := s.Parent(); p.IsValid() {
		parent = p.SpanID().String()
	}
	var b strings.Builder
	fmt.Fprintf(&b, "span %s %s<-%s %10s %s", s.SpanContext().TraceID(), s.SpanContext().SpanID(), parent,
		s.EndTime().Sub(s.StartTime()).Round(time.Microsecond), s.Name())
	if st := s.Status(); st.Code == codes.Error {
		fmt.Fprintf(&b, " ERROR: %s", st.Description)
	}
	for _, kv := range s.Attributes() {
		fmt.Fprintf(&b, " %s=%s", kv.Key, kv.Value.String())
	}
	return b.String()
}
