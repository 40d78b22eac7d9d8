package geminisim

import (
	"bytes"
	"cmp"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/geminihooks/geminihooks/pkg/event"
	"github.com/geminihooks/geminihooks/pkg/signature"
)

// This file is the WebhookService of the API reference (/v1beta): the
// project-level webhooks that Gemini signs with Standard Webhooks HMAC
// secrets. Field names are those of the Go SDK's webhooks models
// (google.golang.org/genai/interactions/models/webhooks), so the SDK parses
// every answer.

// EventPing is the type of the notification that POST
// /v1beta/webhooks/{id}:ping delivers. Undocumented: Gemini's; the
// receiver treats it (and the other plausible spellings) as a ping.
const EventPing = "webhook.ping"

// WebhookState is the state of a registered webhook.
type WebhookState string

// Webhook states, as spelled on the wire.
const (
	// WebhookEnabled: events are delivered.
	WebhookEnabled WebhookState = "enabled"
	// WebhookDisabled: the owner turned deliveries off.
	WebhookDisabled WebhookState = "disabled"
	// WebhookDisabledDueToFailedDeliveries: Gemini turned deliveries off
	// after the endpoint kept failing; the owner re-enables it with a PATCH
	// of state to enabled. Only the service sets it (SetWebhookState here).
	WebhookDisabledDueToFailedDeliveries WebhookState = "disabled_due_to_failed_deliveries"
)

// Revocation behaviours of :rotateSigningSecret.
const (
	// RevokeAfter24h keeps the previous secrets signing for
	// SecretGracePeriod: the API's default, "the safest option".
	RevokeAfter24h = "revoke_previous_secrets_after_h24"
	// RevokeImmediately stops signing with the previous secrets at once.
	RevokeImmediately = "revoke_previous_secrets_immediately"
)

// SecretGracePeriod is how long the previous signing secrets keep signing
// after a rotation with RevokeAfter24h.
const SecretGracePeriod = 24 * time.Hour

// Page sizes of GET /v1beta/webhooks, from the API reference.
const (
	DefaultWebhookPageSize = 50
	MaxWebhookPageSize     = 1000
)

// maxWebhookBody bounds a request body of the webhook routes.
const maxWebhookBody = 1 << 20

// webhookIDPattern is what ?webhook_id= accepts: a resource id as Google
// APIs define them (lower case, digits, hyphens; 63 characters at most).
var webhookIDPattern = regexp.MustCompile(`^[a-z]([a-z0-9-]{0,61}[a-z0-9])?$`)

// WebhookInfo is a snapshot of a registered webhook, for tests.
type WebhookInfo struct {
	// ID, Name, URI, Events and State are the resource's fields.
	ID, Name, URI string
	Events        []string
	State         WebhookState
	// Secrets are the signing secrets in force ("whsec_…"), newest first:
	// every delivery is signed with each of them.
	Secrets []string
	// Created and Updated are the resource's timestamps.
	Created, Updated time.Time
	// Pings reports every ping delivered, oldest first.
	Pings []Report
	// Fault is the fault set by SetWebhookFault.
	Fault DeliveryFault
	// FailedDeliveries counts the consecutive failed deliveries since the
	// last successful one (see Options.DisableAfterFailures).
	FailedDeliveries int
}

// webhookStore holds the registered webhooks. Its zero value is ready.
type webhookStore struct {
	mu   sync.Mutex
	byID map[string]*webhook
	seq  uint64 // creation counter; orders listings and page tokens
}

type webhook struct {
	seq              uint64
	id, name, uri    string
	events           []string
	state            WebhookState
	secrets          []signingSecret // newest first
	created, updated time.Time
	pings            []Report
	fault            DeliveryFault
	failures         int // consecutive failed deliveries
}

// signingSecret is one secret of a webhook; a zero expires never expires.
type signingSecret struct {
	value   string
	expires time.Time
}

// activeSecretsLocked drops the secrets that expired by now and returns
// those left, newest first. The store's mutex must be held.
func (h *webhook) activeSecretsLocked(now time.Time) []signingSecret {
	h.secrets = slices.DeleteFunc(h.secrets, func(s signingSecret) bool {
		return !s.expires.IsZero() && !now.Before(s.expires)
	})
	return h.secrets
}

