package receiver

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/geminihooks/geminihooks/pkg/event"
	"github.com/geminihooks/geminihooks/pkg/idempotency"
	"github.com/geminihooks/geminihooks/pkg/publish"
	"github.com/geminihooks/geminihooks/pkg/signature"
)

func TestReceiver_acceptsAndPublishes(t *testing.T) {
	t.Parallel()
	h := newHarness(t, harnessOptions{})
	payload := []byte(`{"type":"batch.succeeded","version":"v1","timestamp":"2026-05-04T11:59:58Z",` +
		`"data":{"id":"batches/abc123","output_file_uri":"files/out-1","user_metadata":{"team":"eval"}}}`)
	res := h.do(h.hmacRequest("msg_1", h.clock.Now(), payload, 0))
	if diff := cmp.Diff(map[string]any{"status": "accepted", "webhook_id": "msg_1"}, res.Body); res.Status != 200 || diff != "" {
		t.Fatalf("status %d, body diff (-want +got):\n%s", res.Status, diff)
	}
	msgs := h.pub.Messages()
	if len(msgs) != 1 {
		t.Fatalf("published %d messages, want 1", len(msgs))
	}
	ev, err := event.Decode(msgs[0].Data)
	if err != nil {
		t.Fatal(err)
	}
	if ev.ID != (event.JobRef{Kind: event.KindBatch, ID: "abc123"}).EventID() || ev.Data.Delivery.WebhookID != "msg_1" || ev.Subject != "batches/abc123" || ev.Data.Kind != "batch" || ev.Data.State != "succeeded" ||
		ev.Data.Delivery.Scheme != "hmac" || ev.Data.UserMetadata["team"] != "eval" {
		t.Errorf("unexpected event: %+v", ev)
	}
	wantAttrs := map[string]string{"event_type": "batch.succeeded", "kind": "batch", "resource": "batches/abc123", "webhook_id": "msg_1"}
	for k, v := range wantAttrs {
		if msgs[0].Attributes[k] != v {
			t.Errorf("attribute %s = %q, want %q", k, msgs[0].Attributes[k], v)
		}
	}
	if msgs[0].OrderingKey != "batches/abc123" {
		t.Errorf("ordering key = %q, want the job resource", msgs[0].OrderingKey)
	}
}

func TestReceiver_retriesBecomeOneEvent(t *testing.T) {
	t.Parallel()
	h := newHarness(t, harnessOptions{})
	payload := body("interaction.completed", "v1_int_42")
	first := h.do(h.hmacRequest("msg_retry", h.clock.Now(), payload, -1))
	// Gemini retries with the same webhook-id and a fresh timestamp.
	h.clock.Advance(2 * time.Minute)
	second := h.do(h.hmacRequest("msg_retry", h.clock.Now(), payload, 1))
	if first.Body["status"] != "accepted" || second.Status != 200 || second.Body["status"] != "duplicate" {
		t.Fatalf("first %v, second %d %v; want accepted then 200 duplicate", first.Body, second.Status, second.Body)
	}
	if n := len(h.pub.Messages()); n != 1 {
		t.Errorf("published %d messages, want 1", n)
	}
}

func TestReceiver_rotationAcceptsEitherSecret(t *testing.T) {
	t.Parallel()
	h := newHarness(t, harnessOptions{})
	for i, id := range []string{"msg_old_secret", "msg_new_secret"} {
		res := h.do(h.hmacRequest(id, h.clock.Now(), body("batch.succeeded", "batches/rot"+id), i))
		if res.Body["status"] != "accepted" {
			t.Errorf("delivery signed with secret %d only: %d %v", i, res.Status, res.Body)
		}
	}
}

