package geminisim

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"google.golang.org/genai"
	"google.golang.org/genai/interactions/models/apierrors"
	"google.golang.org/genai/interactions/models/interactions"
	"google.golang.org/genai/interactions/models/operations"
)

// These tests create jobs through the real Go SDK, so that the simulator
// reads requests exactly as the SDK sends them.

// jsonlInput is a batch input file of three keyed requests.
const jsonlInput = `{"key":"alpha","request":{"contents":[{"parts":[{"text":"First?"}],"role":"user"}]}}
{"key":"beta","request":{"contents":[{"parts":[{"text":"Second?"}],"role":"user"}]}}

{"key":"gamma","request":{"contents":[{"parts":[{"text":"Third?"}],"role":"user"}]}}
`

func TestSDK_filesUpload(t *testing.T) {
	t.Parallel()
	sim, ts := newTestServer(t, Options{})
	c := newSDKClient(t, ts)
	f, err := c.Files.Upload(sdkContext(t), strings.NewReader(jsonlInput), &genai.UploadFileConfig{
		MIMEType: "application/jsonl", DisplayName: "requests",
	})
	if err != nil {
		t.Fatalf("Files.Upload: %v", err)
	}
	if !strings.HasPrefix(f.Name, "files/") || f.DisplayName != "requests" || f.MIMEType != "application/jsonl" ||
		f.SizeBytes == nil || *f.SizeBytes != int64(len(jsonlInput)) || f.Source != genai.FileSourceUploaded || f.State != genai.FileStateActive {
		t.Errorf("uploaded file = %+v", f)
	}
	content, ok := sim.File(f.Name)
	if !ok || !bytes.Equal(readAll(t, content), []byte(jsonlInput)) {
		t.Errorf("the simulator does not hold the uploaded bytes under %s", f.Name)
	}
	got, err := c.Files.Get(sdkContext(t), f.Name, nil)
	if err != nil || got.Name != f.Name || got.DisplayName != "requests" {
		t.Errorf("Files.Get = %+v, %v", got, err)
	}
	// A chosen name is kept, and taken only once.
	named, err := c.Files.Upload(sdkContext(t), strings.NewReader("x"), &genai.UploadFileConfig{Name: "my-input", MIMEType: "text/plain"})
	if err != nil || named.Name != "files/my-input" {
		t.Fatalf("upload with a name: %+v, %v", named, err)
	}
	// The SDK flattens the start request's APIError into a message.
	_, err = c.Files.Upload(sdkContext(t), strings.NewReader("x"), &genai.UploadFileConfig{Name: "my-input", MIMEType: "text/plain"})
	if err == nil || !strings.Contains(err.Error(), "Error 409") || !strings.Contains(err.Error(), "ALREADY_EXISTS") {
		t.Errorf("second upload under one name: %v; want 409 ALREADY_EXISTS", err)
	}
	if n := sim.Requests(RouteUpload); n != 5 {
		t.Errorf("RouteUpload counted %d requests; want 5 (a start and a finalizing chunk per upload, one refused start)", n)
	}
}

