package event

import (
	"encoding/json"
	"fmt"
	"math"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/google/go-cmp/cmp"
)

// checkPubSubLimits fails the test when attrs would be refused by Pub/Sub.
func checkPubSubLimits(t testing.TB, attrs map[string]string) {
	t.Helper()
	if len(attrs) > 100 {
		t.Errorf("%d attributes, Pub/Sub allows 100", len(attrs))
	}
	for k, v := range attrs {
		if k == "" || len(k) > 256 || !utf8.ValidString(k) {
			t.Errorf("invalid attribute key %q", k)
		}
		if strings.HasPrefix(strings.ToLower(k), "goog") {
			t.Errorf("attribute key %q uses the reserved goog prefix", k)
		}
		if v == "" || len(v) > 1024 || !utf8.ValidString(v) {
			t.Errorf("invalid value for attribute %q (%d bytes)", k, len(v))
		}
	}
}

func eventWithMetadata(t testing.TB, um map[string]any) *Event {
	t.Helper()
	e, err := Normalize(&Notification{Type: "batch.succeeded", ID: "batch_1", UserMetadata: um},
		Meta{WebhookID: "msg_1", Scheme: SchemeHMAC, ReceivedAt: received})
	if err != nil {
		t.Fatal(err)
	}
	return e
}

