package event

import (
	"bytes"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"regexp"
	"slices"
	"strings"
	"time"
	"unicode/utf8"
)

// Constant parts of every results event.
const (
	// ResultsSource is the CloudEvents source of results events: the
	// geminihooks materializer, which stores a finished job's artifacts.
	ResultsSource = "//geminihooks/materializer"
	// ResultsEventStored and ResultsEventFailed are the values of the
	// event_type attribute; the CloudEvents type is "dev.geminihooks." plus
	// one of them.
	ResultsEventStored = "results.stored"
	ResultsEventFailed = "results.failed"
	// ResultsTypeStored is the CloudEvents type of an event announcing that
	// a job's artifacts are stored.
	ResultsTypeStored = "dev.geminihooks." + ResultsEventStored
	// ResultsTypeFailed is the CloudEvents type of an event announcing that
	// a job's artifacts could not be stored.
	ResultsTypeFailed = "dev.geminihooks." + ResultsEventFailed
	// ResultsIDPrefix starts the id of a results event; the id of the
	// completion event that caused it follows.
	ResultsIDPrefix = "results-"
	// ResultsSchemaURI identifies the schema of the results event (see
	// [ResultsSchema]). It is an identifier: it is stable and need not be
	// fetchable.
	ResultsSchemaURI = "https://geminihooks.dev/schemas/results-event/v1.json"
	// ResultsSchemaVersion is data.schema_version of a results event. It
	// changes only on a breaking change; fields may be added within a
	// version.
	ResultsSchemaVersion = "1"
	// ManifestName is the name, relative to a job's prefix, of the manifest
	// object that describes what was stored for the job.
	ManifestName = "manifest.json"
)

// AttrSourceEventID is the attribute that carries data.source_event_id of a
// results event.
const AttrSourceEventID = "source_event_id"

// ErrInvalidResults is returned by [NewResultsStored] and
// [NewResultsFailed] for inputs that would make an invalid event, and by
// [DecodeResults] for a document that is not a results event of a supported
// schema version.
var ErrInvalidResults = errors.New("event: invalid results event")

// Results is the event that the materializer publishes after handling a
// completion [Event]: a CloudEvents 1.0 event in structured-mode JSON, of
// type [ResultsTypeStored] or [ResultsTypeFailed]. Its JSON form is
// described by [ResultsSchema].
type Results struct {
	// SpecVersion is always [SpecVersion].
	SpecVersion string `json:"specversion"`
	// ID is [ResultsIDPrefix] plus the id of the completion event. It is
	// deterministic, so subscribers can drop the duplicates that a retried
	// materialization publishes.
	ID string `json:"id"`
	// Type is [ResultsTypeStored] or [ResultsTypeFailed].
	Type string `json:"type"`
	// Source is always [ResultsSource].
	Source string `json:"source"`
	// Subject is the job's resource name, as in data.resource.
	Subject string `json:"subject"`
	// Time is when the artifacts were stored, or when materialization
	// failed. It is written in UTC.
	Time time.Time `json:"time"`
	// DataContentType is always [DataContentType].
	DataContentType string `json:"datacontenttype"`
	// DataSchema is always [ResultsSchemaURI].
	DataSchema string `json:"dataschema"`
	// Data describes the stored artifacts.
	Data ResultsData `json:"data"`
}

