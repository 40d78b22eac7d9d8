package geminisim

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"google.golang.org/genai"
	"google.golang.org/genai/interactions/models/interactions"
	"google.golang.org/genai/interactions/models/operations"
	"google.golang.org/genai/interactions/models/webhooks"

	"github.com/geminihooks/geminihooks/pkg/event"
	"github.com/geminihooks/geminihooks/pkg/signature"
)

// The simulator's own deliveries are checked against a real endpoint that
// verifies each one with pkg/signature, as the receiver does: HMAC with
// the registered webhook's secrets, JWTs with the simulator's JWKS.

// hookEndpoint is a webhook endpoint that verifies and records deliveries.
type hookEndpoint struct {
	*httptest.Server
	sim    *Server
	status atomic.Int32 // the answer to verified deliveries

	mu       sync.Mutex
	secrets  []string
	got      []verified
	rejected []error
}

// verified is one delivery that passed verification.
type verified struct {
	webhookID string
	scheme    signature.Scheme
	n         *event.Notification
}

func newHookEndpoint(t *testing.T, sim *Server) *hookEndpoint {
	t.Helper()
	ep := &hookEndpoint{sim: sim}
	ep.status.Store(http.StatusOK)
	ep.Server = httptest.NewServer(http.HandlerFunc(ep.serve))
	t.Cleanup(ep.Close)
	return ep
}

// trust adds the secrets of a registered webhook.
func (ep *hookEndpoint) trust(secrets ...string) {
	ep.mu.Lock()
	defer ep.mu.Unlock()
	ep.secrets = append(ep.secrets, secrets...)
}

func (ep *hookEndpoint) serve(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	ep.mu.Lock()
	defer ep.mu.Unlock()
	reject := func(err error) {
		ep.rejected = append(ep.rejected, err)
		w.WriteHeader(http.StatusBadRequest)
	}
	keys, err := signature.ParseStaticKeys(ep.sim.JWKS())
	if err != nil {
		reject(err)
		return
	}
	opts := signature.Options{Keys: keys}
	var secrets signature.StaticSecrets
	for _, raw := range ep.secrets {
		sec, err := signature.ParseSecret("webhook", raw)
		if err != nil {
			reject(err)
			return
		}
		secrets = append(secrets, sec)
	}
	if len(secrets) > 0 {
		opts.Secrets = secrets
	}
	v, err := signature.NewVerifier(opts)
	if err != nil {
		reject(err)
		return
	}
	d, err := v.Verify(r.Context(), r.Header, body)
	if err != nil {
		reject(err)
		return
	}
	n, err := event.FromDelivery(body, d.Claims)
	if err != nil {
		reject(err)
		return
	}
	ep.got = append(ep.got, verified{webhookID: d.ID, scheme: d.Scheme, n: n})
	w.WriteHeader(int(ep.status.Load()))
}

// deliveries returns what was verified, after checking nothing was
// rejected.
func (ep *hookEndpoint) deliveries(t *testing.T) []verified {
	t.Helper()
	ep.mu.Lock()
	defer ep.mu.Unlock()
	for _, err := range ep.rejected {
		t.Errorf("the endpoint rejected a delivery: %v", err)
	}
	return slices.Clone(ep.got)
}

// waitIdle waits for the simulator's background work.
func waitIdle(t *testing.T, sim *Server) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	if err := sim.WaitIdle(ctx); err != nil {
		t.Fatal(err)
	}
}

// registerWebhook registers ep through the SDK for events and trusts its
// secret.
func registerWebhook(t *testing.T, c *genai.Client, ep *hookEndpoint, events ...webhooks.WebhookSubscribedEvent) string {
	t.Helper()
	h := createSDKWebhook(t, c, ep.URL, events...)
	ep.trust(*h.GetNewSigningSecret())
	return *h.GetID()
}

// summary is the comparable part of a verified delivery.
type summary struct {
	Scheme   signature.Scheme
	Type     string
	Resource string
	Metadata map[string]any
}

func summaries(vs []verified) []summary {
	out := make([]summary, len(vs))
	for i, v := range vs {
		out[i] = summary{Scheme: v.scheme, Type: v.n.Type, Resource: v.n.Resource(), Metadata: v.n.UserMetadata}
	}
	return out
}

var sortSummaries = cmpopts.SortSlices(func(a, b summary) bool { return a.Type+a.Resource < b.Type+b.Resource })

