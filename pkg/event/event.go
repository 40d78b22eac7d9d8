package event

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"time"
)

// Constant parts of every published event.
const (
	// SpecVersion is the CloudEvents version the events follow.
	SpecVersion = "1.0"
	// Source is the CloudEvents source: the Gemini API's webhook service,
	// written as a scheme-relative URI reference in the style of Google's own
	// CloudEvents sources.
	Source = "//" + apiHost + "/webhooks"
	// TypePrefix starts every CloudEvents type; the Gemini event type
	// follows it, for example "dev.geminihooks.gemini.batch.succeeded".
	TypePrefix = "dev.geminihooks.gemini."
	// DataContentType is the media type of the event data.
	DataContentType = "application/json"
	// SchemaURI identifies the schema of the event (see [Schema]). It is an
	// identifier: it is stable and need not be fetchable.
	SchemaURI = "https://geminihooks.dev/schemas/completion-event/v1.json"
	// SchemaVersion is data.schema_version. It changes only on a breaking
	// change; fields may be added within a version.
	SchemaVersion = "1"
)

// Delivery schemes, for [Meta].Scheme.
const (
	// SchemeHMAC is a static webhook signed with the shared whsec_ secret.
	SchemeHMAC = "hmac"
	// SchemeJWT is a per-request webhook signed with an RS256 JWT.
	SchemeJWT = "jwt"
	// SchemeAPI marks an event that no delivery carried: the reconciler
	// read the finished job from the Gemini API because its webhook never
	// came (Delivery.Reconciled is then true).
	SchemeAPI = "api"
)

// ErrInvalidMeta is returned by [Normalize] when the delivery metadata is
// incomplete; it is a programming error in the caller, not a bad payload.
var ErrInvalidMeta = errors.New("event: invalid delivery metadata")

// ErrInvalidEvent is returned by [Decode] for a document that is not a
// completion event of a supported schema version.
var ErrInvalidEvent = errors.New("event: invalid completion event")

// Event is the completion event published to Pub/Sub: a CloudEvents 1.0
// event in structured-mode JSON. Its JSON form is described by [Schema].
type Event struct {
	// SpecVersion is always [SpecVersion].
	SpecVersion string `json:"specversion"`
	// ID identifies the event for de-duplication. For a terminal event (the
	// end of a job, see [IsTerminal]) it is the job's [JobRef.EventID], the
	// same whichever webhook-id or reconciliation pass carried it; for other
	// events it is the delivery's webhook-id, which Gemini keeps across
	// retries, or a [DerivedID] when the delivery had none.
	ID string `json:"id"`
	// Type is [TypePrefix] plus the Gemini event type, reduced to
	// [a-z0-9_-] segments; "dev.geminihooks.gemini.unknown" when nothing
	// usable remains.
	Type string `json:"type"`
	// Source is always [Source].
	Source string `json:"source"`
	// Subject is the job's resource name; empty when the event names none.
	Subject string `json:"subject,omitempty"`
	// Time is the envelope timestamp, or the receive time when Gemini sent
	// none. It is written in UTC.
	Time time.Time `json:"time"`
	// DataContentType is always [DataContentType].
	DataContentType string `json:"datacontenttype"`
	// DataSchema is always [SchemaURI].
	DataSchema string `json:"dataschema"`
	// Data is the normalized payload.
	Data Data `json:"data"`
}

// Data is the payload of an [Event].
type Data struct {
	// SchemaVersion is always [SchemaVersion].
	SchemaVersion string `json:"schema_version"`
	// Kind is the family of job.
	Kind Kind `json:"kind"`
	// GeminiEventType is the Gemini event type as sent.
	GeminiEventType string `json:"gemini_event_type"`
	// Resource is the normalized resource name: "batches/<id>",
	// "interactions/<id>", a video operation name ("operations/<id>" or
	// "models/<model>/operations/<id>"), or for unknown kinds the id as sent
	// (an API URL becomes the name it spells).
	Resource string `json:"resource,omitempty"`
	// ResourceID is the last segment of Resource.
	ResourceID string `json:"resource_id,omitempty"`
	// State is the outcome the event reports.
	State State `json:"state"`
	// Error holds data.error_code and data.error_message when present.
	Error *JobError `json:"error,omitempty"`
	// Files holds the result pointers that Gemini sent, when present.
	Files *Files `json:"files,omitempty"`
	// UserMetadata is the job's user_metadata, when present.
	UserMetadata map[string]any `json:"user_metadata,omitempty"`
	// GeminiVersion is the envelope version as sent.
	GeminiVersion string `json:"gemini_version,omitempty"`
	// GeminiTimestamp is the envelope timestamp, when sent.
	GeminiTimestamp *time.Time `json:"gemini_timestamp,omitempty"`
	// Delivery describes how geminihooks received the webhook.
	Delivery Delivery `json:"delivery"`
	// Raw is Gemini's data object, compacted, without the keys that Data
	// carries in its own fields (output_file_uri, file_name, video_uri,
	// error_code, error_message, user_metadata), so that fields this schema
	// does not model are not lost and no value is published twice. data.id
	// stays. Present whenever Gemini sent a data object.
	Raw json.RawMessage `json:"raw,omitempty"`
}

