package geminisim

import (
	"context"
	"encoding/json"
	"errors"
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
	"github.com/lestrrat-go/jwx/v2/jwk"
	"github.com/lestrrat-go/jwx/v2/jws"
	"github.com/lestrrat-go/jwx/v2/jwt"
	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"

	"github.com/geminihooks/geminihooks/pkg/event"
	"github.com/geminihooks/geminihooks/pkg/gemini"
	"github.com/geminihooks/geminihooks/pkg/signature"
)

// delivered is one request a receiver got.
type delivered struct {
	header http.Header
	body   []byte
}

// receiver is a webhook endpoint that records deliveries and answers the
// n-th one (from 0) with respond(n).
type receiver struct {
	*httptest.Server
	mu  sync.Mutex
	got []delivered
}

func newReceiver(t *testing.T, respond func(n int) int) *receiver {
	t.Helper()
	r := &receiver{}
	r.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		body, _ := io.ReadAll(req.Body)
		r.mu.Lock()
		n := len(r.got)
		r.got = append(r.got, delivered{header: req.Header.Clone(), body: body})
		r.mu.Unlock()
		w.WriteHeader(respond(n))
	}))
	t.Cleanup(r.Close)
	return r
}

func (r *receiver) deliveries() []delivered {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.got)
}

func always(status int) func(int) int { return func(int) int { return status } }

// fastRetry runs a day of retries in well under a second.
var fastRetry = RetryPolicy{TimeScale: 1e-6}

func newSecrets(t *testing.T, n int) []string {
	t.Helper()
	out := make([]string, n)
	for i := range out {
		s, err := signature.GenerateSecret()
		if err != nil {
			t.Fatal(err)
		}
		out[i] = s
	}
	return out
}

func newHMACSender(t *testing.T, secrets []string, retry RetryPolicy) *Sender {
	t.Helper()
	s, err := NewSender(SenderOptions{Secrets: secrets, Retry: retry})
	if err != nil {
		t.Fatalf("NewSender: %v", err)
	}
	return s
}

// allNotifications moves one job of each kind through every documented
// outcome and returns the notifications, keyed by event type.
func allNotifications(t *testing.T, sim *Server) map[string]event.Payload {
	t.Helper()
	out := map[string]event.Payload{}
	add := func(n event.Payload, err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		out[n.Type] = n
	}
	batch := func(id string) string {
		name, err := sim.CreateBatch(BatchSpec{ID: id, UserMetadata: map[string]any{"job": id}})
		if err != nil {
			t.Fatal(err)
		}
		return name
	}
	add(sim.CompleteBatch(batch("b-ok")))
	add(sim.FailBatch(batch("b-fail"), JobError{Code: 3, Message: "invalid input file"}))
	add(sim.CancelBatch(batch("b-cancel")))
	add(sim.ExpireBatch(batch("b-expire")))
	interaction := func(id string) string {
		got, err := sim.CreateInteraction(InteractionSpec{ID: id})
		if err != nil {
			t.Fatal(err)
		}
		return got
	}
	add(sim.CompleteInteraction(interaction("i-ok")))
	add(sim.FailInteraction(interaction("i-fail"), "internal", "agent crashed"))
	add(sim.CancelInteraction(interaction("i-cancel")))
	add(sim.RequireAction(interaction("i-action")))
	op, err := sim.CreateVideo(VideoSpec{ID: "v-ok"})
	if err != nil {
		t.Fatal(err)
	}
	add(sim.CompleteVideo(op))
	return out
}