// TestDeliveries_perRequestWebhooks creates one job of each kind through
// the SDK with a webhook config and lets them finish on their own: each
// notification reaches the job's URI, JWT-signed, with its user_metadata.
func TestDeliveries_perRequestWebhooks(t *testing.T) {
	t.Parallel()
	sim, ts := newTestServer(t, Options{CompleteAfter: time.Millisecond, Retry: fastRetry})
	c := newSDKClient(t, ts)
	ep := newHookEndpoint(t, sim)
	// A registered webhook for the same events gets nothing: the job's URIs
	// replace it.
	other := newHookEndpoint(t, sim)
	registerWebhook(t, c, other, webhooks.WebhookSubscribedEventBatchSucceeded, webhooks.WebhookSubscribedEventInteractionCompleted,
		webhooks.WebhookSubscribedEventVideoGenerated)
	meta := func(job string) map[string]any { return map[string]any{"job": job} }

	batch, err := c.Batches.Create(sdkContext(t), DefaultModel, &genai.BatchJobSource{
		InlinedRequests: []*genai.InlinedRequest{{Contents: genai.Text("hi"), Metadata: map[string]string{"key": "k1"}}},
	}, &genai.CreateBatchJobConfig{WebhookConfig: &genai.WebhookConfig{Uris: []string{ep.URL}, UserMetadata: meta("batch")}})
	if err != nil {
		t.Fatal(err)
	}
	it, err := c.Interactions.Create(sdkContext(t), operations.CreateInteractionRequest{Body: operations.NewCreateInteractionRequestBody(
		interactions.CreateAgentInteraction{
			Agent: DefaultAgent, Input: genai.Ptr(interactions.NewInteractionsInput("Research webhooks.")), Background: genai.Ptr(true),
			WebhookConfig: &interactions.WebhookConfig{Uris: []string{ep.URL}, UserMetadata: meta("research")},
		})})
	if err != nil {
		t.Fatal(err)
	}
	video, err := c.Models.GenerateVideosFromSource(sdkContext(t), "veo-3.0-generate-001", &genai.GenerateVideosSource{Prompt: "dawn"},
		&genai.GenerateVideosConfig{WebhookConfig: &genai.WebhookConfig{Uris: []string{ep.URL}, UserMetadata: meta("video")}})
	if err != nil {
		t.Fatal(err)
	}
	waitIdle(t, sim)

	itID := *it.Interaction.GetID()
	want := []summary{
		{signature.SchemeJWT, event.TypeBatchSucceeded, batch.Name, meta("batch")},
		{signature.SchemeJWT, event.TypeInteractionCompleted, "interactions/" + itID, meta("research")},
		{signature.SchemeJWT, event.TypeVideoGenerated, video.Name, meta("video")},
	}
	if diff := cmp.Diff(want, summaries(ep.deliveries(t)), sortSummaries); diff != "" {
		t.Errorf("deliveries (-want +got):\n%s", diff)
	}
	if got := other.deliveries(t); len(got) != 0 {
		t.Errorf("the registered webhook got %d deliveries; want none (the job's URIs replace it)", len(got))
	}
	// The jobs are finished for a poller too.
	if job, err := c.Batches.Get(sdkContext(t), batch.Name, nil); err != nil || job.State != genai.JobStateSucceeded {
		t.Errorf("batch after completion: %v %v", job, err)
	}
	recs := sim.Deliveries()
	if len(recs) != 3 {
		t.Fatalf("%d delivery records; want 3", len(recs))
	}
	for _, r := range recs {
		if r.Status != DeliveryDelivered || r.URL != ep.URL || r.Webhook != "" || r.Scheme != signature.SchemeJWT || !r.Report.Delivered {
			t.Errorf("record %+v", r)
		}
	}
}

