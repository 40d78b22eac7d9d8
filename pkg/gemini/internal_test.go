package gemini

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"google.golang.org/genai"
)

func TestInlinedLines(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name       string
		raw        string
		want       []string
		wantFailed int64
		wantErr    bool
	}{
		{"absent", ``, nil, 0, false},
		{"null", `null`, nil, 0, false},
		{"empty_wrapper", `{}`, nil, 0, false},
		{"wrapper", `{"inlinedResponses":[{"response":{"a":1},"metadata":{"key":"k1"}}]}`,
			[]string{`{"key":"k1","response":{"a":1}}`}, 0, false},
		{"bare_array", `[{"error":{"code":13,"message":"x"},"metadata":{"key":"k2"}}]`,
			[]string{`{"key":"k2","error":{"code":13,"message":"x"}}`}, 1, false},
		{"index_when_no_key", `[{"response":{"a":1}},{"response":{"b":2},"metadata":{}},{"error":{"code":5}}]`,
			[]string{`{"key":"0","response":{"a":1}}`, `{"key":"1","response":{"b":2}}`, `{"key":"2","error":{"code":5}}`}, 1, false},
		{"pretty_printed_is_compacted", "{\n  \"inlinedResponses\": [\n    {\n      \"response\": {\n        \"text\": \"a\\nb <c> & d\"\n      },\n      \"metadata\": {\"key\": \"k\"}\n    }\n  ]\n}",
			[]string{`{"key":"k","response":{"text":"a\nb <c> & d"}}`}, 0, false},
		{"null_error_ignored", `[{"response":{"a":1},"error":null}]`, []string{`{"key":"0","response":{"a":1}}`}, 0, false},
		{"embeddings", `{"inlinedResponses":[{"response":{"embedding":{"values":[0.5,-0.25]}},"metadata":{"key":"e1"}},{"error":{"code":3,"message":"bad"},"metadata":{"key":"e2"}}]}`,
			[]string{`{"key":"e1","response":{"embedding":{"values":[0.5,-0.25]}}}`, `{"key":"e2","error":{"code":3,"message":"bad"}}`}, 1, false},
		{"neither", `[{"metadata":{"key":"k"}}]`, nil, 0, true},
		{"both", `[{"response":{},"error":{}}]`, nil, 0, true},
		{"not_an_array", `{"inlinedResponses":"nope"}`, nil, 0, true},
		{"malformed", `[{"response":`, nil, 0, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got, failed, err := inlinedLines(json.RawMessage(tc.raw))
			if tc.wantErr {
				if !errors.Is(err, ErrUnexpectedResponse) {
					t.Fatalf("error %v, want ErrUnexpectedResponse", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var gotS []string
			for _, l := range got {
				gotS = append(gotS, string(l))
			}
			if diff := cmp.Diff(tc.want, gotS); diff != "" {
				t.Errorf("lines (-want +got):\n%s", diff)
			}
			if failed != tc.wantFailed {
				t.Errorf("failed = %d, want %d", failed, tc.wantFailed)
			}
		})
	}
}

func TestParseBatch_shapes(t *testing.T) {
	t.Parallel()
	const name = "batches/b1"
	cases := []struct {
		name    string
		body    string
		want    *Batch
		wantErr bool
	}{
		{"output_in_response_only", `{"name":"batches/b1","done":true,"metadata":{"state":"JOB_STATE_SUCCEEDED","batchStats":{"requestCount":2,"successfulRequestCount":"2"}},"response":{"responsesFile":"files/r1"}}`,
			&Batch{Name: name, State: BatchSucceeded, Done: true, ResponsesFile: "files/r1", Stats: BatchStats{Requests: 2, Succeeded: 2}}, false},
		// Embedding batches: the SDK converters' inlinedEmbedContentResponses,
		// and the API reference's inlinedResponses holding embeddings.
		{"embed_inlined_in_metadata_output", `{"name":"batches/b1","done":true,"metadata":{"@type":"type.googleapis.com/google.ai.generativelanguage.v1main.EmbedContentBatch","state":"BATCH_STATE_SUCCEEDED","batchStats":{"requestCount":"2","successfulRequestCount":"1","failedRequestCount":"1"},"output":{"inlinedEmbedContentResponses":{"inlinedResponses":[{"response":{"embedding":{"values":[0.1]}},"metadata":{"key":"a"}},{"error":{"code":3,"message":"x"},"metadata":{"key":"b"}}]}}}}`,
			&Batch{Name: name, State: BatchSucceeded, Done: true, Stats: BatchStats{Requests: 2, Succeeded: 1, Failed: 1},
				Inlined: []json.RawMessage{json.RawMessage(`{"key":"a","response":{"embedding":{"values":[0.1]}}}`), json.RawMessage(`{"key":"b","error":{"code":3,"message":"x"}}`)}}, false},
		{"embed_inlined_in_response_without_stats", `{"name":"batches/b1","done":true,"metadata":{"state":"BATCH_STATE_SUCCEEDED"},"response":{"inlinedEmbedContentResponses":{"inlinedResponses":[{"response":{"embedding":{"values":[0.1]}}},{"response":{"embedding":{"values":[0.2]}}},{"error":{"code":13}}]}}}`,
			&Batch{Name: name, State: BatchSucceeded, Done: true, Stats: BatchStats{Requests: 3, Succeeded: 2, Failed: 1},
				Inlined: []json.RawMessage{json.RawMessage(`{"key":"0","response":{"embedding":{"values":[0.1]}}}`), json.RawMessage(`{"key":"1","response":{"embedding":{"values":[0.2]}}}`), json.RawMessage(`{"key":"2","error":{"code":13}}`)}}, false},
		{"embed_inlined_as_inlined_responses", `{"name":"batches/b1","done":true,"metadata":{"state":"BATCH_STATE_SUCCEEDED","output":{"inlinedResponses":{"inlinedResponses":[{"response":{"embedding":{"values":[0.1]}},"metadata":{"key":"a"}}]}}}}`,
			&Batch{Name: name, State: BatchSucceeded, Done: true, Stats: BatchStats{Requests: 1, Succeeded: 1},
				Inlined: []json.RawMessage{json.RawMessage(`{"key":"a","response":{"embedding":{"values":[0.1]}}}`)}}, false},
		{"both_inlined_forms", `{"name":"batches/b1","done":true,"metadata":{"state":"BATCH_STATE_SUCCEEDED","output":{"inlinedResponses":{"inlinedResponses":[{"response":{}}]},"inlinedEmbedContentResponses":{"inlinedResponses":[{"response":{}}]}}}}`, nil, true},
		{"unknown_state_kept", `{"name":"batches/b1","metadata":{"state":"BATCH_STATE_HIBERNATING"}}`,
			&Batch{Name: name, State: "HIBERNATING"}, false},
		{"partially_succeeded_is_done", `{"name":"batches/b1","metadata":{"state":"JOB_STATE_PARTIALLY_SUCCEEDED","output":{"responsesFile":"files/r1"}}}`,
			&Batch{Name: name, State: BatchPartiallySucceeded, Done: true, ResponsesFile: "files/r1"}, false},
		{"other_batch", `{"name":"batches/b2","metadata":{"state":"BATCH_STATE_PENDING"}}`, nil, true},
		{"no_state", `{"name":"batches/b1","metadata":{}}`, nil, true},
		{"succeeded_without_output", `{"name":"batches/b1","done":true,"metadata":{"state":"BATCH_STATE_SUCCEEDED"}}`, nil, true},
		{"unsafe_responses_file", `{"name":"batches/b1","done":true,"metadata":{"state":"BATCH_STATE_SUCCEEDED","output":{"responsesFile":"files/../x"}}}`, nil, true},
		{"bad_count", `{"name":"batches/b1","metadata":{"state":"BATCH_STATE_PENDING","batchStats":{"requestCount":"many"}}}`, nil, true},
		{"bad_time", `{"name":"batches/b1","metadata":{"state":"BATCH_STATE_PENDING","createTime":"yesterday"}}`, nil, true},
		{"not_json", `<html>`, nil, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got, err := parseBatch(name, []byte(tc.body))
			if tc.wantErr {
				if !errors.Is(err, ErrUnexpectedResponse) || IsTransient(err) {
					t.Fatalf("error %v, want a permanent ErrUnexpectedResponse", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("batch (-want +got):\n%s", diff)
			}
		})
	}
}

func TestParseInteraction_shapes(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name string
		body string
	}{
		{"other_interaction", `{"id":"other","status":"completed"}`},
		{"no_status", `{"id":"i1"}`},
		{"wrong_type", `{"id":"i1","status":"completed","steps":"none"}`},
		{"not_json", `{`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			if _, err := parseInteraction("i1", []byte(tc.body)); !errors.Is(err, ErrUnexpectedResponse) {
				t.Errorf("error %v, want ErrUnexpectedResponse", err)
			}
		})
	}
}

