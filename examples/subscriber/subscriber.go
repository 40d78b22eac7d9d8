package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"path"
	"sync"
	"sync/atomic"
	"time"

	"cloud.google.com/go/pubsub/v2"

	"github.com/geminihooks/geminihooks/pkg/blob"
	"github.com/geminihooks/geminihooks/pkg/event"
	"github.com/geminihooks/geminihooks/pkg/results"
)

// Summaries is where the subscriber writes its summaries, write-once:
// blob.GCS for a bucket, blob.Dir for a directory.
type Summaries interface {
	// Create writes a new object, or leaves an existing one as it is and
	// reports Created false.
	Create(ctx context.Context, name, contentType string, r io.Reader) (blob.Object, error)
	// Stat returns an object's attributes, or an error wrapping
	// blob.ErrNotExist.
	Stat(ctx context.Context, name string) (blob.Object, error)
}

var (
	_ Summaries = (*blob.GCS)(nil)
	_ Summaries = (*blob.Dir)(nil)
	_ Summaries = (*blob.Memory)(nil)
)

// Summary is what the subscriber writes for each job: the request counts
// of a batch, read from its results, or what else the job left.
type Summary struct {
	// EventID is the id of the results event summarized.
	EventID string `json:"event_id"`
	// Type is the event's type: dev.geminihooks.results.stored or
	// dev.geminihooks.results.failed.
	Type string `json:"type"`
	// Kind, Resource and State are the job's, from the event.
	Kind     event.Kind  `json:"kind"`
	Resource string      `json:"resource"`
	State    event.State `json:"state"`
	// Folder is the job's folder, when something was stored.
	Folder string `json:"folder,omitempty"`
	// Requests, Succeeded and Failed count the lines of a batch's results.
	Requests  int64 `json:"requests"`
	Succeeded int64 `json:"succeeded"`
	Failed    int64 `json:"failed"`
	// Citations counts the sources of a Deep Research report.
	Citations int `json:"citations,omitempty"`
	// Videos counts the videos of a video job.
	Videos int `json:"videos,omitempty"`
	// Error is why the job has no results: the job's own error from its
	// manifest, or the materializer's from a results.failed event.
	Error *event.Failure `json:"error,omitempty"`
	// SummarizedAt is when the summary was made.
	SummarizedAt time.Time `json:"summarized_at"`
}

// Outcome is what Handle did with a message.
type Outcome string

// Outcomes of Handle. Every outcome but Retried acknowledges the message.
const (
	// Written: the summary was written.
	Written Outcome = "written"
	// Duplicate: this process handled the event id already.
	Duplicate Outcome = "duplicate"
	// AlreadyStored: the job's summary exists, written for an earlier
	// delivery, by another instance or before a restart.
	AlreadyStored Outcome = "already_stored"
	// Retried: handling failed and the message was nacked.
	Retried Outcome = "retried"
)

// Subscriber summarizes the jobs that results events announce.
type Subscriber struct {
	reader    *results.Reader
	summaries Summaries
	prefix    string
	logger    *slog.Logger
	now       func() time.Time
	seen      *recentIDs

	written, duplicates, retried atomic.Int64
}

// NewSubscriber returns a Subscriber reading jobs with reader and writing
// summaries under prefix in summaries.
func NewSubscriber(reader *results.Reader, summaries Summaries, prefix string, logger *slog.Logger) (*Subscriber, error) {
	switch {
	case reader == nil:
		return nil, errors.New("subscriber: missing results reader")
	case summaries == nil:
		return nil, errors.New("subscriber: missing summary store")
	case logger == nil:
		return nil, errors.New("subscriber: missing logger")
	case prefix == "" || blob.ValidateName(prefix) != nil:
		return nil, fmt.Errorf("subscriber: %q is not an object name prefix", prefix)
	}
	return &Subscriber{reader: reader, summaries: summaries, prefix: prefix, logger: logger, now: time.Now, seen: newRecentIDs(recentIDsKept)}, nil
}

// Handle is the Receive callback. It acknowledges m only once its summary
// is durable (or was already), and nacks it when anything fails, so that
// Pub/Sub redelivers it: a transient failure passes on a later attempt,
// and a message that keeps failing moves to the subscription's
// dead-letter topic after its maximum delivery attempts.
func (s *Subscriber) Handle(ctx context.Context, m *pubsub.Message) Outcome {
	id, outcome, err := s.process(ctx, m.Data)
	if err != nil {
		s.retried.Add(1)
		s.logger.WarnContext(ctx, "results event not handled; nacked for redelivery", slog.String("message_id", m.ID),
			slog.String("event_id", id), slog.String("error", err.Error()))
		m.Nack()
		return Retried
	}
	// With exactly-once delivery, a successful ack guarantees no
	// redelivery; a failed one means the message comes back, and finds its
	// summary stored.
	if _, err := m.AckWithResult().Get(ctx); err != nil {
		s.logger.WarnContext(ctx, "ack failed; the redelivery will find the summary stored", slog.String("event_id", id), slog.String("error", err.Error()))
		return outcome
	}
	s.seen.add(id)
	switch outcome {
	case Written:
		s.written.Add(1)
	default:
		s.duplicates.Add(1)
	}
	return outcome
}

