package event

import (
	"encoding/json"
	"errors"
	"hash/crc32"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// batchSpec returns a valid spec for the batch.succeeded example event.
func batchSpec() ResultsSpec {
	const prefix = "gemini/batch/batch_123456/"
	return ResultsSpec{
		State:        StateSucceeded,
		Bucket:       "acme-results",
		ObjectPrefix: prefix,
		Objects: []StoredObject{
			storedObject(prefix+"results.jsonl", "application/jsonl", batchResults),
			storedObject(prefix+"manifest.json", "application/json", manifest("batches/batch_123456")),
		},
		Counts:         &RequestCounts{Requests: 2, Succeeded: 1, Failed: 1},
		JobCompletedAt: mustTime("2026-01-22T11:59:58Z"),
		StartedAt:      mustTime("2026-01-22T12:00:02Z"),
		FinishedAt:     mustTime("2026-01-22T12:00:03.5Z"),
	}
}

func TestNewResultsStored(t *testing.T) {
	t.Parallel()
	spec := batchSpec()
	// Times in another location are written in UTC.
	paris := time.FixedZone("CET", 3600)
	spec.StartedAt = spec.StartedAt.In(paris)
	spec.FinishedAt = spec.FinishedAt.In(paris)
	spec.JobCompletedAt = spec.JobCompletedAt.In(paris)

	got, err := NewResultsStored(completionEvent(t, "batch.succeeded"), spec)
	if err != nil {
		t.Fatalf("NewResultsStored() error = %v", err)
	}
	const dir = "gs://acme-results/gemini/batch/batch_123456/"
	withURI := func(o StoredObject) StoredObject {
		o.URI = "gs://acme-results/" + o.Name
		return o
	}
	stored := mustTime("2026-01-22T12:00:03.5Z")
	completed := mustTime("2026-01-22T11:59:58Z")
	want := &Results{
		SpecVersion:     "1.0",
		ID:              "results-" + JobRef{Kind: KindBatch, ID: "batch_123456"}.EventID(),
		Type:            "dev.geminihooks.results.stored",
		Source:          "//geminihooks/materializer",
		Subject:         "batches/batch_123456",
		Time:            stored,
		DataContentType: "application/json",
		DataSchema:      "https://geminihooks.dev/schemas/results-event/v1.json",
		Data: ResultsData{
			SchemaVersion: "1",
			Kind:          KindBatch,
			Resource:      "batches/batch_123456",
			State:         StateSucceeded,
			SourceEventID: JobRef{Kind: KindBatch, ID: "batch_123456"}.EventID(),
			Bucket:        "acme-results",
			Prefix:        dir,
			Manifest:      dir + "manifest.json",
			// Sorted by name.
			Objects: []StoredObject{withURI(spec.Objects[1]), withURI(spec.Objects[0])},
			Counts:  &RequestCounts{Requests: 2, Succeeded: 1, Failed: 1},
			Bytes:   int64(len(batchResults) + len(manifest("batches/batch_123456"))),
			Timings: Timings{
				JobCompletedAt:  &completed,
				EventReceivedAt: mustTime("2026-01-22T12:00:01.250Z"),
				StartedAt:       mustTime("2026-01-22T12:00:02Z"),
				StoredAt:        &stored,
				DurationMS:      1500,
			},
		},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("NewResultsStored() (-want +got):\n%s", diff)
	}
	// The spec is not modified: its objects keep an empty URI.
	if spec.Objects[0].URI != "" {
		t.Errorf("NewResultsStored() modified the spec's objects")
	}
}

func TestNewResultsFailed(t *testing.T) {
	t.Parallel()
	src := completionEvent(t, "interaction.failed")
	spec := ResultsSpec{
		State:      StateFailed,
		StartedAt:  mustTime("2026-05-04T09:41:18.5Z"),
		FinishedAt: mustTime("2026-05-04T09:41:18.75Z"),
	}
	failure := Failure{Code: "storage_forbidden", Message: "The service account may not write to the bucket.", Permanent: true}
	got, err := NewResultsFailed(src, spec, failure)
	if err != nil {
		t.Fatalf("NewResultsFailed() error = %v", err)
	}
	want := &Results{
		SpecVersion:     SpecVersion,
		ID:              ResultsIDPrefix + src.ID,
		Type:            ResultsTypeFailed,
		Source:          ResultsSource,
		Subject:         src.Data.Resource,
		Time:            spec.FinishedAt,
		DataContentType: DataContentType,
		DataSchema:      ResultsSchemaURI,
		Data: ResultsData{
			SchemaVersion: ResultsSchemaVersion,
			Kind:          KindInteraction,
			Resource:      src.Data.Resource,
			State:         StateFailed,
			SourceEventID: src.ID,
			Objects:       []StoredObject{},
			Error:         &failure,
			Timings: Timings{
				EventReceivedAt: src.Data.Delivery.ReceivedAt,
				StartedAt:       spec.StartedAt,
				DurationMS:      250,
			},
		},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("NewResultsFailed() (-want +got):\n%s", diff)
	}
	b, err := json.Marshal(got)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b), `"objects":[]`) {
		t.Errorf("objects of a failed event without objects are not an empty array: %s", b)
	}
}

