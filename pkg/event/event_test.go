package event

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	cloudevents "github.com/cloudevents/sdk-go/v2/event"
	"github.com/google/go-cmp/cmp"
)

var received = time.Date(2026, 1, 22, 12, 0, 3, 0, time.UTC)

func TestNormalize(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		body string
		meta Meta
		want *Event
	}{
		{
			name: "no_timestamp_uses_received_time",
			body: `{"type":"batch.succeeded","data":{"id":"123"}}`,
			meta: Meta{WebhookID: "msg_1", Scheme: SchemeHMAC, ReceivedAt: received.In(time.FixedZone("X", 3600))},
			want: &Event{
				SpecVersion: "1.0", ID: JobRef{Kind: KindBatch, ID: "123"}.EventID(), Type: "dev.geminihooks.gemini.batch.succeeded",
				Source: "//generativelanguage.googleapis.com/webhooks", Subject: "batches/123", Time: received,
				DataContentType: "application/json", DataSchema: "https://geminihooks.dev/schemas/completion-event/v1.json",
				Data: Data{
					SchemaVersion: "1", Kind: KindBatch, GeminiEventType: "batch.succeeded",
					Resource: "batches/123", ResourceID: "123", State: StateSucceeded,
					Delivery: Delivery{Scheme: SchemeHMAC, ReceivedAt: received, WebhookID: "msg_1"},
					Raw:      json.RawMessage(`{"id":"123"}`),
				},
			},
		},
		{
			name: "video_uri_and_error_and_metadata",
			body: `{"type":"video.generated","version":"v1","timestamp":"2026-01-22T11:59:59Z","user_metadata":{"a":1},
				"data":{ "id" : "op1", "video_uri":"https://x/v.mp4", "error_message":"partial" }}`,
			meta: Meta{WebhookID: "msg_2", Scheme: SchemeJWT, ReceivedAt: received},
			want: &Event{
				SpecVersion: "1.0", ID: JobRef{Kind: KindVideo, ID: "op1"}.EventID(), Type: "dev.geminihooks.gemini.video.generated",
				Source: Source, Subject: "operations/op1", Time: time.Date(2026, 1, 22, 11, 59, 59, 0, time.UTC),
				DataContentType: DataContentType, DataSchema: SchemaURI,
				Data: Data{
					SchemaVersion: "1", Kind: KindVideo, GeminiEventType: "video.generated",
					Resource: "operations/op1", ResourceID: "op1", State: StateGenerated,
					Error:           &JobError{Message: "partial"},
					Files:           &Files{VideoURI: "https://x/v.mp4"},
					UserMetadata:    map[string]any{"a": json.Number("1")},
					GeminiVersion:   "v1",
					GeminiTimestamp: new(time.Date(2026, 1, 22, 11, 59, 59, 0, time.UTC)),
					Delivery:        Delivery{Scheme: SchemeJWT, ReceivedAt: received, WebhookID: "msg_2"},
					Raw:             json.RawMessage(`{"id":"op1"}`),
				},
			},
		},
		{
			name: "raw_keeps_only_fields_the_event_does_not_model",
			body: `{"type":"batch.failed","data":{"zeta":"<b>&</b>","id":"b1","error_code":3,"error_message":"bad <x>",
				"output_file_uri":"gs://b/o","file_name":"files/f","video_uri":"https://v","user_metadata":{"k":"v"},"alpha":[1,{"z":null}]}}`,
			meta: Meta{WebhookID: "msg_4", Scheme: SchemeHMAC, ReceivedAt: received},
			want: &Event{
				SpecVersion: "1.0", ID: JobRef{Kind: KindBatch, ID: "b1"}.EventID(), Type: "dev.geminihooks.gemini.batch.failed",
				Source: Source, Subject: "batches/b1", Time: received, DataContentType: DataContentType, DataSchema: SchemaURI,
				Data: Data{
					SchemaVersion: "1", Kind: KindBatch, GeminiEventType: "batch.failed",
					Resource: "batches/b1", ResourceID: "b1", State: StateFailed,
					Error:        &JobError{Code: "3", Message: "bad <x>"},
					Files:        &Files{OutputFileURI: "gs://b/o", FileName: "files/f", VideoURI: "https://v"},
					UserMetadata: map[string]any{"k": "v"},
					Delivery:     Delivery{Scheme: SchemeHMAC, ReceivedAt: received, WebhookID: "msg_4"},
					Raw:          json.RawMessage(`{"alpha":[1,{"z":null}],"id":"b1","zeta":"<b>&</b>"}`),
				},
			},
		},
		{
			name: "empty_data_kept_as_empty_raw",
			body: `{"type":"model.tuned","data":{"user_metadata":{}}}`,
			meta: Meta{WebhookID: "msg_5", Scheme: SchemeHMAC, ReceivedAt: received},
			want: &Event{
				SpecVersion: "1.0", ID: "msg_5", Type: "dev.geminihooks.gemini.model.tuned",
				Source: Source, Time: received, DataContentType: DataContentType, DataSchema: SchemaURI,
				Data: Data{
					SchemaVersion: "1", Kind: KindUnknown, GeminiEventType: "model.tuned", State: StateUnknown,
					UserMetadata: map[string]any{},
					Delivery:     Delivery{Scheme: SchemeHMAC, ReceivedAt: received, WebhookID: "msg_5"},
					Raw:          json.RawMessage(`{}`),
				},
			},
		},
		{
			name: "unknown_odd_type_sanitized_without_resource",
			body: `{"type":"Model..Tuned!v2","data":{"id":"a/../b","x":[1,2]}}`,
			meta: Meta{WebhookID: "msg_3", Scheme: SchemeHMAC, ReceivedAt: received},
			want: &Event{
				SpecVersion: "1.0", ID: "msg_3", Type: "dev.geminihooks.gemini.model.tuned_v2",
				Source: Source, Time: received, DataContentType: DataContentType, DataSchema: SchemaURI,
				Data: Data{
					SchemaVersion: "1", Kind: KindUnknown, GeminiEventType: "Model..Tuned!v2", State: StateUnknown,
					Delivery: Delivery{Scheme: SchemeHMAC, ReceivedAt: received, WebhookID: "msg_3"},
					Raw:      json.RawMessage(`{"id":"a/../b","x":[1,2]}`),
				},
			},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got := normalizeBody(t, tc.body, tc.meta)
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("Normalize() mismatch (-want +got):\n%s", diff)
			}
			if got.OrderingKey() != tc.want.Data.Resource {
				t.Errorf("OrderingKey() = %q, want %q", got.OrderingKey(), tc.want.Data.Resource)
			}
		})
	}
}

