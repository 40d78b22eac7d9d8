package gemini

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
)

// Interaction statuses, as sent by the Interactions API.
const (
	InteractionInProgress           = "in_progress"
	InteractionRequiresAction       = "requires_action"
	InteractionCompleted            = "completed"
	InteractionFailed               = "failed"
	InteractionCancelled            = "cancelled"
	InteractionIncomplete           = "incomplete"
	InteractionBudgetExceeded       = "budget_exceeded"
	InteractionQueued               = "queued"
	InteractionRequiresContinuation = "requires_continuation"
)

// Step types (Step.Type) that a report renderer meets in a Deep Research
// interaction. The API has more (code execution, file search, MCP, ...);
// they are parsed generically.
const (
	StepUserInput          = "user_input"
	StepModelOutput        = "model_output"
	StepThought            = "thought"
	StepFunctionCall       = "function_call"
	StepFunctionResult     = "function_result"
	StepGoogleSearchCall   = "google_search_call"
	StepGoogleSearchResult = "google_search_result"
	StepURLContextCall     = "url_context_call"
	StepURLContextResult   = "url_context_result"
)

// Content types (Content.Type).
const (
	ContentText     = "text"
	ContentImage    = "image"
	ContentAudio    = "audio"
	ContentVideo    = "video"
	ContentDocument = "document"
)

// Annotation types (Annotation.Type).
const (
	AnnotationURLCitation   = "url_citation"
	AnnotationFileCitation  = "file_citation"
	AnnotationPlaceCitation = "place_citation"
)

// Interaction is an Interactions API resource (GET /v1beta/interactions/{id}),
// for example a Deep Research run. The JSON tags are the API's (snake_case),
// so the value can also be decoded from a stored interaction.json.
type Interaction struct {
	// ID is the interaction id.
	ID string `json:"id"`
	// Status is the status, e.g. InteractionCompleted.
	Status string `json:"status"`
	// Agent is the agent id (e.g. a Deep Research agent); empty for model
	// interactions.
	Agent string `json:"agent,omitempty"`
	// Model is the model of a model interaction.
	Model string `json:"model,omitempty"`
	// Created and Updated are the API's timestamps, as sent (RFC 3339).
	Created string `json:"created,omitempty"`
	Updated string `json:"updated,omitempty"`
	// Steps is the interaction's history: the user input, thoughts, tool
	// calls and results, and model output, in order.
	Steps []Step `json:"steps,omitempty"`
	// Errors lists the failures of a failed interaction.
	Errors []InteractionError `json:"errors,omitempty"`
	// Usage counts tokens.
	Usage *Usage `json:"usage,omitempty"`
	// Raw is the API's response body, byte for byte, for storing as
	// interaction.json. It holds everything the fields above leave out.
	Raw json.RawMessage `json:"-"`
}

// Step is one step of an interaction. Which fields are set depends on Type:
// user_input and model_output have Content, thought has Summary, tool calls
// have ID, Name and Arguments, tool results CallID and Result.
type Step struct {
	// Type is the step type, e.g. StepModelOutput.
	Type string `json:"type"`
	// Content is the content of a user_input or model_output step.
	Content []Content `json:"content,omitempty"`
	// Summary is the summary of a thought step.
	Summary []Content `json:"summary,omitempty"`
	// ID identifies a tool call.
	ID string `json:"id,omitempty"`
	// Name is the function of a function_call step.
	Name string `json:"name,omitempty"`
	// Arguments are a tool call's arguments, verbatim.
	Arguments json.RawMessage `json:"arguments,omitempty"`
	// CallID is the ID of the call a tool result answers.
	CallID string `json:"call_id,omitempty"`
	// Result is a tool result, verbatim.
	Result json.RawMessage `json:"result,omitempty"`
	// IsError marks a tool result that is an error.
	IsError bool `json:"is_error,omitempty"`
	// Error is the failure of a model_output step.
	Error *JobError `json:"error,omitempty"`
}

// Content is an item of a step's content: text with its annotations, or a
// reference to media.
type Content struct {
	// Type is the content type, e.g. ContentText.
	Type string `json:"type"`
	// Text is the text of a text content.
	Text string `json:"text,omitempty"`
	// Annotations are the citations of a text content.
	Annotations []Annotation `json:"annotations,omitempty"`
	// MIMEType and URI describe media content. Inline media data is left
	// in Interaction.Raw.
	MIMEType string `json:"mime_type,omitempty"`
	URI      string `json:"uri,omitempty"`
}