// Webhook returns a snapshot of the webhook with the given id, or an error
// wrapping ErrNotFound.
func (s *Server) Webhook(id string) (WebhookInfo, error) {
	now := s.now()
	st := &s.webhooks
	st.mu.Lock()
	defer st.mu.Unlock()
	h, ok := st.byID[id]
	if !ok {
		return WebhookInfo{}, fmt.Errorf("%w: webhook %s", ErrNotFound, id)
	}
	info := WebhookInfo{
		ID: h.id, Name: h.name, URI: h.uri, Events: slices.Clone(h.events), State: h.state,
		Created: h.created, Updated: h.updated, Pings: slices.Clone(h.pings),
		Fault: h.fault, FailedDeliveries: h.failures,
	}
	for _, sec := range h.activeSecretsLocked(now) {
		info.Secrets = append(info.Secrets, sec.value)
	}
	return info, nil
}

// SetWebhookState sets a webhook's state the way the service does, for
// example to WebhookDisabledDueToFailedDeliveries after the endpoint kept
// failing. It returns an error wrapping ErrNotFound for an unknown id.
func (s *Server) SetWebhookState(id string, state WebhookState) error {
	switch state {
	case WebhookEnabled, WebhookDisabled, WebhookDisabledDueToFailedDeliveries:
	default:
		return fmt.Errorf("%w: unknown webhook state %q", ErrInvalidSpec, state)
	}
	now := s.now()
	st := &s.webhooks
	st.mu.Lock()
	defer st.mu.Unlock()
	h, ok := st.byID[id]
	if !ok {
		return fmt.Errorf("%w: webhook %s", ErrNotFound, id)
	}
	h.state, h.updated = state, now
	if state == WebhookEnabled {
		h.failures = 0
	}
	return nil
}

// webhookRoutes registers the WebhookService on mux. The item route's last
// segment may carry a custom verb ("abc:ping"), which the handler splits.
func (s *Server) webhookRoutes(mux *http.ServeMux) {
	mux.Handle("/v1beta/webhooks", s.handleWebhooks(func(r *http.Request) http.HandlerFunc {
		switch r.Method {
		case http.MethodPost:
			return s.createWebhook
		case http.MethodGet:
			return s.listWebhooks
		}
		return nil
	}))
	mux.Handle("/v1beta/webhooks/{id}", s.handleWebhooks(func(r *http.Request) http.HandlerFunc {
		_, verb, _ := strings.Cut(r.PathValue("id"), ":")
		switch {
		case verb == "" && r.Method == http.MethodGet:
			return s.getWebhook
		case verb == "" && r.Method == http.MethodPatch:
			return s.updateWebhook
		case verb == "" && r.Method == http.MethodDelete:
			return s.deleteWebhook
		case verb == "ping" && r.Method == http.MethodPost:
			return s.pingWebhook
		case verb == "rotateSigningSecret" && r.Method == http.MethodPost:
			return s.rotateSigningSecret
		}
		return nil
	}))
}

// handleWebhooks wraps the webhook routes like handle wraps the read-only
// ones, except that the method chooses the handler: pick returns nil for a
// method/path pair the API does not serve.
func (s *Server) handleWebhooks(pick func(*http.Request) http.HandlerFunc) http.Handler {
	return s.dispatch(func(r *http.Request) routeHandler {
		return routeHandler{route: RouteWebhooks, auth: true, h: pick(r)}
	})
}

// Wire shapes of the WebhookService.
type (
	webhookResource struct {
		ID               string                  `json:"id"`
		Name             string                  `json:"name,omitempty"`
		URI              string                  `json:"uri"`
		SubscribedEvents []string                `json:"subscribed_events"`
		State            WebhookState            `json:"state"`
		SigningSecrets   []signingSecretResource `json:"signing_secrets,omitempty"`
		CreateTime       string                  `json:"create_time"`
		UpdateTime       string                  `json:"update_time"`
		NewSigningSecret string                  `json:"new_signing_secret,omitempty"`
	}
	signingSecretResource struct {
		TruncatedSecret string `json:"truncated_secret"`
		ExpireTime      string `json:"expire_time,omitempty"`
	}
	webhookListResponse struct {
		Webhooks      []webhookResource `json:"webhooks,omitempty"`
		NextPageToken string            `json:"next_page_token,omitempty"`
	}
	rotateSigningSecretResponse struct {
		Secret string `json:"secret"`
	}
)

