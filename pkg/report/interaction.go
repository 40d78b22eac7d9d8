package report

import (
	"bytes"
	"encoding/json"
	"errors"
	"math"
	"strconv"
)

// Step and content types that the renderer reads, as named by the
// Interactions API.
const (
	stepUserInput   = "user_input"
	stepModelOutput = "model_output"
	stepThought     = "thought"
	contentText     = "text"
	contentThought  = "thought"
)

// interaction is the part of an Interactions API resource that a report
// needs. Steps are kept raw and decoded on demand, so that step types this
// package does not know, whatever their shape, never make a report fail.
type interaction struct {
	ID      string            `json:"id"`
	Agent   string            `json:"agent"`
	Model   string            `json:"model"`
	Status  string            `json:"status"`
	Created string            `json:"created"`
	Updated string            `json:"updated"`
	Steps   []json.RawMessage `json:"steps"`
	// Outputs is the flat list of content items that early versions of the
	// API returned instead of steps.
	Outputs []json.RawMessage  `json:"outputs"`
	Errors  []InteractionError `json:"errors"`
}

// step is a step of any type; Content is set for model_output steps.
type step struct {
	Type    string            `json:"type"`
	Content []json.RawMessage `json:"content"`
}

// decodeStep decodes the content of model_output steps only, as other step
// types may give "content" another shape.
func decodeStep(raw json.RawMessage) (step, error) {
	var s step
	if err := json.Unmarshal(raw, &struct {
		Type *string `json:"type"`
	}{&s.Type}); err != nil {
		return step{}, err
	}
	if s.Type == stepModelOutput {
		if err := json.Unmarshal(raw, &s); err != nil {
			return step{}, err
		}
	}
	return s, nil
}

// content is a content item of any type; Text and Annotations are set for
// text items.
type content struct {
	Type        string            `json:"type"`
	Text        string            `json:"text"`
	Annotations []json.RawMessage `json:"annotations"`
}

// annotation holds the fields of every citation type: url_citation {url,
// title}, file_citation {document_uri, file_name, source}, place_citation
// {url, name, place_id}, and the untyped {source} of early API versions.
type annotation struct {
	Type        string `json:"type"`
	StartIndex  offset `json:"start_index"`
	EndIndex    offset `json:"end_index"`
	URL         string `json:"url"`
	Title       string `json:"title"`
	DocumentURI string `json:"document_uri"`
	FileName    string `json:"file_name"`
	Source      string `json:"source"`
	Name        string `json:"name"`
	PlaceID     string `json:"place_id"`
}

// target returns what the annotation cites (a URL when there is one) and a
// human-readable title, empty when the annotation has none besides the
// target itself.
func (a *annotation) target() (target, title string) {
	target = firstNonEmpty(a.URL, a.DocumentURI, a.FileName, a.Source, a.PlaceID)
	for _, t := range []string{a.Title, a.Name, a.FileName, a.Source} {
		if t != "" && t != target {
			return target, t
		}
	}
	return target, ""
}

func firstNonEmpty(values ...string) string {
	for _, v := range values {
		if v != "" {
			return v
		}
	}
	return ""
}

// offset is a byte offset as sent. Decoding never fails, because a citation
// with an odd offset must not cost the whole report: integers, integral
// floats and numeric strings (the protobuf JSON form of 64-bit integers) are
// accepted, values beyond the int range saturate, and anything else leaves
// the offset unset.
type offset struct {
	n   int
	set bool
}

