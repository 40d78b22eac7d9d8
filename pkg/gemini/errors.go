package gemini

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"syscall"
	"time"

	"google.golang.org/genai"
)

// Sentinel errors, for errors.Is. Together with ErrInvalidID they mark
// permanent failures, except ErrIncomplete, which is transient.
var (
	// ErrForeignHost: a download URI or a redirect points somewhere other
	// than the configured base URL or an allowed download host
	// (Options.DownloadHosts), so it is refused.
	ErrForeignHost = errors.New("gemini: URL is neither on the Gemini base URL nor on an allowed download host")
	// ErrUnexpectedResponse: the API answered 2xx with something that is
	// not the expected resource (malformed JSON, a missing state, another
	// resource's name).
	ErrUnexpectedResponse = errors.New("gemini: unexpected response")
	// ErrIncomplete: a download ended before all of its bytes arrived and
	// could not be resumed. Trying the whole download again may succeed.
	ErrIncomplete = errors.New("gemini: download incomplete")
)

// APIError is an error answer of the Gemini API: a non-2xx HTTP status with
// Google's error JSON ({"error":{"code":404,"message":…,"status":"NOT_FOUND"}})
// or the Interactions API's ({"error":{"code":"not_found","message":…}}).
// Whether it is worth retrying depends on the HTTP status alone.
type APIError struct {
	// Status is the HTTP status code.
	Status int
	// Code is the google.rpc.Code name, e.g. "NOT_FOUND", in upper case
	// whichever error shape named it; when the body names none, the code
	// Google pairs with the HTTP status.
	Code string
	// Message is the server's developer-facing message.
	Message string
	// Reason is the reason of a google.rpc.ErrorInfo detail, if any, e.g.
	// "API_KEY_INVALID"; or an Interactions API string code that is not a
	// google.rpc.Code name, as sent.
	Reason string
	// RetryAfter is how long the server asked the client to wait, from the
	// Retry-After header or a google.rpc.RetryInfo detail; 0 if neither.
	RetryAfter time.Duration
}

// Error describes the failure. It holds only what the server sent, which
// never includes the API key.
func (e *APIError) Error() string {
	var sb strings.Builder
	fmt.Fprintf(&sb, "gemini: HTTP %d", e.Status)
	if e.Code != "" {
		fmt.Fprintf(&sb, " %s", e.Code)
	}
	if e.Reason != "" {
		fmt.Fprintf(&sb, " (%s)", e.Reason)
	}
	if e.Message != "" {
		fmt.Fprintf(&sb, ": %s", e.Message)
	}
	return sb.String()
}

// Transient reports whether repeating the request may succeed: rate
// limiting, server errors and request timeouts.
func (e *APIError) Transient() bool {
	return e.Status == http.StatusRequestTimeout || e.Status == http.StatusTooManyRequests || e.Status >= 500
}

// IsTransient reports whether err is worth retrying later: rate limits,
// server errors, timeouts and cancellations, connection failures and
// interrupted downloads.
// Everything else (4xx answers, invalid identifiers, refused URLs,
// unexpected response shapes, unknown errors) is permanent.
func IsTransient(err error) bool {
	if err == nil || errors.Is(err, ErrInvalidID) || errors.Is(err, ErrForeignHost) ||
		errors.Is(err, ErrUnexpectedResponse) {
		return false
	}
	if apiErr, ok := errors.AsType[*APIError](err); ok {
		return apiErr.Transient()
	}
	switch {
	case errors.Is(err, ErrIncomplete),
		errors.Is(err, context.DeadlineExceeded), errors.Is(err, context.Canceled),
		errors.Is(err, io.ErrUnexpectedEOF),
		errors.Is(err, syscall.ECONNRESET), errors.Is(err, syscall.ECONNREFUSED),
		errors.Is(err, syscall.ECONNABORTED), errors.Is(err, syscall.EPIPE):
		return true
	}
	if _, ok := errors.AsType[net.Error](err); ok {
		return true
	}
	// Any other failure to get a response (TLS, DNS, a closed connection)
	// is a transport problem.
	_, ok := errors.AsType[*url.Error](err)
	return ok
}

