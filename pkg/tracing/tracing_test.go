package tracing_test

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"net/http"
	"regexp"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"go.opentelemetry.io/otel/attribute"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/geminihooks/geminihooks/pkg/tracing"
)

func TestParseCloudTrace(t *testing.T) {
	t.Parallel()
	const traceID = "105445aa7843bc8bf206b12000100000"
	tests := []struct {
		name, header string
		ok           bool
		span         string // hex
		sampled      bool
	}{
		{name: "sampled", header: traceID + "/1;o=1", ok: true, span: "0000000000000001", sampled: true},
		{name: "not_sampled", header: traceID + "/18446744073709551615;o=0", ok: true, span: "ffffffffffffffff"},
		{name: "no_options", header: traceID + "/255", ok: true, span: "00000000000000ff"},
		{name: "no_span", header: traceID},
		{name: "zero_span", header: traceID + "/0;o=1"},
		{name: "span_overflows", header: traceID + "/18446744073709551616;o=1"},
		{name: "hex_span", header: traceID + "/ff;o=1"},
		{name: "short_trace", header: "105445aa/1;o=1"},
		{name: "zero_trace", header: strings.Repeat("0", 32) + "/1;o=1"},
		{name: "empty"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			sc, ok := tracing.ParseCloudTrace(tc.header)
			if ok != tc.ok {
				t.Fatalf("ParseCloudTrace(%q) ok = %v, want %v", tc.header, ok, tc.ok)
			}
			if !ok {
				return
			}
			if sc.TraceID().String() != traceID || sc.SpanID().String() != tc.span || sc.IsSampled() != tc.sampled || !sc.IsRemote() {
				t.Errorf("ParseCloudTrace(%q) = trace %s span %s sampled %v remote %v; want %s %s %v remote",
					tc.header, sc.TraceID(), sc.SpanID(), sc.IsSampled(), sc.IsRemote(), traceID, tc.span, tc.sampled)
			}
		})
	}
}

func TestExtract(t *testing.T) {
	t.Parallel()
	const cloud = "105445aa7843bc8bf206b12000100000/1;o=1"
	const parent = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
	tests := []struct {
		name    string
		headers map[string]string
		trace   string // "" for none
	}{
		{name: "traceparent", headers: map[string]string{"traceparent": parent}, trace: "0af7651916cd43dd8448eb211c80319c"},
		{name: "cloud_trace_context", headers: map[string]string{tracing.HeaderCloudTrace: cloud}, trace: "105445aa7843bc8bf206b12000100000"},
		{name: "both_traceparent_wins", headers: map[string]string{"traceparent": parent, tracing.HeaderCloudTrace: cloud}, trace: "0af7651916cd43dd8448eb211c80319c"},
		{name: "malformed_traceparent_falls_back", headers: map[string]string{"traceparent": "00-nothex", tracing.HeaderCloudTrace: cloud}, trace: "105445aa7843bc8bf206b12000100000"},
		{name: "none", headers: map[string]string{}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			h := http.Header{}
			for k, v := range tc.headers {
				h.Set(k, v)
			}
			sc := trace.SpanContextFromContext(tracing.Extract(context.Background(), h))
			got := ""
			if sc.IsValid() {
				got = sc.TraceID().String()
			}
			if got != tc.trace {
				t.Errorf("extracted trace %q, want %q", got, tc.trace)
			}
		})
	}
}

func TestStart_childOnTheParentsProvider(t *testing.T) {
	t.Parallel()
	spans := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(spans))
	ctx, root := tracing.Tracer(tp).Start(context.Background(), "root")
	_, child := tracing.Start(ctx, "child", attribute.String("k", "v"))
	tracing.End(child, errors.New("boom"))
	root.End()

	ended := spans.Ended()
	if len(ended) != 2 || ended[0].Name() != "child" {
		t.Fatalf("recorded %d spans, want child then root", len(ended))
	}
	if ended[0].Parent().SpanID() != ended[1].SpanContext().SpanID() {
		t.Error("the child's parent is not the root")
	}
	if ended[0].Status().Description != "boom" || len(ended[0].Events()) != 1 {
		t.Errorf("the failed child has status %+v and %d events, want the error recorded", ended[0].Status(), len(ended[0].Events()))
	}

	// Without a span in ctx, nothing is recorded and nothing fails.
	_, orphan := tracing.Start(context.Background(), "orphan")
	if orphan.IsRecording() {
		t.Error("a span started without a parent records")
	}
	if _, off := tracing.Tracer(nil).Start(context.Background(), "off"); off.IsRecording() {
		t.Error("a nil provider's span records")
	}

}

// Not parallel: AllocsPerRun counts the whole process's allocations.
func TestStart_unsampledChildIsFree(t *testing.T) {
	spans := tracetest.NewSpanRecorder()
	unsampled := sdktrace.NewTracerProvider(sdktrace.WithSampler(sdktrace.NeverSample()), sdktrace.WithSpanProcessor(spans))
	ctx, parent := tracing.StartRoot(context.Background(), tracing.Tracer(unsampled), "unsampled")
	if n := testing.AllocsPerRun(100, func() {
		_, child := tracing.Start(ctx, "child", attribute.String("k", "v"))
		tracing.End(child, nil)
	}); n != 0 {
		t.Errorf("a child of an unsampled span costs %v allocations, want 0", n)
	}
	parent.End()
	if n := len(spans.Ended()); n != 0 {
		t.Errorf("%d spans of an unsampled trace recorded, want 0", n)
	}
}

