package geminisim

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"google.golang.org/genai"
	"google.golang.org/genai/interactions/models/apierrors"
	"google.golang.org/genai/interactions/models/operations"
	"google.golang.org/genai/interactions/models/webhooks"
	"google.golang.org/genai/interactions/retry"

	"github.com/geminihooks/geminihooks/pkg/event"
	"github.com/geminihooks/geminihooks/pkg/signature"
)

// The WebhookService is tested through the real Go SDK wherever the SDK can
// express the request, so that a wire format the SDK cannot parse fails
// here; raw HTTP covers what the SDK cannot send.

// noRetries turns off the SDK's retries, so that an error answer is seen
// at once.
var noRetries = operations.WithRetries(retry.Config{Strategy: "none"})

// endpoint is a webhook endpoint that records the deliveries it gets.
type endpoint struct {
	*httptest.Server
	status int

	mu  sync.Mutex
	got []capturedRequest
}

type capturedRequest struct {
	header http.Header
	body   []byte
}

func newEndpoint(t *testing.T, status int) *endpoint {
	t.Helper()
	ep := &endpoint{status: status}
	ep.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		ep.mu.Lock()
		ep.got = append(ep.got, capturedRequest{header: r.Header.Clone(), body: body})
		ep.mu.Unlock()
		w.WriteHeader(ep.status)
	}))
	t.Cleanup(ep.Close)
	return ep
}

func (ep *endpoint) requests() []capturedRequest {
	ep.mu.Lock()
	defer ep.mu.Unlock()
	return append([]capturedRequest(nil), ep.got...)
}

// createSDKWebhook registers a webhook through the SDK and returns it.
func createSDKWebhook(t *testing.T, c *genai.Client, uri string, events ...webhooks.WebhookSubscribedEvent) *webhooks.Webhook {
	t.Helper()
	if len(events) == 0 {
		events = []webhooks.WebhookSubscribedEvent{webhooks.WebhookSubscribedEventBatchSucceeded}
	}
	res, err := c.Webhooks.Create(sdkContext(t), operations.CreateWebhookRequest{Body: webhooks.WebhookInput{
		Name: genai.Ptr("results"), URI: uri, SubscribedEvents: events,
	}})
	if err != nil {
		t.Fatalf("Webhooks.Create: %v", err)
	}
	return res.Webhook
}

// apiStatus returns the HTTP status of an SDK error, or 0.
func apiStatus(err error) int {
	var apiErr *apierrors.APIError
	if errors.As(err, &apiErr) {
		return apiErr.StatusCode
	}
	return 0
}

// do sends a request with the test API key and a JSON body (none if body
// is empty) and returns the response.
func do(t *testing.T, method, url, body string) response {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("x-goog-api-key", testAPIKey)
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return response{status: resp.StatusCode, header: resp.Header, body: b}
}

// fakeClock is a settable clock for Options.Now.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

