package idempotency

import (
	"context"
	"errors"
	"fmt"
	"time"

	"go.opentelemetry.io/otel/attribute"

	"github.com/geminihooks/geminihooks/pkg/tracing"
)

// Ledger is what Once needs of a ledger; Firestore and Memory are both one.
type Ledger interface {
	Claim(ctx context.Context, key string) (Claim, error)
	MarkPublished(ctx context.Context, c Claim, messageID string) error
	Release(ctx context.Context, c Claim) error
}

var (
	_ Ledger = (*Firestore)(nil)
	_ Ledger = (*Memory)(nil)
)

// ErrClaimFailed is wrapped by Once's error when the key could not be
// claimed: nothing was published, and trying again later is safe.
var ErrClaimFailed = errors.New("the ledger could not be asked for a claim")

// Steps bound the steps of Once, each on its own.
type Steps struct {
	// Ledger bounds the claim, the mark, the release and Once's also
	// function, each.
	Ledger time.Duration
	// Publish bounds the publish.
	Publish time.Duration
}

// Result is what Once did.
type Result struct {
	// Claim is the claim Once made: publish ran only if its Outcome is
	// Claimed. Duplicate means another process published already; InFlight
	// that one is publishing now.
	Claim Claim
	// MessageID is the id of the published message.
	MessageID string
	// MarkErr is set when the message is out but the claim could not be
	// marked published: its lease expires and a later claim publishes a
	// second copy, which subscribers de-duplicate by event id.
	MarkErr error
	// AlsoErr is the error of Once's also function.
	AlsoErr error
}

// Once publishes at most once per key, across processes: it claims key and,
// when it wins the claim, calls publish; then it marks the claim published
// with the message id (calling also, when given, beside the mark: the two
// are independent, so the caller waits for the slower one only) or, when
// publish failed, releases the claim so that the next attempt can claim at
// once instead of waiting out the lease. A Duplicate or InFlight claim is
// returned without publishing.
//
// Each step runs on its own deadline, detached from ctx's cancellation: a
// claim made or a publish done must be followed by its release or mark even
// if the caller gives up, and a step that used up its time must not leave
// the next a spent context. Without a deadline a stalled Firestore would hold
// the caller for its client's default. On a Memory ledger, which cannot
// stall, the ledger steps and also run one after another without deadlines.
//
// The error is set only when nothing was published: the claim failed
// (wrapping ErrClaimFailed), or publish failed (its error, joined with the
// release's if that failed too; the lease then expires on its own). A
// publish that timed out may still be stored by Pub/Sub; the release then
// lets a later attempt publish a second copy, which subscribers de-duplicate
// by event id.
func Once(ctx context.Context, l Ledger, key string, steps Steps,
	publish func(ctx context.Context) (string, error),
	also func(ctx context.Context, messageID string) error,
) (Result, error) {
	detached := context.WithoutCancel(ctx)
	// A ledger in this process's memory answers in microseconds: a
	// deadline (a timer) per step and a goroutine to overlap the mark with
	// also would cost more than they could save.
	_, local := l.(inProcess)
	ledgerStep := func(f func(context.Context)) {
		if local {
			f(detached)
			return
		}
		withTimeout(detached, steps.Ledger, f)
	}
	var res Result
	var err error
	ledgerStep(func(ctx context.Context) {
		ctx, span := tracing.Start(ctx, SpanClaim)
		res.Claim, err = l.Claim(ctx, key)
		if err == nil && span.IsRecording() {
			span.SetAttributes(attribute.String("ledger.outcome", res.Claim.Outcome.String()))
		}
		tracing.End(span, err)
	})
	if err != nil {
		return res, fmt.Errorf("%w: %w", ErrClaimFailed, err)
	}
	if res.Claim.Outcome != Claimed {
		return res, nil
	}
	withTimeout(detached, steps.Publish, func(ctx context.Context) { res.MessageID, err = publish(ctx) })
	if err != nil {
		var rerr error
		ledgerStep(func(ctx context.Context) {
			ctx, span := tracing.Start(ctx, SpanRelease)
			rerr = l.Release(ctx, res.Claim)
			tracing.End(span, rerr)
		})
		return res, errors.Join(err, rerr)
	}
	// The mark has no span of its own: it runs beside the caller's also
	// function after the publish, and each span costs the receiver about
	// one percent of its throughput (BenchmarkReceiverTracing).
	mark := func() {
		ledgerStep(func(ctx context.Context) { res.MarkErr = l.MarkPublished(ctx, res.Claim, res.MessageID) })
	}
	if also == nil {
		mark()
		return res, nil
	}
	alsoStep := func() { ledgerStep(func(ctx context.Context) { res.AlsoErr = also(ctx, res.MessageID) }) }
	if local {
		alsoStep()
		mark()
		return res, nil
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		alsoStep()
	}()
	mark()
	<-done
	return res, nil
}

// inProcess is implemented by ledgers that keep their records in this
// process's memory.
type inProcess interface{ inProcess() }

// Names of the spans of Once's ledger steps, children of the span in its
// context.
const (
	SpanClaim   = "ledger claim"
	SpanRelease = "ledger release"
)

// withTimeout calls f with ctx bounded by d.
func withTimeout(ctx context.Context, d time.Duration, f func(context.Context)) {
	ctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	f(ctx)
}
