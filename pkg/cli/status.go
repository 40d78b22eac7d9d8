package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/geminihooks/geminihooks/pkg/blob"
	"github.com/geminihooks/geminihooks/pkg/config"
	"github.com/geminihooks/geminihooks/pkg/event"
	"github.com/geminihooks/geminihooks/pkg/materializer"
)

// maxManifestBytes bounds the manifest read; real ones are a few KiB.
const maxManifestBytes = 4 << 20

var statusCmd = &Command{
	Name:  "status",
	Usage: "status <job> [--bucket B | --data DIR] [--wait D] [flags]",
	Short: "find a job's manifest in the results bucket and print where its artifacts are",
	Long:  helpText("status"),
	Run:   runStatus,
}

// statusObject is one artifact as status reports it.
type statusObject struct {
	Name     string `json:"name"`
	Size     int64  `json:"size"`
	URI      string `json:"uri"`
	Location string `json:"location,omitempty"` // where it is on disk, for --data
	Present  bool   `json:"present"`
}

// statusResult is status's --json output.
type statusResult struct {
	Job         string                 `json:"job"`
	Kind        event.Kind             `json:"kind"`
	ManifestURI string                 `json:"manifest_uri"`
	Manifest    *materializer.Manifest `json:"manifest"`
	Objects     []statusObject         `json:"objects"`
}

func runStatus(ctx context.Context, env *Env, c *Command, args []string) error {
	fs := newFlagSet(env, c)
	bucket := fs.String("bucket", "", "results `BUCKET` (default $RESULTS_BUCKET)")
	prefix := fs.String("prefix", "", "results folder (default $RESULTS_PREFIX, else "+strconv.Quote(materializer.DefaultPrefix)+")")
	data := fs.String("data", "", "read a local results `DIR` instead of Cloud Storage")
	kindFlag := fs.String("kind", "", "job kind for a bare id: batch, interaction or video")
	job := fs.String("job", "", "the `JOB`, as a flag (as for tail) instead of an argument")
	wait := fs.Duration("wait", 0, "wait up to `DURATION` for the manifest to appear; exit 3 if it does not")
	asJSON := fs.Bool("json", false, "print the manifest and objects as JSON")
	pos, err := parseFlags(env, c, fs, args)
	if err != nil {
		return err
	}
	if *job != "" {
		pos = append(pos, *job)
	}
	if len(pos) != 1 {
		return usageErrorf("want exactly one job, got %d", len(pos))
	}
	if *wait < 0 {
		return usageErrorf("--wait must not be negative")
	}
	candidates, err := jobFolders(pos[0], event.Kind(*kindFlag))
	if err != nil {
		return err
	}
	pfx := *prefix
	if pfx == "" {
		pfx = env.Getenv(config.EnvResultsPrefix)
	}
	store, where, closeStore, err := openResults(ctx, env, *data, *bucket)
	if err != nil {
		return err
	}
	defer func() { _ = closeStore() }()
	manifest, found, err := waitManifest(ctx, env, store, where, pfx, candidates, *wait)
	if err != nil {
		return err
	}
	res := statusResult{Job: pos[0], Kind: found.kind, Manifest: manifest}
	manifestName := materializer.JobFolder(pfx, found.kind, found.id) + materializer.ManifestName
	if res.Objects, res.ManifestURI, err = checkObjects(ctx, store, manifest, manifestName, *data != ""); err != nil {
		return err
	}

	if *asJSON {
		if err := writeJSON(env.Stdout, res); err != nil {
			return err
		}
	} else {
		printStatus(env.Stdout, res)
	}
	for _, o := range res.Objects {
		if !o.Present {
			return &ExitError{Code: ExitFailure, Err: fmt.Errorf("%s is listed in the manifest but missing from %s", o.Name, where)}
		}
	}
	return nil
}

