package reconciler

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"go.opentelemetry.io/otel/codes"

	"github.com/geminihooks/geminihooks/pkg/event"
	"github.com/geminihooks/geminihooks/pkg/gemini"
	"github.com/geminihooks/geminihooks/pkg/idempotency"
	"github.com/geminihooks/geminihooks/pkg/publish"
	"github.com/geminihooks/geminihooks/pkg/registry"
	"github.com/geminihooks/geminihooks/pkg/tracing"
)

// Why a pass stopped early (Summary.StopReason). What it did not reach is
// found again by the next pass.
const (
	// StopRateLimited: the Gemini API answered 429.
	StopRateLimited = "rate_limited"
	// StopAPIKeyRejected: the Gemini API refused the API key (401, 403 or
	// API_KEY_INVALID); every further call would fail too.
	StopAPIKeyRejected = "api_key_rejected"
	// StopCallBudget: the pass made Options.MaxCalls calls.
	StopCallBudget = "call_budget"
	// StopDeadline: Options.Timeout, or the caller's context, ended.
	StopDeadline = "deadline"
	// StopLedger: the delivery ledger could not be asked for a claim.
	StopLedger = "ledger_unavailable"
	// StopPublish: an event could not be published.
	StopPublish = "publish_failed"
	// StopRegistry: the job registry could not be read or written.
	StopRegistry = "registry_unavailable"
)

// Summary is what a pass did. Its JSON form is the HTTP handler's answer.
type Summary struct {
	// WebhooksDisabled counts the webhooks Gemini disabled after failed
	// deliveries; WebhooksReenabled those the pass turned back on.
	WebhooksDisabled  int `json:"webhooks_disabled"`
	WebhooksReenabled int `json:"webhooks_reenabled"`
	// Listed counts the batches listed within the look-back window.
	Listed int `json:"listed"`
	// ListComplete reports that the listing reached the end of the
	// look-back window; false when the page cap or an early stop cut it.
	ListComplete bool `json:"list_complete"`
	// Checked counts the registered jobs polled.
	Checked int `json:"checked"`
	// GapsFilled counts the completion events this pass published: jobs
	// whose webhook never came.
	GapsFilled int `json:"gaps_filled"`
	// AlreadyPublished counts finished jobs whose event was out already
	// (a webhook came after all); the registry is told.
	AlreadyPublished int `json:"already_published"`
	// Running counts polled jobs still running, polled again later.
	Running int `json:"running"`
	// Failed counts registered jobs recorded failed: unknown to the API,
	// or a video operation that failed.
	Failed int `json:"failed"`
	// Deferred counts finished jobs left to the next pass: they ended
	// within the grace period (their webhook may still come), or another
	// process holds their claim.
	Deferred int `json:"deferred"`
	// Errors counts failures that did not stop the pass.
	Errors int `json:"errors"`
	// APICalls counts the pass's calls to the Gemini API.
	APICalls int `json:"api_calls"`
	// Duration is how long the pass took.
	Duration time.Duration `json:"-"`
	// StoppedEarly reports that the pass did not get through everything,
	// and StopReason (a Stop* constant) says why.
	StoppedEarly bool   `json:"stopped_early"`
	StopReason   string `json:"stop_reason,omitempty"`
}

// MarshalJSON writes the summary with its duration in milliseconds.
func (s Summary) MarshalJSON() ([]byte, error) {
	type fields Summary
	return json.Marshal(struct {
		fields
		DurationMS int64 `json:"duration_ms"`
	}{fields(s), s.Duration.Milliseconds()})
}

// attrs are the summary's log attributes.
func (s Summary) attrs() []any {
	return []any{
		slog.Int("webhooks_disabled", s.WebhooksDisabled), slog.Int("webhooks_reenabled", s.WebhooksReenabled),
		slog.Int("listed", s.Listed), slog.Bool("list_complete", s.ListComplete), slog.Int("checked", s.Checked),
		slog.Int("gaps_filled", s.GapsFilled), slog.Int("already_published", s.AlreadyPublished),
		slog.Int("running", s.Running), slog.Int("failed", s.Failed), slog.Int("deferred", s.Deferred),
		slog.Int("errors", s.Errors), slog.Int("api_calls", s.APICalls), slog.Duration("duration", s.Duration),
		slog.Bool("stopped_early", s.StoppedEarly), slog.String("stop_reason", s.StopReason),
	}
}