func TestReceiver_inFlightAnswers503(t *testing.T) {
	t.Parallel()
	h := newHarness(t, harnessOptions{})
	// Another instance holds a fresh claim on this id.
	if _, err := h.mem.Claim(context.Background(), jobKey(event.KindBatch, "busy")); err != nil {
		t.Fatal(err)
	}
	res := h.do(h.hmacRequest("msg_busy", h.clock.Now(), body("batch.succeeded", "batches/busy"), 0))
	if res.Status != http.StatusServiceUnavailable || res.errCode() != "delivery_in_progress" || res.Header.Get("Retry-After") == "" {
		t.Fatalf("got %d %s (Retry-After %q); want 503 delivery_in_progress with Retry-After", res.Status, res.Raw, res.Header.Get("Retry-After"))
	}
	// The holder died: once its lease expires, a retry takes the claim over.
	h.clock.Advance(idempotency.DefaultLease + time.Second)
	res = h.do(h.hmacRequest("msg_busy", h.clock.Now(), body("batch.succeeded", "batches/busy"), 0))
	if res.Body["status"] != "accepted" || len(h.pub.Messages()) != 1 {
		t.Fatalf("after lease expiry got %d %s with %d messages; want accepted and 1 message", res.Status, res.Raw, len(h.pub.Messages()))
	}
}

func TestReceiver_pingIsIgnored(t *testing.T) {
	t.Parallel()
	for _, payload := range []string{``, `{}`, `{"type":"ping"}`, `{"type":"webhook.ping","data":{}}`} {
		h := newHarness(t, harnessOptions{})
		res := h.do(h.hmacRequest("msg_ping", h.clock.Now(), []byte(payload), 0))
		if res.Status != 200 || res.Body["status"] != "ignored" {
			t.Errorf("ping %q: got %d %s, want 200 ignored", payload, res.Status, res.Raw)
		}
		if n := len(h.pub.Messages()); n != 0 {
			t.Errorf("ping %q published %d messages", payload, n)
		}
	}
}

func TestReceiver_unknownTypeIsPublishedAsIs(t *testing.T) {
	t.Parallel()
	h := newHarness(t, harnessOptions{})
	payload := []byte(`{"type":"model.tuned","version":"v2","data":{"id":"tunedModels/x","extra":{"k":1}}}`)
	res := h.do(h.hmacRequest("msg_unknown", h.clock.Now(), payload, 0))
	if res.Body["status"] != "accepted" {
		t.Fatalf("got %d %s, want accepted", res.Status, res.Raw)
	}
	ev, err := event.Decode(h.pub.Messages()[0].Data)
	if err != nil {
		t.Fatal(err)
	}
	if ev.Data.Kind != "unknown" || ev.Data.GeminiEventType != "model.tuned" || !strings.Contains(string(ev.Data.Raw), `"extra"`) {
		t.Errorf("unknown event lost data: %+v raw=%s", ev.Data, ev.Data.Raw)
	}
}