// renderWebhookLocked returns the REST representation of h. The store's
// mutex must be held.
func renderWebhookLocked(h *webhook, now time.Time) webhookResource {
	res := webhookResource{
		ID: h.id, Name: h.name, URI: h.uri, SubscribedEvents: slices.Clone(h.events), State: h.state,
		CreateTime: timestamp(h.created), UpdateTime: timestamp(h.updated),
	}
	for _, sec := range h.activeSecretsLocked(now) {
		r := signingSecretResource{TruncatedSecret: truncateSecret(sec.value)}
		if !sec.expires.IsZero() {
			r.ExpireTime = timestamp(sec.expires)
		}
		res.SigningSecrets = append(res.SigningSecrets, r)
	}
	return res
}

// truncateSecret shows a secret the way the API lists it: the prefix and
// the last four characters ("whsec_...3frh").
func truncateSecret(s string) string {
	return signature.SecretPrefix + "..." + s[max(len(s)-4, 0):]
}

// newSigningSecret generates a webhook signing secret.
func newSigningSecret() (string, error) {
	sec, err := signature.GenerateSecret()
	if err != nil {
		return "", fmt.Errorf("failed to generate signing secret: %w", err)
	}
	return sec, nil
}

// webhookInput is a decoded create or update body; a nil field was absent.
type webhookInput struct {
	name, uri *string
	events    []string
	hasEvents bool
	state     *WebhookState
}

// Field names of the Webhook resource.
const (
	fieldName   = "name"
	fieldURI    = "uri"
	fieldEvents = "subscribed_events"
	fieldState  = "state"
)

// outputOnlyFields are accepted in a request body and ignored, as Google
// APIs ignore output-only fields on input (state, too, is output only on
// create).
var outputOnlyFields = []string{"id", "signing_secrets", "create_time", "update_time", "new_signing_secret"}

// decodeWebhookInput reads a create or update body, keeping the settable
// fields and ignoring the resource's other ones. An empty body is an empty
// input. Unknown fields are refused the way Google's JSON transcoding
// refuses them.
func decodeWebhookInput(r *http.Request, settable ...string) (webhookInput, string) {
	var in webhookInput
	raw, err := io.ReadAll(io.LimitReader(r.Body, maxWebhookBody+1))
	if err != nil {
		return in, "Failed to read the request body."
	}
	if len(raw) > maxWebhookBody {
		return in, "Request payload size exceeds the limit."
	}
	if len(bytes.TrimSpace(raw)) == 0 {
		return in, ""
	}
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(raw, &fields); err != nil {
		return in, "Invalid JSON payload received. " + err.Error()
	}
	for key, val := range fields {
		known := slices.Contains(outputOnlyFields, key) || slices.Contains([]string{fieldName, fieldURI, fieldEvents, fieldState}, key)
		if !known {
			return in, fmt.Sprintf("Invalid JSON payload received. Unknown name %q: Cannot find field.", key)
		}
		if !slices.Contains(settable, key) {
			continue
		}
		var err error
		switch key {
		case fieldName:
			in.name = new(string)
			err = json.Unmarshal(val, in.name)
		case fieldURI:
			in.uri = new(string)
			err = json.Unmarshal(val, in.uri)
		case fieldEvents:
			in.hasEvents = true
			err = json.Unmarshal(val, &in.events)
		case fieldState:
			in.state = new(WebhookState)
			err = json.Unmarshal(val, in.state)
		}
		if err != nil {
			return in, fmt.Sprintf("Invalid JSON payload received. Invalid value at %q.", key)
		}
	}
	return in, ""
}

// checkEvents validates a subscription list and returns it without
// duplicates, in the given order.
func checkEvents(events []string) ([]string, string) {
	if len(events) == 0 {
		return nil, "subscribed_events must name at least one event."
	}
	var out []string
	for _, e := range events {
		if !slices.Contains(event.SubscribableTypes(), e) {
			return nil, fmt.Sprintf("subscribed_events: unknown event %q.", e)
		}
		if !slices.Contains(out, e) {
			out = append(out, e)
		}
	}
	return out, ""
}