func TestAttributes_fromLogLine(t *testing.T) {
	t.Parallel()
	line := []any{slog.String("s", "x"), slog.Int("i", 3), slog.Float64("f", 1.5), slog.Bool("b", true),
		slog.Any("skipped", map[string]int{}), "not an attr"}
	for _, tc := range []struct {
		name string
		keys []string
		want []attribute.KeyValue
	}{
		{"every scalar", nil, []attribute.KeyValue{attribute.String("s", "x"), attribute.Int64("i", 3), attribute.Float64("f", 1.5), attribute.Bool("b", true)}},
		{"only the keys given, in the line's order", []string{"b", "s", "skipped", "absent"}, []attribute.KeyValue{attribute.String("s", "x"), attribute.Bool("b", true)}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := tracing.Attributes(line, tc.keys...)
			if diff := cmp.Diff(tc.want, got, cmp.Comparer(func(a, b attribute.KeyValue) bool { return a == b })); diff != "" {
				t.Errorf("Attributes (-want +got):\n%s", diff)
			}
			if cap(got)-len(got) < 2 {
				t.Errorf("cap %d for %d attributes, want room for two more", cap(got), len(got))
			}
		})
	}
}

func TestLineExporter(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(tracing.NewLineExporter(&buf)))
	ctx, root := tracing.Tracer(tp).Start(context.Background(), "webhook delivery")
	_, child := tracing.Start(ctx, "pubsub publish", attribute.String("messaging.destination.name", "events"))
	tracing.End(child, errors.New("unavailable"))
	root.End()
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	if len(lines) != 2 {
		t.Fatalf("got %d lines, want 2:\n%s", len(lines), buf.String())
	}
	child1 := regexp.MustCompile(`^span [0-9a-f]{32} [0-9a-f]{16}<-[0-9a-f]{16} +[0-9.]+[µm]?s pubsub publish ERROR: unavailable messaging.destination.name=events$`)
	root1 := regexp.MustCompile(`^span [0-9a-f]{32} [0-9a-f]{16}<-- +[0-9.]+[µm]?s webhook delivery$`)
	if !child1.MatchString(lines[0]) || !root1.MatchString(lines[1]) {
		t.Errorf("lines do not match the format:\n%s", buf.String())
	}
}

func TestConfig_Validate(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		cfg  tracing.Config
		want string // substring of the error; "" for valid
	}{
		{name: "defaults", cfg: tracing.Config{Exporter: "otlp", Sampler: "traceidratio", SamplerArg: 1}},
		{name: "parent_based", cfg: tracing.Config{Exporter: "none", Sampler: "parentbased_traceidratio", SamplerArg: 0.25}},
		{name: "unknown_exporter", cfg: tracing.Config{Exporter: "jaeger", Sampler: "always_on"}, want: "OTEL_TRACES_EXPORTER"},
		{name: "unknown_sampler", cfg: tracing.Config{Exporter: "otlp", Sampler: "sometimes"}, want: "OTEL_TRACES_SAMPLER must"},
		{name: "ratio_above_one", cfg: tracing.Config{Exporter: "otlp", Sampler: "traceidratio", SamplerArg: 2}, want: "OTEL_TRACES_SAMPLER_ARG"},
		{name: "negative_queue", cfg: tracing.Config{Exporter: "otlp", Sampler: "always_on", MaxQueue: -1}, want: "OTEL_BSP_MAX_QUEUE_SIZE must not be negative"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			err := tc.cfg.Validate()
			if (err == nil) != (tc.want == "") || (err != nil && !strings.Contains(err.Error(), tc.want)) {
				t.Errorf("Validate() = %v, want an error containing %q", err, tc.want)
			}
		})
	}
}

func TestNewProvider_sampleRatio(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name    string
		ratio   float64
		records bool
	}{{name: "all", ratio: 1, records: true}, {name: "none", ratio: 0}} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tp, stop, err := tracing.NewProvider(context.Background(),
				tracing.Config{Exporter: tracing.ExporterConsole, Sampler: tracing.SamplerTraceIDRatio, SamplerArg: tc.ratio}, "test", "p")
			if err != nil {
				t.Fatal(err)
			}
			defer stop()
			_, s := tracing.Tracer(tp).Start(context.Background(), "x")
			// Not ended: nothing is written to stdout.
			if s.IsRecording() != tc.records {
				t.Errorf("span recording = %v at ratio %v", s.IsRecording(), tc.ratio)
			}
		})
	}
	tp, _, err := tracing.NewProvider(context.Background(), tracing.Config{Exporter: tracing.ExporterNone, Sampler: "always_on"}, "test", "p")
	if err != nil {
		t.Fatal(err)
	}
	if _, s := tracing.Tracer(tp).Start(context.Background(), "x"); s.IsRecording() {
		t.Error("exporter none records spans")
	}
}