// Annotation is a citation on a span [StartIndex, EndIndex) of a text
// content, in bytes of the UTF-8 text.
type Annotation struct {
	// Type is the annotation type, e.g. AnnotationURLCitation.
	Type string `json:"type"`
	// StartIndex and EndIndex bound the cited span, in bytes.
	StartIndex int `json:"start_index"`
	EndIndex   int `json:"end_index"`
	// URL and Title describe the source of a url_citation (URL also of a
	// place_citation).
	URL   string `json:"url,omitempty"`
	Title string `json:"title,omitempty"`
	// FileName, DocumentURI, Source and PageNumber describe the source of
	// a file_citation.
	FileName    string `json:"file_name,omitempty"`
	DocumentURI string `json:"document_uri,omitempty"`
	Source      string `json:"source,omitempty"`
	PageNumber  int    `json:"page_number,omitempty"`
	// Name and PlaceID describe the place of a place_citation.
	Name    string `json:"name,omitempty"`
	PlaceID string `json:"place_id,omitempty"`
}

// InteractionError is an entry of Interaction.Errors.
type InteractionError struct {
	// Code names the failure, e.g. "resource_exhausted".
	Code string `json:"code,omitempty"`
	// Message is the developer-facing message.
	Message string `json:"message,omitempty"`
}

// Usage counts an interaction's tokens, in total and by kind; the API's
// per-modality breakdowns are left in Interaction.Raw.
type Usage struct {
	TotalInputTokens   int64 `json:"total_input_tokens,omitempty"`
	TotalOutputTokens  int64 `json:"total_output_tokens,omitempty"`
	TotalThoughtTokens int64 `json:"total_thought_tokens,omitempty"`
	TotalToolUseTokens int64 `json:"total_tool_use_tokens,omitempty"`
	TotalCachedTokens  int64 `json:"total_cached_tokens,omitempty"`
	TotalTokens        int64 `json:"total_tokens,omitempty"`
}

// GetInteraction fetches an interaction by id (see InteractionID).
//
// It calls the REST API rather than the SDK's Interactions.Get because the
// exact response body is stored as interaction.json, and the SDK only
// returns its own re-encodable model of it.
func (c *Client) GetInteraction(ctx context.Context, id string) (*Interaction, error) {
	id, err := c.resolve("interaction", id, InteractionID)
	if err != nil {
		return nil, scrub(err, c.apiKey)
	}
	body, err := c.getJSON(ctx, "interactions/"+id)
	if err != nil {
		return nil, scrub(fmt.Errorf("failed to get interaction %s: %w", id, err), c.apiKey)
	}
	it, err := parseInteraction(id, body)
	if err != nil {
		return nil, scrub(fmt.Errorf("failed to get interaction %s: %w", id, err), c.apiKey)
	}
	return it, nil
}

// parseInteraction decodes and checks an interaction.
func parseInteraction(id string, body []byte) (*Interaction, error) {
	it := &Interaction{}
	if err := json.Unmarshal(body, it); err != nil {
		return nil, fmt.Errorf("%w: interaction: %w", ErrUnexpectedResponse, err)
	}
	if it.ID != id {
		return nil, fmt.Errorf("%w: asked for interaction %s, got %q", ErrUnexpectedResponse, id, truncate(it.ID, 200))
	}
	if it.Status == "" {
		return nil, fmt.Errorf("%w: interaction has no status", ErrUnexpectedResponse)
	}
	it.Raw = body
	return it, nil
}

// Output returns the text contents of the interaction's final answer: the
// trailing text of the model_output steps after the last user_input, in
// order, each with its own annotations. It follows the SDK's output_text
// rule: thoughts and empty model outputs are skipped, and any other step or
// non-text content ends the answer once text has been found.
func (i *Interaction) Output() []Content {
	var rev []Content
	collecting := false
outer:
	for s := len(i.Steps) - 1; s >= 0; s-- {
		step := i.Steps[s]
		switch step.Type {
		case StepUserInput:
			break outer
		case StepThought:
			continue
		case StepModelOutput:
		default:
			if collecting {
				break outer
			}
			continue
		}
		for c := len(step.Content) - 1; c >= 0; c-- {
			item := step.Content[c]
			if item.Type != ContentText {
				if collecting {
					break outer
				}
				continue
			}
			collecting = true
			rev = append(rev, item)
		}
	}
	out := make([]Content, 0, len(rev))
	for k := len(rev) - 1; k >= 0; k-- {
		out = append(out, rev[k])
	}
	return out
}

// OutputText returns the text of the final answer (see Output),
// concatenated: what the SDK calls output_text.
func (i *Interaction) OutputText() string {
	var sb strings.Builder
	for _, c := range i.Output() {
		sb.WriteString(c.Text)
	}
	return sb.String()
}