// UnmarshalJSON implements json.Unmarshaler.
func (o *offset) UnmarshalJSON(b []byte) error {
	*o = offset{}
	s := string(bytes.TrimSpace(b))
	if len(s) >= 2 && s[0] == '"' {
		unquoted, err := strconv.Unquote(s)
		if err != nil {
			return nil //nolint:nilerr // a malformed offset leaves it unset, as documented above
		}
		s = unquoted
	}
	if n, err := strconv.ParseInt(s, 10, 64); err == nil || errors.Is(err, strconv.ErrRange) {
		// ParseInt saturates at the int64 limits; saturate at the int limits
		// too, so that the offset keeps its sign on 32-bit platforms.
		*o = offset{n: int(max(min(n, math.MaxInt), math.MinInt)), set: true}
		return nil
	}
	if f, err := strconv.ParseFloat(s, 64); err == nil && f == math.Trunc(f) {
		// Converting an out-of-range float is implementation-defined, so
		// clamp first (infinities included; NaN fails the test above). Any
		// offset beyond the int32 range is past any text anyway.
		*o = offset{n: int(max(min(f, math.MaxInt32), math.MinInt32)), set: true}
	}
	return nil
}

// InteractionError is an entry of the interaction's errors list.
type InteractionError struct {
	// Code is the error code; a number is kept as its literal text.
	Code string `json:"code,omitempty"`
	// Message describes the error.
	Message string `json:"message,omitempty"`
}

// UnmarshalJSON implements json.Unmarshaler. It accepts a string or numeric
// code, as Google APIs use both.
func (e *InteractionError) UnmarshalJSON(b []byte) error {
	var raw struct {
		Code    json.RawMessage `json:"code"`
		Message string          `json:"message"`
	}
	if err := json.Unmarshal(b, &raw); err != nil {
		return err
	}
	*e = InteractionError{Message: raw.Message}
	code := bytes.TrimSpace(raw.Code)
	switch {
	case len(code) == 0 || string(code) == "null":
	case code[0] == '"':
		return json.Unmarshal(code, &e.Code)
	default:
		var n json.Number
		if err := json.Unmarshal(code, &n); err != nil {
			return err
		}
		e.Code = n.String()
	}
	return nil
}

// textItem is one text content item of the final output.
type textItem struct {
	text        string
	annotations []annotation
}

// outputText returns the text items that make up the interaction's final
// output, in order. It follows the SDKs' output_text: walking the steps
// backwards from the end, thought steps are skipped and model_output text is
// collected until the last user_input step, or until any other step or a
// non-text content item once some text has been found. Interactions of early
// API versions, which have outputs instead of steps, are read as a single
// model_output step without their thoughts.
func (it *interaction) outputText() ([]textItem, error) {
	legacy := len(it.Steps) == 0 && len(it.Outputs) > 0
	numSteps := len(it.Steps)
	if legacy {
		numSteps = 1
	}
	var items []textItem // in reverse order
	collecting := false
outer:
	for i := numSteps - 1; i >= 0; i-- {
		var s step
		if legacy {
			s = step{Type: stepModelOutput, Content: it.Outputs}
		} else {
			var err error
			if s, err = decodeStep(it.Steps[i]); err != nil {
				return nil, err
			}
		}
		switch s.Type {
		case stepUserInput:
			break outer
		case stepThought:
			continue
		case stepModelOutput:
		default:
			if collecting {
				break outer
			}
			continue
		}
		for j := len(s.Content) - 1; j >= 0; j-- {
			var c content
			if err := json.Unmarshal(s.Content[j], &c); err != nil {
				return nil, err
			}
			switch {
			case c.Type == contentText:
				collecting = true
				items = append(items, textItem{text: c.Text, annotations: decodeAnnotations(c.Annotations)})
			case legacy && c.Type == contentThought:
			case collecting:
				break outer
			}
		}
	}
	for i, j := 0, len(items)-1; i < j; i, j = i+1, j-1 {
		items[i], items[j] = items[j], items[i]
	}
	return items, nil
}

// decodeAnnotations decodes what it can: an annotation that is not an
// object of the expected shape is dropped, and the text is still rendered.
func decodeAnnotations(raw []json.RawMessage) []annotation {
	out := make([]annotation, 0, len(raw))
	for _, r := range raw {
		var a annotation
		if err := json.Unmarshal(r, &a); err == nil {
			out = append(out, a)
		}
	}
	return out
}