func TestNotifications_envelope(t *testing.T) {
	t.Parallel()
	for _, bare := range []bool{false, true} {
		name := "resource_ids"
		if bare {
			name = "bare_ids"
		}
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			now := time.Date(2026, 1, 22, 12, 0, 0, 123, time.UTC)
			sim, _ := newTestServer(t, Options{BareEventIDs: bare, BaseURL: "https://sim.example", Now: func() time.Time { return now }})
			ns := allNotifications(t, sim)
			id := func(prefix, id string) string {
				if bare {
					return id
				}
				return prefix + id
			}
			fileOf := func(typ string) string { return ns[typ].Data.FileName }
			batchFile := ns[event.TypeBatchSucceeded].Data.OutputFileURI
			want := map[string]map[string]any{
				event.TypeBatchSucceeded: {"id": id("batches/", "b-ok"), "output_file_uri": batchFile, "user_metadata": map[string]any{"job": "b-ok"}},
				event.TypeBatchFailed: {"id": id("batches/", "b-fail"), "error_code": 3.0, "error_message": "invalid input file",
					"user_metadata": map[string]any{"job": "b-fail"}},
				event.TypeBatchCancelled:            {"id": id("batches/", "b-cancel"), "user_metadata": map[string]any{"job": "b-cancel"}},
				event.TypeBatchExpired:              {"id": id("batches/", "b-expire"), "user_metadata": map[string]any{"job": "b-expire"}},
				event.TypeInteractionCompleted:      {"id": "i-ok"},
				event.TypeInteractionFailed:         {"id": "i-fail", "error_code": "internal", "error_message": "agent crashed"},
				event.TypeInteractionCancelled:      {"id": "i-cancel"},
				event.TypeInteractionRequiresAction: {"id": "i-action"},
				event.TypeVideoGenerated: {"id": id("models/veo-3.0-generate-001/operations/", "v-ok"),
					"output_file_uri": "https://sim.example/v1beta/" + fileOf(event.TypeVideoGenerated) + ":download?alt=media",
					"file_name":       fileOf(event.TypeVideoGenerated)},
			}
			if !strings.HasPrefix(batchFile, "files/") {
				t.Errorf("batch output_file_uri = %q, want files/...", batchFile)
			}
			for typ, data := range want {
				b, err := json.Marshal(ns[typ])
				if err != nil {
					t.Fatal(err)
				}
				got := decode(t, b)
				wantEnv := map[string]any{"type": typ, "version": "v1", "timestamp": "2026-01-22T12:00:00Z", "data": data}
				if diff := cmp.Diff(wantEnv, got); diff != "" {
					t.Errorf("%s envelope (-want +got):\n%s", typ, diff)
				}
			}
		})
	}
}

func TestSender_hmac(t *testing.T) {
	t.Parallel()
	sim, _ := newTestServer(t, Options{})
	notes := allNotifications(t, sim)
	secrets := newSecrets(t, 2) // a rotation: both secrets sign
	rcv := newReceiver(t, always(http.StatusNoContent))
	sender := newHMACSender(t, secrets, fastRetry)
	for typ, n := range notes {
		rep, err := sender.Send(t.Context(), Delivery{URL: rcv.URL, Notification: n})
		if err != nil || !rep.Delivered || len(rep.Attempts) != 1 {
			t.Fatalf("%s: report %+v, error %v", typ, rep, err)
		}
	}
	got := rcv.deliveries()
	if len(got) != len(notes) {
		t.Fatalf("received %d deliveries, want %d", len(got), len(notes))
	}
	for _, d := range got {
		if d.header.Get("Content-Type") != "application/json" {
			t.Errorf("Content-Type = %q", d.header.Get("Content-Type"))
		}
		if id := d.header.Get("webhook-id"); !strings.HasPrefix(id, "msg_") || len(id) != 31 {
			t.Errorf("webhook-id = %q, want msg_ and 27 characters", id)
		}
		if sigs := strings.Fields(d.header.Get("webhook-signature")); len(sigs) != 2 {
			t.Errorf("webhook-signature has %d entries, want one per secret", len(sigs))
		}
		for i, secret := range secrets {
			wh, err := standardwebhooks.NewWebhook(secret)
			if err != nil {
				t.Fatal(err)
			}
			if err := wh.Verify(d.body, d.header); err != nil {
				t.Errorf("secret %d does not verify the delivery: %v", i, err)
			}
		}
		var env struct {
			Type string `json:"type"`
		}
		if err := json.Unmarshal(d.body, &env); err != nil {
			t.Fatal(err)
		}
		want, _ := json.Marshal(notes[env.Type])
		if string(d.body) != string(want) {
			t.Errorf("body = %s, want %s", d.body, want)
		}
	}
}

