package geminisim

import (
	"bytes"
	"encoding/json"
	"net/http"
	"slices"
	"strings"
)

// This file is POST /v1beta/interactions, the creation of an interaction
// as the Go SDK's Interactions.Create sends it (snake_case, like every
// Interactions API body):
//
//	{"model":"gemini-2.5-flash" | "agent":"deep-research-pro-preview-12-2025",
//	 "input":"…", "background":true,
//	 "webhook_config":{"uris":["https://…"],"user_metadata":{…}}}
//
// A background interaction answers in_progress and runs on (until
// Options.CompleteAfter or a Go method ends it); a model interaction
// without background answers completed at once. Fields the simulator does
// not model (tools, generation_config, ...) are accepted and ignored.

// interactionRequest is the part of a create body the simulator reads.
type interactionRequest struct {
	Model         *string         `json:"model"`
	Agent         *string         `json:"agent"`
	Input         json.RawMessage `json:"input"`
	Background    *bool           `json:"background"`
	Stream        *bool           `json:"stream"`
	WebhookConfig json.RawMessage `json:"webhook_config"`
}

// createInteraction serves POST /v1beta/interactions.
func (s *Server) createInteraction(w http.ResponseWriter, r *http.Request) {
	raw, msg := readBody(r)
	if msg != "" {
		writeInteractionsError(w, http.StatusBadRequest, msg)
		return
	}
	var req interactionRequest
	if err := json.Unmarshal(raw, &req); err != nil || !bytes.HasPrefix(bytes.TrimSpace(raw), []byte("{")) {
		writeInteractionsError(w, http.StatusBadRequest, "Invalid JSON payload received: the body must be a JSON object.")
		return
	}
	spec, status, msg := checkInteraction(req)
	if msg != "" {
		writeInteractionsError(w, status, msg)
		return
	}
	hooks, msg := decodeWebhookConfig(req.WebhookConfig, "webhook_config")
	if msg != "" {
		writeInteractionsError(w, http.StatusBadRequest, msg)
		return
	}
	spec.WebhookURIs, spec.UserMetadata = hooks.uris, hooks.userMetadata
	spec.Report, spec.Citations = CitedReport()
	it := &interaction{spec: spec, id: newID(), status: InteractionInProgress}
	background := req.Background != nil && *req.Background
	if !background {
		// Answered at once, with the output. Undocumented: whether a
		// foreground interaction emits webhook events; the simulator sends
		// none (webhook_config requires background anyway).
		it.status = InteractionCompleted
	}
	if err := s.addInteraction(it); err != nil {
		writeInteractionsError(w, http.StatusInternalServerError, msgInternal)
		return
	}
	if background {
		s.completeLater(func() error {
			_, err := s.CompleteInteraction(it.id)
			return err
		})
	}
	s.mu.Lock()
	res := renderInteraction(it)
	s.mu.Unlock()
	writeJSON(w, http.StatusOK, res)
}

// checkInteraction validates a create request as the API does and returns
// the interaction to create, or the error status and message.
func checkInteraction(req interactionRequest) (InteractionSpec, int, string) {
	var spec InteractionSpec
	model, agent := deref(req.Model), deref(req.Agent)
	background := req.Background != nil && *req.Background
	switch {
	case model != "" && agent != "":
		return spec, http.StatusBadRequest, "Exactly one of model and agent must be set."
	case model == "" && agent == "":
		return spec, http.StatusBadRequest, "One of model and agent is required."
	case model != "" && !supports(model, MethodInteractions):
		return spec, http.StatusNotFound, msgModelNotFound(model, MethodInteractions)
	case agent != "" && !slices.Contains(knownAgents, agent):
		return spec, http.StatusNotFound, "Agent " + agent + " was not found."
	case len(bytes.TrimSpace(req.Input)) == 0 || isJSONNull(req.Input):
		return spec, http.StatusBadRequest, "input is required."
	case req.Stream != nil && *req.Stream:
		return spec, http.StatusNotImplemented, "geminisim: streamed interactions are not simulated; set stream to false."
	case len(req.WebhookConfig) > 0 && !isJSONNull(req.WebhookConfig) && !background:
		// The guide: "background=True, # Required when webhook_config is
		// specified".
		return spec, http.StatusBadRequest, "background=true is required when webhook_config is specified."
	case agent != "" && !background:
		// Agents run for up to an hour, in the background only (the Deep
		// Research documentation, as summarized by third parties).
		return spec, http.StatusBadRequest, "Agent interactions require background=true."
	}
	spec.Model, spec.Agent = strings.TrimPrefix(model, "models/"), agent
	spec.Input = inputText(req.Input)
	if spec.Input == "" {
		return spec, http.StatusBadRequest, "input is required."
	}
	return spec, 0, ""
}

// inputText returns the text of an interaction's input: the string, or
// the text fields of its contents or steps, joined by newlines.
func inputText(raw json.RawMessage) string {
	var v any
	if err := json.Unmarshal(raw, &v); err != nil {
		return ""
	}
	var texts []string
	var walk func(any)
	walk = func(v any) {
		switch v := v.(type) {
		case string:
			texts = append(texts, v)
		case []any:
			for _, e := range v {
				walk(e)
			}
		case map[string]any:
			if t, ok := v["text"].(string); ok {
				texts = append(texts, t)
				return
			}
			for _, k := range []string{"content", "parts"} {
				if c, ok := v[k]; ok {
					walk(c)
				}
			}
		}
	}
	walk(v)
	return strings.TrimSpace(strings.Join(texts, "\n"))
}

// deref returns *p, or "" for nil.
func deref(p *string) string {
	if p == nil {
		return ""
	}
	return *p
}