func TestReceiver_jwtDeliveries(t *testing.T) {
	t.Parallel()
	t.Run("claims_carry_event_and_body_matches", func(t *testing.T) {
		t.Parallel()
		h := newHarness(t, harnessOptions{})
		payload := body("video.generated", "models/veo-3/operations/op1")
		res := h.do(h.jwtRequest("msg_jwt", h.sign(h.claims(payload, map[string]any{"jti": "msg_jwt"})), payload))
		if res.Body["status"] != "accepted" {
			t.Fatalf("got %d %s, want accepted", res.Status, res.Raw)
		}
		ev, _ := event.Decode(h.pub.Messages()[0].Data)
		if ev.Data.Delivery.Scheme != "jwt" || ev.Subject != "models/veo-3/operations/op1" {
			t.Errorf("unexpected event %+v", ev)
		}
	})
	t.Run("claims_without_event_use_body", func(t *testing.T) {
		t.Parallel()
		h := newHarness(t, harnessOptions{})
		payload := body("batch.failed", "batches/b1")
		res := h.do(h.jwtRequest("msg_jwt2", h.sign(h.claims(nil, nil)), payload))
		if res.Body["status"] != "accepted" || len(h.pub.Messages()) != 1 {
			t.Fatalf("got %d %s, want accepted", res.Status, res.Raw)
		}
	})
	t.Run("no_webhook_id_derives_one_and_dedupes", func(t *testing.T) {
		t.Parallel()
		h := newHarness(t, harnessOptions{})
		payload := body("interaction.completed", "int_7")
		first := h.do(h.jwtRequest("", h.sign(h.claims(payload, nil)), payload))
		h.clock.Advance(time.Minute)
		second := h.do(h.jwtRequest("", h.sign(h.claims(payload, nil)), payload))
		id, _ := first.Body["webhook_id"].(string)
		if first.Body["status"] != "accepted" || !strings.HasPrefix(id, "derived-") || second.Body["status"] != "duplicate" {
			t.Fatalf("first %s, second %s; want accepted with a derived id, then duplicate", first.Raw, second.Raw)
		}
	})
	t.Run("id_from_jti", func(t *testing.T) {
		t.Parallel()
		h := newHarness(t, harnessOptions{})
		payload := body("batch.expired", "batches/b9")
		res := h.do(h.jwtRequest("", h.sign(h.claims(payload, map[string]any{"jti": "msg_from_jti"})), payload))
		if res.Body["webhook_id"] != "msg_from_jti" {
			t.Fatalf("got %s, want webhook_id from jti", res.Raw)
		}
	})
}

func TestReceiver_transientFailuresAnswer503(t *testing.T) {
	t.Parallel()
	t.Run("ledger_down", func(t *testing.T) {
		t.Parallel()
		h := newHarness(t, harnessOptions{ledger: failingLedger{err: errors.New("firestore: unavailable")}})
		res := h.do(h.hmacRequest("msg_l", h.clock.Now(), body("batch.succeeded", "batches/l"), 0))
		if res.Status != 503 || res.errCode() != "idempotency_unavailable" || len(h.pub.Messages()) != 0 {
			t.Fatalf("got %d %s with %d messages; want 503 idempotency_unavailable and none", res.Status, res.Raw, len(h.pub.Messages()))
		}
	})
	t.Run("pubsub_down_then_retry", func(t *testing.T) {
		t.Parallel()
		h := newHarness(t, harnessOptions{})
		h.pub.FailNext(errors.New("pubsub: unavailable"))
		req := func() response {
			return h.do(h.hmacRequest("msg_p", h.clock.Now(), body("batch.succeeded", "batches/p"), 0))
		}
		if res := req(); res.Status != 503 || res.errCode() != "publish_failed" {
			t.Fatalf("got %d %s, want 503 publish_failed", res.Status, res.Raw)
		}
		// The claim was released, so Gemini's retry publishes at once.
		if res := req(); res.Body["status"] != "accepted" || len(h.pub.Messages()) != 1 {
			t.Fatalf("retry got %d %s with %d messages; want accepted and 1", res.Status, res.Raw, len(h.pub.Messages()))
		}
	})
	t.Run("jwks_unreachable", func(t *testing.T) {
		t.Parallel()
		h := newHarness(t, harnessOptions{keys: unavailableKeys{}})
		payload := body("batch.succeeded", "batches/k")
		res := h.do(h.jwtRequest("msg_k", h.sign(h.claims(payload, nil)), payload))
		if res.Status != 503 || res.errCode() != "keys_unavailable" || res.Header.Get("Retry-After") == "" {
			t.Fatalf("got %d %s, want 503 keys_unavailable with Retry-After", res.Status, res.Raw)
		}
	})
}