// createWebhook serves POST /v1beta/webhooks[?webhook_id=ID]. The answer
// carries new_signing_secret, the only time the secret is shown.
func (s *Server) createWebhook(w http.ResponseWriter, r *http.Request) {
	in, msg := decodeWebhookInput(r, fieldName, fieldURI, fieldEvents)
	if msg != "" {
		writeAPIError(w, http.StatusBadRequest, msg)
		return
	}
	if in.uri == nil {
		in.uri = new(string)
	}
	if msg := checkURI(*in.uri); msg != "" {
		writeAPIError(w, http.StatusBadRequest, msg)
		return
	}
	events, msg := checkEvents(in.events)
	if msg != "" {
		writeAPIError(w, http.StatusBadRequest, msg)
		return
	}
	id := r.URL.Query().Get("webhook_id")
	if id != "" && !webhookIDPattern.MatchString(id) {
		writeAPIError(w, http.StatusBadRequest, fmt.Sprintf("webhook_id %q must match %s.", id, webhookIDPattern))
		return
	}
	secret, err := newSigningSecret()
	if err != nil {
		writeAPIError(w, http.StatusInternalServerError, msgInternal)
		return
	}
	now := s.now()
	h := &webhook{
		uri: *in.uri, events: events, state: WebhookEnabled,
		secrets: []signingSecret{{value: secret}}, created: now, updated: now,
	}
	if in.name != nil {
		h.name = *in.name
	}

	st := &s.webhooks
	st.mu.Lock()
	if st.byID == nil {
		st.byID = make(map[string]*webhook)
	}
	if id == "" {
		id = newID()
		for st.byID[id] != nil { // a collision of random ids is retried
			id = newID()
		}
	} else if st.byID[id] != nil {
		st.mu.Unlock()
		writeJSON(w, http.StatusConflict, map[string]apiError{"error": {
			Code: http.StatusConflict, Status: "ALREADY_EXISTS", Message: fmt.Sprintf("Webhook %s already exists.", id),
		}})
		return
	}
	st.seq++
	h.id, h.seq = id, st.seq
	st.byID[id] = h
	res := renderWebhookLocked(h, now)
	st.mu.Unlock()

	res.NewSigningSecret = secret
	writeJSON(w, http.StatusOK, res)
}

// listWebhooks serves GET /v1beta/webhooks?page_size=&page_token=, in
// creation order. The page token names the last webhook returned, so
// deletions between pages skip nothing.
func (s *Server) listWebhooks(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	size := DefaultWebhookPageSize
	if v := q.Get("page_size"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			writeAPIError(w, http.StatusBadRequest, fmt.Sprintf("page_size %q must be a non-negative integer.", v))
			return
		}
		if n > 0 {
			size = min(n, MaxWebhookPageSize)
		}
	}
	var after uint64
	if tok := q.Get("page_token"); tok != "" {
		n, ok := parsePageToken(tok)
		if !ok {
			writeAPIError(w, http.StatusBadRequest, "Invalid page token.")
			return
		}
		after = n
	}

	now := s.now()
	st := &s.webhooks
	st.mu.Lock()
	var hooks []*webhook
	for _, h := range st.byID {
		if h.seq > after {
			hooks = append(hooks, h)
		}
	}
	slices.SortFunc(hooks, func(a, b *webhook) int { return cmp.Compare(a.seq, b.seq) })
	var resp webhookListResponse
	for i, h := range hooks {
		if i == size {
			resp.NextPageToken = pageToken(hooks[i-1].seq)
			break
		}
		resp.Webhooks = append(resp.Webhooks, renderWebhookLocked(h, now))
	}
	st.mu.Unlock()
	writeJSON(w, http.StatusOK, resp)
}

// pageToken encodes a listing position; parsePageToken decodes it.
func pageToken(seq uint64) string {
	return base64.RawURLEncoding.EncodeToString([]byte("after:" + strconv.FormatUint(seq, 10)))
}

func parsePageToken(tok string) (uint64, bool) {
	b, err := base64.RawURLEncoding.DecodeString(tok)
	if err != nil {
		return 0, false
	}
	rest, ok := strings.CutPrefix(string(b), "after:")
	if !ok {
		return 0, false
	}
	n, err := strconv.ParseUint(rest, 10, 64)
	return n, err == nil
}

// lookupWebhook finds the webhook the request names and calls f with it,
// the store locked. It answers 404 for an unknown id.
func (s *Server) lookupWebhook(w http.ResponseWriter, r *http.Request, f func(h *webhook)) bool {
	id, _, _ := strings.Cut(r.PathValue("id"), ":")
	st := &s.webhooks
	st.mu.Lock()
	defer st.mu.Unlock()
	h, ok := st.byID[id]
	if !ok {
		writeAPIError(w, http.StatusNotFound, msgNotFound)
		return false
	}
	f(h)
	return true
}