// Pass runs one reconcile pass (see the package documentation) and logs its
// summary. The error is set only when the pass stopped before it could do
// anything (wrapping ErrNothingDone); a pass that stopped half-way returns
// its Summary, with StoppedEarly set, and no error.
func (r *Reconciler) Pass(ctx context.Context) (Summary, error) {
	start := r.opts.Now()
	ctx, span := tracing.StartRoot(ctx, r.tracer, SpanPass)
	defer span.End()
	ctx, cancel := context.WithTimeout(ctx, r.opts.Timeout)
	defer cancel()
	p := &pass{r: r, now: start, running: map[string]bool{}}
	p.webhooks(ctx)
	p.batches(ctx)
	p.registered(ctx)
	p.s.Duration = r.opts.Now().Sub(start)

	attrs := p.s.attrs()
	level := slog.LevelInfo
	if p.s.StoppedEarly {
		level = slog.LevelWarn
		attrs = append(attrs, slog.String("error", p.cause.Error()))
	}
	if span.IsRecording() {
		span.SetAttributes(tracing.Attributes(attrs)...)
	}
	if p.s.StoppedEarly {
		span.SetStatus(codes.Error, p.s.StopReason)
	}
	r.logger.Log(ctx, level, MsgPass, attrs...)
	if p.s.StoppedEarly && !p.progressed {
		return p.s, fmt.Errorf("%w: %s: %w", ErrNothingDone, p.s.StopReason, p.cause)
	}
	return p.s, nil
}

// pass is the state of one pass.
type pass struct {
	r   *Reconciler
	now time.Time // the pass's start, which windows are measured from
	s   Summary
	// running holds the keys of batches the listing showed running, which
	// need no poll of their own.
	running map[string]bool
	// progressed is set by the first call that succeeded.
	progressed bool
	// cause is why the pass stopped early.
	cause error
}

func (p *pass) stopped() bool { return p.s.StoppedEarly }

func (p *pass) stop(reason string, err error) {
	if p.s.StoppedEarly {
		return
	}
	if err == nil {
		err = errors.New(reason)
	}
	p.s.StoppedEarly, p.s.StopReason, p.cause = true, reason, err
}

// spend takes one call from the budget; false stops the pass.
func (p *pass) spend(ctx context.Context) bool {
	switch {
	case p.stopped():
		return false
	case ctx.Err() != nil:
		p.stop(StopDeadline, ctx.Err())
		return false
	case p.s.APICalls >= p.r.opts.MaxCalls:
		p.stop(StopCallBudget, fmt.Errorf("the pass made its %d calls", p.r.opts.MaxCalls))
		return false
	}
	p.s.APICalls++
	return true
}

// apiFailed handles a failed call to the Gemini API: it stops the pass
// (halts) or counts and logs the failure.
func (p *pass) apiFailed(ctx context.Context, err error, attrs ...any) {
	if !p.halts(ctx, err) {
		p.failed(ctx, err, attrs...)
	}
}

// halts stops the pass when err means that every further call would fail
// too: a rate limit, a refused key, the deadline. It reports whether it did.
func (p *pass) halts(ctx context.Context, err error) bool {
	switch apiErr, ok := errors.AsType[*gemini.APIError](err); {
	case ctx.Err() != nil:
		p.stop(StopDeadline, err)
	case ok && apiErr.Status == http.StatusTooManyRequests:
		p.stop(StopRateLimited, err)
	case ok && (apiErr.Status == http.StatusUnauthorized || apiErr.Status == http.StatusForbidden || apiErr.Reason == "API_KEY_INVALID"):
		p.stop(StopAPIKeyRejected, err)
	default:
		return false
	}
	return true
}

// failed counts and logs a failure that does not stop the pass.
func (p *pass) failed(ctx context.Context, err error, attrs ...any) {
	p.s.Errors++
	p.r.logger.WarnContext(ctx, "reconcile: Gemini API call failed", append(attrs, slog.String("error", err.Error()))...)
}

// bounded runs f with ctx bounded by the ledger timeout: registry and
// ledger calls each get their own deadline, as in the receiver.
func (p *pass) bounded(ctx context.Context, f func(context.Context) error) error {
	ctx, cancel := context.WithTimeout(ctx, p.r.opts.LedgerTimeout)
	defer cancel()
	return f(ctx)
}

// recent reports whether a job that ended at end did so within the grace
// period, so that its webhook may still come. Unknown is not recent.
func (p *pass) recent(end time.Time) bool {
	return !end.IsZero() && end.After(p.now.Add(-p.r.opts.Grace))
}

// finished is a job found finished, and what its completion event says.
type finished struct {
	typ          string
	resource     string
	errCode      string
	errMessage   string
	userMetadata map[string]any
	// via says how it was found: "listing" or "poll".
	via string
}

