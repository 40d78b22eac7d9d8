package event

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/geminihooks/geminihooks/pkg/gemini"
)

// TestAPIHost_isGeminis keeps the API host and versions that ids may name
// equal to the client's.
func TestAPIHost_isGeminis(t *testing.T) {
	t.Parallel()
	if got := "https://" + apiHost; got != gemini.DefaultBaseURL {
		t.Errorf("https://apiHost = %q, want gemini.DefaultBaseURL %q", got, gemini.DefaultBaseURL)
	}
	if apiVersions[0] != gemini.APIVersion {
		t.Errorf("apiVersions[0] = %q, want gemini.APIVersion %q", apiVersions[0], gemini.APIVersion)
	}
}

func TestParse(t *testing.T) {
	t.Parallel()
	ts := time.Date(2026, 1, 22, 12, 0, 0, 0, time.UTC)
	tests := []struct {
		name         string
		body         string
		want         *Notification
		wantKind     Kind
		wantState    State
		wantResource string
	}{
		{
			name: "documented_envelope",
			body: `{"type":"batch.succeeded","version":"v1","timestamp":"2026-01-22T12:00:00Z","data":{"id":"batch_123456","output_file_uri":"gs://my-bucket/results.jsonl"}}`,
			want: &Notification{
				Type: "batch.succeeded", Version: "v1", Timestamp: ts, ID: "batch_123456",
				OutputFileURI: "gs://my-bucket/results.jsonl",
				Data:          json.RawMessage(`{"id":"batch_123456","output_file_uri":"gs://my-bucket/results.jsonl"}`),
			},
			wantKind: KindBatch, wantState: StateSucceeded, wantResource: "batches/batch_123456",
		},
		{
			name:     "batch_cancelled_prefixed_id",
			body:     `{"type":"batch.cancelled","data":{"id":"batches/123"}}`,
			want:     &Notification{Type: "batch.cancelled", ID: "batches/123", Data: json.RawMessage(`{"id":"batches/123"}`)},
			wantKind: KindBatch, wantState: StateCancelled, wantResource: "batches/123",
		},
		{
			name:     "batch_expired_bare_numeric_string_id",
			body:     `{"type":"batch.expired","data":{"id":"123"}}`,
			want:     &Notification{Type: "batch.expired", ID: "123", Data: json.RawMessage(`{"id":"123"}`)},
			wantKind: KindBatch, wantState: StateExpired, wantResource: "batches/123",
		},
		{
			name:     "batch_id_as_json_integer",
			body:     `{"type":"batch.expired","data":{"id": 123 }}`,
			want:     &Notification{Type: "batch.expired", ID: "123", Data: json.RawMessage(`{"id": 123 }`)},
			wantKind: KindBatch, wantState: StateExpired, wantResource: "batches/123",
		},
		{
			name: "batch_failed_numeric_error_code",
			body: `{"type":"batch.failed","data":{"id":"b","error_code":3,"error_message":"bad input"}}`,
			want: &Notification{
				Type: "batch.failed", ID: "b", ErrorCode: "3", ErrorMessage: "bad input",
				Data: json.RawMessage(`{"id":"b","error_code":3,"error_message":"bad input"}`),
			},
			wantKind: KindBatch, wantState: StateFailed, wantResource: "batches/b",
		},
		{
			name: "batch_failed_string_error_code",
			body: `{"type":"batch.failed","data":{"id":"b","error_code":"INVALID_ARGUMENT"}}`,
			want: &Notification{
				Type: "batch.failed", ID: "b", ErrorCode: "INVALID_ARGUMENT",
				Data: json.RawMessage(`{"id":"b","error_code":"INVALID_ARGUMENT"}`),
			},
			wantKind: KindBatch, wantState: StateFailed, wantResource: "batches/b",
		},
		{
			name: "batch_failed_float_error_code_kept_literally",
			body: `{"type":"batch.failed","data":{"id":"b","error_code":4.0e0}}`,
			want: &Notification{
				Type: "batch.failed", ID: "b", ErrorCode: "4.0e0",
				Data: json.RawMessage(`{"id":"b","error_code":4.0e0}`),
			},
			wantKind: KindBatch, wantState: StateFailed, wantResource: "batches/b",
		},
		{
			name:     "batch_completed_from_cookbook",
			body:     `{"type":"batch.completed","data":{"id":"batch_1"}}`,
			want:     &Notification{Type: "batch.completed", ID: "batch_1", Data: json.RawMessage(`{"id":"batch_1"}`)},
			wantKind: KindBatch, wantState: StateCompleted, wantResource: "batches/batch_1",
		},
		{
			name:     "interaction_completed_bare_id",
			body:     `{"type":"interaction.completed","data":{"id":"v1_abc-DEF"}}`,
			want:     &Notification{Type: "interaction.completed", ID: "v1_abc-DEF", Data: json.RawMessage(`{"id":"v1_abc-DEF"}`)},
			wantKind: KindInteraction, wantState: StateCompleted, wantResource: "interactions/v1_abc-DEF",
		},
		{
			name:     "interaction_failed_prefixed_id",
			body:     `{"type":"interaction.failed","data":{"id":"interactions/v1_abc","error_message":"boom"}}`,
			want:     &Notification{Type: "interaction.failed", ID: "interactions/v1_abc", ErrorMessage: "boom", Data: json.RawMessage(`{"id":"interactions/v1_abc","error_message":"boom"}`)},
			wantKind: KindInteraction, wantState: StateFailed, wantResource: "interactions/v1_abc",
		},
		{
			name:     "interaction_cancelled",
			body:     `{"type":"interaction.cancelled","data":{"id":"i1"}}`,
			want:     &Notification{Type: "interaction.cancelled", ID: "i1", Data: json.RawMessage(`{"id":"i1"}`)},
			wantKind: KindInteraction, wantState: StateCancelled, wantResource: "interactions/i1",
		},
		{
			name:     "interaction_requires_action",
			body:     `{"type":"interaction.requires_action","data":{"id":"i1"}}`,
			want:     &Notification{Type: "interaction.requires_action", ID: "i1", Data: json.RawMessage(`{"id":"i1"}`)},
			wantKind: KindInteraction, wantState: StateRequiresAction, wantResource: "interactions/i1",
		},
		{
			name: "video_generated_operation_name",
			body: `{"type":"video.generated","data":{"id":"models/veo-3.0-generate-001/operations/abc","output_file_uri":"gs://b/v.mp4","file_name":"files/v"}}`,
			want: &Notification{
				Type: "video.generated", ID: "models/veo-3.0-generate-001/operations/abc", OutputFileURI: "gs://b/v.mp4", FileName: "files/v",
				Data: json.RawMessage(`{"id":"models/veo-3.0-generate-001/operations/abc","output_file_uri":"gs://b/v.mp4","file_name":"files/v"}`),
			},
			wantKind: KindVideo, wantState: StateGenerated, wantResource: "models/veo-3.0-generate-001/operations/abc",
		},
		{
			name:     "video_generated_video_uri_from_cookbook",
			body:     `{"type":"video.generated","data":{"id":"abc","video_uri":"https://example.com/v.mp4"}}`,
			want:     &Notification{Type: "video.generated", ID: "abc", VideoURI: "https://example.com/v.mp4", Data: json.RawMessage(`{"id":"abc","video_uri":"https://example.com/v.mp4"}`)},
			wantKind: KindVideo, wantState: StateGenerated, wantResource: "operations/abc",
		},
		{
			name: "user_metadata_merged_data_wins",
			body: `{"type":"batch.succeeded","user_metadata":{"a":"top","b":1},"data":{"id":"b","user_metadata":{"a":"data","c":true}}}`,
			want: &Notification{
				Type: "batch.succeeded", ID: "b",
				UserMetadata: map[string]any{"a": "data", "b": json.Number("1"), "c": true},
				Data:         json.RawMessage(`{"id":"b","user_metadata":{"a":"data","c":true}}`),
			},
			wantKind: KindBatch, wantState: StateSucceeded, wantResource: "batches/b",
		},
		{
			name: "user_metadata_top_level_only_big_number_exact",
			body: `{"type":"batch.succeeded","user_metadata":{"n":12345678901234567890},"data":{"id":"b"}}`,
			want: &Notification{
				Type: "batch.succeeded", ID: "b",
				UserMetadata: map[string]any{"n": json.Number("12345678901234567890")},
				Data:         json.RawMessage(`{"id":"b"}`),
			},
			wantKind: KindBatch, wantState: StateSucceeded, wantResource: "batches/b",
		},
		{
			name: "timestamp_with_offset_and_fraction",
			body: `{"type":"batch.succeeded","timestamp":"2026-01-22T13:00:00.5+01:00","data":{"id":"b"}}`,
			want: &Notification{
				Type: "batch.succeeded", Timestamp: ts.Add(500 * time.Millisecond), ID: "b",
				Data: json.RawMessage(`{"id":"b"}`),
			},
			wantKind: KindBatch, wantState: StateSucceeded, wantResource: "batches/b",
		},
		{
			name:     "nulls_are_absent",
			body:     `{"type":"batch.succeeded","version":null,"timestamp":null,"user_metadata":null,"data":{"id":"b","file_name":null,"error_code":null,"user_metadata":null}}`,
			want:     &Notification{Type: "batch.succeeded", ID: "b", Data: json.RawMessage(`{"id":"b","file_name":null,"error_code":null,"user_metadata":null}`)},
			wantKind: KindBatch, wantState: StateSucceeded, wantResource: "batches/b",
		},
		{
			name:     "unknown_type_is_not_an_error",
			body:     `{"type":"file.processed","data":{"id":"files/abc","size":3}}`,
			want:     &Notification{Type: "file.processed", ID: "files/abc", Data: json.RawMessage(`{"id":"files/abc","size":3}`)},
			wantKind: KindUnknown, wantState: StateUnknown, wantResource: "files/abc",
		},
		{
			name:     "unknown_type_without_data",
			body:     `{"type":"model.tuned"}`,
			want:     &Notification{Type: "model.tuned"},
			wantKind: KindUnknown, wantState: StateUnknown, wantResource: "",
		},
		{
			name:     "unknown_type_malformed_id_not_interpreted",
			body:     `{"type":"future.event","data":{"id":"a/../b"}}`,
			want:     &Notification{Type: "future.event", ID: "a/../b", Data: json.RawMessage(`{"id":"a/../b"}`)},
			wantKind: KindUnknown, wantState: StateUnknown, wantResource: "",
		},
		{
			name:     "unknown_type_non_string_id_not_interpreted",
			body:     `{"type":"future.event","data":{"id":[1]}}`,
			want:     &Notification{Type: "future.event", Data: json.RawMessage(`{"id":[1]}`)},
			wantKind: KindUnknown, wantState: StateUnknown, wantResource: "",
		},
		{
			name:     "type_matching_is_case_sensitive",
			body:     `{"type":"Batch.Succeeded","data":{"id":"b"}}`,
			want:     &Notification{Type: "Batch.Succeeded", ID: "b", Data: json.RawMessage(`{"id":"b"}`)},
			wantKind: KindUnknown, wantState: StateUnknown, wantResource: "b",
		},
		{
			name: "empty_body_is_ping", body: ``, want: &Notification{},
			wantKind: KindUnknown, wantState: StateUnknown,
		},
		{
			name: "whitespace_body_is_ping", body: " \r\n\t", want: &Notification{},
			wantKind: KindUnknown, wantState: StateUnknown,
		},
		{
			name: "empty_object_is_ping", body: ` { } `, want: &Notification{},
			wantKind: KindUnknown, wantState: StateUnknown,
		},
		{
			name: "ping_type_needs_no_id", body: `{"type":"webhook.ping"}`, want: &Notification{Type: "webhook.ping"},
			wantKind: KindUnknown, wantState: StateUnknown,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got, err := Parse([]byte(tc.body))
			if err != nil {
				t.Fatalf("Parse() error = %v", err)
			}
			if diff := cmp.Diff(tc.want, got, cmpopts.EquateEmpty(), cmpopts.IgnoreUnexported(Notification{})); diff != "" {
				t.Errorf("Parse() mismatch (-want +got):\n%s", diff)
			}
			if got.Kind() != tc.wantKind || got.State() != tc.wantState {
				t.Errorf("Kind(), State() = %q, %q, want %q, %q", got.Kind(), got.State(), tc.wantKind, tc.wantState)
			}
			if r := got.Resource(); r != tc.wantResource {
				t.Errorf("Resource() = %q, want %q", r, tc.wantResource)
			}
		})
	}
}