// jwtVerifier verifies per-request webhook JWTs against the simulator's
// JWKS, fetched over HTTP as a receiver would.
func verifyJWT(t *testing.T, jwksURL, audience string, d delivered) (jwt.Token, error) {
	t.Helper()
	set, err := jwk.Fetch(t.Context(), jwksURL)
	if err != nil {
		t.Fatalf("fetching the JWKS: %v", err)
	}
	return jwt.Parse([]byte(d.header.Get("webhook-signature")), jwt.WithKeySet(set),
		jwt.WithValidate(true), jwt.WithIssuer(gemini.WebhookIssuer), jwt.WithAudience(audience))
}

func TestSender_jwt(t *testing.T) {
	t.Parallel()
	for _, omit := range []bool{false, true} {
		name := "with_id_headers"
		if omit {
			name = "without_id_headers"
		}
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			sim, ts := newTestServer(t, Options{})
			notes := allNotifications(t, sim)
			rcv := newReceiver(t, always(http.StatusOK))
			sender, err := NewSender(SenderOptions{Signer: sim, OmitIDHeaders: omit, Retry: fastRetry})
			if err != nil {
				t.Fatal(err)
			}
			var ids []string
			for _, typ := range []string{event.TypeBatchSucceeded, event.TypeInteractionCompleted, event.TypeVideoGenerated} {
				rep, err := sender.Send(t.Context(), Delivery{URL: rcv.URL + "/hook", Notification: notes[typ]})
				if err != nil {
					t.Fatal(err)
				}
				ids = append(ids, rep.WebhookID)
			}
			for i, d := range rcv.deliveries() {
				tok, err := verifyJWT(t, ts.URL+"/.well-known/jwks.json", rcv.URL+"/hook", d)
				if err != nil {
					t.Fatalf("delivery %d does not verify: %v", i, err)
				}
				msg, err := jws.Parse([]byte(d.header.Get("webhook-signature")))
				if err != nil {
					t.Fatal(err)
				}
				if hdr := msg.Signatures()[0].ProtectedHeaders(); hdr.KeyID() != sim.KeyID() || hdr.Algorithm().String() != "RS256" {
					t.Errorf("JWT header kid %q alg %v, want %q RS256", hdr.KeyID(), hdr.Algorithm(), sim.KeyID())
				}
				if tok.JwtID() != ids[i] || tok.Expiration().Sub(tok.IssuedAt()) != 5*time.Minute {
					t.Errorf("jti %q (want %q), lifetime %v", tok.JwtID(), ids[i], tok.Expiration().Sub(tok.IssuedAt()))
				}
				// The claims carry the event, equal to the body.
				claims, err := tok.AsMap(t.Context())
				if err != nil {
					t.Fatal(err)
				}
				body := decode(t, d.body)
				for _, k := range []string{"type", "version", "timestamp", "data"} {
					if diff := cmp.Diff(body[k], claims[k]); diff != "" {
						t.Errorf("claim %s differs from the body (-body +claim):\n%s", k, diff)
					}
				}
				hasIDs := d.header.Get("webhook-id") != "" && d.header.Get("webhook-timestamp") != ""
				if hasIDs == omit {
					t.Errorf("webhook-id/webhook-timestamp present = %v with OmitIDHeaders %v", hasIDs, omit)
				}
				if hasIDs && d.header.Get("webhook-id") != ids[i] {
					t.Errorf("webhook-id = %q, want %q", d.header.Get("webhook-id"), ids[i])
				}
			}
		})
	}
	t.Run("key_rotation", func(t *testing.T) {
		t.Parallel()
		sim, ts := newTestServer(t, Options{})
		rcv := newReceiver(t, always(http.StatusOK))
		sender, err := NewSender(SenderOptions{Signer: sim, Audience: "my-audience", Retry: fastRetry})
		if err != nil {
			t.Fatal(err)
		}
		n := event.Payload{Type: event.TypeInteractionCompleted, Timestamp: time.Now(), Data: event.PayloadData{ID: "x"}}
		send := func() {
			if _, err := sender.Send(t.Context(), Delivery{URL: rcv.URL, Notification: n}); err != nil {
				t.Fatal(err)
			}
		}
		send()
		if _, err := sim.RotateKey(); err != nil {
			t.Fatal(err)
		}
		send()
		got := rcv.deliveries()
		kids := map[string]bool{}
		for _, d := range got {
			if _, err := verifyJWT(t, ts.URL+"/.well-known/jwks.json", "my-audience", d); err != nil {
				t.Errorf("after rotation, a delivery does not verify: %v", err)
			}
			msg, _ := jws.Parse([]byte(d.header.Get("webhook-signature")))
			kids[msg.Signatures()[0].ProtectedHeaders().KeyID()] = true
		}
		if len(kids) != 2 || !kids[sim.KeyID()] {
			t.Errorf("kids used = %v, want the old and the new (%s)", kids, sim.KeyID())
		}
	})
}

