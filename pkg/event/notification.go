package event

import (
	"bytes"
	"encoding/json"
	"maps"
	"net/url"
	"strings"
	"time"
	"unicode/utf8"
)

// Limits applied while parsing. They keep every value that later becomes a
// Pub/Sub attribute, ordering key or storage path well inside Pub/Sub's limits
// (1024-byte attribute values and ordering keys).
const (
	maxEventTypeLen  = 128
	maxResourceIDLen = 256
	maxSegmentLen    = 128
)

// MaxDepth is the deepest nesting of objects and arrays that a webhook body
// may have, the body's own object counting as 1; deeper bodies get
// [CodeNestingTooDeep]. The published event nests at most one level deeper
// than the body, which every common JSON decoder accepts (encoding/json
// stops at 10000 levels, Python's json module near 1000). Gemini builds
// user_metadata from a protobuf Struct, whose parsers commonly stop at 100
// levels, so no real delivery comes near.
const MaxDepth = 512

// Kind is the family of Gemini job that an event is about.
type Kind string

// Kinds of event. KindUnknown covers every event type geminihooks does not
// recognize; such events are still published.
const (
	KindBatch       Kind = "batch"
	KindInteraction Kind = "interaction"
	KindVideo       Kind = "video"
	KindUnknown     Kind = "unknown"
)

// State is the outcome that an event reports for its job.
type State string

// States of a job as reported by its event.
//
// StateCompleted comes from "batch.completed", a name that appears only in
// the Gemini cookbook and not in the event catalog. It means that the batch
// has finished without saying how: consumers must fetch the batch to learn
// its outcome. For interactions it is the documented success state.
const (
	StateSucceeded      State = "succeeded"
	StateFailed         State = "failed"
	StateCancelled      State = "cancelled"
	StateExpired        State = "expired"
	StateCompleted      State = "completed"
	StateRequiresAction State = "requires_action"
	StateGenerated      State = "generated"
	StateUnknown        State = "unknown"
)

// Gemini event types: the nine of the webhooks guide's catalog, and the
// cookbook's batch.completed.
//
// Undocumented: whether the two cancelled events fire. The API reference's
// and the Go SDK's enum of subscribable events lacks them, while the guide's
// table, the Python SDK and newer JS SDK docs list them; all nine are
// accepted, and any other type is published as kind "unknown".
const (
	TypeBatchSucceeded            = "batch.succeeded"
	TypeBatchFailed               = "batch.failed"
	TypeBatchCancelled            = "batch.cancelled"
	TypeBatchExpired              = "batch.expired"
	TypeInteractionCompleted      = "interaction.completed"
	TypeInteractionFailed         = "interaction.failed"
	TypeInteractionCancelled      = "interaction.cancelled"
	TypeInteractionRequiresAction = "interaction.requires_action"
	TypeVideoGenerated            = "video.generated"
	// TypeBatchCompleted appears only in the cookbook (see StateCompleted);
	// no webhook can subscribe to it.
	TypeBatchCompleted = "batch.completed"
)

// catalog is every event type geminihooks recognizes, in the guide's order.
// Matching is exact: Gemini documents lower-case names only.
var catalog = []struct {
	typ          string
	kind         Kind
	state        State
	subscribable bool
	// terminal types report the end of a job, which happens once per job;
	// requires_action can recur.
	terminal bool
}{
	{TypeBatchSucceeded, KindBatch, StateSucceeded, true, true},
	{TypeBatchFailed, KindBatch, StateFailed, true, true},
	{TypeBatchCancelled, KindBatch, StateCancelled, true, true},
	{TypeBatchExpired, KindBatch, StateExpired, true, true},
	{TypeInteractionCompleted, KindInteraction, StateCompleted, true, true},
	{TypeInteractionFailed, KindInteraction, StateFailed, true, true},
	{TypeInteractionCancelled, KindInteraction, StateCancelled, true, true},
	{TypeInteractionRequiresAction, KindInteraction, StateRequiresAction, true, false},
	{TypeVideoGenerated, KindVideo, StateGenerated, true, true},
	{TypeBatchCompleted, KindBatch, StateCompleted, false, true},
}