// JobError is the failure Gemini reported for a job.
type JobError struct {
	// Code is data.error_code, a number kept as its literal text.
	Code string `json:"code,omitempty"`
	// Message is data.error_message.
	Message string `json:"message,omitempty"`
}

// Files are the result pointers of a finished job. Gemini's documentation
// shows gs:// URIs while Gemini Developer API results live in the Files API,
// so consumers should fetch the job rather than rely on them.
type Files struct {
	// OutputFileURI is data.output_file_uri.
	OutputFileURI string `json:"output_file_uri,omitempty"`
	// FileName is data.file_name (video.generated).
	FileName string `json:"file_name,omitempty"`
	// VideoURI is data.video_uri, the cookbook's name for the video's URI.
	VideoURI string `json:"video_uri,omitempty"`
}

// Delivery describes how geminihooks received the webhook.
type Delivery struct {
	// Scheme is [SchemeHMAC] or [SchemeJWT], or [SchemeAPI] for a
	// reconciled event.
	Scheme string `json:"scheme"`
	// ReceivedAt is when the receiver accepted the request (or the
	// reconciler found the job finished), in UTC.
	ReceivedAt time.Time `json:"received_at"`
	// WebhookID is the webhook-id of the delivery that carried the event;
	// empty when it had none and for reconciled events.
	WebhookID string `json:"webhook_id,omitempty"`
	// Reconciled is true when no webhook carried the event: the reconciler
	// found the job finished in the Gemini API without one.
	Reconciled bool `json:"reconciled,omitempty"`
}

// Meta is what the receiver knows about a delivery beyond its payload.
type Meta struct {
	// WebhookID is the webhook-id header; may be empty. It is the event id
	// of a non-terminal event ([DerivedID] when empty).
	WebhookID string
	// Scheme is the verified signature scheme: [SchemeHMAC] or [SchemeJWT];
	// [SchemeAPI] for a reconciled event.
	Scheme string
	// ReceivedAt is when the request arrived.
	ReceivedAt time.Time
}

