package event

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

var update = flag.Bool("update", false, "rewrite testdata/examples and testdata/results-examples from the current code")

// exampleCase is a realistic Gemini delivery whose normalized event is
// committed as testdata/examples/<name>.json.
type exampleCase struct {
	name string
	body string
	meta Meta
}

func mustTime(s string) time.Time {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		panic(err)
	}
	return t
}

// exampleCases holds one delivery per Gemini event type, plus the cookbook's
// batch.completed and an event type geminihooks does not know.
var exampleCases = []exampleCase{
	{
		name: "batch.succeeded",
		body: `{"type":"batch.succeeded","version":"v1","timestamp":"2026-01-22T12:00:00Z",
			"data":{"id":"batch_123456","output_file_uri":"gs://my-bucket/results.jsonl",
			"user_metadata":{"job_group":"nightly-eval","priority":"high"}}}`,
		meta: Meta{WebhookID: "msg_2KWPBgLlAfxdpx2AI54pPJ85f4W", Scheme: SchemeHMAC, ReceivedAt: mustTime("2026-01-22T12:00:01.250Z")},
	},
	{
		name: "batch.cancelled",
		body: `{"type":"batch.cancelled","version":"v1","timestamp":"2026-01-22T13:15:42Z","data":{"id":"batches/8xq2mz5v1t"}}`,
		meta: Meta{WebhookID: "msg_2KWQ0mC6cP1uY8s7dJ3kLn9VbXz", Scheme: SchemeHMAC, ReceivedAt: mustTime("2026-01-22T13:15:42.981Z")},
	},
	{
		name: "batch.expired",
		body: `{"type":"batch.expired","version":"v1","timestamp":"2026-01-24T12:00:00.5+01:00",
			"user_metadata":{"run":42,"dry_run":false},"data":{"id":"batches/r4nd0m1dx7"}}`,
		meta: Meta{WebhookID: "msg_2KWR7yTq4eHfA1bN6gC2sV0oPdM", Scheme: SchemeHMAC, ReceivedAt: mustTime("2026-01-24T11:00:02Z")},
	},
	{
		name: "batch.failed",
		body: `{"type":"batch.failed","version":"v1","timestamp":"2026-01-22T12:04:10Z",
			"data":{"id":"batches/q9w8e7r6t5","error_code":3,"error_message":"Request 17 has an invalid 'contents' field."}}`,
		meta: Meta{WebhookID: "msg_2KWS3nVb8xLr5tQ0wE9jYu2HcKa", Scheme: SchemeHMAC, ReceivedAt: mustTime("2026-01-22T12:04:10.402Z")},
	},
	{
		name: "batch.completed",
		body: `{"type":"batch.completed","version":"v1","timestamp":"2026-01-22T12:00:00Z","data":{"id":"123456789"}}`,
		meta: Meta{WebhookID: "msg_2KWT9pZc1vNs6uR4xF8kWi3JdLb", Scheme: SchemeHMAC, ReceivedAt: mustTime("2026-01-22T12:00:00.730Z")},
	},
	{
		name: "interaction.completed",
		body: `{"type":"interaction.completed","version":"v1","timestamp":"2026-05-04T09:30:00Z",
			"data":{"id":"v1_ChdhbXhQYVp1T0ZfN2xqTVlQbTRTMjBBdxIXYW14UGFadU9GXzdsak1ZUG00UzIwQXc",
			"user_metadata":{"job_group":"nightly-eval","priority":"high","attempt":2}}}`,
		meta: Meta{WebhookID: "msg_2KWU5kXd2bMt7vS3yG1lOh4NeJc", Scheme: SchemeJWT, ReceivedAt: mustTime("2026-05-04T09:30:00.615Z")},
	},
	{
		name: "interaction.failed",
		body: `{"type":"interaction.failed","version":"v1","timestamp":"2026-05-04T09:41:17Z",
			"data":{"id":"v1_Q2hkM2VfZmFpbGVkX2ludGVyYWN0aW9u","error_code":"RESOURCE_EXHAUSTED","error_message":"Quota exceeded for deep research requests."}}`,
		meta: Meta{WebhookID: "msg_2KWV1jWe6cLu8wT2zH0mPg5MfId", Scheme: SchemeHMAC, ReceivedAt: mustTime("2026-05-04T09:41:18.004Z")},
	},
	{
		name: "interaction.cancelled",
		body: `{"type":"interaction.cancelled","version":"v1","timestamp":"2026-05-04T10:02:55Z","data":{"id":"interactions/v1_Y2FuY2VsbGVkX2ludGVyYWN0aW9u"}}`,
		meta: Meta{WebhookID: "msg_2KWW8hVf3dKv9xU1aI7nQf6LgHe", Scheme: SchemeHMAC, ReceivedAt: mustTime("2026-05-04T10:02:55.318Z")},
	},
	{
		// A per-request webhook delivery without a webhook-id gets a derived id.
		name: "interaction.requires_action",
		body: `{"type":"interaction.requires_action","version":"v1","timestamp":"2026-05-04T10:15:00Z",
			"data":{"id":"v1_cmVxdWlyZXNfYWN0aW9uX2ludGVyYWN0aW9u","user_metadata":{"ticket":"OPS-1234"}}}`,
		meta: Meta{Scheme: SchemeJWT, ReceivedAt: mustTime("2026-05-04T10:15:00.120Z")},
	},
	{
		name: "video.generated",
		body: `{"type":"video.generated","version":"v1","timestamp":"2026-05-05T08:00:00Z",
			"data":{"id":"models/veo-3.0-generate-001/operations/a1b2c3d4e5f6",
			"output_file_uri":"https://generativelanguage.googleapis.com/v1beta/files/abc123xyz:download?alt=media",
			"file_name":"files/abc123xyz"}}`,
		meta: Meta{WebhookID: "msg_2KWX4gUg7eJw0yV9bJ6oRe7KhGf", Scheme: SchemeHMAC, ReceivedAt: mustTime("2026-05-05T08:00:00.777Z")},
	},
	{
		name: "unknown",
		body: `{"type":"batch.partially_succeeded","version":"v1","timestamp":"2026-05-06T07:00:00Z",
			"data":{"id":"batches/p4rt1alx9","succeeded_request_count":98,"failed_request_count":2}}`,
		meta: Meta{WebhookID: "msg_2KWY0fTh8fIx1zW8cK5pSd8JiFg", Scheme: SchemeHMAC, ReceivedAt: mustTime("2026-05-06T07:00:01Z")},
	},
}