// getWebhook serves GET /v1beta/webhooks/{id}.
func (s *Server) getWebhook(w http.ResponseWriter, r *http.Request) {
	now := s.now()
	var res webhookResource
	if s.lookupWebhook(w, r, func(h *webhook) { res = renderWebhookLocked(h, now) }) {
		writeJSON(w, http.StatusOK, res)
	}
}

// maskPaths maps the update_mask paths, in either JSON spelling, to fields.
var maskPaths = map[string]string{
	"name": fieldName, "uri": fieldURI, "state": fieldState,
	"subscribed_events": fieldEvents, "subscribedEvents": fieldEvents,
}

// updateWebhook serves PATCH /v1beta/webhooks/{id}?update_mask=. With a
// mask, exactly the named fields change (a named field absent from the body
// is cleared, which only the name allows); without one, every field present
// in the body changes.
func (s *Server) updateWebhook(w http.ResponseWriter, r *http.Request) {
	in, msg := decodeWebhookInput(r, fieldName, fieldURI, fieldEvents, fieldState)
	if msg != "" {
		writeAPIError(w, http.StatusBadRequest, msg)
		return
	}
	fields, msg := updateFields(r.URL.Query().Get("update_mask"), in)
	if msg != "" {
		writeAPIError(w, http.StatusBadRequest, msg)
		return
	}
	events, msg := checkUpdate(in, fields)
	if msg != "" {
		writeAPIError(w, http.StatusBadRequest, msg)
		return
	}
	now := s.now()
	var res webhookResource
	ok := s.lookupWebhook(w, r, func(h *webhook) {
		applyUpdate(h, in, fields, events)
		h.updated = now
		res = renderWebhookLocked(h, now)
	})
	if ok {
		writeJSON(w, http.StatusOK, res)
	}
}

// updateFields returns the fields an update changes: those update_mask
// names or, without a mask, those the body sets.
func updateFields(mask string, in webhookInput) ([]string, string) {
	var fields []string
	if mask != "" {
		for _, p := range strings.Split(mask, ",") {
			f, ok := maskPaths[strings.TrimSpace(p)]
			if !ok {
				return nil, fmt.Sprintf("Invalid field mask path %q.", strings.TrimSpace(p))
			}
			if !slices.Contains(fields, f) {
				fields = append(fields, f)
			}
		}
	} else {
		if in.name != nil {
			fields = append(fields, fieldName)
		}
		if in.uri != nil {
			fields = append(fields, fieldURI)
		}
		if in.hasEvents {
			fields = append(fields, fieldEvents)
		}
		if in.state != nil {
			fields = append(fields, fieldState)
		}
	}
	if len(fields) == 0 {
		return nil, "update_mask is empty and the body sets no field."
	}
	return fields, ""
}

// checkUpdate checks the new values of fields and returns the events, when
// they change.
func checkUpdate(in webhookInput, fields []string) (events []string, msg string) {
	for _, f := range fields {
		switch f {
		case fieldURI:
			uri := ""
			if in.uri != nil {
				uri = *in.uri
			}
			if msg := checkURI(uri); msg != "" {
				return nil, msg
			}
		case fieldEvents:
			if events, msg = checkEvents(in.events); msg != "" {
				return nil, msg
			}
		case fieldState:
			switch {
			case in.state == nil:
				return nil, "state is in update_mask but not in the body."
			case *in.state == WebhookDisabledDueToFailedDeliveries:
				return nil, "state disabled_due_to_failed_deliveries is set by the service only."
			case *in.state != WebhookEnabled && *in.state != WebhookDisabled:
				return nil, fmt.Sprintf("state %q must be enabled or disabled.", *in.state)
			}
		}
	}
	return events, ""
}

// applyUpdate sets fields of h from in; events are the checked ones.
func applyUpdate(h *webhook, in webhookInput, fields, events []string) {
	for _, f := range fields {
		switch f {
		case fieldName:
			h.name = ""
			if in.name != nil {
				h.name = *in.name
			}
		case fieldURI:
			h.uri = *in.uri
		case fieldEvents:
			h.events = events
		case fieldState:
			h.state = *in.state
			if h.state == WebhookEnabled {
				// Re-enabled by its owner: the failures start over.
				h.failures = 0
			}
		}
	}
}

