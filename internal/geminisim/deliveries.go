package geminisim

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/geminihooks/geminihooks/pkg/event"
	"github.com/geminihooks/geminihooks/pkg/signature"
)

// The simulator delivers the notifications of its jobs itself, the way
// Gemini does. When a job ends (through Options.CompleteAfter or a Go
// method such as CompleteBatch) or asks for action, its notification goes
// to the URIs of the job's webhook_config, signed with an RS256 JWT from
// the simulator's keyring, or, for a job without URIs, to every enabled
// registered webhook subscribed to the event type, signed with the
// webhook's signing secrets in force. The job's user_metadata is in the
// payload, under data (Undocumented: its position; pkg/event reads it
// there and at the top level). Each target gets its own webhook-id, and
// each delivery is retried with Options.Retry.
//
// Faults for reconciliation tests are set per job (SetJobFault) or per
// registered webhook (SetWebhookFault), and a webhook that keeps failing
// is disabled (Options.DisableAfterFailures). Deliveries lists what was
// delivered, and WaitIdle waits for the work in flight.

// DeliveryFault is a fault of the simulator's own deliveries.
type DeliveryFault int

// Delivery faults. When a job and a webhook both have one, DropDelivery
// wins.
const (
	// DeliverNormally clears a fault.
	DeliverNormally DeliveryFault = iota
	// DropDelivery never sends the notification: the webhook is lost, and
	// only polling the job finds it finished.
	DropDelivery
	// DeliverTwice sends the notification as two deliveries under two
	// distinct webhook-ids, as when two registered webhooks share a URL.
	DeliverTwice
)

// String returns the fault's name.
func (f DeliveryFault) String() string {
	switch f {
	case DeliverNormally:
		return "normal"
	case DropDelivery:
		return "drop"
	case DeliverTwice:
		return "twice"
	}
	return fmt.Sprintf("DeliveryFault(%d)", int(f))
}

// DeliveryStatus is the final status of one of the simulator's deliveries.
type DeliveryStatus string

// Delivery statuses.
const (
	// DeliveryDelivered: an attempt got a 2xx answer.
	DeliveryDelivered DeliveryStatus = "delivered"
	// DeliveryFailed: the retries ran out, or the Server was closed first.
	DeliveryFailed DeliveryStatus = "failed"
	// DeliveryDropped: a DropDelivery fault; nothing was sent.
	DeliveryDropped DeliveryStatus = "dropped"
)

// DeliveryRecord describes one delivery the simulator made (or dropped).
type DeliveryRecord struct {
	// Job is the job's resource name: "batches/<id>", "interactions/<id>"
	// or "models/<model>/operations/<id>".
	Job string
	// Event is the notification's type, e.g. "batch.succeeded".
	Event string
	// URL is the endpoint.
	URL string
	// Webhook is the id of the registered webhook delivered to; empty for
	// a URI of the job's webhook_config.
	Webhook string
	// Scheme is how the delivery was signed: HMAC for registered webhooks,
	// JWT for per-request URIs.
	Scheme signature.Scheme
	// WebhookID is the webhook-id of the delivery (the Standard Webhooks
	// message id), also set on dropped ones.
	WebhookID string
	// Status is the final status.
	Status DeliveryStatus
	// Report lists the attempts; empty for a dropped delivery.
	Report Report
}

// notifier is the Server's delivery machinery.
type notifier struct {
	retry        RetryPolicy
	client       *http.Client
	disableAfter int
	jwt          *Sender // per-request deliveries, signed with the Server's keys

	ctx  context.Context // cancelled by Close: background work stops
	stop context.CancelFunc
	busy tracker

	mu        sync.Mutex
	records   []DeliveryRecord
	jobFaults map[string]DeliveryFault // by job resource name
}

// init configures n for s from opts; it validates the retry policy.
func (n *notifier) init(s *Server, opts Options) error {
	n.retry, n.client, n.disableAfter = opts.Retry, opts.DeliveryClient, opts.DisableAfterFailures
	if n.client == nil {
		n.client = &http.Client{Timeout: 10 * time.Second}
	}
	jwt, err := NewSender(SenderOptions{Signer: s, Retry: n.retry, Client: n.client, Now: s.now})
	if err != nil {
		return err
	}
	n.jwt = jwt
	n.ctx, n.stop = context.WithCancel(context.Background())
	n.jobFaults = make(map[string]DeliveryFault)
	return nil
}