func TestNewResults_invalid(t *testing.T) {
	t.Parallel()
	failure := Failure{Code: "results_not_found", Message: "gone", Permanent: true}
	tests := []struct {
		name    string
		mutate  func(src *Event, spec *ResultsSpec, f *Failure) *Event
		failed  bool // build a failed event instead of a stored one
		wantErr string
	}{
		{"nil_source", func(*Event, *ResultsSpec, *Failure) *Event { return nil }, false, "no completion event"},
		{"unknown_kind", func(src *Event, _ *ResultsSpec, _ *Failure) *Event {
			src.Data.Kind = KindUnknown
			return src
		}, false, "have no results"},
		{"empty_source_id", func(src *Event, _ *ResultsSpec, _ *Failure) *Event { src.ID = ""; return src }, false, "event id"},
		{"source_id_with_space", func(src *Event, _ *ResultsSpec, _ *Failure) *Event { src.ID = "msg 1"; return src }, false, "event id"},
		{"no_receive_time", func(src *Event, _ *ResultsSpec, _ *Failure) *Event {
			src.Data.Delivery.ReceivedAt = time.Time{}
			return src
		}, false, "receive time"},
		{"bare_resource", func(src *Event, _ *ResultsSpec, _ *Failure) *Event { src.Data.Resource = "batch_123456"; return src }, false, "normalized"},
		{"resource_of_other_kind", func(src *Event, _ *ResultsSpec, _ *Failure) *Event {
			src.Data.Resource = "interactions/batch_123456"
			return src
		}, false, "normalized"},
		{"no_state", func(src *Event, s *ResultsSpec, _ *Failure) *Event { s.State = ""; return src }, false, "state"},
		{"api_spelling_of_state", func(src *Event, s *ResultsSpec, _ *Failure) *Event { s.State = "JOB_STATE_SUCCEEDED"; return src }, false, "state"},
		{"no_start_time", func(src *Event, s *ResultsSpec, _ *Failure) *Event { s.StartedAt = time.Time{}; return src }, false, "StartedAt"},
		{"no_finish_time", func(src *Event, s *ResultsSpec, _ *Failure) *Event { s.FinishedAt = time.Time{}; return src }, true, "FinishedAt"},
		{"finished_before_started", func(src *Event, s *ResultsSpec, _ *Failure) *Event {
			s.FinishedAt = s.StartedAt.Add(-time.Millisecond)
			return src
		}, false, "before"},
		{"counts_for_an_interaction", func(_ *Event, s *ResultsSpec, _ *Failure) *Event {
			*s = ResultsSpec{State: StateCompleted, StartedAt: s.StartedAt, FinishedAt: s.FinishedAt, Counts: &RequestCounts{}}
			return completionEvent(t, "interaction.completed")
		}, true, "only for batches"},
		{"negative_counts", func(src *Event, s *ResultsSpec, _ *Failure) *Event {
			s.Counts = &RequestCounts{Requests: 1, Failed: -1}
			return src
		}, false, "counts"},
		{"counts_above_requests", func(src *Event, s *ResultsSpec, _ *Failure) *Event {
			s.Counts = &RequestCounts{Requests: 2, Succeeded: 2, Failed: 1}
			return src
		}, false, "counts"},
		{"stored_without_bucket", func(src *Event, s *ResultsSpec, _ *Failure) *Event { s.Bucket = ""; return src }, false, "bucket"},
		{"bad_bucket", func(src *Event, s *ResultsSpec, _ *Failure) *Event { s.Bucket = "Acme_Results"; return src }, false, "bucket"},
		{"bucket_with_double_dot", func(src *Event, s *ResultsSpec, _ *Failure) *Event { s.Bucket = "acme..results"; return src }, false, "bucket"},
		{"objects_without_bucket", func(src *Event, s *ResultsSpec, _ *Failure) *Event { s.Bucket = ""; return src }, true, "bucket"},
		{"prefix_of_other_job", func(src *Event, s *ResultsSpec, _ *Failure) *Event {
			s.ObjectPrefix = "gemini/batch/other/"
			return src
		}, false, "object prefix"},
		{"prefix_without_folder", func(src *Event, s *ResultsSpec, _ *Failure) *Event { s.ObjectPrefix = "gemini/"; return src }, false, "object prefix"},
		{"prefix_glued_to_base", func(src *Event, s *ResultsSpec, _ *Failure) *Event {
			s.ObjectPrefix = "geminibatch/batch_123456/"
			return src
		}, false, "object prefix"},
		{"absolute_prefix", func(src *Event, s *ResultsSpec, _ *Failure) *Event {
			s.ObjectPrefix = "/batch/batch_123456/"
			return src
		}, false, "object prefix"},
		{"object_outside_prefix", func(src *Event, s *ResultsSpec, _ *Failure) *Event {
			s.Objects[0].Name = "elsewhere/results.jsonl"
			return src
		}, false, "not a valid object name"},
		{"object_named_like_the_prefix", func(src *Event, s *ResultsSpec, _ *Failure) *Event {
			s.Objects[0].Name = s.ObjectPrefix
			return src
		}, false, "not a valid object name"},
		{"object_name_with_newline", func(src *Event, s *ResultsSpec, _ *Failure) *Event {
			s.Objects[0].Name += "\n"
			return src
		}, false, "not a valid object name"},
		{"object_listed_twice", func(src *Event, s *ResultsSpec, _ *Failure) *Event {
			s.Objects = append(s.Objects, s.Objects[0])
			return src
		}, false, "twice"},
		{"object_with_other_uri", func(src *Event, s *ResultsSpec, _ *Failure) *Event {
			s.Objects[0].URI = "gs://other/" + s.Objects[0].Name
			return src
		}, false, "URI"},
		{"negative_size", func(src *Event, s *ResultsSpec, _ *Failure) *Event { s.Objects[0].Size = -1; return src }, false, "size"},
		{"crc32c_as_number", func(src *Event, s *ResultsSpec, _ *Failure) *Event { s.Objects[0].CRC32C = "1298392522"; return src }, false, "crc32c"},
		{"missing_crc32c", func(src *Event, s *ResultsSpec, _ *Failure) *Event { s.Objects[0].CRC32C = ""; return src }, false, "crc32c"},
		{"md5_as_hex", func(src *Event, s *ResultsSpec, _ *Failure) *Event {
			s.Objects[0].MD5 = "d41d8cd98f00b204e9800998ecf8427e"
			return src
		}, false, "md5"},
		{"sha256_upper_case", func(src *Event, s *ResultsSpec, _ *Failure) *Event {
			s.Objects[0].SHA256 = strings.ToUpper(s.Objects[0].SHA256)
			return src
		}, false, "sha256"},
		{"sha256_as_base64", func(src *Event, s *ResultsSpec, _ *Failure) *Event {
			s.Objects[0].SHA256 = "47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU="
			return src
		}, false, "sha256"},
		{"no_content_type", func(src *Event, s *ResultsSpec, _ *Failure) *Event { s.Objects[0].ContentType = ""; return src }, false, "content type"},
		{"stored_without_manifest", func(src *Event, s *ResultsSpec, _ *Failure) *Event {
			s.Objects = s.Objects[:1]
			return src
		}, false, "manifest"},
		{"failure_without_code", func(src *Event, _ *ResultsSpec, f *Failure) *Event { f.Code = ""; return src }, true, "code"},
		{"failure_without_message", func(src *Event, _ *ResultsSpec, f *Failure) *Event { f.Message = ""; return src }, true, "message"},
		{"failure_code_with_space", func(src *Event, _ *ResultsSpec, f *Failure) *Event { f.Code = "not found"; return src }, true, "failure code"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			spec, f := batchSpec(), failure
			src := tc.mutate(completionEvent(t, "batch.succeeded"), &spec, &f)
			var (
				r   *Results
				err error
			)
			if tc.failed {
				r, err = NewResultsFailed(src, spec, f)
			} else {
				r, err = NewResultsStored(src, spec)
			}
			if !errors.Is(err, ErrInvalidResults) || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("error = %v, want ErrInvalidResults mentioning %q", err, tc.wantErr)
			}
			if r != nil {
				t.Errorf("event = %+v, want nil", r)
			}
		})
	}
}

