package report

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"
)

// Interaction statuses, as the Interactions API spells them. Only
// StatusCompleted yields a Markdown report.
const (
	StatusInProgress           = "in_progress"
	StatusRequiresAction       = "requires_action"
	StatusCompleted            = "completed"
	StatusFailed               = "failed"
	StatusCancelled            = "cancelled"
	StatusIncomplete           = "incomplete"
	StatusBudgetExceeded       = "budget_exceeded"
	StatusQueued               = "queued"
	StatusRequiresContinuation = "requires_continuation"
)

// ErrInvalidInteraction is returned by [Render] for a body that is not an
// Interactions API resource: not a JSON object, fields of the wrong type, or
// no id or status.
var ErrInvalidInteraction = errors.New("report: invalid interaction")

// Report is an interaction rendered for storage.
type Report struct {
	// ID is the interaction id.
	ID string
	// Agent is the agent that ran the interaction (e.g.
	// "deep-research-pro-preview-12-2025"); empty for model interactions.
	Agent string
	// Model is the model of a model interaction; empty for agents.
	Model string
	// Status is the interaction status as sent, e.g. "completed".
	Status string
	// Created and Updated are the interaction's timestamps; zero when absent
	// or not RFC 3339. For a finished interaction Updated is when it
	// finished.
	Created, Updated time.Time
	// Errors is the interaction's errors list, for failed interactions.
	Errors []InteractionError
	// Text is the final output text as the API sent it: the text the SDKs
	// return as output_text, including any citation markup the model wrote
	// (see [Render]). Spans index into it.
	Text string
	// Sources are the cited sources, one per URL, in number order.
	Sources []Source
	// Markdown is the report document. It is set only when Status is
	// "completed", so that unfinished or failed interactions cannot be
	// mistaken for a report; see [Report.Completed].
	Markdown []byte
}

// Source is a cited source and every span of Text that cites it.
type Source struct {
	// N is the source's number in the report. Numbers follow the order in
	// which sources are first cited in the text.
	N int `json:"n"`
	// URL is the cited source: the url of a url_citation or place_citation,
	// the document_uri (or file_name or source) of a file_citation, the
	// source of an untyped annotation, or the URL of an item of the model's
	// own Sources list. It is linked only when it is an http(s) URL.
	URL string `json:"url"`
	// Title names the source: the first title an annotation gives, else the
	// label of the model's own Sources list item with this URL (which names
	// the real site of a grounding redirect URL), else the URL's host name,
	// else the URL itself.
	Title string `json:"title"`
	// Type is the type of the first annotation citing the source:
	// "url_citation", "file_citation" or "place_citation"; empty for the
	// untyped annotations of early API versions and for sources that only
	// the model's own list names.
	Type string `json:"type,omitempty"`
	// Spans are the distinct spans of Text that annotations cite the source
	// for, in order; empty for a source that only the model's markup cites.
	Spans []Span `json:"spans"`
}

// Span is a cited span [StartIndex, EndIndex) of Text, in bytes: an
// annotation's offsets moved into Text, clamped to the text and aligned to
// UTF-8 boundaries.
type Span struct {
	StartIndex int `json:"start_index"`
	EndIndex   int `json:"end_index"`
}

// Completed reports whether the interaction completed, that is whether r
// has a Markdown report. Callers write only a manifest otherwise.
func (r *Report) Completed() bool {
	return r.Status == StatusCompleted
}

// CitationsJSON returns Sources as an indented JSON array (never null),
// for storage next to the report as citations.json.
func (r *Report) CitationsJSON() ([]byte, error) {
	citations := r.Sources
	if citations == nil {
		citations = []Source{}
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false) // keeps "&" in URLs readable
	enc.SetIndent("", "  ")
	if err := enc.Encode(citations); err != nil {
		return nil, fmt.Errorf("report: failed to encode citations: %w", err)
	}
	return buf.Bytes(), nil
}

// Render parses raw, the body of GET /v1beta/interactions/{id}, and renders
// it. Any well-formed interaction yields a Report whatever its status;
// Markdown is set only for completed interactions (see [Report.Completed]),
// and an interaction without text output gets a report that says so. Render
// returns an error wrapping [ErrInvalidInteraction] when raw is not an
// interaction.
//
// Deep Research also writes citation markup into its text: "[cite: N]"
// markers whose numbers refer to a numbered Sources list at the end. The
// report replaces that list with its own, which numbers each source once,
// whether annotations or the list name it, and lists it under the best
// title known. A marker becomes links to the sources its numbers name in
// the model's list; an annotation whose link would stand next to a model
// marker citing the same source gets none, so nothing is cited twice. A
// number that names no list item (every number, when there is no list) is
// dropped, with the blanks before it: it points nowhere, and annotations on
// the span still place their own links, so no citation is lost. Text keeps
// the markup, so that spans remain the API's offsets.
func Render(raw []byte) (*Report, error) {
	var it interaction
	if err := json.Unmarshal(raw, &it); err != nil {
		return nil, fmt.Errorf("%w: failed to decode JSON: %w", ErrInvalidInteraction, err)
	}
	if it.ID == "" || it.Status == "" {
		return nil, fmt.Errorf("%w: id and status are required", ErrInvalidInteraction)
	}
	items, err := it.outputText()
	if err != nil {
		return nil, fmt.Errorf("%w: failed to decode output: %w", ErrInvalidInteraction, err)
	}
	r := &Report{
		ID:      it.ID,
		Agent:   it.Agent,
		Model:   it.Model,
		Status:  it.Status,
		Created: parseTime(it.Created),
		Updated: parseTime(it.Updated),
		Errors:  it.Errors,
	}
	var text strings.Builder
	var cites []cite
	for _, item := range items {
		cites = append(cites, place(item, text.Len())...)
		text.WriteString(item.text)
	}
	r.Text = text.String()
	var edits []edit
	r.Sources, edits = layout(r.Text, cites)
	if r.Completed() {
		r.Markdown = markdown(r, edits)
	}
	return r, nil
}

// parseTime parses an Interactions API timestamp; the zero time means
// absent or unreadable, as timestamps are informational.
func parseTime(s string) time.Time {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return time.Time{}
	}
	return t.UTC()
}

// cite is a citation annotation placed in the report text.
type cite struct {
	target, title, typ string
	span               Span
}

// place turns the annotations of a text item that starts at byte base of
// the report text into cites with offsets in the report text. Offsets are
// byte offsets into the item. A span that ends past the item is cut at its
// end, a missing or negative start means the item's start, and the span is
// widened to whole UTF-8 sequences. Annotations without a target, without a
// usable end_index, or whose start lies after their end are skipped.
func place(item textItem, base int) []cite {
	text := item.text
	var out []cite
	for _, a := range item.annotations {
		target, title := a.target()
		if target == "" || !a.EndIndex.set || a.EndIndex.n < 0 {
			continue
		}
		end := min(a.EndIndex.n, len(text))
		start := 0
		if a.StartIndex.set {
			start = max(a.StartIndex.n, 0)
		}
		if start > end {
			continue
		}
		for end < len(text) && !utf8.RuneStart(text[end]) {
			end++
		}
		for start > 0 && start < len(text) && !utf8.RuneStart(text[start]) {
			start--
		}
		out = append(out, cite{target: target, title: title, typ: a.Type, span: Span{base + start, base + end}})
	}
	return out
}
