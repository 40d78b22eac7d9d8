package event

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/santhosh-tekuri/jsonschema/v6"
)

// compileSchema compiles the embedded completion event schema with format
// assertion on, as draft 2020-12 treats formats as annotations by default.
func compileSchema(t testing.TB) *jsonschema.Schema {
	t.Helper()
	return compileSchemaDoc(t, SchemaURI, Schema())
}

// compileSchemaDoc compiles the schema document with the given $id, with
// format assertion on.
func compileSchemaDoc(t testing.TB, uri string, schemaDoc []byte) *jsonschema.Schema {
	t.Helper()
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(schemaDoc))
	if err != nil {
		t.Fatalf("failed to parse schema: %v", err)
	}
	c := jsonschema.NewCompiler()
	c.AssertFormat()
	if err := c.AddResource(uri, doc); err != nil {
		t.Fatalf("failed to add schema: %v", err)
	}
	sch, err := c.Compile(uri)
	if err != nil {
		t.Fatalf("failed to compile schema: %v", err)
	}
	return sch
}

func validateJSON(t testing.TB, sch *jsonschema.Schema, b []byte) error {
	t.Helper()
	v, err := jsonschema.UnmarshalJSON(bytes.NewReader(b))
	if err != nil {
		t.Fatalf("jsonschema.UnmarshalJSON() error = %v", err)
	}
	return sch.Validate(v)
}

// schemaCases are the committed schemas: the completion event's and the
// results event's.
var schemaCases = []struct {
	name     string
	doc      func() []byte
	uri      string
	examples string // directory of example events
	min      int    // least number of examples
	compile  func(t testing.TB) *jsonschema.Schema
}{
	{"completion", Schema, SchemaURI, "examples", len(exampleCases), compileSchema},
	{"results", ResultsSchema, ResultsSchemaURI, "results-examples", len(resultsExampleCases), compileResultsSchema},
}

func TestSchemas_identity(t *testing.T) {
	t.Parallel()
	for _, tc := range schemaCases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var doc struct {
				ID     string `json:"$id"`
				Schema string `json:"$schema"`
			}
			if err := json.Unmarshal(tc.doc(), &doc); err != nil {
				t.Fatal(err)
			}
			if doc.ID != tc.uri {
				t.Errorf("schema $id = %q, want %q", doc.ID, tc.uri)
			}
			if doc.Schema != "https://json-schema.org/draft/2020-12/schema" {
				t.Errorf("schema $schema = %q, want draft 2020-12", doc.Schema)
			}
			// The accessor returns a copy: changing it must not change the next result.
			s := tc.doc()
			s[0] = 'X'
			if tc.doc()[0] == 'X' {
				t.Error("the schema accessor returned shared memory")
			}
		})
	}
}

func TestSchemas_examplesAreValid(t *testing.T) {
	t.Parallel()
	for _, tc := range schemaCases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			sch := tc.compile(t)
			files, err := filepath.Glob(filepath.Join("testdata", tc.examples, "*.json"))
			if err != nil {
				t.Fatal(err)
			}
			if len(files) < tc.min {
				t.Fatalf("found %d example files, want at least %d", len(files), tc.min)
			}
			for _, f := range files {
				t.Run(filepath.Base(f), func(t *testing.T) {
					t.Parallel()
					b, err := os.ReadFile(f)
					if err != nil {
						t.Fatal(err)
					}
					if err := validateJSON(t, sch, b); err != nil {
						t.Errorf("example does not match the schema: %v", err)
					}
				})
			}
		})
	}
}

