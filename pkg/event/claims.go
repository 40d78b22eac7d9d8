package event

import (
	"encoding/json"
	"reflect"
	"strings"
)

// FromClaims builds a Notification from the verified JWT claims of a
// per-request (dynamic) webhook. The Gemini guide decodes the JWT into the
// event, so the claims are read as an envelope: a top-level "type" claim plus
// "data", "version", "timestamp" and "user_metadata". The bool is false, with
// a nil Notification and error, when the claims carry no "type" and hence no
// event. The claims go through the same checks as [Parse].
func FromClaims(claims map[string]any) (*Notification, bool, error) {
	if t, ok := claims["type"]; !ok || t == nil {
		return nil, false, nil
	}
	envelope := make(map[string]any)
	for _, k := range []string{"type", "version", "timestamp", "data", "user_metadata"} {
		if v, ok := claims[k]; ok {
			envelope[k] = v
		}
	}
	body, err := json.Marshal(envelope)
	if err != nil {
		return nil, true, newError(CodeInvalidJSON, "the token's event claims cannot be encoded as JSON")
	}
	n, err := Parse(body)
	if err != nil {
		return nil, true, err
	}
	return n, true, nil
}

// FromDelivery returns the notification of a delivery whose JWT claims
// verified (claims nil for other deliveries). When the claims carry the
// event they are the truth, and a body that contradicts them is rejected
// with [CodeBodyClaimsMismatch]; otherwise the body is the event.
func FromDelivery(body []byte, claims map[string]any) (*Notification, error) {
	if claims != nil {
		fromClaims, ok, err := FromClaims(claims)
		if err != nil {
			return nil, err
		}
		if ok {
			if len(body) > 0 {
				fromBody, err := Parse(body)
				if err != nil {
					return nil, err
				}
				if err := fromClaims.Contradicts(fromBody); err != nil {
					return nil, err
				}
			}
			return fromClaims, nil
		}
	}
	return Parse(body)
}

// Contradicts compares a notification parsed from an HTTP body with n, the
// notification built from verified JWT claims, and returns an *[Error] with
// code [CodeBodyClaimsMismatch] when they disagree. It returns nil when they
// agree or when the body is empty (the claims alone carry the event).
//
// Undocumented: whether Gemini binds the body to the JWT (no body-hash claim
// is documented) and whether the claims carry the event (the guide decodes
// the token into the event). Both are accepted, and the body is trusted only
// as far as the claims confirm it: the body's type must equal
// the claims' type, a body id must name the same resource as the claims (a
// bare and a prefixed id of the same job agree), and every other field present
// on both sides must be equal. Fields present only in the claims are fine, as
// the body may be a thinner copy. Fields present only in the body are not
// verified; the receiver should publish the claims' notification, not the
// body's.
func (n *Notification) Contradicts(body *Notification) error {
	if body == nil || body.isZero() {
		return nil
	}
	var fields []string
	differs := func(name string, d bool) {
		if d {
			fields = append(fields, name)
		}
	}
	differs("type", body.Type != n.Type)
	differs("data.id", body.ID != "" && resourceKey(body) != resourceKey(n))
	differs("version", bothDiffer(body.Version, n.Version))
	differs("timestamp", !body.Timestamp.IsZero() && !n.Timestamp.IsZero() && !body.Timestamp.Equal(n.Timestamp))
	differs("data.output_file_uri", bothDiffer(body.OutputFileURI, n.OutputFileURI))
	differs("data.file_name", bothDiffer(body.FileName, n.FileName))
	differs("data.video_uri", bothDiffer(body.VideoURI, n.VideoURI))
	differs("data.error_code", bothDiffer(body.ErrorCode, n.ErrorCode))
	differs("data.error_message", bothDiffer(body.ErrorMessage, n.ErrorMessage))
	differs("user_metadata", metadataDiffers(body.UserMetadata, n.UserMetadata))
	if len(fields) == 0 {
		return nil
	}
	return newError(CodeBodyClaimsMismatch, "the body differs from the verified token claims in %s", strings.Join(fields, ", "))
}

// isZero reports whether n carries nothing, as Parse returns for an empty
// body or "{}".
func (n *Notification) isZero() bool {
	return n.Type == "" && n.Version == "" && n.Timestamp.IsZero() && n.ID == "" &&
		n.OutputFileURI == "" && n.FileName == "" && n.VideoURI == "" &&
		n.ErrorCode == "" && n.ErrorMessage == "" && len(n.UserMetadata) == 0 && len(n.Data) == 0
}

// resourceKey identifies the job a notification names, so that "batch_1" and
// "batches/batch_1" compare equal.
func resourceKey(n *Notification) string {
	if r := n.Resource(); r != "" {
		return r
	}
	return n.ID
}

func bothDiffer(a, b string) bool {
	return a != "" && b != "" && a != b
}

// metadataDiffers reports whether a key present in both maps has different
// values. Values are compared after a JSON round trip so that the same
// number decoded as json.Number in one map and float64 in the other (as JWT
// libraries decode claims) compares equal.
func metadataDiffers(body, claims map[string]any) bool {
	for k, bv := range body {
		cv, ok := claims[k]
		if !ok {
			continue
		}
		if !reflect.DeepEqual(canonical(bv), canonical(cv)) {
			return true
		}
	}
	return false
}

// canonical returns v as encoding/json would decode it into an any, or v
// itself when it cannot be encoded.
func canonical(v any) any {
	b, err := json.Marshal(v)
	if err != nil {
		return v
	}
	var out any
	if err := json.Unmarshal(b, &out); err != nil {
		return v
	}
	return out
}