// maxErrorBody bounds how much of an error response is read.
const maxErrorBody = 64 << 10

// maxErrorMessage bounds the message kept from a non-JSON error body (an
// HTML page from a proxy, say).
const maxErrorMessage = 512

// errorBody is the error JSON of a non-2xx answer. Two shapes are in use,
// and both are accepted:
//
//   - Google's, on batches, files and operations:
//     {"error":{"code":404,"message":"…","status":"NOT_FOUND","details":[…]}},
//     code being the HTTP status and status the google.rpc.Code name;
//   - the Interactions API's (the SDK's interactions.Error):
//     {"error":{"code":"not_found","message":"…"}}, a string code.
//
// Code is kept raw so that neither shape fails to decode.
type errorBody struct {
	Error *struct {
		Code    json.RawMessage   `json:"code"`
		Message string            `json:"message"`
		Status  string            `json:"status"`
		Details []json.RawMessage `json:"details"`
	} `json:"error"`
}

// rpcCodes are the google.rpc.Code names.
var rpcCodes = map[string]bool{
	"OK": true, "CANCELLED": true, "UNKNOWN": true, "INVALID_ARGUMENT": true, "DEADLINE_EXCEEDED": true,
	"NOT_FOUND": true, "ALREADY_EXISTS": true, "PERMISSION_DENIED": true, "RESOURCE_EXHAUSTED": true,
	"FAILED_PRECONDITION": true, "ABORTED": true, "OUT_OF_RANGE": true, "UNIMPLEMENTED": true,
	"INTERNAL": true, "UNAVAILABLE": true, "DATA_LOSS": true, "UNAUTHENTICATED": true,
}

// maxReason bounds a string code kept as the Reason.
const maxReason = 128

// errorDetail holds the fields of the google.rpc detail types used here:
// ErrorInfo (reason) and RetryInfo (retryDelay).
type errorDetail struct {
	Type       string `json:"@type"`
	Reason     string `json:"reason"`
	RetryDelay string `json:"retryDelay"`
}

// newAPIError builds the APIError of a non-2xx response, reading (a bounded
// part of) its body.
func newAPIError(resp *http.Response) *APIError {
	body, _ := io.ReadAll(io.LimitReader(resp.Body, maxErrorBody))
	e := &APIError{Status: resp.StatusCode, RetryAfter: parseRetryAfter(resp.Header.Get("Retry-After"))}
	if !e.applyBody(body) {
		e.Message = truncate(strings.TrimSpace(string(body)), maxErrorMessage)
	}
	if e.Code == "" {
		e.Code = rpcCode(resp.StatusCode)
	}
	return e
}

// applyBody fills Code, Message, Reason and RetryAfter from an error JSON
// body in either shape of errorBody, and reports whether body was one.
// Code stays empty when the body names no google.rpc.Code; an Interactions
// string code that is no such name (the SDK documents it only as
// identifying the error type) is kept as the Reason instead.
func (e *APIError) applyBody(body []byte) bool {
	var eb errorBody
	if json.Unmarshal(body, &eb) != nil || eb.Error == nil {
		return false
	}
	e.Message = eb.Error.Message
	e.Code = eb.Error.Status
	var s string
	if e.Code == "" && json.Unmarshal(eb.Error.Code, &s) == nil && s != "" {
		if upper := strings.ToUpper(s); rpcCodes[upper] {
			e.Code = upper
		} else {
			e.Reason = truncate(s, maxReason)
		}
	}
	e.applyDetails(eb.Error.Details)
	return true
}

// applyDetails takes the reason and retry delay from google.rpc details.
func (e *APIError) applyDetails(details []json.RawMessage) {
	for _, raw := range details {
		var d errorDetail
		if json.Unmarshal(raw, &d) != nil {
			continue
		}
		switch {
		case strings.HasSuffix(d.Type, "google.rpc.ErrorInfo"):
			e.Reason = d.Reason
		case strings.HasSuffix(d.Type, "google.rpc.RetryInfo"):
			if delay, err := time.ParseDuration(d.RetryDelay); err == nil && delay > e.RetryAfter {
				e.RetryAfter = delay
			}
		}
	}
}