func TestNormalize_copiesUserMetadata(t *testing.T) {
	t.Parallel()
	n := &Notification{Type: "batch.succeeded", ID: "b", UserMetadata: map[string]any{"k": "v"}}
	e, err := Normalize(n, Meta{WebhookID: "m", Scheme: SchemeHMAC, ReceivedAt: received})
	if err != nil {
		t.Fatal(err)
	}
	n.UserMetadata["k"] = "changed"
	if e.Data.UserMetadata["k"] != "v" {
		t.Errorf("event user_metadata changed with the notification: %v", e.Data.UserMetadata)
	}
}

func TestNormalize_errors(t *testing.T) {
	t.Parallel()
	good := Meta{WebhookID: "msg_1", Scheme: SchemeHMAC, ReceivedAt: received}
	job := &Notification{Type: "batch.succeeded", ID: "b"}
	tests := []struct {
		name    string
		n       *Notification
		meta    Meta
		wantErr error
	}{
		{"ping", &Notification{Type: "webhook.ping"}, good, ErrPing},
		{"empty_notification_is_ping", &Notification{}, good, ErrPing},
		{"unknown_scheme", job, Meta{WebhookID: "m", Scheme: "basic", ReceivedAt: received}, ErrInvalidMeta},
		{"no_scheme", job, Meta{WebhookID: "m", ReceivedAt: received}, ErrInvalidMeta},
		{"no_received_time", job, Meta{WebhookID: "m", Scheme: SchemeHMAC}, ErrInvalidMeta},
		{"webhook_id_with_space", job, Meta{WebhookID: "msg 1", Scheme: SchemeHMAC, ReceivedAt: received}, &Error{Code: CodeInvalidWebhookID}},
		{"webhook_id_too_long", job, Meta{WebhookID: strings.Repeat("m", 257), Scheme: SchemeHMAC, ReceivedAt: received}, &Error{Code: CodeInvalidWebhookID}},
		{"hand_built_bad_type", &Notification{Type: "batch succeeded", ID: "b"}, good, &Error{Code: CodeInvalidEventType}},
		{"hand_built_missing_id", &Notification{Type: "video.generated"}, good, &Error{Code: CodeMissingResourceID}},
		{"hand_built_bad_id", &Notification{Type: "interaction.completed", ID: "interactions/a/b"}, good, &Error{Code: CodeInvalidResourceID}},
		{"hand_built_data_not_object", &Notification{Type: "model.tuned", Data: json.RawMessage(`[1]`)}, good, &Error{Code: CodeInvalidField}},
		{"hand_built_data_invalid_json", &Notification{Type: "model.tuned", Data: json.RawMessage(`{"a":`)}, good, &Error{Code: CodeInvalidField}},
		{"hand_built_data_too_deep", &Notification{Type: "model.tuned", Data: json.RawMessage(nested(MaxDepth, `1`))}, good, &Error{Code: CodeNestingTooDeep}},
		{"hand_built_metadata_too_deep", &Notification{Type: "batch.succeeded", ID: "b", UserMetadata: nestedValue(MaxDepth)}, good, &Error{Code: CodeNestingTooDeep}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			e, err := Normalize(tc.n, tc.meta)
			if !errors.Is(err, tc.wantErr) {
				t.Errorf("Normalize() = %v, %v, want error %v", e, err, tc.wantErr)
			}
		})
	}
	if _, err := Normalize(nil, good); err == nil {
		t.Error("Normalize(nil) returned no error")
	}
}