// tracker counts work in flight and lets callers wait until there is none.
type tracker struct {
	mu   sync.Mutex
	n    int
	idle chan struct{} // closed while n == 0; nil means closed
}

func (t *tracker) add() {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.n == 0 {
		t.idle = make(chan struct{})
	}
	t.n++
}

func (t *tracker) done() {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.n--; t.n == 0 {
		close(t.idle)
	}
}

// wait returns once nothing is in flight, or ctx's error.
func (t *tracker) wait(ctx context.Context) error {
	for {
		t.mu.Lock()
		n, idle := t.n, t.idle
		t.mu.Unlock()
		if n == 0 {
			return nil
		}
		select {
		case <-idle:
		case <-ctx.Done():
			return fmt.Errorf("geminisim: still busy: %w", ctx.Err())
		}
	}
}

// WaitIdle returns once no job created over REST is waiting to complete
// on its own and no delivery is in flight, or with ctx's error. Tests call
// it before reading Deliveries.
func (s *Server) WaitIdle(ctx context.Context) error { return s.notifier.busy.wait(ctx) }

// Deliveries returns the deliveries the simulator has finished (delivered,
// failed or dropped), in the order they finished.
func (s *Server) Deliveries() []DeliveryRecord {
	n := &s.notifier
	n.mu.Lock()
	defer n.mu.Unlock()
	return slices.Clone(n.records)
}

// SetJobFault sets the fault of the notifications of a job, named as its
// creation returned it ("batches/<id>", an interaction id, a video
// operation name) or by its bare id. It applies to the notifications sent
// after the call, so set it before the job ends.
func (s *Server) SetJobFault(name string, f DeliveryFault) error {
	if f < DeliverNormally || f > DeliverTwice {
		return fmt.Errorf("%w: unknown delivery fault %d", ErrInvalidSpec, f)
	}
	job, ok := s.jobResource(name)
	if !ok {
		return fmt.Errorf("%w: job %s", ErrNotFound, name)
	}
	n := &s.notifier
	n.mu.Lock()
	defer n.mu.Unlock()
	if f == DeliverNormally {
		delete(n.jobFaults, job)
	} else {
		n.jobFaults[job] = f
	}
	return nil
}

// SetWebhookFault sets the fault of every delivery to the registered
// webhook id, from now on.
func (s *Server) SetWebhookFault(id string, f DeliveryFault) error {
	if f < DeliverNormally || f > DeliverTwice {
		return fmt.Errorf("%w: unknown delivery fault %d", ErrInvalidSpec, f)
	}
	st := &s.webhooks
	st.mu.Lock()
	defer st.mu.Unlock()
	h, ok := st.byID[id]
	if !ok {
		return fmt.Errorf("%w: webhook %s", ErrNotFound, id)
	}
	h.fault = f
	return nil
}

// jobResource resolves a job name to its resource name: a batch name,
// "interactions/<id>" or a video operation name, or a bare id of any.
func (s *Server) jobResource(name string) (string, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case strings.HasPrefix(name, "batches/"):
		_, ok := s.batches[strings.TrimPrefix(name, "batches/")]
		return name, ok
	case strings.HasPrefix(name, "interactions/"):
		_, ok := s.interactions[strings.TrimPrefix(name, "interactions/")]
		return name, ok
	case strings.HasPrefix(name, "models/"):
		v, ok := s.videos[name[strings.LastIndex(name, "/")+1:]]
		return name, ok && v.name() == name
	}
	if _, ok := s.batches[name]; ok {
		return "batches/" + name, true
	}
	if _, ok := s.interactions[name]; ok {
		return "interactions/" + name, true
	}
	if v, ok := s.videos[name]; ok {
		return v.name(), true
	}
	return "", false
}

// target is one endpoint a notification goes to.
type target struct {
	url     string
	webhook string   // registered webhook id; "" for a per-request URI
	secrets []string // the webhook's secrets in force; nil for a per-request URI
	fault   DeliveryFault
}