// process summarizes the job a results event announces, unless its summary
// exists, and returns the event's id.
func (s *Subscriber) process(ctx context.Context, data []byte) (string, Outcome, error) {
	ev, err := event.DecodeResults(data)
	if err != nil {
		return "", "", err
	}
	// De-duplication on the event id, within this process: a duplicate
	// publish or a redelivery skips even the Stat below.
	if s.seen.has(ev.ID) {
		return ev.ID, Duplicate, nil
	}
	// Across processes the summary itself is the record: named after the
	// job and written once, it makes every later copy harmless.
	name := s.summaryName(ev)
	switch _, err := s.summaries.Stat(ctx, name); {
	case err == nil:
		return ev.ID, AlreadyStored, nil
	case !errors.Is(err, blob.ErrNotExist):
		return ev.ID, "", fmt.Errorf("failed to look for %s: %w", name, err)
	}
	sum, err := s.summarize(ctx, ev)
	if err != nil {
		return ev.ID, "", err
	}
	body, err := json.MarshalIndent(sum, "", "  ")
	if err != nil {
		return ev.ID, "", fmt.Errorf("failed to encode the summary: %w", err)
	}
	obj, err := s.summaries.Create(ctx, name, "application/json", bytes.NewReader(append(body, '\n')))
	if err != nil {
		return ev.ID, "", fmt.Errorf("failed to write %s: %w", name, err)
	}
	if !obj.Created {
		// Another instance handled a copy of the event meanwhile.
		return ev.ID, AlreadyStored, nil
	}
	s.logger.InfoContext(ctx, "summary written", slog.String("event_id", ev.ID), slog.String("resource", ev.Data.Resource),
		slog.String("summary", obj.URI), slog.Int64("succeeded", sum.Succeeded), slog.Int64("failed", sum.Failed))
	return ev.ID, Written, nil
}

// summarize reads the job's results.
func (s *Subscriber) summarize(ctx context.Context, ev *event.Results) (*Summary, error) {
	sum := &Summary{EventID: ev.ID, Type: ev.Type, Kind: ev.Data.Kind, Resource: ev.Data.Resource,
		State: ev.Data.State, Folder: ev.Data.Prefix, Error: ev.Data.Error, SummarizedAt: s.now().UTC()}
	if ev.Data.Manifest == "" {
		return sum, nil // a results.failed event that stored nothing
	}
	job, err := s.reader.Open(ctx, ev)
	if err != nil {
		return nil, err
	}
	if job.Manifest.Error != nil {
		sum.Error = job.Manifest.Error
		return sum, nil
	}
	switch job.Manifest.Kind {
	case event.KindBatch:
		for line, err := range job.Lines(ctx) {
			if err != nil {
				// A damaged line or object: count nothing, so that no
				// summary is ever written from part of the results.
				return nil, err
			}
			sum.Requests++
			if line.Error != nil {
				sum.Failed++
			} else {
				sum.Succeeded++
			}
		}
	case event.KindInteraction:
		citations, err := job.Citations(ctx)
		if err != nil {
			return nil, err
		}
		sum.Citations = len(citations)
	case event.KindVideo:
		sum.Videos = len(job.Videos())
	}
	return sum, nil
}

// summaryName names the summary of the job ev is about:
// <prefix>/<kind>/<resource id>.json.
func (s *Subscriber) summaryName(ev *event.Results) string {
	name := path.Join(s.prefix, string(ev.Data.Kind), path.Base(ev.Data.Resource)+".json")
	if blob.ValidateName(name) != nil {
		// Resource names are validated upstream; this keeps an odd one from
		// failing forever.
		h := sha256.Sum256([]byte(ev.Data.Resource))
		name = path.Join(s.prefix, string(ev.Data.Kind), "id-"+hex.EncodeToString(h[:8])+".json")
	}
	return name
}

// Stats are the Subscriber's counts so far.
type Stats struct {
	// Written counts the summaries written and acknowledged.
	Written int64
	// Duplicates counts the messages acknowledged without writing: the
	// event was handled, or its job summarized, already.
	Duplicates int64
	// Retried counts the messages nacked.
	Retried int64
}

// Stats returns the counts of acknowledged summaries written, acknowledged
// duplicates and nacked messages.
func (s *Subscriber) Stats() Stats {
	return Stats{Written: s.written.Load(), Duplicates: s.duplicates.Load(), Retried: s.retried.Load()}
}

// recentIDsKept bounds the event ids remembered: duplicates arrive within
// minutes; older ones are caught by the stored summary.
const recentIDsKept = 10000

// recentIDs remembers the last n ids added.
type recentIDs struct {
	mu    sync.Mutex
	ids   map[string]struct{}
	order []string // ring
	next  int
}

func newRecentIDs(n int) *recentIDs {
	return &recentIDs{ids: make(map[string]struct{}, n), order: make([]string, n)}
}

func (r *recentIDs) add(id string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, ok := r.ids[id]; ok {
		return
	}
	delete(r.ids, r.order[r.next])
	r.order[r.next] = id
	r.ids[id] = struct{}{}
	r.next = (r.next + 1) % len(r.order)
}

func (r *recentIDs) has(id string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	_, ok := r.ids[id]
	return ok
}
