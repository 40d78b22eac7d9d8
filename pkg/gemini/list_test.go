package gemini_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"net/http"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/geminihooks/geminihooks/internal/geminisim"
	"github.com/geminihooks/geminihooks/pkg/gemini"
)

// createWebhook registers a webhook on the simulator the way an operator
// does (POST /v1beta/webhooks) and returns its id.
func createWebhook(t *testing.T, e *env, uri string) string {
	t.Helper()
	body, _ := json.Marshal(map[string]any{"uri": uri, "subscribed_events": []string{"batch.succeeded"}})
	req, err := http.NewRequestWithContext(testContext(t), http.MethodPost, e.ts.URL+"/v1beta/webhooks", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("x-goog-api-key", testAPIKey)
	req.Header.Set("Content-Type", "application/json")
	resp, err := e.ts.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var created struct {
		ID string `json:"id"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&created); err != nil || resp.StatusCode != http.StatusOK || created.ID == "" {
		t.Fatalf("creating a webhook: %d %v", resp.StatusCode, err)
	}
	return created.ID
}

func TestListWebhooks_pages(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envConfig{})
	var ids []string
	for _, uri := range []string{"https://a.example/hook", "https://b.example/hook", "https://c.example/hook"} {
		ids = append(ids, createWebhook(t, e, uri))
	}
	if err := e.sim.SetWebhookState(ids[1], geminisim.WebhookDisabledDueToFailedDeliveries); err != nil {
		t.Fatal(err)
	}
	var got []gemini.Webhook
	token, pages := "", 0
	for {
		page, err := e.client.ListWebhooks(testContext(t), 2, token)
		if err != nil {
			t.Fatalf("ListWebhooks: %v", err)
		}
		pages++
		got = append(got, page.Webhooks...)
		if token = page.NextPageToken; token == "" {
			break
		}
	}
	want := []gemini.Webhook{
		{ID: ids[0], URI: "https://a.example/hook", State: gemini.WebhookEnabled, SubscribedEvents: []string{"batch.succeeded"}},
		{ID: ids[1], URI: "https://b.example/hook", State: gemini.WebhookDisabledDueToFailedDeliveries, SubscribedEvents: []string{"batch.succeeded"}},
		{ID: ids[2], URI: "https://c.example/hook", State: gemini.WebhookEnabled, SubscribedEvents: []string{"batch.succeeded"}},
	}
	if diff := cmp.Diff(want, got); diff != "" || pages != 2 {
		t.Errorf("%d pages; webhooks (-want +got):\n%s", pages, diff)
	}
}

func TestEnableWebhook(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envConfig{})
	id := createWebhook(t, e, "https://a.example/hook")
	if err := e.sim.SetWebhookState(id, geminisim.WebhookDisabledDueToFailedDeliveries); err != nil {
		t.Fatal(err)
	}
	if err := e.client.EnableWebhook(testContext(t), "webhooks/"+id); err != nil {
		t.Fatalf("EnableWebhook: %v", err)
	}
	if info, _ := e.sim.Webhook(id); info.State != geminisim.WebhookEnabled {
		t.Errorf("state %s after EnableWebhook, want enabled", info.State)
	}

	err := e.client.EnableWebhook(testContext(t), "no-such-hook")
	wantAPIError(t, err, http.StatusNotFound, "NOT_FOUND")
	if err := e.client.EnableWebhook(testContext(t), "../x"); !errors.Is(err, gemini.ErrInvalidID) {
		t.Errorf("EnableWebhook(../x) = %v, want ErrInvalidID before any request", err)
	}
}

// TestList_rateLimited: a 429 is an APIError that is transient and carries
// the server's Retry-After, so a caller can stop and come back.
func TestList_rateLimited(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envConfig{sim: geminisim.Options{RetryAfter: 7 * time.Second}, client: gemini.Options{Retry: gemini.RetryPolicy{Attempts: 1}}})
	if err := e.sim.FailNext(geminisim.RouteWebhooks, 1, http.StatusTooManyRequests); err != nil {
		t.Fatal(err)
	}
	_, err := e.client.ListWebhooks(testContext(t), 0, "")
	apiErr := wantAPIError(t, err, http.StatusTooManyRequests, "RESOURCE_EXHAUSTED")
	if !gemini.IsTransient(err) || apiErr.RetryAfter != 7*time.Second {
		t.Errorf("transient %v, RetryAfter %s; want transient, 7s", gemini.IsTransient(err), apiErr.RetryAfter)
	}
	assertNoSecret(t, err)
}

func TestList_refusesBadInput(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envConfig{})
	if _, err := e.client.ListWebhooks(testContext(t), -1, ""); err == nil {
		t.Error("ListWebhooks(-1) succeeded")
	}
	if _, err := e.client.ListBatches(testContext(t), -1, ""); err == nil {
		t.Error("ListBatches(-1) succeeded")
	}
	if n := e.sim.Requests(geminisim.AnyRoute); n != 0 {
		t.Errorf("%d requests made for refused input", n)
	}
}

// TestListBatches_pages reads the listing the way the SDK's converters do:
// newest first, page by page, each batch with its state, done flag and
// times, and a failed batch with its error.
func TestListBatches_pages(t *testing.T) {
	t.Parallel()
	clock := fixedNow
	e := newEnv(t, envConfig{sim: geminisim.Options{Now: func() time.Time { return clock }}})
	create := func(id string) string {
		name, err := e.sim.CreateBatch(geminisim.BatchSpec{ID: id})
		if err != nil {
			t.Fatal(err)
		}
		return name
	}
	running := create("b-running")
	e.sim.StartBatch(running)
	clock = clock.Add(time.Minute)
	failed := create("b-failed")
	if _, err := e.sim.FailBatch(failed, geminisim.JobError{Code: 13, Message: "internal failure"}); err != nil {
		t.Fatal(err)
	}
	clock = clock.Add(time.Minute)
	done := create("b-done")
	if _, err := e.sim.CompleteBatch(done); err != nil {
		t.Fatal(err)
	}

	var got []gemini.Batch
	token, pages := "", 0
	for {
		page, err := e.client.ListBatches(testContext(t), 2, token)
		if err != nil {
			t.Fatalf("ListBatches: %v", err)
		}
		pages++
		got = append(got, page.Batches...)
		if token = page.NextPageToken; token == "" {
			break
		}
	}
	t1, t2 := fixedNow.Add(time.Minute), fixedNow.Add(2*time.Minute)
	want := []gemini.Batch{
		{Name: done, State: gemini.BatchSucceeded, Done: true, CreateTime: t2, UpdateTime: t2, EndTime: t2},
		{Name: failed, State: gemini.BatchFailed, Done: true, CreateTime: t1, UpdateTime: t1, EndTime: t1,
			Error: &gemini.JobError{Code: 13, Message: "internal failure"}},
		{Name: running, State: gemini.BatchRunning, CreateTime: fixedNow, UpdateTime: fixedNow},
	}
	opts := cmpopts.IgnoreFields(gemini.Batch{}, "Stats")
	if diff := cmp.Diff(want, got, opts); diff != "" || pages != 2 {
		t.Errorf("%d pages; batches (-want +got):\n%s", pages, diff)
	}
}

func TestListBatches_refusesMalformedNames(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envConfig{wrap: handlerFunc(func(_ http.Handler, w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"operations":[{"name":"batches/../files/x","metadata":{"state":"BATCH_STATE_SUCCEEDED"}}]}`))
	})})
	if _, err := e.client.ListBatches(testContext(t), 0, ""); !errors.Is(err, gemini.ErrUnexpectedResponse) {
		t.Errorf("ListBatches = %v, want ErrUnexpectedResponse", err)
	}
}
