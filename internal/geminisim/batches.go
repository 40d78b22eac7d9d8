package geminisim

import (
	"bufio"
	"bytes"
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/geminihooks/geminihooks/pkg/event"
)

// Sentinel errors of the job methods, for errors.Is.
var (
	// ErrNotFound: no job or file has the given name.
	ErrNotFound = errors.New("geminisim: not found")
	// ErrWrongState: the job cannot make the requested transition (it has
	// already ended, for example).
	ErrWrongState = errors.New("geminisim: job is in the wrong state")
)

// BatchState is the state of a batch job.
type BatchState int

// Batch states. The zero value is not a state.
const (
	BatchPending BatchState = iota + 1
	BatchRunning
	BatchSucceeded
	BatchFailed
	BatchCancelled
	BatchExpired
)

var batchStateNames = map[BatchState]string{
	BatchPending: "PENDING", BatchRunning: "RUNNING", BatchSucceeded: "SUCCEEDED",
	BatchFailed: "FAILED", BatchCancelled: "CANCELLED", BatchExpired: "EXPIRED",
}

// String returns the bare state name, e.g. "SUCCEEDED".
func (st BatchState) String() string {
	if n, ok := batchStateNames[st]; ok {
		return n
	}
	return fmt.Sprintf("BatchState(%d)", int(st))
}

// Wire returns the state as sent in metadata.state under style, e.g.
// "BATCH_STATE_SUCCEEDED" or "JOB_STATE_SUCCEEDED".
func (st BatchState) Wire(style StateStyle) string {
	if style == StateStyleGuide {
		return "JOB_STATE_" + st.String()
	}
	return "BATCH_STATE_" + st.String()
}

// terminal reports whether the state is final.
func (st BatchState) terminal() bool { return st >= BatchSucceeded }

// Defaults of a BatchSpec.
const (
	// DefaultModel is the model of batches with no Model.
	DefaultModel = "gemini-2.5-flash"
	// DefaultEmbeddingModel is the model of embedding batches with no
	// Model.
	DefaultEmbeddingModel = "gemini-embedding-001"
	// DefaultResultsSize is the results file size of batches whose Results
	// has no Size.
	DefaultResultsSize = 64 << 10
	// MaxInlineResultsSize bounds the results of an Inline batch; inline
	// batches are meant to stay under the API's 20 MB request limit.
	MaxInlineResultsSize = 20 << 20
)

// Type URLs of the batch Operation. "v1main" is what the service returns,
// although the API is served under /v1beta. Embedding batches are
// EmbedContentBatch resources with an EmbedContentBatchOutput (API
// reference, embeddings).
const (
	batchMetadataType      = "type.googleapis.com/google.ai.generativelanguage.v1main.GenerateContentBatch"
	batchOutputType        = "type.googleapis.com/google.ai.generativelanguage.v1main.GenerateContentBatchOutput"
	embedBatchMetadataType = "type.googleapis.com/google.ai.generativelanguage.v1main.EmbedContentBatch"
	embedBatchOutputType   = "type.googleapis.com/google.ai.generativelanguage.v1main.EmbedContentBatchOutput"
)

// BatchSpec describes a batch job to create.
type BatchSpec struct {
	// ID is the bare batch id; empty generates one.
	ID string
	// Model is the model name, with or without "models/"; empty means
	// DefaultModel.
	Model string
	// DisplayName defaults to "geminisim-<id>".
	DisplayName string
	// Results is the output the batch produces when it succeeds, and fixes
	// its request counts. A zero Size means DefaultResultsSize.
	Results ResultsFile
	// Inline returns the results inside the batch (inlinedResponses, one
	// per results line) instead of as a responses file.
	Inline bool
	// Embeddings makes this an embedding batch, as created by
	// models/{model}:asyncBatchEmbedContent: its metadata is an
	// EmbedContentBatch, each success an EmbedContentResponse
	// ({"embedding":{"values":[…]}}, a short stand-in vector), and inline
	// results come under inlinedEmbedContentResponses, where the SDK's
	// batch converters read them (Undocumented: the key on the wire; the API
	// reference's EmbedContentBatchOutput says inlinedResponses). Results fixes the requests, their keys
	// and which fail; its size must not exceed MaxInlineResultsSize, and
	// the embedding results are smaller. An empty Model means
	// DefaultEmbeddingModel.
	Embeddings bool
	// WebhookURIs and UserMetadata form the batch's webhook config: its
	// notifications go to these URIs, JWT-signed, instead of the
	// registered webhooks, and carry the metadata.
	WebhookURIs  []string
	UserMetadata map[string]any
}

