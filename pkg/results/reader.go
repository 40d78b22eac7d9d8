package results

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/geminihooks/geminihooks/pkg/blob"
	"github.com/geminihooks/geminihooks/pkg/event"
	"github.com/geminihooks/geminihooks/pkg/materializer"
)

// Sentinel errors, wrapped by the errors of this package; test with
// errors.Is.
var (
	// ErrCorrupt reports an object whose bytes do not match its manifest
	// entry: shorter, longer, or with another CRC32C. It is also returned
	// for a manifest that does not match the results event listing it.
	ErrCorrupt = errors.New("results: object does not match its manifest")
	// ErrNotStored reports that the job has no such object: the results of
	// a batch asked of an interaction, the report of a job that failed, or
	// any object of a results.failed event that wrote nothing.
	ErrNotStored = errors.New("results: not stored for this job")
	// ErrInvalidManifest reports a manifest.json that cannot be used: not
	// JSON, of an unknown schema version, or listing objects outside the
	// job's folder.
	ErrInvalidManifest = errors.New("results: invalid manifest")
	// ErrOtherBucket reports a results event about a bucket other than the
	// Reader's.
	ErrOtherBucket = errors.New("results: event names another bucket")
)

// Opener reads stored objects by name. [blob.GCS] reads a Cloud Storage
// bucket, [blob.Dir] the local runner's data directory, [blob.Memory] a map.
type Opener interface {
	// Open returns a reader over the object's content, which the caller
	// closes, or an error wrapping blob.ErrNotExist.
	Open(ctx context.Context, name string) (io.ReadCloser, error)
}

var (
	_ Opener = (*blob.GCS)(nil)
	_ Opener = (*blob.Dir)(nil)
	_ Opener = (*blob.Memory)(nil)
)

// Limits of a Reader.
const (
	// DefaultMaxLineSize is the longest results line Lines accepts unless
	// Options.MaxLineSize says otherwise, newline excluded: room for a
	// response with a few generated images inline.
	DefaultMaxLineSize = 16 << 20
	// MaxDocumentSize is the largest object Report, Citations and
	// Interaction read whole; Open streams objects of any size.
	MaxDocumentSize = 64 << 20
	// maxManifestSize bounds manifest.json, which lists a handful of
	// objects.
	maxManifestSize = 1 << 20
	// readBufferSize is the unit in which Lines reads.
	readBufferSize = 64 << 10
)

// Options configures a Reader. The zero value is ready to use.
type Options struct {
	// MaxLineSize is the longest results line accepted, in bytes, newline
	// excluded; 0 means DefaultMaxLineSize. Lines holds at most one line of
	// this size in memory.
	MaxLineSize int
}

// Reader opens jobs stored in one bucket. It is safe for concurrent use.
type Reader struct {
	objects     Opener
	bucket      string
	maxLineSize int
}

// New returns a Reader of the jobs in bucket, whose objects objects opens
// (for the local runner: its data directory, and the bucket name it
// reports, RESULTS_BUCKET or "geminihooks-local").
func New(objects Opener, bucket string, opts Options) (*Reader, error) {
	switch {
	case objects == nil:
		return nil, errors.New("results: missing object store")
	case bucket == "" || strings.ContainsAny(bucket, "/ "):
		return nil, fmt.Errorf("results: %q is not a bucket name", bucket)
	case opts.MaxLineSize < 0:
		return nil, fmt.Errorf("results: negative MaxLineSize %d", opts.MaxLineSize)
	}
	if opts.MaxLineSize == 0 {
		opts.MaxLineSize = DefaultMaxLineSize
	}
	return &Reader{objects: objects, bucket: bucket, maxLineSize: opts.MaxLineSize}, nil
}

// Job is one job's stored results, as its manifest describes them.
type Job struct {
	// Bucket is the bucket holding the job's objects.
	Bucket string
	// Folder is the object-name prefix of the job, "<prefix>/<kind>/<id>/"
	// (see materializer.JobFolder).
	Folder string
	// Manifest is the job's manifest.json: its kind, resource, final state,
	// objects, request counts (batches) and, for a job that ended without
	// results, its error.
	Manifest materializer.Manifest

	r       *Reader
	objects map[string]object // by name relative to Folder
}

// object is a manifest entry with its CRC32C decoded.
type object struct {
	event.StoredObject
	crc uint32
}