// fill publishes a finished job's completion event, marked reconciled,
// through the job's claim: the same claim the receiver makes for its
// webhook, so whichever of the two comes second is a duplicate.
func (p *pass) fill(ctx context.Context, f finished) {
	n := &event.Notification{Type: f.typ, ID: f.resource, UserMetadata: f.userMetadata, ErrorCode: f.errCode, ErrorMessage: f.errMessage}
	ev, err := event.Normalize(n, event.Meta{Scheme: event.SchemeAPI, ReceivedAt: p.r.opts.Now()})
	var data []byte
	if err == nil {
		data, err = ev.MarshalJSON()
	}
	ref, ok := event.JobRef{}, false
	if err == nil {
		if ref, ok = ev.Job(); !ok {
			err = fmt.Errorf("%s names no job", f.resource)
		}
	}
	if err != nil {
		// A name the API gave that no event can carry: nothing to retry.
		p.s.Errors++
		p.r.logger.ErrorContext(ctx, "reconcile: no completion event can be built", slog.String("resource", f.resource),
			slog.String("event_type", f.typ), slog.String("error", err.Error()))
		return
	}
	attrs := []any{slog.String("resource", ev.Data.Resource), slog.String("event_type", f.typ),
		slog.String("event_id", ev.ID), slog.String("found_by", f.via)}
	msg := publish.Message{Data: data, Attributes: ev.Attributes(), OrderingKey: ev.OrderingKey()}
	notice := registry.Notice{Ref: ref, Resource: ev.Data.Resource, EventID: ev.ID, Reconciled: true, UserMetadata: ev.Data.UserMetadata}
	once, err := idempotency.Once(ctx, p.r.ledger, idempotency.JobKey(ref),
		idempotency.Steps{Ledger: p.r.opts.LedgerTimeout, Publish: p.r.opts.PublishTimeout},
		func(ctx context.Context) (string, error) { return p.r.publisher.Publish(ctx, msg) },
		func(ctx context.Context, _ string) error { return p.r.jobs.Notified(ctx, notice) })
	switch {
	case errors.Is(err, idempotency.ErrClaimFailed):
		p.stop(StopLedger, err)
		return
	case err != nil:
		p.stop(StopPublish, err)
		return
	}
	switch once.Claim.Outcome {
	case idempotency.Duplicate:
		// The event is out (its webhook came after all, or an earlier pass
		// published it) but the registry missed it: tell it, so the job is
		// not looked at again.
		p.s.AlreadyPublished++
		notice.Reconciled = false
		if err := p.bounded(ctx, func(ctx context.Context) error { return p.r.jobs.Notified(ctx, notice) }); err != nil {
			p.stop(StopRegistry, err)
		}
		return
	case idempotency.InFlight:
		// Its webhook is being handled right now; the next pass sees how
		// that ended.
		p.s.Deferred++
		return
	}
	p.progressed = true
	p.s.GapsFilled++
	attrs = append(attrs, slog.String("message_id", once.MessageID))
	if once.MarkErr != nil {
		attrs = append(attrs, slog.String("mark_error", once.MarkErr.Error()))
	}
	if once.AlsoErr != nil {
		attrs = append(attrs, slog.String("registry_error", once.AlsoErr.Error()))
	}
	p.r.logger.WarnContext(ctx, MsgGapFilled, attrs...)
}

// webhooks lists the project's webhooks and reports (and, when asked,
// re-enables) those Gemini disabled after failed deliveries.
func (p *pass) webhooks(ctx context.Context) {
	token := ""
	for p.spend(ctx) {
		page, err := p.r.webhooks.ListWebhooks(ctx, webhookPageSize, token)
		if err != nil {
			p.apiFailed(ctx, err, slog.String("call", "list webhooks"))
			return
		}
		p.progressed = true
		for _, h := range page.Webhooks {
			if h.State != gemini.WebhookDisabledDueToFailedDeliveries {
				continue
			}
			p.s.WebhooksDisabled++
			attrs := []any{slog.String("webhook_id", h.ID), slog.String("webhook_name", h.Name), slog.String("uri", h.URI)}
			if p.r.opts.ReenableWebhooks && p.spend(ctx) {
				if err := p.r.webhooks.EnableWebhook(ctx, h.ID); err != nil {
					attrs = append(attrs, slog.String("reenable_error", err.Error()))
					p.apiFailed(ctx, err, slog.String("call", "enable webhook"), slog.String("webhook_id", h.ID))
				} else {
					p.s.WebhooksReenabled++
					attrs = append(attrs, slog.Bool("reenabled", true))
				}
			}
			p.r.logger.ErrorContext(ctx, MsgWebhookDisabled, attrs...)
		}
		if page.NextPageToken == "" {
			return
		}
		token = page.NextPageToken
	}
}
