package geminisim

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"hash/fnv"
	"io"
	"net/http"
	"strings"
)

// This file is POST /v1beta/models/{model}:batchGenerateContent, the
// creation of a batch as the Go SDK's Batches.Create sends it:
//
//	{"batch":{"displayName":"…",
//	  "inputConfig":{"fileName":"files/abc"} | {"requests":{"requests":[{"request":{…},"metadata":{…}}]}},
//	  "webhookConfig":{"uris":["https://…"],"userMetadata":{…}}}}
//
// The answer is the batch's Operation, PENDING, as GET returns it. The
// batch then answers each request with a generated response that carries
// the request's key (file input) or metadata (inline input).

// batchRequest is one request of a batch created over REST.
type batchRequest struct {
	key      string          // the input line's key (file input)
	metadata map[string]any  // the request's metadata (inline input)
	request  json.RawMessage // the GenerateContentRequest
}

// Fields of the Batch resource (GenerateContentBatch) in a create request;
// the output-only ones are accepted and ignored, as Google APIs do.
var batchFields = []string{
	"name", "model", "displayName", "inputConfig", "output", "createTime", "endTime", "updateTime",
	"batchStats", "state", "priority", "webhookConfig",
}

// createBatch serves POST /v1beta/models/{model}:batchGenerateContent.
func (s *Server) createBatch(w http.ResponseWriter, r *http.Request) {
	model, _, _ := strings.Cut(r.PathValue("model"), ":")
	if !supports(model, MethodBatchGenerateContent) {
		writeAPIError(w, http.StatusNotFound, msgModelNotFound(model, MethodBatchGenerateContent))
		return
	}
	raw, msg := readBody(r)
	if msg != "" {
		writeAPIError(w, http.StatusBadRequest, msg)
		return
	}
	b, file, msg := decodeBatch(raw)
	if msg != "" {
		writeAPIError(w, http.StatusBadRequest, msg)
		return
	}
	b.id, b.model, b.state = newID(), model, BatchPending
	if b.displayName == "" {
		// Undocumented: whether the API refuses a batch without a display
		// name, which its reference marks required and the Go SDK does not
		// send unless asked; the simulator names it.
		b.displayName = "geminisim-" + b.id
	}
	if file != "" {
		f, ok := s.file(strings.TrimPrefix(file, "files/"))
		if !ok || !strings.HasPrefix(file, "files/") {
			// How the API answers a reference to a file it does not have.
			writeAPIError(w, http.StatusForbidden, fmt.Sprintf("You do not have permission to access the File %s or it may not exist.",
				strings.TrimPrefix(file, "files/")))
			return
		}
		// A malformed input file is found when the batch runs, not at
		// creation: the batch then fails (Undocumented: how the API reports
		// it; the simulator fails the batch with INVALID_ARGUMENT).
		b.requests, b.inputErr = parseInputFile(f.content)
	}
	b.lines = int64(len(b.requests))
	if err := s.addBatch(b); err != nil {
		writeAPIError(w, http.StatusInternalServerError, msgInternal)
		return
	}
	name := "batches/" + b.id
	s.completeLater(func() error {
		if b.inputErr != nil {
			_, err := s.FailBatch(name, *b.inputErr)
			return err
		}
		_, err := s.CompleteBatch(name)
		return err
	})
	s.mu.Lock()
	op := s.renderBatch(b)
	s.mu.Unlock()
	writeJSON(w, http.StatusOK, op)
}

// decodeBatch reads a create request: the batch (with its inline requests
// and webhook config) and the name of its input file, if any.
func decodeBatch(raw []byte) (*batch, string, string) {
	if len(bytes.TrimSpace(raw)) == 0 {
		return nil, "", "batch is required."
	}
	top, msg := protoObject(raw, "", "batch")
	if msg != "" {
		return nil, "", msg
	}
	if top["batch"] == nil || isJSONNull(top["batch"]) {
		return nil, "", "batch is required."
	}
	fields, msg := protoObject(top["batch"], "batch", batchFields...)
	if msg != "" {
		return nil, "", msg
	}
	b := &batch{}
	if msg := decodeField(fields, "displayName", "batch", &b.displayName); msg != "" {
		return nil, "", msg
	}
	if b.hooks, msg = decodeWebhookConfig(fields["webhookConfig"], "batch.webhookConfig"); msg != "" {
		return nil, "", msg
	}
	if fields["inputConfig"] == nil || isJSONNull(fields["inputConfig"]) {
		return nil, "", "batch.input_config is required."
	}
	in, msg := protoObject(fields["inputConfig"], "batch.inputConfig", "fileName", "requests")
	if msg != "" {
		return nil, "", msg
	}
	var file string
	if msg := decodeField(in, "fileName", "batch.inputConfig", &file); msg != "" {
		return nil, "", msg
	}
	inline := in["requests"] != nil && !isJSONNull(in["requests"])
	switch {
	case file != "" && inline:
		return nil, "", "batch.input_config must set exactly one of file_name and requests."
	case file == "" && !inline:
		return nil, "", "batch.input_config must set one of file_name and requests."
	case inline:
		if b.requests, msg = decodeInlineRequests(in["requests"]); msg != "" {
			return nil, "", msg
		}
		b.inline = true
	}
	return b, file, ""
}

