package reconciler_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/geminihooks/geminihooks/internal/geminisim"
	"github.com/geminihooks/geminihooks/pkg/event"
	"github.com/geminihooks/geminihooks/pkg/receiver"
	"github.com/geminihooks/geminihooks/pkg/reconciler"
	"github.com/geminihooks/geminihooks/pkg/registry"
	"github.com/geminihooks/geminihooks/pkg/signature"
)

// TestPass_rateLimitedHalfWayLosesNothing: a pass that meets a 429 stops
// where it is; the next passes carry on, and every finished job ends with
// exactly one completion event.
func TestPass_rateLimitedHalfWayLosesNothing(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{emulators: true, opts: reconciler.Options{PageSize: 10}})
	var want []string
	for i := range 25 {
		want = append(want, e.batch(fmt.Sprintf("b%02d", i), geminisim.BatchSucceeded))
	}
	for range 6 {
		id := e.interaction()
		_, err := e.sim.CompleteInteraction(id)
		e.check(err)
		e.register(event.KindInteraction, "interactions/"+id, t0, nil)
		want = append(want, "interactions/"+id)
	}

	// The second page of batches is refused.
	e.check(e.sim.FailAfter(geminisim.RouteBatchesList, 1, 1, http.StatusTooManyRequests))
	first := e.pass()
	if first.StopReason != reconciler.StopRateLimited || first.GapsFilled != 10 || first.ListComplete || first.Checked != 0 {
		t.Errorf("first pass %+v; want 10 gaps filled, then rate limited on the second page", first)
	}
	// The third registered job's poll is refused.
	e.check(e.sim.FailAfter(geminisim.RouteInteractions, 2, 1, http.StatusTooManyRequests))
	second := e.pass()
	if second.StopReason != reconciler.StopRateLimited || second.GapsFilled != 15+2 || !second.ListComplete {
		t.Errorf("second pass %+v; want the other 15 batches and 2 interactions, then rate limited", second)
	}
	third := e.pass()
	if third.StoppedEarly || third.GapsFilled != 4 {
		t.Errorf("third pass %+v; want the last 4 interactions", third)
	}
	if fourth := e.pass(); fourth.GapsFilled != 0 || fourth.AlreadyPublished != 0 {
		t.Errorf("fourth pass %+v; want nothing left", fourth)
	}

	got := subjects(e.events(len(want)))
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Errorf("events for %v, want one for each of %v", got, want)
	}
	for _, name := range want {
		kind := event.KindBatch
		if name[0] == 'i' {
			kind = event.KindInteraction
		}
		ref, _ := event.ParseJob(kind, name)
		if j := e.job(ref); j.State != registry.StateNotified {
			t.Errorf("%s is %s in the registry, want notified", name, j.State)
		}
	}
}

// TestPass_racingTheReceiverPublishesOnce: the webhook of a job arrives
// while passes reconcile it; receiver and reconciler claim the same job in
// the same ledger, so each job gets exactly one completion event, whoever
// wins.
func TestPass_racingTheReceiverPublishesOnce(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{emulators: true})
	raw, err := signature.GenerateSecret()
	e.check(err)
	secret, err := signature.ParseSecret("test", raw)
	e.check(err)
	v, err := signature.NewVerifier(signature.Options{Secrets: signature.StaticSecrets{secret}})
	e.check(err)
	h, err := receiver.New(v, e.ledger, e.publisher, e.jobs, slogDiscard(), receiver.Options{})
	e.check(err)
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	sender, err := geminisim.NewSender(geminisim.SenderOptions{Secrets: []string{raw}, Retry: geminisim.RetryPolicy{MaxAttempts: 1}})
	e.check(err)
	t.Cleanup(sender.CloseIdleConnections)

	const jobs = 20
	var deliveries []geminisim.Delivery
	var want []string
	for i := range jobs {
		name, err := e.sim.CreateBatch(geminisim.BatchSpec{ID: fmt.Sprintf("race%02d", i)})
		e.check(err)
		n, err := e.sim.CompleteBatch(name)
		e.check(err)
		deliveries = append(deliveries, geminisim.Delivery{URL: srv.URL, Notification: n})
		want = append(want, name)
	}
	e.clock.Set(t0.Add(time.Hour))

	var wg sync.WaitGroup
	delivered := make([]bool, jobs)
	for i, d := range deliveries {
		wg.Go(func() {
			rep, err := sender.Send(t.Context(), d)
			delivered[i] = err == nil && rep.Delivered
		})
	}
	for range 2 { // two instances at once
		wg.Go(func() {
			if _, err := e.rec.Pass(t.Context()); err != nil {
				t.Errorf("Pass: %v", err)
			}
		})
	}
	wg.Wait()
	// What met a claim in flight settles now: Gemini retries the webhook
	// (which then finds it published, or publishes it), and the next pass
	// looks again.
	for i, d := range deliveries {
		if !delivered[i] {
			if rep, err := sender.Send(t.Context(), d); err != nil || !rep.Delivered {
				t.Errorf("redelivery of %s: %v", want[i], err)
			}
		}
	}
	e.pass()

	got := subjects(e.events(jobs))
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Errorf("events for %v, want exactly one for each of %v", got, want)
	}
}

// TestPass_disabledWebhookLosesNoJob: an endpoint that keeps failing gets
// its webhook disabled by Gemini (the simulator disables it after two
// failed deliveries); the reconciler reports the webhook and publishes the
// events of the jobs whose deliveries failed.
func TestPass_disabledWebhookLosesNoJob(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{emulators: true, sim: geminisim.Options{DisableAfterFailures: 2, Retry: geminisim.RetryPolicy{MaxAttempts: 1}}})
	down := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusServiceUnavailable) }))
	t.Cleanup(down.Close)
	hook := e.webhook(down.URL)
	var want []string
	for i := range 3 {
		want = append(want, e.batch(fmt.Sprintf("lost%d", i), geminisim.BatchSucceeded))
	}
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	e.check(e.sim.WaitIdle(ctx))
	if info, _ := e.sim.Webhook(hook); info.State != geminisim.WebhookDisabledDueToFailedDeliveries {
		t.Fatalf("webhook is %s after its deliveries failed; the simulator should have disabled it", info.State)
	}

	s := e.pass()
	if s.WebhooksDisabled != 1 || s.GapsFilled != len(want) {
		t.Errorf("summary %+v; want the disabled webhook reported and %d gaps filled", s, len(want))
	}
	if lines := e.logLines(reconciler.MsgWebhookDisabled); len(lines) != 1 || lines[0]["webhook_id"] != hook {
		t.Errorf("disabled-webhook log lines %v, want one naming %s", lines, hook)
	}
	evs := e.events(len(want))
	for _, ev := range evs {
		if !ev.Data.Delivery.Reconciled {
			t.Errorf("%s: not marked reconciled", ev.Subject)
		}
	}
	if got := subjects(evs); !slices.Equal(got, want) {
		t.Errorf("events for %v, want %v", got, want)
	}
}
