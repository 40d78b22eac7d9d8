package event

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
)

// nested returns depth objects nested in one another around leaf:
// {"a":{"a":…leaf…}}.
func nested(depth int, leaf string) string {
	return strings.Repeat(`{"a":`, depth) + leaf + strings.Repeat("}", depth)
}

// nestedValue is nested as a decoded map.
func nestedValue(depth int) map[string]any {
	m := map[string]any{"a": json.Number("1")}
	for range depth - 1 {
		m = map[string]any{"a": m}
	}
	return m
}

// maxEventBytes bounds the event built from a body of bodyLen bytes: no
// value is carried twice, a string grows at most twofold when re-encoded
// (U+2028 and U+2029, 3 bytes raw and 6 escaped), and the envelope adds
// fixed fields plus copies of the bounded type and resource name.
func maxEventBytes(bodyLen int) int { return 2*bodyLen + 4096 }

func TestMarshalJSON_doesNotEscapeHTML(t *testing.T) {
	t.Parallel()
	body := `{"type":"batch.failed","data":{"id":"b","error_message":"<a&b>","x":"<&>"},"user_metadata":{"<k>":"<&>"}}`
	e := normalizeBody(t, body, Meta{WebhookID: "m", Scheme: SchemeHMAC, ReceivedAt: received})
	b, err := e.MarshalJSON()
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`"message":"<a&b>"`, `"raw":{"id":"b","x":"<&>"}`, `"user_metadata":{"<k>":"<&>"}`} {
		if !bytes.Contains(b, []byte(want)) {
			t.Errorf("event lacks %s:\n%s", want, b)
		}
	}
	if bytes.HasSuffix(b, []byte("\n")) {
		t.Error("event ends with a newline")
	}
}

func TestNormalize_sizeAndDepthBounded(t *testing.T) {
	t.Parallel()
	const n = 64 << 10
	lineSeps := strings.Repeat("\u2028", n/3)
	tests := []struct {
		name string
		body string
	}{
		{"lt_in_user_metadata", `{"type":"batch.succeeded","data":{"id":"b","user_metadata":{"k":"` + strings.Repeat("<", n) + `"}}}`},
		{"line_separators_in_error_message", `{"type":"batch.failed","data":{"id":"b","error_message":"` + lineSeps + `"}}`},
		{"line_separators_in_unmodelled_field", `{"type":"batch.failed","data":{"id":"b","x":"` + lineSeps + `"}}`},
		{"u_escapes_in_version", `{"type":"batch.failed","version":"` + strings.Repeat(`\u0001`, n/6) + `","data":{"id":"b"}}`},
		{"max_depth_in_data", `{"type":"model.tuned","data":{"x":` + nested(MaxDepth-2, `"<"`) + `}}`},
		{"max_depth_in_data_user_metadata", `{"type":"batch.succeeded","data":{"id":"b","user_metadata":` + nested(MaxDepth-2, `"<"`) + `}}`},
		{"max_depth_in_top_user_metadata", `{"type":"batch.succeeded","data":{"id":"b"},"user_metadata":` + nested(MaxDepth-1, `"<"`) + `}`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			e := normalizeBody(t, tc.body, Meta{WebhookID: "m", Scheme: SchemeHMAC, ReceivedAt: received})
			b, err := e.MarshalJSON()
			if err != nil {
				t.Fatal(err)
			}
			if len(b) > maxEventBytes(len(tc.body)) {
				t.Errorf("event is %d bytes from a %d-byte body, want at most %d", len(b), len(tc.body), maxEventBytes(len(tc.body)))
			}
			if _, err := Decode(b); err != nil {
				t.Errorf("Decode: %v", err)
			}
			if nestedDeeper(b, MaxDepth+1) {
				t.Errorf("event nests deeper than %d levels", MaxDepth+1)
			}
		})
	}
}