// SubscribableTypes returns the event types a webhook can subscribe to, in
// the guide's order.
func SubscribableTypes() []string {
	var types []string
	for _, c := range catalog {
		if c.subscribable {
			types = append(types, c.typ)
		}
	}
	return types
}

// classify maps a Gemini event type to its kind and state.
func classify(eventType string) (Kind, State) {
	for _, c := range catalog {
		if c.typ == eventType {
			return c.kind, c.state
		}
	}
	return KindUnknown, StateUnknown
}

// IsTerminal reports whether eventType is in the catalog and reports the end
// of a job (every type but interaction.requires_action): a job reaches a
// terminal state once, so one such event per job is published.
func IsTerminal(eventType string) bool {
	for _, c := range catalog {
		if c.typ == eventType {
			return c.terminal
		}
	}
	return false
}

// TypeFor returns the event type that reports kind ending in state, and
// false when the catalog has none (the reconciler names the events of jobs
// whose webhook never came with it). Only subscribable types are returned.
func TypeFor(kind Kind, state State) (string, bool) {
	for _, c := range catalog {
		if c.kind == kind && c.state == state && c.subscribable {
			return c.typ, true
		}
	}
	return "", false
}

// isPingType reports whether eventType names a ping. Undocumented: the type
// Gemini uses for the deliveries of POST /v1beta/webhooks/{id}:ping, so the
// common spellings of a test delivery are all accepted (and an empty body or
// "{}"); any other unknown type is published as kind "unknown", never
// dropped.
func isPingType(eventType string) bool {
	switch eventType {
	case "ping", "webhook.ping", "webhooks.ping", "webhook.test", "test":
		return true
	default:
		return false
	}
}

// Notification is one Gemini webhook payload as sent, before normalization.
//
// Gemini's documented envelope is
//
//	{"type":"batch.succeeded","version":"v1","timestamp":"2026-01-22T12:00:00Z",
//	 "data":{"id":"batch_123456","output_file_uri":"gs://my-bucket/results.jsonl"}}
//
// The zero Notification is a ping.
type Notification struct {
	// Type is the Gemini event type, for example "batch.succeeded".
	Type string
	// Version is the envelope version ("v1" in the documentation).
	Version string
	// Timestamp is the envelope timestamp; zero when absent.
	Timestamp time.Time
	// ID is data.id as sent: bare ("batch_123", "123"), prefixed
	// ("batches/123", "models/veo-3.0-generate-001/operations/abc") or a
	// URL of the Gemini API.
	ID string
	// OutputFileURI is data.output_file_uri.
	OutputFileURI string
	// FileName is data.file_name.
	FileName string
	// VideoURI is data.video_uri, which the cookbook's Cloud Run sample reads
	// instead of output_file_uri for video.generated.
	VideoURI string
	// ErrorCode is data.error_code; a JSON number is kept as its literal text.
	ErrorCode string
	// ErrorMessage is data.error_message.
	ErrorMessage string
	// UserMetadata is the user_metadata given when the job was created.
	// Undocumented: where Gemini puts it (the SDK says only that it is
	// "returned on each event emission"), so it is read both at the top
	// level and under data; keys under data win. Numbers are json.Number.
	UserMetadata map[string]any
	// Data is the raw data object as sent, kept so that fields geminihooks
	// does not model are not lost. Nil when the envelope has no data.
	Data json.RawMessage

	// fields are Data's members as Parse decoded them, for Normalize,
	// which uses them only while Data is still what they came from.
	fields     map[string]json.RawMessage
	parsedData json.RawMessage
}

// dataFields returns n.fields if they are still those of n.Data, else nil.
func (n *Notification) dataFields() map[string]json.RawMessage {
	if n.fields == nil || len(n.Data) == 0 || len(n.Data) != len(n.parsedData) || &n.Data[0] != &n.parsedData[0] {
		return nil
	}
	return n.fields
}