// TestUpload_protocol drives the resumable protocol by hand: several
// chunks, a status query, and the mistakes a client can make.
func TestUpload_protocol(t *testing.T) {
	t.Parallel()
	_, ts := newTestServer(t, Options{})
	post := func(t *testing.T, url string, body string, header ...string) response {
		t.Helper()
		req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, url, strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		for i := 0; i+1 < len(header); i += 2 {
			req.Header.Set(header[i], header[i+1])
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var b bytes.Buffer
		_, _ = b.ReadFrom(resp.Body)
		return response{status: resp.StatusCode, header: resp.Header, body: b.Bytes()}
	}
	start := func(t *testing.T, length string) string {
		t.Helper()
		res := post(t, ts.URL+"/upload/v1beta/files", `{"file":{"display_name":"in"}}`, "x-goog-api-key", testAPIKey,
			hdrUploadProtocol, "resumable", hdrUploadCommand, "start", hdrUploadLength, length, hdrUploadContentType, "text/plain")
		if res.status != http.StatusOK || res.header.Get(hdrUploadStatus) != "active" || res.header.Get(hdrUploadURL) == "" {
			t.Fatalf("start: %d %v %s", res.status, res.header, res.body)
		}
		return res.header.Get(hdrUploadURL)
	}

	t.Run("chunks_and_query", func(t *testing.T) {
		t.Parallel()
		url := start(t, "10")
		steps := []struct {
			body, command, offset string
			wantCode              int
			wantStatus            string
		}{
			{"hello", "upload", "0", http.StatusOK, "active"},
			{"", "query", "", http.StatusOK, "active"},
			{"XX", "upload", "3", http.StatusBadRequest, "active"}, // wrong offset
			{"world", "upload, finalize", "5", http.StatusOK, "final"},
		}
		for _, st := range steps {
			res := post(t, url, st.body, hdrUploadCommand, st.command, hdrUploadOffset, st.offset)
			if res.status != st.wantCode || res.header.Get(hdrUploadStatus) != st.wantStatus {
				t.Fatalf("%s at %s: %d %q %s; want %d %q", st.command, st.offset, res.status, res.header.Get(hdrUploadStatus), res.body, st.wantCode, st.wantStatus)
			}
			if st.command == "query" && res.header.Get(hdrUploadReceived) != "5" {
				t.Errorf("query: %s = %q; want 5", hdrUploadReceived, res.header.Get(hdrUploadReceived))
			}
		}
		if res := post(t, url, "", hdrUploadCommand, "finalize", hdrUploadOffset, "10"); res.status != http.StatusNotFound {
			t.Errorf("a finished session answered %d; want 404", res.status)
		}
	})

	tests := []struct {
		name     string
		length   string
		chunks   []string // "command:offset:body"
		wantCode int
	}{
		{name: "size_differs_from_announced", length: "4", chunks: []string{"upload, finalize:0:abc"}, wantCode: http.StatusBadRequest},
		{name: "unknown_command", length: "1", chunks: []string{"rewind:0:a"}, wantCode: http.StatusBadRequest},
		{name: "cancel", length: "1", chunks: []string{"cancel::", "upload, finalize:0:a"}, wantCode: http.StatusNotFound},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			url := start(t, tt.length)
			var res response
			for _, c := range tt.chunks {
				parts := strings.SplitN(c, ":", 3)
				res = post(t, url, parts[2], hdrUploadCommand, parts[0], hdrUploadOffset, parts[1])
			}
			if res.status != tt.wantCode || res.header.Get(hdrUploadStatus) == "" {
				t.Errorf("last answer %d (status header %q) %s; want %d with a status header", res.status, res.header.Get(hdrUploadStatus), res.body, tt.wantCode)
			}
		})
	}

	starts := []struct {
		name     string
		header   []string
		body     string
		wantCode int
	}{
		{name: "no_key", header: []string{hdrUploadProtocol, "resumable", hdrUploadCommand, "start"}, wantCode: http.StatusForbidden},
		{name: "multipart_not_simulated", header: []string{"x-goog-api-key", testAPIKey, hdrUploadProtocol, "multipart"}, wantCode: http.StatusNotImplemented},
		{name: "not_start", header: []string{"x-goog-api-key", testAPIKey, hdrUploadProtocol, "resumable", hdrUploadCommand, "upload"}, wantCode: http.StatusBadRequest},
		{name: "bad_name", header: []string{"x-goog-api-key", testAPIKey, hdrUploadProtocol, "resumable", hdrUploadCommand, "start"}, body: `{"file":{"name":"files/Bad_Name"}}`, wantCode: http.StatusBadRequest},
		{name: "unknown_field", header: []string{"x-goog-api-key", testAPIKey, hdrUploadProtocol, "resumable", hdrUploadCommand, "start"}, body: `{"file":{"colour":"red"}}`, wantCode: http.StatusBadRequest},
		{name: "too_large", header: []string{"x-goog-api-key", testAPIKey, hdrUploadProtocol, "resumable", hdrUploadCommand, "start", hdrUploadLength, "3000000000"}, wantCode: http.StatusBadRequest},
	}
	for _, tt := range starts {
		t.Run("start/"+tt.name, func(t *testing.T) {
			t.Parallel()
			res := post(t, ts.URL+"/upload/v1beta/files", tt.body, tt.header...)
			if res.status != tt.wantCode {
				t.Fatalf("start: %d %s; want %d", res.status, res.body, tt.wantCode)
			}
			decodeError(t, res.body)
		})
	}
}