func TestWebhooks_sdkLifecycle(t *testing.T) {
	t.Parallel()
	sim, ts := newTestServer(t, Options{})
	c := newSDKClient(t, ts)
	ctx := sdkContext(t)
	ep := newEndpoint(t, http.StatusOK)

	created := createSDKWebhook(t, c, ep.URL, webhooks.WebhookSubscribedEventBatchSucceeded, webhooks.WebhookSubscribedEventVideoGenerated)
	id := created.GetID()
	if id == nil || *id == "" {
		t.Fatalf("created webhook has no id: %+v", created)
	}
	secret := created.GetNewSigningSecret()
	if secret == nil {
		t.Fatal("create returned no new_signing_secret")
	}
	if _, err := signature.ParseSecret("new_signing_secret", *secret); err != nil || !strings.HasPrefix(*secret, signature.SecretPrefix) {
		t.Fatalf("new_signing_secret is not a whsec_ secret: %v", err)
	}
	info, err := sim.Webhook(*id)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{*secret}, info.Secrets); diff != "" {
		t.Errorf("simulator secrets (-want +got):\n%s", diff)
	}
	wantCreated := map[string]any{
		"name": "results", "uri": ep.URL, "state": "enabled",
		"events":  []string{"batch.succeeded", "video.generated"},
		"secrets": []string{"whsec_..." + (*secret)[len(*secret)-4:]},
	}
	if diff := cmp.Diff(wantCreated, summarize(created)); diff != "" {
		t.Errorf("created webhook (-want +got):\n%s", diff)
	}
	if created.GetCreateTime() == nil || created.GetUpdateTime() == nil {
		t.Error("create_time/update_time not parsed")
	}

	got, err := c.Webhooks.Get(ctx, operations.GetWebhookRequest{ID: *id})
	if err != nil {
		t.Fatalf("Webhooks.Get: %v", err)
	}
	if got.Webhook.GetNewSigningSecret() != nil {
		t.Error("get returned new_signing_secret; only create may")
	}
	if diff := cmp.Diff(wantCreated, summarize(got.Webhook)); diff != "" {
		t.Errorf("got webhook (-want +got):\n%s", diff)
	}

	upd, err := c.Webhooks.Update(ctx, operations.UpdateWebhookRequest{
		ID: *id, UpdateMask: genai.Ptr("state"),
		Body: webhooks.WebhookUpdate{State: webhooks.WebhookUpdateStateDisabled.ToPointer(), URI: genai.Ptr("https://ignored.example")},
	})
	if err != nil {
		t.Fatalf("Webhooks.Update: %v", err)
	}
	if st := upd.Webhook.GetState(); st == nil || *st != webhooks.WebhookStateDisabled || upd.Webhook.GetURI() != ep.URL {
		t.Errorf("after update: state %v uri %q; want disabled and the uri unchanged (not in the mask)", st, upd.Webhook.GetURI())
	}

	if _, err := c.Webhooks.Ping(ctx, operations.PingWebhookRequest{ID: *id}); err != nil {
		t.Fatalf("Webhooks.Ping: %v", err)
	}
	if reqs := ep.requests(); len(reqs) != 1 {
		t.Fatalf("endpoint got %d requests after a ping; want 1", len(reqs))
	}

	rot, err := c.Webhooks.RotateSigningSecret(ctx, operations.RotateSigningSecretRequest{ID: *id})
	if err != nil {
		t.Fatalf("Webhooks.RotateSigningSecret: %v", err)
	}
	newSecret := rot.WebhookRotateSigningSecretResponse.GetSecret()
	if newSecret == nil || *newSecret == *secret {
		t.Fatalf("rotation returned %v; want a new secret", newSecret != nil)
	}
	if info, _ := sim.Webhook(*id); !cmp.Equal(info.Secrets, []string{*newSecret, *secret}) {
		t.Error("after rotation the simulator does not sign with the new and the previous secret")
	}

	list, err := c.Webhooks.List(ctx, operations.ListWebhooksRequest{})
	if err != nil {
		t.Fatalf("Webhooks.List: %v", err)
	}
	if hooks := list.WebhookListResponse.GetWebhooks(); len(hooks) != 1 || hooks[0].GetID() == nil || *hooks[0].GetID() != *id || len(hooks[0].GetSigningSecrets()) != 2 {
		t.Errorf("list = %+v; want the one webhook with two signing secrets", hooks)
	}

	if _, err := c.Webhooks.Delete(ctx, operations.DeleteWebhookRequest{ID: *id}); err != nil {
		t.Fatalf("Webhooks.Delete: %v", err)
	}
	_, err = c.Webhooks.Get(ctx, operations.GetWebhookRequest{ID: *id}, noRetries)
	if apiStatus(err) != http.StatusNotFound {
		t.Errorf("Get after Delete: %v; want a 404 APIError", err)
	}
	if _, err := sim.Webhook(*id); !errors.Is(err, ErrNotFound) {
		t.Errorf("sim.Webhook after Delete: %v; want ErrNotFound", err)
	}
}