// Normalize turns a notification into the event to publish. It returns
// [ErrPing] for a ping, an *[Error] when n is malformed (it repeats the checks
// of [Parse] for notifications built by hand), and an error wrapping
// [ErrInvalidMeta] when m is incomplete.
func Normalize(n *Notification, m Meta) (*Event, error) {
	if n == nil {
		return nil, fmt.Errorf("event: failed to normalize: nil notification")
	}
	if n.IsPing() {
		return nil, ErrPing
	}
	if err := n.validate(); err != nil {
		return nil, err
	}
	if !validScheme(m.Scheme) {
		return nil, fmt.Errorf("%w: unknown scheme %q", ErrInvalidMeta, m.Scheme)
	}
	if m.ReceivedAt.IsZero() {
		return nil, fmt.Errorf("%w: no receive time", ErrInvalidMeta)
	}
	if m.WebhookID != "" && !isVisibleASCII(m.WebhookID, maxWebhookIDLen) {
		return nil, newError(CodeInvalidWebhookID, "the webhook-id is not 1 to %d visible ASCII characters", maxWebhookIDLen)
	}
	id := m.WebhookID
	if job, ok := n.Job(); ok && IsTerminal(n.Type) {
		id = job.EventID()
	} else if id == "" {
		if m.Scheme == SchemeAPI {
			return nil, fmt.Errorf("%w: a reconciled event must name a finished job", ErrInvalidMeta)
		}
		id = DerivedID(n)
	}

	kind, state := classify(n.Type)
	resource := n.Resource()
	receivedAt := m.ReceivedAt.UTC()
	d := Data{
		SchemaVersion:   SchemaVersion,
		Kind:            kind,
		GeminiEventType: n.Type,
		Resource:        resource,
		ResourceID:      resource[strings.LastIndex(resource, "/")+1:],
		State:           state,
		UserMetadata:    maps.Clone(n.UserMetadata),
		GeminiVersion:   n.Version,
		Delivery:        Delivery{Scheme: m.Scheme, ReceivedAt: receivedAt, WebhookID: m.WebhookID, Reconciled: m.Scheme == SchemeAPI},
	}
	if n.ErrorCode != "" || n.ErrorMessage != "" {
		d.Error = &JobError{Code: n.ErrorCode, Message: n.ErrorMessage}
	}
	if n.OutputFileURI != "" || n.FileName != "" || n.VideoURI != "" {
		d.Files = &Files{OutputFileURI: n.OutputFileURI, FileName: n.FileName, VideoURI: n.VideoURI}
	}
	eventTime := receivedAt
	if !n.Timestamp.IsZero() {
		ts := n.Timestamp.UTC()
		d.GeminiTimestamp = &ts
		eventTime = ts
	}
	if len(n.Data) > 0 {
		raw, err := unmodelled(n.Data, n.dataFields())
		if err != nil {
			return nil, newError(CodeInvalidField, `"data" is not a JSON object`)
		}
		d.Raw = raw
	}
	return &Event{
		SpecVersion:     SpecVersion,
		ID:              id,
		Type:            ceType(n.Type),
		Source:          Source,
		Subject:         resource,
		Time:            eventTime,
		DataContentType: DataContentType,
		DataSchema:      SchemaURI,
		Data:            d,
	}, nil
}

// modelledKeys are the keys of Gemini's data object that an event carries in
// its own fields (files, error, user_metadata). Raw leaves them out, so that
// no value is published twice and the event stays within a small multiple
// of the body's size. data.id stays in Raw: resource is its normalized form,
// not a copy.
var modelledKeys = []string{"output_file_uri", "file_name", "video_uri", "error_code", "error_message", "user_metadata"}

// unmodelled returns the data object without [modelledKeys], compacted,
// keys sorted, and without HTML escaping: what json.Marshal of its
// members would give with HTML escaping off, written without reflection.
// fields, when not nil, are data's members, already decoded.
func unmodelled(data json.RawMessage, fields map[string]json.RawMessage) (json.RawMessage, error) {
	if fields == nil {
		if err := json.Unmarshal(data, &fields); err != nil {
			return nil, err
		}
		if fields == nil {
			return nil, errors.New("data is null")
		}
	}
	keys := make([]string, 0, len(fields))
	for k := range fields {
		if !slices.Contains(modelledKeys, k) {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	buf := bytes.NewBuffer(make([]byte, 0, len(data)))
	buf.WriteByte('{')
	for i, k := range keys {
		if i > 0 {
			buf.WriteByte(',')
		}
		if isPlain(k) {
			buf.WriteByte('"')
			buf.WriteString(k)
			buf.WriteByte('"')
		} else {
			key, err := marshalUnescaped(k)
			if err != nil {
				return nil, err
			}
			buf.Write(key)
		}
		buf.WriteByte(':')
		if err := json.Compact(buf, fields[k]); err != nil {
			return nil, err
		}
	}
	buf.WriteByte('}')
	return buf.Bytes(), nil
}

// marshalUnescaped is json.Marshal without HTML escaping, which would write
// each <, > and & as six bytes: events are not embedded in HTML.
func marshalUnescaped(v any) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), nil
}

func validScheme(s string) bool {
	return s == SchemeHMAC || s == SchemeJWT || s == SchemeAPI
}

// maxWebhookIDLen bounds the event id, which is also a Pub/Sub attribute
// value and a natural database key.
const maxWebhookIDLen = 256