func TestParseContentRange(t *testing.T) {
	t.Parallel()
	cases := []struct {
		in           string
		start, total int64
		ok           bool
	}{
		{"bytes 100-199/200", 100, 200, true},
		{"bytes 0-0/1", 0, 1, true},
		{"bytes 5-9/*", 5, -1, true},
		{"bytes 100-150/200", 0, 0, false}, // does not reach the end
		{"bytes 100-199/300", 0, 0, false},
		{"bytes 200-100/300", 0, 0, false},
		{"bytes -1-5/6", 0, 0, false},
		{"items 0-1/2", 0, 0, false},
		{"bytes 0-1", 0, 0, false},
		{"", 0, 0, false},
	}
	for _, tc := range cases {
		start, total, err := parseContentRange(tc.in)
		if tc.ok != (err == nil) || start != tc.start || total != tc.total {
			t.Errorf("parseContentRange(%q) = %d, %d, %v; want %d, %d, ok=%v", tc.in, start, total, err, tc.start, tc.total, tc.ok)
		}
	}
}

func TestBackoff(t *testing.T) {
	t.Parallel()
	c := &Client{retry: RetryPolicy{Attempts: 10, Base: 100 * time.Millisecond, Max: time.Second}}
	plain := errors.New("x")
	cases := []struct {
		name     string
		attempt  int
		err      error
		min, max time.Duration
	}{
		{"first", 1, plain, 50 * time.Millisecond, 100 * time.Millisecond},
		{"second", 2, plain, 100 * time.Millisecond, 200 * time.Millisecond},
		{"capped", 9, plain, 500 * time.Millisecond, time.Second},
		{"retry_after_raises", 1, &APIError{Status: 429, RetryAfter: 700 * time.Millisecond}, 700 * time.Millisecond, 700 * time.Millisecond},
		{"retry_after_capped", 1, &APIError{Status: 429, RetryAfter: time.Hour}, time.Second, time.Second},
		{"short_retry_after_ignored", 3, &APIError{Status: 429, RetryAfter: time.Millisecond}, 200 * time.Millisecond, 400 * time.Millisecond},
	}
	for _, tc := range cases {
		for range 50 {
			if d := c.backoff(tc.attempt, tc.err); d < tc.min || d > tc.max {
				t.Errorf("%s: backoff = %v, want within [%v, %v]", tc.name, d, tc.min, tc.max)
				break
			}
		}
	}
}