func TestCEType(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name       string
		geminiType string
		want       string
	}{
		{"known_type", "batch.succeeded", "dev.geminihooks.gemini.batch.succeeded"},
		{"underscore_kept", "interaction.requires_action", "dev.geminihooks.gemini.interaction.requires_action"},
		{"upper_case_lowered", "Batch.Succeeded", "dev.geminihooks.gemini.batch.succeeded"},
		{"empty_segments_dropped", ".a..b.", "dev.geminihooks.gemini.a.b"},
		{"odd_characters_replaced", "a/b:c", "dev.geminihooks.gemini.a_b_c"},
		{"edge_punctuation_trimmed", "-a!.b-", "dev.geminihooks.gemini.a.b"},
		{"nothing_usable", "!!!", "dev.geminihooks.gemini.unknown"},
		{"only_dots", "...", "dev.geminihooks.gemini.unknown"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			if got := ceType(tc.geminiType); got != tc.want {
				t.Errorf("ceType(%q) = %q, want %q", tc.geminiType, got, tc.want)
			}
		})
	}
}

// TestNormalize_eventID checks what the event id de-duplicates: the job for
// terminal events, whatever delivery carried them; the webhook-id otherwise.
func TestNormalize_eventID(t *testing.T) {
	t.Parallel()
	norm := func(t *testing.T, body string, m Meta) *Event {
		t.Helper()
		m.ReceivedAt = received
		return normalizeBody(t, body, m)
	}
	batch := norm(t, `{"type":"batch.succeeded","data":{"id":"batch_1"}}`, Meta{WebhookID: "msg_a", Scheme: SchemeHMAC})
	if want := (JobRef{Kind: KindBatch, ID: "batch_1"}).EventID(); batch.ID != want {
		t.Fatalf("terminal event id = %q, want %q", batch.ID, want)
	}
	tests := []struct {
		name string
		body string
		meta Meta
		same bool
	}{
		{"other_webhook_id_same_job", `{"type":"batch.succeeded","data":{"id":"batches/batch_1"}}`, Meta{WebhookID: "msg_b", Scheme: SchemeHMAC}, true},
		{"jwt_without_webhook_id", `{"type":"batch.succeeded","data":{"id":"batch_1"}}`, Meta{Scheme: SchemeJWT}, true},
		{"reconciled", `{"type":"batch.succeeded","data":{"id":"batches/batch_1"}}`, Meta{Scheme: SchemeAPI}, true},
		{"cookbook_variant_same_job", `{"type":"batch.completed","data":{"id":"batch_1"}}`, Meta{WebhookID: "msg_c", Scheme: SchemeHMAC}, true},
		{"other_job", `{"type":"batch.succeeded","data":{"id":"batch_2"}}`, Meta{WebhookID: "msg_a", Scheme: SchemeHMAC}, false},
		{"same_id_other_kind", `{"type":"interaction.completed","data":{"id":"batch_1"}}`, Meta{WebhookID: "msg_a", Scheme: SchemeHMAC}, false},
		{"requires_action_keeps_webhook_id", `{"type":"interaction.requires_action","data":{"id":"batch_1"}}`, Meta{WebhookID: "msg_a", Scheme: SchemeHMAC}, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			e := norm(t, tc.body, tc.meta)
			if (e.ID == batch.ID) != tc.same {
				t.Errorf("event id = %q, batch_1's %q, want same = %v", e.ID, batch.ID, tc.same)
			}
			if e.Data.Delivery.WebhookID != tc.meta.WebhookID {
				t.Errorf("delivery.webhook_id = %q, want %q", e.Data.Delivery.WebhookID, tc.meta.WebhookID)
			}
			if reconciled := tc.meta.Scheme == SchemeAPI; e.Data.Delivery.Reconciled != reconciled || (e.Attributes()[AttrReconciled] == "true") != reconciled {
				t.Errorf("reconciled = %v (attribute %q), want %v", e.Data.Delivery.Reconciled, e.Attributes()[AttrReconciled], reconciled)
			}
		})
	}
	t.Run("requires_action_id_is_the_webhook_id", func(t *testing.T) {
		t.Parallel()
		if e := norm(t, `{"type":"interaction.requires_action","data":{"id":"i1"}}`, Meta{WebhookID: "msg_r", Scheme: SchemeHMAC}); e.ID != "msg_r" {
			t.Errorf("event id = %q, want the webhook-id", e.ID)
		}
	})
	t.Run("reconciled_event_must_name_a_job", func(t *testing.T) {
		t.Parallel()
		n, err := Parse([]byte(`{"type":"model.tuned","data":{"x":1}}`))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := Normalize(n, Meta{Scheme: SchemeAPI, ReceivedAt: received}); !errors.Is(err, ErrInvalidMeta) {
			t.Errorf("Normalize(unknown type, reconciled) error = %v, want ErrInvalidMeta", err)
		}
	})
}