// fromSDKError converts an error of the genai SDK into an *APIError when it
// is an API answer; other errors (transport failures) are returned as is.
func fromSDKError(err error) error {
	sdkErr, ok := errors.AsType[genai.APIError](err)
	if !ok {
		if p, okp := errors.AsType[*genai.APIError](err); okp && p != nil {
			sdkErr, ok = *p, true
		}
	}
	if !ok {
		return err
	}
	e := &APIError{Status: sdkErr.Code, Code: sdkErr.Status, Message: truncate(sdkErr.Message, maxErrorMessage)}
	// When the SDK cannot decode the error JSON (an Interactions API
	// string code does not fit its numeric Code), it puts the HTTP status
	// line ("404 Not Found") in Status and the body in Message.
	if strings.Contains(e.Code, " ") {
		e.Code = ""
		if e.applyBody([]byte(sdkErr.Message)) {
			e.Message = truncate(e.Message, maxErrorMessage)
		}
	}
	if e.Code == "" {
		e.Code = rpcCode(sdkErr.Code)
	}
	var details []json.RawMessage
	for _, d := range sdkErr.Details {
		if raw, err := json.Marshal(d); err == nil {
			details = append(details, raw)
		}
	}
	e.applyDetails(details)
	return e
}

// rpcCode returns the google.rpc.Code name Google pairs with an HTTP status.
func rpcCode(status int) string {
	switch status {
	case http.StatusBadRequest:
		return "INVALID_ARGUMENT"
	case http.StatusUnauthorized:
		return "UNAUTHENTICATED"
	case http.StatusForbidden:
		return "PERMISSION_DENIED"
	case http.StatusNotFound:
		return "NOT_FOUND"
	case http.StatusConflict:
		return "ABORTED"
	case http.StatusRequestedRangeNotSatisfiable:
		return "OUT_OF_RANGE"
	case http.StatusTooManyRequests:
		return "RESOURCE_EXHAUSTED"
	case http.StatusNotImplemented:
		return "UNIMPLEMENTED"
	case http.StatusServiceUnavailable:
		return "UNAVAILABLE"
	case http.StatusGatewayTimeout:
		return "DEADLINE_EXCEEDED"
	}
	if status >= 500 {
		return "INTERNAL"
	}
	return "UNKNOWN"
}

// parseRetryAfter parses a Retry-After header: delay-seconds or an
// HTTP-date. Anything else, or a time in the past, is 0.
func parseRetryAfter(v string) time.Duration {
	if v == "" {
		return 0
	}
	if secs, err := strconv.ParseInt(v, 10, 64); err == nil {
		if secs <= 0 {
			return 0
		}
		return time.Duration(min(secs, int64(24*time.Hour/time.Second))) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil {
		return max(time.Until(t), 0)
	}
	return 0
}

// truncate cuts s to at most n bytes, marking the cut.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}

// redactedKey replaces secrets in URLs and messages.
const redactedKey = "REDACTED"

// redactURL returns raw with its userinfo and any "key" query parameter
// (where an API key may ride) replaced, fit to appear in an error.
func redactURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "<unparsable URL>"
	}
	if u.User != nil {
		u.User = url.User(redactedKey)
	}
	if q := u.Query(); q.Has("key") {
		q.Set("key", redactedKey)
		u.RawQuery = q.Encode()
	}
	return u.String()
}

// redactedError is an error whose message had the API key removed. It
// unwraps to the original, so errors.Is and errors.As keep working.
type redactedError struct {
	msg string
	err error
}

func (e *redactedError) Error() string { return e.msg }
func (e *redactedError) Unwrap() error { return e.err }

// scrub returns err with every occurrence of secret removed from its
// message. It is the last guard at the package boundary: the key is only
// ever sent in a header, so it should not be in any message to begin with.
func scrub(err error, secret string) error {
	if err == nil || secret == "" {
		return err
	}
	msg := err.Error()
	if !strings.Contains(msg, secret) {
		return err
	}
	return &redactedError{msg: strings.ReplaceAll(msg, secret, redactedKey), err: err}
}