// tickingClock returns a clock that starts now and advances a second per
// reading, so that every attempt has a distinct webhook-timestamp while
// staying within a verifier's tolerance.
func tickingClock() func() time.Time {
	start := time.Now()
	var n atomic.Int64
	return func() time.Time { return start.Add(time.Duration(n.Add(1)) * time.Second) }
}

func TestSender_retries(t *testing.T) {
	t.Parallel()
	answers := []int{500, 503, 429, 200}
	rcv := newReceiver(t, func(n int) int { return answers[min(n, len(answers)-1)] })
	secrets := newSecrets(t, 1)
	sender, err := NewSender(SenderOptions{Secrets: secrets, Now: tickingClock(), Retry: RetryPolicy{TimeScale: 1e-4}})
	if err != nil {
		t.Fatal(err)
	}
	n := event.Payload{Type: event.TypeBatchSucceeded, Timestamp: time.Now(), Data: event.PayloadData{ID: "batches/r"}}
	rep, err := sender.Send(t.Context(), Delivery{URL: rcv.URL, Notification: n})
	if err != nil || !rep.Delivered {
		t.Fatalf("Send: %+v, %v", rep, err)
	}
	if diff := cmp.Diff(answers, rep.Statuses()); diff != "" {
		t.Errorf("statuses (-want +got):\n%s", diff)
	}
	var elapsed []time.Duration
	for _, a := range rep.Attempts {
		elapsed = append(elapsed, a.Elapsed)
	}
	// 30s initial backoff, doubling.
	if diff := cmp.Diff([]time.Duration{0, 30 * time.Second, 90 * time.Second, 210 * time.Second}, elapsed); diff != "" {
		t.Errorf("schedule (-want +got):\n%s", diff)
	}
	got := rcv.deliveries()
	if len(got) != len(answers) {
		t.Fatalf("received %d requests, want %d", len(got), len(answers))
	}
	wh, _ := standardwebhooks.NewWebhook(secrets[0])
	seenTS, seenSig := map[string]bool{}, map[string]bool{}
	for i, d := range got {
		if id := d.header.Get("webhook-id"); id != rep.WebhookID {
			t.Errorf("attempt %d: webhook-id %q, want %q on every attempt", i, id, rep.WebhookID)
		}
		seenTS[d.header.Get("webhook-timestamp")] = true
		seenSig[d.header.Get("webhook-signature")] = true
		if err := wh.Verify(d.body, d.header); err != nil {
			t.Errorf("attempt %d does not verify: %v", i, err)
		}
		if string(d.body) != string(got[0].body) {
			t.Errorf("attempt %d has a different body", i)
		}
	}
	if len(seenTS) != len(got) || len(seenSig) != len(got) {
		t.Errorf("%d distinct timestamps and %d signatures over %d attempts; want fresh ones each time", len(seenTS), len(seenSig), len(got))
	}
}