func TestSDK_batchesCreate(t *testing.T) {
	t.Parallel()
	hooks := &genai.WebhookConfig{Uris: []string{"https://hooks.example/gemini"}, UserMetadata: map[string]any{"job_group": "nightly"}}
	tests := []struct {
		name   string
		inline bool
	}{{"file", false}, {"inline", true}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			sim, ts := newTestServer(t, Options{})
			c := newSDKClient(t, ts)
			src := &genai.BatchJobSource{}
			if tt.inline {
				for _, k := range []string{"alpha", "beta", "gamma"} {
					src.InlinedRequests = append(src.InlinedRequests, &genai.InlinedRequest{
						Contents: genai.Text("Question " + k), Metadata: map[string]string{"key": k},
					})
				}
			} else {
				f, err := c.Files.Upload(sdkContext(t), strings.NewReader(jsonlInput), &genai.UploadFileConfig{MIMEType: "application/jsonl"})
				if err != nil {
					t.Fatal(err)
				}
				src.FileName = f.Name
			}
			job, err := c.Batches.Create(sdkContext(t), DefaultModel, src, &genai.CreateBatchJobConfig{DisplayName: "nightly-eval", WebhookConfig: hooks})
			if err != nil {
				t.Fatalf("Batches.Create: %v", err)
			}
			if !strings.HasPrefix(job.Name, "batches/") || job.State != genai.JobStatePending || job.DisplayName != "nightly-eval" ||
				job.Model != "models/"+DefaultModel || job.CreateTime.IsZero() {
				t.Errorf("created job = %+v", job)
			}
			sim.mu.Lock()
			b := sim.batches[strings.TrimPrefix(job.Name, "batches/")]
			gotHooks := b.hooks
			sim.mu.Unlock()
			if diff := cmp.Diff(hooks.Uris, gotHooks.uris); diff != "" || gotHooks.userMetadata["job_group"] != "nightly" {
				t.Errorf("webhook config not read as sent: uris (-want +got):\n%s metadata %v", diff, gotHooks.userMetadata)
			}
			if err := sim.SetJobFault(job.Name, DropDelivery); err != nil { // no endpoint listens there
				t.Fatal(err)
			}
			if _, err := sim.CompleteBatch(job.Name); err != nil {
				t.Fatal(err)
			}
			done, err := c.Batches.Get(sdkContext(t), job.Name, nil)
			if err != nil {
				t.Fatal(err)
			}
			if done.State != genai.JobStateSucceeded || done.Dest == nil {
				t.Fatalf("completed job = %+v", done)
			}
			want := []string{"alpha", "beta", "gamma"}
			var keys []string
			if tt.inline {
				for _, r := range done.Dest.InlinedResponses {
					if r.Response == nil || !strings.Contains(r.Response.Text(), r.Metadata["key"]) {
						t.Errorf("inlined response %+v does not answer its request", r)
					}
					keys = append(keys, r.Metadata["key"])
				}
			} else {
				data, err := c.Files.Download(sdkContext(t), genai.NewDownloadURIFromFile(&genai.File{DownloadURI: done.Dest.FileName}), nil)
				if err != nil {
					t.Fatal(err)
				}
				sc := bufio.NewScanner(bytes.NewReader(data))
				for sc.Scan() {
					var l struct {
						Key      string                         `json:"key"`
						Response *genai.GenerateContentResponse `json:"response"`
					}
					if err := json.Unmarshal(sc.Bytes(), &l); err != nil || l.Response == nil || !strings.Contains(l.Response.Text(), l.Key) {
						t.Errorf("results line %s: %v", sc.Bytes(), err)
					}
					keys = append(keys, l.Key)
				}
			}
			if diff := cmp.Diff(want, keys); diff != "" {
				t.Errorf("result keys (-want +got):\n%s", diff)
			}
		})
	}
}