// JobError is a job-level failure, a google.rpc.Status.
type JobError struct {
	// Code is the google.rpc.Code, e.g. 13 for INTERNAL.
	Code int
	// Message is the developer-facing message.
	Message string
}

type batch struct {
	id                     string
	seq                    uint64 // creation order
	model, displayName     string
	results                ResultsFile
	inline, embed          bool
	hooks                  webhookConfig
	requests               []batchRequest // input of a batch created over REST; nil otherwise
	inputErr               *JobError      // why a REST batch's input file cannot be processed
	lines, failed          int64
	state                  BatchState
	created, updated, done time.Time
	jobErr                 *JobError
	fileID                 string          // responses file, once succeeded
	inlined                json.RawMessage // inlinedResponses array, once succeeded
}

// CreateBatch adds a PENDING batch and returns its name ("batches/<id>").
func (s *Server) CreateBatch(spec BatchSpec) (string, error) {
	id, err := checkID("batch", spec.ID)
	if err != nil {
		return "", err
	}
	b := &batch{
		id: id, model: strings.TrimPrefix(spec.Model, "models/"), displayName: spec.DisplayName,
		results: spec.Results, inline: spec.Inline, embed: spec.Embeddings, state: BatchPending,
		hooks: webhookConfig{uris: spec.WebhookURIs, userMetadata: spec.UserMetadata},
	}
	switch {
	case b.model != "":
	case b.embed:
		b.model = DefaultEmbeddingModel
	default:
		b.model = DefaultModel
	}
	if !isToken(b.model) {
		return "", fmt.Errorf("%w: batch model %q must match [A-Za-z0-9._-]+", ErrInvalidSpec, b.model)
	}
	if b.displayName == "" {
		b.displayName = "geminisim-" + id
	}
	if b.results.Size == 0 {
		b.results.Size = DefaultResultsSize
	}
	if (b.inline || b.embed) && b.results.Size > MaxInlineResultsSize {
		// Embedding results are built in memory, inline or not.
		return "", fmt.Errorf("%w: inline or embedding results of %d bytes exceed %d", ErrInvalidSpec, b.results.Size, MaxInlineResultsSize)
	}
	if b.lines, b.failed, err = b.results.Lines(); err != nil {
		return "", err
	}
	for _, u := range spec.WebhookURIs {
		if msg := checkURI(u); msg != "" {
			return "", fmt.Errorf("%w: batch webhook %s", ErrInvalidSpec, msg)
		}
	}
	if err := s.addBatch(b); err != nil {
		return "", err
	}
	return "batches/" + id, nil
}

// addBatch stores a new batch, stamping its creation.
func (s *Server) addBatch(b *batch) error {
	b.created = s.now()
	b.updated = b.created
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, dup := s.batches[b.id]; dup {
		return fmt.Errorf("%w: batch %s already exists", ErrInvalidSpec, b.id)
	}
	s.batchSeq++
	b.seq = s.batchSeq
	s.batches[b.id] = b
	return nil
}

// StartBatch moves a PENDING batch to RUNNING. Gemini sends no notification
// for it.
func (s *Server) StartBatch(name string) error {
	_, err := s.moveBatch(name, BatchRunning, nil)
	return err
}

