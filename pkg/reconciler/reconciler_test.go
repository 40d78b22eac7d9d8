package reconciler_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/geminihooks/geminihooks/internal/geminisim"
	"github.com/geminihooks/geminihooks/pkg/event"
	"github.com/geminihooks/geminihooks/pkg/gemini"
	"github.com/geminihooks/geminihooks/pkg/reconciler"
	"github.com/geminihooks/geminihooks/pkg/registry"
)

// TestPass_fillsGapsOfListedBatches: every finished batch without a
// completion event gets exactly one, marked reconciled; running batches,
// batches whose event is out, batches still within the grace period and
// batches older than the look-back window get none.
func TestPass_fillsGapsOfListedBatches(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{})
	old := e.batch("old", geminisim.BatchSucceeded) // moved out of the window below
	_ = old
	e.clock.Set(t0.Add(reconciler.DefaultLookBack + time.Hour))
	want := map[string]string{
		e.batch("ok", geminisim.BatchSucceeded):         event.TypeBatchSucceeded,
		e.batch("broken", geminisim.BatchFailed):        event.TypeBatchFailed,
		e.batch("stopped", geminisim.BatchCancelled):    event.TypeBatchCancelled,
		e.batch("too-late", geminisim.BatchExpired):     event.TypeBatchExpired,
		e.batch("registered", geminisim.BatchSucceeded): event.TypeBatchSucceeded,
	}
	e.batch("running", geminisim.BatchRunning)
	e.batch("pending", geminisim.BatchPending)
	delivered := e.batch("delivered", geminisim.BatchSucceeded)
	if err := e.jobs.Notified(t.Context(), registry.Notice{Ref: event.JobRef{Kind: event.KindBatch, ID: "delivered"}, Resource: delivered}); err != nil {
		t.Fatal(err)
	}
	e.register(event.KindBatch, "batches/registered", t0, map[string]any{"team": "eval"})
	passAt := t0.Add(reconciler.DefaultLookBack + 2*time.Hour)
	e.clock.Set(passAt.Add(-time.Minute)) // ends within the grace period
	e.batch("just-now", geminisim.BatchSucceeded)
	e.clock.Set(passAt)

	s := e.pass()
	if s.GapsFilled != len(want) || s.Deferred != 1 || s.Listed != 9 || !s.ListComplete || s.StoppedEarly || s.Errors != 0 {
		t.Errorf("summary %+v; want %d gaps filled, 1 deferred, 9 listed, complete", s, len(want))
	}
	evs := e.events(len(want))
	for _, ev := range evs {
		ref, _ := ev.Job()
		if want[ev.Subject] != ev.Data.GeminiEventType {
			t.Errorf("%s: event type %s, want %s", ev.Subject, ev.Data.GeminiEventType, want[ev.Subject])
		}
		d := ev.Data.Delivery
		if !d.Reconciled || d.Scheme != event.SchemeAPI || d.WebhookID != "" || ev.ID != ref.EventID() {
			t.Errorf("%s: delivery %+v, id %s; want reconciled, scheme api, no webhook id, the job's event id", ev.Subject, d, ev.ID)
		}
		if j := e.job(ref); j.State != registry.StateNotified || j.EventID != ev.ID {
			t.Errorf("%s: registry %s with event %q; want notified with %s", ev.Subject, j.State, j.EventID, ev.ID)
		}
		switch ev.Subject {
		case "batches/broken":
			if ev.Data.Error == nil || ev.Data.Error.Code != "13" || ev.Data.Error.Message != "internal failure" {
				t.Errorf("failed batch's error %+v, want code 13 and the API's message", ev.Data.Error)
			}
		case "batches/registered":
			if ev.Data.UserMetadata["team"] != "eval" {
				t.Errorf("registered batch's user_metadata %v, want the registry's", ev.Data.UserMetadata)
			}
		case "batches/ok":
			if j := e.job(ref); j.Origin != registry.OriginReconciled {
				t.Errorf("an unknown batch entered the registry as %s, want reconciled", j.Origin)
			}
		}
	}
	if got := strings.Count(e.logs.String(), reconciler.MsgGapFilled); got != len(want) {
		t.Errorf("%d %q lines, want one per gap", got, reconciler.MsgGapFilled)
	}

	// A second pass finds nothing new, and makes no call but the listings.
	calls := e.sim.Requests(geminisim.AnyRoute)
	if s := e.pass(); s.GapsFilled != 0 || s.APICalls != 2 {
		t.Errorf("second pass %+v; want no gap and 2 calls (webhooks, batches)", s)
	}
	if got := e.sim.Requests(geminisim.AnyRoute) - calls; got != 2 {
		t.Errorf("second pass made %d requests, want 2", got)
	}
	e.events(len(want))
}

