package logging

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"testing"

	"github.com/google/go-cmp/cmp"
	"go.opentelemetry.io/otel/trace"
)

func TestNew_CloudLoggingKeys(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name  string
		log   func(*slog.Logger)
		level slog.Level
		want  string
	}{
		{name: "info", log: func(l *slog.Logger) { l.Info("hello") }, want: "INFO"},
		{name: "warning", log: func(l *slog.Logger) { l.Warn("hello") }, want: "WARNING"},
		{name: "error", log: func(l *slog.Logger) { l.Error("hello") }, want: "ERROR"},
		{name: "notice", log: func(l *slog.Logger) { l.Log(context.Background(), LevelNotice, "hello") }, want: "NOTICE"},
		{name: "critical", log: func(l *slog.Logger) { l.Log(context.Background(), LevelCritical, "hello") }, want: "CRITICAL"},
		{name: "debug", log: func(l *slog.Logger) { l.Debug("hello") }, level: slog.LevelDebug, want: "DEBUG"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var buf bytes.Buffer
			tc.log(New(&buf, tc.level))
			var line map[string]any
			if err := json.Unmarshal(buf.Bytes(), &line); err != nil {
				t.Fatalf("log line is not JSON: %v: %q", err, buf.String())
			}
			if line["severity"] != tc.want || line["message"] != "hello" {
				t.Errorf("got severity=%v message=%v, want %s/hello", line["severity"], line["message"], tc.want)
			}
			if _, ok := line["level"]; ok {
				t.Errorf("line still has slog's level key: %v", line)
			}
			src, _ := line[KeySource].(map[string]any)
			if src["file"] == nil || src["line"] == nil {
				t.Errorf("missing source location: %v", line)
			}
		})
	}
}

func TestParseLevel(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]slog.Level{"": slog.LevelInfo, "DEBUG": slog.LevelDebug, "warning": slog.LevelWarn, "notice": LevelNotice} {
		got, err := ParseLevel(in)
		if err != nil || got != want {
			t.Errorf("ParseLevel(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	if _, err := ParseLevel("loud"); err == nil {
		t.Error("ParseLevel(loud) succeeded, want error")
	}
}

func TestTraceAttrs(t *testing.T) {
	t.Parallel()
	traceID, _ := trace.TraceIDFromHex("105445aa7843bc8bf206b12000100000")
	spanID, _ := trace.SpanIDFromHex("00f067aa0ba902b7")
	sampled := trace.NewSpanContext(trace.SpanContextConfig{TraceID: traceID, SpanID: spanID, TraceFlags: trace.FlagsSampled})
	cases := []struct {
		name    string
		sc      trace.SpanContext
		project string
		want    map[string]any
	}{
		{
			name: "sampled", sc: sampled, project: "p",
			want: map[string]any{KeyTrace: "projects/p/traces/105445aa7843bc8bf206b12000100000", KeySpanID: "00f067aa0ba902b7", KeyTraceSampled: true},
		},
		{
			name: "not_sampled", sc: sampled.WithTraceFlags(0), project: "p",
			want: map[string]any{KeyTrace: "projects/p/traces/105445aa7843bc8bf206b12000100000", KeySpanID: "00f067aa0ba902b7", KeyTraceSampled: false},
		},
		{name: "no_project", sc: sampled, want: map[string]any{}},
		{name: "no_span", project: "p", want: map[string]any{}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got := map[string]any{}
			for _, a := range TraceAttrs(tc.sc, tc.project) {
				got[a.Key] = a.Value.Any()
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("TraceAttrs (-want +got):\n%s", diff)
			}
		})
	}
}

func TestWithTrace_linesCarryTheContextSpan(t *testing.T) {
	t.Parallel()
	traceID, _ := trace.TraceIDFromHex("105445aa7843bc8bf206b12000100000")
	spanID, _ := trace.SpanIDFromHex("00000000000000ff")
	ctx := trace.ContextWithSpanContext(context.Background(),
		trace.NewSpanContext(trace.SpanContextConfig{TraceID: traceID, SpanID: spanID, TraceFlags: trace.FlagsSampled}))
	var buf bytes.Buffer
	logger := WithTrace(New(&buf, slog.LevelInfo), "proj").With(slog.String("fn", "receiver"))
	if again := WithTrace(logger, "proj"); again != logger {
		t.Error("WithTrace wrapped a logger it returned once more: every line would carry the keys twice")
	}
	logger.InfoContext(ctx, "inside")
	logger.InfoContext(context.Background(), "outside")
	lines := bytes.Split(bytes.TrimSpace(buf.Bytes()), []byte("\n"))
	if len(lines) != 2 {
		t.Fatalf("got %d lines, want 2:\n%s", len(lines), buf.String())
	}
	var inside, outside map[string]any
	if err := json.Unmarshal(lines[0], &inside); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(lines[1], &outside); err != nil {
		t.Fatal(err)
	}
	if inside[KeyTrace] != "projects/proj/traces/105445aa7843bc8bf206b12000100000" || inside[KeySpanID] != "00000000000000ff" ||
		inside[KeyTraceSampled] != true || inside["fn"] != "receiver" {
		t.Errorf("line logged in a span: %v", inside)
	}
	if _, ok := outside[KeyTrace]; ok {
		t.Errorf("line logged without a span carries a trace: %v", outside)
	}
}

func TestFromContextOr(t *testing.T) {
	t.Parallel()
	own, request := slog.New(slog.DiscardHandler), slog.New(slog.DiscardHandler)
	if got := FromContextOr(context.Background(), own); got != own {
		t.Error("without a request logger, FromContextOr did not return the fallback")
	}
	if got := FromContextOr(WithLogger(context.Background(), request), own); got != request {
		t.Error("FromContextOr did not return the request's logger")
	}
}
