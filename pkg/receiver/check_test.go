package receiver

import (
	"bytes"
	"net/http"
	"strings"
	"testing"

	"github.com/geminihooks/geminihooks/pkg/event"
)

// TestCheckerMatchesHandler: the Checker reaches, from a body held in
// memory, the answer the Handler gives the same delivery over HTTP, and
// hands over the event that is published.
func TestCheckerMatchesHandler(t *testing.T) {
	t.Parallel()
	h := newHarness(t, harnessOptions{maxBody: 2048})
	now := h.clock.Now()
	otherJob := body("interaction.completed", "interactions/other")
	claimed := body("interaction.completed", "interactions/claimed")
	tests := []struct {
		name       string
		req        func() (*http.Request, []byte)
		wantStatus int
		wantCode   string
		wantEvent  bool
	}{
		{"accepted", func() (*http.Request, []byte) {
			b := body("batch.succeeded", "batches/b1")
			return h.hmacRequest("msg_ok", now, b, 0), b
		}, 0, "", true},
		{"ping", func() (*http.Request, []byte) {
			b := []byte(`{"type":"webhook.ping"}`)
			return h.hmacRequest("msg_ping", now, b, 0), b
		}, http.StatusOK, "", false},
		{"body_over_limit", func() (*http.Request, []byte) {
			b := body("batch.succeeded", "batches/"+strings.Repeat("b", 3000))
			return h.hmacRequest("msg_big", now, b, 0), b
		}, http.StatusRequestEntityTooLarge, "body_too_large", false},
		{"signature_mismatch", func() (*http.Request, []byte) {
			signed := h.hmacRequest("msg_bad", now, body("batch.succeeded", "batches/b1"), 0)
			b := body("batch.succeeded", "batches/b2")
			r := h.hmacRequest("msg_bad", now, b, 0)
			r.Header = signed.Header
			return r, b
		}, http.StatusUnauthorized, "signature_mismatch", false},
		{"body_claims_mismatch", func() (*http.Request, []byte) {
			return h.jwtRequest("msg_jwt", h.sign(h.claims(claimed, nil)), otherJob), otherJob
		}, http.StatusUnauthorized, event.CodeBodyClaimsMismatch, false},
		{"invalid_json", func() (*http.Request, []byte) {
			b := []byte(`{"type":`)
			return h.hmacRequest("msg_json", now, b, 0), b
		}, http.StatusBadRequest, event.CodeInvalidJSON, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			req, b := tt.req()
			in := h.handler.checker.Check(t.Context(), req.Header, bytes.NewReader(b))
			if in.Verdict.HTTPStatus != tt.wantStatus || in.Verdict.Code != tt.wantCode {
				t.Errorf("Check: %d %q, want %d %q", in.Verdict.HTTPStatus, in.Verdict.Code, tt.wantStatus, tt.wantCode)
			}
			if (in.Event != nil) != tt.wantEvent || (tt.wantEvent && len(in.Message.Data) == 0) {
				t.Errorf("event %v, message %d bytes; want an event: %v", in.Event, len(in.Message.Data), tt.wantEvent)
			}
			req, _ = tt.req()
			resp := h.do(req)
			wantHTTP := tt.wantStatus
			if wantHTTP == 0 {
				wantHTTP = http.StatusOK
			}
			if resp.Status != wantHTTP || resp.errCode() != tt.wantCode {
				t.Errorf("Handler: %d %q, want %d %q", resp.Status, resp.errCode(), wantHTTP, tt.wantCode)
			}
		})
	}
}
