// Package reconciler is the safety net for lost webhooks: a pass, run on a
// schedule, finds Gemini jobs that finished without a completion event and
// publishes one for each, through the same per-job claim as the receiver, so
// that a job gets exactly one completion event whichever of the two sees it
// first.
//
// A pass
//
//   - lists the project's webhooks and logs an ERROR ([MsgWebhookDisabled])
//     for each that Gemini disabled after failed deliveries, re-enabling it
//     when [Options].ReenableWebhooks says so;
//   - pages through the project's batches, newest first, as far back as
//     [Options].LookBack and at most [Options].MaxPages pages, and fills the
//     gap of every finished batch the job registry does not know as
//     notified, stored or failed (one registry read per page);
//   - polls the registered jobs still pending past their expected completion
//     plus [Options].Grace (interactions and video operations cannot be
//     listed, so this is the only way to find theirs): a finished one gets
//     its event, a running one is polled again later with a backoff, and one
//     the API does not know ends failed in the registry with the API's
//     error instead of being polled forever;
//   - stops early, losing nothing, on a 429, on its call budget
//     ([Options].MaxCalls) or its deadline: what it did not reach stays
//     unpublished or pending, and the next pass finds it again;
//   - logs one summary line ([MsgPass]) and returns a [Summary].
//
// Events it publishes are marked reconciled (data.delivery.reconciled and
// the reconciled attribute; scheme "api"), and each is logged as a WARNING
// ([MsgGapFilled]): a gap filled is a webhook that never came.
//
// The reconciler makes no retries within a pass (its Gemini client should
// not either): whatever fails is found by the next pass, which is kinder to a
// rate limit than retrying at once.
package reconciler

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"go.opentelemetry.io/otel/trace"

	"github.com/geminihooks/geminihooks/pkg/event"
	"github.com/geminihooks/geminihooks/pkg/gemini"
	"github.com/geminihooks/geminihooks/pkg/idempotency"
	"github.com/geminihooks/geminihooks/pkg/publish"
	"github.com/geminihooks/geminihooks/pkg/registry"
	"github.com/geminihooks/geminihooks/pkg/tracing"
)

// Gemini reads jobs from the Gemini API.
type Gemini interface {
	ListBatches(ctx context.Context, pageSize int, pageToken string) (*gemini.BatchPage, error)
	GetBatch(ctx context.Context, id string) (*gemini.Batch, error)
	GetInteraction(ctx context.Context, id string) (*gemini.Interaction, error)
	GetVideoOperation(ctx context.Context, name string) (*gemini.VideoOperation, error)
}

// Webhooks reads the project's webhooks, and re-enables one.
type Webhooks interface {
	ListWebhooks(ctx context.Context, pageSize int, pageToken string) (*gemini.WebhookPage, error)
	EnableWebhook(ctx context.Context, id string) error
}

// Ledger is the delivery ledger the receiver claims terminal events on.
type Ledger interface {
	Claim(ctx context.Context, key string) (idempotency.Claim, error)
	MarkPublished(ctx context.Context, c idempotency.Claim, messageID string) error
	Release(ctx context.Context, c idempotency.Claim) error
}

// Publisher sends one message to the events topic and waits for the ack.
type Publisher interface {
	Publish(ctx context.Context, m publish.Message) (string, error)
}

// Registry is the job registry: what is known of each job, which jobs are
// overdue, and what a pass learnt.
type Registry interface {
	GetAll(ctx context.Context, refs []event.JobRef) (map[string]registry.Job, error)
	Overdue(ctx context.Context, before time.Time, limit int) ([]registry.Job, error)
	Notified(ctx context.Context, n registry.Notice) error
	Checked(ctx context.Context, ref event.JobRef, next time.Time) error
	Failed(ctx context.Context, n registry.Notice, reason string) error
}

// The Gemini API is played by the simulator in tests and locally, behind
// the same *gemini.Client; the ledger, publisher and registry have memory
// implementations.
var (
	_ Gemini    = (*gemini.Client)(nil)
	_ Webhooks  = (*gemini.Client)(nil)
	_ Ledger    = (*idempotency.Firestore)(nil)
	_ Ledger    = (*idempotency.Memory)(nil)
	_ Publisher = (*publish.PubSub)(nil)
	_ Publisher = (*publish.Memory)(nil)
	_ Registry  = (*registry.Registry)(nil)
)