// TestReceiver_rejections is the catalogue of bad requests: each gets its
// own status and error code, stores nothing and publishes nothing. "Stores
// nothing" is checked by then sending the genuine delivery with the same
// webhook-id and seeing it accepted.
func TestReceiver_rejections(t *testing.T) {
	t.Parallel()
	good := body("batch.succeeded", "batches/b1")
	type builder func(h *harness, id string) *http.Request
	withHeader := func(name, value string) builder {
		return func(h *harness, id string) *http.Request {
			r := h.hmacRequest(id, h.clock.Now(), good, 0)
			if value == "" {
				r.Header.Del(name)
			} else {
				r.Header.Set(name, value)
			}
			return r
		}
	}
	signed := func(payload string) builder {
		return func(h *harness, id string) *http.Request { return h.hmacRequest(id, h.clock.Now(), []byte(payload), 0) }
	}
	token := func(make func(h *harness) string) builder {
		return func(h *harness, id string) *http.Request { return h.jwtRequest(id, make(h), good) }
	}
	otherSecret, _ := signature.GenerateSecret()

	cases := []struct {
		name     string
		req      builder
		audience string
		status   int
		code     string
	}{
		{"get_method", func(h *harness, id string) *http.Request {
			r := h.hmacRequest(id, h.clock.Now(), good, 0)
			r.Method = http.MethodGet
			return r
		}, "", 405, "method_not_allowed"},
		{"put_method", func(h *harness, id string) *http.Request {
			r := h.hmacRequest(id, h.clock.Now(), good, 0)
			r.Method = http.MethodPut
			return r
		}, "", 405, "method_not_allowed"},
		{"body_too_large", signed(`{"type":"batch.succeeded","data":{"id":"batches/b1","pad":"` + strings.Repeat("x", 5000) + `"}}`), "", 413, "body_too_large"},
		{"missing_webhook_id", withHeader("webhook-id", ""), "", 400, "missing_webhook_id"},
		{"missing_webhook_timestamp", withHeader("webhook-timestamp", ""), "", 400, "missing_webhook_timestamp"},
		{"missing_webhook_signature", withHeader("webhook-signature", ""), "", 400, "missing_webhook_signature"},
		{"webhook_id_too_long", func(h *harness, id string) *http.Request {
			return h.hmacRequest(strings.Repeat("m", 300), h.clock.Now(), good, 0)
		}, "", 400, "webhook_id_too_long"},
		{"webhook_id_control_character", func(h *harness, id string) *http.Request {
			return h.hmacRequest("msg\x01evil", h.clock.Now(), good, 0)
		}, "", 400, "invalid_webhook_id"},
		{"timestamp_not_integer", withHeader("webhook-timestamp", "2026-05-04T12:00:00Z"), "", 400, "invalid_timestamp"},
		{"timestamp_stale", func(h *harness, id string) *http.Request {
			return h.hmacRequest(id, h.clock.Now().Add(-6*time.Minute), good, 0)
		}, "", 401, "timestamp_too_old"},
		{"timestamp_future", func(h *harness, id string) *http.Request {
			return h.hmacRequest(id, h.clock.Now().Add(6*time.Minute), good, 0)
		}, "", 401, "timestamp_too_new"},
		{"signature_bad_base64", withHeader("webhook-signature", "v1,not*base64!"), "", 400, "malformed_signature"},
		{"signature_wrong_length", withHeader("webhook-signature", "v1,AAAAAAAAAAAAAAAAAAAAAA=="), "", 400, "malformed_signature"},
		{"only_other_versions", withHeader("webhook-signature", "v1a,hnO3f9T8Ytu9HwrXslvumlUpqtNVqkhqw/enGzPCXe4="), "", 400, "unsupported_signature_scheme"},
		{"unknown_scheme", withHeader("webhook-signature", "sha256=deadbeef"), "", 400, "unsupported_signature_scheme"},
		{"signed_with_unknown_secret", func(h *harness, id string) *http.Request {
			s, _ := signature.ParseSecret("other", otherSecret)
			r := h.hmacRequest(id, h.clock.Now(), good, 0)
			r.Header.Set("webhook-signature", signature.SignHMAC(s, id, h.clock.Now(), good))
			return r
		}, "", 401, "signature_mismatch"},
		{"body_tampered", func(h *harness, id string) *http.Request {
			r := h.hmacRequest(id, h.clock.Now(), good, 0)
			tampered := h.hmacRequest(id, h.clock.Now(), body("batch.succeeded", "batches/other"), 0)
			tampered.Header = r.Header
			return tampered
		}, "", 401, "signature_mismatch"},
		{"signature_replayed_for_other_id", func(h *harness, id string) *http.Request {
			r := h.hmacRequest(id, h.clock.Now(), good, 0)
			r.Header.Set("webhook-signature", h.hmacRequest("msg_other", h.clock.Now(), good, 0).Header.Get("webhook-signature"))
			return r
		}, "", 401, "signature_mismatch"},
		{"signature_for_other_timestamp", func(h *harness, id string) *http.Request {
			r := h.hmacRequest(id, h.clock.Now(), good, 0)
			r.Header.Set("webhook-timestamp", h.hmacRequest(id, h.clock.Now().Add(-time.Second), good, 0).Header.Get("webhook-timestamp"))
			return r
		}, "", 401, "signature_mismatch"},
		{"invalid_json", signed(`{"type":"batch.succeeded",`), "", 400, "invalid_json"},
		{"json_array", signed(`[{"type":"batch.succeeded"}]`), "", 400, "invalid_json"},
		{"missing_type", signed(`{"version":"v1","data":{"id":"batches/b1"}}`), "", 400, "missing_event_type"},
		{"type_with_control_chars", signed(`{"type":"batch.\u0000succeeded","data":{"id":"batches/b1"}}`), "", 400, "invalid_event_type"},
		{"missing_resource_id", signed(`{"type":"batch.succeeded","data":{"output_file_uri":"files/x"}}`), "", 400, "missing_resource_id"},
		{"resource_id_path_traversal", signed(`{"type":"batch.succeeded","data":{"id":"batches/../../secrets"}}`), "", 400, "invalid_resource_id"},
		{"event_timestamp_not_rfc3339", signed(`{"type":"batch.succeeded","timestamp":"yesterday","data":{"id":"batches/b1"}}`), "", 400, "invalid_event_timestamp"},
		{"data_not_object", signed(`{"type":"batch.succeeded","data":"batches/b1"}`), "", 400, "invalid_field"},
		{"jwt_malformed", withHeader("webhook-signature", "aaa.bbb.ccc"), "", 400, "malformed_jwt"},
		{"jwt_alg_none", token(func(h *harness) string {
			return unsignedToken(map[string]any{"alg": "none", "kid": "test-kid"}, h.claims(good, nil), nil)
		}), "", 401, "jwt_unsupported_algorithm"},
		{"jwt_hs256_key_confusion", token(func(h *harness) string {
			pub, _ := h.signer.PublicJWKS()
			return unsignedToken(map[string]any{"alg": "HS256", "kid": "test-kid", "typ": "JWT"}, h.claims(good, nil), pub)
		}), "", 401, "jwt_unsupported_algorithm"},
		{"jwt_unknown_kid", token(func(h *harness) string {
			key, _ := signature.GenerateRSAKey()
			s, _ := signature.NewJWTSigner("rotated-away", key)
			tok, _ := s.Sign(h.claims(good, nil))
			return tok
		}), "", 401, "jwt_unknown_kid"},
		{"jwt_bad_signature", token(func(h *harness) string {
			tok := h.sign(h.claims(good, nil))
			return tok[:len(tok)-4] + "AAAA"
		}), "", 401, "jwt_invalid_signature"},
		{"jwt_expired", token(func(h *harness) string {
			return h.sign(h.claims(good, map[string]any{"exp": h.clock.Now().Add(-time.Hour).Unix(), "iat": h.clock.Now().Add(-2 * time.Hour).Unix()}))
		}), "", 401, "jwt_expired"},
		{"jwt_not_yet_valid", token(func(h *harness) string {
			return h.sign(h.claims(good, map[string]any{"nbf": h.clock.Now().Add(time.Hour).Unix()}))
		}), "", 401, "jwt_not_yet_valid"},
		{"jwt_wrong_audience", token(func(h *harness) string {
			return h.sign(h.claims(good, map[string]any{"aud": "https://someone-else.example/hook"}))
		}), "https://hooks.example/gemini", 401, "jwt_invalid_audience"},
		{"jwt_body_contradicts_claims", func(h *harness, id string) *http.Request {
			return h.jwtRequest(id, h.sign(h.claims(good, nil)), body("batch.succeeded", "batches/someone-elses"))
		}, "", 401, "body_claims_mismatch"},
	}
	if len(cases) < 25 {
		t.Fatalf("catalogue has %d cases; keep at least 25", len(cases))
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			h := newHarness(t, harnessOptions{audience: tc.audience, maxBody: 4096})
			const id = "msg_catalogue"
			res := h.do(tc.req(h, id))
			if res.Status != tc.status || res.errCode() != tc.code {
				t.Fatalf("got %d %s; want %d %s", res.Status, res.Raw, tc.status, tc.code)
			}
			if msg, _ := res.Body["error"].(map[string]any)["message"].(string); msg == "" {
				t.Errorf("error body has no message: %s", res.Raw)
			}
			if n := len(h.pub.Messages()); n != 0 {
				t.Fatalf("a rejected request published %d messages", n)
			}
			// Nothing was stored: the genuine delivery is still new.
			if res := h.do(h.hmacRequest(id, h.clock.Now(), good, 0)); res.Body["status"] != "accepted" {
				t.Fatalf("genuine delivery after the rejection: %d %s; want accepted", res.Status, res.Raw)
			}
			assertNoSecretsLogged(t, h)
		})
	}
}

