package event

import (
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

// jwtClaims returns claims shaped as a JWT library decodes them: numbers are
// float64, registered claims are present next to the event.
func jwtClaims(extra map[string]any) map[string]any {
	c := map[string]any{
		"iss": "https://generativelanguage.googleapis.com",
		"aud": "https://hooks.example.com/gemini",
		"exp": time.Date(2026, 5, 4, 9, 35, 0, 0, time.UTC),
		"iat": time.Date(2026, 5, 4, 9, 30, 0, 0, time.UTC),
	}
	for k, v := range extra {
		c[k] = v
	}
	return c
}

func TestFromClaims(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		claims    map[string]any
		want      *Notification
		wantEvent bool
		wantCode  string
	}{
		{
			name:   "no_event_in_claims",
			claims: jwtClaims(nil),
		},
		{
			name:   "null_type_claim",
			claims: jwtClaims(map[string]any{"type": nil}),
		},
		{
			name:   "nil_claims",
			claims: nil,
		},
		{
			name: "full_event",
			claims: jwtClaims(map[string]any{
				"type":          "interaction.completed",
				"version":       "v1",
				"timestamp":     "2026-05-04T09:30:00Z",
				"user_metadata": map[string]any{"job_group": "nightly-eval", "attempt": float64(2)},
				"data":          map[string]any{"id": "v1_abc", "user_metadata": map[string]any{"priority": "high"}},
			}),
			want: &Notification{
				Type: "interaction.completed", Version: "v1",
				Timestamp: time.Date(2026, 5, 4, 9, 30, 0, 0, time.UTC), ID: "v1_abc",
				UserMetadata: map[string]any{"job_group": "nightly-eval", "attempt": json.Number("2"), "priority": "high"},
				Data:         json.RawMessage(`{"id":"v1_abc","user_metadata":{"priority":"high"}}`),
			},
			wantEvent: true,
		},
		{
			name: "numeric_error_code_claim",
			claims: jwtClaims(map[string]any{
				"type": "batch.failed",
				"data": map[string]any{"id": "batches/1", "error_code": float64(13), "error_message": "internal"},
			}),
			want: &Notification{
				Type: "batch.failed", ID: "batches/1", ErrorCode: "13", ErrorMessage: "internal",
				Data: json.RawMessage(`{"error_code":13,"error_message":"internal","id":"batches/1"}`),
			},
			wantEvent: true,
		},
		{
			name:      "ping_in_claims",
			claims:    jwtClaims(map[string]any{"type": "ping"}),
			want:      &Notification{Type: "ping"},
			wantEvent: true,
		},
		{
			name:      "type_claim_not_string",
			claims:    jwtClaims(map[string]any{"type": 3}),
			wantEvent: true,
			wantCode:  CodeInvalidEventType,
		},
		{
			name:      "job_event_without_data",
			claims:    jwtClaims(map[string]any{"type": "batch.succeeded"}),
			wantEvent: true,
			wantCode:  CodeMissingResourceID,
		},
		{
			name:      "invalid_id_in_claims",
			claims:    jwtClaims(map[string]any{"type": "batch.succeeded", "data": map[string]any{"id": "../x"}}),
			wantEvent: true,
			wantCode:  CodeInvalidResourceID,
		},
		{
			name:      "timestamp_claim_as_unix_seconds",
			claims:    jwtClaims(map[string]any{"type": "batch.succeeded", "timestamp": float64(1769083200), "data": map[string]any{"id": "b"}}),
			wantEvent: true,
			wantCode:  CodeInvalidTimestamp,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got, ok, err := FromClaims(tc.claims)
			if ok != tc.wantEvent {
				t.Errorf("FromClaims() ok = %v, want %v", ok, tc.wantEvent)
			}
			if tc.wantCode != "" {
				if !errors.Is(err, &Error{Code: tc.wantCode}) {
					t.Fatalf("FromClaims() error = %v, want code %s", err, tc.wantCode)
				}
				return
			}
			if err != nil {
				t.Fatalf("FromClaims() error = %v", err)
			}
			if diff := cmp.Diff(tc.want, got, cmpopts.EquateEmpty(), cmpopts.IgnoreUnexported(Notification{})); diff != "" {
				t.Errorf("FromClaims() mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

func TestNotification_Contradicts(t *testing.T) {
	t.Parallel()
	claims, ok, err := FromClaims(jwtClaims(map[string]any{
		"type":      "batch.succeeded",
		"version":   "v1",
		"timestamp": "2026-01-22T12:00:00Z",
		"data": map[string]any{
			"id":              "batch_123",
			"output_file_uri": "gs://b/results.jsonl",
			"user_metadata":   map[string]any{"run": float64(7), "team": "eval"},
		},
	}))
	if err != nil || !ok {
		t.Fatalf("FromClaims() = _, %v, %v", ok, err)
	}
	tests := []struct {
		name     string
		body     string
		mismatch bool
	}{
		{"identical_body", `{"type":"batch.succeeded","version":"v1","timestamp":"2026-01-22T12:00:00Z","data":{"id":"batch_123","output_file_uri":"gs://b/results.jsonl","user_metadata":{"run":7,"team":"eval"}}}`, false},
		{"empty_body", ``, false},
		{"empty_object", `{}`, false},
		{"prefixed_id_same_job", `{"type":"batch.succeeded","data":{"id":"batches/batch_123"}}`, false},
		{"thinner_body", `{"type":"batch.succeeded","data":{"id":"batch_123"}}`, false},
		{"same_instant_other_offset", `{"type":"batch.succeeded","timestamp":"2026-01-22T13:00:00+01:00","data":{"id":"batch_123"}}`, false},
		{"same_number_other_spelling", `{"type":"batch.succeeded","data":{"id":"batch_123","user_metadata":{"run":7.0}}}`, false},
		{"metadata_key_only_in_body", `{"type":"batch.succeeded","data":{"id":"batch_123","user_metadata":{"extra":"x"}}}`, false},
		{"other_type", `{"type":"batch.failed","data":{"id":"batch_123"}}`, true},
		{"ping_type", `{"type":"ping"}`, true},
		{"other_id", `{"type":"batch.succeeded","data":{"id":"batch_999"}}`, true},
		{"other_version", `{"type":"batch.succeeded","version":"v2","data":{"id":"batch_123"}}`, true},
		{"other_timestamp", `{"type":"batch.succeeded","timestamp":"2026-01-22T12:00:01Z","data":{"id":"batch_123"}}`, true},
		{"other_output_file_uri", `{"type":"batch.succeeded","data":{"id":"batch_123","output_file_uri":"gs://evil/results.jsonl"}}`, true},
		{"other_metadata_value", `{"type":"batch.succeeded","data":{"id":"batch_123","user_metadata":{"team":"prod"}}}`, true},
		{"other_metadata_type", `{"type":"batch.succeeded","data":{"id":"batch_123","user_metadata":{"run":"7"}}}`, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			body, err := Parse([]byte(tc.body))
			if err != nil {
				t.Fatalf("Parse() error = %v", err)
			}
			err = claims.Contradicts(body)
			if !tc.mismatch {
				if err != nil {
					t.Errorf("Contradicts() = %v, want nil", err)
				}
				return
			}
			var perr *Error
			if !errors.As(err, &perr) || perr.Code != CodeBodyClaimsMismatch {
				t.Fatalf("Contradicts() = %v, want *Error with code %s", err, CodeBodyClaimsMismatch)
			}
		})
	}
}

func TestNotification_Contradicts_namesFieldsNotValues(t *testing.T) {
	t.Parallel()
	claims := &Notification{Type: "batch.failed", ID: "b", ErrorMessage: "secret-ish detail"}
	body := &Notification{Type: "batch.failed", ID: "c", ErrorMessage: "other detail"}
	err := claims.Contradicts(body)
	var perr *Error
	if !errors.As(err, &perr) {
		t.Fatalf("Contradicts() = %v, want *Error", err)
	}
	want := "the body differs from the verified token claims in data.id, data.error_message"
	if perr.Message != want {
		t.Errorf("message = %q, want %q", perr.Message, want)
	}
}

func TestFromDelivery(t *testing.T) {
	t.Parallel()
	eventClaims := jwtClaims(map[string]any{"type": "batch.succeeded", "data": map[string]any{"id": "batches/b1"}})
	tests := []struct {
		name     string
		body     string
		claims   map[string]any
		wantType string
		wantID   string
		wantCode string
	}{
		{name: "no_claims_read_body", body: `{"type":"batch.failed","data":{"id":"batches/b2"}}`, wantType: "batch.failed", wantID: "batches/b2"},
		{name: "claims_without_event_read_body", body: `{"type":"batch.failed","data":{"id":"batches/b2"}}`, claims: jwtClaims(nil), wantType: "batch.failed", wantID: "batches/b2"},
		{name: "claims_and_agreeing_body", body: `{"type":"batch.succeeded","data":{"id":"b1"}}`, claims: eventClaims, wantType: "batch.succeeded", wantID: "batches/b1"},
		{name: "claims_and_empty_body", claims: eventClaims, wantType: "batch.succeeded", wantID: "batches/b1"},
		{name: "claims_and_contradicting_body", body: `{"type":"batch.succeeded","data":{"id":"batches/b9"}}`, claims: eventClaims, wantCode: CodeBodyClaimsMismatch},
		{name: "claims_and_malformed_body", body: `{"type":`, claims: eventClaims, wantCode: CodeInvalidJSON},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			n, err := FromDelivery([]byte(tt.body), tt.claims)
			if tt.wantCode != "" {
				if !errors.Is(err, &Error{Code: tt.wantCode}) {
					t.Fatalf("FromDelivery() error = %v, want code %s", err, tt.wantCode)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if n.Type != tt.wantType || n.Resource() != tt.wantID {
				t.Errorf("FromDelivery() = %s %s, want %s %s", n.Type, n.Resource(), tt.wantType, tt.wantID)
			}
		})
	}
}