// Stable log messages: Terraform's log-based metrics match them exactly.
const (
	// MsgWebhookDisabled is logged at ERROR for each webhook in state
	// disabled_due_to_failed_deliveries: Gemini delivers nothing to it.
	MsgWebhookDisabled = "webhook disabled after failed deliveries"
	// MsgGapFilled is logged at WARNING for each completion event the
	// reconciler published: the job's webhook never came.
	MsgGapFilled = "gap filled: completion event published without its webhook"
	// MsgPass is the summary line of each pass.
	MsgPass = "reconcile pass"
)

// Defaults of Options.
const (
	// DefaultLookBack reaches past Gemini's 48-hour batch expiry, so a
	// batch is listed until well after it can last have changed.
	DefaultLookBack = 72 * time.Hour
	// DefaultPageSize batches are listed per call.
	DefaultPageSize = 100
	// DefaultMaxPages bounds the listing: 1,000 batches per pass with the
	// default page size.
	DefaultMaxPages = 10
	// DefaultMaxCalls bounds a pass's calls to the Gemini API.
	DefaultMaxCalls = 200
	// DefaultGrace is how long a webhook may take after the job finished
	// (or was expected to) before the reconciler steps in.
	DefaultGrace = 15 * time.Minute
	// DefaultRecheckMin and DefaultRecheckMax bound the backoff between
	// polls of a registered job that is still running: the first poll
	// waits DefaultRecheckMin, each next one twice as long.
	DefaultRecheckMin = 10 * time.Minute
	DefaultRecheckMax = 6 * time.Hour
	// DefaultTimeout bounds a pass.
	DefaultTimeout = 2 * time.Minute
	// DefaultPublishTimeout and DefaultLedgerTimeout bound each step of
	// publishing one event, as in the receiver.
	DefaultPublishTimeout = 5 * time.Second
	DefaultLedgerTimeout  = 2 * time.Second
)

// webhookPageSize is the WebhookService's largest page: a project has few
// webhooks, so one call lists them all.
const webhookPageSize = 1000

// ErrInvalidOptions is wrapped by New's errors about Options.
var ErrInvalidOptions = errors.New("invalid reconciler options")

// ErrNothingDone is wrapped by Pass's error when the pass stopped before it
// could do anything: the Gemini API, the registry, the ledger or Pub/Sub
// failed at the first call. Running the pass again later is safe.
var ErrNothingDone = errors.New("reconcile pass stopped before doing anything")

// Options tunes a Reconciler; zero values take the defaults.
type Options struct {
	// LookBack is how far back batches are listed (DefaultLookBack). It
	// must stay below LedgerTTL and RegistryTTL: a batch older than the
	// ledger's memory of its event would be published a second time.
	LookBack time.Duration
	// PageSize is the number of batches asked for per call
	// (DefaultPageSize).
	PageSize int
	// MaxPages caps the batch pages of a pass (DefaultMaxPages).
	MaxPages int
	// MaxCalls caps a pass's calls to the Gemini API, listing included
	// (DefaultMaxCalls); it must leave room for the batch pages, the
	// webhook listing and a job poll.
	MaxCalls int
	// Grace is how long after a job finished, or was expected to, its
	// webhook may still come (DefaultGrace).
	Grace time.Duration
	// RecheckMin and RecheckMax bound the backoff between polls of a job
	// that is still running (DefaultRecheckMin, DefaultRecheckMax).
	RecheckMin, RecheckMax time.Duration
	// ReenableWebhooks turns webhooks that Gemini disabled after failed
	// deliveries back on. Off by default: the endpoint probably still
	// fails, and an operator should look first.
	ReenableWebhooks bool
	// LedgerTTL and RegistryTTL are the delivery ledger's and the job
	// registry's TTLs (idempotency.DefaultTTL, registry.DefaultTTL), which
	// LookBack must stay below.
	LedgerTTL, RegistryTTL time.Duration
	// Timeout bounds a pass (DefaultTimeout).
	Timeout time.Duration
	// PublishTimeout and LedgerTimeout bound each step of publishing an
	// event (DefaultPublishTimeout, DefaultLedgerTimeout).
	PublishTimeout, LedgerTimeout time.Duration
	// Now is the clock (time.Now).
	Now func() time.Time
	// Tracer records a span per pass, with a child per Gemini API call,
	// registry read and publish (default: none recorded).
	Tracer trace.TracerProvider
}