// openResults opens the local results directory data or, when it is empty,
// the results bucket (--bucket, else RESULTS_BUCKET), and says where it is.
func openResults(ctx context.Context, env *Env, data, bucket string) (store blob.Store, where string, closeStore func() error, err error) {
	if data != "" {
		// blob.NewDir would create a directory that is not there.
		if info, err := os.Stat(data); err != nil || !info.IsDir() {
			return nil, "", nil, usageErrorf("--data %s: no such directory; give the local runner's --data directory", data)
		}
		d, err := blob.NewDir(data)
		if err != nil {
			return nil, "", nil, fmt.Errorf("failed to open %s: %w", data, err)
		}
		return d, d.Root(), func() error { return nil }, nil
	}
	if bucket == "" {
		bucket = env.Getenv(config.EnvResultsBucket)
	}
	if bucket == "" {
		return nil, "", nil, usageErrorf("no bucket: pass --bucket, set %s, or read a local directory with --data", config.EnvResultsBucket)
	}
	client, err := newStorageClient(ctx, env)
	if err != nil {
		return nil, "", nil, err
	}
	g, err := blob.NewGCS(client, bucket, blob.GCSOptions{})
	if err != nil {
		return nil, "", nil, errors.Join(usageErrorf("%v", err), client.Close())
	}
	return g, "gs://" + bucket, client.Close, nil
}

// findManifest reads the manifest of the first candidate folder that has
// one.
func findManifest(ctx context.Context, store blob.Store, where, pfx string, candidates []jobFolder) (*materializer.Manifest, jobFolder, error) {
	var tried []string
	for _, cand := range candidates {
		name := materializer.JobFolder(pfx, cand.kind, cand.id) + materializer.ManifestName
		tried = append(tried, name)
		m, err := readManifest(ctx, store, name)
		if errors.Is(err, blob.ErrNotExist) {
			continue
		}
		if err != nil {
			return nil, jobFolder{}, err
		}
		return m, cand, nil
	}
	return nil, jobFolder{}, fmt.Errorf("%w: no manifest in %s at %s: the job was not materialized (yet), or the id or --kind is wrong",
		ErrNotFound, where, strings.Join(tried, ", "))
}

// statusPollInterval is how often status --wait looks for the manifest.
const statusPollInterval = 500 * time.Millisecond

// waitManifest is findManifest, tried again until wait has passed while
// there is no manifest yet.
func waitManifest(ctx context.Context, env *Env, store blob.Store, where, pfx string, candidates []jobFolder, wait time.Duration) (*materializer.Manifest, jobFolder, error) {
	deadline := time.Now().Add(wait)
	announced := false
	for {
		m, found, err := findManifest(ctx, store, where, pfx, candidates)
		if !errors.Is(err, ErrNotFound) || wait == 0 {
			return m, found, err
		}
		left := time.Until(deadline)
		if left <= 0 {
			return nil, jobFolder{}, fmt.Errorf("%w; gave up after --wait %s", err, wait)
		}
		if !announced {
			fmt.Fprintf(env.Stderr, "waiting up to %s for the manifest in %s…\n", wait, where)
			announced = true
		}
		t := time.NewTimer(min(statusPollInterval, left))
		select {
		case <-ctx.Done():
			t.Stop()
			return nil, jobFolder{}, fmt.Errorf("%w; stopped waiting: %w", err, ctx.Err())
		case <-t.C:
		}
	}
}

// checkObjects looks up every object the manifest lists, and the manifest
// itself, in store; local says store is a directory rather than the bucket.
// It also returns the manifest's URI.
func checkObjects(ctx context.Context, store blob.Store, manifest *materializer.Manifest, manifestName string, local bool) ([]statusObject, string, error) {
	objects := []statusObject{}
	var manifestURI string
	names := make([]string, 0, len(manifest.Objects)+1)
	sizes := map[string]event.StoredObject{}
	for _, o := range manifest.Objects {
		names = append(names, o.Name)
		sizes[o.Name] = o
	}
	if _, listed := sizes[manifestName]; !listed {
		names = append(names, manifestName)
	}
	for _, name := range names {
		so := statusObject{Name: name, URI: sizes[name].URI, Size: sizes[name].Size}
		obj, err := store.Stat(ctx, name)
		switch {
		case err == nil:
			// Report where the object was found: the bucket read (which
			// may be a copy of the one the manifest names), or the file.
			so.Present = true
			if local {
				so.Location = obj.URI
			}
			if !local || so.URI == "" {
				so.URI = obj.URI
			}
			if _, listed := sizes[name]; !listed {
				so.Size = obj.Size
			}
		case errors.Is(err, blob.ErrNotExist):
		default:
			return nil, "", fmt.Errorf("failed to look up %s: %w", name, err)
		}
		if name == manifestName {
			manifestURI = so.URI
		}
		objects = append(objects, so)
	}
	return objects, manifestURI, nil
}

