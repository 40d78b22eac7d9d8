package geminisim

import (
	"fmt"
	"net/http"
	"time"

	"github.com/geminihooks/geminihooks/pkg/event"
)

// InteractionStatus is the status of an interaction, as sent on the wire.
type InteractionStatus string

// Interaction statuses the simulator produces (the API has more: incomplete,
// budget_exceeded, queued, requires_continuation).
const (
	InteractionInProgress     InteractionStatus = "in_progress"
	InteractionRequiresAction InteractionStatus = "requires_action"
	InteractionCompleted      InteractionStatus = "completed"
	InteractionFailed         InteractionStatus = "failed"
	InteractionCancelled      InteractionStatus = "cancelled"
)

// DefaultAgent is the agent of interactions with neither Agent nor Model:
// the Deep Research agent.
const DefaultAgent = "deep-research-pro-preview-12-2025"

// InteractionSpec describes an interaction (a Deep Research run, or a
// background model call) to create.
type InteractionSpec struct {
	// ID is the interaction id; empty generates one.
	ID string
	// Agent is the agent id. Agent and Model are exclusive; if both are
	// empty, Agent is DefaultAgent.
	Agent string
	// Model makes this a model interaction (e.g. "gemini-2.5-flash").
	Model string
	// Input is the user's prompt, shown in the user_input step.
	Input string
	// Report is the final text of the model_output step. Empty means the
	// built-in report of CitedReport, written the way Deep Research writes
	// today (inline [cite: N] markers, its own Sources list, untitled
	// grounding redirect citations).
	Report string
	// Citations annotate Report with url_citation annotations; their
	// indices are byte offsets into Report. Ignored when Report is empty.
	Citations []Citation
	// WebhookURIs and UserMetadata form the interaction's webhook_config:
	// its notifications go to these URIs, JWT-signed, instead of the
	// registered webhooks, and carry the metadata.
	WebhookURIs  []string
	UserMetadata map[string]any
}

// Citation is a url_citation annotation on a span [StartIndex, EndIndex) of
// a report, in bytes.
type Citation struct {
	// URL and Title describe the source; an empty Title is sent as null,
	// as the API does for sources it has no title for.
	URL, Title string
	// StartIndex and EndIndex bound the cited span, in bytes.
	StartIndex, EndIndex int
}

type interaction struct {
	spec             InteractionSpec
	id               string
	status           InteractionStatus
	created, updated time.Time
	errCode, errMsg  string
}

// defaultReport holds the facts and sources of the built-in report (see
// CitedReport).
var defaultReport = []struct{ text, url, title string }{
	{"Webhooks deliver an HTTP callback when a long-running job finishes, which removes the need to poll.",
		"https://ai.google.dev/gemini-api/docs/webhooks", "Webhooks | Gemini API"},
	{"Standard Webhooks signs each delivery with an HMAC over the message id, the timestamp and the body.",
		"https://www.standardwebhooks.com/", "Standard Webhooks"},
	{"Batch results are written to a JSON Lines file that the Files API keeps for 48 hours.",
		"https://ai.google.dev/gemini-api/docs/batch-api", "Batch API | Gemini API"},
}

// CreateInteraction adds an in_progress interaction and returns its id.
func (s *Server) CreateInteraction(spec InteractionSpec) (string, error) {
	id, err := checkID("interaction", spec.ID)
	if err != nil {
		return "", err
	}
	switch {
	case spec.Agent != "" && spec.Model != "":
		return "", fmt.Errorf("%w: interaction has both an agent and a model", ErrInvalidSpec)
	case spec.Agent == "" && spec.Model == "":
		spec.Agent = DefaultAgent
	}
	if spec.Input == "" {
		spec.Input = "Research how webhooks report the completion of long-running jobs."
	}
	if spec.Report == "" {
		spec.Report, spec.Citations = CitedReport()
	}
	for _, c := range spec.Citations {
		if c.StartIndex < 0 || c.StartIndex > c.EndIndex || c.EndIndex > len(spec.Report) {
			return "", fmt.Errorf("%w: citation [%d, %d) is outside the %d-byte report", ErrInvalidSpec, c.StartIndex, c.EndIndex, len(spec.Report))
		}
	}
	for _, u := range spec.WebhookURIs {
		if msg := checkURI(u); msg != "" {
			return "", fmt.Errorf("%w: interaction webhook %s", ErrInvalidSpec, msg)
		}
	}
	if err := s.addInteraction(&interaction{spec: spec, id: id, status: InteractionInProgress}); err != nil {
		return "", err
	}
	return id, nil
}