// Open opens the job a results event announces, after checking the event's
// listing of manifest.json against the object itself. A results.failed
// event that wrote a manifest opens too: its Manifest holds the error. One
// that wrote nothing returns an error wrapping ErrNotStored; its error is
// in ev.Data.Error.
func (r *Reader) Open(ctx context.Context, ev *event.Results) (*Job, error) {
	switch {
	case ev == nil:
		return nil, errors.New("results: no event")
	case ev.Data.Manifest == "":
		return nil, fmt.Errorf("%w: %s wrote no manifest for %s", ErrNotStored, ev.ID, ev.Data.Resource)
	case ev.Data.Bucket != r.bucket:
		return nil, fmt.Errorf("%w: %s is about bucket %q; this reader reads %q", ErrOtherBucket, ev.ID, ev.Data.Bucket, r.bucket)
	}
	name, ok := strings.CutPrefix(ev.Data.Manifest, "gs://"+r.bucket+"/")
	folder, isManifest := strings.CutSuffix(name, materializer.ManifestName)
	if !ok || !isManifest || !strings.HasSuffix(folder, "/") {
		return nil, fmt.Errorf("%w: %s names the manifest %q, not gs://%s/<folder>/%s", ErrInvalidManifest, ev.ID, ev.Data.Manifest, r.bucket, materializer.ManifestName)
	}
	i := slices.IndexFunc(ev.Data.Objects, func(o event.StoredObject) bool { return o.Name == name })
	if i < 0 {
		return nil, fmt.Errorf("%w: %s does not list its manifest %s among its objects", ErrInvalidManifest, ev.ID, name)
	}
	listed, err := decodeObject(ev.Data.Objects[i])
	if err != nil {
		return nil, err
	}
	if listed.Size > maxManifestSize {
		return nil, fmt.Errorf("%w: %s is %d bytes, more than the %d a manifest may have", ErrInvalidManifest, name, listed.Size, maxManifestSize)
	}
	data, err := r.read(ctx, listed)
	if err != nil {
		return nil, err
	}
	j, err := r.job(folder, data)
	if err != nil {
		return nil, err
	}
	if j.Manifest.Resource != ev.Data.Resource || j.Manifest.Kind != ev.Data.Kind {
		return nil, fmt.Errorf("%w: %s describes %s %s, the event %s %s", ErrInvalidManifest, name,
			j.Manifest.Kind, j.Manifest.Resource, ev.Data.Kind, ev.Data.Resource)
	}
	return j, nil
}

// OpenFolder opens the job stored under folder, an object-name prefix
// such as "gemini/batch/123/" (materializer.JobFolder). Without an event
// there is nothing to check the manifest against; its objects are still
// checked against it as they stream.
func (r *Reader) OpenFolder(ctx context.Context, folder string) (*Job, error) {
	if folder == "" || strings.HasPrefix(folder, "/") {
		return nil, fmt.Errorf("results: %q is not a job folder", folder)
	}
	if !strings.HasSuffix(folder, "/") {
		folder += "/"
	}
	name := folder + materializer.ManifestName
	rc, err := r.objects.Open(ctx, name)
	if err != nil {
		if errors.Is(err, blob.ErrNotExist) {
			return nil, fmt.Errorf("%w: no %s in gs://%s/%s: %w", ErrNotStored, materializer.ManifestName, r.bucket, folder, err)
		}
		return nil, fmt.Errorf("failed to open %s: %w", r.uri(name), err)
	}
	defer rc.Close()
	data, err := io.ReadAll(io.LimitReader(rc, maxManifestSize+1))
	if err != nil {
		return nil, fmt.Errorf("failed to read %s: %w", r.uri(name), err)
	}
	if len(data) > maxManifestSize {
		return nil, fmt.Errorf("%w: %s is more than %d bytes", ErrInvalidManifest, r.uri(name), maxManifestSize)
	}
	return r.job(folder, data)
}