func TestParse_errors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		body     string
		wantCode string
	}{
		{"not_json", `type=batch.succeeded`, CodeInvalidJSON},
		{"truncated_json", `{"type":"batch.succeeded"`, CodeInvalidJSON},
		{"trailing_garbage", `{"type":"batch.succeeded","data":{"id":"b"}} x`, CodeInvalidJSON},
		{"two_objects", `{} {}`, CodeInvalidJSON},
		{"top_level_array", `[{"type":"batch.succeeded"}]`, CodeInvalidJSON},
		{"top_level_string", `"batch.succeeded"`, CodeInvalidJSON},
		{"top_level_null", `null`, CodeInvalidJSON},
		{"top_level_number", `42`, CodeInvalidJSON},
		{"invalid_utf8_in_string", "{\"type\":\"batch.succeeded\",\"data\":{\"id\":\"b\",\"x\":\"\xff\"}}", CodeInvalidJSON},
		{"depth_over_max_in_data", `{"type":"batch.succeeded","data":{"id":"b","x":` + nested(MaxDepth-1, `1`) + `}}`, CodeNestingTooDeep},
		{"depth_over_max_in_user_metadata", `{"type":"batch.succeeded","data":{"id":"b"},"user_metadata":` + nested(MaxDepth, `1`) + `}`, CodeNestingTooDeep},
		{"depth_over_go_decoder_limit", `{"type":"batch.succeeded","x":` + strings.Repeat("[", 10_001) + strings.Repeat("]", 10_001) + `}`, CodeNestingTooDeep},
		{"missing_type", `{"data":{"id":"b"}}`, CodeMissingEventType},
		{"null_type", `{"type":null,"data":{"id":"b"}}`, CodeMissingEventType},
		{"empty_type", `{"type":"","data":{"id":"b"}}`, CodeMissingEventType},
		{"type_not_string", `{"type":7}`, CodeInvalidEventType},
		{"type_with_space", `{"type":"batch succeeded"}`, CodeInvalidEventType},
		{"type_with_control_char", `{"type":"batch.succeeded\n"}`, CodeInvalidEventType},
		{"type_non_ascii", `{"type":"batch.succeédé"}`, CodeInvalidEventType},
		{"type_too_long", `{"type":"` + strings.Repeat("a", 129) + `"}`, CodeInvalidEventType},
		{"missing_id_batch", `{"type":"batch.succeeded","data":{"output_file_uri":"gs://b/r"}}`, CodeMissingResourceID},
		{"missing_data_interaction", `{"type":"interaction.completed"}`, CodeMissingResourceID},
		{"empty_id_video", `{"type":"video.generated","data":{"id":""}}`, CodeMissingResourceID},
		{"null_id", `{"type":"batch.failed","data":{"id":null}}`, CodeMissingResourceID},
		{"id_object", `{"type":"batch.succeeded","data":{"id":{"name":"b"}}}`, CodeInvalidResourceID},
		{"id_negative_number", `{"type":"batch.succeeded","data":{"id":-1}}`, CodeInvalidResourceID},
		{"id_float", `{"type":"batch.succeeded","data":{"id":1.5}}`, CodeInvalidResourceID},
		{"id_dot_dot", `{"type":"batch.succeeded","data":{"id":"batches/.."}}`, CodeInvalidResourceID},
		{"id_dot_dot_inside", `{"type":"video.generated","data":{"id":"models/a..b/operations/c"}}`, CodeInvalidResourceID},
		{"id_leading_slash", `{"type":"video.generated","data":{"id":"/operations/c"}}`, CodeInvalidResourceID},
		{"id_trailing_slash", `{"type":"video.generated","data":{"id":"operations/c/"}}`, CodeInvalidResourceID},
		{"id_double_slash", `{"type":"video.generated","data":{"id":"operations//c"}}`, CodeInvalidResourceID},
		{"id_video_other_collection", `{"type":"video.generated","data":{"id":"batches/c"}}`, CodeInvalidResourceID},
		{"id_video_model_without_operation", `{"type":"video.generated","data":{"id":"models/veo/c"}}`, CodeInvalidResourceID},
		{"id_url_foreign_host", `{"type":"batch.succeeded","data":{"id":"https://example.com/v1beta/batches/b"}}`, CodeInvalidResourceID},
		{"id_url_plain_http", `{"type":"batch.succeeded","data":{"id":"http://generativelanguage.googleapis.com/v1beta/batches/b"}}`, CodeInvalidResourceID},
		{"id_url_no_version", `{"type":"batch.succeeded","data":{"id":"https://generativelanguage.googleapis.com/batches/b"}}`, CodeInvalidResourceID},
		{"id_url_bare_id", `{"type":"batch.succeeded","data":{"id":"https://generativelanguage.googleapis.com/v1beta/b"}}`, CodeInvalidResourceID},
		{"id_url_query", `{"type":"batch.succeeded","data":{"id":"https://generativelanguage.googleapis.com/v1beta/batches/b?alt=json"}}`, CodeInvalidResourceID},
		{"id_url_escaped", `{"type":"batch.succeeded","data":{"id":"https://generativelanguage.googleapis.com/v1beta/batches/%2e%2e"}}`, CodeInvalidResourceID},
		{"id_url_other_collection", `{"type":"interaction.completed","data":{"id":"https://generativelanguage.googleapis.com/v1beta/batches/b"}}`, CodeInvalidResourceID},
		{"id_control_char", `{"type":"batch.succeeded","data":{"id":"b\u0000"}}`, CodeInvalidResourceID},
		{"id_space", `{"type":"batch.succeeded","data":{"id":"b 1"}}`, CodeInvalidResourceID},
		{"id_leading_dash", `{"type":"batch.succeeded","data":{"id":"-b"}}`, CodeInvalidResourceID},
		{"id_non_ascii", `{"type":"batch.succeeded","data":{"id":"bätch"}}`, CodeInvalidResourceID},
		{"id_segment_too_long", `{"type":"batch.succeeded","data":{"id":"` + strings.Repeat("b", 129) + `"}}`, CodeInvalidResourceID},
		{"id_too_long", `{"type":"video.generated","data":{"id":"` + strings.Repeat("a/", 128) + `a"}}`, CodeInvalidResourceID},
		{"batch_id_wrong_collection", `{"type":"batch.succeeded","data":{"id":"interactions/x"}}`, CodeInvalidResourceID},
		{"batch_id_too_many_segments", `{"type":"batch.succeeded","data":{"id":"batches/x/y"}}`, CodeInvalidResourceID},
		{"interaction_id_wrong_collection", `{"type":"interaction.completed","data":{"id":"batches/x"}}`, CodeInvalidResourceID},
		{"timestamp_not_rfc3339", `{"type":"batch.succeeded","timestamp":"22/01/2026 12:00","data":{"id":"b"}}`, CodeInvalidTimestamp},
		{"timestamp_without_zone", `{"type":"batch.succeeded","timestamp":"2026-01-22T12:00:00","data":{"id":"b"}}`, CodeInvalidTimestamp},
		{"timestamp_empty", `{"type":"batch.succeeded","timestamp":"","data":{"id":"b"}}`, CodeInvalidTimestamp},
		{"timestamp_unix_number", `{"type":"batch.succeeded","timestamp":1769083200,"data":{"id":"b"}}`, CodeInvalidTimestamp},
		{"timestamp_invalid_date", `{"type":"batch.succeeded","timestamp":"2026-02-30T12:00:00Z","data":{"id":"b"}}`, CodeInvalidTimestamp},
		{"data_array", `{"type":"batch.succeeded","data":[{"id":"b"}]}`, CodeInvalidField},
		{"data_string", `{"type":"model.tuned","data":"b"}`, CodeInvalidField},
		{"version_number", `{"type":"batch.succeeded","version":1,"data":{"id":"b"}}`, CodeInvalidField},
		{"output_file_uri_object", `{"type":"batch.succeeded","data":{"id":"b","output_file_uri":{"uri":"gs://x"}}}`, CodeInvalidField},
		{"video_uri_number", `{"type":"video.generated","data":{"id":"v","video_uri":1}}`, CodeInvalidField},
		{"error_code_bool", `{"type":"batch.failed","data":{"id":"b","error_code":true}}`, CodeInvalidField},
		{"error_message_number", `{"type":"batch.failed","data":{"id":"b","error_message":500}}`, CodeInvalidField},
		{"user_metadata_top_level_string", `{"type":"batch.succeeded","user_metadata":"x","data":{"id":"b"}}`, CodeInvalidField},
		{"user_metadata_in_data_array", `{"type":"batch.succeeded","data":{"id":"b","user_metadata":[1]}}`, CodeInvalidField},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			n, err := Parse([]byte(tc.body))
			if err == nil {
				t.Fatalf("Parse() = %+v, want error %s", n, tc.wantCode)
			}
			var perr *Error
			if !errors.As(err, &perr) {
				t.Fatalf("Parse() error = %v (%T), want *Error", err, err)
			}
			if perr.Code != tc.wantCode {
				t.Errorf("Parse() error code = %q (%v), want %q", perr.Code, err, tc.wantCode)
			}
			if !errors.Is(err, &Error{Code: tc.wantCode}) {
				t.Errorf("errors.Is(err, &Error{Code: %q}) = false", tc.wantCode)
			}
			if perr.Message == "" {
				t.Error("error has no message")
			}
		})
	}
}