// TestDeliveries_registeredWebhooks completes jobs with the Go methods: each
// notification goes, HMAC-signed, to the enabled webhooks subscribed to
// its type, and the methods still return it.
func TestDeliveries_registeredWebhooks(t *testing.T) {
	t.Parallel()
	sim, ts := newTestServer(t, Options{Retry: fastRetry})
	c := newSDKClient(t, ts)
	batches := newHookEndpoint(t, sim)
	everything := newHookEndpoint(t, sim)
	disabled := newHookEndpoint(t, sim)
	registerWebhook(t, c, batches, webhooks.WebhookSubscribedEventBatchSucceeded, webhooks.WebhookSubscribedEventBatchFailed)
	var all []webhooks.WebhookSubscribedEvent
	for _, e := range event.SubscribableTypes() {
		all = append(all, webhooks.WebhookSubscribedEvent(e))
	}
	registerWebhook(t, c, everything, all...)
	off := registerWebhook(t, c, disabled, all...)
	if _, err := c.Webhooks.Update(sdkContext(t), operations.UpdateWebhookRequest{
		ID: off, UpdateMask: genai.Ptr("state"), Body: webhooks.WebhookUpdate{State: webhooks.WebhookUpdateStateDisabled.ToPointer()},
	}); err != nil {
		t.Fatal(err)
	}

	ok, err := sim.CreateBatch(BatchSpec{UserMetadata: map[string]any{"team": "eval"}})
	if err != nil {
		t.Fatal(err)
	}
	n, err := sim.CompleteBatch(ok)
	if err != nil || n.Type != event.TypeBatchSucceeded {
		t.Fatalf("CompleteBatch = %+v, %v; the payload is still returned", n, err)
	}
	cancelled, _ := sim.CreateBatch(BatchSpec{})
	if _, err := sim.CancelBatch(cancelled); err != nil {
		t.Fatal(err)
	}
	it, _ := sim.CreateInteraction(InteractionSpec{})
	if _, err := sim.RequireAction(it); err != nil {
		t.Fatal(err)
	}
	if _, err := sim.CompleteInteraction(it); err != nil {
		t.Fatal(err)
	}
	waitIdle(t, sim)

	hmac := signature.SchemeHMAC
	wantBatches := []summary{{hmac, event.TypeBatchSucceeded, ok, map[string]any{"team": "eval"}}}
	if diff := cmp.Diff(wantBatches, summaries(batches.deliveries(t))); diff != "" {
		t.Errorf("batch webhook deliveries (-want +got):\n%s", diff)
	}
	wantAll := []summary{
		wantBatches[0],
		{hmac, event.TypeBatchCancelled, cancelled, nil},
		{hmac, event.TypeInteractionRequiresAction, "interactions/" + it, nil},
		{hmac, event.TypeInteractionCompleted, "interactions/" + it, nil},
	}
	if diff := cmp.Diff(wantAll, summaries(everything.deliveries(t)), sortSummaries); diff != "" {
		t.Errorf("deliveries to the webhook subscribed to everything (-want +got):\n%s", diff)
	}
	if got := disabled.deliveries(t); len(got) != 0 {
		t.Errorf("a disabled webhook got %d deliveries", len(got))
	}
	// Each target has its own webhook-id.
	ids := map[string]bool{}
	for _, r := range sim.Deliveries() {
		if ids[r.WebhookID] {
			t.Errorf("webhook-id %s used twice", r.WebhookID)
		}
		ids[r.WebhookID] = true
	}
}

// TestDeliveries_faults checks the per-job and per-webhook faults.
func TestDeliveries_faults(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name               string
		jobFault, whFault  DeliveryFault
		perRequest         bool
		wantCount          int
		wantStatus         DeliveryStatus
		wantDistinctIDs    bool
		wantEndpointCalled bool
	}{
		{name: "none", wantCount: 1, wantStatus: DeliveryDelivered, wantEndpointCalled: true},
		{name: "job_drop", jobFault: DropDelivery, wantCount: 1, wantStatus: DeliveryDropped},
		{name: "webhook_drop", whFault: DropDelivery, wantCount: 1, wantStatus: DeliveryDropped},
		{name: "job_twice", jobFault: DeliverTwice, wantCount: 2, wantStatus: DeliveryDelivered, wantDistinctIDs: true, wantEndpointCalled: true},
		{name: "webhook_twice", whFault: DeliverTwice, wantCount: 2, wantStatus: DeliveryDelivered, wantDistinctIDs: true, wantEndpointCalled: true},
		{name: "drop_wins", jobFault: DeliverTwice, whFault: DropDelivery, wantCount: 1, wantStatus: DeliveryDropped},
		{name: "per_request_drop", perRequest: true, jobFault: DropDelivery, wantCount: 1, wantStatus: DeliveryDropped},
		{name: "per_request_twice", perRequest: true, jobFault: DeliverTwice, wantCount: 2, wantStatus: DeliveryDelivered, wantDistinctIDs: true, wantEndpointCalled: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			sim, ts := newTestServer(t, Options{Retry: fastRetry})
			ep := newHookEndpoint(t, sim)
			spec := BatchSpec{}
			if tt.perRequest {
				spec.WebhookURIs = []string{ep.URL}
			} else {
				id := registerWebhook(t, newSDKClient(t, ts), ep)
				if err := sim.SetWebhookFault(id, tt.whFault); err != nil {
					t.Fatal(err)
				}
			}
			name, err := sim.CreateBatch(spec)
			if err != nil {
				t.Fatal(err)
			}
			if err := sim.SetJobFault(name, tt.jobFault); err != nil {
				t.Fatal(err)
			}
			if _, err := sim.CompleteBatch(name); err != nil {
				t.Fatal(err)
			}
			waitIdle(t, sim)
			recs := sim.Deliveries()
			if len(recs) != tt.wantCount {
				t.Fatalf("%d records %+v; want %d", len(recs), recs, tt.wantCount)
			}
			got := ep.deliveries(t)
			if (len(got) > 0) != tt.wantEndpointCalled || (tt.wantEndpointCalled && len(got) != tt.wantCount) {
				t.Errorf("the endpoint got %d deliveries; want %d", len(got), map[bool]int{true: tt.wantCount}[tt.wantEndpointCalled])
			}
			for i, r := range recs {
				if r.Status != tt.wantStatus || r.Job != name || r.Event != event.TypeBatchSucceeded || r.WebhookID == "" {
					t.Errorf("record %+v; want %s for %s", r, tt.wantStatus, name)
				}
				if i > 0 && tt.wantDistinctIDs && r.WebhookID == recs[0].WebhookID {
					t.Error("the two deliveries share a webhook-id")
				}
			}
			for _, v := range got {
				if !slices.ContainsFunc(recs, func(r DeliveryRecord) bool { return r.WebhookID == v.webhookID }) {
					t.Errorf("delivered webhook-id %s is not recorded", v.webhookID)
				}
			}
			// A dropped notification leaves the job finished for a poller.
			if res := do(t, http.MethodGet, ts.URL+"/v1beta/"+name, ""); !strings.Contains(string(res.body), "BATCH_STATE_SUCCEEDED") {
				t.Errorf("GET %s: %s", name, res.body)
			}
		})
	}
}