// variantBodies are realistic Gemini bodies covering every documented event
// type and every variant the sources disagree on.
var variantBodies = []struct {
	name string
	body string
}{
	{"batch_succeeded_documented", `{"type":"batch.succeeded","version":"v1","timestamp":"2026-01-22T12:00:00Z","data":{"id":"batch_123456","output_file_uri":"gs://my-bucket/results.jsonl"}}`},
	{"batch_succeeded_files_api_uri", `{"type":"batch.succeeded","version":"v1","timestamp":"2026-01-22T12:00:00Z","data":{"id":"batches/123456","output_file_uri":"files/batch-123456-output"}}`},
	{"batch_cancelled", `{"type":"batch.cancelled","version":"v1","timestamp":"2026-01-22T12:00:00Z","data":{"id":"batches/123"}}`},
	{"batch_expired", `{"type":"batch.expired","version":"v1","timestamp":"2026-01-22T12:00:00Z","data":{"id":"123"}}`},
	{"batch_failed_numeric_code", `{"type":"batch.failed","version":"v1","timestamp":"2026-01-22T12:00:00Z","data":{"id":"batch_1","error_code":13,"error_message":"Internal error"}}`},
	{"batch_failed_string_code", `{"type":"batch.failed","version":"v1","timestamp":"2026-01-22T12:00:00Z","data":{"id":"batch_1","error_code":"INTERNAL","error_message":"Internal error"}}`},
	{"batch_failed_message_only", `{"type":"batch.failed","data":{"id":"batch_1","error_message":"Internal error"}}`},
	{"batch_completed_cookbook", `{"type":"batch.completed","version":"v1","timestamp":"2026-01-22T12:00:00Z","data":{"id":"batches/abc"}}`},
	{"batch_numeric_id", `{"type":"batch.succeeded","data":{"id":123456}}`},
	{"interaction_completed", `{"type":"interaction.completed","version":"v1","timestamp":"2026-01-22T12:00:00Z","data":{"id":"v1_abc-DEF_123"}}`},
	{"interaction_completed_prefixed", `{"type":"interaction.completed","data":{"id":"interactions/v1_abc"}}`},
	{"interaction_failed", `{"type":"interaction.failed","version":"v1","timestamp":"2026-01-22T12:00:00Z","data":{"id":"v1_abc","error_code":"FAILED_PRECONDITION","error_message":"Tool call timed out"}}`},
	{"interaction_cancelled", `{"type":"interaction.cancelled","data":{"id":"v1_abc"}}`},
	{"interaction_requires_action", `{"type":"interaction.requires_action","data":{"id":"v1_abc"}}`},
	{"video_generated_documented", `{"type":"video.generated","version":"v1","timestamp":"2026-01-22T12:00:00Z","data":{"id":"models/veo-3.0-generate-001/operations/xyz","output_file_uri":"gs://b/v.mp4","file_name":"files/v1"}}`},
	{"video_generated_cookbook_video_uri", `{"type":"video.generated","data":{"id":"operations/xyz","video_uri":"https://generativelanguage.googleapis.com/v1beta/files/v1:download?alt=media"}}`},
	{"video_generated_bare_id", `{"type":"video.generated","data":{"id":"xyz"}}`},
	{"user_metadata_top_level", `{"type":"batch.succeeded","user_metadata":{"a":"1","n":2.5},"data":{"id":"b1"}}`},
	{"user_metadata_in_data", `{"type":"batch.succeeded","data":{"id":"b1","user_metadata":{"a":"1","nested":{"x":[1,2]}}}}`},
	{"user_metadata_both_places", `{"type":"batch.succeeded","user_metadata":{"a":"top","b":"top"},"data":{"id":"b1","user_metadata":{"a":"data"}}}`},
	{"fractional_offset_timestamp", `{"type":"batch.succeeded","timestamp":"2026-01-22T12:00:00.123456789-07:00","data":{"id":"b1"}}`},
	{"no_timestamp_no_version", `{"type":"batch.succeeded","data":{"id":"b1"}}`},
	{"null_optional_fields", `{"type":"batch.succeeded","version":null,"timestamp":null,"user_metadata":null,"data":{"id":"b1","output_file_uri":null,"error_code":null}}`},
	{"extra_fields_kept_in_raw", `{"type":"batch.succeeded","extra":true,"data":{"id":"b1","batch_stats":{"request_count":10}}}`},
	{"unknown_type_with_id", `{"type":"file.processed","version":"v2","data":{"id":"files/abc","size":12}}`},
	{"unknown_type_without_data", `{"type":"model.tuned"}`},
	{"unknown_type_odd_characters", `{"type":"Batch..Paused!","data":{"id":"x"}}`},
	{"unknown_type_nothing_usable", `{"type":"!!!","data":{}}`},
	{"unknown_type_malformed_id", `{"type":"future.event","data":{"id":"../../etc/passwd"}}`},
	{"unknown_type_non_string_id", `{"type":"future.event","data":{"id":{"nested":1}}}`},
}

