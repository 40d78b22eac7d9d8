package gemini

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Batch states, as canonicalized in Batch.State: the API's BATCH_STATE_*
// and the guide's JOB_STATE_* spellings without their prefix.
const (
	BatchPending            = "PENDING"
	BatchRunning            = "RUNNING"
	BatchSucceeded          = "SUCCEEDED"
	BatchFailed             = "FAILED"
	BatchCancelled          = "CANCELLED"
	BatchExpired            = "EXPIRED"
	BatchQueued             = "QUEUED"
	BatchCancelling         = "CANCELLING"
	BatchPaused             = "PAUSED"
	BatchUpdating           = "UPDATING"
	BatchPartiallySucceeded = "PARTIALLY_SUCCEEDED"
	BatchUnspecified        = "UNSPECIFIED"
)

// terminalBatchStates are the states after which a batch never changes.
var terminalBatchStates = map[string]bool{
	BatchSucceeded: true, BatchFailed: true, BatchCancelled: true, BatchExpired: true, BatchPartiallySucceeded: true,
}

// Batch is a batch job as the API reports it.
type Batch struct {
	// Name is the resource name, "batches/<id>".
	Name string
	// State is the canonical state, e.g. BatchSucceeded. A state this
	// package does not know is kept, without its prefix.
	State string
	// Done reports whether the job has ended: the operation says so, or the
	// state is terminal.
	Done bool
	// ResponsesFile names the JSONL results file ("files/<id>") of a batch
	// whose results were written to a file.
	ResponsesFile string
	// Inlined holds the results of a batch with inlined responses, one
	// JSONL line each (compact JSON, without the newline), in the results
	// file's format: {"key":…,"response":{…}} or {"key":…,"error":{…}}.
	// The key is the response's metadata.key, or else its 0-based index as
	// a string.
	Inlined []json.RawMessage
	// Stats counts the requests (batchStats).
	Stats BatchStats
	// Error is the job's error: set when it failed, and by the
	// long-running operation convention also when it was cancelled or
	// expired.
	Error *JobError
	// CreateTime, UpdateTime and EndTime are zero when the API does not
	// report them.
	CreateTime, UpdateTime, EndTime time.Time
}

// BatchStats counts a batch's requests. The batch guide recommends checking
// Failed: a succeeded batch can contain failed requests.
type BatchStats struct {
	Requests, Succeeded, Failed, Pending int64
}

// JobError is a google.rpc.Status: the failure of a job, or of a step of
// an interaction.
type JobError struct {
	// Code is the google.rpc.Code, e.g. 13 for INTERNAL.
	Code int `json:"code,omitempty"`
	// Message is the developer-facing message.
	Message string `json:"message,omitempty"`
	// Details are the google.rpc details, verbatim.
	Details []json.RawMessage `json:"details,omitempty"`
}

// Wire shapes of GET /v1beta/batches/{id}: a google.longrunning.Operation.
// The batch itself is in metadata; once done, response (or metadata.output)
// holds the output and error the failure.
type (
	batchOperation struct {
		Name     string         `json:"name"`
		Done     bool           `json:"done"`
		Metadata *batchMetadata `json:"metadata"`
		Response *batchOutput   `json:"response"`
		Error    *JobError      `json:"error"`
	}
	batchMetadata struct {
		Name       string       `json:"name"`
		State      string       `json:"state"`
		CreateTime string       `json:"createTime"`
		UpdateTime string       `json:"updateTime"`
		EndTime    string       `json:"endTime"`
		Output     *batchOutput `json:"output"`
		BatchStats struct {
			RequestCount           int64String `json:"requestCount"`
			SuccessfulRequestCount int64String `json:"successfulRequestCount"`
			FailedRequestCount     int64String `json:"failedRequestCount"`
			PendingRequestCount    int64String `json:"pendingRequestCount"`
		} `json:"batchStats"`
	}
	// An embedding batch's output has the same form. Undocumented: the key
	// of its inline results on the wire. The API reference's
	// EmbedContentBatchOutput puts them under inlinedResponses, like a
	// GenerateContentBatchOutput; the SDK's batch converters read them from
	// inlinedEmbedContentResponses. Either is accepted.
	batchOutput struct {
		ResponsesFile                string          `json:"responsesFile"`
		InlinedResponses             json.RawMessage `json:"inlinedResponses"`
		InlinedEmbedContentResponses json.RawMessage `json:"inlinedEmbedContentResponses"`
	}
)