func TestSender_givesUp(t *testing.T) {
	t.Parallel()
	closed := httptest.NewServer(http.NotFoundHandler())
	closed.Close()
	cases := []struct {
		name        string
		url         func(*receiver) string
		retry       RetryPolicy
		wantElapsed []time.Duration
		wantStatus  int
	}{
		{"max_attempts", func(r *receiver) string { return r.URL },
			RetryPolicy{MaxAttempts: 3, InitialBackoff: time.Minute, TimeScale: 1e-6},
			[]time.Duration{0, time.Minute, 3 * time.Minute}, 500},
		{"window", func(r *receiver) string { return r.URL },
			RetryPolicy{MaxAttempts: 100, InitialBackoff: time.Hour, MaxBackoff: 100 * time.Hour, TimeScale: 1e-9},
			// The next retry would come 31h after the first attempt.
			[]time.Duration{0, time.Hour, 3 * time.Hour, 7 * time.Hour, 15 * time.Hour}, 500},
		{"capped_backoff", func(r *receiver) string { return r.URL },
			RetryPolicy{MaxAttempts: 5, InitialBackoff: time.Hour, MaxBackoff: 90 * time.Minute, TimeScale: 1e-9},
			[]time.Duration{0, time.Hour, 150 * time.Minute, 240 * time.Minute, 330 * time.Minute}, 500},
		{"network_error", func(*receiver) string { return closed.URL },
			RetryPolicy{MaxAttempts: 2, TimeScale: 1e-6}, []time.Duration{0, 30 * time.Second}, 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			rcv := newReceiver(t, always(http.StatusInternalServerError))
			sender := newHMACSender(t, newSecrets(t, 1), tc.retry)
			rep, err := sender.Send(t.Context(), Delivery{URL: tc.url(rcv), Notification: event.Payload{Type: event.TypeBatchExpired}})
			if !errors.Is(err, ErrNotDelivered) || rep.Delivered {
				t.Fatalf("Send: delivered %v, error %v; want ErrNotDelivered", rep.Delivered, err)
			}
			var elapsed []time.Duration
			for _, a := range rep.Attempts {
				elapsed = append(elapsed, a.Elapsed)
				if a.Status != tc.wantStatus || (a.Status == 0) != (a.Err != nil) {
					t.Errorf("attempt status %d, error %v; want status %d", a.Status, a.Err, tc.wantStatus)
				}
			}
			if diff := cmp.Diff(tc.wantElapsed, elapsed); diff != "" {
				t.Errorf("schedule (-want +got):\n%s", diff)
			}
		})
	}
	t.Run("context_cancelled", func(t *testing.T) {
		t.Parallel()
		rcv := newReceiver(t, always(http.StatusServiceUnavailable))
		sender := newHMACSender(t, newSecrets(t, 1), RetryPolicy{}) // real time: 30s before the first retry
		ctx, cancel := context.WithTimeout(t.Context(), 100*time.Millisecond)
		defer cancel()
		start := time.Now()
		rep, err := sender.Send(ctx, Delivery{URL: rcv.URL, Notification: event.Payload{Type: event.TypeBatchExpired}})
		if !errors.Is(err, context.DeadlineExceeded) || len(rep.Attempts) != 1 {
			t.Errorf("Send: %d attempts, error %v; want 1 and DeadlineExceeded", len(rep.Attempts), err)
		}
		if took := time.Since(start); took > 10*time.Second {
			t.Errorf("Send took %v after its context ended", took)
		}
	})
}