func TestDeliveries_faultValidation(t *testing.T) {
	t.Parallel()
	sim, _ := newTestServer(t, Options{})
	name, _ := sim.CreateBatch(BatchSpec{ID: "b1"})
	it, _ := sim.CreateInteraction(InteractionSpec{ID: "i1"})
	op, _ := sim.CreateVideo(VideoSpec{ID: "v1"})
	for _, job := range []string{name, "b1", it, "interactions/" + it, op, "v1"} {
		if err := sim.SetJobFault(job, DropDelivery); err != nil {
			t.Errorf("SetJobFault(%q): %v", job, err)
		}
	}
	for _, job := range []string{"batches/nope", "nope", "interactions/nope", "models/veo-x/operations/v1"} {
		if err := sim.SetJobFault(job, DropDelivery); err == nil {
			t.Errorf("SetJobFault(%q) succeeded; want ErrNotFound", job)
		}
	}
	if err := sim.SetJobFault(name, DeliveryFault(9)); err == nil {
		t.Error("an unknown fault was accepted")
	}
	if err := sim.SetWebhookFault("nope", DropDelivery); err == nil {
		t.Error("SetWebhookFault on an unknown webhook succeeded")
	}
}

// TestDeliveries_autoDisable checks that a webhook whose deliveries keep
// failing becomes disabled_due_to_failed_deliveries and gets nothing more,
// until its owner re-enables it.
func TestDeliveries_autoDisable(t *testing.T) {
	t.Parallel()
	sim, ts := newTestServer(t, Options{DisableAfterFailures: 2, Retry: RetryPolicy{MaxAttempts: 2, TimeScale: 1e-6}})
	c := newSDKClient(t, ts)
	ep := newHookEndpoint(t, sim)
	ep.status.Store(http.StatusServiceUnavailable)
	id := registerWebhook(t, c, ep)
	complete := func() {
		t.Helper()
		name, err := sim.CreateBatch(BatchSpec{})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := sim.CompleteBatch(name); err != nil {
			t.Fatal(err)
		}
		waitIdle(t, sim)
	}
	state := func() (WebhookState, int) {
		info, err := sim.Webhook(id)
		if err != nil {
			t.Fatal(err)
		}
		return info.State, info.FailedDeliveries
	}

	complete()
	if st, n := state(); st != WebhookEnabled || n != 1 {
		t.Fatalf("after one failed delivery: %s, %d failures; want enabled, 1", st, n)
	}
	complete()
	if st, n := state(); st != WebhookDisabledDueToFailedDeliveries || n != 2 {
		t.Fatalf("after two failed deliveries: %s, %d failures; want %s", st, n, WebhookDisabledDueToFailedDeliveries)
	}
	got, err := c.Webhooks.Get(sdkContext(t), operations.GetWebhookRequest{ID: id})
	if err != nil || got.Webhook.GetState() == nil || *got.Webhook.GetState() != webhooks.WebhookStateDisabledDueToFailedDeliveries {
		t.Errorf("the SDK reads the state as %v (%v)", got.Webhook.GetState(), err)
	}
	complete()
	if recs := sim.Deliveries(); len(recs) != 2 || len(ep.deliveries(t)) != 4 {
		t.Errorf("%d records, %d attempts; want 2 failed deliveries of 2 attempts each and nothing after the disabling", len(recs), len(ep.deliveries(t)))
	}
	for _, r := range sim.Deliveries() {
		if r.Status != DeliveryFailed || len(r.Report.Attempts) != 2 {
			t.Errorf("record %+v; want failed after 2 attempts", r)
		}
	}

	// Re-enabled by its owner, the webhook starts over.
	if _, err := c.Webhooks.Update(sdkContext(t), operations.UpdateWebhookRequest{
		ID: id, UpdateMask: genai.Ptr("state"), Body: webhooks.WebhookUpdate{State: webhooks.WebhookUpdateStateEnabled.ToPointer()},
	}); err != nil {
		t.Fatal(err)
	}
	ep.status.Store(http.StatusOK)
	complete()
	if st, n := state(); st != WebhookEnabled || n != 0 {
		t.Errorf("after re-enabling and a delivery: %s, %d failures; want enabled, 0", st, n)
	}
}