// summarize picks the comparable fields of a webhook.
func summarize(w *webhooks.Webhook) map[string]any {
	var secrets []string
	for _, s := range w.GetSigningSecrets() {
		secrets = append(secrets, *s.GetTruncatedSecret())
	}
	var events []string
	for _, e := range w.GetSubscribedEvents() {
		events = append(events, string(e))
	}
	m := map[string]any{"uri": w.GetURI(), "events": events, "secrets": secrets}
	if n := w.GetName(); n != nil {
		m["name"] = *n
	}
	if st := w.GetState(); st != nil {
		m["state"] = string(*st)
	}
	return m
}

func TestWebhooks_rotateRevocation(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		behavior *webhooks.RevocationBehavior
		// wantBoth: both secrets sign until the grace period ends.
		wantBoth bool
	}{
		{name: "default_is_after_24h", behavior: nil, wantBoth: true},
		{name: "after_24h", behavior: webhooks.RevocationBehaviorRevokePreviousSecretsAfterH24.ToPointer(), wantBoth: true},
		{name: "immediately", behavior: webhooks.RevocationBehaviorRevokePreviousSecretsImmediately.ToPointer(), wantBoth: false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			clock := &fakeClock{now: time.Date(2026, 5, 4, 12, 0, 0, 0, time.UTC)}
			sim, ts := newTestServer(t, Options{Now: clock.Now})
			c := newSDKClient(t, ts)
			created := createSDKWebhook(t, c, "https://hooks.example/gemini")
			id, old := *created.GetID(), *created.GetNewSigningSecret()

			clock.Advance(time.Hour)
			rotatedAt := clock.Now()
			rot, err := c.Webhooks.RotateSigningSecret(sdkContext(t), operations.RotateSigningSecretRequest{
				ID: id, Body: webhooks.RotateSigningSecretRequest{RevocationBehavior: tt.behavior},
			})
			if err != nil {
				t.Fatalf("RotateSigningSecret: %v", err)
			}
			secret := *rot.WebhookRotateSigningSecretResponse.GetSecret()

			want := []string{secret}
			if tt.wantBoth {
				want = append(want, old)
			}
			info, _ := sim.Webhook(id)
			if !cmp.Equal(want, info.Secrets) {
				t.Fatalf("secrets in force after rotation: %d, want %d (new first)", len(info.Secrets), len(want))
			}
			if !info.Updated.Equal(rotatedAt) {
				t.Errorf("update time %v; want the rotation time %v", info.Updated, rotatedAt)
			}
			got, err := c.Webhooks.Get(sdkContext(t), operations.GetWebhookRequest{ID: id})
			if err != nil {
				t.Fatal(err)
			}
			var expiries []*time.Time
			for _, s := range got.Webhook.GetSigningSecrets() {
				expiries = append(expiries, s.GetExpireTime())
			}
			wantExpiries := []*time.Time{nil}
			if tt.wantBoth {
				wantExpiries = append(wantExpiries, genai.Ptr(rotatedAt.Add(SecretGracePeriod)))
			}
			if diff := cmp.Diff(wantExpiries, expiries); diff != "" {
				t.Errorf("expire_time of the listed secrets (-want +got):\n%s", diff)
			}

			clock.Advance(SecretGracePeriod)
			if info, _ := sim.Webhook(id); !cmp.Equal([]string{secret}, info.Secrets) {
				t.Errorf("after the grace period %d secrets sign; want only the new one", len(info.Secrets))
			}
		})
	}
}

func TestWebhooks_rotateRejectsUnknownBehavior(t *testing.T) {
	t.Parallel()
	_, ts := newTestServer(t, Options{})
	created := createSDKWebhook(t, newSDKClient(t, ts), "https://hooks.example/gemini")
	res := do(t, http.MethodPost, ts.URL+"/v1beta/webhooks/"+*created.GetID()+":rotateSigningSecret", `{"revocation_behavior":"REVOKE_NEVER"}`)
	if res.status != http.StatusBadRequest || decodeError(t, res.body).Error.Status != "INVALID_ARGUMENT" {
		t.Errorf("unknown revocation_behavior: %d %s; want 400 INVALID_ARGUMENT", res.status, res.body)
	}
}