func TestSender_faults(t *testing.T) {
	t.Parallel()
	sim, ts := newTestServer(t, Options{})
	n := event.Payload{Type: event.TypeBatchSucceeded, Timestamp: time.Now(), Data: event.PayloadData{ID: "batches/f", OutputFileURI: "files/x"}}
	secrets := newSecrets(t, 1)
	wh, err := standardwebhooks.NewWebhook(secrets[0])
	if err != nil {
		t.Fatal(err)
	}
	jwtSender, err := NewSender(SenderOptions{Signer: sim, Retry: fastRetry})
	if err != nil {
		t.Fatal(err)
	}
	hmacSender := newHMACSender(t, secrets, fastRetry)

	t.Run("duplicate", func(t *testing.T) {
		t.Parallel()
		rcv := newReceiver(t, always(http.StatusOK))
		rep, err := hmacSender.Send(t.Context(), Delivery{URL: rcv.URL, Notification: n, Duplicate: true})
		if err != nil {
			t.Fatal(err)
		}
		got := rcv.deliveries()
		if len(got) != 2 || len(rep.Attempts) != 2 || !rep.Attempts[1].Duplicate || rep.Attempts[0].Duplicate {
			t.Fatalf("%d deliveries, attempts %+v; want the delivery and one duplicate", len(got), rep.Attempts)
		}
		for _, d := range got {
			if d.header.Get("webhook-id") != rep.WebhookID || string(d.body) != string(got[0].body) {
				t.Errorf("duplicate differs: id %q body %s", d.header.Get("webhook-id"), d.body)
			}
			if err := wh.Verify(d.body, d.header); err != nil {
				t.Errorf("duplicate does not verify: %v", err)
			}
		}
	})
	t.Run("stale_hmac", func(t *testing.T) {
		t.Parallel()
		rcv := newReceiver(t, always(http.StatusOK))
		if _, err := hmacSender.Send(t.Context(), Delivery{URL: rcv.URL, Notification: n, StaleBy: 10 * time.Minute}); err != nil {
			t.Fatal(err)
		}
		d := rcv.deliveries()[0]
		if err := wh.Verify(d.body, d.header); !errors.Is(err, standardwebhooks.ErrMessageTooOld) {
			t.Errorf("Verify = %v, want ErrMessageTooOld", err)
		}
		if err := wh.VerifyIgnoringTimestamp(d.body, d.header); err != nil {
			t.Errorf("the stale delivery's signature itself is invalid: %v", err)
		}
	})
	t.Run("stale_jwt", func(t *testing.T) {
		t.Parallel()
		rcv := newReceiver(t, always(http.StatusOK))
		if _, err := jwtSender.Send(t.Context(), Delivery{URL: rcv.URL, Notification: n, StaleBy: 10 * time.Minute}); err != nil {
			t.Fatal(err)
		}
		if _, err := verifyJWT(t, ts.URL+"/.well-known/jwks.json", rcv.URL, rcv.deliveries()[0]); !errors.Is(err, jwt.ErrTokenExpired()) {
			t.Errorf("verifying a stale JWT: %v, want expired", err)
		}
	})
	t.Run("tampered_hmac", func(t *testing.T) {
		t.Parallel()
		rcv := newReceiver(t, always(http.StatusOK))
		if _, err := hmacSender.Send(t.Context(), Delivery{URL: rcv.URL, Notification: n, TamperBody: true}); err != nil {
			t.Fatal(err)
		}
		d := rcv.deliveries()[0]
		if err := wh.Verify(d.body, d.header); !errors.Is(err, standardwebhooks.ErrNoMatchingSignature) {
			t.Errorf("Verify = %v, want ErrNoMatchingSignature", err)
		}
	})
	t.Run("tampered_jwt", func(t *testing.T) {
		t.Parallel()
		rcv := newReceiver(t, always(http.StatusOK))
		if _, err := jwtSender.Send(t.Context(), Delivery{URL: rcv.URL, Notification: n, TamperBody: true}); err != nil {
			t.Fatal(err)
		}
		d := rcv.deliveries()[0]
		tok, err := verifyJWT(t, ts.URL+"/.well-known/jwks.json", rcv.URL, d)
		if err != nil {
			t.Fatalf("the token itself should verify: %v", err)
		}
		claims, _ := tok.AsMap(t.Context())
		bodyID := decode(t, d.body)["data"].(map[string]any)["id"]
		claimID := claims["data"].(map[string]any)["id"]
		if claimID != "batches/f" || bodyID == claimID {
			t.Errorf("claims id %v, body id %v; want the body to disagree with the signed claims", claimID, bodyID)
		}
	})
}