// TestBatchesCreate_refusals sends what the API refuses, each over raw
// HTTP (the SDK checks some of it before sending).
func TestBatchesCreate_refusals(t *testing.T) {
	t.Parallel()
	sim, ts := newTestServer(t, Options{})
	file, err := sim.AddFile(StaticFile{Data: []byte(jsonlInput)})
	if err != nil {
		t.Fatal(err)
	}
	inline := `{"batch":{"inputConfig":{"requests":{"requests":[{"request":{"contents":[{"parts":[{"text":"hi"}]}]}}]}}}}`
	url := func(model string) string { return ts.URL + "/v1beta/models/" + model + ":batchGenerateContent" }
	tests := []struct {
		name, url, body string
		wantCode        int
		wantStatus      string
		wantMessage     string // a substring
	}{
		{"ok_inline", url(DefaultModel), inline, http.StatusOK, "", ""},
		{"ok_snake_case_file", url(DefaultModel), `{"batch":{"display_name":"x","input_config":{"file_name":"` + file + `"}}}`, http.StatusOK, "", ""},
		{"unknown_model", url("gemini-0-nope"), inline, http.StatusNotFound, "NOT_FOUND",
			"models/gemini-0-nope is not found for API version v1beta, or is not supported for batchGenerateContent"},
		{"video_model", url("veo-3.0-generate-001"), inline, http.StatusNotFound, "NOT_FOUND", "not supported for batchGenerateContent"},
		{"empty_body", url(DefaultModel), "", http.StatusBadRequest, "INVALID_ARGUMENT", "batch is required"},
		{"malformed_json", url(DefaultModel), `{"batch":`, http.StatusBadRequest, "INVALID_ARGUMENT", "Invalid JSON payload"},
		{"unknown_field", url(DefaultModel), `{"batch":{"inputConfig":{"fileName":"` + file + `"},"colour":"red"}}`, http.StatusBadRequest, "INVALID_ARGUMENT", `Unknown name "colour"`},
		{"no_input", url(DefaultModel), `{"batch":{"displayName":"x"}}`, http.StatusBadRequest, "INVALID_ARGUMENT", "input_config is required"},
		{"both_inputs", url(DefaultModel), `{"batch":{"inputConfig":{"fileName":"` + file + `","requests":{"requests":[]}}}}`, http.StatusBadRequest, "INVALID_ARGUMENT", "exactly one"},
		{"no_requests", url(DefaultModel), `{"batch":{"inputConfig":{"requests":{"requests":[]}}}}`, http.StatusBadRequest, "INVALID_ARGUMENT", "at least one request"},
		{"request_without_contents", url(DefaultModel), `{"batch":{"inputConfig":{"requests":{"requests":[{"request":{}}]}}}}`, http.StatusBadRequest, "INVALID_ARGUMENT", "contents is required"},
		{"missing_file", url(DefaultModel), `{"batch":{"inputConfig":{"fileName":"files/nope"}}}`, http.StatusForbidden, "PERMISSION_DENIED", "File nope or it may not exist"},
		{"http_webhook_off_loopback", url(DefaultModel), `{"batch":{"inputConfig":{"fileName":"` + file + `"},"webhookConfig":{"uris":["http://hooks.example/x"]}}}`, http.StatusBadRequest, "INVALID_ARGUMENT", "must be an https URL"},
		{"relative_webhook", url(DefaultModel), `{"batch":{"inputConfig":{"fileName":"` + file + `"},"webhookConfig":{"uris":["/x"]}}}`, http.StatusBadRequest, "INVALID_ARGUMENT", "absolute"},
		{"get_not_served", "", "", http.StatusNotFound, "NOT_FOUND", "Method not found"},
		{"unknown_verb", ts.URL + "/v1beta/models/" + DefaultModel + ":explode", inline, http.StatusNotFound, "NOT_FOUND", "Method not found"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			method := http.MethodPost
			if tt.url == "" {
				method, tt.url = http.MethodGet, url(DefaultModel)
			}
			res := do(t, method, tt.url, tt.body)
			if res.status != tt.wantCode {
				t.Fatalf("status %d %s; want %d", res.status, res.body, tt.wantCode)
			}
			if tt.wantCode == http.StatusOK {
				if op := decode(t, res.body); !strings.HasPrefix(op["name"].(string), "batches/") {
					t.Errorf("answer %s is not a batch operation", res.body)
				}
				return
			}
			e := decodeError(t, res.body)
			if e.Error.Status != tt.wantStatus || !strings.Contains(e.Error.Message, tt.wantMessage) {
				t.Errorf("error %+v; want %s with %q", e.Error, tt.wantStatus, tt.wantMessage)
			}
		})
	}
}