// addInteraction stores a new interaction, stamping its creation.
func (s *Server) addInteraction(it *interaction) error {
	id := it.id
	now := s.now()
	it.created, it.updated = now, now
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, dup := s.interactions[id]; dup {
		return fmt.Errorf("%w: interaction %s already exists", ErrInvalidSpec, id)
	}
	s.interactions[id] = it
	return nil
}

// CompleteInteraction makes the interaction completed, with its report, and
// returns the interaction.completed notification.
func (s *Server) CompleteInteraction(id string) (event.Payload, error) {
	return s.moveInteraction(id, InteractionCompleted, "", "")
}

// FailInteraction makes the interaction failed with the given error, which
// appears in its errors list and in the interaction.failed notification.
func (s *Server) FailInteraction(id, code, message string) (event.Payload, error) {
	return s.moveInteraction(id, InteractionFailed, code, message)
}

// CancelInteraction makes the interaction cancelled and returns the
// interaction.cancelled notification.
func (s *Server) CancelInteraction(id string) (event.Payload, error) {
	return s.moveInteraction(id, InteractionCancelled, "", "")
}

// RequireAction makes an in_progress interaction wait for the client (a
// function call) and returns the interaction.requires_action notification.
func (s *Server) RequireAction(id string) (event.Payload, error) {
	return s.moveInteraction(id, InteractionRequiresAction, "", "")
}

// moveInteraction performs a transition and delivers its notification.
func (s *Server) moveInteraction(id string, to InteractionStatus, code, msg string) (event.Payload, error) {
	p, uris, err := s.transitionInteraction(id, to, code, msg)
	if err == nil {
		s.notify("interactions/"+id, uris, p)
	}
	return p, err
}

// transitionInteraction moves the interaction and returns its
// notification and webhook URIs.
func (s *Server) transitionInteraction(id string, to InteractionStatus, code, msg string) (event.Payload, []string, error) {
	now := s.now()
	s.mu.Lock()
	defer s.mu.Unlock()
	it, ok := s.interactions[id]
	if !ok {
		return event.Payload{}, nil, fmt.Errorf("%w: interaction %s", ErrNotFound, id)
	}
	movable := it.status == InteractionInProgress || (it.status == InteractionRequiresAction && to != InteractionRequiresAction)
	if !movable {
		return event.Payload{}, nil, fmt.Errorf("%w: interaction %s is %s, cannot become %s", ErrWrongState, id, it.status, to)
	}
	it.status, it.updated, it.errCode, it.errMsg = to, now, code, msg
	data := event.PayloadData{ID: id, UserMetadata: it.spec.UserMetadata}
	if to == InteractionFailed {
		data.ErrorCode, data.ErrorMessage = code, msg
	}
	p := event.Payload{Type: "interaction." + string(to), Version: event.PayloadVersion, Timestamp: now, Data: data}
	return p, it.spec.WebhookURIs, nil
}

// Wire shapes of an interaction, with the field names of the Go SDK's
// interactions models (snake_case; steps and contents are tagged unions on
// "type").
type (
	interactionResource struct {
		ID            string               `json:"id"`
		Agent         string               `json:"agent,omitempty"`
		Model         string               `json:"model,omitempty"`
		Status        InteractionStatus    `json:"status"`
		Created       string               `json:"created"`
		Updated       string               `json:"updated"`
		Steps         []any                `json:"steps"`
		Errors        []interactionError   `json:"errors,omitempty"`
		Usage         *interactionUsage    `json:"usage,omitempty"`
		WebhookConfig *interactionWebhooks `json:"webhook_config,omitempty"`
	}
	textContent struct {
		Type        string        `json:"type"`
		Text        string        `json:"text"`
		Annotations []urlCitation `json:"annotations,omitempty"`
	}
	urlCitation struct {
		Type       string  `json:"type"`
		URL        string  `json:"url"`
		Title      *string `json:"title"`
		StartIndex int     `json:"start_index"`
		EndIndex   int     `json:"end_index"`
	}
	contentStep struct {
		Type    string        `json:"type"`
		Content []textContent `json:"content"`
	}
	thoughtStep struct {
		Type    string        `json:"type"`
		Summary []textContent `json:"summary"`
	}
	searchCallStep struct {
		Type      string `json:"type"`
		ID        string `json:"id"`
		Arguments struct {
			Queries []string `json:"queries"`
		} `json:"arguments"`
	}
	searchResultStep struct {
		Type   string              `json:"type"`
		CallID string              `json:"call_id"`
		Result []map[string]string `json:"result"`
	}
	functionCallStep struct {
		Type      string         `json:"type"`
		ID        string         `json:"id"`
		Name      string         `json:"name"`
		Arguments map[string]any `json:"arguments"`
	}
	interactionError struct {
		Code    string `json:"code,omitempty"`
		Message string `json:"message,omitempty"`
	}
	interactionUsage struct {
		TotalInputTokens   int `json:"total_input_tokens"`
		TotalOutputTokens  int `json:"total_output_tokens"`
		TotalThoughtTokens int `json:"total_thought_tokens"`
		TotalTokens        int `json:"total_tokens"`
	}
	interactionWebhooks struct {
		URIs         []string       `json:"uris,omitempty"`
		UserMetadata map[string]any `json:"user_metadata,omitempty"`
	}
)

