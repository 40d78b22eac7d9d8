package event

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/santhosh-tekuri/jsonschema/v6"
)

func compileResultsSchema(t testing.TB) *jsonschema.Schema {
	t.Helper()
	return compileSchemaDoc(t, ResultsSchemaURI, ResultsSchema())
}

// TestResultsSchema_constructedEventsAreValid builds stored and failed
// events for every completion example of a job, with and without the
// optional parts, and checks them against the schema.
func TestResultsSchema_constructedEventsAreValid(t *testing.T) {
	t.Parallel()
	sch := compileResultsSchema(t)
	started := mustTime("2026-05-06T07:00:02Z")
	for _, ex := range exampleCases {
		src := normalizeBody(t, ex.body, ex.meta)
		if src.Data.Kind == KindUnknown {
			continue
		}
		folder := string(src.Data.Kind) + "/" + src.Data.ResourceID + "/"
		full := ResultsSpec{
			State:        src.Data.State,
			Bucket:       "results.acme.example",
			ObjectPrefix: "base/path/" + folder,
			Objects: []StoredObject{
				storedObject("base/path/"+folder+ManifestName, "application/json", manifest(src.Data.Resource)),
				storedObject("base/path/"+folder+"nested/empty.bin", "application/octet-stream", nil),
			},
			JobCompletedAt: started.Add(-time.Minute),
			StartedAt:      started,
			FinishedAt:     started.Add(1234 * time.Millisecond),
		}
		if src.Data.Kind == KindBatch {
			full.Counts = &RequestCounts{Requests: 10, Succeeded: 7, Failed: 3}
		}
		minimal := ResultsSpec{State: src.Data.State, StartedAt: started, FinishedAt: started}
		onlyManifest := ResultsSpec{
			State: "budget_exceeded", Bucket: "acme", ObjectPrefix: folder, StartedAt: started, FinishedAt: started,
			Objects: []StoredObject{storedObject(folder+ManifestName, "application/json", []byte("{}"))},
		}
		failure := Failure{Code: "fetch_failed", Message: "Gave up after 10 attempts: 503 UNAVAILABLE."}
		builds := map[string]func() (*Results, error){
			"stored_full":          func() (*Results, error) { return NewResultsStored(src, full) },
			"stored_only_manifest": func() (*Results, error) { return NewResultsStored(src, onlyManifest) },
			"failed_full":          func() (*Results, error) { return NewResultsFailed(src, full, failure) },
			"failed_minimal":       func() (*Results, error) { return NewResultsFailed(src, minimal, failure) },
		}
		for name, build := range builds {
			t.Run(ex.name+"_"+name, func(t *testing.T) {
				t.Parallel()
				r, err := build()
				if err != nil {
					t.Fatalf("failed to build the results event: %v", err)
				}
				b, err := json.Marshal(r)
				if err != nil {
					t.Fatal(err)
				}
				if err := validateJSON(t, sch, b); err != nil {
					t.Errorf("event does not match the schema: %v\nevent: %s", err, b)
				}
				if _, err := DecodeResults(b); err != nil {
					t.Errorf("DecodeResults() error = %v", err)
				}
			})
		}
	}
}