func TestWebhooks_listPagination(t *testing.T) {
	t.Parallel()
	sim, ts := newTestServer(t, Options{})
	c := newSDKClient(t, ts)
	var want []string
	for range 5 {
		want = append(want, *createSDKWebhook(t, c, "https://hooks.example/gemini").GetID())
	}

	// Page through with page_size 2, deleting a webhook of the next page
	// after the first one: the token must not skip the others.
	var got []string
	var tokens []*string
	var token *string
	for page := 0; ; page++ {
		res, err := c.Webhooks.List(sdkContext(t), operations.ListWebhooksRequest{PageSize: genai.Ptr(2), PageToken: token})
		if err != nil {
			t.Fatalf("List page %d: %v", page, err)
		}
		for _, w := range res.WebhookListResponse.GetWebhooks() {
			got = append(got, *w.GetID())
		}
		token = res.WebhookListResponse.GetNextPageToken()
		tokens = append(tokens, token)
		if page == 0 {
			if _, err := c.Webhooks.Delete(sdkContext(t), operations.DeleteWebhookRequest{ID: want[2]}); err != nil {
				t.Fatal(err)
			}
		}
		if token == nil {
			break
		}
	}
	wantSeen := []string{want[0], want[1], want[3], want[4]}
	if diff := cmp.Diff(wantSeen, got); diff != "" {
		t.Errorf("listed ids (-want +got):\n%s", diff)
	}
	if len(tokens) != 2 {
		t.Errorf("listing took %d pages; want 2 (the last without next_page_token)", len(tokens))
	}

	// page_size above the maximum is clamped to it.
	st := &sim.webhooks
	st.mu.Lock()
	for range MaxWebhookPageSize + 1 {
		st.seq++
		id := "bulk-" + randomString(8)
		st.byID[id] = &webhook{seq: st.seq, id: id, uri: "https://hooks.example/bulk",
			events: []string{event.TypeBatchSucceeded}, state: WebhookEnabled, secrets: []signingSecret{{value: "whsec_AAAA"}}}
	}
	st.mu.Unlock()
	res := do(t, http.MethodGet, ts.URL+"/v1beta/webhooks?page_size=5000", "")
	var page struct {
		Webhooks      []json.RawMessage `json:"webhooks"`
		NextPageToken string            `json:"next_page_token"`
	}
	if err := json.Unmarshal(res.body, &page); err != nil || res.status != http.StatusOK {
		t.Fatalf("list page_size=5000: %d %v", res.status, err)
	}
	if len(page.Webhooks) != MaxWebhookPageSize || page.NextPageToken == "" {
		t.Errorf("page_size=5000 returned %d webhooks (token %q); want %d and a next page", len(page.Webhooks), page.NextPageToken, MaxWebhookPageSize)
	}
	res = do(t, http.MethodGet, ts.URL+"/v1beta/webhooks", "")
	if err := json.Unmarshal(res.body, &page); err != nil || len(page.Webhooks) != DefaultWebhookPageSize {
		t.Errorf("default page has %d webhooks (%v); want %d", len(page.Webhooks), err, DefaultWebhookPageSize)
	}

	for _, q := range []string{"page_size=-1", "page_size=two", "page_token=bogus", "page_token=YWZ0ZXI6eA"} {
		res := do(t, http.MethodGet, ts.URL+"/v1beta/webhooks?"+q, "")
		if res.status != http.StatusBadRequest || decodeError(t, res.body).Error.Status != "INVALID_ARGUMENT" {
			t.Errorf("list ?%s: %d %s; want 400 INVALID_ARGUMENT", q, res.status, res.body)
		}
	}
}