func TestEvent_Attributes_fixed(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		body string
		want map[string]string
	}{
		{
			name: "batch_event",
			body: `{"type":"batch.failed","data":{"id":"batch_1","error_code":3}}`,
			want: map[string]string{
				"event_type": "batch.failed", "kind": "batch", "resource": "batches/batch_1", "webhook_id": "msg_1",
				"event_id":       JobRef{Kind: KindBatch, ID: "batch_1"}.EventID(),
				"schema_version": "1", "ce_type": "dev.geminihooks.gemini.batch.failed", "state": "failed",
			},
		},
		{
			name: "unknown_event_without_resource",
			body: `{"type":"model.tuned","data":{"x":1}}`,
			want: map[string]string{
				"event_type": "model.tuned", "kind": "unknown", "webhook_id": "msg_1", "event_id": "msg_1",
				"schema_version": "1", "ce_type": "dev.geminihooks.gemini.model.tuned", "state": "unknown",
			},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			e := normalizeBody(t, tc.body, Meta{WebhookID: "msg_1", Scheme: SchemeHMAC, ReceivedAt: received})
			if diff := cmp.Diff(tc.want, e.Attributes()); diff != "" {
				t.Errorf("Attributes() mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

func TestEvent_Attributes_userMetadata(t *testing.T) {
	t.Parallel()
	longKey := strings.Repeat("k", 256-len("um_"))
	tests := []struct {
		name   string
		um     map[string]any
		want   map[string]string // the um_ attributes only
		absent []string
	}{
		{
			name: "scalars_formatted",
			um: map[string]any{
				"s": "text", "n": json.Number("12345678901234567890"), "f": 2.5, "big": 1e21, "i": 7,
				"t": true, "b": false,
			},
			want: map[string]string{
				"um_s": "text", "um_n": "12345678901234567890", "um_f": "2.5", "um_big": "1e+21", "um_i": "7",
				"um_t": "true", "um_b": "false",
			},
		},
		{
			name:   "non_scalars_skipped",
			um:     map[string]any{"obj": map[string]any{"a": "b"}, "arr": []any{"a"}, "null": nil, "nan": math.NaN(), "ok": "x"},
			want:   map[string]string{"um_ok": "x"},
			absent: []string{"um_obj", "um_arr", "um_null", "um_nan"},
		},
		{
			name:   "empty_values_and_keys_skipped",
			um:     map[string]any{"empty": "", "": "no key"},
			want:   map[string]string{},
			absent: []string{"um_empty", "um_"},
		},
		{
			name: "long_values_skipped_not_truncated",
			um:   map[string]any{"fits": strings.Repeat("v", 1024), "too_long": strings.Repeat("v", 1025)},
			want: map[string]string{"um_fits": strings.Repeat("v", 1024)},
		},
		{
			name: "long_keys_skipped",
			um:   map[string]any{longKey: "fits", longKey + "k": "too long"},
			want: map[string]string{"um_" + longKey: "fits"},
		},
		{
			name: "invalid_utf8_skipped",
			um:   map[string]any{"bad": "\xff\xfe", "good": "ü"},
			want: map[string]string{"um_good": "ü"},
		},
		{
			name: "keys_sanitized",
			um:   map[string]any{"job.group": "a", "prio rity": "b", "naïve": "c", "ok-key_1": "d"},
			want: map[string]string{"um_job_group": "a", "um_prio_rity": "b", "um_na_ve": "c", "um_ok-key_1": "d"},
		},
		{
			name: "exact_key_wins_collision",
			um:   map[string]any{"a.b": "sanitized", "a_b": "exact"},
			want: map[string]string{"um_a_b": "exact"},
		},
		{
			name: "smaller_key_wins_between_sanitized",
			um:   map[string]any{"a:b": "colon", "a.b": "dot"},
			want: map[string]string{"um_a_b": "dot"},
		},
		{
			name: "goog_prefixed_metadata_is_namespaced",
			um:   map[string]any{"goog-reserved": "x", "GOOGLE": "y"},
			want: map[string]string{"um_goog-reserved": "x", "um_GOOGLE": "y"},
		},
		{
			name: "metadata_cannot_override_fixed_attributes",
			um:   map[string]any{"kind": "video"},
			want: map[string]string{"um_kind": "video"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			attrs := eventWithMetadata(t, tc.um).Attributes()
			checkPubSubLimits(t, attrs)
			got := map[string]string{}
			for k, v := range attrs {
				if strings.HasPrefix(k, "um_") {
					got[k] = v
				}
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("um_ attributes mismatch (-want +got):\n%s", diff)
			}
			if attrs["kind"] != "batch" {
				t.Errorf("kind attribute = %q, want batch", attrs["kind"])
			}
			for _, k := range tc.absent {
				if _, ok := attrs[k]; ok {
					t.Errorf("attribute %q present, want absent", k)
				}
			}
		})
	}
}

func TestEvent_Attributes_limit(t *testing.T) {
	t.Parallel()
	um := map[string]any{}
	for i := range 101 {
		um[fmt.Sprintf("key%03d", i)] = i
	}
	um["sanitized.key"] = "loses to exact keys"
	e := eventWithMetadata(t, um)
	attrs := e.Attributes()
	checkPubSubLimits(t, attrs)
	if len(attrs) != 100 {
		t.Fatalf("len(Attributes()) = %d, want 100", len(attrs))
	}
	for _, k := range []string{AttrEventType, AttrKind, AttrResource, AttrEventID, AttrWebhookID, AttrSchemaVersion, AttrCEType, AttrState} {
		if attrs[k] == "" {
			t.Errorf("fixed attribute %q missing", k)
		}
	}
	// 8 fixed attributes leave room for 92 entries: key000..key091.
	for i := range 101 {
		k := fmt.Sprintf("um_key%03d", i)
		if _, ok := attrs[k]; ok != (i < 92) {
			t.Errorf("attribute %s present = %v, want %v", k, ok, i < 92)
		}
	}
	if _, ok := attrs["um_sanitized_key"]; ok {
		t.Error("a sanitized key was kept over an exact key")
	}
	for range 20 {
		if diff := cmp.Diff(attrs, e.Attributes()); diff != "" {
			t.Fatalf("Attributes() is not deterministic:\n%s", diff)
		}
	}
	// The body keeps everything.
	if len(e.Data.UserMetadata) != 102 {
		t.Errorf("event user_metadata has %d entries, want 102", len(e.Data.UserMetadata))
	}
}