// IsPing reports whether n is a ping: an empty body, "{}", or one of the
// ping types ("ping", "webhook.ping", "webhooks.ping", "webhook.test",
// "test"). Pings are acknowledged and not published.
func (n *Notification) IsPing() bool {
	return n.Type == "" || isPingType(n.Type)
}

// Kind returns the family of job that n is about; KindUnknown for types
// outside Gemini's catalog and for pings.
func (n *Notification) Kind() Kind {
	k, _ := classify(n.Type)
	return k
}

// State returns the job outcome that n reports.
func (n *Notification) State() State {
	_, s := classify(n.Type)
	return s
}

// Resource returns the normalized resource name of the job: "batches/<id>",
// "interactions/<id>", the video operation name, or for unknown types the id
// as sent. It returns "" when n carries no usable id.
func (n *Notification) Resource() string {
	name, err := resourceName(n.Kind(), n.ID)
	if err != nil {
		return ""
	}
	return name
}

// Parse reads a Gemini webhook body. An empty body and "{}" are pings. Every
// documented variant is accepted (see [Notification]); an unknown event type
// is not an error. A malformed body yields an *[Error].
func Parse(body []byte) (*Notification, error) {
	if len(bytes.TrimSpace(body)) == 0 {
		return &Notification{}, nil
	}
	// RFC 8259 requires UTF-8, and encoding/json would turn each invalid
	// byte into a three-byte U+FFFD, growing the event.
	if !utf8.Valid(body) {
		return nil, newError(CodeInvalidJSON, "the body is not valid UTF-8")
	}
	if nestedDeeper(body, MaxDepth) {
		return nil, newError(CodeNestingTooDeep, "the body nests objects and arrays more than %d levels deep", MaxDepth)
	}
	var top map[string]json.RawMessage
	if err := json.Unmarshal(body, &top); err != nil {
		return nil, newError(CodeInvalidJSON, "the body is not a valid JSON object")
	}
	if top == nil {
		return nil, newError(CodeInvalidJSON, "the body is not a JSON object")
	}
	if len(top) == 0 {
		return &Notification{}, nil
	}

	n := &Notification{}
	var err error
	if n.Type, err = stringField(top, "type", CodeInvalidEventType); err != nil {
		return nil, err
	}
	if n.Type == "" {
		return nil, newError(CodeMissingEventType, `the body has no "type"`)
	}
	if n.Version, err = stringField(top, "version", CodeInvalidField); err != nil {
		return nil, err
	}
	if raw, ok := top["timestamp"]; ok && !isNull(raw) {
		if n.Timestamp, err = parseTimestamp(raw); err != nil {
			return nil, err
		}
	}
	topMeta, err := objectField(top, "user_metadata", "user_metadata")
	if err != nil {
		return nil, err
	}

	var data map[string]json.RawMessage
	if raw, ok := top["data"]; ok && !isNull(raw) {
		if err := json.Unmarshal(raw, &data); err != nil || data == nil {
			return nil, newError(CodeInvalidField, `"data" is not a JSON object`)
		}
		n.Data, n.fields, n.parsedData = raw, data, raw
	}
	if err := parseData(n, data); err != nil {
		return nil, err
	}
	dataMeta, err := objectField(data, "user_metadata", "data.user_metadata")
	if err != nil {
		return nil, err
	}
	n.UserMetadata = mergeMetadata(topMeta, dataMeta)

	if err := n.validate(); err != nil {
		return nil, err
	}
	return n, nil
}

// parseTimestamp reads the envelope timestamp, which must be an RFC 3339
// string; RFC3339Nano parses it with or without fractional seconds.
func parseTimestamp(raw json.RawMessage) (time.Time, error) {
	s, ok := plainString(raw)
	if !ok {
		if err := json.Unmarshal(raw, &s); err != nil {
			return time.Time{}, newError(CodeInvalidTimestamp, `"timestamp" is not a string`)
		}
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return time.Time{}, newError(CodeInvalidTimestamp, `"timestamp" %s is not an RFC 3339 date-time`, quote(s))
	}
	// An offset can move a valid year 0000 or 9999 out of the range that
	// RFC 3339 (and time.Time's JSON encoding) allows in UTC.
	if y := t.UTC().Year(); y < 1 || y > 9999 {
		return time.Time{}, newError(CodeInvalidTimestamp, `"timestamp" %s is out of range`, quote(s))
	}
	return t, nil
}

