package gemini

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
)

// BatchPage is one page of the project's batches.
type BatchPage struct {
	// Batches are the page's batches, in the API's order. Only the fields
	// that describe a batch's progress are set: Name, State, Done, Error,
	// Stats and the times; results come from GetBatch.
	Batches []Batch
	// NextPageToken asks for the next page; empty on the last one.
	NextPageToken string
}

// batchList is the wire shape of GET /v1beta/batches, a
// google.longrunning.ListOperationsResponse, as the SDK's
// listBatchJobsResponseFromMldev reads it.
type batchList struct {
	Operations    []batchOperation `json:"operations"`
	NextPageToken string           `json:"nextPageToken"`
}

// ListBatches returns one page of the project's batches: the first with an
// empty pageToken, the next with the previous page's NextPageToken.
// pageSize 0 leaves the page size to the API. Undocumented: the order; the
// API is reported to list the newest first.
func (c *Client) ListBatches(ctx context.Context, pageSize int, pageToken string) (*BatchPage, error) {
	if pageSize < 0 {
		return nil, fmt.Errorf("gemini: page size %d is negative", pageSize)
	}
	q := url.Values{}
	if pageSize > 0 {
		q.Set("pageSize", strconv.Itoa(pageSize))
	}
	if pageToken != "" {
		q.Set("pageToken", pageToken)
	}
	body, err := c.getJSON(ctx, withQuery("batches", q))
	if err != nil {
		return nil, scrub(fmt.Errorf("failed to list batches: %w", err), c.apiKey)
	}
	var list batchList
	if err := json.Unmarshal(body, &list); err != nil {
		return nil, fmt.Errorf("failed to list batches: %w: not valid JSON: %w", ErrUnexpectedResponse, err)
	}
	page := &BatchPage{NextPageToken: list.NextPageToken, Batches: make([]Batch, 0, len(list.Operations))}
	for i := range list.Operations {
		op := &list.Operations[i]
		// The names become request paths later: they are checked as
		// strictly as a webhook's.
		if name, err := BatchName(op.Name); err != nil || name != op.Name {
			return nil, fmt.Errorf("failed to list batches: %w: batch %d is named %q", ErrUnexpectedResponse, i, truncate(op.Name, 200))
		}
		b, err := op.batch()
		if err != nil {
			return nil, fmt.Errorf("failed to list batches: %s: %w", op.Name, err)
		}
		page.Batches = append(page.Batches, *b)
	}
	return page, nil
}

// Webhook states, as the WebhookService spells them.
const (
	WebhookEnabled  = "enabled"
	WebhookDisabled = "disabled"
	// WebhookDisabledDueToFailedDeliveries: Gemini stopped delivering to
	// the endpoint after it kept failing. Undocumented: after how many
	// failures.
	WebhookDisabledDueToFailedDeliveries = "disabled_due_to_failed_deliveries"
)

// Webhook is a project-level webhook registered with the WebhookService.
type Webhook struct {
	// ID identifies the webhook in the API's paths.
	ID string `json:"id"`
	// Name is its display name.
	Name string `json:"name,omitempty"`
	// URI is the endpoint Gemini delivers to.
	URI string `json:"uri"`
	// State is WebhookEnabled, WebhookDisabled or
	// WebhookDisabledDueToFailedDeliveries.
	State string `json:"state"`
	// SubscribedEvents are the event types delivered.
	SubscribedEvents []string `json:"subscribed_events,omitempty"`
}

// WebhookPage is one page of the project's webhooks.
type WebhookPage struct {
	// Webhooks are the page's webhooks.
	Webhooks []Webhook `json:"webhooks"`
	// NextPageToken asks for the next page; empty on the last one.
	NextPageToken string `json:"next_page_token"`
}

// ListWebhooks returns one page of the project's webhooks (GET
// /v1beta/webhooks, snake_case like the rest of the WebhookService).
// pageSize 0 leaves the page size to the API (50; at most 1000).
func (c *Client) ListWebhooks(ctx context.Context, pageSize int, pageToken string) (*WebhookPage, error) {
	if pageSize < 0 {
		return nil, fmt.Errorf("gemini: page size %d is negative", pageSize)
	}
	q := url.Values{}
	if pageSize > 0 {
		q.Set("page_size", strconv.Itoa(pageSize))
	}
	if pageToken != "" {
		q.Set("page_token", pageToken)
	}
	body, err := c.getJSON(ctx, withQuery("webhooks", q))
	if err != nil {
		return nil, scrub(fmt.Errorf("failed to list webhooks: %w", err), c.apiKey)
	}
	var page WebhookPage
	if err := json.Unmarshal(body, &page); err != nil {
		return nil, fmt.Errorf("failed to list webhooks: %w: not valid JSON: %w", ErrUnexpectedResponse, err)
	}
	for i, h := range page.Webhooks {
		if _, err := WebhookID(h.ID); err != nil {
			return nil, fmt.Errorf("failed to list webhooks: %w: webhook %d: %w", ErrUnexpectedResponse, i, err)
		}
	}
	return &page, nil
}

// EnableWebhook sets a webhook's state to enabled (PATCH
// /v1beta/webhooks/{id}?update_mask=state), which is how a webhook that
// Gemini disabled after failed deliveries is turned back on. Setting a
// state is idempotent, so the request is retried like a read.
func (c *Client) EnableWebhook(ctx context.Context, id string) error {
	id, err := WebhookID(id)
	if err != nil {
		return err
	}
	body, err := json.Marshal(map[string]string{"state": WebhookEnabled})
	if err != nil {
		return err
	}
	q := url.Values{"update_mask": {"state"}}
	if _, err := c.sendJSON(ctx, http.MethodPatch, withQuery("webhooks/"+id, q), body); err != nil {
		return scrub(fmt.Errorf("failed to enable webhook %s: %w", id, err), c.apiKey)
	}
	return nil
}

// WebhookID returns the bare id of a webhook given as "<id>" or
// "webhooks/<id>".
func WebhookID(id string) (string, error) {
	seg := strings.TrimPrefix(id, "webhooks/")
	if !idSegment.MatchString(seg) {
		return "", invalidID("webhook", id)
	}
	return seg, nil
}

// withQuery appends q to an API path.
func withQuery(path string, q url.Values) string {
	if len(q) == 0 {
		return path
	}
	return path + "?" + q.Encode()
}
