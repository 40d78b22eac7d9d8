package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"time"

	"cloud.google.com/go/pubsub/v2"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/geminihooks/geminihooks/pkg/config"
	"github.com/geminihooks/geminihooks/pkg/event"
)

// Progress of submit --wait: redrawn in place this often on a terminal,
// printed as a new line this often elsewhere (a log, a CI job).
const (
	progressTerminal = time.Second
	progressLog      = time.Minute
)

// resultsWaiter reads the results topic through a temporary subscription,
// created before the job so that its results event cannot be missed.
type resultsWaiter struct {
	client *pubsub.Client
	topic  string
	sub    string
	remove func()
}

// openResultsWaiter subscribes to topic (default RESULTS_TOPIC, else the
// deployment's default) in project (default GOOGLE_CLOUD_PROJECT).
func openResultsWaiter(ctx context.Context, env *Env, project, topic string) (*resultsWaiter, error) {
	if topic == "" {
		cfg, err := deploymentConfig(ctx, env)
		if err != nil {
			return nil, err
		}
		topic = cfg.ResultsTopic
	}
	proj := projectOf(topic)
	if proj == "" {
		var err error
		if proj, err = projectID(env, project); err != nil {
			return nil, err
		}
	}
	client, err := newPubSubClient(ctx, env, proj)
	if err != nil {
		return nil, err
	}
	sub, remove, err := tempSubscription(ctx, env, client, proj, topic)
	if err != nil {
		_ = client.Close()
		return nil, err
	}
	return &resultsWaiter{client: client, topic: config.ResourceName(proj, "topics", topic), sub: sub, remove: remove}, nil
}

func (w *resultsWaiter) close() {
	w.remove()
	_ = w.client.Close()
}

// wait returns the results event of job ref, acknowledging every other
// message of the temporary subscription, while a progress line on standard
// error counts the time against expected. It gives up after timeout (0: when
// ctx ends).
func (w *resultsWaiter) wait(ctx context.Context, env *Env, ref event.JobRef, resource string, expected, timeout time.Duration) (*event.Results, error) {
	start := time.Now()
	rctx, stop := context.WithCancel(ctx)
	defer stop()
	if timeout > 0 {
		var cancel context.CancelFunc
		rctx, cancel = context.WithTimeout(rctx, timeout)
		defer cancel()
	}
	p := newWaitProgress(env.Stderr, resource, w.topic, expected, start)
	var wg sync.WaitGroup
	wg.Go(func() { p.run(rctx) })

	var (
		mu    sync.Mutex
		found *event.Results
	)
	err := w.client.Subscriber(w.sub).Receive(rctx, func(_ context.Context, m *pubsub.Message) {
		m.Ack() // the subscription is ours: nothing else reads it
		r, err := event.DecodeResults(m.Data)
		if err != nil {
			return
		}
		if got, ok := event.ParseJob(r.Data.Kind, r.Data.Resource); !ok || got != ref {
			return
		}
		mu.Lock()
		if found == nil {
			found = r
		}
		mu.Unlock()
		stop()
	})
	stop()
	wg.Wait()
	p.end()
	mu.Lock()
	defer mu.Unlock()
	if found != nil {
		return found, nil
	}
	switch {
	case err != nil && !errors.Is(err, context.Canceled) && !errors.Is(err, context.DeadlineExceeded):
		if status.Code(err) == codes.NotFound {
			return nil, fmt.Errorf("%w: the temporary subscription %s vanished while waiting", ErrNotFound, w.sub)
		}
		return nil, fmt.Errorf("failed to receive from %s: %w", w.sub, err)
	case errors.Is(rctx.Err(), context.DeadlineExceeded) && ctx.Err() == nil:
		return nil, &ExitError{Code: ExitFailure, Err: fmt.Errorf("timed out after %s waiting for the results of %s; it stays registered: check later with 'geminihooks status %s'",
			timeout, resource, resource)}
	}
	return nil, &ExitError{Code: ExitFailure, Err: fmt.Errorf("stopped waiting for the results of %s; it stays registered: check later with 'geminihooks status %s'", resource, resource)}
}

// waitProgress is the progress line of a wait.
type waitProgress struct {
	w        io.Writer
	terminal bool
	resource string
	topic    string
	expected time.Duration
	start    time.Time

	mu    sync.Mutex
	drawn bool
}

func newWaitProgress(w io.Writer, resource, topic string, expected time.Duration, start time.Time) *waitProgress {
	p := &waitProgress{w: w, terminal: isTerminal(w), resource: resource, topic: topic, expected: expected, start: start}
	fmt.Fprintf(w, "waiting for the results of %s on %s (a job like this usually takes up to %s)\n", resource, topic, spelledDuration(expected))
	return p
}

// run updates the line until ctx ends.
func (p *waitProgress) run(ctx context.Context) {
	every := progressLog
	if p.terminal {
		every = progressTerminal
	}
	tick := time.NewTicker(every)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-tick.C:
			p.show(now)
		}
	}
}

func (p *waitProgress) show(now time.Time) {
	p.mu.Lock()
	defer p.mu.Unlock()
	elapsed := now.Sub(p.start).Truncate(time.Second)
	line := fmt.Sprintf("waiting for %s: %s elapsed", p.resource, elapsed)
	if elapsed > p.expected {
		line += fmt.Sprintf(", longer than the usual %s", spelledDuration(p.expected))
	}
	if p.terminal {
		fmt.Fprintf(p.w, "\r%s\033[K", line)
		p.drawn = true
		return
	}
	fmt.Fprintln(p.w, line)
}

// end finishes a line redrawn in place.
func (p *waitProgress) end() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.drawn {
		fmt.Fprintln(p.w)
		p.drawn = false
	}
}

// printResults says where a job's artifacts landed, or why they could not
// be stored.
func printResults(w io.Writer, r *event.Results) {
	d := r.Data
	fmt.Fprintln(w)
	if r.Type == event.ResultsTypeFailed {
		fmt.Fprintf(w, "The results of %s could NOT be stored (%s).\n", d.Resource, event.ResultsEventFailed)
		if d.Error != nil {
			fmt.Fprintf(w, "  %s: %s\n", d.Error.Code, d.Error.Message)
		}
		if d.Manifest != "" {
			fmt.Fprintf(w, "Its manifest: %s\n", d.Manifest)
		}
		return
	}
	fmt.Fprintf(w, "The job ended %s; its results are stored in %s\n", d.State, d.Prefix)
	t := newTable(w)
	t.row("OBJECT", "SIZE", "URI")
	for _, o := range d.Objects {
		name := strings.TrimPrefix(o.Name, strings.TrimPrefix(d.Prefix, "gs://"+d.Bucket+"/"))
		t.row(name, humanBytes(o.Size), o.URI)
	}
	t.flush()
	if d.Counts != nil {
		fmt.Fprintf(w, "requests: %d (%d succeeded, %d failed)\n", d.Counts.Requests, d.Counts.Succeeded, d.Counts.Failed)
	}
}

// spelledDuration spells a whole number of hours, else of minutes or
// seconds, for prose.
func spelledDuration(d time.Duration) string {
	if d >= time.Hour && d%time.Hour == 0 {
		return fmt.Sprintf("%d hours", d/time.Hour)
	}
	return humanDuration(d)
}
