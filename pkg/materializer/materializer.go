// Package materializer turns a completion event into durable results: it
// re-fetches the finished job through the Gemini API by its strictly
// validated id (the event's pointers are not trusted, except the video URIs
// of a video operation named without its model, which the API cannot be
// asked about), streams the job's output into Cloud Storage with write-once
// semantics, writes a manifest and announces where everything landed on the
// results topic.
//
// Layout, under <prefix>/<kind>/<id>/:
//
//	batch        results.jsonl, manifest.json
//	interaction  report.md, citations.json, interaction.json, manifest.json
//	video        video-1.mp4 …, manifest.json
//
// A job that ended without output (failed, cancelled, expired, requires
// action) gets manifest.json alone, with the error. Each object is created
// once: a redelivered event finds them present and rewrites nothing. The
// object _announced.json, written last, holds the results event that was
// published, so a redelivery announces nothing twice.
//
// Build wires the push Handler from a Config onto Backends (Google Cloud's
// from CloudBackends, or the local runner's stand-ins).
package materializer

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"time"

	"go.opentelemetry.io/otel/attribute"

	"github.com/geminihooks/geminihooks/pkg/blob"
	"github.com/geminihooks/geminihooks/pkg/event"
	"github.com/geminihooks/geminihooks/pkg/gemini"
	"github.com/geminihooks/geminihooks/pkg/logging"
	"github.com/geminihooks/geminihooks/pkg/publish"
	"github.com/geminihooks/geminihooks/pkg/registry"
	"github.com/geminihooks/geminihooks/pkg/report"
	"github.com/geminihooks/geminihooks/pkg/tracing"
)

// Fetcher reads finished jobs from the Gemini API.
type Fetcher interface {
	GetBatch(ctx context.Context, name string) (*gemini.Batch, error)
	GetInteraction(ctx context.Context, id string) (*gemini.Interaction, error)
	GetVideoOperation(ctx context.Context, name string) (*gemini.VideoOperation, error)
	Download(ctx context.Context, ref string) (*gemini.Download, error)
}

// Store holds the results, write-once.
type Store interface {
	Create(ctx context.Context, name, contentType string, r io.Reader) (blob.Object, error)
	Stat(ctx context.Context, name string) (blob.Object, error)
}

// Publisher announces results on the results topic.
type Publisher interface {
	Publish(ctx context.Context, m publish.Message) (string, error)
}

// Jobs is the job registry, told how each job ended before its results are
// announced.
type Jobs interface {
	Stored(ctx context.Context, n registry.Notice, location string) error
	Failed(ctx context.Context, n registry.Notice, reason string) error
}

var (
	_ Jobs      = (*registry.Registry)(nil)
	_ Fetcher   = (*gemini.Client)(nil)
	_ Store     = (*blob.GCS)(nil)
	_ Store     = (*blob.Dir)(nil)
	_ Store     = (*blob.Memory)(nil)
	_ Publisher = (*publish.PubSub)(nil)
	_ Publisher = (*publish.Memory)(nil)
)

// DefaultPrefix is the folder under which results live when no other is
// configured (RESULTS_PREFIX's default; a test keeps them equal).
const DefaultPrefix = "gemini"

// JobFolder returns the folder of one job's results, "<prefix>/<kind>/<id>/".
// The prefix is trimmed of slashes; empty means DefaultPrefix.
func JobFolder(prefix string, kind event.Kind, id string) string {
	if prefix = strings.Trim(prefix, "/"); prefix == "" {
		prefix = DefaultPrefix
	}
	return prefix + "/" + string(kind) + "/" + id + "/"
}

// Object names inside a job's folder.
const (
	ManifestName    = "manifest.json"
	ResultsName     = "results.jsonl"
	ReportName      = "report.md"
	CitationsName   = "citations.json"
	InteractionName = "interaction.json"
	// announcedName holds the results event once it was published, so a
	// redelivered completion event announces nothing twice.
	announcedName = "_announced.json"
)

// VideoName returns the name, inside a job's folder, of the video job's
// n-th video (from 1): video-1.mp4, video-2.mp4, …
func VideoName(n int) string { return "video-" + strconv.Itoa(n) + ".mp4" }