// ResultsData is the payload of a [Results] event.
type ResultsData struct {
	// SchemaVersion is always [ResultsSchemaVersion].
	SchemaVersion string `json:"schema_version"`
	// Kind is the family of job: batch, interaction or video.
	Kind Kind `json:"kind"`
	// Resource is the job's resource name, as in the completion event.
	Resource string `json:"resource"`
	// State is the job's final state as the Gemini API reported it,
	// lower-case and without prefix: "succeeded" for JOB_STATE_SUCCEEDED,
	// "completed" for a completed interaction, "generated" for a finished
	// video operation. A job that failed is stored too: its state says so.
	State State `json:"state"`
	// SourceEventID is the id of the completion event.
	SourceEventID string `json:"source_event_id"`
	// Bucket is the Cloud Storage bucket of the artifacts. It may be empty
	// on a failed event, when nothing was written.
	Bucket string `json:"bucket,omitempty"`
	// Prefix is the gs:// URI of the job's folder, ending in
	// "<kind>/<resource id>/".
	Prefix string `json:"prefix,omitempty"`
	// Manifest is the gs:// URI of the job's manifest, <Prefix>manifest.json.
	// Always set on a stored event; set on a failed event when a manifest was
	// written.
	Manifest string `json:"manifest,omitempty"`
	// Objects lists every object written for the job, the manifest
	// included, sorted by name. It is empty, never null, when nothing was
	// written.
	Objects []StoredObject `json:"objects"`
	// Counts are the batch's request counts; only for batches.
	Counts *RequestCounts `json:"counts,omitempty"`
	// Bytes is the total size of Objects.
	Bytes int64 `json:"bytes"`
	// Error is why materialization failed; only on failed events. The job's
	// own error, if any, is in the manifest and the completion event.
	Error *Failure `json:"error,omitempty"`
	// Timings trace the job from completion to storage.
	Timings Timings `json:"timings"`
}

// StoredObject is a Cloud Storage object written for a job, with the
// checksums a consumer needs to verify what it reads.
type StoredObject struct {
	// Name is the object name, which starts with the job's prefix.
	Name string `json:"name"`
	// URI is gs://<bucket>/<name>. The constructors fill it in.
	URI string `json:"uri"`
	// Size is the object size in bytes.
	Size int64 `json:"size"`
	// CRC32C is the object's CRC32C (Castagnoli) checksum in base64 of its
	// big-endian bytes, as Cloud Storage shows it; see [EncodeCRC32C].
	CRC32C string `json:"crc32c"`
	// MD5 is the object's MD5 hash in base64, as Cloud Storage shows it.
	// Empty for composite objects, which Cloud Storage does not hash.
	MD5 string `json:"md5,omitempty"`
	// SHA256 is the SHA-256 of the object's content in lower-case hex, when
	// the store computed one. Empty for Cloud Storage, which keeps no
	// SHA-256: verify with CRC32C (or MD5) there.
	SHA256 string `json:"sha256,omitempty"`
	// ContentType is the object's Content-Type.
	ContentType string `json:"content_type"`
}

// RequestCounts are the request counts of a batch, from its batch_stats.
type RequestCounts struct {
	// Requests is the number of requests in the batch.
	Requests int64 `json:"requests"`
	// Succeeded is the number of requests that succeeded.
	Succeeded int64 `json:"succeeded"`
	// Failed is the number of requests that failed.
	Failed int64 `json:"failed"`
}

// Failure says why the materializer gave up on a job.
type Failure struct {
	// Code is a stable, machine-readable reason, for example
	// "results_not_found".
	Code string `json:"code"`
	// Message explains the failure to a person. It is published, so it
	// must not contain secrets such as an API key in a request URL.
	Message string `json:"message"`
	// Permanent is true when retrying cannot help, for example when the
	// results have expired; false when the materializer gave up after
	// retrying a transient failure.
	Permanent bool `json:"permanent"`
}

// Timings trace a job from its completion to the storage of its artifacts.
// All times are in UTC.
type Timings struct {
	// JobCompletedAt is when the job finished, as the Gemini API reported
	// it; nil when the API did not say.
	JobCompletedAt *time.Time `json:"job_completed_at,omitempty"`
	// EventReceivedAt is when the receiver accepted the webhook
	// (data.delivery.received_at of the completion event).
	EventReceivedAt time.Time `json:"event_received_at"`
	// StartedAt is when the materializer started on the job.
	StartedAt time.Time `json:"started_at"`
	// StoredAt is when the last artifact was stored; only on stored events.
	StoredAt *time.Time `json:"stored_at,omitempty"`
	// DurationMS is the materialization time in milliseconds: from
	// StartedAt to the event's time.
	DurationMS int64 `json:"duration_ms"`
}

