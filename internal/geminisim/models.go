package geminisim

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/netip"
	"net/url"
	"slices"
	"strings"
	"unicode"

	"github.com/geminihooks/geminihooks/pkg/gemini"
)

// This file holds what the REST routes that create jobs share: the models
// the simulator knows, the /v1beta/models/{model}:verb router, and the
// decoding of request bodies and webhook configurations.

// Methods of a model, for KnownModels, as the API names them in its
// model-not-found errors.
const (
	// MethodBatchGenerateContent creates a batch.
	MethodBatchGenerateContent = "batchGenerateContent"
	// MethodPredictLongRunning starts a video generation.
	MethodPredictLongRunning = "predictLongRunning"
	// MethodInteractions creates a model interaction.
	MethodInteractions = "interactions"
)

// knownModels are the models the simulator serves over REST, with the
// methods each supports. The real API serves many more; these are the ones
// geminihooks uses (DefaultModel, gemini.DefaultVideoModel) and their
// siblings of the same generation. Go methods (CreateBatch, ...) accept
// any model.
var knownModels = map[string][]string{
	"gemini-2.5-flash":          {MethodBatchGenerateContent, MethodInteractions},
	"gemini-2.5-flash-lite":     {MethodBatchGenerateContent, MethodInteractions},
	"gemini-2.5-pro":            {MethodBatchGenerateContent, MethodInteractions},
	gemini.DefaultVideoModel:    {MethodPredictLongRunning},
	"veo-3.0-fast-generate-001": {MethodPredictLongRunning},
	"veo-2.0-generate-001":      {MethodPredictLongRunning},
}

// knownAgents are the agents POST /v1beta/interactions accepts: the Deep
// Research agents of the Go SDK's AgentOption (DefaultAgent and its newer
// versions).
var knownAgents = []string{DefaultAgent, "deep-research-preview-04-2026", "deep-research-max-preview-04-2026"}

// KnownModels returns the models the REST routes accept for method (one
// of the Method constants), sorted.
func KnownModels(method string) []string {
	var out []string
	for m, methods := range knownModels {
		if slices.Contains(methods, method) {
			out = append(out, m)
		}
	}
	slices.Sort(out)
	return out
}

// supports reports whether model (bare, or with "models/") is known and
// serves method.
func supports(model, method string) bool {
	return slices.Contains(knownModels[strings.TrimPrefix(model, "models/")], method)
}

// msgModelNotFound is how the API refuses a model it does not have, or one
// that does not serve the method: 404 NOT_FOUND with this message.
func msgModelNotFound(model, method string) string {
	return fmt.Sprintf("models/%s is not found for API version v1beta, or is not supported for %s. "+
		"Call ListModels to see the list of available models and their supported methods.",
		strings.TrimPrefix(model, "models/"), method)
}

// pickModelMethod routes /v1beta/models/{model}:{verb}. The path segment
// carries the custom verb; a GET of a model, or an unknown verb, is not
// served.
func (s *Server) pickModelMethod(r *http.Request) routeHandler {
	_, verb, _ := strings.Cut(r.PathValue("model"), ":")
	switch {
	case verb == MethodBatchGenerateContent && r.Method == http.MethodPost:
		return routeHandler{route: RouteBatchesCreate, auth: true, h: s.createBatch}
	case verb == MethodPredictLongRunning && r.Method == http.MethodPost:
		return routeHandler{route: RouteVideosCreate, auth: true, h: s.createVideo}
	case verb == MethodBatchGenerateContent:
		return routeHandler{route: RouteBatchesCreate}
	case verb == MethodPredictLongRunning:
		return routeHandler{route: RouteVideosCreate}
	}
	return routeHandler{route: RouteUnknown}
}

// maxRequestBody bounds the body of a request that creates a job: the
// API's request size limit, which also bounds inline batches.
const maxRequestBody = 20 << 20

// msgTooLarge is Google's answer to a body over maxRequestBody.
var msgTooLarge = fmt.Sprintf("Request payload size exceeds the limit: %d bytes.", maxRequestBody)

// readBody reads a request body of at most maxRequestBody bytes. The
// message is the 400 to answer when it fails.
func readBody(r *http.Request) ([]byte, string) {
	raw, err := io.ReadAll(io.LimitReader(r.Body, maxRequestBody+1))
	switch {
	case err != nil:
		return nil, "Failed to read the request body."
	case len(raw) > maxRequestBody:
		return nil, msgTooLarge
	}
	return raw, ""
}