// ErrNotFinished means the API does not report the job as finished yet:
// webhooks are not ordered, so the event can overtake the job's state. It
// is transient; the redelivery finds the job done.
var ErrNotFinished = errors.New("job is not finished yet")

// Options configures a Materializer.
type Options struct {
	// Bucket is the results bucket's name, for the event.
	Bucket string
	// Prefix is the folder under which all results live (see JobFolder).
	Prefix string
	// Now is the clock (default time.Now).
	Now func() time.Time
}

// Materializer stores finished jobs' results.
type Materializer struct {
	fetch  Fetcher
	store  Store
	pub    Publisher
	jobs   Jobs
	logger *slog.Logger
	opts   Options
}

// New returns a Materializer; every dependency is required.
func New(f Fetcher, s Store, p Publisher, jobs Jobs, logger *slog.Logger, opts Options) (*Materializer, error) {
	switch {
	case f == nil:
		return nil, errors.New("materializer: missing fetcher")
	case s == nil:
		return nil, errors.New("materializer: missing store")
	case p == nil:
		return nil, errors.New("materializer: missing publisher")
	case jobs == nil:
		return nil, errors.New("materializer: missing job registry")
	case logger == nil:
		return nil, errors.New("materializer: missing logger")
	case opts.Bucket == "":
		return nil, errors.New("materializer: missing bucket name")
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	return &Materializer{fetch: f, store: s, pub: p, jobs: jobs, logger: logger, opts: opts}, nil
}

// Outcome says what Materialize did.
type Outcome string

// Outcomes of Materialize.
const (
	Stored    Outcome = "stored"    // results stored and announced
	Failed    Outcome = "failed"    // permanent failure recorded and announced
	Redundant Outcome = "redundant" // already stored and announced earlier
	NotAJob   Outcome = "not_a_job" // event names no job we can fetch
)

// Result is what one Materialize call did.
type Result struct {
	Outcome Outcome
	// Folder is gs://bucket/prefix/kind/id/ (empty for NotAJob).
	Folder string
	// Event is the results event published: nil unless Stored or Failed,
	// and nil for a failure that could not be announced.
	Event *event.Results
	// Code is the failure's code when Failed.
	Code string
	// Bytes and Objects count the job's artifacts, the manifest left out,
	// when Stored.
	Bytes   int64
	Objects int
	// Lag runs from the job's completion to its artifacts stored, when
	// Stored: from the completion time the API reported or, when it
	// reported none, from the completion event's time.
	Lag time.Duration
}

// Names of the spans of a push delivery's trace.
const (
	// SpanMaterialize is the root, from the push request to its answer.
	SpanMaterialize = "materialize event"
	// SpanFetch reads the finished job from the Gemini API.
	SpanFetch = "fetch job"
	// SpanDownload opens one download from the Gemini API.
	SpanDownload = "download"
	// SpanUpload stores one object, streaming a download when there is one.
	SpanUpload = "upload"
	// SpanManifest stores manifest.json, the last artifact.
	SpanManifest = "store manifest"
	// SpanRecord tells the job registry how the job ended.
	SpanRecord = "registry record"
	// SpanAnnounce publishes the results event and records it published.
	SpanAnnounce = "announce results"
)

// Materialize stores the results of the job ev names. A non-nil error is
// transient (the Gemini API, Cloud Storage or Pub/Sub failed, or the job is
// not finished yet): the caller must have the event redelivered. Permanent
// failures are not errors: they are recorded in a failure manifest,
// announced, and reported as Outcome Failed. A completion event that no
// results event can describe (its resource is not a normalized name) is
// only logged: Outcome Failed with a nil Event.
func (m *Materializer) Materialize(ctx context.Context, ev *event.Event) (*Result, error) {
	started := m.opts.Now()
	job, err := m.locate(ev)
	if job == nil {
		return &Result{Outcome: NotAJob}, nil
	}
	// Checked before anything else, an invalid id included, so that a
	// redelivered event announces nothing twice.
	if _, serr := m.store.Stat(ctx, job.path(announcedName)); serr == nil {
		return &Result{Outcome: Redundant, Folder: m.folder(job)}, nil
	} else if !errors.Is(serr, blob.ErrNotExist) {
		return nil, fmt.Errorf("failed to check %s: %w", job.path(announcedName), serr)
	}
	if err != nil {
		return m.fail(ctx, ev, job, started, permanent("invalid_id", err))
	}

	var st *stored
	switch job.kind {
	case event.KindBatch:
		st, err = m.batch(ctx, job)
	case event.KindInteraction:
		st, err = m.interaction(ctx, job)
	case event.KindVideo:
		if job.fromEvent {
			st, err = m.videoFromEvent(ctx, ev, job)
		} else {
			st, err = m.video(ctx, job)
		}
	}
	if err != nil {
		if perr := classify(err); perr != nil {
			return m.fail(ctx, ev, job, started, perr)
		}
		return nil, err
	}
	return m.finish(ctx, ev, job, st, started)
}

// job is the validated identity of the job an event names.
type job struct {
	kind     event.Kind
	resource string // API name: batches/x, interactions/x, models/m/operations/x
	id       string // folder name
	prefix   string // <prefix>/<kind>/<id>/
	// invalid marks an id the API would refuse; its folder is named after
	// the id's hash instead of the id.
	invalid bool
	// fromEvent marks a video operation named without its model, whose
	// video is downloaded from the event's URIs.
	fromEvent bool
}

func (j *job) path(name string) string { return j.prefix + name }

// locate validates the event's resource. It returns (nil, err) for events
// that name no fetchable job, and (job, err) for an invalid id, whose failure
// is recorded under a folder named after the id's hash.
func (m *Materializer) locate(ev *event.Event) (*job, error) {
	j := &job{kind: ev.Data.Kind}
	var err error
	switch ev.Data.Kind {
	case event.KindBatch:
		j.resource, err = gemini.BatchName(ev.Data.Resource)
	case event.KindInteraction:
		var id string
		id, err = gemini.InteractionID(ev.Data.Resource)
		j.resource = "interactions/" + id
	case event.KindVideo:
		var model, id string
		model, id, err = gemini.SplitOperation(ev.Data.Resource)
		switch {
		case err != nil:
		case model != "":
			j.resource = "models/" + model + "/operations/" + id
		default:
			// No documented path serves an operation without its model:
			// the video comes from the event's URIs.
			j.resource, j.fromEvent = "operations/"+id, true
		}
	default:
		return nil, fmt.Errorf("event kind %q names no job", ev.Data.Kind)
	}
	if err != nil {
		// The failure manifest records the resource as the event named it.
		j.resource = ev.Data.Resource
		sum := sha256.Sum256([]byte(ev.Data.Resource))
		j.id = "invalid-" + hex.EncodeToString(sum[:8])
		j.invalid = true
	} else {
		j.id = j.resource[strings.LastIndexByte(j.resource, '/')+1:]
	}
	j.prefix = JobFolder(m.opts.Prefix, j.kind, j.id)
	return j, err
}

func (m *Materializer) folder(j *job) string {
	return "gs://" + m.opts.Bucket + "/" + j.prefix
}

// stored is what a kind's handler produced.
type stored struct {
	state       event.State
	objects     []blob.Object
	counts      *event.RequestCounts
	failure     *event.Failure // the job ended without results
	completedAt time.Time
	source      string // the event URI the objects came from, if not the API
}

func (m *Materializer) batch(ctx context.Context, j *job) (*stored, error) {
	fctx, span := tracing.Start(ctx, SpanFetch)
	b, err := m.fetch.GetBatch(fctx, j.resource)
	tracing.End(span, err)
	if err != nil {
		return nil, err
	}
	st := &stored{state: event.State(strings.ToLower(b.State)), completedAt: b.EndTime,
		counts: &event.RequestCounts{Requests: b.Stats.Requests, Succeeded: b.Stats.Succeeded, Failed: b.Stats.Failed}}
	switch b.State {
	case gemini.BatchSucceeded, gemini.BatchPartiallySucceeded:
	case gemini.BatchFailed, gemini.BatchCancelled, gemini.BatchExpired:
		st.failure = jobFailure(b.Error, "batch_"+string(st.state), "the batch ended "+string(st.state)+" without results")
		return st, nil
	default:
		return nil, fmt.Errorf("%w: %s is %s", ErrNotFinished, j.resource, b.State)
	}
	var obj blob.Object
	if b.ResponsesFile != "" {
		obj, err = m.copy(ctx, j.path(ResultsName), "application/jsonl", b.ResponsesFile)
	} else {
		// Inlined responses get the results file's line format.
		var buf bytes.Buffer
		for _, line := range b.Inlined {
			buf.Write(line)
			buf.WriteByte('\n')
		}
		obj, err = m.create(ctx, SpanUpload, j.path(ResultsName), "application/jsonl", &buf)
	}
	if err != nil {
		return nil, err
	}
	st.objects = append(st.objects, obj)
	return st, nil
}

func (m *Materializer) interaction(ctx context.Context, j *job) (*stored, error) {
	fctx, span := tracing.Start(ctx, SpanFetch)
	in, err := m.fetch.GetInteraction(fctx, strings.TrimPrefix(j.resource, "interactions/"))
	tracing.End(span, err)
	if err != nil {
		return nil, err
	}
	st := &stored{state: event.State(in.Status)}
	st.completedAt, _ = time.Parse(time.RFC3339Nano, in.Updated)
	switch in.Status {
	case gemini.InteractionCompleted:
	case gemini.InteractionFailed, gemini.InteractionCancelled, gemini.InteractionIncomplete,
		gemini.InteractionRequiresAction, gemini.InteractionBudgetExceeded:
		st.failure = interactionFailure(in)
		return st, nil
	default:
		return nil, fmt.Errorf("%w: %s is %s", ErrNotFinished, j.resource, in.Status)
	}
	rep, err := report.Render(in.Raw)
	if err != nil {
		return nil, permanent("unreadable_interaction", err)
	}
	citations, err := rep.CitationsJSON()
	if err != nil {
		return nil, permanent("unreadable_interaction", err)
	}
	for _, o := range []struct {
		name, contentType string
		data              []byte
	}{
		{ReportName, "text/markdown; charset=utf-8", rep.Markdown},
		{CitationsName, "application/json", citations},
		{InteractionName, "application/json", in.Raw},
	} {
		obj, err := m.create(ctx, SpanUpload, j.path(o.name), o.contentType, bytes.NewReader(o.data))
		if err != nil {
			return nil, err
		}
		st.objects = append(st.objects, obj)
	}
	return st, nil
}

func (m *Materializer) video(ctx context.Context, j *job) (*stored, error) {
	fctx, span := tracing.Start(ctx, SpanFetch)
	op, err := m.fetch.GetVideoOperation(fctx, j.resource)
	tracing.End(span, err)
	if err != nil {
		return nil, err
	}
	if !op.Done {
		return nil, fmt.Errorf("%w: %s is still running", ErrNotFinished, j.resource)
	}
	st := &stored{state: event.StateGenerated}
	switch {
	case op.Error != nil:
		st.state = event.StateFailed
		st.failure = jobFailure(op.Error, "video_failed", "video generation failed")
		return st, nil
	case len(op.Videos) == 0:
		st.state = event.StateFailed
		st.failure = &event.Failure{Code: "video_filtered", Permanent: true,
			Message: fmt.Sprintf("no video was returned (%d filtered: %s)", op.Filtered, strings.Join(op.FilteredReasons, "; "))}
		return st, nil
	}
	for i, uri := range op.Videos {
		obj, err := m.copy(ctx, j.path(VideoName(i+1)), "video/mp4", uri)
		if err != nil {
			return nil, err
		}
		st.objects = append(st.objects, obj)
	}
	return st, nil
}

// videoFromEvent stores the video of an operation the event names without
// its model, which the API cannot be asked about: the event's own URIs are
// the only pointer to the video.
//
// Undocumented: the form of output_file_uri (gs:// in the guide's example,
// files/ or an https download URI elsewhere) and which field a video event
// fills. Every form is tried: file_name (the documented download route),
// then output_file_uri (the guide's field), then video_uri (the cookbook's),
// skipping those the client refuses (a gs:// URI, a host off the
// allow-list).
func (m *Materializer) videoFromEvent(ctx context.Context, ev *event.Event, j *job) (*stored, error) {
	var refs []string
	if f := ev.Data.Files; f != nil {
		for _, ref := range []string{f.FileName, f.OutputFileURI, f.VideoURI} {
			if ref != "" && !slices.Contains(refs, ref) {
				refs = append(refs, ref)
			}
		}
	}
	if len(refs) == 0 {
		return nil, permanent("video_without_model",
			fmt.Errorf("%s names no model, so the API cannot be asked for it, and the event carries no video URI", j.resource))
	}
	name := j.path(VideoName(1))
	var refused []error
	for _, ref := range refs {
		obj, err := m.copy(ctx, name, "video/mp4", ref)
		if errors.Is(err, gemini.ErrInvalidID) || errors.Is(err, gemini.ErrForeignHost) {
			refused = append(refused, err)
			continue
		}
		if err != nil {
			return nil, err
		}
		return &stored{state: event.StateGenerated, objects: []blob.Object{obj}, source: sourceURI(ref)}, nil
	}
	return nil, permanent("video_uri_unusable",
		fmt.Errorf("%s names no model, and none of the event's video URIs can be downloaded: %w", j.resource, errors.Join(refused...)))
}

// sourceURI is ref as the manifest records it: without a query, which may
// hold a signed URL's credentials.
func sourceURI(ref string) string {
	base, _, _ := strings.Cut(ref, "?")
	return base
}

// copy streams a Gemini download into a new object, unless it exists.
func (m *Materializer) copy(ctx context.Context, name, contentType, ref string) (blob.Object, error) {
	if obj, err := m.store.Stat(ctx, name); err == nil {
		return obj, nil // stored by an earlier attempt: do not download again
	} else if !errors.Is(err, blob.ErrNotExist) {
		return blob.Object{}, fmt.Errorf("failed to check %s: %w", name, err)
	}
	// The download's span covers opening it; the upload's, reading it.
	dctx, span := tracing.Start(ctx, SpanDownload, attribute.String("object", name))
	dl, err := m.fetch.Download(dctx, ref)
	tracing.End(span, err)
	if err != nil {
		return blob.Object{}, err
	}
	defer dl.Body.Close()
	return m.create(ctx, SpanUpload, name, contentType, dl.Body)
}

// create stores a new object in a span named span.
func (m *Materializer) create(ctx context.Context, span, name, contentType string, r io.Reader) (obj blob.Object, err error) {
	ctx, s := tracing.Start(ctx, span)
	defer func() {
		if s.IsRecording() {
			// One call: each grows the span's attribute storage.
			s.SetAttributes(attribute.String("object", name), attribute.Int64("bytes", obj.Size))
		}
		tracing.End(s, err)
	}()
	obj, err = m.store.Create(ctx, name, contentType, r)
	if err != nil {
		return blob.Object{}, fmt.Errorf("failed to store %s: %w", name, err)
	}
	return obj, nil
}

// Manifest is manifest.json: what is stored for a job, or why nothing is.
type Manifest struct {
	SchemaVersion string               `json:"schema_version"`
	Kind          event.Kind           `json:"kind"`
	Resource      string               `json:"resource"`
	State         event.State          `json:"state"`
	SourceEventID string               `json:"source_event_id"`
	Objects       []event.StoredObject `json:"objects"`
	Counts        *event.RequestCounts `json:"counts,omitempty"`
	Bytes         int64                `json:"bytes"`
	// Source is the URI from the completion event that the objects were
	// downloaded from, when the API could not be asked (a video operation
	// named without its model); its query is left out.
	Source  string         `json:"source,omitempty"`
	Error   *event.Failure `json:"error,omitempty"`
	Timings event.Timings  `json:"timings"`
}

// finish writes the manifest, publishes the results event and records that
// it did.
func (m *Materializer) finish(ctx context.Context, ev *event.Event, j *job, st *stored, started time.Time) (*Result, error) {
	finished := m.opts.Now()
	man := Manifest{
		SchemaVersion: "1", Kind: j.kind, Resource: j.resource, State: st.state, SourceEventID: ev.ID,
		Objects: []event.StoredObject{}, Counts: st.counts, Source: st.source, Error: st.failure,
		Timings: event.Timings{EventReceivedAt: ev.Data.Delivery.ReceivedAt, StartedAt: started, DurationMS: finished.Sub(started).Milliseconds()},
	}
	if !st.completedAt.IsZero() {
		man.Timings.JobCompletedAt = &st.completedAt
	}
	if st.failure == nil {
		man.Timings.StoredAt = &finished
	}
	for _, o := range st.objects {
		man.Objects = append(man.Objects, storedObject(m.opts.Bucket, o))
		man.Bytes += o.Size
	}
	data, err := json.MarshalIndent(man, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("failed to encode manifest: %w", err)
	}
	mobj, err := m.create(ctx, SpanManifest, j.path(ManifestName), "application/json", bytes.NewReader(append(data, '\n')))
	if err != nil {
		return nil, err
	}

	spec := event.ResultsSpec{
		State: st.state, Bucket: m.opts.Bucket, ObjectPrefix: j.prefix,
		Objects: append(man.Objects, storedObject(m.opts.Bucket, mobj)), Counts: st.counts,
		JobCompletedAt: st.completedAt, StartedAt: started, FinishedAt: finished,
	}
	if j.invalid {
		// A results event may only point at the folder named after the
		// job's id, which an invalid id does not get: the failure is
		// announced without a location, and the manifest is found through
		// the log.
		spec.Bucket, spec.ObjectPrefix, spec.Objects = "", "", nil
	}
	var res *event.Results
	if st.failure == nil {
		res, err = event.NewResultsStored(ev, spec)
	} else {
		res, err = event.NewResultsFailed(ev, spec, *st.failure)
	}
	if errors.Is(err, event.ErrInvalidResults) {
		// The completion event cannot be announced at all (its resource is
		// not a normalized name, say), and a redelivery would fail the
		// same way: acknowledge it rather than retry it forever.
		logging.FromContextOr(ctx, m.logger).ErrorContext(ctx, "results cannot be announced; the event is acknowledged",
			slog.String("resource", ev.Data.Resource), slog.String("folder", m.folder(j)), slog.String("error", err.Error()))
		return &Result{Outcome: Failed, Folder: m.folder(j), Code: st.failureCode()}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("failed to build results event: %w", err)
	}
	payload, err := json.Marshal(res)
	if err != nil {
		return nil, fmt.Errorf("failed to encode results event: %w", err)
	}
	// The registry hears of the end before anyone else: a failure here is
	// transient, and the redelivery finds every object in place and
	// records it again.
	if err := m.record(ctx, ev, j, st); err != nil {
		return nil, err
	}
	if err := m.announce(ctx, j, res, payload); err != nil {
		return nil, err
	}
	out := &Result{Outcome: Stored, Folder: m.folder(j), Event: res, Bytes: man.Bytes, Objects: len(st.objects)}
	if st.failure != nil {
		out.Outcome, out.Code, out.Bytes, out.Objects = Failed, st.failure.Code, 0, 0
	} else {
		completed := st.completedAt
		if completed.IsZero() {
			completed = ev.Time
		}
		out.Lag = finished.Sub(completed)
	}
	return out, nil
}

// announce publishes the results event and records that it did.
func (m *Materializer) announce(ctx context.Context, j *job, res *event.Results, payload []byte) (err error) {
	ctx, span := tracing.Start(ctx, SpanAnnounce)
	defer func() { tracing.End(span, err) }()
	if _, err := m.pub.Publish(ctx, publish.Message{Data: payload, Attributes: res.Attributes(), OrderingKey: res.OrderingKey()}); err != nil {
		return fmt.Errorf("failed to publish results event: %w", err)
	}
	if _, err := m.create(ctx, SpanUpload, j.path(announcedName), "application/json", bytes.NewReader(payload)); err != nil {
		// A redelivery announces again, with the same event id, which
		// subscribers de-duplicate.
		logging.FromContextOr(ctx, m.logger).WarnContext(ctx, "results announced but not recorded as announced", slog.String("error", err.Error()))
	}
	return nil
}

// failureCode is the code of st's failure, if any.
func (st *stored) failureCode() string {
	if st.failure == nil {
		return ""
	}
	return st.failure.Code
}

// record tells the registry how the job ended.
func (m *Materializer) record(ctx context.Context, ev *event.Event, j *job, st *stored) (err error) {
	ref, ok := ev.Job()
	if !ok {
		return nil
	}
	ctx, span := tracing.Start(ctx, SpanRecord)
	defer func() { tracing.End(span, err) }()
	n := registry.Notice{Ref: ref, Resource: j.resource, EventID: ev.ID, Reconciled: ev.Data.Delivery.Reconciled, UserMetadata: ev.Data.UserMetadata}
	if st.failure == nil {
		err = m.jobs.Stored(ctx, n, m.folder(j))
	} else {
		err = m.jobs.Failed(ctx, n, st.failure.Code+": "+st.failure.Message)
	}
	if err != nil {
		return fmt.Errorf("failed to record the job's end in the registry: %w", err)
	}
	return nil
}

// fail records a permanent failure to materialize (an unknown job, an
// invalid id, a 4xx from the API) in a failure manifest and announces it.
func (m *Materializer) fail(ctx context.Context, ev *event.Event, j *job, started time.Time, perr *permanentError) (*Result, error) {
	logging.FromContextOr(ctx, m.logger).WarnContext(ctx, "job cannot be materialized", slog.String("resource", ev.Data.Resource),
		slog.String("folder", m.folder(j)), slog.String("code", perr.code), slog.String("error", perr.Error()))
	st := &stored{state: "unavailable", failure: &event.Failure{Code: perr.code, Message: perr.Error(), Permanent: true}}
	return m.finish(ctx, ev, j, st, started)
}

func storedObject(bucket string, o blob.Object) event.StoredObject {
	so := event.StoredObject{
		Name: o.Name, URI: "gs://" + bucket + "/" + o.Name, Size: o.Size,
		CRC32C: event.EncodeCRC32C(o.CRC32C), SHA256: o.SHA256, ContentType: o.ContentType,
	}
	if len(o.MD5) > 0 {
		so.MD5 = base64.StdEncoding.EncodeToString(o.MD5)
	}
	return so
}

func jobFailure(e *gemini.JobError, code, fallback string) *event.Failure {
	f := &event.Failure{Code: code, Message: fallback, Permanent: true}
	if e != nil && e.Message != "" {
		f.Message = e.Message
	}
	if e != nil && e.Code != 0 {
		f.Code = code + "_" + strconv.Itoa(e.Code)
	}
	return f
}

func interactionFailure(in *gemini.Interaction) *event.Failure {
	f := &event.Failure{Code: "interaction_" + in.Status, Message: "the interaction ended " + in.Status + " without a report", Permanent: true}
	for _, e := range in.Errors {
		if e.Message != "" {
			f.Message = e.Message
			break
		}
	}
	return f
}

// permanentError is a failure retrying cannot fix.
type permanentError struct {
	code string
	err  error
}

func permanent(code string, err error) *permanentError { return &permanentError{code: code, err: err} }

func (p *permanentError) Error() string { return p.err.Error() }
func (p *permanentError) Unwrap() error { return p.err }

// classify splits a failure into transient (returned) and permanent.
func classify(err error) *permanentError {
	var perr *permanentError
	if errors.As(err, &perr) {
		return perr
	}
	if gemini.IsTransient(err) || errors.Is(err, ErrNotFinished) {
		return nil
	}
	var aerr *gemini.APIError
	switch {
	case errors.As(err, &aerr):
		code := "gemini_" + strconv.Itoa(aerr.Status)
		if aerr.Code != "" {
			code = "gemini_" + strings.ToLower(aerr.Code)
		}
		return permanent(code, err)
	case errors.Is(err, gemini.ErrInvalidID):
		return permanent("invalid_id", err)
	case errors.Is(err, gemini.ErrForeignHost):
		// A download pointing or redirected off the allow-list fails
		// the same way every time.
		return permanent("download_host_refused", err)
	}
	// Anything else (storage, unexpected) is retried: redelivery is cheap
	// and the dead-letter topic bounds it.
	return nil
}