// ResultsSpec is what the materializer knows about a job it has handled,
// beyond the completion event.
type ResultsSpec struct {
	// State is the job's final state as the Gemini API reported it,
	// lower-case and without its JOB_STATE_ or BATCH_STATE_ prefix, e.g.
	// "succeeded", "completed", "generated" or "failed". Required; it must
	// match [a-z][a-z0-9_]*.
	State State
	// Bucket is the bucket the objects were written to. Required for a
	// stored event, and whenever ObjectPrefix or Objects are set.
	Bucket string
	// ObjectPrefix is the object-name prefix of the job's folder: an
	// optional base path followed by "<kind>/<resource id>/", e.g.
	// "gemini/batch/abc123/".
	ObjectPrefix string
	// Objects are the objects written for the job. Their URI may be left
	// empty; it is derived from Bucket and Name. A stored event needs the
	// manifest, <ObjectPrefix>manifest.json, among them.
	Objects []StoredObject
	// Counts are the request counts of a batch; nil for other kinds.
	Counts *RequestCounts
	// JobCompletedAt is when the job finished per the Gemini API; zero if
	// unknown.
	JobCompletedAt time.Time
	// StartedAt is when the materializer started on the job. Required.
	StartedAt time.Time
	// FinishedAt is when the last object was stored, or when the
	// materializer gave up. It is the event's time. Required.
	FinishedAt time.Time
}

// NewResultsStored returns the event announcing that the artifacts of the
// job named by src are stored. It returns an error wrapping
// [ErrInvalidResults] when src is not a completion event about a job, or
// when spec is incomplete or inconsistent (see [ResultsSpec]).
func NewResultsStored(src *Event, spec ResultsSpec) (*Results, error) {
	r, err := newResults(src, spec, ResultsTypeStored)
	if err != nil {
		return nil, err
	}
	if r.Data.Manifest == "" {
		return nil, fmt.Errorf("%w: a stored event needs the manifest %s%s among its objects", ErrInvalidResults, spec.ObjectPrefix, ManifestName)
	}
	stored := r.Time
	r.Data.Timings.StoredAt = &stored
	return r, nil
}

// NewResultsFailed returns the event announcing that the artifacts of the
// job named by src could not be stored. Bucket, ObjectPrefix and Objects of
// spec are optional: they describe what was written before the failure,
// such as a manifest recording it. It returns an error wrapping
// [ErrInvalidResults] for an invalid src, spec or failure.
func NewResultsFailed(src *Event, spec ResultsSpec, failure Failure) (*Results, error) {
	if failure.Code == "" || failure.Message == "" {
		return nil, fmt.Errorf("%w: the failure needs a code and a message", ErrInvalidResults)
	}
	if !isVisibleASCII(failure.Code, maxFailureCodeLen) {
		return nil, fmt.Errorf("%w: failure code %s is not 1 to %d visible ASCII characters", ErrInvalidResults, quote(failure.Code), maxFailureCodeLen)
	}
	if !utf8.ValidString(failure.Message) {
		return nil, fmt.Errorf("%w: failure message is not valid UTF-8", ErrInvalidResults)
	}
	r, err := newResults(src, spec, ResultsTypeFailed)
	if err != nil {
		return nil, err
	}
	r.Data.Error = &failure
	return r, nil
}

const (
	maxFailureCodeLen = 128
	// maxObjectNameLen is Cloud Storage's limit on object names, in bytes.
	maxObjectNameLen = 1024
)

var (
	// stateRE matches a job state as the results event carries it.
	stateRE = regexp.MustCompile(`^[a-z][a-z0-9_]{0,63}$`)
	// bucketRE matches a Cloud Storage bucket name (names with dots may be
	// up to 222 characters, each dot-separated part up to 63).
	bucketRE = regexp.MustCompile(`^[a-z0-9][a-z0-9._-]{1,220}[a-z0-9]$`)
	// base64RE matches standard, padded base64.
	base64RE = regexp.MustCompile(`^[A-Za-z0-9+/]*={0,2}$`)
)

