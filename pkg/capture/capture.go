// Package capture keeps the first few verified webhook deliveries a
// deployment receives, so that what Gemini really sends (the JWT claims, the
// ping's type, the forms of ids, where user_metadata sits) can be pinned as
// test fixtures: none of it is documented.
//
// A [Recorder] stores each capture as a write-once JSON object named by
// slot, <prefix>0001.json to <prefix>NNNN.json, created under the store's
// does-not-exist precondition. Every receiver instance tries the slots in
// order and skips those another instance has taken, so the fleet as a whole
// writes at most Limit captures with no coordination beyond the store.
package capture

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/geminihooks/geminihooks/pkg/signature"
)

// Prefix is the folder of the results bucket holding captures. The
// deployment grants the receiver write access to this folder only.
const Prefix = "captures/"

// MaxLimit bounds the number of captures: they pin the shapes of real
// deliveries, and a thousand is plenty for that.
const MaxLimit = 1000

// SlotName returns the object name of slot (1 to MaxLimit) under prefix.
// Zero-padding keeps the names in slot order when listed.
func SlotName(prefix string, slot int) string {
	return fmt.Sprintf("%s%04d.json", prefix, slot)
}

// Verdict is the receiver's answer to a captured delivery.
type Verdict struct {
	// HTTPStatus is the response's status code.
	HTTPStatus int `json:"http_status"`
	// Status is the 2xx answer's status: accepted, duplicate or ignored.
	Status string `json:"status,omitempty"`
	// Code is an error answer's code, e.g. publish_failed or
	// body_claims_mismatch.
	Code string `json:"code,omitempty"`
}

// Delivery is what the receiver hands a [Recorder]: one verified request
// and its answer.
type Delivery struct {
	Header   http.Header
	Body     []byte
	Verified *signature.Delivery
	Verdict  Verdict
}

// Record is one capture as stored. It holds no signature, token or secret:
// the webhook-signature header, and every other header carrying its value or
// credentials, is dropped; a JWT is represented by its verified claims.
type Record struct {
	// CapturedAt is when the receiver answered.
	CapturedAt time.Time `json:"captured_at"`
	// WebhookID is the verifier's delivery id: the webhook-id header, or for
	// a JWT without one its jti claim, or empty.
	WebhookID string `json:"webhook_id,omitempty"`
	// Scheme is how the delivery was signed: hmac or jwt.
	Scheme string `json:"scheme"`
	// KeyID is the kid of the key that verified the JWT.
	KeyID string `json:"kid,omitempty"`
	// Claims are the verified JWT claims.
	Claims map[string]any `json:"jwt_claims,omitempty"`
	// Header is the request's headers minus the dropped ones.
	Header http.Header `json:"headers"`
	// BodyBytes is the length of the body as received.
	BodyBytes int `json:"body_bytes"`
	// Body is the body when it is JSON (re-encoded without insignificant
	// whitespace); BodyText holds it when it is other UTF-8 text and
	// BodyBase64 when it is neither. All three are empty for an empty body.
	Body       json.RawMessage `json:"body,omitempty"`
	BodyText   string          `json:"body_text,omitempty"`
	BodyBase64 string          `json:"body_base64,omitempty"`
	// Verdict is what the receiver answered.
	Verdict Verdict `json:"verdict"`
}

// credentialHeaders are dropped from every capture besides webhook-signature.
var credentialHeaders = []string{"Authorization", "Proxy-Authorization", "Cookie", "X-Goog-Api-Key"}

// NewRecord returns the capture of d made at now.
func NewRecord(now time.Time, d Delivery) Record {
	rec := Record{CapturedAt: now.UTC(), Header: http.Header{}, BodyBytes: len(d.Body), Verdict: d.Verdict}
	if v := d.Verified; v != nil {
		rec.WebhookID, rec.Scheme, rec.KeyID, rec.Claims = v.ID, string(v.Scheme), v.KeyID, v.Claims
	}
	// A JWT travels in webhook-signature; whatever header repeats a
	// signature value (a proxy's copy, say) goes with it.
	var signatures []string
	for _, s := range d.Header.Values(signature.HeaderSignature) {
		if s = strings.TrimSpace(s); s != "" {
			signatures = append(signatures, s)
		}
	}
	for name, values := range d.Header {
		if dropHeader(name, values, signatures) {
			continue
		}
		rec.Header[name] = append([]string(nil), values...)
	}
	switch {
	case len(d.Body) == 0:
	case json.Valid(d.Body):
		rec.Body = append(json.RawMessage(nil), d.Body...)
	case utf8.Valid(d.Body):
		rec.BodyText = string(d.Body)
	default:
		rec.BodyBase64 = base64.StdEncoding.EncodeToString(d.Body)
	}
	return rec
}

func dropHeader(name string, values, signatures []string) bool {
	canonical := http.CanonicalHeaderKey(name)
	if canonical == http.CanonicalHeaderKey(signature.HeaderSignature) || strings.Contains(canonical, "Authorization") {
		return true
	}
	for _, h := range credentialHeaders {
		if canonical == h {
			return true
		}
	}
	for _, v := range values {
		for _, s := range signatures {
			if strings.Contains(v, s) {
				return true
			}
		}
	}
	return false
}

// RawBody returns the body as received, up to insignificant whitespace in a
// JSON body.
func (r *Record) RawBody() ([]byte, error) {
	switch {
	case r.BodyBase64 != "":
		b, err := base64.StdEncoding.DecodeString(r.BodyBase64)
		if err != nil {
			return nil, fmt.Errorf("capture: body_base64: %w", err)
		}
		return b, nil
	case r.BodyText != "":
		return []byte(r.BodyText), nil
	}
	return r.Body, nil
}

// Decode reads a stored capture, rejecting one that is not a capture.
func Decode(data []byte) (*Record, error) {
	var r Record
	if err := json.Unmarshal(data, &r); err != nil {
		return nil, fmt.Errorf("capture: not a capture record: %w", err)
	}
	if r.Scheme == "" || r.Verdict.HTTPStatus == 0 || r.CapturedAt.IsZero() {
		return nil, errors.New("capture: not a capture record: scheme, verdict.http_status or captured_at is missing")
	}
	return &r, nil
}