func normalizeBody(t testing.TB, body string, meta Meta) *Event {
	t.Helper()
	n, err := Parse([]byte(body))
	if err != nil {
		t.Fatalf("Parse() error = %v", err)
	}
	e, err := Normalize(n, meta)
	if err != nil {
		t.Fatalf("Normalize() error = %v", err)
	}
	return e
}

// asJSONValue decodes JSON into a generic value so that documents are
// compared by content, not formatting.
func asJSONValue(t testing.TB, b []byte) any {
	t.Helper()
	var v any
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatalf("json.Unmarshal() error = %v", err)
	}
	return v
}

func TestNormalize_golden(t *testing.T) {
	t.Parallel()
	for _, tc := range exampleCases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			compareGolden(t, filepath.Join("testdata", "examples", tc.name+".json"), normalizeBody(t, tc.body, tc.meta))
		})
	}
}

// compareGolden compares the JSON of got with the golden file at path, which
// -update rewrites.
func compareGolden(t *testing.T, path string, got any) {
	t.Helper()
	b, err := json.MarshalIndent(got, "", "  ")
	if err != nil {
		t.Fatalf("json.Marshal() error = %v", err)
	}
	if *update {
		if err := os.WriteFile(path, append(b, '\n'), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("failed to read golden file (run with -update to create it): %v", err)
	}
	if diff := cmp.Diff(asJSONValue(t, want), asJSONValue(t, b)); diff != "" {
		t.Errorf("event differs from %s (-want +got):\n%s", path, diff)
	}
}

func TestExamples_coverEveryEventType(t *testing.T) {
	t.Parallel()
	files, err := filepath.Glob(filepath.Join("testdata", "examples", "*.json"))
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		e, err := Decode(bytes.TrimSpace(b))
		if err != nil {
			t.Fatalf("Decode(%s) error = %v", f, err)
		}
		seen[e.Data.GeminiEventType] = true
		if e.Data.Kind == KindUnknown {
			seen["<unknown>"] = true
		}
	}
	for _, typ := range []string{
		"batch.succeeded", "batch.cancelled", "batch.expired", "batch.failed", "batch.completed",
		"interaction.completed", "interaction.failed", "interaction.cancelled", "interaction.requires_action",
		"video.generated", "<unknown>",
	} {
		if !seen[typ] {
			t.Errorf("no example under testdata/examples for %s", typ)
		}
	}
}