// videoFailure makes the API report every video operation failed: the
// simulator's operations do not fail.
type videoFailure struct{ *gemini.Client }

func (v videoFailure) GetVideoOperation(ctx context.Context, name string) (*gemini.VideoOperation, error) {
	op, err := v.Client.GetVideoOperation(ctx, name)
	if err != nil {
		return nil, err
	}
	return &gemini.VideoOperation{Name: op.Name, Done: true, Error: &gemini.JobError{Code: 3, Message: "prompt rejected"}}, nil
}

// TestPass_pollsOverdueRegisteredJobs: interactions and video operations
// cannot be listed, so registered jobs past their expected completion are
// fetched one by one.
func TestPass_pollsOverdueRegisteredJobs(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		create    func(e *env) (event.Kind, string)
		api       func(*gemini.Client) reconciler.Gemini
		wantEvent string // empty: none
		wantState registry.State
		wantError string // in the registry record
	}{
		{name: "completed_interaction", create: func(e *env) (event.Kind, string) {
			id := e.interaction()
			_, err := e.sim.CompleteInteraction(id)
			e.check(err)
			return event.KindInteraction, "interactions/" + id
		}, wantEvent: event.TypeInteractionCompleted, wantState: registry.StateNotified},
		{name: "failed_interaction", create: func(e *env) (event.Kind, string) {
			id := e.interaction()
			_, err := e.sim.FailInteraction(id, "resource_exhausted", "quota")
			e.check(err)
			return event.KindInteraction, "interactions/" + id
		}, wantEvent: event.TypeInteractionFailed, wantState: registry.StateNotified},
		{name: "running_interaction", create: func(e *env) (event.Kind, string) {
			return event.KindInteraction, "interactions/" + e.interaction()
		}, wantState: registry.StatePending},
		{name: "interaction_waiting_for_the_user", create: func(e *env) (event.Kind, string) {
			id := e.interaction()
			_, err := e.sim.RequireAction(id)
			e.check(err)
			return event.KindInteraction, "interactions/" + id
		}, wantState: registry.StatePending},
		{name: "generated_video", create: func(e *env) (event.Kind, string) {
			name, err := e.sim.CreateVideo(geminisim.VideoSpec{})
			e.check(err)
			_, err = e.sim.CompleteVideo(name)
			e.check(err)
			return event.KindVideo, name
		}, wantEvent: event.TypeVideoGenerated, wantState: registry.StateNotified},
		{name: "failed_video_has_no_event", create: func(e *env) (event.Kind, string) {
			name, err := e.sim.CreateVideo(geminisim.VideoSpec{})
			e.check(err)
			return event.KindVideo, name
		}, api: func(c *gemini.Client) reconciler.Gemini { return videoFailure{c} },
			wantState: registry.StateFailed, wantError: "prompt rejected"},
		{name: "finished_batch", create: func(e *env) (event.Kind, string) {
			return event.KindBatch, e.batch("b1", geminisim.BatchSucceeded)
		}, wantEvent: event.TypeBatchSucceeded, wantState: registry.StateNotified},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t, envOptions{api: tc.api})
			kind, resource := tc.create(e)
			ref := e.register(kind, resource, t0, map[string]any{"run": "nightly"})
			s := e.pass()
			evs := e.events(map[bool]int{true: 1}[tc.wantEvent != ""])
			if len(evs) == 1 {
				ev := evs[0]
				if ev.Data.GeminiEventType != tc.wantEvent || !ev.Data.Delivery.Reconciled || ev.Data.UserMetadata["run"] != "nightly" {
					t.Errorf("event %s reconciled=%v user_metadata=%v; want %s, reconciled, the registry's metadata",
						ev.Data.GeminiEventType, ev.Data.Delivery.Reconciled, ev.Data.UserMetadata, tc.wantEvent)
				}
			}
			j := e.job(ref)
			if j.State != tc.wantState || !strings.Contains(j.Error, tc.wantError) {
				t.Errorf("registry %s (error %q), want %s (error containing %q)", j.State, j.Error, tc.wantState, tc.wantError)
			}
			if tc.wantState != registry.StatePending {
				return
			}
			// Still running: polled again after the backoff, not before.
			if want := e.clock.Now().Add(reconciler.DefaultRecheckMin); !j.ExpectedAt.Equal(want) || j.Checks != 1 || s.Running != 1 {
				t.Errorf("running job: next poll %s after %d checks (summary %+v); want %s after 1", j.ExpectedAt, j.Checks, s, want)
			}
			polls := e.sim.Requests(geminisim.RouteInteractions)
			e.pass()
			e.clock.Set(e.clock.Now().Add(reconciler.DefaultRecheckMin + reconciler.DefaultGrace))
			e.pass()
			if got := e.sim.Requests(geminisim.RouteInteractions) - polls; got != 1 {
				t.Errorf("%d polls over the next two passes, want 1 (after the backoff)", got)
			}
			if j := e.job(ref); j.Checks != 2 || !j.ExpectedAt.Equal(e.clock.Now().Add(2*reconciler.DefaultRecheckMin)) {
				t.Errorf("second poll: %d checks, next at %s; want 2 and a doubled wait", j.Checks, j.ExpectedAt)
			}
		})
	}
}