// int64String is a proto3 JSON int64: a decimal string, or a number.
type int64String int64

// UnmarshalJSON accepts "123" and 123.
func (n *int64String) UnmarshalJSON(b []byte) error {
	s := strings.Trim(string(b), `"`)
	if s == "null" {
		return nil
	}
	v, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return fmt.Errorf("invalid int64 %s: %w", b, err)
	}
	*n = int64String(v)
	return nil
}

// GetBatch fetches a batch, named by a resource name or a bare id (see
// BatchName).
//
// It calls the REST API rather than the SDK's Batches.Get, which drops what
// the materializer needs: the operation's done flag and error, batchStats,
// and the inlined responses' exact JSON (it re-encodes them through its own
// types).
func (c *Client) GetBatch(ctx context.Context, id string) (*Batch, error) {
	name, err := c.resolve("batch", id, BatchName)
	if err != nil {
		return nil, scrub(err, c.apiKey)
	}
	body, err := c.getJSON(ctx, name)
	if err != nil {
		return nil, scrub(fmt.Errorf("failed to get %s: %w", name, err), c.apiKey)
	}
	b, err := parseBatch(name, body)
	if err != nil {
		return nil, scrub(fmt.Errorf("failed to get %s: %w", name, err), c.apiKey)
	}
	return b, nil
}

// parseBatch decodes and checks a batch operation.
func parseBatch(name string, body []byte) (*Batch, error) {
	var op batchOperation
	if err := json.Unmarshal(body, &op); err != nil {
		return nil, fmt.Errorf("%w: batch is not valid JSON: %w", ErrUnexpectedResponse, err)
	}
	if op.Name != name {
		return nil, fmt.Errorf("%w: asked for %s, got %q", ErrUnexpectedResponse, name, truncate(op.Name, 200))
	}
	b, err := op.batch()
	if err != nil {
		return nil, err
	}
	// The SDK reads the output from metadata.output, the batch guide from
	// response; either may be present.
	out := op.Metadata.Output
	if out == nil {
		out = op.Response
	}
	if out == nil {
		if b.State == BatchSucceeded {
			return nil, fmt.Errorf("%w: succeeded batch has no output", ErrUnexpectedResponse)
		}
		return b, nil
	}
	if out.ResponsesFile != "" {
		if b.ResponsesFile, err = FileName(out.ResponsesFile); err != nil {
			return nil, fmt.Errorf("%w: batch output: %w", ErrUnexpectedResponse, err)
		}
	}
	inlined := nonNull(out.InlinedResponses)
	if embed := nonNull(out.InlinedEmbedContentResponses); embed != nil {
		if inlined != nil {
			return nil, fmt.Errorf("%w: batch output has both inlinedResponses and inlinedEmbedContentResponses", ErrUnexpectedResponse)
		}
		inlined = embed
	}
	var failed int64
	if b.Inlined, failed, err = inlinedLines(inlined); err != nil {
		return nil, err
	}
	if b.Stats == (BatchStats{}) && len(b.Inlined) > 0 {
		// No batchStats: count the inlined results themselves.
		n := int64(len(b.Inlined))
		b.Stats = BatchStats{Requests: n, Succeeded: n - failed, Failed: failed}
	}
	return b, nil
}