// newResults builds and checks the parts common to both event types.
func newResults(src *Event, spec ResultsSpec, typ string) (*Results, error) {
	if err := checkSource(src); err != nil {
		return nil, err
	}
	kind, resource := src.Data.Kind, src.Data.Resource
	switch {
	case !stateRE.MatchString(string(spec.State)):
		return nil, fmt.Errorf("%w: state %s is not lower-case [a-z][a-z0-9_]*", ErrInvalidResults, quote(string(spec.State)))
	case spec.StartedAt.IsZero() || spec.FinishedAt.IsZero():
		return nil, fmt.Errorf("%w: StartedAt and FinishedAt are required", ErrInvalidResults)
	case spec.FinishedAt.Before(spec.StartedAt):
		return nil, fmt.Errorf("%w: FinishedAt is before StartedAt", ErrInvalidResults)
	}
	if spec.Counts != nil {
		c := spec.Counts
		switch {
		case kind != KindBatch:
			return nil, fmt.Errorf("%w: counts are only for batches, not %s", ErrInvalidResults, kind)
		case c.Requests < 0 || c.Succeeded < 0 || c.Failed < 0 || c.Succeeded > c.Requests-c.Failed:
			return nil, fmt.Errorf("%w: counts must be non-negative and succeeded + failed at most requests", ErrInvalidResults)
		}
	}

	d := ResultsData{
		SchemaVersion: ResultsSchemaVersion,
		Kind:          kind,
		Resource:      resource,
		State:         spec.State,
		SourceEventID: src.ID,
		Objects:       []StoredObject{},
		Timings: Timings{
			EventReceivedAt: src.Data.Delivery.ReceivedAt.UTC(),
			StartedAt:       spec.StartedAt.UTC(),
			DurationMS:      spec.FinishedAt.Sub(spec.StartedAt).Milliseconds(),
		},
	}
	if spec.Counts != nil {
		counts := *spec.Counts
		d.Counts = &counts
	}
	if !spec.JobCompletedAt.IsZero() {
		completed := spec.JobCompletedAt.UTC()
		d.Timings.JobCompletedAt = &completed
	}
	if spec.Bucket != "" || spec.ObjectPrefix != "" || len(spec.Objects) > 0 || typ == ResultsTypeStored {
		if err := placeObjects(&d, spec); err != nil {
			return nil, err
		}
	}
	return &Results{
		SpecVersion:     SpecVersion,
		ID:              ResultsIDPrefix + src.ID,
		Type:            typ,
		Source:          ResultsSource,
		Subject:         resource,
		Time:            spec.FinishedAt.UTC(),
		DataContentType: DataContentType,
		DataSchema:      ResultsSchemaURI,
		Data:            d,
	}, nil
}

// checkSource checks that src is a completion event about a job that the
// materializer handles.
func checkSource(src *Event) error {
	switch {
	case src == nil:
		return fmt.Errorf("%w: no completion event", ErrInvalidResults)
	case !isVisibleASCII(src.ID, maxWebhookIDLen):
		return fmt.Errorf("%w: the completion event id is not 1 to %d visible ASCII characters", ErrInvalidResults, maxWebhookIDLen)
	case src.Data.Kind != KindBatch && src.Data.Kind != KindInteraction && src.Data.Kind != KindVideo:
		return fmt.Errorf("%w: completion events of kind %s have no results", ErrInvalidResults, quote(string(src.Data.Kind)))
	case src.Data.Delivery.ReceivedAt.IsZero():
		return fmt.Errorf("%w: the completion event has no receive time", ErrInvalidResults)
	}
	if name, err := resourceName(src.Data.Kind, src.Data.Resource); err != nil || name == "" || name != src.Data.Resource {
		return fmt.Errorf("%w: %s is not a normalized %s resource name", ErrInvalidResults, quote(src.Data.Resource), src.Data.Kind)
	}
	return nil
}

