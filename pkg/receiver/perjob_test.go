package receiver

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"

	"github.com/geminihooks/geminihooks/pkg/event"
	"github.com/geminihooks/geminihooks/pkg/registry"
)

// TestReceiver_oneEventPerJob checks what is de-duplicated on what: a
// job's end on the job, whatever webhook-id or scheme carried it; other
// events on their webhook-id.
func TestReceiver_oneEventPerJob(t *testing.T) {
	t.Parallel()
	type delivery struct {
		jwt     bool
		id      string
		payload []byte
		want    string // status
	}
	tests := []struct {
		name       string
		deliveries []delivery
		events     int
	}{
		{
			name: "same_job_under_two_webhook_ids",
			deliveries: []delivery{
				{id: "msg_a", payload: body("batch.succeeded", "batches/j1"), want: StatusAccepted},
				{id: "msg_b", payload: body("batch.succeeded", "batches/j1"), want: StatusDuplicate},
				{id: "msg_a", payload: body("batch.succeeded", "batches/j1"), want: StatusDuplicate},
			},
			events: 1,
		},
		{
			name: "bare_and_prefixed_ids_of_one_job",
			deliveries: []delivery{
				{id: "msg_a", payload: body("batch.failed", "j2"), want: StatusAccepted},
				{id: "msg_b", payload: body("batch.failed", "batches/j2"), want: StatusDuplicate},
			},
			events: 1,
		},
		{
			name: "static_and_per_request_webhook_for_one_job",
			deliveries: []delivery{
				{jwt: true, payload: body("interaction.completed", "i3"), want: StatusAccepted},
				{id: "msg_b", payload: body("interaction.completed", "i3"), want: StatusDuplicate},
			},
			events: 1,
		},
		{
			name: "video_operation_with_and_without_model",
			deliveries: []delivery{
				{id: "msg_a", payload: body("video.generated", "models/veo-3.0-generate-001/operations/v4"), want: StatusAccepted},
				{id: "msg_b", payload: body("video.generated", "operations/v4"), want: StatusDuplicate},
			},
			events: 1,
		},
		{
			name: "requires_action_recurs_per_webhook_id",
			deliveries: []delivery{
				{id: "msg_a", payload: body("interaction.requires_action", "i5"), want: StatusAccepted},
				{id: "msg_b", payload: body("interaction.requires_action", "i5"), want: StatusAccepted},
				{id: "msg_b", payload: body("interaction.requires_action", "i5"), want: StatusDuplicate},
				{id: "msg_c", payload: body("interaction.completed", "i5"), want: StatusAccepted},
			},
			events: 3,
		},
		{
			name: "unknown_types_keep_webhook_id_semantics",
			deliveries: []delivery{
				{id: "msg_a", payload: body("model.tuned", "tunedModels/t6"), want: StatusAccepted},
				{id: "msg_b", payload: body("model.tuned", "tunedModels/t6"), want: StatusAccepted},
			},
			events: 2,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			h := newHarness(t, harnessOptions{})
			for i, d := range tc.deliveries {
				r := h.hmacRequest(d.id, h.clock.Now(), d.payload, 0)
				if d.jwt {
					r = h.jwtRequest(d.id, h.sign(h.claims(d.payload, nil)), d.payload)
				}
				if res := h.do(r); res.Status != http.StatusOK || res.Body["status"] != d.want {
					t.Fatalf("delivery %d (%s): %d %s; want 200 %s", i, d.id, res.Status, res.Raw, d.want)
				}
			}
			if got := len(h.pub.Messages()); got != tc.events {
				t.Errorf("published %d events, want %d", got, tc.events)
			}
		})
	}
}

func TestReceiver_recordsTheJobNotified(t *testing.T) {
	t.Parallel()
	h := newHarness(t, harnessOptions{})
	ref := event.JobRef{Kind: event.KindBatch, ID: "abc123"}
	payload := []byte(`{"type":"batch.succeeded","data":{"id":"batches/abc123","user_metadata":{"team":"eval"}}}`)
	if res := h.do(h.hmacRequest("msg_1", h.clock.Now(), payload, 0)); res.Body["status"] != StatusAccepted {
		t.Fatalf("got %d %s", res.Status, res.Raw)
	}
	j, ok, err := h.jobs.Get(t.Context(), ref)
	if err != nil || !ok {
		t.Fatalf("registry has no record of the job: %v", err)
	}
	if j.State != registry.StateNotified || j.Origin != registry.OriginWebhook || j.EventID != ref.EventID() ||
		j.Resource != "batches/abc123" || j.UserMetadata["team"] != "eval" {
		t.Errorf("registry record %+v; want notified by a webhook with the event id and user_metadata", j)
	}
	// A requires_action event is not an end: the registry is not told.
	if res := h.do(h.hmacRequest("msg_2", h.clock.Now(), body("interaction.requires_action", "i1"), 0)); res.Body["status"] != StatusAccepted {
		t.Fatalf("got %d %s", res.Status, res.Raw)
	}
	if _, ok, _ := h.jobs.Get(t.Context(), event.JobRef{Kind: event.KindInteraction, ID: "i1"}); ok {
		t.Error("a requires_action event created a registry record")
	}
}

// failingJobs is a registry that cannot be written.
type failingJobs struct{}

func (failingJobs) Notified(context.Context, registry.Notice) error {
	return errors.New("registry down")
}

func TestReceiver_registryFailureStillAnswers200(t *testing.T) {
	t.Parallel()
	h := newHarness(t, harnessOptions{jobs: failingJobs{}})
	res := h.do(h.hmacRequest("msg_1", h.clock.Now(), body("batch.succeeded", "batches/r1"), 0))
	if res.Status != http.StatusOK || res.Body["status"] != StatusAccepted || len(h.pub.Messages()) != 1 {
		t.Fatalf("got %d %s with %d events; want 200 accepted and the event published", res.Status, res.Raw, len(h.pub.Messages()))
	}
	if !strings.Contains(h.logs.String(), "could not record the job notified") {
		t.Errorf("no warning logged for the registry failure:\n%s", h.logs.String())
	}
}

func TestReceiver_failedPublishLetsAnotherWebhookIDPublish(t *testing.T) {
	t.Parallel()
	h := newHarness(t, harnessOptions{})
	h.pub.FailNext(errors.New("pubsub down"))
	if res := h.do(h.hmacRequest("msg_a", h.clock.Now(), body("batch.succeeded", "batches/p1"), 0)); res.Status != http.StatusServiceUnavailable {
		t.Fatalf("got %d %s; want 503", res.Status, res.Raw)
	}
	if _, ok, _ := h.jobs.Get(t.Context(), event.JobRef{Kind: event.KindBatch, ID: "p1"}); ok {
		t.Error("a job whose event was not published is in the registry")
	}
	// The job's claim was released: the same end under another id goes out.
	if res := h.do(h.hmacRequest("msg_b", h.clock.Now(), body("batch.succeeded", "batches/p1"), 0)); res.Body["status"] != StatusAccepted {
		t.Fatalf("other webhook-id after a failed publish: %d %s; want accepted", res.Status, res.Raw)
	}
	if got := len(h.pub.Messages()); got != 1 {
		t.Errorf("published %d events, want 1", got)
	}
}