// batch returns what the operation says of its batch besides the output:
// its name, state, error, request counts and times.
func (op *batchOperation) batch() (*Batch, error) {
	md := op.Metadata
	if md == nil || md.State == "" {
		return nil, fmt.Errorf("%w: batch has no metadata.state", ErrUnexpectedResponse)
	}
	b := &Batch{
		Name:  op.Name,
		State: canonicalState(md.State),
		Error: op.Error,
		Stats: BatchStats{
			Requests:  int64(md.BatchStats.RequestCount),
			Succeeded: int64(md.BatchStats.SuccessfulRequestCount),
			Failed:    int64(md.BatchStats.FailedRequestCount),
			Pending:   int64(md.BatchStats.PendingRequestCount),
		},
	}
	b.Done = op.Done || terminalBatchStates[b.State]
	for _, t := range []struct {
		dst *time.Time
		raw string
	}{{&b.CreateTime, md.CreateTime}, {&b.UpdateTime, md.UpdateTime}, {&b.EndTime, md.EndTime}} {
		var err error
		if *t.dst, err = parseTime(t.raw); err != nil {
			return nil, err
		}
	}
	return b, nil
}

// canonicalState strips the BATCH_STATE_ or JOB_STATE_ prefix.
func canonicalState(s string) string {
	for _, prefix := range []string{"BATCH_STATE_", "JOB_STATE_"} {
		if rest, ok := strings.CutPrefix(s, prefix); ok {
			return rest
		}
	}
	return s
}

// parseTime parses a protobuf JSON timestamp; empty is the zero time.
func parseTime(s string) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return time.Time{}, fmt.Errorf("%w: invalid timestamp %q", ErrUnexpectedResponse, truncate(s, 64))
	}
	return t, nil
}

// inlinedLines converts inlined responses into results-file lines, and
// counts those that are errors. raw is either the wrapper
// ({"inlinedResponses":[…]}, what the API sends) or the array itself; the
// items are generation or embedding results alike ({response|error,
// metadata}).
func inlinedLines(raw json.RawMessage) (lines []json.RawMessage, failed int64, err error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || bytes.Equal(raw, []byte("null")) {
		return nil, 0, nil
	}
	if raw[0] == '{' {
		var wrapper struct {
			InlinedResponses json.RawMessage `json:"inlinedResponses"`
		}
		if err := json.Unmarshal(raw, &wrapper); err != nil {
			return nil, 0, fmt.Errorf("%w: inlinedResponses: %w", ErrUnexpectedResponse, err)
		}
		return inlinedLines(wrapper.InlinedResponses)
	}
	var items []struct {
		Response json.RawMessage            `json:"response"`
		Error    json.RawMessage            `json:"error"`
		Metadata map[string]json.RawMessage `json:"metadata"`
	}
	if err := json.Unmarshal(raw, &items); err != nil {
		return nil, 0, fmt.Errorf("%w: inlinedResponses: %w", ErrUnexpectedResponse, err)
	}
	lines = make([]json.RawMessage, 0, len(items))
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	// The bytes are the API's: keep "<", ">" and "&" as they came.
	enc.SetEscapeHTML(false)
	for i, it := range items {
		resp, errObj := nonNull(it.Response), nonNull(it.Error)
		switch {
		case resp == nil && errObj == nil:
			return nil, 0, fmt.Errorf("%w: inlined response %d has neither a response nor an error", ErrUnexpectedResponse, i)
		case resp != nil && errObj != nil:
			return nil, 0, fmt.Errorf("%w: inlined response %d has both a response and an error", ErrUnexpectedResponse, i)
		}
		key := nonNull(it.Metadata["key"])
		if key == nil {
			key = json.RawMessage(strconv.Quote(strconv.Itoa(i)))
		}
		// Encoding compacts the raw values, so a pretty-printed response
		// still fits on one line.
		buf.Reset()
		if err := enc.Encode(struct {
			Key      json.RawMessage `json:"key"`
			Response json.RawMessage `json:"response,omitempty"`
			Error    json.RawMessage `json:"error,omitempty"`
		}{key, resp, errObj}); err != nil {
			return nil, 0, fmt.Errorf("%w: inlined response %d: %w", ErrUnexpectedResponse, i, err)
		}
		lines = append(lines, bytes.Clone(bytes.TrimSuffix(buf.Bytes(), []byte("\n"))))
		if errObj != nil {
			failed++
		}
	}
	return lines, failed, nil
}

// nonNull returns nil for an absent or null JSON value.
func nonNull(v json.RawMessage) json.RawMessage {
	if len(v) == 0 || bytes.Equal(bytes.TrimSpace(v), []byte("null")) {
		return nil
	}
	return v
}