// parseData copies the documented fields of the data object into n, whose
// Type is already set.
func parseData(n *Notification, data map[string]json.RawMessage) error {
	id, err := idField(data)
	if err != nil && n.Kind() != KindUnknown {
		return err
	}
	// For unknown types and pings a non-string id is left uninterpreted, as
	// in validate; it stays in Data.
	n.ID = id
	fields := []struct {
		key string
		dst *string
	}{
		{"output_file_uri", &n.OutputFileURI},
		// video_uri is what the cookbook's Cloud Run sample reads for
		// video.generated; the guide documents output_file_uri.
		{"video_uri", &n.VideoURI},
		{"file_name", &n.FileName},
		{"error_message", &n.ErrorMessage},
	}
	for _, f := range fields {
		v, err := stringField(data, f.key, CodeInvalidField)
		if err != nil {
			return err
		}
		*f.dst = v
	}
	code, err := errorCodeField(data)
	if err != nil {
		return err
	}
	n.ErrorCode = code
	return nil
}

// validate checks what Parse guarantees, so that hand-built and claim-built
// notifications get the same checks before they are normalized.
func (n *Notification) validate() error {
	if n.Type == "" {
		return newError(CodeMissingEventType, "the notification has no event type")
	}
	if !isVisibleASCII(n.Type, maxEventTypeLen) {
		return newError(CodeInvalidEventType, "the event type %s is not 1 to %d visible ASCII characters", quote(n.Type), maxEventTypeLen)
	}
	if len(n.Data) > 0 && !isJSONObject(n.Data) {
		return newError(CodeInvalidField, `"data" is not a JSON object`)
	}
	// data and user_metadata sit one level below the body's object (at
	// least), so they may nest MaxDepth-1 levels.
	if nestedDeeper(n.Data, MaxDepth-1) || valueDeeper(n.UserMetadata, MaxDepth-1) {
		return newError(CodeNestingTooDeep, "data or user_metadata nests objects and arrays more than %d levels deep", MaxDepth-1)
	}
	kind := n.Kind()
	if kind == KindUnknown {
		// The meaning of data.id is unknown for these types, so a malformed
		// id is not interpreted (Resource returns "") rather than rejected:
		// the event is still published with its data intact.
		return nil
	}
	if n.ID == "" {
		return newError(CodeMissingResourceID, "%s events need data.id", n.Type)
	}
	if _, err := resourceName(kind, n.ID); err != nil {
		return err
	}
	return nil
}

// apiHost is the host of gemini.DefaultBaseURL, whose URLs are accepted as
// ids, and apiVersions the version prefixes of its URLs (gemini.APIVersion
// first). Undocumented: which version such an id would use; the API
// reference says v1beta, the webhooks guide's samples v1, so both are
// accepted. Tests keep them equal to pkg/gemini's,
// which this package does not import: the receiver does not link the client.
const apiHost = "generativelanguage.googleapis.com"

var apiVersions = []string{"v1beta", "v1"}

