package receiver

import (
	"encoding/base64"
	"encoding/json"
	"strings"
	"testing"

	"github.com/geminihooks/geminihooks/pkg/logging"
)

// TestReceiver_logLineCarriesMetricFields checks the fields Terraform's
// log-based metrics extract from a delivery's one line (outcome, code,
// scheme, event_type, publish_ms), and that with tracing off the line still
// links to Cloud Run's trace, its decimal span id written in 16 hex digits.
func TestReceiver_logLineCarriesMetricFields(t *testing.T) {
	t.Parallel()
	const cloudTrace = "105445aa7843bc8bf206b12000100000"
	tests := []struct {
		name      string
		id        string
		forged    bool
		wantMsg   string
		wantField map[string]any
		publishes bool
	}{
		{name: "accepted", id: "msg_a", wantMsg: "webhook accepted", publishes: true,
			wantField: map[string]any{"outcome": "accepted", "scheme": "hmac", "event_type": "batch.succeeded"}},
		{name: "rejected", id: "msg_r", forged: true, wantMsg: "webhook rejected",
			wantField: map[string]any{"outcome": "rejected", "code": "signature_mismatch", "status": float64(401)}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			h := newHarness(t, harnessOptions{})
			r := h.hmacRequest(tc.id, h.clock.Now(), body("batch.succeeded", "batches/"+tc.name), 0)
			if tc.forged {
				r.Header.Set("webhook-signature", "v1,"+base64.StdEncoding.EncodeToString(make([]byte, 32)))
			}
			r.Header.Set("X-Cloud-Trace-Context", cloudTrace+"/255;o=1")
			h.do(r)
			var line map[string]any
			for _, l := range strings.Split(strings.TrimSpace(h.logs.String()), "\n") {
				var m map[string]any
				if err := json.Unmarshal([]byte(l), &m); err == nil && m["message"] == tc.wantMsg {
					line = m
				}
			}
			if line == nil {
				t.Fatalf("no %q line in:\n%s", tc.wantMsg, h.logs.String())
			}
			for k, v := range tc.wantField {
				if line[k] != v {
					t.Errorf("%s = %#v, want %#v", k, line[k], v)
				}
			}
			if _, ok := line["publish_ms"].(float64); ok != tc.publishes {
				t.Errorf("publish_ms = %#v; want a number only when the event was published", line["publish_ms"])
			}
			if line[logging.KeyTrace] != "projects/test/traces/"+cloudTrace || line[logging.KeySpanID] != "00000000000000ff" || line[logging.KeyTraceSampled] != true {
				t.Errorf("trace %v span %v sampled %v; want Cloud Run's trace and span 255 as 00000000000000ff",
					line[logging.KeyTrace], line[logging.KeySpanID], line[logging.KeyTraceSampled])
			}
		})
	}
}