func TestSender_shuffledSendAll(t *testing.T) {
	t.Parallel()
	rcv := newReceiver(t, always(http.StatusOK))
	sender := newHMACSender(t, newSecrets(t, 1), fastRetry)
	var ds []Delivery
	var ids []string
	for i := range 10 {
		id := "msg_" + string(rune('a'+i))
		ids = append(ids, id)
		ds = append(ds, Delivery{URL: rcv.URL, WebhookID: id, Notification: event.Payload{Type: event.TypeInteractionCompleted}})
	}
	shuffled := Shuffle(ds, 7)
	if diff := cmp.Diff(shuffled, Shuffle(ds, 7)); diff != "" {
		t.Errorf("Shuffle is not deterministic:\n%s", diff)
	}
	reports, err := sender.SendAll(t.Context(), shuffled)
	if err != nil || len(reports) != len(ds) {
		t.Fatalf("SendAll: %d reports, %v", len(reports), err)
	}
	var order []string
	for _, d := range rcv.deliveries() {
		order = append(order, d.header.Get("webhook-id"))
	}
	var want []string
	for _, d := range shuffled {
		want = append(want, d.WebhookID)
	}
	if diff := cmp.Diff(want, order); diff != "" {
		t.Errorf("arrival order differs from the shuffled order (-want +got):\n%s", diff)
	}
	if slices.Equal(order, ids) {
		t.Error("the shuffled order is the original one")
	}
	slices.Sort(order)
	if !slices.Equal(order, ids) {
		t.Errorf("arrivals %v are not a permutation of %v", order, ids)
	}
}

func TestSender_request(t *testing.T) {
	t.Parallel()
	secrets := newSecrets(t, 1)
	sender := newHMACSender(t, secrets, fastRetry)
	req, err := sender.Request(t.Context(), Delivery{URL: "http://127.0.0.1/hook",
		Notification: event.Payload{Type: event.TypeBatchCancelled, Data: event.PayloadData{ID: "batches/q"}}})
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(req.Body)
	wh, _ := standardwebhooks.NewWebhook(secrets[0])
	if err := wh.Verify(body, req.Header); err != nil || req.Method != http.MethodPost {
		t.Errorf("Request: method %s, verification %v", req.Method, err)
	}
}

func TestNewSender_invalid(t *testing.T) {
	t.Parallel()
	sim, _ := newTestServer(t, Options{})
	secrets := newSecrets(t, 1)
	cases := []struct {
		name string
		opts SenderOptions
	}{
		{"neither_scheme", SenderOptions{}},
		{"both_schemes", SenderOptions{Secrets: secrets, Signer: sim}},
		{"bad_secret", SenderOptions{Secrets: []string{"whsec_not-base64!"}}},
		{"short_secret", SenderOptions{Secrets: []string{"whsec_c2hvcnQ="}}},
		{"bad_multiplier", SenderOptions{Secrets: secrets, Retry: RetryPolicy{Multiplier: 0.5}}},
		{"negative_attempts", SenderOptions{Secrets: secrets, Retry: RetryPolicy{MaxAttempts: -1}}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, err := NewSender(tc.opts)
			if !errors.Is(err, ErrInvalidSpec) {
				t.Fatalf("NewSender error = %v, want ErrInvalidSpec", err)
			}
			for _, s := range tc.opts.Secrets {
				if strings.Contains(err.Error(), strings.TrimPrefix(s, "whsec_")) {
					t.Errorf("error %q reveals the secret", err)
				}
			}
		})
	}
	if _, err := newHMACSender(t, secrets, fastRetry).Send(t.Context(), Delivery{}); !errors.Is(err, ErrInvalidSpec) {
		t.Errorf("Send without URL: %v, want ErrInvalidSpec", err)
	}
}
