package report

import (
	"bytes"
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
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
	// Text is the final output text without citation markers: the text the
	// SDKs return as output_text.
	Text string
	// Citations are the usable citation annotations of Text, sorted by
	// number and then by position.
	Citations []Citation
	// Markdown is the report document. It is set only when Status is
	// "completed", so that unfinished or failed interactions cannot be
	// mistaken for a report; see [Report.Completed].
	Markdown []byte
}

// Citation is a citation annotation placed in the report.
type Citation struct {
	// N is the citation's number in the report. Annotations that cite the
	// same source share a number; numbers follow the order in which sources
	// first appear in the text.
	N int `json:"n"`
	// URL is the cited source: the url of a url_citation or place_citation,
	// the document_uri (or file_name or source) of a file_citation, or the
	// source of an untyped annotation. It is linked only when it is an
	// http(s) URL.
	URL string `json:"url"`
	// Title is the source's title as sent, if any.
	Title string `json:"title,omitempty"`
	// StartIndex and EndIndex bound the cited span of Text, in bytes. They
	// are the annotation's offsets moved into Text, clamped to the text and
	// aligned to UTF-8 boundaries.
	StartIndex int `json:"start_index"`
	EndIndex   int `json:"end_index"`
	// Type is the annotation type as sent: "url_citation",
	// "file_citation" or "place_citation"; empty for the untyped annotations
	// of early API versions.
	Type string `json:"type,omitempty"`
}

// Completed reports whether the interaction completed, that is whether r
// has a Markdown report. Callers write only a manifest otherwise.
func (r *Report) Completed() bool {
	return r.Status == StatusCompleted
}

// CitationsJSON returns Citations as an indented JSON array (never null),
// for storage next to the report.
func (r *Report) CitationsJSON() ([]byte, error) {
	citations := r.Citations
	if citations == nil {
		citations = []Citation{}
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
	var citations []Citation
	for _, item := range items {
		citations = append(citations, place(item, text.Len())...)
		text.WriteString(item.text)
	}
	r.Text = text.String()
	r.Citations = number(citations)
	if r.Completed() {
		r.Markdown = markdown(r)
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

// place turns the annotations of a text item that starts at byte base of
// the report text into citations with offsets in the report text. Offsets
// are byte offsets into the item. A span that ends past the item is cut at
// its end, a missing or negative start means the item's start, and the span
// is widened to whole UTF-8 sequences. Annotations without a target, without
// a usable end_index, or whose start lies after their end are skipped.
func place(item textItem, base int) []Citation {
	text := item.text
	var out []Citation
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
		out = append(out, Citation{
			URL: target, Title: title, StartIndex: base + start, EndIndex: base + end, Type: a.Type,
		})
	}
	return out
}

// number assigns numbers by distinct URL in reading order, that is by the
// position of each citation's marker (its end, then its start), and returns
// the citations sorted by number and then by position.
func number(citations []Citation) []Citation {
	byPosition := func(a, b Citation) int {
		return cmp.Or(cmp.Compare(a.EndIndex, b.EndIndex), cmp.Compare(a.StartIndex, b.StartIndex))
	}
	slices.SortStableFunc(citations, byPosition)
	numbers := make(map[string]int)
	for i := range citations {
		n, ok := numbers[citations[i].URL]
		if !ok {
			n = len(numbers) + 1
			numbers[citations[i].URL] = n
		}
		citations[i].N = n
	}
	slices.SortStableFunc(citations, func(a, b Citation) int {
		return cmp.Or(cmp.Compare(a.N, b.N), byPosition(a, b))
	})
	return citations
}