// TestBatchesCreate_badInputFile checks that a malformed input file is
// accepted at creation and fails the batch when it runs.
func TestBatchesCreate_badInputFile(t *testing.T) {
	t.Parallel()
	sim, ts := newTestServer(t, Options{CompleteAfter: 1})
	file, err := sim.AddFile(StaticFile{Data: []byte(`{"key":"a","request":{"contents":[{"parts":[{"text":"hi"}]}]}}` + "\nnot json\n")})
	if err != nil {
		t.Fatal(err)
	}
	c := newSDKClient(t, ts)
	job, err := c.Batches.Create(sdkContext(t), DefaultModel, &genai.BatchJobSource{FileName: file}, nil)
	if err != nil {
		t.Fatalf("Batches.Create: %v", err)
	}
	if err := sim.WaitIdle(sdkContext(t)); err != nil {
		t.Fatal(err)
	}
	res := do(t, http.MethodGet, ts.URL+"/v1beta/"+job.Name, "")
	var op struct {
		Metadata struct {
			State string `json:"state"`
		} `json:"metadata"`
		Error struct {
			Code    int    `json:"code"`
			Message string `json:"message"`
		} `json:"error"`
	}
	if err := json.Unmarshal(res.body, &op); err != nil {
		t.Fatal(err)
	}
	if op.Metadata.State != "BATCH_STATE_FAILED" || op.Error.Code != 3 || !strings.Contains(op.Error.Message, "line 2") {
		t.Errorf("batch with a malformed input = %s; want FAILED with code 3 naming line 2", res.body)
	}
}

