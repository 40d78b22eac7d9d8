package logging

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/google/go-cmp/cmp"
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
	const trace = "105445aa7843bc8bf206b12000100000"
	cases := []struct {
		name    string
		headers map[string]string
		project string
		want    map[string]any
	}{
		{
			name:    "cloud_trace_context",
			headers: map[string]string{"X-Cloud-Trace-Context": trace + "/1;o=1"},
			project: "p",
			want:    map[string]any{KeyTrace: "projects/p/traces/" + trace, KeySpanID: "1", KeyTraceSampled: true},
		},
		{
			name:    "traceparent",
			headers: map[string]string{"traceparent": "00-" + trace + "-00f067aa0ba902b7-00"},
			project: "p",
			want:    map[string]any{KeyTrace: "projects/p/traces/" + trace, KeySpanID: "00f067aa0ba902b7", KeyTraceSampled: false},
		},
		{name: "malformed", headers: map[string]string{"X-Cloud-Trace-Context": "nothex/1"}, project: "p", want: map[string]any{}},
		{name: "no_project", headers: map[string]string{"X-Cloud-Trace-Context": trace + "/1;o=1"}, want: map[string]any{}},
		{name: "no_header", project: "p", want: map[string]any{}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			r := httptest.NewRequest(http.MethodPost, "/", nil)
			for k, v := range tc.headers {
				r.Header.Set(k, v)
			}
			got := map[string]any{}
			for _, a := range TraceAttrs(r, tc.project) {
				attr := a.(slog.Attr)
				got[attr.Key] = attr.Value.Any()
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("TraceAttrs (-want +got):\n%s", diff)
			}
		})
	}
}

func TestMiddleware_PutsTraceInContextLogger(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	h := Middleware(New(&buf, slog.LevelInfo), "proj")(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		FromContext(r.Context()).InfoContext(r.Context(), "inside")
	}))
	r := httptest.NewRequest(http.MethodPost, "/", nil)
	r.Header.Set("X-Cloud-Trace-Context", "105445aa7843bc8bf206b12000100000/7;o=0")
	h.ServeHTTP(httptest.NewRecorder(), r)
	var line map[string]any
	if err := json.Unmarshal(buf.Bytes(), &line); err != nil {
		t.Fatal(err)
	}
	if line[KeyTrace] != "projects/proj/traces/105445aa7843bc8bf206b12000100000" || line[KeySpanID] != "7" {
		t.Errorf("trace not attached: %v", line)
	}
}