// resourceName returns the normalized resource name for id.
//
// Undocumented: the form of data.id. Gemini's guide shows a bare id
// ("batch_123456") while its APIs use prefixed names ("batches/123456"), and
// no source shows a real delivery, so every form is accepted: a bare id (the prefix is added), a resource name, or the
// resource's URL on the Gemini API ("https://generativelanguage.googleapis.com/v1beta/batches/123456").
// Video ids are operation names, "models/<model>/operations/<id>"; a bare
// id or "operations/<id>" becomes "operations/<id>", which names no model
// and so no documented path (undocumented too: whether Gemini ever sends
// one): the materializer then uses the event's video URIs.
func resourceName(kind Kind, id string) (string, error) {
	if id == "" {
		return "", nil
	}
	name, err := trimAPIURL(id)
	if err != nil {
		return "", err
	}
	if len(name) > maxResourceIDLen {
		return "", newError(CodeInvalidResourceID, "data.id is longer than %d bytes", maxResourceIDLen)
	}
	segments := strings.Split(name, "/")
	for _, s := range segments {
		if !isSegment(s) {
			return "", newError(CodeInvalidResourceID,
				"data.id %s has a segment that is not 1 to %d characters of [A-Za-z0-9_.-] starting with a letter or digit", quote(id), maxSegmentLen)
		}
	}
	switch kind {
	case KindBatch:
		return prefixed("batches", id, name, segments)
	case KindInteraction:
		return prefixed("interactions", id, name, segments)
	case KindVideo:
		switch {
		case len(segments) == 4 && segments[0] == "models" && segments[2] == "operations":
			return name, nil
		case len(segments) == 1 && name == id, len(segments) == 2 && segments[0] == "operations":
			return "operations/" + segments[len(segments)-1], nil
		}
		return "", newError(CodeInvalidResourceID, "data.id %s is neither <id>, operations/<id> nor models/<model>/operations/<id>", quote(id))
	default:
		return name, nil
	}
}

// trimAPIURL returns the resource name that id spells as a URL of the Gemini
// API, and any other id unchanged. A URL must be https on the API's host,
// with a version prefix, a resource name of at least two segments, and no
// query, fragment, credentials or escapes.
func trimAPIURL(id string) (string, error) {
	if !strings.Contains(id, "://") {
		return id, nil
	}
	u, err := url.Parse(id)
	if err == nil && u.Scheme == "https" && u.User == nil && u.RawQuery == "" && u.Fragment == "" &&
		u.RawPath == "" && !u.ForceQuery && (u.Host == apiHost || u.Host == apiHost+":443") {
		for _, v := range apiVersions {
			if name, ok := strings.CutPrefix(u.Path, "/"+v+"/"); ok && strings.Contains(name, "/") {
				return name, nil
			}
		}
	}
	return "", newError(CodeInvalidResourceID, "data.id %s is a URL but not of a resource on https://%s/%s/", quote(id), apiHost, apiVersions[0])
}

// prefixed accepts "<id>" or "<collection>/<id>"; name is id without its
// URL, which must spell the collection.
func prefixed(collection, id, name string, segments []string) (string, error) {
	switch {
	case len(segments) == 1 && name == id:
		return collection + "/" + name, nil
	case len(segments) == 2 && segments[0] == collection:
		return name, nil
	default:
		return "", newError(CodeInvalidResourceID, "data.id %s is neither <id> nor %s/<id>", quote(id), collection)
	}
}

// isSegment reports whether s matches ^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$ and
// contains no "..", so that a resource name is safe in URLs and object paths.
func isSegment(s string) bool {
	if len(s) == 0 || len(s) > maxSegmentLen || strings.Contains(s, "..") {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		alnum := 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9'
		if !alnum && (i == 0 || c != '_' && c != '.' && c != '-') {
			return false
		}
	}
	return true
}

// isVisibleASCII reports whether s is 1 to limit bytes of printable ASCII
// other than space.
func isVisibleASCII(s string, limit int) bool {
	if len(s) == 0 || len(s) > limit {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < 0x21 || s[i] > 0x7e {
			return false
		}
	}
	return true
}

// nestedDeeper reports whether the JSON text b nests objects and arrays
// more than limit levels deep. It does not validate b, and it is a linear
// scan, so a deep body is refused before a decoder recurses into it.
func nestedDeeper(b []byte, limit int) bool {
	depth, inString, escaped := 0, false, false
	for _, c := range b {
		switch {
		case inString:
			switch {
			case escaped:
				escaped = false
			case c == '\\':
				escaped = true
			case c == '"':
				inString = false
			}
		case c == '"':
			inString = true
		case c == '{' || c == '[':
			if depth++; depth > limit {
				return true
			}
		case c == '}' || c == ']':
			depth--
		}
	}
	return false
}