// CompleteBatch makes the batch SUCCEEDED, publishes its results (a
// responses file, or inlined responses) and returns the batch.succeeded
// notification.
func (s *Server) CompleteBatch(name string) (event.Payload, error) {
	return s.moveBatch(name, BatchSucceeded, nil)
}

// FailBatch makes the batch FAILED with e and returns the batch.failed
// notification, which carries e as error_code and error_message.
func (s *Server) FailBatch(name string, e JobError) (event.Payload, error) {
	return s.moveBatch(name, BatchFailed, &e)
}

// CancelBatch makes the batch CANCELLED and returns the batch.cancelled
// notification.
func (s *Server) CancelBatch(name string) (event.Payload, error) {
	return s.moveBatch(name, BatchCancelled, &JobError{Code: 1, Message: "The batch was cancelled."})
}

// ExpireBatch makes the batch EXPIRED (it was not processed in time) and
// returns the batch.expired notification.
func (s *Server) ExpireBatch(name string) (event.Payload, error) {
	return s.moveBatch(name, BatchExpired, &JobError{Code: 4, Message: "The batch expired before it was processed."})
}

// moveBatch performs a state transition and delivers its notification,
// if any. Only PENDING and RUNNING batches move; RUNNING can only be
// entered from PENDING.
func (s *Server) moveBatch(name string, to BatchState, jobErr *JobError) (event.Payload, error) {
	p, hooks, err := s.transitionBatch(name, to, jobErr)
	if err == nil && p.Type != "" {
		s.notify("batches/"+strings.TrimPrefix(name, "batches/"), hooks.uris, p)
	}
	return p, err
}

// transitionBatch moves the batch and returns its notification (none for
// RUNNING) and webhook config.
func (s *Server) transitionBatch(name string, to BatchState, jobErr *JobError) (event.Payload, webhookConfig, error) {
	id := strings.TrimPrefix(name, "batches/")
	s.mu.Lock()
	b, ok := s.batches[id]
	s.mu.Unlock()
	if !ok {
		return event.Payload{}, webhookConfig{}, fmt.Errorf("%w: batch %s", ErrNotFound, name)
	}
	var inlined json.RawMessage
	var output Content
	if to == BatchSucceeded {
		// Built outside the lock: it may read the whole results file.
		var err error
		if output, inlined, err = batchResults(b); err != nil {
			return event.Payload{}, webhookConfig{}, err
		}
	}
	now := s.now()
	s.mu.Lock()
	defer s.mu.Unlock()
	if b.state.terminal() || (to == BatchRunning && b.state != BatchPending) {
		return event.Payload{}, webhookConfig{}, fmt.Errorf("%w: batch %s is %s, cannot become %s", ErrWrongState, name, b.state, to)
	}
	b.state, b.updated, b.jobErr = to, now, jobErr
	if !to.terminal() {
		return event.Payload{}, b.hooks, nil
	}
	b.done = now
	data := event.PayloadData{ID: s.eventID("batches/", id), UserMetadata: b.hooks.userMetadata}
	var typ string
	switch to {
	case BatchSucceeded:
		typ = event.TypeBatchSucceeded
		if b.inline {
			b.inlined = inlined
		} else {
			b.fileID = newID()
			s.files[b.fileID] = fileEntry{content: output, created: now}
			data.OutputFileURI = "files/" + b.fileID
		}
	case BatchFailed:
		typ = event.TypeBatchFailed
		data.ErrorCode, data.ErrorMessage = jobErr.Code, jobErr.Message
	case BatchCancelled:
		typ = event.TypeBatchCancelled
	case BatchExpired:
		typ = event.TypeBatchExpired
	}
	return event.Payload{Type: typ, Version: event.PayloadVersion, Timestamp: now, Data: data}, b.hooks, nil
}