func TestNewResults_optional(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		build  func(*Event, ResultsSpec) (*Results, error)
		mutate func(*ResultsSpec)
		check  func(t *testing.T, r *Results)
	}{
		{
			name:   "no_job_completion_time",
			build:  NewResultsStored,
			mutate: func(s *ResultsSpec) { s.JobCompletedAt = time.Time{} },
			check: func(t *testing.T, r *Results) {
				if r.Data.Timings.JobCompletedAt != nil {
					t.Errorf("JobCompletedAt = %v, want nil", r.Data.Timings.JobCompletedAt)
				}
			},
		},
		{
			name:   "no_counts",
			build:  NewResultsStored,
			mutate: func(s *ResultsSpec) { s.Counts = nil },
			check: func(t *testing.T, r *Results) {
				if r.Data.Counts != nil {
					t.Errorf("Counts = %v, want nil", r.Data.Counts)
				}
			},
		},
		{
			name:   "no_md5_for_a_composite_object",
			build:  NewResultsStored,
			mutate: func(s *ResultsSpec) { s.Objects[0].MD5 = "" },
			check: func(t *testing.T, r *Results) {
				if r.Data.Objects[1].MD5 != "" {
					t.Errorf("MD5 = %q, want none", r.Data.Objects[1].MD5)
				}
			},
		},
		{
			name:   "prefix_without_base",
			build:  NewResultsStored,
			mutate: func(s *ResultsSpec) { renameObjects(s, "batch/batch_123456/") },
			check: func(t *testing.T, r *Results) {
				if want := "gs://acme-results/batch/batch_123456/"; r.Data.Prefix != want {
					t.Errorf("Prefix = %q, want %q", r.Data.Prefix, want)
				}
			},
		},
		{
			name: "failed_after_writing_objects_but_no_manifest",
			build: func(src *Event, s ResultsSpec) (*Results, error) {
				return NewResultsFailed(src, s, Failure{Code: "invalid_results", Message: "line 3 is not JSON"})
			},
			mutate: func(s *ResultsSpec) { s.Objects = s.Objects[:1] },
			check: func(t *testing.T, r *Results) {
				if r.Data.Manifest != "" || len(r.Data.Objects) != 1 || r.Data.Bytes != r.Data.Objects[0].Size {
					t.Errorf("Manifest = %q, %d objects, %d bytes; want no manifest and one object", r.Data.Manifest, len(r.Data.Objects), r.Data.Bytes)
				}
				if r.Data.Timings.StoredAt != nil {
					t.Errorf("StoredAt = %v on a failed event", r.Data.Timings.StoredAt)
				}
			},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			spec := batchSpec()
			tc.mutate(&spec)
			r, err := tc.build(completionEvent(t, "batch.succeeded"), spec)
			if err != nil {
				t.Fatalf("error = %v", err)
			}
			tc.check(t, r)
		})
	}
}

