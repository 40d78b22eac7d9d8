package receiver

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/geminihooks/geminihooks/pkg/blob"
	"github.com/geminihooks/geminihooks/pkg/capture"
)

// brokenStore fails every call, as Cloud Storage does without a grant.
type brokenStore struct{}

func (brokenStore) Create(context.Context, string, string, io.Reader) (blob.Object, error) {
	return blob.Object{}, errors.New("storage: 403 forbidden")
}

func (brokenStore) Stat(context.Context, string) (blob.Object, error) {
	return blob.Object{}, errors.New("storage: 403 forbidden")
}

func TestReceiver_capturesVerifiedDeliveries(t *testing.T) {
	t.Parallel()
	store := blob.NewMemory()
	rec, err := capture.NewRecorder(store, capture.Options{Limit: 10, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	h := newHarness(t, harnessOptions{capture: rec})
	batch := body("batch.succeeded", "batches/c1")
	jwtPayload := body("interaction.completed", "interactions/i1")
	token := h.sign(h.claims(jwtPayload, map[string]any{"jti": "msg_jwt"}))
	mismatchToken := h.sign(h.claims(jwtPayload, nil))
	h.pub.FailNext(errors.New("pubsub: unavailable"))

	// Each request, and the verdict captured for it ("" when none is).
	steps := []struct {
		name string
		do   func() response
		want capture.Verdict
	}{
		{"publish_failed", func() response { return h.do(h.hmacRequest("msg_1", h.clock.Now(), batch, 0)) }, capture.Verdict{HTTPStatus: 503, Code: "publish_failed"}},
		{"accepted", func() response { return h.do(h.hmacRequest("msg_1", h.clock.Now(), batch, 0)) }, capture.Verdict{HTTPStatus: 200, Status: StatusAccepted}},
		{"duplicate", func() response { return h.do(h.hmacRequest("msg_1", h.clock.Now(), batch, 1)) }, capture.Verdict{HTTPStatus: 200, Status: StatusDuplicate}},
		{"ping_ignored", func() response { return h.do(h.hmacRequest("msg_ping", h.clock.Now(), []byte(`{}`), 0)) }, capture.Verdict{HTTPStatus: 200, Status: StatusIgnored}},
		{"unverified", func() response {
			r := h.hmacRequest("msg_bad", h.clock.Now(), batch, 0)
			r.Header.Set("webhook-signature", "v1,AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=")
			return h.do(r)
		}, capture.Verdict{}},
		{"invalid_payload", func() response {
			return h.do(h.hmacRequest("msg_bad_json", h.clock.Now(), []byte(`{"type":"batch.succeeded"}`), 0))
		}, capture.Verdict{HTTPStatus: 400, Code: "missing_resource_id"}},
		{"jwt_accepted", func() response { return h.do(h.jwtRequest("", token, jwtPayload)) }, capture.Verdict{HTTPStatus: 200, Status: StatusAccepted}},
		{"jwt_body_mismatch", func() response {
			return h.do(h.jwtRequest("", mismatchToken, body("interaction.completed", "interactions/other")))
		}, capture.Verdict{HTTPStatus: 401, Code: "body_claims_mismatch"}},
	}
	var want []capture.Verdict
	for _, s := range steps {
		res := s.do()
		if s.want.HTTPStatus == 0 {
			if res.Status != 401 {
				t.Fatalf("%s: got %d %s, want 401", s.name, res.Status, res.Raw)
			}
			continue
		}
		if res.Status != s.want.HTTPStatus {
			t.Fatalf("%s: got %d %s, want %d", s.name, res.Status, res.Raw, s.want.HTTPStatus)
		}
		want = append(want, s.want)
	}

	var got []capture.Verdict
	var records []*capture.Record
	for slot := 1; ; slot++ {
		rc, err := store.Open(t.Context(), capture.SlotName(capture.Prefix, slot))
		if errors.Is(err, blob.ErrNotExist) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		raw, _ := io.ReadAll(rc)
		rc.Close()
		for _, forbidden := range append([]string{token, mismatchToken, "v1,"}, h.raw...) {
			if strings.Contains(string(raw), forbidden) {
				t.Errorf("slot %d stores a signature, token or secret: %s", slot, raw)
			}
		}
		r, err := capture.Decode(raw)
		if err != nil {
			t.Fatal(err)
		}
		records = append(records, r)
		got = append(got, r.Verdict)
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Fatalf("captured verdicts (-want +got):\n%s", diff)
	}
	if r := records[1]; r.WebhookID != "msg_1" || r.Scheme != "hmac" || r.Header.Get("webhook-id") != "msg_1" || r.Header.Get("webhook-signature") != "" {
		t.Errorf("HMAC capture = %+v", r)
	}
	if r := records[5]; r.Scheme != "jwt" || r.WebhookID != "msg_jwt" || r.Claims["type"] != "interaction.completed" || r.KeyID != "test-kid" {
		t.Errorf("JWT capture = %+v", r)
	}
}

func TestReceiver_captureFailureLeavesAnswerAlone(t *testing.T) {
	t.Parallel()
	rec, err := capture.NewRecorder(brokenStore{}, capture.Options{Limit: 5, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	with := newHarness(t, harnessOptions{capture: rec})
	without := newHarness(t, harnessOptions{})
	for _, h := range []*harness{with, without} {
		res := h.do(h.hmacRequest("msg_s", h.clock.Now(), body("batch.succeeded", "batches/s"), 0))
		if res.Status != 200 || res.Body["status"] != StatusAccepted || len(h.pub.Messages()) != 1 {
			t.Errorf("got %d %s with %d messages, want 200 accepted and one", res.Status, res.Raw, len(h.pub.Messages()))
		}
	}
}