// assertNoSecretsLogged fails if any log line holds a secret or the value of
// a signature (HMAC or JWT) the harness produced.
func assertNoSecretsLogged(t *testing.T, h *harness) {
	t.Helper()
	logs := h.logs.String()
	for _, raw := range h.raw {
		if strings.Contains(logs, strings.TrimPrefix(raw, signature.SecretPrefix)) {
			t.Fatal("a signing secret appears in the logs")
		}
	}
	for _, line := range strings.Split(logs, "\n") {
		if strings.Contains(line, "v1,") || strings.Contains(line, "eyJ") {
			t.Fatalf("a signature or token appears in a log line: %s", line)
		}
	}
}

func TestNew_requiresDependencies(t *testing.T) {
	t.Parallel()
	h := newHarness(t, harnessOptions{})
	v, _ := signature.NewVerifier(signature.Options{Secrets: signature.StaticSecrets(h.secrets)})
	pub := &publish.Memory{}
	cases := []struct {
		name string
		v    Verifier
		l    Ledger
		p    Publisher
		j    Jobs
	}{
		{"no_verifier", nil, h.mem, pub, h.jobs},
		{"no_ledger", v, nil, pub, h.jobs},
		{"no_publisher", v, h.mem, nil, h.jobs},
		{"no_registry", v, h.mem, pub, nil},
	}
	for _, tc := range cases {
		if _, err := New(tc.v, tc.l, tc.p, tc.j, h.handler.logger, Options{}); err == nil {
			t.Errorf("%s: New succeeded, want error", tc.name)
		}
	}
}

func TestReceiver_overHTTP(t *testing.T) {
	t.Parallel()
	h := newHarness(t, harnessOptions{})
	srv := httptest.NewServer(h.handler)
	t.Cleanup(srv.Close)
	r := h.hmacRequest("msg_http", h.clock.Now(), body("batch.succeeded", "batches/http"), 0)
	req, _ := http.NewRequest(http.MethodPost, srv.URL, r.Body)
	req.Header = r.Header
	resp, err := srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("status %d", resp.StatusCode)
	}
}