// batchResults builds what a succeeding batch publishes: its results
// content and, for an inline batch, its inlinedResponses array.
func batchResults(b *batch) (Content, json.RawMessage, error) {
	if b.requests != nil {
		return requestsOutput(b)
	}
	if !b.inline && !b.embed {
		return b.results, nil, nil
	}
	output, err := batchOutputContent(b)
	if err != nil || !b.inline {
		return output, nil, err
	}
	inlined, err := inlinedResponses(output.NewReader())
	return output, inlined, err
}

// eventID returns the id a notification carries for a job: its resource
// name, or the bare id under Options.BareEventIDs.
func (s *Server) eventID(prefix, id string) string {
	if s.bareIDs {
		return id
	}
	return prefix + id
}

// batchOutputContent returns the results a succeeded batch publishes: its
// Results, or for an embedding batch the same lines with an embedding in
// place of each response.
func batchOutputContent(b *batch) (Content, error) {
	if !b.embed {
		return b.results, nil
	}
	return embeddingResults(b.results)
}

// embeddingResults rewrites the lines of f as an embedding batch's results:
// {"key":…,"response":{"embedding":{"values":[…]}}}, errors unchanged. The
// vector is derived from the key, so equal files give equal bytes.
func embeddingResults(f ResultsFile) (StaticFile, error) {
	type line struct {
		Key      string          `json:"key"`
		Response json.RawMessage `json:"response,omitempty"`
		Error    json.RawMessage `json:"error,omitempty"`
	}
	var out bytes.Buffer
	sc := bufio.NewScanner(f.NewReader())
	sc.Buffer(nil, MaxInlineResultsSize)
	for sc.Scan() {
		var l line
		if err := json.Unmarshal(sc.Bytes(), &l); err != nil {
			return StaticFile{}, fmt.Errorf("failed to parse results line: %w", err)
		}
		if l.Error == nil {
			l.Response = embedding(l.Key, f.Seed)
		}
		b, err := json.Marshal(l)
		if err != nil {
			return StaticFile{}, fmt.Errorf("failed to encode embedding result: %w", err)
		}
		out.Write(b)
		out.WriteByte('\n')
	}
	if err := sc.Err(); err != nil {
		return StaticFile{}, fmt.Errorf("failed to read results: %w", err)
	}
	return StaticFile{Data: out.Bytes(), MediaType: f.ContentType()}, nil
}

// embeddingDims is the length of the simulator's embeddings; real ones are
// hundreds to thousands of values, which tests do not need.
const embeddingDims = 8

// embedding returns an EmbedContentResponse whose values in [-1, 1) are
// derived from key and seed.
func embedding(key string, seed uint64) json.RawMessage {
	h := fnv.New64a()
	h.Write([]byte(key))
	b := []byte(`{"embedding":{"values":[`)
	for i := range uint64(embeddingDims) {
		if i > 0 {
			b = append(b, ',')
		}
		v := float64(mix(seed^h.Sum64(), i)>>11)/(1<<53)*2 - 1
		b = strconv.AppendFloat(b, v, 'f', 6, 64)
	}
	return append(b, "]}}"...)
}

// inlinedResponses converts every results line read from r into an
// InlinedResponse: {"response":{...},"metadata":{"key":"request-1"}} or
// {"error":{...},"metadata":{"key":...}}.
func inlinedResponses(r io.Reader) (json.RawMessage, error) {
	type line struct {
		Key      string          `json:"key"`
		Response json.RawMessage `json:"response,omitempty"`
		Error    json.RawMessage `json:"error,omitempty"`
	}
	type inlined struct {
		Response json.RawMessage   `json:"response,omitempty"`
		Error    json.RawMessage   `json:"error,omitempty"`
		Metadata map[string]string `json:"metadata"`
	}
	var out []inlined
	sc := bufio.NewScanner(r)
	sc.Buffer(nil, MaxInlineResultsSize)
	for sc.Scan() {
		var l line
		if err := json.Unmarshal(sc.Bytes(), &l); err != nil {
			return nil, fmt.Errorf("failed to parse results line: %w", err)
		}
		out = append(out, inlined{Response: l.Response, Error: l.Error, Metadata: map[string]string{"key": l.Key}})
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("failed to read results: %w", err)
	}
	b, err := json.Marshal(out)
	if err != nil {
		return nil, fmt.Errorf("failed to encode inlined responses: %w", err)
	}
	return b, nil
}

