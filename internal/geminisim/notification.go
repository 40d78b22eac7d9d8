package geminisim

import (
	"encoding/json"
	"time"
)

// Event types, as listed in the Gemini webhooks guide. The API reference's
// subscribable-event enum lacks the two cancelled ones; the guide's table
// and the Python SDK have them.
const (
	EventBatchSucceeded            = "batch.succeeded"
	EventBatchFailed               = "batch.failed"
	EventBatchCancelled            = "batch.cancelled"
	EventBatchExpired              = "batch.expired"
	EventInteractionCompleted      = "interaction.completed"
	EventInteractionFailed         = "interaction.failed"
	EventInteractionCancelled      = "interaction.cancelled"
	EventInteractionRequiresAction = "interaction.requires_action"
	EventVideoGenerated            = "video.generated"
)

// notificationVersion is the envelope version of every documented example.
const notificationVersion = "v1"

// Notification is the "thin payload" envelope Gemini delivers to webhooks:
//
//	{"type":"batch.succeeded","version":"v1","timestamp":"2026-01-22T12:00:00Z",
//	 "data":{"id":"batches/abc","output_file_uri":"files/xyz"}}
//
// The Server returns one from each state change that Gemini reports; tests
// can also build or alter one by hand to send variants (a cookbook-style
// video_uri, a top-level field, an unknown type).
type Notification struct {
	// Type is the event type, e.g. EventBatchSucceeded.
	Type string
	// Version is the envelope version; "v1" in every source.
	Version string
	// Timestamp is when the event happened, sent as RFC 3339 in UTC with
	// whole seconds, like the guide's example. It stays the same across
	// delivery attempts (the webhook-timestamp header does not).
	Timestamp time.Time
	// Data is the event's payload item.
	Data NotificationData
}

// NotificationData is the "data" object of a notification. Empty fields are
// omitted.
type NotificationData struct {
	// ID names the job: a resource name ("batches/abc") or a bare id,
	// depending on Options.BareEventIDs.
	ID string `json:"id"`
	// OutputFileURI points at the results: for batches the responses file
	// ("files/abc"; the guide's example shows a gs:// URI instead), for
	// videos the download URI.
	OutputFileURI string `json:"output_file_uri,omitempty"`
	// FileName is the Files API name of a generated video ("files/abc").
	FileName string `json:"file_name,omitempty"`
	// VideoURI is what the cookbook's Cloud Run sample reads for
	// video.generated instead of output_file_uri. The simulator never sets
	// it; tests set it to exercise lenient parsing.
	VideoURI string `json:"video_uri,omitempty"`
	// ErrorCode is set on failures. Its JSON type is undocumented: the
	// simulator sends a number (the google.rpc.Code) for batches and a
	// string for interactions.
	ErrorCode any `json:"error_code,omitempty"`
	// ErrorMessage is set on failures.
	ErrorMessage string `json:"error_message,omitempty"`
	// UserMetadata is the user_metadata of the job's webhook_config. No
	// source shows where Gemini puts it; the simulator sends it under data.
	UserMetadata map[string]any `json:"user_metadata,omitempty"`
}

// wireNotification is the JSON form of a Notification.
type wireNotification struct {
	Type      string           `json:"type"`
	Version   string           `json:"version"`
	Timestamp string           `json:"timestamp"`
	Data      NotificationData `json:"data"`
}

func (n Notification) wire() wireNotification {
	v := n.Version
	if v == "" {
		v = notificationVersion
	}
	return wireNotification{
		Type: n.Type, Version: v,
		Timestamp: n.Timestamp.UTC().Format(time.RFC3339),
		Data:      n.Data,
	}
}

// MarshalJSON encodes the envelope. An empty Version is sent as "v1".
func (n Notification) MarshalJSON() ([]byte, error) {
	return json.Marshal(n.wire())
}

// claims returns the envelope as JWT claims (type, version, timestamp, data)
// for per-request webhooks, whose JWT carries the event.
func (n Notification) claims() (map[string]any, error) {
	b, err := json.Marshal(n.wire())
	if err != nil {
		return nil, err
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, err
	}
	return m, nil
}