// notify delivers the notification p of job to its targets in the
// background: the job's webhook URIs if it has any, else the enabled
// registered webhooks subscribed to p.Type. It returns at once.
func (s *Server) notify(job string, uris []string, p event.Payload) {
	n := &s.notifier
	if n.ctx.Err() != nil {
		return // closed
	}
	var targets []target
	if len(uris) > 0 {
		for _, u := range uris {
			targets = append(targets, target{url: u})
		}
	} else {
		targets = s.subscribers(p.Type)
	}
	n.mu.Lock()
	jobFault := n.jobFaults[job]
	n.mu.Unlock()
	for _, t := range targets {
		switch {
		case jobFault == DropDelivery || t.fault == DropDelivery:
			s.record(t, job, p, newWebhookID(), Report{}, DeliveryDropped)
		case jobFault == DeliverTwice || t.fault == DeliverTwice:
			s.deliverLater(t, job, p)
			s.deliverLater(t, job, p)
		default:
			s.deliverLater(t, job, p)
		}
	}
}

// subscribers returns the enabled registered webhooks subscribed to
// eventType, with their secrets in force.
func (s *Server) subscribers(eventType string) []target {
	now := s.now()
	st := &s.webhooks
	st.mu.Lock()
	defer st.mu.Unlock()
	var hooks []*webhook
	for _, h := range st.byID {
		if h.state == WebhookEnabled && slices.Contains(h.events, eventType) {
			hooks = append(hooks, h)
		}
	}
	slices.SortFunc(hooks, func(a, b *webhook) int { return cmp.Compare(a.seq, b.seq) })
	out := make([]target, 0, len(hooks))
	for _, h := range hooks {
		t := target{url: h.uri, webhook: h.id, fault: h.fault}
		for _, sec := range h.activeSecretsLocked(now) {
			t.secrets = append(t.secrets, sec.value)
		}
		out = append(out, t)
	}
	return out
}

// deliverLater delivers p to t in a goroutine, under a webhook-id of its
// own, and records the outcome.
func (s *Server) deliverLater(t target, job string, p event.Payload) {
	n := &s.notifier
	id := newWebhookID()
	n.busy.add()
	go func() {
		defer n.busy.done()
		sender := n.jwt
		if t.webhook != "" {
			var err error
			sender, err = NewSender(SenderOptions{Secrets: t.secrets, Retry: n.retry, Client: n.client, Now: s.now})
			if err != nil { // the secrets were checked when they were made
				s.record(t, job, p, id, Report{WebhookID: id}, DeliveryFailed)
				return
			}
		}
		rep, err := sender.Send(n.ctx, Delivery{URL: t.url, Notification: p, WebhookID: id})
		status := DeliveryDelivered
		if err != nil {
			status = DeliveryFailed
		}
		if t.webhook != "" && !errors.Is(err, context.Canceled) {
			s.countOutcome(t.webhook, err == nil)
		}
		s.record(t, job, p, id, rep, status)
	}()
}

// countOutcome tracks a registered webhook's consecutive failed
// deliveries and disables it after Options.DisableAfterFailures of them.
func (s *Server) countOutcome(id string, delivered bool) {
	now := s.now()
	st := &s.webhooks
	st.mu.Lock()
	defer st.mu.Unlock()
	h, ok := st.byID[id]
	if !ok {
		return
	}
	if delivered {
		h.failures = 0
		return
	}
	h.failures++
	if limit := s.notifier.disableAfter; limit > 0 && h.failures >= limit && h.state == WebhookEnabled {
		h.state, h.updated = WebhookDisabledDueToFailedDeliveries, now
	}
}

// record appends the outcome of a delivery.
func (s *Server) record(t target, job string, p event.Payload, id string, rep Report, status DeliveryStatus) {
	rec := DeliveryRecord{
		Job: job, Event: p.Type, URL: t.url, Webhook: t.webhook, Scheme: signature.SchemeJWT,
		WebhookID: id, Status: status, Report: rep,
	}
	if t.webhook != "" {
		rec.Scheme = signature.SchemeHMAC
	}
	n := &s.notifier
	n.mu.Lock()
	defer n.mu.Unlock()
	n.records = append(n.records, rec)
}

// completeLater runs finish after Options.CompleteAfter, unless the Server
// is closed first; with no CompleteAfter it does nothing. finish's error
// is dropped: ErrWrongState means a Go method ended the job first.
func (s *Server) completeLater(finish func() error) {
	n := &s.notifier
	if s.completeAfter <= 0 || n.ctx.Err() != nil {
		return
	}
	n.busy.add()
	go func() {
		defer n.busy.done()
		t := time.NewTimer(s.completeAfter)
		defer t.Stop()
		select {
		case <-t.C:
			_ = finish()
		case <-n.ctx.Done():
		}
	}()
}
