package event

import (
	"encoding/json"
	"slices"
	"testing"
	"time"
)

// TestPayload_roundTrip: what a Payload encodes, Parse reads back.
func TestPayload_roundTrip(t *testing.T) {
	t.Parallel()
	ts := time.Date(2026, 1, 22, 13, 0, 0, 0, time.FixedZone("CET", 3600))
	tests := []struct {
		name          string
		payload       Payload
		wantJSON      string
		wantErrorCode string
		wantKind      Kind
	}{
		{
			name:     "batch_succeeded",
			payload:  Payload{Type: TypeBatchSucceeded, Timestamp: ts, Data: PayloadData{ID: "batches/abc", OutputFileURI: "files/xyz"}},
			wantJSON: `{"type":"batch.succeeded","version":"v1","timestamp":"2026-01-22T12:00:00Z","data":{"id":"batches/abc","output_file_uri":"files/xyz"}}`,
			wantKind: KindBatch,
		},
		{
			name:          "batch_failed_numeric_code",
			payload:       Payload{Type: TypeBatchFailed, Version: "v1", Timestamp: ts, Data: PayloadData{ID: "batches/abc", ErrorCode: 13, ErrorMessage: "boom"}},
			wantJSON:      `{"type":"batch.failed","version":"v1","timestamp":"2026-01-22T12:00:00Z","data":{"id":"batches/abc","error_code":13,"error_message":"boom"}}`,
			wantErrorCode: "13",
			wantKind:      KindBatch,
		},
		{
			name:          "interaction_failed_string_code_and_metadata",
			payload:       Payload{Type: TypeInteractionFailed, Timestamp: ts, Data: PayloadData{ID: "abc", ErrorCode: "RESOURCE_EXHAUSTED", UserMetadata: map[string]any{"tenant": "acme"}}},
			wantJSON:      `{"type":"interaction.failed","version":"v1","timestamp":"2026-01-22T12:00:00Z","data":{"id":"abc","error_code":"RESOURCE_EXHAUSTED","user_metadata":{"tenant":"acme"}}}`,
			wantErrorCode: "RESOURCE_EXHAUSTED",
			wantKind:      KindInteraction,
		},
		{
			name:     "video_generated_with_cookbook_uri",
			payload:  Payload{Type: TypeVideoGenerated, Version: "v2", Timestamp: ts, Data: PayloadData{ID: "models/m/operations/o", FileName: "files/f", VideoURI: "https://v"}},
			wantJSON: `{"type":"video.generated","version":"v2","timestamp":"2026-01-22T12:00:00Z","data":{"id":"models/m/operations/o","file_name":"files/f","video_uri":"https://v"}}`,
			wantKind: KindVideo,
		},
		{
			name:     "unknown_type",
			payload:  Payload{Type: "batch.exploded", Timestamp: ts, Data: PayloadData{ID: "x"}},
			wantJSON: `{"type":"batch.exploded","version":"v1","timestamp":"2026-01-22T12:00:00Z","data":{"id":"x"}}`,
			wantKind: KindUnknown,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			body, err := json.Marshal(tc.payload)
			if err != nil {
				t.Fatal(err)
			}
			if string(body) != tc.wantJSON {
				t.Errorf("JSON = %s\nwant   %s", body, tc.wantJSON)
			}
			if got := tc.payload.Kind(); got != tc.wantKind {
				t.Errorf("Kind() = %q, want %q", got, tc.wantKind)
			}
			n, err := Parse(body)
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			p, d := tc.payload, tc.payload.Data
			if n.Type != p.Type || !n.Timestamp.Equal(p.Timestamp) || n.ID != d.ID || n.OutputFileURI != d.OutputFileURI ||
				n.FileName != d.FileName || n.VideoURI != d.VideoURI || n.ErrorCode != tc.wantErrorCode ||
				n.ErrorMessage != d.ErrorMessage || len(n.UserMetadata) != len(d.UserMetadata) {
				t.Errorf("Parse = %+v, want the fields of %+v", n, p)
			}
		})
	}
}

func TestSubscribableTypes(t *testing.T) {
	t.Parallel()
	got := SubscribableTypes()
	want := []string{
		TypeBatchSucceeded, TypeBatchFailed, TypeBatchCancelled, TypeBatchExpired,
		TypeInteractionCompleted, TypeInteractionFailed, TypeInteractionCancelled, TypeInteractionRequiresAction,
		TypeVideoGenerated,
	}
	if !slices.Equal(got, want) {
		t.Errorf("SubscribableTypes() = %q, want %q", got, want)
	}
	// The cookbook's batch.completed is recognized but not subscribable.
	if slices.Contains(got, TypeBatchCompleted) {
		t.Errorf("SubscribableTypes() has %s", TypeBatchCompleted)
	}
	if k, s := classify(TypeBatchCompleted); k != KindBatch || s != StateCompleted {
		t.Errorf("classify(%s) = %q, %q", TypeBatchCompleted, k, s)
	}
	got[0] = "mutated"
	if SubscribableTypes()[0] != TypeBatchSucceeded {
		t.Error("SubscribableTypes() shares its slice with the catalog")
	}
}