func TestWebhooks_updateMask(t *testing.T) {
	t.Parallel()
	const oldURI, newURI = "https://hooks.example/old", "https://hooks.example/new"
	tests := []struct {
		name string
		mask string // "" sends no update_mask
		body string
		// want is the resulting webhook (summarize's fields); nil means
		// the update must fail with 400.
		want map[string]any
		// before puts the webhook into this state first.
		before WebhookState
	}{
		{
			name: "state_only_in_mask", mask: "state", body: `{"state":"disabled","uri":"` + newURI + `"}`,
			want: map[string]any{"name": "results", "uri": oldURI, "state": "disabled", "events": []string{"batch.succeeded"}},
		},
		{
			name: "reenable_after_failed_deliveries", mask: "state", body: `{"state":"enabled"}`,
			before: WebhookDisabledDueToFailedDeliveries,
			want:   map[string]any{"name": "results", "uri": oldURI, "state": "enabled", "events": []string{"batch.succeeded"}},
		},
		{
			name: "uri_and_events", mask: "uri,subscribed_events", body: `{"uri":"` + newURI + `","subscribed_events":["batch.failed","batch.failed","video.generated"]}`,
			want: map[string]any{"name": "results", "uri": newURI, "state": "enabled", "events": []string{"batch.failed", "video.generated"}},
		},
		{
			name: "camel_case_mask_path", mask: "subscribedEvents", body: `{"subscribed_events":["interaction.completed"]}`,
			want: map[string]any{"name": "results", "uri": oldURI, "state": "enabled", "events": []string{"interaction.completed"}},
		},
		{
			name: "no_mask_updates_present_fields", body: `{"uri":"` + newURI + `"}`,
			want: map[string]any{"name": "results", "uri": newURI, "state": "enabled", "events": []string{"batch.succeeded"}},
		},
		{
			name: "name_in_mask_absent_from_body_clears_it", mask: "name", body: `{}`,
			want: map[string]any{"uri": oldURI, "state": "enabled", "events": []string{"batch.succeeded"}},
		},
		{name: "output_only_path", mask: "id", body: `{}`},
		{name: "unknown_path", mask: "colour", body: `{}`},
		{name: "service_only_state", mask: "state", body: `{"state":"disabled_due_to_failed_deliveries"}`},
		{name: "unknown_state", mask: "state", body: `{"state":"paused"}`},
		{name: "state_in_mask_missing", mask: "state", body: `{}`},
		{name: "uri_in_mask_missing", mask: "uri", body: `{}`},
		{name: "insecure_scheme", mask: "uri", body: `{"uri":"ftp://hooks.example/x"}`},
		{name: "no_events", mask: "subscribed_events", body: `{"subscribed_events":[]}`},
		{name: "unknown_event", mask: "subscribed_events", body: `{"subscribed_events":["batch.exploded"]}`},
		{name: "unknown_body_field", body: `{"url":"` + newURI + `"}`},
		{name: "nothing_to_update", body: `{}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			sim, ts := newTestServer(t, Options{})
			id := *createSDKWebhook(t, newSDKClient(t, ts), oldURI).GetID()
			if tt.before != "" {
				if err := sim.SetWebhookState(id, tt.before); err != nil {
					t.Fatal(err)
				}
			}
			url := ts.URL + "/v1beta/webhooks/" + id
			if tt.mask != "" {
				url += "?update_mask=" + tt.mask
			}
			res := do(t, http.MethodPatch, url, tt.body)
			if tt.want == nil {
				if res.status != http.StatusBadRequest || decodeError(t, res.body).Error.Status != "INVALID_ARGUMENT" {
					t.Errorf("PATCH: %d %s; want 400 INVALID_ARGUMENT", res.status, res.body)
				}
				return
			}
			if res.status != http.StatusOK {
				t.Fatalf("PATCH: %d %s", res.status, res.body)
			}
			var w webhooks.Webhook
			if err := json.Unmarshal(res.body, &w); err != nil {
				t.Fatal(err)
			}
			got := summarize(&w)
			delete(got, "secrets")
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("webhook after PATCH (-want +got):\n%s", diff)
			}
		})
	}
}

func TestWebhooks_createValidation(t *testing.T) {
	t.Parallel()
	_, ts := newTestServer(t, Options{})
	ok := `{"uri":"https://hooks.example/gemini","subscribed_events":["batch.succeeded"]}`
	if res := do(t, http.MethodPost, ts.URL+"/v1beta/webhooks?webhook_id=prod-hook", ok); res.status != http.StatusOK || decode(t, res.body)["id"] != "prod-hook" {
		t.Fatalf("create with webhook_id: %d %s", res.status, res.body)
	}
	tests := []struct {
		name, query, body string
		wantCode          int
		wantStatus        string
	}{
		{name: "duplicate_id", query: "?webhook_id=prod-hook", body: ok, wantCode: http.StatusConflict, wantStatus: "ALREADY_EXISTS"},
		{name: "bad_id", query: "?webhook_id=Prod_Hook", body: ok, wantCode: http.StatusBadRequest, wantStatus: "INVALID_ARGUMENT"},
		{name: "no_body", body: "", wantCode: http.StatusBadRequest, wantStatus: "INVALID_ARGUMENT"},
		{name: "not_json", body: "uri=x", wantCode: http.StatusBadRequest, wantStatus: "INVALID_ARGUMENT"},
		{name: "no_uri", body: `{"subscribed_events":["batch.succeeded"]}`, wantCode: http.StatusBadRequest, wantStatus: "INVALID_ARGUMENT"},
		{name: "relative_uri", body: `{"uri":"/hook","subscribed_events":["batch.succeeded"]}`, wantCode: http.StatusBadRequest, wantStatus: "INVALID_ARGUMENT"},
		{name: "plain_http_off_loopback", body: `{"uri":"http://hooks.example/gemini","subscribed_events":["batch.succeeded"]}`, wantCode: http.StatusBadRequest, wantStatus: "INVALID_ARGUMENT"},
		{name: "plain_http_on_loopback", body: `{"uri":"http://127.0.0.1:8080/gemini","subscribed_events":["batch.succeeded"]}`, wantCode: http.StatusOK},
		{name: "plain_http_on_localhost", body: `{"uri":"http://localhost:8080/gemini","subscribed_events":["batch.succeeded"]}`, wantCode: http.StatusOK},
		{name: "no_events", body: `{"uri":"https://hooks.example/gemini"}`, wantCode: http.StatusBadRequest, wantStatus: "INVALID_ARGUMENT"},
		{name: "unknown_event", body: `{"uri":"https://hooks.example/gemini","subscribed_events":["batch.done"]}`, wantCode: http.StatusBadRequest, wantStatus: "INVALID_ARGUMENT"},
		{name: "unknown_field", body: `{"uri":"https://hooks.example/gemini","subscribed_events":["batch.succeeded"],"secret":"x"}`, wantCode: http.StatusBadRequest, wantStatus: "INVALID_ARGUMENT"},
		{name: "state_is_output_only_on_create", body: `{"uri":"https://hooks.example/gemini","subscribed_events":["batch.succeeded"],"state":"disabled"}`, wantCode: http.StatusOK},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			res := do(t, http.MethodPost, ts.URL+"/v1beta/webhooks"+tt.query, tt.body)
			if res.status != tt.wantCode {
				t.Fatalf("status %d %s; want %d", res.status, res.body, tt.wantCode)
			}
			if tt.wantCode == http.StatusOK {
				if st := decode(t, res.body)["state"]; st != "enabled" {
					t.Errorf("state %v; want enabled (state is output only on create)", st)
				}
				return
			}
			if got := decodeError(t, res.body).Error.Status; got != tt.wantStatus {
				t.Errorf("error status %s; want %s", got, tt.wantStatus)
			}
		})
	}
}

func TestWebhooks_routing(t *testing.T) {
	t.Parallel()
	sim, ts := newTestServer(t, Options{})
	created := createSDKWebhook(t, newSDKClient(t, ts), "https://hooks.example/gemini")
	item := ts.URL + "/v1beta/webhooks/" + *created.GetID()
	tests := []struct {
		name, method, url, key string
		wantCode               int
	}{
		{name: "no_key", method: http.MethodGet, url: item, wantCode: http.StatusForbidden},
		{name: "wrong_key", method: http.MethodGet, url: item, key: "nope", wantCode: http.StatusBadRequest},
		{name: "unknown_id", method: http.MethodGet, url: ts.URL + "/v1beta/webhooks/missing", key: testAPIKey, wantCode: http.StatusNotFound},
		{name: "put_not_served", method: http.MethodPut, url: item, key: testAPIKey, wantCode: http.StatusNotFound},
		{name: "delete_collection_not_served", method: http.MethodDelete, url: ts.URL + "/v1beta/webhooks", key: testAPIKey, wantCode: http.StatusNotFound},
		{name: "unknown_verb", method: http.MethodPost, url: item + ":explode", key: testAPIKey, wantCode: http.StatusNotFound},
		{name: "get_on_verb", method: http.MethodGet, url: item + ":ping", key: testAPIKey, wantCode: http.StatusNotFound},
		{name: "ping_unknown_id", method: http.MethodPost, url: ts.URL + "/v1beta/webhooks/missing:ping", key: testAPIKey, wantCode: http.StatusNotFound},
		{name: "rotate_unknown_id", method: http.MethodPost, url: ts.URL + "/v1beta/webhooks/missing:rotateSigningSecret", key: testAPIKey, wantCode: http.StatusNotFound},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			req, err := http.NewRequestWithContext(t.Context(), tt.method, tt.url, nil)
			if err != nil {
				t.Fatal(err)
			}
			if tt.key != "" {
				req.Header.Set("x-goog-api-key", tt.key)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			body, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != tt.wantCode {
				t.Fatalf("%s %s: %d %s; want %d", tt.method, tt.url, resp.StatusCode, body, tt.wantCode)
			}
			decodeError(t, body)
		})
	}

	t.Run("injected_failure", func(t *testing.T) {
		// Not parallel: it counts requests on the shared server.
		before := sim.Requests(RouteWebhooks)
		if err := sim.FailNext(RouteWebhooks, 1, http.StatusServiceUnavailable); err != nil {
			t.Fatal(err)
		}
		if res := do(t, http.MethodGet, item, ""); res.status != http.StatusServiceUnavailable {
			t.Errorf("injected failure: %d; want 503", res.status)
		}
		if res := do(t, http.MethodGet, item, ""); res.status != http.StatusOK {
			t.Errorf("after the injected failure: %d; want 200", res.status)
		}
		if n := sim.Requests(RouteWebhooks) - before; n != 2 {
			t.Errorf("RouteWebhooks counted %d requests; want 2", n)
		}
	})
}

func TestWebhooks_pingDelivery(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name          string
		endpoint      int // status the endpoint answers
		rotate        bool
		wantDelivered bool
	}{
		{name: "one_secret", endpoint: http.StatusOK, wantDelivered: true},
		{name: "during_rotation_both_secrets_sign", endpoint: http.StatusOK, rotate: true, wantDelivered: true},
		{name: "endpoint_failing", endpoint: http.StatusInternalServerError, wantDelivered: false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			sim, ts := newTestServer(t, Options{})
			c := newSDKClient(t, ts)
			ep := newEndpoint(t, tt.endpoint)
			id := *createSDKWebhook(t, c, ep.URL).GetID()
			if tt.rotate {
				if _, err := c.Webhooks.RotateSigningSecret(sdkContext(t), operations.RotateSigningSecretRequest{ID: id}); err != nil {
					t.Fatal(err)
				}
			}
			if _, err := c.Webhooks.Ping(sdkContext(t), operations.PingWebhookRequest{ID: id}); err != nil {
				t.Fatalf("Ping: %v (the API answers whatever the endpoint said)", err)
			}
			info, _ := sim.Webhook(id)
			reqs := ep.requests()
			if len(reqs) != 1 || len(info.Pings) != 1 {
				t.Fatalf("endpoint got %d requests, %d pings reported; want 1 each (a ping is not retried)", len(reqs), len(info.Pings))
			}
			if info.Pings[0].Delivered != tt.wantDelivered {
				t.Errorf("ping report Delivered = %v; want %v", info.Pings[0].Delivered, tt.wantDelivered)
			}
			var body struct {
				Type string `json:"type"`
				Data struct {
					ID string `json:"id"`
				} `json:"data"`
			}
			if err := json.Unmarshal(reqs[0].body, &body); err != nil || body.Type != EventPing || body.Data.ID != "webhooks/"+id {
				t.Errorf("ping body %s (%v); want type %s naming the webhook", reqs[0].body, err, EventPing)
			}
			sigs := strings.Fields(reqs[0].header.Get(signature.HeaderSignature))
			if len(sigs) != len(info.Secrets) {
				t.Errorf("ping carries %d signatures; want one per secret in force (%d)", len(sigs), len(info.Secrets))
			}
			// Each secret in force verifies the ping on its own.
			for i, raw := range info.Secrets {
				sec, err := signature.ParseSecret("secret", raw)
				if err != nil {
					t.Fatal(err)
				}
				v, err := signature.NewVerifier(signature.Options{Secrets: signature.StaticSecrets{sec}})
				if err != nil {
					t.Fatal(err)
				}
				if _, err := v.Verify(t.Context(), reqs[0].header, reqs[0].body); err != nil {
					t.Errorf("secret %d does not verify the ping: %v", i, err)
				}
			}
		})
	}
}

func TestWebhooks_setWebhookState(t *testing.T) {
	t.Parallel()
	sim, ts := newTestServer(t, Options{})
	id := *createSDKWebhook(t, newSDKClient(t, ts), "https://hooks.example/gemini").GetID()
	if err := sim.SetWebhookState("missing", WebhookDisabled); !errors.Is(err, ErrNotFound) {
		t.Errorf("unknown id: %v; want ErrNotFound", err)
	}
	if err := sim.SetWebhookState(id, "paused"); !errors.Is(err, ErrInvalidSpec) {
		t.Errorf("unknown state: %v; want ErrInvalidSpec", err)
	}
	if err := sim.SetWebhookState(id, WebhookDisabledDueToFailedDeliveries); err != nil {
		t.Fatal(err)
	}
	res := do(t, http.MethodGet, ts.URL+"/v1beta/webhooks/"+id, "")
	if st := decode(t, res.body)["state"]; st != string(WebhookDisabledDueToFailedDeliveries) {
		t.Errorf("state on the wire %v; want %s", st, WebhookDisabledDueToFailedDeliveries)
	}
}

// TestWebhooks_secretOnlyOnCreate checks that no answer but create's
// carries a whole secret.
func TestWebhooks_secretOnlyOnCreate(t *testing.T) {
	t.Parallel()
	sim, ts := newTestServer(t, Options{})
	created := createSDKWebhook(t, newSDKClient(t, ts), "https://hooks.example/gemini")
	id := *created.GetID()
	do(t, http.MethodPost, ts.URL+"/v1beta/webhooks/"+id+":rotateSigningSecret", `{}`)
	info, _ := sim.Webhook(id)
	for _, path := range []string{"/v1beta/webhooks/" + id, "/v1beta/webhooks"} {
		res := do(t, http.MethodGet, ts.URL+path, "")
		for i, s := range info.Secrets {
			if bytes.Contains(res.body, []byte(s)) || bytes.Contains(res.body, []byte(strings.TrimPrefix(s, signature.SecretPrefix))) {
				t.Errorf("GET %s shows secret %d", path, i)
			}
		}
	}
}