func TestError_Is(t *testing.T) {
	t.Parallel()
	err := error(newError(CodeInvalidJSON, "details"))
	tests := []struct {
		name   string
		target error
		want   bool
	}{
		{"same_code", &Error{Code: CodeInvalidJSON}, true},
		{"other_code", &Error{Code: CodeInvalidTimestamp}, false},
		{"same_code_with_message", &Error{Code: CodeInvalidJSON, Message: "other"}, false},
		{"other_error_type", errors.New(CodeInvalidJSON), false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			if got := errors.Is(err, tc.target); got != tc.want {
				t.Errorf("errors.Is() = %v, want %v", got, tc.want)
			}
		})
	}
}

func TestNotification_IsPing(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		body string
		want bool
	}{
		{"empty_body", ``, true},
		{"empty_object", `{}`, true},
		{"ping", `{"type":"ping"}`, true},
		{"webhook_ping", `{"type":"webhook.ping"}`, true},
		{"webhooks_ping", `{"type":"webhooks.ping"}`, true},
		{"webhook_test", `{"type":"webhook.test"}`, true},
		{"test_with_data", `{"type":"test","data":{"id":"whatever"}}`, true},
		{"upper_case_ping", `{"type":"PING"}`, false},
		{"job_event", `{"type":"batch.succeeded","data":{"id":"b"}}`, false},
		{"ping_prefix", `{"type":"pingx"}`, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			n, err := Parse([]byte(tc.body))
			if err != nil {
				t.Fatalf("Parse() error = %v", err)
			}
			if got := n.IsPing(); got != tc.want {
				t.Errorf("IsPing() = %v, want %v", got, tc.want)
			}
		})
	}
}