// DerivedID returns a deterministic event id for a delivery without a
// webhook-id, which per-request JWT webhooks may lack. A Gemini job reaches a
// given final state once, so the event type and the normalized resource name
// identify the event, and every retry of the delivery gets the same id: the
// receiver's deduplication keeps working. Bare and prefixed ids of the same
// job ("batch_1", "batches/batch_1") give the same id. When the event names no
// resource (unknown types), the data object and timestamp are hashed too, so
// that distinct events of the same type are not collapsed into one.
func DerivedID(n *Notification) string {
	h := sha256.New()
	resource := n.Resource()
	h.Write([]byte(n.Type))
	h.Write([]byte{0})
	h.Write([]byte(resource))
	if resource == "" {
		var data bytes.Buffer
		if err := json.Compact(&data, n.Data); err != nil {
			data.Reset()
			data.Write(n.Data)
		}
		h.Write([]byte{0})
		h.Write(data.Bytes())
		h.Write([]byte{0})
		if !n.Timestamp.IsZero() {
			h.Write([]byte(n.Timestamp.UTC().Format(time.RFC3339Nano)))
		}
	}
	return "derived-" + hex.EncodeToString(h.Sum(nil))
}

// ceType returns the CloudEvents type for a Gemini event type: each
// dot-separated segment is lower-cased, characters outside [a-z0-9_-] become
// "_", and empty segments are dropped.
func ceType(geminiType string) string {
	var parts []string
	for _, seg := range strings.Split(strings.ToLower(geminiType), ".") {
		clean := strings.Map(func(r rune) rune {
			if 'a' <= r && r <= 'z' || '0' <= r && r <= '9' || r == '_' || r == '-' {
				return r
			}
			return '_'
		}, seg)
		if clean = strings.Trim(clean, "_-"); clean != "" {
			parts = append(parts, clean)
		}
	}
	if len(parts) == 0 {
		return TypePrefix + "unknown"
	}
	return TypePrefix + strings.Join(parts, ".")
}

// MarshalJSON writes e in CloudEvents structured mode with every time in UTC,
// so the JSON form does not depend on the location of the times in e, and
// without HTML escaping. Publish its result as is: json.Marshal(e) would
// compact it again and escape <, > and & after all.
func (e Event) MarshalJSON() ([]byte, error) {
	type plain Event // plain has no methods, which stops the recursion.
	p := plain(e)
	p.Time = p.Time.UTC()
	p.Data.Delivery.ReceivedAt = p.Data.Delivery.ReceivedAt.UTC()
	if p.Data.GeminiTimestamp != nil {
		ts := p.Data.GeminiTimestamp.UTC()
		p.Data.GeminiTimestamp = &ts
	}
	return marshalUnescaped(p)
}

// Decode reads a published event, for consumers of the topic. It accepts
// fields it does not know, as they may be added within a schema version, and
// rejects documents of another schema version. Numbers in user_metadata are
// json.Number.
func Decode(data []byte) (*Event, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var e Event
	if err := dec.Decode(&e); err != nil {
		return nil, fmt.Errorf("%w: failed to decode JSON: %w", ErrInvalidEvent, err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, fmt.Errorf("%w: data after the event", ErrInvalidEvent)
	}
	switch {
	case e.SpecVersion != SpecVersion:
		return nil, fmt.Errorf("%w: specversion %q is not %q", ErrInvalidEvent, e.SpecVersion, SpecVersion)
	case e.ID == "" || e.Type == "" || e.Source == "":
		return nil, fmt.Errorf("%w: id, type and source are required", ErrInvalidEvent)
	case e.Data.SchemaVersion != SchemaVersion:
		return nil, fmt.Errorf("%w: schema_version %q is not %q", ErrInvalidEvent, e.Data.SchemaVersion, SchemaVersion)
	}
	switch e.Data.Kind {
	case KindBatch, KindInteraction, KindVideo, KindUnknown:
	default:
		return nil, fmt.Errorf("%w: unknown kind %q", ErrInvalidEvent, e.Data.Kind)
	}
	if !validScheme(e.Data.Delivery.Scheme) {
		return nil, fmt.Errorf("%w: unknown delivery scheme %q", ErrInvalidEvent, e.Data.Delivery.Scheme)
	}
	return &e, nil
}

// OrderingKey returns the Pub/Sub ordering key of the event: its resource
// name, so that events about one job are delivered in publish order. It is
// empty when the event names no resource.
func (e *Event) OrderingKey() string {
	return e.Data.Resource
}
