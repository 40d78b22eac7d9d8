package event

import (
	"errors"
	"fmt"
)

// Error codes carried by [Error]. They are stable strings that the receiver
// returns to the sender and writes to logs. All but CodeBodyClaimsMismatch
// describe a malformed payload (HTTP 400); CodeBodyClaimsMismatch means the
// body disagrees with a verified JWT (HTTP 401).
const (
	// CodeInvalidJSON: the body is not a single JSON object in UTF-8.
	CodeInvalidJSON = "invalid_json"
	// CodeNestingTooDeep: the body nests objects and arrays more than
	// [MaxDepth] levels deep.
	CodeNestingTooDeep = "nesting_too_deep"
	// CodeMissingEventType: the envelope has no "type" although it is not a ping.
	CodeMissingEventType = "missing_event_type"
	// CodeInvalidEventType: "type" is not a string of 1 to 128 visible ASCII characters.
	CodeInvalidEventType = "invalid_event_type"
	// CodeMissingResourceID: a known job event carries no data.id.
	CodeMissingResourceID = "missing_resource_id"
	// CodeInvalidResourceID: data.id is not a safe resource name for its kind.
	CodeInvalidResourceID = "invalid_resource_id"
	// CodeInvalidTimestamp: "timestamp" is present but not an RFC 3339 string.
	// (The header's own malformed timestamp is the verifier's "invalid_timestamp".)
	CodeInvalidTimestamp = "invalid_event_timestamp"
	// CodeInvalidField: a documented field has the wrong JSON type (for
	// example "data" is not an object or "output_file_uri" is not a string).
	CodeInvalidField = "invalid_field"
	// CodeInvalidWebhookID: the webhook-id given to [Normalize] is not 1 to
	// 256 visible ASCII characters.
	CodeInvalidWebhookID = "invalid_webhook_id"
	// CodeBodyClaimsMismatch: the body contradicts the verified JWT claims.
	CodeBodyClaimsMismatch = "body_claims_mismatch"
)

// Error reports a delivery that geminihooks refuses because of its content.
// Code is one of the Code* constants; Message explains the problem to the
// sender and never contains secrets.
type Error struct {
	Code    string
	Message string
}

// Error implements the error interface.
func (e *Error) Error() string {
	return fmt.Sprintf("event: %s: %s", e.Code, e.Message)
}

// Is reports whether target is an *Error with the same Code and an empty
// Message, so that errors.Is(err, &event.Error{Code: event.CodeInvalidJSON})
// matches any invalid_json error.
func (e *Error) Is(target error) bool {
	t, ok := target.(*Error)
	return ok && t.Message == "" && t.Code == e.Code
}

// ErrPing is returned by [Normalize] for a ping notification: a ping names no
// job, so it is acknowledged and never published.
var ErrPing = errors.New("event: ping notifications are not published")

func newError(code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// quote returns s quoted and cut to a length that is safe to echo back in an
// error message.
func quote(s string) string {
	const limit = 64
	if len(s) > limit {
		return fmt.Sprintf("%q…", s[:limit])
	}
	return fmt.Sprintf("%q", s)
}