// placeObjects checks the bucket, prefix and objects of spec and fills in
// the locations, objects and byte count of d.
func placeObjects(d *ResultsData, spec ResultsSpec) error {
	if !bucketRE.MatchString(spec.Bucket) || strings.Contains(spec.Bucket, "..") {
		return fmt.Errorf("%w: %s is not a Cloud Storage bucket name", ErrInvalidResults, quote(spec.Bucket))
	}
	prefix := spec.ObjectPrefix
	folder := string(d.Kind) + "/" + d.Resource[strings.LastIndex(d.Resource, "/")+1:] + "/"
	base, ok := strings.CutSuffix(prefix, folder)
	if !ok || (base != "" && !strings.HasSuffix(base, "/")) || strings.HasPrefix(prefix, "/") || !validObjectName(prefix) {
		return fmt.Errorf("%w: object prefix %s is not an optional base path followed by %q", ErrInvalidResults, quote(prefix), folder)
	}
	d.Bucket = spec.Bucket
	d.Prefix = gsURI(spec.Bucket, prefix)

	seen := make(map[string]bool, len(spec.Objects))
	for _, o := range spec.Objects {
		if err := checkObject(o, prefix); err != nil {
			return err
		}
		if seen[o.Name] {
			return fmt.Errorf("%w: object %s is listed twice", ErrInvalidResults, quote(o.Name))
		}
		seen[o.Name] = true
		uri := gsURI(spec.Bucket, o.Name)
		if o.URI != "" && o.URI != uri {
			return fmt.Errorf("%w: object URI %s is not %s", ErrInvalidResults, quote(o.URI), quote(uri))
		}
		o.URI = uri
		d.Objects = append(d.Objects, o)
		d.Bytes += o.Size
	}
	slices.SortFunc(d.Objects, func(a, b StoredObject) int { return strings.Compare(a.Name, b.Name) })
	if manifest := prefix + ManifestName; seen[manifest] {
		d.Manifest = gsURI(spec.Bucket, manifest)
	}
	return nil
}

// checkObject checks one object of a job whose objects live under prefix.
func checkObject(o StoredObject, prefix string) error {
	name := quote(o.Name)
	switch {
	case !strings.HasPrefix(o.Name, prefix) || len(o.Name) == len(prefix) || !validObjectName(o.Name):
		return fmt.Errorf("%w: object %s is not a valid object name under %s", ErrInvalidResults, name, quote(prefix))
	case o.Size < 0:
		return fmt.Errorf("%w: object %s has a negative size", ErrInvalidResults, name)
	case !isBase64Of(o.CRC32C, 4):
		return fmt.Errorf("%w: object %s: crc32c %s is not the base64 of 4 bytes", ErrInvalidResults, name, quote(o.CRC32C))
	case o.MD5 != "" && !isBase64Of(o.MD5, 16):
		return fmt.Errorf("%w: object %s: md5 %s is not the base64 of 16 bytes", ErrInvalidResults, name, quote(o.MD5))
	case o.SHA256 != "" && !isLowerHex(o.SHA256, 64):
		return fmt.Errorf("%w: object %s: sha256 %s is not 64 lower-case hex digits", ErrInvalidResults, name, quote(o.SHA256))
	case o.ContentType == "" || !utf8.ValidString(o.ContentType):
		return fmt.Errorf("%w: object %s has no content type", ErrInvalidResults, name)
	}
	return nil
}

// validObjectName reports whether Cloud Storage accepts name as an object
// name: 1 to 1024 bytes of UTF-8 without carriage returns or line feeds.
func validObjectName(name string) bool {
	return name != "" && len(name) <= maxObjectNameLen && utf8.ValidString(name) && !strings.ContainsAny(name, "\r\n")
}

func isBase64Of(s string, n int) bool {
	if !base64RE.MatchString(s) {
		return false
	}
	b, err := base64.StdEncoding.DecodeString(s)
	return err == nil && len(b) == n
}

func isLowerHex(s string, n int) bool {
	_, err := hex.DecodeString(s)
	return err == nil && len(s) == n && strings.ToLower(s) == s
}

func gsURI(bucket, name string) string {
	return "gs://" + bucket + "/" + name
}

// EncodeCRC32C formats a CRC32C checksum (such as
// storage.ObjectAttrs.CRC32C) the way Cloud Storage shows it: the base64 of
// its four big-endian bytes.
func EncodeCRC32C(sum uint32) string {
	return base64.StdEncoding.EncodeToString(binary.BigEndian.AppendUint32(nil, sum))
}