func TestDerivedID(t *testing.T) {
	t.Parallel()
	parse := func(body string) *Notification {
		t.Helper()
		n, err := Parse([]byte(body))
		if err != nil {
			t.Fatalf("Parse(%s) error = %v", body, err)
		}
		return n
	}
	base := parse(`{"type":"batch.succeeded","timestamp":"2026-01-22T12:00:00Z","data":{"id":"batch_1"}}`)
	id := DerivedID(base)
	if !strings.HasPrefix(id, "derived-") || len(id) != len("derived-")+64 {
		t.Fatalf("DerivedID() = %q, want derived-<64 hex>", id)
	}
	tests := []struct {
		name string
		n    *Notification
		same bool
	}{
		{"same_delivery_retried", parse(`{"type":"batch.succeeded","timestamp":"2026-01-22T12:00:00Z","data":{"id":"batch_1"}}`), true},
		{"prefixed_id_same_job", parse(`{"type":"batch.succeeded","data":{"id":"batches/batch_1"}}`), true},
		{"other_fields_ignored_with_resource", parse(`{"type":"batch.succeeded","timestamp":"2026-01-23T00:00:00Z","data":{"id":"batch_1","output_file_uri":"gs://x"}}`), true},
		{"other_type", parse(`{"type":"batch.failed","data":{"id":"batch_1"}}`), false},
		{"other_job", parse(`{"type":"batch.succeeded","data":{"id":"batch_2"}}`), false},
		{"same_id_other_kind", parse(`{"type":"interaction.completed","data":{"id":"batch_1"}}`), false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			if got := DerivedID(tc.n); (got == id) != tc.same {
				t.Errorf("DerivedID() = %q, base %q, want same = %v", got, id, tc.same)
			}
		})
	}

	t.Run("no_resource_hashes_data_and_time", func(t *testing.T) {
		t.Parallel()
		a := DerivedID(parse(`{"type":"model.tuned","timestamp":"2026-01-22T12:00:00Z","data":{"x":1}}`))
		if b := DerivedID(parse(`{"type":"model.tuned","timestamp":"2026-01-22T12:00:00Z","data":{ "x" : 1 }}`)); a != b {
			t.Errorf("formatting changed the id: %q != %q", a, b)
		}
		if b := DerivedID(parse(`{"type":"model.tuned","timestamp":"2026-01-22T12:00:00Z","data":{"x":2}}`)); a == b {
			t.Error("different data gave the same id")
		}
		if b := DerivedID(parse(`{"type":"model.tuned","timestamp":"2026-01-22T12:00:01Z","data":{"x":1}}`)); a == b {
			t.Error("different timestamps gave the same id")
		}
	})

	t.Run("normalize_uses_it_for_a_non_terminal_event_without_webhook_id", func(t *testing.T) {
		t.Parallel()
		n := parse(`{"type":"interaction.requires_action","data":{"id":"i1"}}`)
		e, err := Normalize(n, Meta{Scheme: SchemeJWT, ReceivedAt: received})
		if err != nil {
			t.Fatal(err)
		}
		if want := DerivedID(n); e.ID != want {
			t.Errorf("event id = %q, want %q", e.ID, want)
		}
	})
}