// renameObjects moves the objects of s under prefix.
func renameObjects(s *ResultsSpec, prefix string) {
	for i := range s.Objects {
		s.Objects[i].Name = prefix + strings.TrimPrefix(s.Objects[i].Name, s.ObjectPrefix)
	}
	s.ObjectPrefix = prefix
}

func TestResults_Attributes(t *testing.T) {
	t.Parallel()
	for _, tc := range resultsExampleCases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			r, err := tc.build(t)
			if err != nil {
				t.Fatal(err)
			}
			eventType := "results.stored"
			if tc.failure != nil {
				eventType = "results.failed"
			}
			src := tc.source(t)
			want := map[string]string{
				"event_type":      eventType,
				"kind":            string(src.Data.Kind),
				"resource":        src.Data.Resource,
				"source_event_id": src.ID,
				"schema_version":  "1",
				"state":           string(tc.spec.State),
			}
			got := r.Attributes()
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("Attributes() (-want +got):\n%s", diff)
			}
			checkPubSubLimits(t, got)
			if r.OrderingKey() != src.Data.Resource {
				t.Errorf("OrderingKey() = %q, want %q", r.OrderingKey(), src.Data.Resource)
			}
		})
	}
}

func TestEncodeCRC32C(t *testing.T) {
	t.Parallel()
	castagnoli := crc32.MakeTable(crc32.Castagnoli)
	tests := []struct {
		name string
		sum  uint32
		want string
	}{
		{"zero", 0, "AAAAAA=="},
		// The CRC-32C check value, of "123456789", is 0xE3069283.
		{"check_value", crc32.Checksum([]byte("123456789"), castagnoli), "4waSgw=="},
		// "Hello, World!" has CRC-32C 0x4D551068; its four bytes, in big-endian order.
		{"hello_world", crc32.Checksum([]byte("Hello, World!"), castagnoli), "TVUQaA=="},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			if got := EncodeCRC32C(tc.sum); got != tc.want {
				t.Errorf("EncodeCRC32C(%#x) = %q, want %q", tc.sum, got, tc.want)
			}
		})
	}
}

