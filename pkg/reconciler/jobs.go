package reconciler

import (
	"context"
	"fmt"
	"log/slog"
	"strconv"
	"time"

	"github.com/geminihooks/geminihooks/pkg/event"
	"github.com/geminihooks/geminihooks/pkg/gemini"
	"github.com/geminihooks/geminihooks/pkg/registry"
)

// batchStates maps the end states of a batch to the event state that
// reports them. PARTIALLY_SUCCEEDED is reported as succeeded (Undocumented:
// which event Gemini sends for it; the materializer stores such a batch like
// a succeeded one).
var batchStates = map[string]event.State{
	gemini.BatchSucceeded:          event.StateSucceeded,
	gemini.BatchPartiallySucceeded: event.StateSucceeded,
	gemini.BatchFailed:             event.StateFailed,
	gemini.BatchCancelled:          event.StateCancelled,
	gemini.BatchExpired:            event.StateExpired,
}

// batchEnd returns when a batch ended, as far as the API says.
func batchEnd(b *gemini.Batch) time.Time {
	if !b.EndTime.IsZero() {
		return b.EndTime
	}
	return b.UpdateTime
}

// batchFinished returns the completion event of a finished batch; false
// when its state has no event.
func batchFinished(b *gemini.Batch, via string, userMetadata map[string]any) (finished, bool) {
	typ, ok := event.TypeFor(event.KindBatch, batchStates[b.State])
	if !ok {
		return finished{}, false
	}
	f := finished{typ: typ, resource: b.Name, via: via, userMetadata: userMetadata}
	if b.State == gemini.BatchFailed && b.Error != nil {
		// The webhook's error_code and error_message; a cancelled or
		// expired batch carries an error too, by the long-running
		// operation convention, but its webhook has none.
		f.errCode, f.errMessage = strconv.Itoa(b.Error.Code), b.Error.Message
	}
	return f, true
}

// batches pages through the project's batches, newest first, back to the
// look-back window or the page cap, and fills the gap of each finished
// batch the registry does not know as notified, stored or failed.
func (p *pass) batches(ctx context.Context) {
	cutoff := p.now.Add(-p.r.opts.LookBack)
	token := ""
	for pages := 0; ; pages++ {
		if pages == p.r.opts.MaxPages || !p.spend(ctx) {
			return
		}
		page, err := p.r.api.ListBatches(ctx, p.r.opts.PageSize, token)
		if err != nil {
			// Without this page there is no next one.
			p.apiFailed(ctx, err, slog.String("call", "list batches"))
			return
		}
		p.progressed = true
		var candidates []*gemini.Batch
		var refs []event.JobRef
		for i := range page.Batches {
			b := &page.Batches[i]
			if pastWindow(b, cutoff) {
				continue
			}
			p.s.Listed++
			ref, ok := event.ParseJob(event.KindBatch, b.Name)
			switch {
			case !ok:
				continue // ListBatches checked the names
			case !b.Done:
				p.running[ref.Key()] = true
			case p.recent(batchEnd(b)):
				p.s.Deferred++ // its webhook may still come
			default:
				candidates = append(candidates, b)
				refs = append(refs, ref)
			}
		}
		var known map[string]registry.Job
		if err := p.bounded(ctx, func(ctx context.Context) (err error) { known, err = p.r.jobs.GetAll(ctx, refs); return err }); err != nil {
			p.stop(StopRegistry, err)
			return
		}
		for i, b := range candidates {
			rec, ok := known[refs[i].Key()]
			if ok && rec.State != registry.StatePending {
				continue // its event is out
			}
			f, ok := batchFinished(b, "listing", rec.UserMetadata)
			if !ok {
				p.s.Errors++
				p.r.logger.WarnContext(ctx, "reconcile: batch ended in a state no event reports", slog.String("resource", b.Name), slog.String("state", b.State))
				continue
			}
			if p.fill(ctx, f); p.stopped() {
				return
			}
		}
		// Newest first: once a page reaches past the window, so does the
		// rest of the listing. A batch without a creation time says
		// nothing about the ones after it.
		if n := len(page.Batches); page.NextPageToken == "" || n > 0 && pastWindow(&page.Batches[n-1], cutoff) {
			p.s.ListComplete = true
			return
		}
		token = page.NextPageToken
	}
}

// pastWindow reports whether b was created before the look-back window
// began; a batch the API gives no creation time is within it.
func pastWindow(b *gemini.Batch, cutoff time.Time) bool {
	return !b.CreateTime.IsZero() && b.CreateTime.Before(cutoff)
}

// registered polls the registered jobs still pending past their expected
// completion plus the grace period, the most overdue first, within what is
// left of the call budget.
func (p *pass) registered(ctx context.Context) {
	if p.stopped() {
		return
	}
	// One more than the budget allows, to tell a budget that ran out from
	// one that sufficed.
	limit := p.r.opts.MaxCalls - p.s.APICalls + 1
	var due []registry.Job
	if err := p.bounded(ctx, func(ctx context.Context) (err error) {
		due, err = p.r.jobs.Overdue(ctx, p.now.Add(-p.r.opts.Grace), limit)
		return err
	}); err != nil {
		p.stop(StopRegistry, err)
		return
	}
	for _, j := range due {
		if p.running[j.Ref.Key()] {
			// The listing showed it running moments ago.
			p.s.Running++
			p.recheck(ctx, j)
		} else if p.spend(ctx) {
			p.poll(ctx, j)
		}
		if p.stopped() {
			return
		}
	}
}

