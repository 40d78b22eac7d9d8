// Package tracing holds what every function shares to trace a job's journey
// with OpenTelemetry: the propagator that reads incoming trace context, the
// helpers that start child spans, and the deployed tracer provider, which
// exports to Cloud Trace through the Telemetry (OTLP) API.
//
// No tracer lives in a package variable. A function's root span (one per
// webhook delivery, push delivery or reconcile pass) is started with
// [StartRoot] on the tracer of the TracerProvider its Build was given, which
// it keeps in the context; everything below starts children with [Start], on
// that tracer, so nested code needs no tracer of its own and starts
// non-recording spans when there is none.
package tracing

import (
	"context"
	"log/slog"
	"net/http"
	"slices"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"
)

// Scope is the instrumentation scope of every span geminihooks starts.
const Scope = "github.com/geminihooks/geminihooks"

// Tracer returns tp's tracer for geminihooks' spans; a nil tp gives a tracer
// whose spans record nothing (tracing off).
func Tracer(tp trace.TracerProvider) trace.Tracer {
	if tp == nil {
		tp = noop.NewTracerProvider()
	}
	return tp.Tracer(Scope)
}

// tracerKey keys the tracer of a request's spans in its context.
type tracerKey struct{}

// StartRoot starts a request's root span on tracer and returns a context
// carrying both, for Start.
func StartRoot(ctx context.Context, tracer trace.Tracer, name string, opts ...trace.SpanStartOption) (context.Context, trace.Span) {
	ctx, span := tracer.Start(ctx, name, opts...)
	return context.WithValue(ctx, tracerKey{}, tracer), span
}

// Start starts a span named name as a child of the span in ctx, on the
// tracer StartRoot left in ctx or, failing that, on the TracerProvider of
// the span in ctx. (Looking the tracer up in its provider, under a lock, for
// every span cost a few percent of the receiver's throughput.)
//
// A span whose parent records nothing (tracing off, or the trace not
// sampled) would record nothing either: Start then returns ctx and that
// parent, whose End does nothing, so that untraced work allocates nothing
// for its spans.
func Start(ctx context.Context, name string, attrs ...attribute.KeyValue) (context.Context, trace.Span) {
	if parent := trace.SpanFromContext(ctx); !parent.IsRecording() {
		return ctx, parent
	}
	tracer, ok := ctx.Value(tracerKey{}).(trace.Tracer)
	if !ok {
		tracer = trace.SpanFromContext(ctx).TracerProvider().Tracer(Scope)
	}
	if len(attrs) == 0 {
		return tracer.Start(ctx, name)
	}
	// A copy, so that the caller's attrs do not escape to the heap when
	// nothing is recorded.
	return tracer.Start(ctx, name, trace.WithAttributes(slices.Clone(attrs)...))
}

// End ends span, marking it failed with err when err is not nil.
func End(span trace.Span, err error) {
	if err != nil {
		Fail(span, err)
	}
	span.End()
}

// Fail records err on span and sets its status to Error.
func Fail(span trace.Span, err error) {
	span.RecordError(err)
	span.SetStatus(codes.Error, err.Error())
}

// Propagator reads trace context from W3C traceparent and tracestate
// headers and, failing those, from Google's X-Cloud-Trace-Context; it
// writes W3C headers only. Cloud Run forwards both kinds to a function.
func Propagator() propagation.TextMapPropagator {
	// Later propagators win: traceparent overrides X-Cloud-Trace-Context
	// when a request carries both.
	return propagation.NewCompositeTextMapPropagator(cloudTraceContext{}, propagation.TraceContext{})
}

// Extract returns ctx with the remote span context of h's trace headers,
// if any, as the parent of the spans started from it.
func Extract(ctx context.Context, h http.Header) context.Context {
	return Propagator().Extract(ctx, propagation.HeaderCarrier(h))
}

// Attributes converts the scalar attributes of a log line (slog.Attr
// values of kind string, int, float or bool) to span attributes, so that a
// span carries what its line says; others are left out. Given keys, it
// keeps only the attributes with those keys: what identifies a span's work
// and how it ended, the line (linked by trace) keeping the rest. Fewer
// attributes are cheaper to record: the SDK deduplicates up to eight
// without allocating. The result has room for two more (an answer's status
// and error type, say) without growing.
func Attributes(attrs []any, keys ...string) []attribute.KeyValue {
	n := len(attrs)
	if len(keys) > 0 {
		n = len(keys)
	}
	out := make([]attribute.KeyValue, 0, n+2)
	for _, a := range attrs {
		attr, ok := a.(slog.Attr)
		if !ok || len(keys) > 0 && !slices.Contains(keys, attr.Key) {
			continue
		}
		switch v := attr.Value.Resolve(); v.Kind() {
		case slog.KindString:
			out = append(out, attribute.String(attr.Key, v.String()))
		case slog.KindInt64:
			out = append(out, attribute.Int64(attr.Key, v.Int64()))
		case slog.KindFloat64:
			out = append(out, attribute.Float64(attr.Key, v.Float64()))
		case slog.KindBool:
			out = append(out, attribute.Bool(attr.Key, v.Bool()))
		}
	}
	return out
}
