package local

import (
	"testing"
	"time"

	"go.opentelemetry.io/otel/sdk/trace/tracetest"
)

func TestFormatTimeline(t *testing.T) {
	t.Parallel()
	t0 := time.Date(2026, 5, 4, 12, 0, 0, 0, time.UTC)
	tests := []struct {
		name  string
		steps []Step
		want  string
	}{
		{name: "none", want: "(no trace recorded)"},
		{
			name: "complete",
			steps: []Step{{Name: "received", At: t0}, {Name: "published", At: t0.Add(2 * time.Millisecond)}, {Name: "fetched", At: t0.Add(30 * time.Millisecond)},
				{Name: "stored", At: t0.Add(210 * time.Millisecond)}, {Name: "announced", At: t0.Add(213*time.Millisecond + 440*time.Microsecond)}},
			want: "received → published +2ms → fetched +28ms → stored +180ms → announced +3.4ms = 213.4ms",
		},
		{
			name:  "cut_short",
			steps: []Step{{Name: "received", At: t0}, {Name: "published", At: t0.Add(750 * time.Microsecond)}},
			want:  "received → published +750µs = 750µs (then no further step recorded)",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			if got := FormatTimeline(tc.steps); got != tc.want {
				t.Errorf("FormatTimeline = %q, want %q", got, tc.want)
			}
		})
	}
}

func TestStoredBy(t *testing.T) {
	t.Parallel()
	t0 := time.Date(2026, 5, 4, 12, 0, 0, 0, time.UTC)
	tests := []struct {
		name      string
		pushStart time.Time
		want      time.Time
	}{
		// The publisher heard back after the push had begun: Pub/Sub had
		// stored the event by the push's start.
		{name: "push_began_first", pushStart: t0.Add(-time.Millisecond), want: t0.Add(-time.Millisecond)},
		{name: "push_began_after", pushStart: t0.Add(time.Millisecond), want: t0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			push := tracetest.SpanStub{Name: "push", StartTime: tc.pushStart, EndTime: tc.pushStart.Add(time.Second)}.Snapshot()
			if got := storedBy(t0, push); !got.Equal(tc.want) {
				t.Errorf("storedBy = %v, want %v", got, tc.want)
			}
		})
	}
}