func TestEvent_MarshalJSON_utc(t *testing.T) {
	t.Parallel()
	zone := time.FixedZone("UTC+5:30", 5*3600+1800)
	ts := time.Date(2026, 1, 22, 17, 30, 0, 123000000, zone)
	e := &Event{
		SpecVersion: SpecVersion, ID: "m", Type: TypePrefix + "batch.succeeded", Source: Source, Subject: "batches/b", Time: ts,
		DataContentType: DataContentType, DataSchema: SchemaURI,
		Data: Data{
			SchemaVersion: SchemaVersion, Kind: KindBatch, GeminiEventType: "batch.succeeded", Resource: "batches/b", ResourceID: "b",
			State: StateSucceeded, GeminiTimestamp: &ts, Delivery: Delivery{Scheme: SchemeHMAC, ReceivedAt: ts},
		},
	}
	b, err := json.Marshal(e)
	if err != nil {
		t.Fatal(err)
	}
	var got struct {
		Time string `json:"time"`
		Data struct {
			GeminiTimestamp string `json:"gemini_timestamp"`
			Delivery        struct {
				ReceivedAt string `json:"received_at"`
			} `json:"delivery"`
		} `json:"data"`
	}
	if err := json.Unmarshal(b, &got); err != nil {
		t.Fatal(err)
	}
	const want = "2026-01-22T12:00:00.123Z"
	for name, v := range map[string]string{"time": got.Time, "gemini_timestamp": got.Data.GeminiTimestamp, "received_at": got.Data.Delivery.ReceivedAt} {
		if v != want {
			t.Errorf("%s = %q, want %q", name, v, want)
		}
	}
	if e.Data.GeminiTimestamp.Location() != zone {
		t.Error("MarshalJSON modified the event")
	}
	// A value marshals the same as a pointer.
	bv, err := json.Marshal(*e)
	if err != nil {
		t.Fatal(err)
	}
	if string(bv) != string(b) {
		t.Errorf("json.Marshal(value) = %s, want %s", bv, b)
	}
}