// TestDeliveries_retries checks that a failing endpoint gets the retry
// policy's attempts under one webhook-id.
func TestDeliveries_retries(t *testing.T) {
	t.Parallel()
	sim, _ := newTestServer(t, Options{Retry: RetryPolicy{MaxAttempts: 4, TimeScale: 1e-6}})
	ep := newHookEndpoint(t, sim)
	ep.status.Store(http.StatusInternalServerError)
	it, err := sim.CreateInteraction(InteractionSpec{WebhookURIs: []string{ep.URL}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := sim.FailInteraction(it, "internal", "crashed"); err != nil {
		t.Fatal(err)
	}
	waitIdle(t, sim)
	got := ep.deliveries(t)
	if len(got) != 4 {
		t.Fatalf("%d attempts; want 4", len(got))
	}
	for _, v := range got {
		if v.webhookID != got[0].webhookID || v.n.Type != event.TypeInteractionFailed {
			t.Errorf("attempt %+v; want the same webhook-id and interaction.failed each time", v)
		}
	}
	recs := sim.Deliveries()
	if len(recs) != 1 || recs[0].Status != DeliveryFailed || !slices.Equal(recs[0].Report.Statuses(), []int{500, 500, 500, 500}) {
		t.Errorf("records %+v; want one failed delivery of four 500s", recs)
	}
}

// TestDeliveries_close checks that Close ends pending completions and
// retries.
func TestDeliveries_close(t *testing.T) {
	t.Parallel()
	sim, ts := newTestServer(t, Options{CompleteAfter: time.Hour, Retry: RetryPolicy{InitialBackoff: time.Hour}})
	ep := newHookEndpoint(t, sim)
	ep.status.Store(http.StatusServiceUnavailable)
	// A job that would finish in an hour, and a delivery that would retry
	// in an hour.
	if _, err := newSDKClient(t, ts).Batches.Create(sdkContext(t), DefaultModel, &genai.BatchJobSource{
		InlinedRequests: []*genai.InlinedRequest{{Contents: genai.Text("hi")}},
	}, nil); err != nil {
		t.Fatal(err)
	}
	name, _ := sim.CreateBatch(BatchSpec{WebhookURIs: []string{ep.URL}})
	if _, err := sim.CompleteBatch(name); err != nil {
		t.Fatal(err)
	}
	if err := sim.Close(); err != nil {
		t.Fatal(err)
	}
	waitIdle(t, sim)
	recs := sim.Deliveries()
	if len(recs) != 1 || recs[0].Status != DeliveryFailed {
		t.Errorf("records after Close %+v; want the one delivery failed", recs)
	}
	other, _ := sim.CreateBatch(BatchSpec{WebhookURIs: []string{ep.URL}})
	if _, err := sim.CompleteBatch(other); err != nil {
		t.Fatal(err)
	}
	if len(sim.Deliveries()) != 1 {
		t.Error("a closed simulator delivered")
	}
}