func TestResultsSchema_rejectsInvalidEvents(t *testing.T) {
	t.Parallel()
	sch := compileResultsSchema(t)
	stored, err := os.ReadFile(filepath.Join("testdata", "results-examples", "batch.stored.json"))
	if err != nil {
		t.Fatal(err)
	}
	failed, err := os.ReadFile(filepath.Join("testdata", "results-examples", "batch.failed.json"))
	if err != nil {
		t.Fatal(err)
	}
	interaction, err := os.ReadFile(filepath.Join("testdata", "results-examples", "interaction.stored.json"))
	if err != nil {
		t.Fatal(err)
	}
	object := func(ev map[string]any) map[string]any {
		return data(ev)["objects"].([]any)[0].(map[string]any)
	}
	timings := func(ev map[string]any) map[string]any {
		return data(ev)["timings"].(map[string]any)
	}
	tests := []struct {
		name   string
		base   []byte
		mutate func(ev map[string]any)
	}{
		{"missing_id", stored, func(ev map[string]any) { delete(ev, "id") }},
		{"id_without_prefix", stored, func(ev map[string]any) { ev["id"] = "msg_2KWPBgLlAfxdpx2AI54pPJ85f4W" }},
		{"completion_event_type", stored, func(ev map[string]any) { ev["type"] = "dev.geminihooks.gemini.batch.succeeded" }},
		{"other_source", stored, func(ev map[string]any) { ev["source"] = "//generativelanguage.googleapis.com/webhooks" }},
		{"missing_subject", stored, func(ev map[string]any) { delete(ev, "subject") }},
		{"completion_schema", stored, func(ev map[string]any) { ev["dataschema"] = SchemaURI }},
		{"bad_time", stored, func(ev map[string]any) { ev["time"] = "2026-01-22 12:00" }},
		{"unexpected_top_level_field", stored, func(ev map[string]any) { ev["extra"] = 1 }},
		{"unexpected_data_field", stored, func(ev map[string]any) { data(ev)["extra"] = 1 }},
		{"wrong_schema_version", stored, func(ev map[string]any) { data(ev)["schema_version"] = "2" }},
		{"unknown_kind", stored, func(ev map[string]any) { data(ev)["kind"] = "unknown" }},
		{"resource_of_other_kind", stored, func(ev map[string]any) { data(ev)["resource"] = "interactions/batch_123456" }},
		{"resource_traversal", stored, func(ev map[string]any) { data(ev)["resource"] = "batches/a..b" }},
		{"api_spelling_of_state", stored, func(ev map[string]any) { data(ev)["state"] = "JOB_STATE_SUCCEEDED" }},
		{"missing_state", stored, func(ev map[string]any) { delete(data(ev), "state") }},
		{"missing_source_event_id", stored, func(ev map[string]any) { delete(data(ev), "source_event_id") }},
		{"stored_without_manifest", stored, func(ev map[string]any) { delete(data(ev), "manifest") }},
		{"stored_without_bucket", stored, func(ev map[string]any) { delete(data(ev), "bucket") }},
		{"stored_without_objects", stored, func(ev map[string]any) { data(ev)["objects"] = []any{} }},
		{"stored_with_error", stored, func(ev map[string]any) {
			data(ev)["error"] = map[string]any{"code": "x", "message": "y", "permanent": true}
		}},
		{"stored_without_stored_at", stored, func(ev map[string]any) { delete(timings(ev), "stored_at") }},
		{"failed_without_error", failed, func(ev map[string]any) { delete(data(ev), "error") }},
		{"failed_with_stored_at", failed, func(ev map[string]any) { timings(ev)["stored_at"] = "2026-01-22T07:41:13.481Z" }},
		{"error_without_permanent", failed, func(ev map[string]any) { delete(data(ev)["error"].(map[string]any), "permanent") }},
		{"error_with_empty_code", failed, func(ev map[string]any) { data(ev)["error"].(map[string]any)["code"] = "" }},
		{"counts_for_an_interaction", interaction, func(ev map[string]any) {
			data(ev)["counts"] = map[string]any{"requests": 1, "succeeded": 1, "failed": 0}
		}},
		{"negative_counts", stored, func(ev map[string]any) { data(ev)["counts"].(map[string]any)["failed"] = -1 }},
		{"bad_bucket", stored, func(ev map[string]any) { data(ev)["bucket"] = "Acme_Results" }},
		{"prefix_not_gs", stored, func(ev map[string]any) {
			data(ev)["prefix"] = "https://storage.googleapis.com/acme-geminihooks-results/gemini/batch/batch_123456/"
		}},
		{"prefix_without_job_folder", stored, func(ev map[string]any) { data(ev)["prefix"] = "gs://acme-geminihooks-results/gemini/" }},
		{"manifest_with_other_name", stored, func(ev map[string]any) {
			data(ev)["manifest"] = "gs://acme-geminihooks-results/gemini/batch/batch_123456/index.json"
		}},
		{"negative_bytes", stored, func(ev map[string]any) { data(ev)["bytes"] = -1 }},
		{"object_empty_sha256", stored, func(ev map[string]any) { object(ev)["sha256"] = "" }},
		{"object_sha256_upper_case", stored, func(ev map[string]any) {
			object(ev)["sha256"] = "6EF93288FFDC31A1DA9C90044A5FCE46E9DDB2A9F5413E782F08842922B43ED4"
		}},
		{"object_crc32c_as_number", stored, func(ev map[string]any) { object(ev)["crc32c"] = 1298392522 }},
		{"object_crc32c_unpadded", stored, func(ev map[string]any) { object(ev)["crc32c"] = "Lmm3yg" }},
		{"object_md5_as_hex", stored, func(ev map[string]any) { object(ev)["md5"] = "1eb47a558a40cace12bcaf83c7994788" }},
		{"object_negative_size", stored, func(ev map[string]any) { object(ev)["size"] = -5 }},
		{"object_fractional_size", stored, func(ev map[string]any) { object(ev)["size"] = 1.5 }},
		{"object_uri_not_gs", stored, func(ev map[string]any) { object(ev)["uri"] = "/gemini/batch/batch_123456/manifest.json" }},
		{"object_unexpected_field", stored, func(ev map[string]any) { object(ev)["generation"] = "1706" }},
		{"missing_timings", stored, func(ev map[string]any) { delete(data(ev), "timings") }},
		{"missing_started_at", stored, func(ev map[string]any) { delete(timings(ev), "started_at") }},
		{"bad_event_received_at", stored, func(ev map[string]any) { timings(ev)["event_received_at"] = "yesterday" }},
		{"negative_duration", stored, func(ev map[string]any) { timings(ev)["duration_ms"] = -1 }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			if err := validateJSON(t, sch, tc.base); err != nil {
				t.Fatalf("base example is invalid: %v", err)
			}
			b := mutateResults(t, tc.base, tc.mutate)
			if err := validateJSON(t, sch, b); err == nil {
				t.Errorf("schema accepted an invalid event: %s", b)
			}
		})
	}
}