// Wire shapes of GET /v1beta/batches/{id}: a google.longrunning.Operation
// whose metadata is the GenerateContentBatch (EmbedContentBatch) and whose
// response, once done, is its GenerateContentBatchOutput
// (EmbedContentBatchOutput). Proto3 JSON omits default values, so
// zero counts and a false done are left out; int64 counts are strings.
type (
	batchOperation struct {
		Name     string        `json:"name"`
		Metadata batchMetadata `json:"metadata"`
		Done     bool          `json:"done,omitempty"`
		Response *batchOutput  `json:"response,omitempty"`
		Error    *operationErr `json:"error,omitempty"`
	}
	batchMetadata struct {
		Type        string       `json:"@type"`
		Model       string       `json:"model"`
		DisplayName string       `json:"displayName"`
		Output      *batchOutput `json:"output,omitempty"`
		CreateTime  string       `json:"createTime"`
		EndTime     string       `json:"endTime,omitempty"`
		UpdateTime  string       `json:"updateTime"`
		BatchStats  batchStats   `json:"batchStats"`
		State       string       `json:"state"`
		Name        string       `json:"name"`
	}
	batchOutput struct {
		Type                         string           `json:"@type,omitempty"`
		ResponsesFile                string           `json:"responsesFile,omitempty"`
		InlinedResponses             *inlinedEnvelope `json:"inlinedResponses,omitempty"`
		InlinedEmbedContentResponses *inlinedEnvelope `json:"inlinedEmbedContentResponses,omitempty"`
	}
	inlinedEnvelope struct {
		InlinedResponses json.RawMessage `json:"inlinedResponses"`
	}
	batchStats struct {
		RequestCount           int64 `json:"requestCount,string,omitempty"`
		SuccessfulRequestCount int64 `json:"successfulRequestCount,string,omitempty"`
		FailedRequestCount     int64 `json:"failedRequestCount,string,omitempty"`
		PendingRequestCount    int64 `json:"pendingRequestCount,string,omitempty"`
	}
	operationErr struct {
		Code    int    `json:"code"`
		Message string `json:"message"`
	}
)

// renderBatch returns the batch's REST representation. Called with s.mu
// held.
func (s *Server) renderBatch(b *batch) batchOperation {
	name := "batches/" + b.id
	mdType, outType := batchMetadataType, batchOutputType
	if b.embed {
		mdType, outType = embedBatchMetadataType, embedBatchOutputType
	}
	op := batchOperation{Name: name, Metadata: batchMetadata{
		Type: mdType, Model: "models/" + b.model, DisplayName: b.displayName,
		CreateTime: timestamp(b.created), UpdateTime: timestamp(b.updated),
		State: b.state.Wire(s.style), Name: name,
	}}
	stats := batchStats{RequestCount: b.lines}
	switch b.state {
	case BatchSucceeded:
		stats.SuccessfulRequestCount, stats.FailedRequestCount = b.lines-b.failed, b.failed
		out := &batchOutput{}
		switch {
		case b.inline && b.embed:
			out.InlinedEmbedContentResponses = &inlinedEnvelope{InlinedResponses: b.inlined}
		case b.inline:
			out.InlinedResponses = &inlinedEnvelope{InlinedResponses: b.inlined}
		default:
			out.ResponsesFile = "files/" + b.fileID
		}
		op.Metadata.Output = out
		resp := *out
		resp.Type = outType
		op.Response = &resp
	case BatchFailed:
		// Undocumented: how a failed batch counts its requests; the
		// simulator reports them all as failed.
		stats.FailedRequestCount = b.lines
	default:
		// Pending, running, cancelled and expired batches have processed
		// nothing (the Batch guide: an expired job "will not have any
		// results").
		stats.PendingRequestCount = b.lines
	}
	op.Metadata.BatchStats = stats
	if b.state.terminal() {
		op.Done = true
		op.Metadata.EndTime = timestamp(b.done)
		if b.jobErr != nil {
			// Failed, and by the long-running operation convention
			// cancelled (code 1) and expired (code 4, inferred), batches
			// carry an error instead of a response.
			op.Error = &operationErr{Code: b.jobErr.Code, Message: b.jobErr.Message}
		}
	}
	return op
}