func TestDecodeCRC32C(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		in      string
		want    uint32
		wantErr bool
	}{
		{name: "zero", in: "AAAAAA==", want: 0},
		{name: "check_value", in: "4waSgw==", want: 0xE3069283},
		{name: "round_trip_max", in: EncodeCRC32C(0xFFFFFFFF), want: 0xFFFFFFFF},
		{name: "empty", in: "", wantErr: true},
		{name: "three_bytes", in: "4waS", wantErr: true},
		{name: "five_bytes", in: "4waSg4M=", wantErr: true},
		{name: "unpadded", in: "4waSgw", wantErr: true},
		{name: "url_alphabet", in: "-_-_-w==", wantErr: true},
		{name: "hex", in: "e3069283", wantErr: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got, err := DecodeCRC32C(tc.in)
			if (err != nil) != tc.wantErr || got != tc.want {
				t.Errorf("DecodeCRC32C(%q) = %#x, %v; want %#x, error %v", tc.in, got, err, tc.want, tc.wantErr)
			}
		})
	}
}

func TestDecodeResults_roundTrip(t *testing.T) {
	t.Parallel()
	files, err := filepath.Glob(filepath.Join("testdata", "results-examples", "*.json"))
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			t.Parallel()
			b, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			r, err := DecodeResults(b)
			if err != nil {
				t.Fatalf("DecodeResults() error = %v", err)
			}
			again, err := json.Marshal(r)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(asJSONValue(t, b), asJSONValue(t, again)); diff != "" {
				t.Errorf("round trip changed the event (-want +got):\n%s", diff)
			}
		})
	}
}