// protoObject decodes raw as a JSON object the way Google's JSON
// transcoding reads a message: each field may be spelled in lowerCamelCase
// or in snake_case, and an unknown field is refused. It returns the fields
// under their lowerCamelCase names, or the 400 message. where names the
// object in messages ("batch", "batch.inputConfig"; "" for the body).
func protoObject(raw json.RawMessage, where string, fields ...string) (map[string]json.RawMessage, string) {
	at := ""
	if where != "" {
		at = " at '" + where + "'"
	}
	var in map[string]json.RawMessage
	if err := json.Unmarshal(raw, &in); err != nil || in == nil {
		return nil, "Invalid JSON payload received. Expected an object" + at + "."
	}
	out := make(map[string]json.RawMessage, len(in))
	for key, val := range in {
		name := camelCase(key)
		if !slices.Contains(fields, name) {
			return nil, fmt.Sprintf("Invalid JSON payload received. Unknown name %q%s: Cannot find field.", key, at)
		}
		if _, dup := out[name]; dup {
			return nil, fmt.Sprintf("Invalid JSON payload received. Field %q%s is set twice.", name, at)
		}
		out[name] = val
	}
	return out, ""
}

// camelCase turns a snake_case field name into lowerCamelCase; other
// names are returned unchanged.
func camelCase(s string) string {
	if !strings.Contains(s, "_") {
		return s
	}
	var b strings.Builder
	up := false
	for _, r := range s {
		switch {
		case r == '_':
			up = true
		case up:
			b.WriteRune(unicode.ToUpper(r))
			up = false
		default:
			b.WriteRune(r)
		}
	}
	return b.String()
}

// decodeField unmarshals one field of a protoObject, answering the 400
// message for a value of the wrong type.
func decodeField(fields map[string]json.RawMessage, name, where string, dst any) string {
	raw, ok := fields[name]
	if !ok || isJSONNull(raw) {
		return ""
	}
	if err := json.Unmarshal(raw, dst); err != nil {
		if where != "" {
			name = where + "." + name
		}
		return fmt.Sprintf("Invalid JSON payload received. Invalid value at '%s'.", name)
	}
	return ""
}

// isJSONNull reports whether raw is the JSON null.
func isJSONNull(raw json.RawMessage) bool { return bytes.Equal(bytes.TrimSpace(raw), []byte("null")) }

// webhookConfig is a job's per-request webhook configuration: the URIs
// that replace the registered webhooks for its events, and the metadata
// echoed in each of them.
type webhookConfig struct {
	uris         []string
	userMetadata map[string]any
}

// decodeWebhookConfig reads a webhookConfig object ({uris, userMetadata},
// in either spelling) and checks its URIs. where names it in messages.
func decodeWebhookConfig(raw json.RawMessage, where string) (webhookConfig, string) {
	var cfg webhookConfig
	if raw == nil || isJSONNull(raw) {
		return cfg, ""
	}
	fields, msg := protoObject(raw, where, "uris", "userMetadata")
	if msg != "" {
		return cfg, msg
	}
	if msg := decodeField(fields, "uris", where, &cfg.uris); msg != "" {
		return cfg, msg
	}
	if msg := decodeField(fields, "userMetadata", where, &cfg.userMetadata); msg != "" {
		return cfg, msg
	}
	for _, u := range cfg.uris {
		if msg := checkURI(u); msg != "" {
			return cfg, where + ".uris: " + msg
		}
	}
	return cfg, ""
}

// checkURI validates a webhook endpoint, registered or per request: an
// absolute https URL. Plain http is accepted on loopback hosts only
// (localhost, 127.0.0.0/8, ::1), so that tests and the local runner can
// use local endpoints; Gemini itself delivers to public https URLs.
func checkURI(raw string) string {
	if raw == "" {
		return "uri is required."
	}
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" || u.User != nil || u.Fragment != "" {
		return fmt.Sprintf("uri %q must be an absolute https URL.", raw)
	}
	switch {
	case u.Scheme == "https":
		return ""
	case u.Scheme == "http" && isLoopback(u.Hostname()):
		return ""
	}
	return fmt.Sprintf("uri %q must be an https URL (plain http only on a loopback host).", raw)
}

// isLoopback reports whether host is localhost or a loopback address.
func isLoopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip, err := netip.ParseAddr(host)
	return err == nil && ip.IsLoopback()
}