// getBatch serves GET /v1beta/batches/{id}.
func (s *Server) getBatch(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	b, ok := s.batches[r.PathValue("id")]
	var op batchOperation
	if ok {
		op = s.renderBatch(b)
	}
	s.mu.Unlock()
	if !ok {
		writeAPIError(w, http.StatusNotFound, msgNotFound)
		return
	}
	writeJSON(w, http.StatusOK, op)
}

// Page sizes of GET /v1beta/batches. Undocumented: the API reference
// calls pageSize only "the standard list page size"; the simulator uses
// the bounds of the API's other listings (models, webhooks).
const (
	DefaultBatchPageSize = 50
	MaxBatchPageSize     = 1000
)

// batchList is the ListOperationsResponse of GET /v1beta/batches, where the
// Go SDK's converters read it (operations, nextPageToken).
type batchList struct {
	Operations    []batchOperation `json:"operations,omitempty"`
	NextPageToken string           `json:"nextPageToken,omitempty"`
}

// listBatches serves GET /v1beta/batches?pageSize=&pageToken=: the
// project's batches, newest first, as the API lists them. The page token
// names the last batch returned, so batches created or deleted between
// pages shift nothing. A filter is refused: its syntax is undocumented for
// the Gemini API and the Go SDK refuses to send one.
func (s *Server) listBatches(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	size := DefaultBatchPageSize
	if v := queryParam(q, "pageSize", "page_size"); v != "" {
		n, err := strconv.ParseInt(v, 10, 32)
		if err != nil {
			writeAPIError(w, http.StatusBadRequest, fmt.Sprintf("Invalid value at 'page_size' (TYPE_INT32), %q", v))
			return
		}
		if n < 0 {
			writeAPIError(w, http.StatusBadRequest, "page_size must not be negative.")
			return
		}
		if n > 0 {
			size = int(min(n, MaxBatchPageSize))
		}
	}
	if queryParam(q, "filter") != "" {
		writeAPIError(w, http.StatusBadRequest, "geminisim: filter is not supported when listing batches.")
		return
	}
	var before uint64 // 0: from the newest
	if tok := queryParam(q, "pageToken", "page_token"); tok != "" {
		n, ok := parsePageToken(tok)
		if !ok {
			writeAPIError(w, http.StatusBadRequest, "Invalid page token.")
			return
		}
		before = n
	}
	s.mu.Lock()
	var list []*batch
	for _, b := range s.batches {
		if before == 0 || b.seq < before {
			list = append(list, b)
		}
	}
	slices.SortFunc(list, func(a, b *batch) int { return cmp.Compare(b.seq, a.seq) })
	var resp batchList
	for i, b := range list {
		if i == size {
			resp.NextPageToken = pageToken(list[i-1].seq)
			break
		}
		resp.Operations = append(resp.Operations, s.renderBatch(b))
	}
	s.mu.Unlock()
	writeJSON(w, http.StatusOK, resp)
}

// queryParam returns the first non-empty value among the spellings of a
// query parameter (Google accepts lowerCamelCase and snake_case).
func queryParam(q url.Values, names ...string) string {
	for _, n := range names {
		if v := q.Get(n); v != "" {
			return v
		}
	}
	return ""
}