// TestNotification_Resource checks every form an id may take in a payload:
// no source shows the real one.
func TestNotification_Resource(t *testing.T) {
	t.Parallel()
	const api = "https://generativelanguage.googleapis.com"
	cases := []struct {
		name, eventType, id, want string
	}{
		{"batch_resource_name", "batch.succeeded", "batches/abc", "batches/abc"},
		{"batch_bare", "batch.succeeded", "abc", "batches/abc"},
		{"batch_guide_example", "batch.succeeded", "batch_123456", "batches/batch_123456"},
		{"batch_url", "batch.succeeded", api + "/v1beta/batches/abc", "batches/abc"},
		{"batch_url_v1", "batch.succeeded", api + "/v1/batches/abc", "batches/abc"},
		{"batch_url_default_port", "batch.succeeded", "https://generativelanguage.googleapis.com:443/v1beta/batches/abc", "batches/abc"},
		{"interaction_bare", "interaction.completed", "v1_abc", "interactions/v1_abc"},
		{"interaction_resource_name", "interaction.completed", "interactions/v1_abc", "interactions/v1_abc"},
		{"interaction_url", "interaction.completed", api + "/v1beta/interactions/v1_abc", "interactions/v1_abc"},
		{"video_operation_name", "video.generated", "models/veo-3.0-generate-001/operations/op1", "models/veo-3.0-generate-001/operations/op1"},
		{"video_operation_url", "video.generated", api + "/v1beta/models/veo-3.0-generate-001/operations/op1", "models/veo-3.0-generate-001/operations/op1"},
		{"video_short_name", "video.generated", "operations/op1", "operations/op1"},
		{"video_short_url", "video.generated", api + "/v1beta/operations/op1", "operations/op1"},
		{"video_bare", "video.generated", "op1", "operations/op1"},
		{"unknown_kept", "model.tuned", "tunedModels/x", "tunedModels/x"},
		{"unknown_url_trimmed", "model.tuned", api + "/v1beta/tunedModels/x", "tunedModels/x"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			body, err := json.Marshal(map[string]any{"type": tc.eventType, "data": map[string]any{"id": tc.id}})
			if err != nil {
				t.Fatal(err)
			}
			n, err := Parse(body)
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			if got := n.Resource(); got != tc.want {
				t.Errorf("Resource() = %q, want %q", got, tc.want)
			}
			// A normalized name is a fixed point.
			again := &Notification{Type: tc.eventType, ID: tc.want}
			if got := again.Resource(); got != tc.want {
				t.Errorf("Resource() of %q = %q, want it unchanged", tc.want, got)
			}
		})
	}
}

func TestPlainString_agreesWithUnmarshal(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		raw   string
		plain bool
	}{
		{name: "ascii", raw: `"batches/b1"`, plain: true},
		{name: "empty", raw: `""`, plain: true},
		{name: "utf8", raw: `"résumé ✓"`, plain: true},
		{name: "escaped_quote", raw: `"a\"b"`},
		{name: "escaped_unicode", raw: `"\u00e9"`},
		{name: "escaped_slash", raw: `"a\/b"`},
		{name: "invalid_utf8", raw: "\"a\xffb\""},
		{name: "control_character", raw: "\"a\tb\""},
		{name: "number", raw: `12`},
		{name: "object", raw: `{"a":"b"}`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got, ok := plainString(json.RawMessage(tc.raw))
			if ok != tc.plain {
				t.Fatalf("plainString(%s) ok = %v, want %v", tc.raw, ok, tc.plain)
			}
			var want string
			if ok && (json.Unmarshal([]byte(tc.raw), &want) != nil || got != want) {
				t.Errorf("plainString(%s) = %q, json.Unmarshal gives %q", tc.raw, got, want)
			}
		})
	}
}
