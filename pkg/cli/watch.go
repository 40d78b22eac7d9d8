package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/geminihooks/geminihooks/pkg/event"
	"github.com/geminihooks/geminihooks/pkg/gemini"
	"github.com/geminihooks/geminihooks/pkg/registry"
)

var watchCmd = &Command{
	Name:  "watch",
	Usage: "watch RESOURCE... [--project P] [--json]",
	Short: "register jobs created elsewhere, so that one whose webhook never comes is noticed",
	Long:  helpText("watch"),
	Run:   runWatch,
}

// runningInteraction are the statuses of an interaction that has not ended.
var runningInteraction = map[string]bool{
	gemini.InteractionInProgress: true, gemini.InteractionQueued: true, gemini.InteractionRequiresContinuation: true,
}

// watchedJob is one job as watch reports it, and its --json output.
type watchedJob struct {
	Job   string     `json:"job"`
	Kind  event.Kind `json:"kind"`
	State string     `json:"state"`
	Done  bool       `json:"done"`
	// Created is false when the registry knew the job already; Registry
	// is then its record's state and origin.
	Created    bool      `json:"created"`
	Registry   string    `json:"registry_state"`
	Origin     string    `json:"origin"`
	ExpectedAt time.Time `json:"expected_at"`

	ref     event.JobRef
	started time.Time
}

func runWatch(ctx context.Context, env *Env, c *Command, args []string) error {
	fs := newFlagSet(env, c)
	project := fs.String("project", "", "project of the job registry (default $GOOGLE_CLOUD_PROJECT)")
	asJSON := fs.Bool("json", false, "print the jobs as JSON")
	pos, err := parseFlags(env, c, fs, args)
	if err != nil {
		return err
	}
	if len(pos) == 0 {
		return usageErrorf("name at least one job: batches/ID, interactions/ID or models/MODEL/operations/ID")
	}
	// Every name is checked before anything is fetched or registered.
	jobs := make([]*watchedJob, 0, len(pos))
	seen := map[event.JobRef]bool{}
	for _, arg := range pos {
		j, err := parseWatchResource(arg)
		if err != nil {
			return err
		}
		if !seen[j.ref] {
			seen[j.ref] = true
			jobs = append(jobs, j)
		}
	}
	api, err := newJobFetcher(ctx, env)
	if err != nil {
		return err
	}
	reg, err := openJobRegistry(ctx, env, *project)
	if err != nil {
		return err
	}
	defer func() {
		if err := reg.close(); err != nil {
			fmt.Fprintf(env.Stderr, "warning: failed to close the Firestore client: %v\n", err)
		}
	}()

	// Every job must exist before any is registered.
	for _, j := range jobs {
		if err := fetchWatched(ctx, api, j); err != nil {
			return err
		}
	}
	now := time.Now()
	for i, j := range jobs {
		j.ExpectedAt = watchExpectedAt(j, now)
		got, created, err := reg.Register(ctx, registry.Job{Ref: j.ref, Resource: j.Job, Origin: registry.OriginWatched, ExpectedAt: j.ExpectedAt})
		if err != nil {
			done := make([]string, 0, i)
			for _, d := range jobs[:i] {
				done = append(done, d.Job)
			}
			return fmt.Errorf("failed to register %s in the %s (registered before it: %s; registering is idempotent, so run the command again once the cause is fixed): %w",
				j.Job, reg.where, orPlaceholder(strings.Join(done, ", "), "none"), err)
		}
		j.Created, j.Registry, j.Origin, j.ExpectedAt = created, string(got.State), string(got.Origin), got.ExpectedAt.UTC()
	}

	if *asJSON {
		return writeJSON(env.Stdout, struct {
			Registry string        `json:"registry"`
			Jobs     []*watchedJob `json:"jobs"`
		}{reg.where, jobs})
	}
	printWatched(env.Stdout, jobs, reg.where)
	return nil
}