func TestDecode_roundTrip(t *testing.T) {
	t.Parallel()
	for _, tc := range exampleCases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			want := normalizeBody(t, tc.body, tc.meta)
			b, err := json.Marshal(want)
			if err != nil {
				t.Fatal(err)
			}
			got, err := Decode(b)
			if err != nil {
				t.Fatalf("Decode() error = %v", err)
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("Decode(Marshal(e)) mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

func TestDecode_errors(t *testing.T) {
	t.Parallel()
	base, err := os.ReadFile(filepath.Join("testdata", "examples", "batch.failed.json"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Decode(base); err != nil {
		t.Fatalf("Decode(example) error = %v", err)
	}
	tests := []struct {
		name   string
		mutate func(ev map[string]any)
		raw    string
	}{
		{name: "not_json", raw: `{"specversion":`},
		{name: "trailing_data", raw: string(base) + `{}`},
		{name: "array", raw: `[]`},
		{name: "other_specversion", mutate: func(ev map[string]any) { ev["specversion"] = "0.3" }},
		{name: "missing_id", mutate: func(ev map[string]any) { delete(ev, "id") }},
		{name: "missing_type", mutate: func(ev map[string]any) { delete(ev, "type") }},
		{name: "missing_source", mutate: func(ev map[string]any) { delete(ev, "source") }},
		{name: "other_schema_version", mutate: func(ev map[string]any) { data(ev)["schema_version"] = "2" }},
		{name: "unknown_kind", mutate: func(ev map[string]any) { data(ev)["kind"] = "file" }},
		{name: "unknown_scheme", mutate: func(ev map[string]any) { data(ev)["delivery"].(map[string]any)["scheme"] = "none" }},
		{name: "bad_time", mutate: func(ev map[string]any) { ev["time"] = "noon" }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			in := []byte(tc.raw)
			if tc.mutate != nil {
				var ev map[string]any
				if err := json.Unmarshal(base, &ev); err != nil {
					t.Fatal(err)
				}
				tc.mutate(ev)
				b, err := json.Marshal(ev)
				if err != nil {
					t.Fatal(err)
				}
				in = b
			}
			if e, err := Decode(in); !errors.Is(err, ErrInvalidEvent) {
				t.Errorf("Decode() = %+v, %v, want ErrInvalidEvent", e, err)
			}
		})
	}
}

func TestDecode_acceptsAddedFields(t *testing.T) {
	t.Parallel()
	b, err := os.ReadFile(filepath.Join("testdata", "examples", "video.generated.json"))
	if err != nil {
		t.Fatal(err)
	}
	var ev map[string]any
	if err := json.Unmarshal(b, &ev); err != nil {
		t.Fatal(err)
	}
	data(ev)["future_field"] = "x"
	ev["traceparent"] = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
	b, err = json.Marshal(ev)
	if err != nil {
		t.Fatal(err)
	}
	e, err := Decode(b)
	if err != nil {
		t.Fatalf("Decode() error = %v", err)
	}
	if e.Data.Resource != "models/veo-3.0-generate-001/operations/a1b2c3d4e5f6" {
		t.Errorf("Decode() resource = %q", e.Data.Resource)
	}
}

// TestEvent_cloudEventsConformance checks the JSON form with the CloudEvents
// SDK, so that any CloudEvents consumer can read the published events.
func TestEvent_cloudEventsConformance(t *testing.T) {
	t.Parallel()
	for _, tc := range exampleCases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			e := normalizeBody(t, tc.body, tc.meta)
			b, err := json.Marshal(e)
			if err != nil {
				t.Fatal(err)
			}
			var ce cloudevents.Event
			if err := json.Unmarshal(b, &ce); err != nil {
				t.Fatalf("CloudEvents SDK cannot read the event: %v", err)
			}
			if err := ce.Validate(); err != nil {
				t.Fatalf("CloudEvents SDK rejects the event: %v", err)
			}
			got := map[string]string{
				"id": ce.ID(), "type": ce.Type(), "source": ce.Source(), "subject": ce.Subject(),
				"dataschema": ce.DataSchema(), "datacontenttype": ce.DataContentType(),
				"time": ce.Time().UTC().Format(time.RFC3339Nano),
			}
			want := map[string]string{
				"id": e.ID, "type": e.Type, "source": Source, "subject": e.Subject,
				"dataschema": SchemaURI, "datacontenttype": DataContentType,
				"time": e.Time.UTC().Format(time.RFC3339Nano),
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("CloudEvents attributes mismatch (-want +got):\n%s", diff)
			}
			var d Data
			if err := ce.DataAs(&d); err != nil {
				t.Fatalf("DataAs() error = %v", err)
			}
			if d.Kind != e.Data.Kind || d.Resource != e.Data.Resource {
				t.Errorf("CloudEvents data = %+v, want kind %q resource %q", d, e.Data.Kind, e.Data.Resource)
			}
		})
	}
}

func TestUnmodelled_asJSONMarshalWouldWriteIt(t *testing.T) {
	t.Parallel()
	tests := []struct{ name, data string }{
		{name: "id_only", data: `{"id":"batches/b1"}`},
		{name: "modelled_dropped", data: `{"output_file_uri":"files/x","id":"b","error_code":3,"user_metadata":{"a":1}}`},
		{name: "sorted_and_compacted", data: `{ "zeta" : [1, 2, {"b": true, "a": null}], "alpha" : "x" }`},
		{name: "html_kept", data: `{"note":"<b>&amp;</b>","<k>":"v"}`},
		{name: "escaped_keys", data: `{"a\"b":1,"tab\tkey":2,"\u00e9":3,"é2":4}`},
		{name: "empty", data: `{}`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var obj map[string]json.RawMessage
			if err := json.Unmarshal([]byte(tc.data), &obj); err != nil {
				t.Fatal(err)
			}
			for _, k := range modelledKeys {
				delete(obj, k)
			}
			want, err := marshalUnescaped(obj)
			if err != nil {
				t.Fatal(err)
			}
			n, err := Parse([]byte(`{"type":"custom.event","data":` + tc.data + `}`))
			if err != nil {
				t.Fatal(err)
			}
			for name, fields := range map[string]map[string]json.RawMessage{"decoded": nil, "from Parse": n.dataFields()} {
				got, err := unmodelled(json.RawMessage(tc.data), fields)
				if err != nil || string(got) != string(want) {
					t.Errorf("unmodelled (%s) = %s, %v; want %s", name, got, err, want)
				}
			}
		})
	}
}

func TestNormalize_dataChangedAfterParse(t *testing.T) {
	t.Parallel()
	n, err := Parse([]byte(`{"type":"batch.succeeded","data":{"id":"batches/b1","note":"parsed"}}`))
	if err != nil {
		t.Fatal(err)
	}
	// A caller may replace Data: the members Parse decoded no longer apply.
	n.Data = json.RawMessage(`{"id":"batches/b1","note":"replaced"}`)
	ev, err := Normalize(n, Meta{WebhookID: "msg_1", Scheme: SchemeHMAC, ReceivedAt: time.Now()})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := string(ev.Data.Raw), `{"id":"batches/b1","note":"replaced"}`; got != want {
		t.Errorf("raw = %s, want %s", got, want)
	}
}