func TestSchema_normalizedVariantsAreValid(t *testing.T) {
	t.Parallel()
	sch := compileSchema(t)
	received := time.Date(2026, 1, 22, 12, 0, 1, 0, time.UTC)
	for _, tc := range variantBodies {
		for _, m := range []Meta{
			{WebhookID: "msg_" + tc.name, Scheme: SchemeHMAC, ReceivedAt: received},
			{Scheme: SchemeJWT, ReceivedAt: received},
		} {
			t.Run(tc.name+"_"+m.Scheme, func(t *testing.T) {
				t.Parallel()
				b, err := json.Marshal(normalizeBody(t, tc.body, m))
				if err != nil {
					t.Fatalf("json.Marshal() error = %v", err)
				}
				if err := validateJSON(t, sch, b); err != nil {
					t.Errorf("event does not match the schema: %v\nevent: %s", err, b)
				}
			})
		}
	}
}

func TestSchema_rejectsInvalidEvents(t *testing.T) {
	t.Parallel()
	sch := compileSchema(t)
	base, err := os.ReadFile(filepath.Join("testdata", "examples", "batch.succeeded.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := validateJSON(t, sch, base); err != nil {
		t.Fatalf("base example is invalid: %v", err)
	}
	tests := []struct {
		name   string
		mutate func(ev map[string]any)
	}{
		{"missing_id", func(ev map[string]any) { delete(ev, "id") }},
		{"empty_id", func(ev map[string]any) { ev["id"] = "" }},
		{"id_with_space", func(ev map[string]any) { ev["id"] = "msg 1" }},
		{"bad_kind", func(ev map[string]any) { data(ev)["kind"] = "file" }},
		{"bad_scheme", func(ev map[string]any) { data(ev)["delivery"].(map[string]any)["scheme"] = "basic" }},
		{"missing_delivery", func(ev map[string]any) { delete(data(ev), "delivery") }},
		{"bad_state", func(ev map[string]any) { data(ev)["state"] = "done" }},
		{"state_of_other_kind", func(ev map[string]any) { data(ev)["state"] = "generated" }},
		{"batch_without_resource", func(ev map[string]any) { delete(data(ev), "resource") }},
		{"batch_resource_without_prefix", func(ev map[string]any) { data(ev)["resource"] = "batch_123456" }},
		{"resource_traversal", func(ev map[string]any) { data(ev)["resource"] = "batches/a..b" }},
		{"missing_subject", func(ev map[string]any) { delete(ev, "subject") }},
		{"bad_time", func(ev map[string]any) { ev["time"] = "22/01/2026" }},
		{"bad_received_at", func(ev map[string]any) { data(ev)["delivery"].(map[string]any)["received_at"] = "yesterday" }},
		{"wrong_specversion", func(ev map[string]any) { ev["specversion"] = "0.3" }},
		{"wrong_schema_version", func(ev map[string]any) { data(ev)["schema_version"] = "2" }},
		{"type_outside_namespace", func(ev map[string]any) { ev["type"] = "com.example.batch.succeeded" }},
		{"unexpected_top_level_field", func(ev map[string]any) { ev["extra"] = 1 }},
		{"unexpected_data_field", func(ev map[string]any) { data(ev)["extra"] = 1 }},
		{"empty_files", func(ev map[string]any) { data(ev)["files"] = map[string]any{} }},
		{"user_metadata_not_object", func(ev map[string]any) { data(ev)["user_metadata"] = "x" }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var ev map[string]any
			if err := json.Unmarshal(base, &ev); err != nil {
				t.Fatal(err)
			}
			tc.mutate(ev)
			b, err := json.Marshal(ev)
			if err != nil {
				t.Fatal(err)
			}
			if err := validateJSON(t, sch, b); err == nil {
				t.Errorf("schema accepted an invalid event: %s", b)
			}
		})
	}
}

func data(ev map[string]any) map[string]any {
	return ev["data"].(map[string]any)
}

func TestSchema_openWhereGeminiDecides(t *testing.T) {
	t.Parallel()
	sch := compileSchema(t)
	base, err := os.ReadFile(filepath.Join("testdata", "examples", "unknown.json"))
	if err != nil {
		t.Fatal(err)
	}
	var ev map[string]any
	if err := json.Unmarshal(base, &ev); err != nil {
		t.Fatal(err)
	}
	data(ev)["raw"].(map[string]any)["new_gemini_field"] = map[string]any{"deep": []any{1, "x"}}
	data(ev)["user_metadata"] = map[string]any{"anything": map[string]any{"goes": true}}
	b, err := json.Marshal(ev)
	if err != nil {
		t.Fatal(err)
	}
	if err := validateJSON(t, sch, b); err != nil {
		t.Errorf("schema rejected new fields under raw or user_metadata: %v", err)
	}
}