func TestParseRetryAfter(t *testing.T) {
	t.Parallel()
	cases := map[string]time.Duration{
		"":          0,
		"0":         0,
		"-3":        0,
		"7":         7 * time.Second,
		"soon":      0,
		"999999999": 24 * time.Hour,
		time.Now().Add(-time.Hour).UTC().Format(http.TimeFormat): 0,
	}
	for in, want := range cases {
		if got := parseRetryAfter(in); got != want {
			t.Errorf("parseRetryAfter(%q) = %v, want %v", in, got, want)
		}
	}
	future := time.Now().Add(time.Hour).UTC().Format(http.TimeFormat)
	if got := parseRetryAfter(future); got < 58*time.Minute || got > time.Hour {
		t.Errorf("parseRetryAfter(%q) = %v, want about 1h", future, got)
	}
}

func TestRedactURL(t *testing.T) {
	t.Parallel()
	cases := map[string]string{
		"https://h/p?alt=media&key=SECRET":   "https://h/p?alt=media&key=REDACTED",
		"https://user:SECRET@h/p":            "https://REDACTED@h/p",
		"https://h/files/a:download?alt=med": "https://h/files/a:download?alt=med",
		"https://h/%zz":                      "<unparsable URL>",
	}
	for in, want := range cases {
		if got := redactURL(in); got != want {
			t.Errorf("redactURL(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestNewAPIError(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name          string
		status        int
		body          string
		want          *APIError
		wantTransient bool
	}{
		// Google's format, one status of each class.
		{"google_invalid_argument", 400, `{"error":{"code":400,"message":"Bad request.","status":"INVALID_ARGUMENT"}}`,
			&APIError{Status: 400, Code: "INVALID_ARGUMENT", Message: "Bad request."}, false},
		{"google_not_found", 404, `{"error":{"code":404,"message":"Requested entity was not found.","status":"NOT_FOUND"}}`,
			&APIError{Status: 404, Code: "NOT_FOUND", Message: "Requested entity was not found."}, false},
		{"google_resource_exhausted", 429, `{"error":{"code":429,"message":"Quota.","status":"RESOURCE_EXHAUSTED","details":[{"@type":"type.googleapis.com/google.rpc.RetryInfo","retryDelay":"7s"}]}}`,
			&APIError{Status: 429, Code: "RESOURCE_EXHAUSTED", Message: "Quota.", RetryAfter: 7 * time.Second}, true},
		{"google_internal", 500, `{"error":{"code":500,"message":"Internal.","status":"INTERNAL"}}`,
			&APIError{Status: 500, Code: "INTERNAL", Message: "Internal."}, true},
		{"google_unavailable", 503, `{"error":{"code":503,"message":"Overloaded.","status":"UNAVAILABLE"}}`,
			&APIError{Status: 503, Code: "UNAVAILABLE", Message: "Overloaded."}, true},
		{"google_without_status", 404, `{"error":{"code":404,"message":"Gone."}}`,
			&APIError{Status: 404, Code: "NOT_FOUND", Message: "Gone."}, false},
		// The Interactions API's string code, the same statuses.
		{"interactions_invalid_argument", 400, `{"error":{"code":"invalid_argument","message":"Multiple authentication credentials received."}}`,
			&APIError{Status: 400, Code: "INVALID_ARGUMENT", Message: "Multiple authentication credentials received."}, false},
		{"interactions_not_found", 404, `{"error":{"code":"not_found","message":"Interaction not found."}}`,
			&APIError{Status: 404, Code: "NOT_FOUND", Message: "Interaction not found."}, false},
		{"interactions_resource_exhausted", 429, `{"error":{"code":"resource_exhausted","message":"Quota."}}`,
			&APIError{Status: 429, Code: "RESOURCE_EXHAUSTED", Message: "Quota."}, true},
		{"interactions_internal", 500, `{"error":{"code":"internal","message":"Internal."}}`,
			&APIError{Status: 500, Code: "INTERNAL", Message: "Internal."}, true},
		{"interactions_unavailable", 503, `{"error":{"code":"UNAVAILABLE","message":"Overloaded."}}`,
			&APIError{Status: 503, Code: "UNAVAILABLE", Message: "Overloaded."}, true},
		{"interactions_unknown_code_kept_as_reason", 429, `{"error":{"code":"rate_limit_exceeded","message":"Slow down."}}`,
			&APIError{Status: 429, Code: "RESOURCE_EXHAUSTED", Message: "Slow down.", Reason: "rate_limit_exceeded"}, true},
		// The HTTP status decides what is transient, whatever the body says.
		{"status_outranks_code", 503, `{"error":{"code":"invalid_argument","message":"x"}}`,
			&APIError{Status: 503, Code: "INVALID_ARGUMENT", Message: "x"}, true},
		{"not_json", 502, "<html>Bad Gateway</html>",
			&APIError{Status: 502, Code: "INTERNAL", Message: "<html>Bad Gateway</html>"}, true},
		{"odd_code_type", 400, `{"error":{"code":{"x":1},"message":"odd"}}`,
			&APIError{Status: 400, Code: "INVALID_ARGUMENT", Message: "odd"}, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got := newAPIError(&http.Response{StatusCode: tc.status, Header: http.Header{}, Body: io.NopCloser(strings.NewReader(tc.body))})
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("APIError (-want +got):\n%s", diff)
			}
			if got.Transient() != tc.wantTransient {
				t.Errorf("Transient() = %v, want %v", got.Transient(), tc.wantTransient)
			}
		})
	}
}