// job decodes and checks the manifest of the job in folder.
func (r *Reader) job(folder string, data []byte) (*Job, error) {
	name := r.uri(folder + materializer.ManifestName)
	j := &Job{Bucket: r.bucket, Folder: folder, r: r, objects: map[string]object{}}
	if err := json.Unmarshal(data, &j.Manifest); err != nil {
		return nil, fmt.Errorf("%w: %s: %w", ErrInvalidManifest, name, err)
	}
	m := &j.Manifest
	switch {
	case m.SchemaVersion != event.ResultsSchemaVersion:
		return nil, fmt.Errorf("%w: %s has schema_version %q; this reader knows %q", ErrInvalidManifest, name, m.SchemaVersion, event.ResultsSchemaVersion)
	case m.Kind != event.KindBatch && m.Kind != event.KindInteraction && m.Kind != event.KindVideo:
		return nil, fmt.Errorf("%w: %s has kind %q", ErrInvalidManifest, name, m.Kind)
	}
	for _, so := range m.Objects {
		rel, ok := strings.CutPrefix(so.Name, folder)
		if !ok || rel == "" || strings.Contains(rel, "/") {
			return nil, fmt.Errorf("%w: %s lists %q, which is not in its folder", ErrInvalidManifest, name, so.Name)
		}
		o, err := decodeObject(so)
		if err != nil {
			return nil, fmt.Errorf("%w: %s: %w", ErrInvalidManifest, name, err)
		}
		j.objects[rel] = o
	}
	return j, nil
}

func decodeObject(so event.StoredObject) (object, error) {
	crc, err := event.DecodeCRC32C(so.CRC32C)
	if err != nil {
		return object{}, fmt.Errorf("%w: object %s: %w", ErrInvalidManifest, so.Name, err)
	}
	if so.Size < 0 {
		return object{}, fmt.Errorf("%w: object %s has a negative size", ErrInvalidManifest, so.Name)
	}
	return object{StoredObject: so, crc: crc}, nil
}

func (r *Reader) uri(name string) string { return "gs://" + r.bucket + "/" + name }

// open opens o, checked against its manifest entry as it streams.
func (r *Reader) open(ctx context.Context, o object) (io.ReadCloser, error) {
	rc, err := r.objects.Open(ctx, o.Name)
	if err != nil {
		if errors.Is(err, blob.ErrNotExist) {
			// Listed but absent: deleted (by a lifecycle rule, say) or
			// never there.
			return nil, fmt.Errorf("%w: %s is listed in its manifest but missing: %w", ErrCorrupt, r.uri(o.Name), err)
		}
		return nil, fmt.Errorf("failed to open %s: %w", r.uri(o.Name), err)
	}
	return &verifier{rc: rc, uri: r.uri(o.Name), size: o.Size, crc: o.crc}, nil
}

// read returns the whole content of o, checked.
func (r *Reader) read(ctx context.Context, o object) ([]byte, error) {
	rc, err := r.open(ctx, o)
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	var buf bytes.Buffer
	// One byte more than listed, so that a longer object is read far
	// enough for the verifier to notice.
	buf.Grow(int(o.Size) + 1)
	if _, err := buf.ReadFrom(rc); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// Object returns the manifest entry of the job's object called name,
// relative to Folder ("results.jsonl", "video-1.mp4").
func (j *Job) Object(name string) (event.StoredObject, bool) {
	o, ok := j.objects[name]
	return o.StoredObject, ok
}

// Open streams the job's object called name, relative to Folder. The
// reader ends with an error wrapping ErrCorrupt, instead of io.EOF, when
// the content does not match the manifest; the caller closes it.
func (j *Job) Open(ctx context.Context, name string) (io.ReadCloser, error) {
	o, err := j.object(name)
	if err != nil {
		return nil, err
	}
	return j.r.open(ctx, o)
}

func (j *Job) object(name string) (object, error) {
	o, ok := j.objects[name]
	if !ok {
		why := ""
		if j.Manifest.Error != nil {
			why = " (the job ended " + string(j.Manifest.State) + ": " + j.Manifest.Error.Message + ")"
		}
		return object{}, fmt.Errorf("%w: %s %s has no %s%s", ErrNotStored, j.Manifest.Kind, j.Manifest.Resource, name, why)
	}
	return o, nil
}

// readDocument returns the whole object called name, at most
// MaxDocumentSize bytes.
func (j *Job) readDocument(ctx context.Context, name string) ([]byte, error) {
	o, err := j.object(name)
	if err != nil {
		return nil, err
	}
	if o.Size > MaxDocumentSize {
		return nil, fmt.Errorf("results: %s is %d bytes, more than the %d read whole; stream it with Open", j.r.uri(o.Name), o.Size, MaxDocumentSize)
	}
	return j.r.read(ctx, o)
}

// Videos returns the names, relative to Folder, of the videos of a video
// job in order: video-1.mp4, video-2.mp4, … (materializer.VideoName).
// Empty for other jobs and for a generation that failed.
func (j *Job) Videos() []string {
	var names []string
	for n := 1; ; n++ {
		name := materializer.VideoName(n)
		if _, ok := j.objects[name]; !ok {
			return names
		}
		names = append(names, name)
	}
}