// deleteWebhook serves DELETE /v1beta/webhooks/{id}: an empty JSON object.
func (s *Server) deleteWebhook(w http.ResponseWriter, r *http.Request) {
	id, _, _ := strings.Cut(r.PathValue("id"), ":")
	if s.lookupWebhook(w, r, func(h *webhook) { delete(s.webhooks.byID, id) }) {
		writeJSON(w, http.StatusOK, struct{}{})
	}
}

// rotateSigningSecret serves POST /v1beta/webhooks/{id}:rotateSigningSecret
// with body {"revocation_behavior": ...}: a new secret signs from now on,
// next to the previous ones for SecretGracePeriod (the default) or alone.
func (s *Server) rotateSigningSecret(w http.ResponseWriter, r *http.Request) {
	var body struct {
		RevocationBehavior string `json:"revocation_behavior"`
	}
	raw, err := io.ReadAll(io.LimitReader(r.Body, maxWebhookBody))
	if err != nil {
		writeAPIError(w, http.StatusBadRequest, "Failed to read the request body.")
		return
	}
	if len(bytes.TrimSpace(raw)) > 0 {
		dec := json.NewDecoder(bytes.NewReader(raw))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&body); err != nil {
			writeAPIError(w, http.StatusBadRequest, "Invalid JSON payload received. "+err.Error())
			return
		}
	}
	switch body.RevocationBehavior {
	case "":
		body.RevocationBehavior = RevokeAfter24h
	case RevokeAfter24h, RevokeImmediately:
	default:
		writeAPIError(w, http.StatusBadRequest, fmt.Sprintf("revocation_behavior %q must be %s or %s.",
			body.RevocationBehavior, RevokeAfter24h, RevokeImmediately))
		return
	}
	secret, err := newSigningSecret()
	if err != nil {
		writeAPIError(w, http.StatusInternalServerError, msgInternal)
		return
	}
	now := s.now()
	ok := s.lookupWebhook(w, r, func(h *webhook) {
		previous := h.activeSecretsLocked(now)
		if body.RevocationBehavior == RevokeImmediately {
			previous = nil
		}
		for i := range previous {
			if previous[i].expires.IsZero() {
				previous[i].expires = now.Add(SecretGracePeriod)
			}
		}
		h.secrets = append([]signingSecret{{value: secret}}, previous...)
		h.updated = now
	})
	if ok {
		writeJSON(w, http.StatusOK, rotateSigningSecretResponse{Secret: secret})
	}
}

// pingWebhook serves POST /v1beta/webhooks/{id}:ping: it delivers an
// EventPing notification to the webhook's URI, signed with every secret in
// force, once and before answering, and answers an empty object whatever
// the endpoint said (the API reports nothing about the delivery; the
// outcome is in WebhookInfo.Pings). Disabled webhooks are pinged too, so an
// endpoint can be checked before it is re-enabled.
func (s *Server) pingWebhook(w http.ResponseWriter, r *http.Request) {
	now := s.now()
	var id, uri string
	var secrets []string
	if !s.lookupWebhook(w, r, func(h *webhook) {
		id, uri = h.id, h.uri
		for _, sec := range h.activeSecretsLocked(now) {
			secrets = append(secrets, sec.value)
		}
	}) {
		return
	}
	rep, err := s.ping(r.Context(), id, uri, secrets, now)
	if err != nil && !errors.Is(err, ErrNotDelivered) {
		writeAPIError(w, http.StatusInternalServerError, msgInternal)
		return
	}
	st := &s.webhooks
	st.mu.Lock()
	if h, ok := st.byID[id]; ok {
		h.pings = append(h.pings, rep)
	}
	st.mu.Unlock()
	writeJSON(w, http.StatusOK, struct{}{})
}

// ping makes one signed delivery of a ping notification.
func (s *Server) ping(ctx context.Context, id, uri string, secrets []string, now time.Time) (Report, error) {
	sender, err := NewSender(SenderOptions{Secrets: secrets, Retry: RetryPolicy{MaxAttempts: 1}, Now: s.now})
	if err != nil {
		return Report{}, err
	}
	return sender.Send(ctx, Delivery{URL: uri, Notification: event.Payload{
		Type: EventPing, Version: event.PayloadVersion, Timestamp: now, Data: event.PayloadData{ID: "webhooks/" + id},
	}})
}