// valueDeeper is nestedDeeper for a decoded value, such as a hand-built
// user_metadata; a nil map counts as no nesting.
func valueDeeper(v any, limit int) bool {
	switch v := v.(type) {
	case map[string]any:
		if v == nil {
			return false
		}
		if limit < 1 {
			return true
		}
		for _, e := range v {
			if valueDeeper(e, limit-1) {
				return true
			}
		}
	case []any:
		if limit < 1 {
			return true
		}
		for _, e := range v {
			if valueDeeper(e, limit-1) {
				return true
			}
		}
	}
	return false
}

func isNull(raw json.RawMessage) bool {
	return bytes.Equal(bytes.TrimSpace(raw), []byte("null"))
}

func isJSONObject(raw json.RawMessage) bool {
	t := bytes.TrimSpace(raw)
	return len(t) > 0 && t[0] == '{' && json.Valid(t)
}

// stringField returns obj[key] as a string; absent and null are "". Any other
// JSON type is an error with the given code.
func stringField(obj map[string]json.RawMessage, key, code string) (string, error) {
	raw, ok := obj[key]
	if !ok || isNull(raw) {
		return "", nil
	}
	if s, ok := plainString(raw); ok {
		return s, nil
	}
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		return "", newError(code, "%q is not a string", key)
	}
	return s, nil
}

// plainString returns the value of raw, a JSON value already known to be
// well-formed, when it is a string with no escapes and valid UTF-8: what
// json.Unmarshal would, without its reflection and second scan. Other
// strings report false.
func plainString(raw json.RawMessage) (string, bool) {
	if len(raw) < 2 || raw[0] != '"' || raw[len(raw)-1] != '"' {
		return "", false
	}
	if s := string(raw[1 : len(raw)-1]); isPlain(s) {
		return s, true
	}
	return "", false
}

// isPlain reports whether s is valid UTF-8 that a JSON string holds as is:
// no quote, backslash or control character.
func isPlain(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c == '\\' || c == '"' || c < 0x20 {
			return false
		}
	}
	return utf8.ValidString(s)
}

// idField returns data.id. Ids are strings in every example; an integer JSON
// number is accepted too and kept as its digits, since numeric batch ids
// ("123") are plausible.
func idField(data map[string]json.RawMessage) (string, error) {
	raw, ok := data["id"]
	if !ok || isNull(raw) {
		return "", nil
	}
	if t := bytes.TrimSpace(raw); isDigits(t) {
		return string(t), nil
	}
	if s, ok := plainString(raw); ok {
		return s, nil
	}
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		return "", newError(CodeInvalidResourceID, "data.id is neither a string nor an integer")
	}
	return s, nil
}

func isDigits(b []byte) bool {
	if len(b) == 0 {
		return false
	}
	for _, c := range b {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

// errorCodeField returns data.error_code. Undocumented: its JSON type (gRPC
// codes are numbers, the Interactions API's errors use strings), so both a
// string and a number are accepted; a number is kept as its literal text.
func errorCodeField(data map[string]json.RawMessage) (string, error) {
	raw, ok := data["error_code"]
	if !ok || isNull(raw) {
		return "", nil
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return "", newError(CodeInvalidField, "data.error_code is not valid JSON")
	}
	switch v := v.(type) {
	case string:
		return v, nil
	case json.Number:
		return v.String(), nil
	default:
		return "", newError(CodeInvalidField, "data.error_code is neither a string nor a number")
	}
}

// objectField returns obj[key] as a map with json.Number numbers, so that
// values are republished exactly; absent and null are nil.
func objectField(obj map[string]json.RawMessage, key, name string) (map[string]any, error) {
	raw, ok := obj[key]
	if !ok || isNull(raw) {
		return nil, nil
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var m map[string]any
	if err := dec.Decode(&m); err != nil || m == nil {
		return nil, newError(CodeInvalidField, "%s is not a JSON object", name)
	}
	return m, nil
}

// mergeMetadata merges user_metadata found at the top level with the one
// found under data; keys under data win.
func mergeMetadata(top, data map[string]any) map[string]any {
	if top == nil && data == nil {
		return nil
	}
	merged := make(map[string]any, len(top)+len(data))
	maps.Copy(merged, top)
	maps.Copy(merged, data)
	return merged
}
