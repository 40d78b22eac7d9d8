package event

import (
	"encoding/json"
	"time"
)

// PayloadVersion is the envelope version of every documented example.
const PayloadVersion = "v1"

// Payload is a webhook body as Gemini sends it, the "thin payload" envelope
// that [Parse] reads:
//
//	{"type":"batch.succeeded","version":"v1","timestamp":"2026-01-22T12:00:00Z",
//	 "data":{"id":"batches/abc","output_file_uri":"files/xyz"}}
//
// It is for sending deliveries (the simulator, the operator tool's send).
// The zero Payload with only a Type set is a valid body.
type Payload struct {
	// Type is the event type, e.g. TypeBatchSucceeded.
	Type string
	// Version is the envelope version; empty is sent as PayloadVersion.
	Version string
	// Timestamp is when the event happened, sent as RFC 3339 in UTC with
	// whole seconds, like the guide's example. It stays the same across
	// delivery attempts (the webhook-timestamp header does not).
	Timestamp time.Time
	// Data is the event's payload item.
	Data PayloadData
}

// PayloadData is the "data" object of a Payload. Empty fields are omitted.
type PayloadData struct {
	// ID names the job: a resource name ("batches/abc") or a bare id.
	ID string `json:"id"`
	// OutputFileURI points at the results: for batches the responses file,
	// for videos the download URI. Undocumented: its form; the guide's
	// example shows a gs:// URI, the Batch API names files "files/abc",
	// which is what is sent here.
	OutputFileURI string `json:"output_file_uri,omitempty"`
	// FileName is the Files API name of a generated video ("files/abc").
	FileName string `json:"file_name,omitempty"`
	// VideoURI is what the cookbook's Cloud Run sample reads for
	// video.generated instead of output_file_uri; the guide never shows it.
	VideoURI string `json:"video_uri,omitempty"`
	// ErrorCode is set on failures. Undocumented: its JSON type; a number
	// (the google.rpc.Code) or a string both parse.
	ErrorCode any `json:"error_code,omitempty"`
	// ErrorMessage is set on failures.
	ErrorMessage string `json:"error_message,omitempty"`
	// UserMetadata is the user_metadata of the job's webhook config.
	// Undocumented: where Gemini puts it; it is sent under data, and Parse
	// reads it there and at the top level.
	UserMetadata map[string]any `json:"user_metadata,omitempty"`
}

// MarshalJSON encodes the envelope.
func (p Payload) MarshalJSON() ([]byte, error) {
	v := p.Version
	if v == "" {
		v = PayloadVersion
	}
	return json.Marshal(struct {
		Type      string      `json:"type"`
		Version   string      `json:"version"`
		Timestamp string      `json:"timestamp"`
		Data      PayloadData `json:"data"`
	}{p.Type, v, p.Timestamp.UTC().Format(time.RFC3339), p.Data})
}

// Kind returns the family of job that p is about; KindUnknown for types
// outside the catalog.
func (p Payload) Kind() Kind {
	k, _ := classify(p.Type)
	return k
}