// DecodeCRC32C reads a CRC32C checksum in the form [EncodeCRC32C] writes
// (and Cloud Storage shows): the base64 of its four big-endian bytes.
func DecodeCRC32C(s string) (uint32, error) {
	if !isBase64Of(s, 4) {
		return 0, fmt.Errorf("event: crc32c %s is not the base64 of 4 bytes", quote(s))
	}
	b, _ := base64.StdEncoding.DecodeString(s) // checked by isBase64Of
	return binary.BigEndian.Uint32(b), nil
}

// Attributes returns the Pub/Sub attributes for r, for subscription filters
// such as `attributes.event_type = "results.stored" AND attributes.kind =
// "interaction"`: event_type (results.stored or results.failed), kind,
// resource, source_event_id, schema_version and state. Values that Pub/Sub
// would refuse are left out.
func (r *Results) Attributes() map[string]string {
	attrs := make(map[string]string, 6)
	add := func(key, value string) {
		if validAttribute(key, value) {
			attrs[key] = value
		}
	}
	add(AttrEventType, strings.TrimPrefix(r.Type, "dev.geminihooks."))
	add(AttrKind, string(r.Data.Kind))
	add(AttrResource, r.Data.Resource)
	add(AttrSourceEventID, r.Data.SourceEventID)
	add(AttrSchemaVersion, r.Data.SchemaVersion)
	add(AttrState, string(r.Data.State))
	return attrs
}

// OrderingKey returns the Pub/Sub ordering key of the event: the job's
// resource name, as for its completion event.
func (r *Results) OrderingKey() string {
	return r.Data.Resource
}

// MarshalJSON writes r in CloudEvents structured mode with every time in
// UTC and objects as an array even when there are none.
func (r Results) MarshalJSON() ([]byte, error) {
	type plain Results // plain has no methods, which stops the recursion.
	p := plain(r)
	p.Time = p.Time.UTC()
	if p.Data.Objects == nil {
		p.Data.Objects = []StoredObject{}
	}
	t := &p.Data.Timings
	t.EventReceivedAt = t.EventReceivedAt.UTC()
	t.StartedAt = t.StartedAt.UTC()
	t.JobCompletedAt = utcPtr(t.JobCompletedAt)
	t.StoredAt = utcPtr(t.StoredAt)
	return json.Marshal(p)
}

// utcPtr returns a pointer to t in UTC, or nil for nil; t is not modified.
func utcPtr(t *time.Time) *time.Time {
	if t == nil {
		return nil
	}
	utc := t.UTC()
	return &utc
}

// DecodeResults reads a published results event, for subscribers of the
// results topic. It accepts fields it does not know, as they may be added
// within a schema version, and rejects documents of another type or schema
// version.
func DecodeResults(data []byte) (*Results, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	var r Results
	if err := dec.Decode(&r); err != nil {
		return nil, fmt.Errorf("%w: failed to decode JSON: %w", ErrInvalidResults, err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, fmt.Errorf("%w: data after the event", ErrInvalidResults)
	}
	switch {
	case r.SpecVersion != SpecVersion:
		return nil, fmt.Errorf("%w: specversion %q is not %q", ErrInvalidResults, r.SpecVersion, SpecVersion)
	case r.ID == "" || r.Source == "":
		return nil, fmt.Errorf("%w: id and source are required", ErrInvalidResults)
	case r.Type != ResultsTypeStored && r.Type != ResultsTypeFailed:
		return nil, fmt.Errorf("%w: type %q is not a results event", ErrInvalidResults, r.Type)
	case r.Data.SchemaVersion != ResultsSchemaVersion:
		return nil, fmt.Errorf("%w: schema_version %q is not %q", ErrInvalidResults, r.Data.SchemaVersion, ResultsSchemaVersion)
	case r.Data.Resource == "" || r.Data.SourceEventID == "":
		return nil, fmt.Errorf("%w: resource and source_event_id are required", ErrInvalidResults)
	}
	switch r.Data.Kind {
	case KindBatch, KindInteraction, KindVideo:
	default:
		return nil, fmt.Errorf("%w: unknown kind %q", ErrInvalidResults, r.Data.Kind)
	}
	if r.Data.Objects == nil {
		r.Data.Objects = []StoredObject{}
	}
	return &r, nil
}