func TestFromSDKError(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name string
		in   error
		want *APIError
	}{
		{"json_error", fmt.Errorf("wrapped: %w", genai.APIError{Code: 429, Status: "RESOURCE_EXHAUSTED", Message: "quota",
			Details: []map[string]any{{"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "3s"}}}),
			&APIError{Status: 429, Code: "RESOURCE_EXHAUSTED", Message: "quota", RetryAfter: 3 * time.Second}},
		{"status_line", genai.APIError{Code: 503, Status: "503 Service Unavailable", Message: "<html>"},
			&APIError{Status: 503, Code: "UNAVAILABLE", Message: "<html>"}},
		{"interactions_string_code", genai.APIError{Code: 404, Status: "404 Not Found", Message: `{"error":{"code":"not_found","message":"Interaction not found."}}`},
			&APIError{Status: 404, Code: "NOT_FOUND", Message: "Interaction not found."}},
		{"error_info", genai.APIError{Code: 400, Status: "INVALID_ARGUMENT", Message: "bad key",
			Details: []map[string]any{{"@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": "API_KEY_INVALID"}}},
			&APIError{Status: 400, Code: "INVALID_ARGUMENT", Message: "bad key", Reason: "API_KEY_INVALID"}},
	}
	for _, tc := range cases {
		got, ok := errors.AsType[*APIError](fromSDKError(tc.in))
		if !ok {
			t.Errorf("%s: not converted", tc.name)
			continue
		}
		if diff := cmp.Diff(tc.want, got); diff != "" {
			t.Errorf("%s (-want +got):\n%s", tc.name, diff)
		}
	}
	plain := errors.New("transport")
	if got := fromSDKError(plain); got != plain {
		t.Errorf("a non-API error was converted: %v", got)
	}
}

func TestScrub(t *testing.T) {
	t.Parallel()
	base := fmt.Errorf("call with SECRET failed: %w", ErrIncomplete)
	got := scrub(base, "SECRET")
	if got.Error() != "call with REDACTED failed: "+ErrIncomplete.Error() || !errors.Is(got, ErrIncomplete) {
		t.Errorf("scrub = %q (wraps ErrIncomplete: %v)", got, errors.Is(got, ErrIncomplete))
	}
	if clean := errors.New("fine"); scrub(clean, "SECRET") != clean {
		t.Error("an error without the secret was rewrapped")
	}
}
