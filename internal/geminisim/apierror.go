package geminisim

import (
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// apiError is Google's JSON error body:
//
//	{"error":{"code":404,"message":"...","status":"NOT_FOUND","details":[...]}}
//
// code is the HTTP status and status the google.rpc.Code name.
type apiError struct {
	Code    int              `json:"code"`
	Message string           `json:"message"`
	Status  string           `json:"status"`
	Details []map[string]any `json:"details,omitempty"`
}

// rpcStatus maps the HTTP statuses the simulator answers to the canonical
// google.rpc.Code names that Google pairs them with.
var rpcStatus = map[int]string{
	http.StatusBadRequest:          "INVALID_ARGUMENT",
	http.StatusUnauthorized:        "UNAUTHENTICATED",
	http.StatusForbidden:           "PERMISSION_DENIED",
	http.StatusNotFound:            "NOT_FOUND",
	http.StatusConflict:            "ABORTED",
	http.StatusTooManyRequests:     "RESOURCE_EXHAUSTED",
	http.StatusInternalServerError: "INTERNAL",
	http.StatusNotImplemented:      "UNIMPLEMENTED",
	http.StatusServiceUnavailable:  "UNAVAILABLE",
	http.StatusGatewayTimeout:      "DEADLINE_EXCEEDED",
}

// rpcStatusOf returns the google.rpc.Code name for an HTTP status.
func rpcStatusOf(code int) string {
	if s, ok := rpcStatus[code]; ok {
		return s
	}
	if code >= 500 {
		return "INTERNAL"
	}
	return "UNKNOWN"
}

// Messages Google uses for the errors the simulator produces. The API-key
// ones are what generativelanguage.googleapis.com returns.
const (
	msgMissingKey = "Method doesn't allow unregistered callers (callers without established identity). " +
		"Please use API Key or other form of API consumer identity to call this API."
	msgInvalidKey  = "API key not valid. Please pass a valid API key."
	msgNotFound    = "Requested entity was not found."
	msgNoMethod    = "Method not found."
	msgQuota       = "You exceeded your current quota, please check your plan and billing details."
	msgInternal    = "An internal error has occurred. Please retry or report in https://developers.generativeai.google/guide/troubleshooting"
	msgUnavailable = "The model is overloaded. Please try again later."
	// msgMultipleCredentials is how the Interactions API refused a request
	// carrying the key both in x-goog-api-key and in ?key= (a third-party
	// report).
	msgMultipleCredentials = "Multiple authentication credentials received."
)

// errorWriter writes an error answer with an HTTP status, in one API's
// format.
type errorWriter func(w http.ResponseWriter, code int, message string, details ...map[string]any)

// errorWriterFor returns the error format of route: the Interactions API's
// string codes on interactions, Google's numeric ones everywhere else.
func errorWriterFor(route Route) errorWriter {
	if isInteractionsRoute(route) {
		return writeInteractionsError
	}
	return writeAPIError
}

// isInteractionsRoute reports whether route belongs to the Interactions
// API, which has its own error format and credential rules.
func isInteractionsRoute(route Route) bool {
	return route == RouteInteractions || route == RouteInteractionsCreate
}

// writeAPIError writes Google's error JSON with the given HTTP status.
func writeAPIError(w http.ResponseWriter, code int, message string, details ...map[string]any) {
	writeJSON(w, code, map[string]apiError{"error": {
		Code: code, Message: message, Status: rpcStatusOf(code), Details: details,
	}})
}

// interactionsError is the Interactions API's error body (the SDK's
// interactions.Error), whose code is a string:
//
//	{"error":{"code":"not_found","message":"..."}}
//
// The SDK documents the code only as identifying the error type; the
// simulator sends the google.rpc.Code name in lower case.
type interactionsError struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

// writeInteractionsError writes the Interactions API's error JSON with the
// given HTTP status. The format has no details; they are dropped.
func writeInteractionsError(w http.ResponseWriter, code int, message string, _ ...map[string]any) {
	writeJSON(w, code, map[string]interactionsError{"error": {
		Code: strings.ToLower(rpcStatusOf(code)), Message: message,
	}})
}

// writeInjectedError writes the error of an injected failure with write. A
// 429 carries Retry-After and, in Google's format, a google.rpc.RetryInfo
// detail, as Gemini does.
func writeInjectedError(w http.ResponseWriter, write errorWriter, code int, retryAfter time.Duration) {
	switch code {
	case http.StatusTooManyRequests:
		secs := int64((retryAfter + time.Second - 1) / time.Second)
		w.Header().Set("Retry-After", strconv.FormatInt(secs, 10))
		write(w, code, msgQuota, map[string]any{
			"@type":      "type.googleapis.com/google.rpc.RetryInfo",
			"retryDelay": strconv.FormatInt(secs, 10) + "s",
		})
	case http.StatusServiceUnavailable:
		write(w, code, msgUnavailable)
	case http.StatusInternalServerError:
		write(w, code, msgInternal)
	default:
		write(w, code, http.StatusText(code)+".")
	}
}

// writeJSON writes v as the JSON response body. Encoding happens before the
// header is written, so a failure yields a clean 500 rather than a partial
// body.
func writeJSON(w http.ResponseWriter, code int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		code = http.StatusInternalServerError
		b = []byte(`{"error":{"code":500,"message":"failed to encode response","status":"INTERNAL"}}`)
	}
	w.Header().Set("Content-Type", "application/json; charset=UTF-8")
	w.Header().Set("Content-Length", strconv.Itoa(len(b)+1))
	w.WriteHeader(code)
	_, _ = w.Write(append(b, '\n'))
}