// decodeInlineRequests reads inputConfig.requests: {"requests":[{"request":
// {…},"metadata":{…}}]}.
func decodeInlineRequests(raw json.RawMessage) ([]batchRequest, string) {
	const where = "batch.inputConfig.requests"
	wrap, msg := protoObject(raw, where, "requests")
	if msg != "" {
		return nil, msg
	}
	var items []json.RawMessage
	if msg := decodeField(wrap, "requests", where, &items); msg != "" {
		return nil, msg
	}
	if len(items) == 0 {
		return nil, where + ".requests must hold at least one request."
	}
	out := make([]batchRequest, 0, len(items))
	for i, item := range items {
		at := fmt.Sprintf("%s.requests[%d]", where, i)
		fields, msg := protoObject(item, at, "request", "metadata")
		if msg != "" {
			return nil, msg
		}
		var req batchRequest
		if msg := decodeField(fields, "metadata", at, &req.metadata); msg != "" {
			return nil, msg
		}
		if msg := checkRequest(fields["request"], at+".request"); msg != "" {
			return nil, msg
		}
		req.request = fields["request"]
		out = append(out, req)
	}
	return out, ""
}

// checkRequest checks that raw is a GenerateContentRequest with contents;
// its fields are not checked further.
func checkRequest(raw json.RawMessage, where string) string {
	var req struct {
		Contents []json.RawMessage `json:"contents"`
	}
	if raw == nil || isJSONNull(raw) {
		return where + " is required."
	}
	if err := json.Unmarshal(raw, &req); err != nil {
		return fmt.Sprintf("Invalid JSON payload received. Invalid value at '%s'.", where)
	}
	if len(req.Contents) == 0 {
		return where + ".contents is required."
	}
	return ""
}

// parseInputFile reads a batch input file: JSON Lines of {"key":…,
// "request":{…}}. A malformed file yields the error the batch fails with.
func parseInputFile(c Content) ([]batchRequest, *JobError) {
	var out []batchRequest
	sc := bufio.NewScanner(c.NewReader())
	sc.Buffer(nil, maxRequestBody)
	for n := 1; sc.Scan(); n++ {
		line := bytes.TrimSpace(sc.Bytes())
		if len(line) == 0 {
			continue
		}
		var l struct {
			Key     string          `json:"key"`
			Request json.RawMessage `json:"request"`
		}
		if err := json.Unmarshal(line, &l); err != nil {
			return nil, invalidInput("line %d is not a JSON object", n)
		}
		if msg := checkRequest(l.Request, "request"); msg != "" {
			return nil, invalidInput("line %d: %s", n, msg)
		}
		out = append(out, batchRequest{key: l.Key, request: append(json.RawMessage(nil), l.Request...)})
	}
	if err := sc.Err(); err != nil {
		return nil, invalidInput("the input file cannot be read: %v", err)
	}
	if len(out) == 0 {
		return nil, invalidInput("the input file holds no request")
	}
	return out, nil
}

// invalidInput is the failure of a batch whose input file is malformed.
func invalidInput(format string, args ...any) *JobError {
	return &JobError{Code: 3, Message: "Invalid batch input file: " + fmt.Sprintf(format, args...) + "."}
}

// requestsOutput builds the results of a REST batch: one generated
// response per request, as a JSONL file ({"key":…,"response":{…}}) or as
// inlinedResponses ({"response":{…},"metadata":{…}}).
func requestsOutput(b *batch) (Content, json.RawMessage, error) {
	type line struct {
		Key      string          `json:"key,omitempty"`
		Response json.RawMessage `json:"response"`
	}
	type inlined struct {
		Response json.RawMessage `json:"response"`
		Metadata map[string]any  `json:"metadata,omitempty"`
	}
	var file bytes.Buffer
	items := make([]inlined, 0, len(b.requests))
	for i, req := range b.requests {
		resp := answer(b.model, req, i)
		if b.inline {
			items = append(items, inlined{Response: resp, Metadata: req.metadata})
			continue
		}
		l, err := json.Marshal(line{Key: req.key, Response: resp})
		if err != nil {
			return nil, nil, fmt.Errorf("failed to encode results line: %w", err)
		}
		file.Write(l)
		file.WriteByte('\n')
	}
	if !b.inline {
		return StaticFile{Data: file.Bytes(), MediaType: ResultsFile{}.ContentType()}, nil, nil
	}
	raw, err := json.Marshal(items)
	if err != nil {
		return nil, nil, fmt.Errorf("failed to encode inlined responses: %w", err)
	}
	return nil, raw, nil
}

// answer returns the generated GenerateContentResponse to request i of a
// batch: one candidate whose text names the request (by its key, or the
// key of its metadata), token counts of
// roughly four bytes per token, and a response id derived from the
// request.
func answer(model string, req batchRequest, i int) json.RawMessage {
	label := req.key
	if k, ok := req.metadata["key"].(string); ok && label == "" {
		label = k
	}
	if label == "" {
		label = fmt.Sprintf("request %d", i+1)
	}
	text := "Simulated answer to " + label + "."
	h := fnv.New64a()
	h.Write(req.request)
	_, _ = io.WriteString(h, label)
	prompt, out := len(req.request)/4+1, len(text)/4+1
	type part struct {
		Text string `json:"text"`
	}
	resp := map[string]any{
		"candidates": []any{map[string]any{
			"content":      map[string]any{"parts": []part{{text}}, "role": "model"},
			"finishReason": "STOP",
			"index":        0,
		}},
		"usageMetadata": map[string]int{"promptTokenCount": prompt, "candidatesTokenCount": out, "totalTokenCount": prompt + out},
		"modelVersion":  model,
		"responseId":    string(appendResponseID(nil, h.Sum64())),
	}
	raw, _ := json.Marshal(resp) // plain maps of strings and numbers
	return raw
}