func TestSDK_interactionsCreate(t *testing.T) {
	t.Parallel()
	hooks := &interactions.WebhookConfig{Uris: []string{"https://hooks.example/gemini"}, UserMetadata: map[string]any{"run": "7"}}
	model := func(m string, background *bool, wh *interactions.WebhookConfig) operations.CreateInteractionRequestBody {
		return operations.NewCreateInteractionRequestBody(interactions.CreateModelInteraction{
			Model: interactions.Model(m), Input: genai.Ptr(interactions.NewInteractionsInput("Summarize webhooks.")),
			Background: background, WebhookConfig: wh,
		})
	}
	agent := func(a string, background *bool, wh *interactions.WebhookConfig) operations.CreateInteractionRequestBody {
		return operations.NewCreateInteractionRequestBody(interactions.CreateAgentInteraction{
			Agent: interactions.AgentOption(a), Input: genai.Ptr(interactions.NewInteractionsInput("Research webhooks.")),
			Background: background, WebhookConfig: wh,
		})
	}
	yes, no := genai.Ptr(true), genai.Ptr(false)
	tests := []struct {
		name       string
		body       operations.CreateInteractionRequestBody
		wantStatus interactions.InteractionStatus
		wantCode   string // the error's code, for refusals
		wantHTTP   int
	}{
		{name: "agent_background_webhook", body: agent(DefaultAgent, yes, hooks), wantStatus: interactions.InteractionStatusInProgress},
		{name: "model_background", body: model(DefaultModel, yes, nil), wantStatus: interactions.InteractionStatusInProgress},
		{name: "model_foreground_completes", body: model(DefaultModel, no, nil), wantStatus: interactions.InteractionStatusCompleted},
		{name: "webhook_without_background", body: model(DefaultModel, nil, hooks), wantCode: "invalid_argument", wantHTTP: 400},
		{name: "agent_without_background", body: agent(DefaultAgent, no, nil), wantCode: "invalid_argument", wantHTTP: 400},
		{name: "unknown_model", body: model("gemini-0-nope", yes, nil), wantCode: "not_found", wantHTTP: 404},
		{name: "unknown_agent", body: agent("deep-thought-1", yes, nil), wantCode: "not_found", wantHTTP: 404},
		{name: "http_webhook_off_loopback", body: model(DefaultModel, yes, &interactions.WebhookConfig{Uris: []string{"http://hooks.example/x"}}), wantCode: "invalid_argument", wantHTTP: 400},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			sim, ts := newTestServer(t, Options{})
			res, err := newSDKClient(t, ts).Interactions.Create(sdkContext(t), operations.CreateInteractionRequest{Body: tt.body}, noRetries)
			if tt.wantCode != "" {
				var e *apierrors.CreateInteractionClientError
				if !errors.As(err, &e) || e.Error_.Code == nil || *e.Error_.Code != tt.wantCode || e.HTTPMeta.Response.StatusCode != tt.wantHTTP {
					t.Fatalf("error %T %v; want the SDK's client error with code %s and status %d", err, err, tt.wantCode, tt.wantHTTP)
				}
				return
			}
			if err != nil {
				t.Fatalf("Interactions.Create: %v", err)
			}
			it := res.Interaction
			if it == nil || it.GetID() == nil || it.GetStatus() != tt.wantStatus {
				t.Fatalf("created %+v; want status %s", it, tt.wantStatus)
			}
			if tt.wantStatus == interactions.InteractionStatusCompleted && (it.GetOutputText() == nil || *it.GetOutputText() == "") {
				t.Error("a completed interaction has no output text")
			}
			if tt.body.CreateAgentInteraction != nil {
				wh := it.GetWebhookConfig()
				if wh == nil || !cmp.Equal(wh.Uris, hooks.Uris) || wh.UserMetadata["run"] != "7" {
					t.Errorf("webhook_config echoed as %+v", wh)
				}
			}
			got, err := newSDKClient(t, ts).Interactions.Get(sdkContext(t), operations.GetInteractionByIDRequest{ID: *it.GetID()})
			if err != nil || got.Interaction.GetStatus() != tt.wantStatus {
				t.Errorf("GET of the created interaction: %v", err)
			}
			if n := sim.Requests(RouteInteractionsCreate); n != 1 {
				t.Errorf("RouteInteractionsCreate counted %d; want 1", n)
			}
		})
	}
}