// parseWatchResource reads a job's resource name; its form says its kind.
func parseWatchResource(arg string) (*watchedJob, error) {
	name := strings.TrimSpace(arg)
	var (
		kind     event.Kind
		resource string
		err      error
	)
	switch {
	case strings.Contains(name, "://"):
		return nil, usageErrorf("%q is a URL: give the job's resource name (batches/ID, interactions/ID or models/MODEL/operations/ID)", arg)
	case strings.HasPrefix(name, "batches/"):
		kind = event.KindBatch
		resource, err = gemini.BatchName(name)
	case strings.HasPrefix(name, "interactions/"):
		kind = event.KindInteraction
		var id string
		id, err = gemini.InteractionID(name)
		resource = "interactions/" + id
	case strings.HasPrefix(name, "models/"):
		kind = event.KindVideo
		resource, err = gemini.OperationName(name)
	case strings.HasPrefix(name, "operations/"):
		return nil, usageErrorf("%q names a video operation without its model: give models/MODEL/operations/ID, the only form the API can fetch", arg)
	default:
		return nil, usageErrorf("cannot tell the kind of job %q: give batches/ID, interactions/ID or models/MODEL/operations/ID", arg)
	}
	if err != nil {
		return nil, usageErrorf("%q is not a valid %s resource name: %v", arg, kind, err)
	}
	ref, ok := event.ParseJob(kind, resource)
	if !ok {
		return nil, usageErrorf("%q is not a valid %s resource name", arg, kind)
	}
	return &watchedJob{Job: resource, Kind: kind, ref: ref}, nil
}

// fetchWatched GETs j from the Gemini API and fills in its state.
func fetchWatched(ctx context.Context, api *gemini.Client, j *watchedJob) error {
	var err error
	switch j.Kind {
	case event.KindBatch:
		var b *gemini.Batch
		if b, err = api.GetBatch(ctx, j.Job); err == nil {
			j.State, j.Done, j.started = b.State, b.Done, b.CreateTime
		}
	case event.KindInteraction:
		var in *gemini.Interaction
		if in, err = api.GetInteraction(ctx, strings.TrimPrefix(j.Job, "interactions/")); err == nil {
			j.State, j.Done = in.Status, !runningInteraction[in.Status]
			j.started, _ = time.Parse(time.RFC3339Nano, in.Created)
		}
	case event.KindVideo:
		var op *gemini.VideoOperation
		if op, err = api.GetVideoOperation(ctx, j.Job); err == nil {
			// Operations have no state, only done and an error.
			switch j.State, j.Done = "running", op.Done; {
			case op.Done && op.Error != nil:
				j.State = "failed"
			case op.Done:
				j.State = "done"
			}
		}
	}
	if err == nil {
		return nil
	}
	if apiErr, ok := errors.AsType[*gemini.APIError](err); ok && apiErr.Status == 404 {
		return fmt.Errorf("%w: the Gemini API does not know %s (%s); nothing was registered", ErrNotFound, j.Job, apiErr.Message)
	}
	return fmt.Errorf("failed to look up %s; nothing was registered: %w", j.Job, err)
}

// watchExpectedAt is when a watched job should have finished: now for one
// that has (the reconciler then checks at once that its completion event
// came), else its start plus the usual duration of its kind, and never
// earlier than now.
func watchExpectedAt(j *watchedJob, now time.Time) time.Time {
	at := now
	if !j.Done {
		start := j.started
		if start.IsZero() {
			start = now
		}
		at = start.Add(expectedDuration(j.Kind))
		if at.Before(now) {
			at = now
		}
	}
	return at.UTC().Truncate(time.Second)
}

func printWatched(w io.Writer, jobs []*watchedJob, where string) {
	t := newTable(w)
	t.row("JOB", "KIND", "STATE", "REGISTRY")
	for _, j := range jobs {
		reg := fmt.Sprintf("registered, expected by %s", j.ExpectedAt.Format(time.RFC3339))
		if j.Done {
			reg = "registered; already finished, so due at once"
		}
		if !j.Created {
			reg = fmt.Sprintf("already known (%s, %s)", j.Registry, j.Origin)
		}
		t.row(j.Job, string(j.Kind), j.State, reg)
	}
	t.flush()
	fmt.Fprintf(w, "\nRegistry: %s.\n", where)
}
