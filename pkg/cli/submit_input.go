package cli

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"

	"google.golang.org/genai"
)

// Size limits of batch input, from the Batch API guide
// (https://ai.google.dev/gemini-api/docs/batch-api): inline requests suit
// batches "under 20MB" in all; a file goes through the Files API, which
// takes files of up to 2 GB.
const (
	maxInlineBatchBytes = 20_000_000
	maxBatchFileBytes   = 2_000_000_000
)

// batchLineFields are the fields of one input line: the user's key, which
// names the line's result, and the GenerateContentRequest.
var batchLineFields = []string{"key", "request"}

// batchInput is a batch input file that passed validation.
type batchInput struct {
	path     string
	size     int64
	requests int
	// inline holds the requests as the SDK sends them inline; nil unless
	// they are to be sent inline.
	inline []*genai.InlinedRequest
}

// inlineRequest is a GenerateContentRequest in its REST form, as far as
// the SDK can send it inline: contents, plus what the SDK carries in
// GenerateContentConfig and moves back to the request.
type inlineRequest struct {
	Contents          []*genai.Content             `json:"contents"`
	SystemInstruction *genai.Content               `json:"systemInstruction"`
	Tools             []*genai.Tool                `json:"tools"`
	ToolConfig        *genai.ToolConfig            `json:"toolConfig"`
	SafetySettings    []*genai.SafetySetting       `json:"safetySettings"`
	CachedContent     string                       `json:"cachedContent"`
	GenerationConfig  *genai.GenerateContentConfig `json:"generationConfig"`
}

// readBatchInput validates the JSONL batch input at path line by line, as
// the Batch API documents it: one {"key": …, "request": {…}} object per
// line, every key a unique non-empty string, every request an object with
// contents. The first problem is reported with its line number. With inline,
// the requests are also converted for sending inline.
func readBatchInput(path string, inline bool) (*batchInput, error) {
	f, err := os.Open(path)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, usageErrorf("--input %s does not exist", path)
		}
		return nil, fmt.Errorf("failed to open --input %s: %w", path, err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("failed to read --input %s: %w", path, err)
	}
	switch {
	case fi.IsDir():
		return nil, usageErrorf("--input %s is a directory, not a JSONL file", path)
	case inline && fi.Size() > maxInlineBatchBytes:
		return nil, usageErrorf("--input %s is %d bytes; the Batch API takes at most %d (20 MB) inline: drop --inline to upload it through the Files API",
			path, fi.Size(), maxInlineBatchBytes)
	case fi.Size() > maxBatchFileBytes:
		return nil, usageErrorf("--input %s is %d bytes; the Files API takes at most %d (2 GB) a file: split it into several batches",
			path, fi.Size(), maxBatchFileBytes)
	}

	in := &batchInput{path: path, size: fi.Size()}
	keys := map[string]int{} // key → line
	r := bufio.NewReader(f)
	for n := 1; ; n++ {
		line, err := r.ReadBytes('\n')
		if err != nil && !errors.Is(err, io.EOF) {
			return nil, fmt.Errorf("failed to read --input %s: %w", path, err)
		}
		if len(line) == 0 && errors.Is(err, io.EOF) {
			break // the file ends with a newline, or is empty
		}
		req, perr := parseBatchLine(line, keys, n, inline)
		if perr != nil {
			return nil, usageErrorf("%s line %d: %v; nothing was created", path, n, perr)
		}
		in.requests++
		if inline {
			in.inline = append(in.inline, req)
		}
		if errors.Is(err, io.EOF) {
			break
		}
	}
	if in.requests == 0 {
		return nil, usageErrorf("--input %s holds no requests: want one {\"key\": …, \"request\": {…}} object a line", path)
	}
	return in, nil
}

// parseBatchLine checks line n of a batch input and, when it is valid,
// records its key; with inline it returns the request as the SDK sends it
// inline.
func parseBatchLine(line []byte, keys map[string]int, n int, inline bool) (*genai.InlinedRequest, error) {
	if len(bytes.TrimSpace(line)) == 0 {
		return nil, errors.New(`empty line: every line must hold one {"key": …, "request": {…}} object`)
	}
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(line, &fields); err != nil {
		return nil, fmt.Errorf("not a JSON object: %s", jsonProblem(err))
	}
	for name := range fields {
		if !slices.Contains(batchLineFields, name) {
			return nil, fmt.Errorf(`unknown field %q: a line holds only "key" and "request"`, name)
		}
	}
	var key string
	if raw, ok := fields["key"]; !ok {
		return nil, errors.New(`"key" is missing: each request needs a key, which names its result`)
	} else if err := json.Unmarshal(raw, &key); err != nil || strings.TrimSpace(key) == "" {
		return nil, errors.New(`"key" must be a non-empty string`)
	}
	if first, dup := keys[key]; dup {
		return nil, fmt.Errorf("key %q is also on line %d: keys name the results, so each must be unique", key, first)
	}

	raw, ok := fields["request"]
	if !ok {
		return nil, errors.New(`"request" is missing`)
	}
	var req map[string]json.RawMessage
	if err := json.Unmarshal(raw, &req); err != nil || req == nil {
		return nil, errors.New(`"request" must be a GenerateContentRequest object`)
	}
	var contents []json.RawMessage
	if err := json.Unmarshal(req["contents"], &contents); err != nil || len(contents) == 0 {
		return nil, errors.New(`"request" needs "contents", a non-empty array`)
	}
	if !inline {
		keys[key] = n
		return nil, nil
	}

	var ir inlineRequest
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&ir); err != nil {
		return nil, fmt.Errorf("the request cannot be sent inline (%s): the SDK sends contents, systemInstruction, tools, "+
			"toolConfig, safetySettings, cachedContent and generationConfig inline; drop --inline to upload the file as it is", jsonProblem(err))
	}
	cfg := ir.GenerationConfig
	if cfg == nil && (ir.SystemInstruction != nil || ir.Tools != nil || ir.ToolConfig != nil || ir.SafetySettings != nil || ir.CachedContent != "") {
		cfg = &genai.GenerateContentConfig{}
	}
	if cfg != nil {
		cfg.SystemInstruction, cfg.Tools, cfg.ToolConfig = ir.SystemInstruction, ir.Tools, ir.ToolConfig
		cfg.SafetySettings, cfg.CachedContent = ir.SafetySettings, ir.CachedContent
	}
	keys[key] = n
	return &genai.InlinedRequest{Contents: ir.Contents, Config: cfg, Metadata: map[string]string{"key": key}}, nil
}

// jsonProblem shortens a decoding error to what a person fixing the line
// needs.
func jsonProblem(err error) string {
	var syn *json.SyntaxError
	if errors.As(err, &syn) {
		return fmt.Sprintf("%v (at byte %d)", err, syn.Offset)
	}
	return strings.TrimPrefix(err.Error(), "json: ")
}