// interactionTime formats t as the Interactions API does:
// YYYY-MM-DDThh:mm:ssZ.
func interactionTime(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05Z") }

// renderInteraction returns the interaction's REST representation. The steps
// grow with the status: the prompt and a plan, then a search, then either
// the report, a function call awaiting the client, or nothing more. Called
// with s.mu held.
func renderInteraction(it *interaction) interactionResource {
	res := interactionResource{
		ID: it.id, Agent: it.spec.Agent, Model: it.spec.Model, Status: it.status,
		Created: interactionTime(it.created), Updated: interactionTime(it.updated),
	}
	if len(it.spec.WebhookURIs) > 0 || len(it.spec.UserMetadata) > 0 {
		res.WebhookConfig = &interactionWebhooks{URIs: it.spec.WebhookURIs, UserMetadata: it.spec.UserMetadata}
	}
	const plan = "Planning the research: find primary sources, then summarize them with citations."
	query := "webhooks for long-running jobs"
	res.Steps = []any{
		contentStep{Type: "user_input", Content: []textContent{{Type: "text", Text: it.spec.Input}}},
		thoughtStep{Type: "thought", Summary: []textContent{{Type: "text", Text: plan}}},
	}
	if it.status == InteractionFailed {
		res.Errors = []interactionError{{Code: it.errCode, Message: it.errMsg}}
		return res
	}
	call := searchCallStep{Type: "google_search_call", ID: "call-" + it.id}
	call.Arguments.Queries = []string{query}
	res.Steps = append(res.Steps, call)
	switch it.status {
	case InteractionRequiresAction:
		res.Steps = append(res.Steps, functionCallStep{
			Type: "function_call", ID: "fc-" + it.id, Name: "confirm_sources",
			Arguments: map[string]any{"query": query},
		})
	case InteractionCompleted:
		out := textContent{Type: "text", Text: it.spec.Report}
		for _, c := range it.spec.Citations {
			out.Annotations = append(out.Annotations, urlCitation{
				Type: "url_citation", URL: c.URL, Title: nullable(c.Title), StartIndex: c.StartIndex, EndIndex: c.EndIndex,
			})
		}
		res.Steps = append(res.Steps,
			searchResultStep{Type: "google_search_result", CallID: call.ID,
				Result: []map[string]string{{"search_suggestions": query}}},
			contentStep{Type: "model_output", Content: []textContent{out}},
		)
		// Roughly four bytes per token.
		in, out2, thought := len(it.spec.Input)/4+1, len(it.spec.Report)/4+1, len(plan)/4+1
		res.Usage = &interactionUsage{TotalInputTokens: in, TotalOutputTokens: out2, TotalThoughtTokens: thought,
			TotalTokens: in + out2 + thought}
	}
	return res
}

// getInteraction serves GET /v1beta/interactions/{id}. The stream and
// include_input parameters are ignored: the response is always the JSON
// resource.
func (s *Server) getInteraction(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	it, ok := s.interactions[r.PathValue("id")]
	var res interactionResource
	if ok {
		res = renderInteraction(it)
	}
	s.mu.Unlock()
	if !ok {
		writeInteractionsError(w, http.StatusNotFound, msgNotFound)
		return
	}
	writeJSON(w, http.StatusOK, res)
}