func printStatus(w io.Writer, res statusResult) {
	m := res.Manifest
	tw := newTable(w)
	tw.row("job", m.Resource)
	tw.row("kind", string(m.Kind))
	tw.row("state", string(m.State))
	if m.Counts != nil {
		tw.row("requests", fmt.Sprintf("%d (%d succeeded, %d failed)", m.Counts.Requests, m.Counts.Succeeded, m.Counts.Failed))
	}
	if m.Error != nil {
		kind := "transient, gave up"
		if m.Error.Permanent {
			kind = "permanent"
		}
		tw.row("error", fmt.Sprintf("%s: %s (%s)", m.Error.Code, m.Error.Message, kind))
	}
	tw.row("event", m.SourceEventID)
	tw.row("manifest", strings.TrimPrefix(res.ManifestURI, "file://"))
	if t := m.Timings; !t.StartedAt.IsZero() {
		s := "received " + t.EventReceivedAt.UTC().Format(time.RFC3339)
		if t.JobCompletedAt != nil {
			s = "completed " + t.JobCompletedAt.UTC().Format(time.RFC3339) + ", " + s
		}
		if t.StoredAt != nil {
			s += ", stored " + t.StoredAt.UTC().Format(time.RFC3339)
		}
		tw.row("timings", fmt.Sprintf("%s (materialized in %dms)", s, t.DurationMS))
	}
	tw.row("bytes", humanBytes(m.Bytes))
	tw.flush()

	fmt.Fprintln(w)
	ot := newTable(w)
	ot.row("OBJECT", "SIZE", "URI")
	for _, o := range res.Objects {
		// A local directory's files are shown as paths, ready to open.
		uri := o.URI
		if o.Location != "" {
			uri = strings.TrimPrefix(o.Location, "file://")
		}
		if !o.Present {
			uri += "  MISSING"
		}
		name := o.Name
		if i := strings.LastIndexByte(name, '/'); i >= 0 {
			name = name[i+1:]
		}
		ot.row(name, humanBytes(o.Size), uri)
	}
	ot.flush()
}

// readManifest reads and decodes one manifest.
func readManifest(ctx context.Context, store blob.Store, name string) (*materializer.Manifest, error) {
	r, err := store.Open(ctx, name)
	if err != nil {
		if errors.Is(err, blob.ErrNotExist) {
			return nil, err
		}
		return nil, fmt.Errorf("failed to read %s: %w", name, err)
	}
	defer r.Close()
	b, err := io.ReadAll(io.LimitReader(r, maxManifestBytes))
	if err != nil {
		return nil, fmt.Errorf("failed to read %s: %w", name, err)
	}
	var m materializer.Manifest
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, fmt.Errorf("failed to decode %s: %w", name, err)
	}
	return &m, nil
}

// jobFolder is one place a job's results may be.
type jobFolder struct {
	kind event.Kind
	id   string
}

// jobFolders returns where the job named by ref may be stored: one folder
// for a resource name or a given kind, one per kind for a bare id.
func jobFolders(ref string, kind event.Kind) ([]jobFolder, error) {
	ref = strings.Trim(strings.TrimSpace(ref), "/")
	if ref == "" {
		return nil, usageErrorf("empty job")
	}
	switch kind {
	case "", event.KindBatch, event.KindInteraction, event.KindVideo:
	default:
		return nil, usageErrorf("--kind must be batch, interaction or video, got %q", kind)
	}
	segs := strings.Split(ref, "/")
	id := segs[len(segs)-1]
	inferred := event.Kind("")
	switch {
	case len(segs) == 2 && segs[0] == "batches":
		inferred = event.KindBatch
	case len(segs) == 2 && segs[0] == "interactions":
		inferred = event.KindInteraction
	case len(segs) >= 2 && segs[len(segs)-2] == "operations":
		inferred = event.KindVideo
	case len(segs) > 1:
		return nil, usageErrorf("cannot tell the kind of %q: want batches/ID, interactions/ID, models/M/operations/ID or a bare id", ref)
	}
	if id == "" || id == "." || id == ".." || strings.ContainsAny(id, `\`) {
		return nil, usageErrorf("invalid job id in %q", ref)
	}
	if inferred != "" && kind != "" && inferred != kind {
		return nil, usageErrorf("%q is a %s, not a %s", ref, inferred, kind)
	}
	if kind == "" {
		kind = inferred
	}
	if kind != "" {
		return []jobFolder{{kind, id}}, nil
	}
	return []jobFolder{{event.KindBatch, id}, {event.KindInteraction, id}, {event.KindVideo, id}}, nil
}