// poll fetches one registered job and acts on what the API says.
func (p *pass) poll(ctx context.Context, j registry.Job) {
	var (
		f       finished
		done    bool
		ok      bool
		end     time.Time
		failure string // set for a job that ended without an event to report it
		err     error
	)
	switch j.Ref.Kind {
	case event.KindBatch:
		var b *gemini.Batch
		if b, err = p.r.api.GetBatch(ctx, j.Resource); err == nil && b.Done {
			done, end = true, batchEnd(b)
			if f, ok = batchFinished(b, "poll", j.UserMetadata); !ok {
				failure = "the batch ended in state " + b.State + ", which no event reports"
			}
		}
	case event.KindInteraction:
		var it *gemini.Interaction
		if it, err = p.r.api.GetInteraction(ctx, j.Ref.ID); err == nil {
			f, done = interactionFinished(it, j.UserMetadata)
			end, _ = time.Parse(time.RFC3339Nano, it.Updated)
		}
	case event.KindVideo:
		var op *gemini.VideoOperation
		if op, err = p.r.api.GetVideoOperation(ctx, j.Resource); err == nil && op.Done {
			done = true
			if op.Error != nil {
				// The catalog has no event for a failed video generation:
				// the registry records the failure instead.
				failure = fmt.Sprintf("video generation failed: code %d: %s", op.Error.Code, op.Error.Message)
			} else {
				f = finished{typ: event.TypeVideoGenerated, resource: op.Name, via: "poll", userMetadata: j.UserMetadata}
			}
		}
	default:
		err = fmt.Errorf("registry record of unknown kind %q", j.Ref.Kind)
	}
	attrs := []any{slog.String("resource", j.Resource), slog.String("kind", string(j.Ref.Kind))}
	switch {
	case err != nil && p.halts(ctx, err):
		// The job stays overdue for the next pass.
	case err != nil && !gemini.IsTransient(err):
		// A permanent answer about the job (404, a malformed name) will
		// not change: polling it again would never end.
		p.s.Failed++
		p.recordFailed(ctx, j, err.Error())
	case err != nil:
		p.failed(ctx, err, append(attrs, slog.String("call", "poll job"))...)
		p.recheck(ctx, j)
	case !done:
		p.s.Checked++
		p.s.Running++
		p.recheck(ctx, j)
	case failure != "":
		p.s.Checked++
		p.s.Failed++
		p.recordFailed(ctx, j, failure)
	case p.recent(end):
		p.s.Checked++
		p.s.Deferred++ // its webhook may still come; it stays overdue
	default:
		p.s.Checked++
		p.fill(ctx, f)
	}
}

// interactionFinished returns the completion event of an interaction that
// ended; false while it runs (or waits for the user: requires_action is
// not an end).
func interactionFinished(it *gemini.Interaction, userMetadata map[string]any) (finished, bool) {
	f := finished{resource: "interactions/" + it.ID, via: "poll", userMetadata: userMetadata}
	switch it.Status {
	case gemini.InteractionCompleted:
		f.typ = event.TypeInteractionCompleted
	case gemini.InteractionCancelled:
		f.typ = event.TypeInteractionCancelled
	case gemini.InteractionFailed:
		f.typ = event.TypeInteractionFailed
		if len(it.Errors) > 0 {
			f.errCode, f.errMessage = it.Errors[0].Code, it.Errors[0].Message
		}
	case gemini.InteractionIncomplete, gemini.InteractionBudgetExceeded:
		// Undocumented: which event, if any, Gemini sends when an
		// interaction stops short; it did not complete, so it is reported
		// failed, with the status as its error code.
		f.typ, f.errCode = event.TypeInteractionFailed, it.Status
		f.errMessage = "the interaction ended with status " + it.Status
	default:
		return finished{}, false
	}
	return f, true
}

// recheck schedules the next poll of a job that is still running (or
// could not be polled): the
// first waits RecheckMin, each next one twice as long, up to RecheckMax.
func (p *pass) recheck(ctx context.Context, j registry.Job) {
	wait := p.r.opts.RecheckMin
	for range min(j.Checks, 32) {
		if wait >= p.r.opts.RecheckMax {
			break
		}
		wait *= 2
	}
	next := p.now.Add(min(wait, p.r.opts.RecheckMax))
	if err := p.bounded(ctx, func(ctx context.Context) error { return p.r.jobs.Checked(ctx, j.Ref, next) }); err != nil {
		p.stop(StopRegistry, err)
	}
}

// recordFailed ends a registered job failed, with why.
func (p *pass) recordFailed(ctx context.Context, j registry.Job, reason string) {
	p.r.logger.WarnContext(ctx, "reconcile: registered job recorded failed", slog.String("resource", j.Resource),
		slog.String("kind", string(j.Ref.Kind)), slog.String("reason", reason))
	if err := p.bounded(ctx, func(ctx context.Context) error { return p.r.jobs.Failed(ctx, j.Ref, j.Resource, reason) }); err != nil {
		p.stop(StopRegistry, err)
	}
}
