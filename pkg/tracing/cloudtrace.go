package tracing

import (
	"context"
	"encoding/binary"
	"encoding/hex"
	"strconv"
	"strings"

	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
)

// HeaderCloudTrace is Google's trace header: "TRACE_ID/SPAN_ID;o=OPTIONS",
// a 32-hex-digit trace id, a decimal span id and o=1 when sampled.
const HeaderCloudTrace = "X-Cloud-Trace-Context"

// cloudTraceContext extracts HeaderCloudTrace. It injects nothing: every
// outgoing hop uses W3C traceparent.
type cloudTraceContext struct{}

var _ propagation.TextMapPropagator = cloudTraceContext{}

func (cloudTraceContext) Inject(context.Context, propagation.TextMapCarrier) {}

func (cloudTraceContext) Fields() []string { return []string{HeaderCloudTrace} }

func (cloudTraceContext) Extract(ctx context.Context, carrier propagation.TextMapCarrier) context.Context {
	sc, ok := ParseCloudTrace(carrier.Get(HeaderCloudTrace))
	if !ok {
		return ctx
	}
	return trace.ContextWithRemoteSpanContext(ctx, sc)
}

// ParseCloudTrace parses an X-Cloud-Trace-Context value into a remote span
// context, the span id converted from decimal to OpenTelemetry's 8 bytes
// (16 hex digits). A value without a span id, or with a span id of 0, gets
// no parent span: it is not valid.
func ParseCloudTrace(v string) (trace.SpanContext, bool) {
	traceHex, rest, _ := strings.Cut(strings.TrimSpace(v), "/")
	spanDec, opts, _ := strings.Cut(rest, ";")
	var cfg trace.SpanContextConfig
	b, err := hex.DecodeString(traceHex)
	if err != nil || len(b) != len(cfg.TraceID) {
		return trace.SpanContext{}, false
	}
	copy(cfg.TraceID[:], b)
	span, err := strconv.ParseUint(spanDec, 10, 64)
	if err != nil {
		return trace.SpanContext{}, false
	}
	binary.BigEndian.PutUint64(cfg.SpanID[:], span)
	if opts == "o=1" {
		cfg.TraceFlags = trace.FlagsSampled
	}
	cfg.Remote = true
	sc := trace.NewSpanContext(cfg)
	return sc, sc.IsValid()
}