func TestDecodeResults(t *testing.T) {
	t.Parallel()
	base, err := os.ReadFile(filepath.Join("testdata", "results-examples", "batch.stored.json"))
	if err != nil {
		t.Fatal(err)
	}
	completion, err := os.ReadFile(filepath.Join("testdata", "examples", "batch.succeeded.json"))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		doc     func() []byte
		wantErr bool
	}{
		{"valid", func() []byte { return base }, false},
		{"unknown_fields_are_ignored", func() []byte {
			return mutateResults(t, base, func(ev map[string]any) {
				ev["traceparent"] = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
				data(ev)["new_field"] = map[string]any{"x": 1}
			})
		}, false},
		{"not_json", func() []byte { return []byte("results") }, true},
		{"trailing_data", func() []byte { return append(append([]byte{}, base...), "{}"...) }, true},
		{"completion_event", func() []byte { return completion }, true},
		{"wrong_specversion", func() []byte { return mutateResults(t, base, func(ev map[string]any) { ev["specversion"] = "0.3" }) }, true},
		{"missing_id", func() []byte { return mutateResults(t, base, func(ev map[string]any) { delete(ev, "id") }) }, true},
		{"missing_source", func() []byte { return mutateResults(t, base, func(ev map[string]any) { delete(ev, "source") }) }, true},
		{"other_type", func() []byte {
			return mutateResults(t, base, func(ev map[string]any) { ev["type"] = "dev.geminihooks.results.deleted" })
		}, true},
		{"wrong_schema_version", func() []byte {
			return mutateResults(t, base, func(ev map[string]any) { data(ev)["schema_version"] = "2" })
		}, true},
		{"unknown_kind", func() []byte { return mutateResults(t, base, func(ev map[string]any) { data(ev)["kind"] = "unknown" }) }, true},
		{"missing_resource", func() []byte { return mutateResults(t, base, func(ev map[string]any) { delete(data(ev), "resource") }) }, true},
		{"missing_source_event_id", func() []byte {
			return mutateResults(t, base, func(ev map[string]any) { delete(data(ev), "source_event_id") })
		}, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			r, err := DecodeResults(tc.doc())
			if tc.wantErr {
				if !errors.Is(err, ErrInvalidResults) || r != nil {
					t.Errorf("DecodeResults() = %v, %v; want nil, ErrInvalidResults", r, err)
				}
				return
			}
			if err != nil {
				t.Fatalf("DecodeResults() error = %v", err)
			}
			if r.Type != ResultsTypeStored || len(r.Data.Objects) != 2 {
				t.Errorf("DecodeResults() = %+v, want the stored batch example", r)
			}
		})
	}
}

// mutateResults returns doc changed by mutate.
func mutateResults(t testing.TB, doc []byte, mutate func(ev map[string]any)) []byte {
	t.Helper()
	var ev map[string]any
	if err := json.Unmarshal(doc, &ev); err != nil {
		t.Fatal(err)
	}
	mutate(ev)
	b, err := json.Marshal(ev)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestResults_MarshalJSON_writesUTC(t *testing.T) {
	t.Parallel()
	tc := resultsExampleCases[0]
	r, err := tc.build(t)
	if err != nil {
		t.Fatal(err)
	}
	want, err := os.ReadFile(filepath.Join("testdata", "results-examples", tc.name+".json"))
	if err != nil {
		t.Fatal(err)
	}
	tokyo := time.FixedZone("JST", 9*3600)
	local := func(ts *time.Time) *time.Time {
		l := ts.In(tokyo)
		return &l
	}
	r.Time = r.Time.In(tokyo)
	tm := &r.Data.Timings
	tm.EventReceivedAt = tm.EventReceivedAt.In(tokyo)
	tm.StartedAt = tm.StartedAt.In(tokyo)
	tm.JobCompletedAt = local(tm.JobCompletedAt)
	tm.StoredAt = local(tm.StoredAt)
	got, err := json.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(asJSONValue(t, want), asJSONValue(t, got)); diff != "" {
		t.Errorf("times in another location changed the JSON (-want +got):\n%s", diff)
	}
	if tm.StoredAt.Location() != tokyo {
		t.Error("MarshalJSON() modified the event")
	}
}