// SpanPass is the name of a pass's root span.
const SpanPass = "reconcile pass"

func (o Options) withDefaults() (Options, error) {
	for _, d := range []struct {
		v   *time.Duration
		def time.Duration
	}{
		{&o.LookBack, DefaultLookBack}, {&o.Grace, DefaultGrace}, {&o.RecheckMin, DefaultRecheckMin},
		{&o.RecheckMax, DefaultRecheckMax}, {&o.LedgerTTL, idempotency.DefaultTTL}, {&o.RegistryTTL, registry.DefaultTTL},
		{&o.Timeout, DefaultTimeout}, {&o.PublishTimeout, DefaultPublishTimeout}, {&o.LedgerTimeout, DefaultLedgerTimeout},
	} {
		if *d.v == 0 {
			*d.v = d.def
		}
	}
	for _, n := range []struct {
		v   *int
		def int
	}{{&o.PageSize, DefaultPageSize}, {&o.MaxPages, DefaultMaxPages}, {&o.MaxCalls, DefaultMaxCalls}} {
		if *n.v == 0 {
			*n.v = n.def
		}
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	var errs []error
	add := func(format string, args ...any) {
		errs = append(errs, fmt.Errorf("%w: "+format, append([]any{ErrInvalidOptions}, args...)...))
	}
	if o.LookBack < 0 || o.Grace < 0 || o.RecheckMin < 0 || o.RecheckMax < 0 || o.Timeout < 0 ||
		o.PublishTimeout < 0 || o.LedgerTimeout < 0 || o.PageSize < 0 || o.MaxPages < 0 || o.MaxCalls < 0 {
		add("durations and counts must not be negative")
	}
	if o.LookBack >= o.LedgerTTL || o.LookBack >= o.RegistryTTL {
		add("look-back %s must be shorter than the ledger's TTL (%s) and the registry's (%s), or a batch found again after its records expired would get a second event",
			o.LookBack, o.LedgerTTL, o.RegistryTTL)
	}
	if o.Grace >= o.LookBack {
		add("grace %s must be shorter than the look-back %s", o.Grace, o.LookBack)
	}
	if o.RecheckMin > o.RecheckMax {
		add("recheck minimum %s exceeds the maximum %s", o.RecheckMin, o.RecheckMax)
	}
	if o.MaxCalls < o.MaxPages+2 {
		add("call budget %d must exceed the page cap %d by at least 2 (the webhook listing and one job poll)", o.MaxCalls, o.MaxPages)
	}
	return o, errors.Join(errs...)
}

// Reconciler runs reconcile passes. It is safe for concurrent use, and two
// passes at once (two instances) are safe too: every event goes through
// the job's claim.
type Reconciler struct {
	api       Gemini
	webhooks  Webhooks
	ledger    Ledger
	publisher Publisher
	jobs      Registry
	logger    *slog.Logger
	tracer    trace.Tracer
	opts      Options
}

// New returns a Reconciler; every dependency is required.
func New(api Gemini, webhooks Webhooks, l Ledger, p Publisher, jobs Registry, logger *slog.Logger, opts Options) (*Reconciler, error) {
	switch {
	case api == nil:
		return nil, errors.New("reconciler: missing Gemini API client")
	case webhooks == nil:
		return nil, errors.New("reconciler: missing webhook lister")
	case l == nil:
		return nil, errors.New("reconciler: missing ledger")
	case p == nil:
		return nil, errors.New("reconciler: missing publisher")
	case jobs == nil:
		return nil, errors.New("reconciler: missing job registry")
	case logger == nil:
		return nil, errors.New("reconciler: missing logger")
	}
	opts, err := opts.withDefaults()
	if err != nil {
		return nil, err
	}
	return &Reconciler{api: api, webhooks: webhooks, ledger: l, publisher: p, jobs: jobs, logger: logger,
		tracer: tracing.Tracer(opts.Tracer), opts: opts}, nil
}