// TestPass_notOverdueJobsAreLeftAlone: a job expected later, or within the
// grace period, costs nothing.
func TestPass_notOverdueJobsAreLeftAlone(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{})
	id := e.interaction()
	_, err := e.sim.CompleteInteraction(id)
	e.check(err)
	passAt := t0.Add(time.Hour)
	e.register(event.KindInteraction, "interactions/"+id, passAt.Add(-reconciler.DefaultGrace/2), nil)
	e.register(event.KindInteraction, "interactions/later", passAt.Add(time.Hour), nil)
	e.clock.Set(passAt)
	if s := e.pass(); s.Checked != 0 || s.GapsFilled != 0 {
		t.Errorf("summary %+v; want nothing polled", s)
	}
	if n := e.sim.Requests(geminisim.RouteInteractions); n != 0 {
		t.Errorf("%d interaction requests, want 0", n)
	}
}

// TestPass_unknownJobEndsFailed: a registered job the API does not know is
// recorded failed with the API's error, and never polled again.
func TestPass_unknownJobEndsFailed(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{emulators: true})
	refs := []event.JobRef{
		e.register(event.KindInteraction, "interactions/no-such-run", t0, nil),
		e.register(event.KindBatch, "batches/no-such-batch", t0, nil),
		e.register(event.KindVideo, "models/veo-3.0-generate-001/operations/no-such-op", t0, nil),
	}
	s := e.pass()
	if s.Failed != len(refs) || s.GapsFilled != 0 || s.StoppedEarly {
		t.Errorf("summary %+v; want %d failed", s, len(refs))
	}
	for _, ref := range refs {
		j := e.job(ref)
		if j.State != registry.StateFailed || !strings.Contains(j.Error, "404") || !strings.Contains(j.Error, "NOT_FOUND") {
			t.Errorf("%s: registry %s with error %q; want failed with the API's 404", ref.Key(), j.State, j.Error)
		}
	}
	calls := e.sim.Requests(geminisim.AnyRoute)
	e.clock.Set(e.clock.Now().Add(reconciler.DefaultRecheckMax + time.Hour))
	if s := e.pass(); s.Checked != 0 || s.Failed != 0 {
		t.Errorf("next pass %+v; want nothing polled", s)
	}
	if got := e.sim.Requests(geminisim.AnyRoute) - calls; got != 2 {
		t.Errorf("next pass made %d requests, want only the 2 listings", got)
	}
	e.events(0)
}

// TestPass_reportsDisabledWebhooks: a webhook Gemini disabled after failed
// deliveries is logged at ERROR with a stable message, and re-enabled only
// when asked.
func TestPass_reportsDisabledWebhooks(t *testing.T) {
	t.Parallel()
	for _, reenable := range []bool{false, true} {
		name := map[bool]string{false: "reported", true: "reenabled"}[reenable]
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t, envOptions{opts: reconciler.Options{ReenableWebhooks: reenable}})
			healthy := e.webhook("https://ok.example/hook")
			broken := e.webhook("https://down.example/hook")
			e.check(e.sim.SetWebhookState(broken, geminisim.WebhookDisabledDueToFailedDeliveries))
			s := e.pass()
			if s.WebhooksDisabled != 1 || s.WebhooksReenabled != map[bool]int{true: 1}[reenable] {
				t.Errorf("summary %+v; want 1 disabled, re-enabled %v", s, reenable)
			}
			lines := e.logLines(reconciler.MsgWebhookDisabled)
			if len(lines) != 1 || lines[0]["severity"] != "ERROR" || lines[0]["webhook_id"] != broken ||
				lines[0]["uri"] != "https://down.example/hook" || lines[0]["reenabled"] != map[bool]any{true: true}[reenable] {
				t.Errorf("log lines %v; want one ERROR naming %s", lines, broken)
			}
			want := map[bool]geminisim.WebhookState{false: geminisim.WebhookDisabledDueToFailedDeliveries, true: geminisim.WebhookEnabled}[reenable]
			if info, _ := e.sim.Webhook(broken); info.State != want {
				t.Errorf("webhook state %s, want %s", info.State, want)
			}
			if info, _ := e.sim.Webhook(healthy); info.State != geminisim.WebhookEnabled {
				t.Errorf("healthy webhook is %s", info.State)
			}
		})
	}
}