func TestInteractionsCreate_refusals(t *testing.T) {
	t.Parallel()
	_, ts := newTestServer(t, Options{})
	tests := []struct {
		name, body string
		wantCode   int
		wantError  string
	}{
		{"not_json", `model=x`, http.StatusBadRequest, "invalid_argument"},
		{"array", `[]`, http.StatusBadRequest, "invalid_argument"},
		{"neither_model_nor_agent", `{"input":"hi"}`, http.StatusBadRequest, "invalid_argument"},
		{"both_model_and_agent", `{"model":"gemini-2.5-flash","agent":"deep-research-pro-preview-12-2025","input":"hi","background":true}`, http.StatusBadRequest, "invalid_argument"},
		{"no_input", `{"model":"gemini-2.5-flash","background":true}`, http.StatusBadRequest, "invalid_argument"},
		{"stream", `{"model":"gemini-2.5-flash","input":"hi","stream":true}`, http.StatusNotImplemented, "unimplemented"},
		{"get_collection", "", http.StatusNotFound, "not_found"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			method := http.MethodPost
			if tt.body == "" {
				method = http.MethodGet
			}
			res := do(t, method, ts.URL+"/v1beta/interactions", tt.body)
			if res.status != tt.wantCode {
				t.Fatalf("status %d %s; want %d", res.status, res.body, tt.wantCode)
			}
			if e := decodeInteractionsError(t, res.body); e.Code != tt.wantError {
				t.Errorf("error %+v; want code %s", e, tt.wantError)
			}
		})
	}
}

func TestSDK_videosCreate(t *testing.T) {
	t.Parallel()
	sim, ts := newTestServer(t, Options{})
	c := newSDKClient(t, ts)
	hooks := &genai.WebhookConfig{Uris: []string{"https://hooks.example/gemini"}, UserMetadata: map[string]any{"shot": "42"}}
	op, err := c.Models.GenerateVideosFromSource(sdkContext(t), "veo-3.0-generate-001",
		&genai.GenerateVideosSource{Prompt: "A lighthouse at dawn"}, &genai.GenerateVideosConfig{WebhookConfig: hooks, NumberOfVideos: 1})
	if err != nil {
		t.Fatalf("GenerateVideos: %v", err)
	}
	if !strings.HasPrefix(op.Name, "models/veo-3.0-generate-001/operations/") || op.Done {
		t.Fatalf("operation = %+v", op)
	}
	sim.mu.Lock()
	v := sim.videos[op.Name[strings.LastIndex(op.Name, "/")+1:]]
	gotHooks := v.hooks
	sim.mu.Unlock()
	if !cmp.Equal(gotHooks.uris, hooks.Uris) || gotHooks.userMetadata["shot"] != "42" {
		t.Errorf("webhookConfig read as %+v", gotHooks)
	}
	if err := sim.SetJobFault(op.Name, DropDelivery); err != nil {
		t.Fatal(err)
	}
	n, err := sim.CompleteVideo(op.Name)
	if err != nil || n.Data.UserMetadata["shot"] != "42" {
		t.Fatalf("CompleteVideo: %+v, %v", n, err)
	}
	done, err := c.Operations.GetVideosOperation(sdkContext(t), op, nil)
	if err != nil || !done.Done || len(done.Response.GeneratedVideos) != 1 {
		t.Fatalf("finished operation = %+v, %v", done, err)
	}

	refusals := []struct {
		name, model, body string
		wantCode          int
	}{
		{"unknown_model", "veo-0", `{"instances":[{"prompt":"x"}]}`, http.StatusNotFound},
		{"text_model", DefaultModel, `{"instances":[{"prompt":"x"}]}`, http.StatusNotFound},
		{"no_instances", "veo-3.0-generate-001", `{"parameters":{}}`, http.StatusBadRequest},
		{"no_prompt_nor_image", "veo-3.0-generate-001", `{"instances":[{}]}`, http.StatusBadRequest},
		{"malformed", "veo-3.0-generate-001", `{"instances":`, http.StatusBadRequest},
		{"bad_webhook", "veo-3.0-generate-001", `{"instances":[{"prompt":"x"}],"webhookConfig":{"uris":["ftp://x"]}}`, http.StatusBadRequest},
	}
	for _, tt := range refusals {
		t.Run(tt.name, func(t *testing.T) {
			res := do(t, http.MethodPost, ts.URL+"/v1beta/models/"+tt.model+":predictLongRunning", tt.body)
			if res.status != tt.wantCode {
				t.Fatalf("status %d %s; want %d", res.status, res.body, tt.wantCode)
			}
			decodeError(t, res.body)
		})
	}
}