// TestPass_refusedKeyDoesNothing: an API that refuses the key stops the
// pass at the first call, which reports ErrNothingDone.
func TestPass_refusedKeyDoesNothing(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{})
	e.check(e.sim.FailNext(geminisim.AnyRoute, 1, 403))
	s, err := e.rec.Pass(t.Context())
	if !errors.Is(err, reconciler.ErrNothingDone) || s.StopReason != reconciler.StopAPIKeyRejected || s.APICalls != 1 {
		t.Errorf("Pass = %+v, %v; want ErrNothingDone after one call, api_key_rejected", s, err)
	}
}

// TestPass_callBudget: a pass stops at its call budget, and the next one
// polls the rest.
func TestPass_callBudget(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{opts: reconciler.Options{MaxPages: 1, MaxCalls: 5}})
	var refs []event.JobRef
	for range 6 {
		id := e.interaction()
		_, err := e.sim.CompleteInteraction(id)
		e.check(err)
		refs = append(refs, e.register(event.KindInteraction, "interactions/"+id, t0, nil))
	}
	first := e.pass()
	if first.StopReason != reconciler.StopCallBudget || first.GapsFilled != 3 || first.APICalls != 5 {
		t.Errorf("first pass %+v; want 3 gaps filled in 5 calls, then the budget", first)
	}
	second := e.pass()
	if second.StoppedEarly || second.GapsFilled != 3 {
		t.Errorf("second pass %+v; want the other 3", second)
	}
	e.events(len(refs))
}

func TestNew_checksDependenciesAndOptions(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{})
	logger := slogDiscard()
	tests := []struct {
		name string
		opts reconciler.Options
		ok   bool
	}{
		{name: "defaults", ok: true},
		{name: "look_back_reaching_past_the_ledger", opts: reconciler.Options{LookBack: 8 * 24 * time.Hour}},
		{name: "look_back_reaching_past_the_registry", opts: reconciler.Options{LookBack: 100 * time.Hour, LedgerTTL: 30 * 24 * time.Hour, RegistryTTL: 96 * time.Hour}},
		{name: "grace_longer_than_the_look_back", opts: reconciler.Options{Grace: 100 * time.Hour}},
		{name: "budget_below_the_page_cap", opts: reconciler.Options{MaxPages: 10, MaxCalls: 11}},
		{name: "recheck_bounds_inverted", opts: reconciler.Options{RecheckMin: 2 * time.Hour, RecheckMax: time.Hour}},
		{name: "negative_page_size", opts: reconciler.Options{PageSize: -1}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, err := reconciler.New(e.api, e.api, e.ledger, e.publisher, e.jobs, logger, tc.opts)
			if tc.ok != (err == nil) || !tc.ok && !errors.Is(err, reconciler.ErrInvalidOptions) {
				t.Errorf("New = %v, want ok %v", err, tc.ok)
			}
		})
	}
	t.Run("missing_dependency", func(t *testing.T) {
		t.Parallel()
		if _, err := reconciler.New(nil, e.api, e.ledger, e.publisher, e.jobs, logger, reconciler.Options{}); err == nil {
			t.Error("New accepted no Gemini client")
		}
		if _, err := reconciler.New(e.api, e.api, e.ledger, e.publisher, nil, logger, reconciler.Options{}); err == nil {
			t.Error("New accepted no registry")
		}
		if _, err := reconciler.New(e.api, e.api, e.ledger, e.publisher, e.jobs, nil, reconciler.Options{}); err == nil {
			t.Error("New accepted no logger")
		}
	})
}

// TestSummary_JSON: the handler's answer names every figure, the duration
// in milliseconds.
func TestSummary_JSON(t *testing.T) {
	t.Parallel()
	s := reconciler.Summary{Listed: 3, GapsFilled: 1, APICalls: 4, Duration: 1500 * time.Millisecond, StoppedEarly: true, StopReason: reconciler.StopRateLimited}
	got, err := s.MarshalJSON()
	if err != nil {
		t.Fatal(err)
	}
	want := `{"webhooks_disabled":0,"webhooks_reenabled":0,"listed":3,"list_complete":false,"checked":0,"gaps_filled":1,` +
		`"already_published":0,"running":0,"failed":0,"deferred":0,"errors":0,"api_calls":4,"stopped_early":true,` +
		`"stop_reason":"rate_limited","duration_ms":1500}`
	if diff := cmp.Diff(want, string(got)); diff != "" {
		t.Errorf("JSON (-want +got):\n%s", diff)
	}
}
