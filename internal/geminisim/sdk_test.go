package geminisim

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"google.golang.org/genai"
	"google.golang.org/genai/interactions/models/apierrors"
	"google.golang.org/genai/interactions/models/interactions"
	"google.golang.org/genai/interactions/models/operations"
)

// These tests drive the simulator with the real Go SDK, so that a change in
// the wire format that the SDK cannot parse shows up here.

// newSDKClient returns a Gemini Developer API client pointed at ts.
func newSDKClient(t *testing.T, ts *httptest.Server) *genai.Client {
	t.Helper()
	c, err := genai.NewClient(t.Context(), &genai.ClientConfig{
		APIKey:      testAPIKey,
		Backend:     genai.BackendGeminiAPI,
		HTTPOptions: genai.HTTPOptions{BaseURL: ts.URL},
		// The SDK would follow the download's redirect with the key.
		HTTPClient: client,
	})
	if err != nil {
		t.Fatalf("genai.NewClient: %v", err)
	}
	return c
}

func sdkContext(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func TestSDK_batchesGet(t *testing.T) {
	t.Parallel()
	results := ResultsFile{Size: 6 * DefaultLineSize, FailureRatio: 0.5, Seed: 1}
	cases := []struct {
		name   string
		inline bool
		state  BatchState
		want   genai.JobState
	}{
		{"pending", false, BatchPending, genai.JobStatePending},
		{"running", false, BatchRunning, genai.JobStateRunning},
		{"succeeded_file", false, BatchSucceeded, genai.JobStateSucceeded},
		{"succeeded_inline", true, BatchSucceeded, genai.JobStateSucceeded},
		{"failed", false, BatchFailed, genai.JobStateFailed},
		{"cancelled", false, BatchCancelled, genai.JobStateCancelled},
		{"expired", false, BatchExpired, genai.JobStateExpired},
	}
	for _, style := range []struct {
		name  string
		style StateStyle
	}{{"api_style", StateStyleAPI}, {"guide_style", StateStyleGuide}} {
		for _, tc := range cases {
			t.Run(style.name+"/"+tc.name, func(t *testing.T) {
				t.Parallel()
				sim, ts := newTestServer(t, Options{StateStyle: style.style})
				name, err := sim.CreateBatch(BatchSpec{Model: "gemini-2.5-flash", DisplayName: "sdk", Results: results, Inline: tc.inline})
				if err != nil {
					t.Fatal(err)
				}
				if err := advanceBatch(sim, name, tc.state); err != nil {
					t.Fatal(err)
				}
				job, err := newSDKClient(t, ts).Batches.Get(sdkContext(t), name, nil)
				if err != nil {
					t.Fatalf("Batches.Get: %v", err)
				}
				if job.Name != name || job.State != tc.want || job.DisplayName != "sdk" || job.Model != "models/gemini-2.5-flash" {
					t.Errorf("job = %s %s %q %s; want %s %s", job.Name, job.State, job.DisplayName, job.Model, name, tc.want)
				}
				if job.CreateTime.IsZero() || job.UpdateTime.IsZero() {
					t.Errorf("create/update times not parsed: %v %v", job.CreateTime, job.UpdateTime)
				}
				if tc.want != genai.JobStateSucceeded {
					if job.Dest != nil {
						t.Errorf("unfinished or unsuccessful job has Dest %+v", job.Dest)
					}
					return
				}
				if job.EndTime.IsZero() {
					t.Error("EndTime not parsed")
				}
				if !tc.inline {
					if c, ok := sim.File(job.Dest.FileName); !ok || c != Content(results) {
						t.Errorf("Dest.FileName = %q does not name the results file", job.Dest.FileName)
					}
					return
				}
				var keys []string
				var errs int
				for _, r := range job.Dest.InlinedResponses {
					keys = append(keys, r.Metadata["key"])
					switch {
					case r.Error != nil && r.Response == nil:
						errs++
						if r.Error.Code == nil || r.Error.Message == "" {
							t.Errorf("incomplete error %+v", r.Error)
						}
					case r.Response != nil && r.Error == nil:
						if r.Response.Text() == "" || r.Response.UsageMetadata.TotalTokenCount == 0 {
							t.Errorf("response without text or usage: %+v", r.Response)
						}
					default:
						t.Errorf("inlined response %+v has both or neither", r)
					}
				}
				want := []string{"request-1", "request-2", "request-3", "request-4", "request-5", "request-6"}
				if diff := cmp.Diff(want, keys); diff != "" || errs != 3 {
					t.Errorf("inlined keys (-want +got):\n%s\nerrors %d, want 3", diff, errs)
				}
			})
		}
	}
}

func TestSDK_filesDownload(t *testing.T) {
	t.Parallel()
	sim, ts := newTestServer(t, Options{})
	results := ResultsFile{Size: 1<<20 + 5, FailureRatio: 0.01}
	name, err := sim.CreateBatch(BatchSpec{Results: results})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := sim.CompleteBatch(name); err != nil {
		t.Fatal(err)
	}
	c := newSDKClient(t, ts)
	job, err := c.Batches.Get(sdkContext(t), name, nil)
	if err != nil {
		t.Fatal(err)
	}
	// A batch's results file is downloaded by name; the SDK reads the name
	// from File.DownloadURI.
	got, err := c.Files.Download(sdkContext(t), genai.NewDownloadURIFromFile(&genai.File{DownloadURI: job.Dest.FileName}), nil)
	if err != nil {
		t.Fatalf("Files.Download: %v", err)
	}
	want := readAll(t, results)
	if !bytes.Equal(got, want) {
		t.Errorf("downloaded %d bytes that differ from the %d generated", len(got), len(want))
	}
	if n := sim.Requests(RouteDownload); n != 1 {
		t.Errorf("download requests = %d, want 1 (the SDK's form is a download)", n)
	}
}

func TestSDK_interactionsGet(t *testing.T) {
	t.Parallel()
	cases := []struct {
		status InteractionStatus
		want   interactions.InteractionStatus
	}{
		{InteractionInProgress, interactions.InteractionStatusInProgress},
		{InteractionCompleted, interactions.InteractionStatusCompleted},
		{InteractionFailed, interactions.InteractionStatusFailed},
		{InteractionCancelled, interactions.InteractionStatusCancelled},
		{InteractionRequiresAction, interactions.InteractionStatusRequiresAction},
	}
	for _, tc := range cases {
		t.Run(string(tc.status), func(t *testing.T) {
			t.Parallel()
			sim, ts := newTestServer(t, Options{})
			id, err := sim.CreateInteraction(InteractionSpec{Input: "Summarize webhooks."})
			if err != nil {
				t.Fatal(err)
			}
			if _, err := advanceInteraction(sim, id, tc.status); err != nil {
				t.Fatal(err)
			}
			res, err := newSDKClient(t, ts).Interactions.Get(sdkContext(t), operations.GetInteractionByIDRequest{ID: id})
			if err != nil {
				t.Fatalf("Interactions.Get: %v", err)
			}
			it := res.Interaction
			if it == nil || it.GetID() == nil || *it.GetID() != id || it.GetStatus() != tc.want {
				t.Fatalf("interaction = %+v, want id %s status %s", it, id, tc.want)
			}
			if it.Agent == nil || string(*it.Agent) != DefaultAgent {
				t.Errorf("agent = %v", it.Agent)
			}
			types := make([]interactions.StepType, len(it.Steps))
			for i, s := range it.Steps {
				types[i] = s.Type
				if s.Type == interactions.StepTypeUnknown {
					t.Errorf("step %d was not recognized by the SDK", i)
				}
			}
			if types[0] != interactions.StepTypeUserInput {
				t.Errorf("step types = %v, want user_input first", types)
			}
			switch tc.want {
			case interactions.InteractionStatusCompleted:
				last := it.Steps[len(it.Steps)-1].ModelOutputStep
				if last == nil || len(last.Content) != 1 || last.Content[0].TextContent == nil {
					t.Fatalf("last step is not a model_output with text: %v", types)
				}
				text := last.Content[0].TextContent
				if report, cites := CitedReport(); text.Text != report || len(text.Annotations) != len(cites) {
					t.Errorf("report %q with %d annotations", text.Text, len(text.Annotations))
				}
				for _, a := range text.Annotations {
					if a.URLCitation == nil || a.URLCitation.URL == nil || a.URLCitation.EndIndex == nil {
						t.Errorf("annotation not parsed as a url_citation: %+v", a)
					}
				}
				if it.Usage == nil || it.Usage.TotalTokens == nil || *it.Usage.TotalTokens == 0 {
					t.Errorf("usage = %+v", it.Usage)
				}
			case interactions.InteractionStatusFailed:
				if len(it.Errors) != 1 || it.Errors[0].Code == nil || *it.Errors[0].Code != "internal" {
					t.Errorf("errors = %+v", it.Errors)
				}
			case interactions.InteractionStatusRequiresAction:
				if last := it.Steps[len(it.Steps)-1].FunctionCallStep; last == nil || last.Name == "" {
					t.Errorf("last step is not a function_call: %v", types)
				}
			}
		})
	}
}

func TestSDK_videosOperation(t *testing.T) {
	t.Parallel()
	sim, ts := newTestServer(t, Options{})
	video := VideoFile{Size: 300_007, Seed: 8}
	name, err := sim.CreateVideo(VideoSpec{Video: video})
	if err != nil {
		t.Fatal(err)
	}
	c := newSDKClient(t, ts)
	op, err := c.Operations.GetVideosOperation(sdkContext(t), &genai.GenerateVideosOperation{Name: name}, nil)
	if err != nil {
		t.Fatalf("GetVideosOperation: %v", err)
	}
	if op.Name != name || op.Done || op.Response != nil {
		t.Errorf("pending operation = %+v", op)
	}
	if _, err := sim.CompleteVideo(name); err != nil {
		t.Fatal(err)
	}
	op, err = c.Operations.GetVideosOperation(sdkContext(t), &genai.GenerateVideosOperation{Name: name}, nil)
	if err != nil {
		t.Fatalf("GetVideosOperation: %v", err)
	}
	if !op.Done || op.Response == nil || len(op.Response.GeneratedVideos) != 1 {
		t.Fatalf("done operation = %+v", op)
	}
	v := op.Response.GeneratedVideos[0]
	if !strings.HasPrefix(v.Video.URI, ts.URL+"/v1beta/files/") {
		t.Errorf("video URI = %q, want one on the simulator", v.Video.URI)
	}
	got, err := c.Files.Download(sdkContext(t), genai.NewDownloadURIFromGeneratedVideo(v), nil)
	if err != nil {
		t.Fatalf("Files.Download: %v", err)
	}
	if !bytes.Equal(got, readAll(t, video)) || !bytes.Equal(v.Video.VideoBytes, got) {
		t.Errorf("downloaded %d bytes (VideoBytes %d) that differ from the %d generated", len(got), len(v.Video.VideoBytes), video.Size)
	}
}

func TestSDK_embeddingBatchesGet(t *testing.T) {
	t.Parallel()
	results := ResultsFile{Size: 6 * DefaultLineSize, FailureRatio: 0.5, Seed: 1}
	for _, inline := range []bool{true, false} {
		t.Run(map[bool]string{true: "inline", false: "file"}[inline], func(t *testing.T) {
			t.Parallel()
			sim, ts := newTestServer(t, Options{})
			name, err := sim.CreateBatch(BatchSpec{Results: results, Inline: inline, Embeddings: true})
			if err != nil {
				t.Fatal(err)
			}
			if _, err := sim.CompleteBatch(name); err != nil {
				t.Fatal(err)
			}
			c := newSDKClient(t, ts)
			job, err := c.Batches.Get(sdkContext(t), name, nil)
			if err != nil {
				t.Fatalf("Batches.Get: %v", err)
			}
			if job.State != genai.JobStateSucceeded || job.Model != "models/"+DefaultEmbeddingModel || job.Dest == nil {
				t.Fatalf("job = %s %s dest %+v", job.State, job.Model, job.Dest)
			}
			if !inline {
				if len(job.Dest.InlinedEmbedContentResponses) != 0 || len(job.Dest.InlinedResponses) != 0 {
					t.Errorf("file batch has inline results: %+v", job.Dest)
				}
				data, err := c.Files.Download(sdkContext(t), genai.NewDownloadURIFromFile(&genai.File{DownloadURI: job.Dest.FileName}), nil)
				if err != nil {
					t.Fatalf("Files.Download: %v", err)
				}
				var succeeded, failed int
				for line := range strings.Lines(string(data)) {
					var l struct {
						Key      string                            `json:"key"`
						Response *genai.SingleEmbedContentResponse `json:"response"`
						Error    *genai.JobError                   `json:"error"`
					}
					if err := json.Unmarshal([]byte(line), &l); err != nil || !strings.HasPrefix(l.Key, "request-") {
						t.Fatalf("line %q: %v", line, err)
					}
					switch {
					case l.Response != nil && l.Error == nil && l.Response.Embedding != nil && len(l.Response.Embedding.Values) == embeddingDims:
						succeeded++
					case l.Error != nil && l.Response == nil:
						failed++
					default:
						t.Errorf("line %q is neither an embedding nor an error", line)
					}
				}
				if succeeded != 3 || failed != 3 {
					t.Errorf("%d embeddings and %d errors, want 3 and 3", succeeded, failed)
				}
				return
			}
			if len(job.Dest.InlinedResponses) != 0 {
				t.Errorf("embedding results read as generation results: %+v", job.Dest.InlinedResponses)
			}
			var keys []string
			var errs int
			for _, r := range job.Dest.InlinedEmbedContentResponses {
				keys = append(keys, r.Metadata["key"].(string))
				switch {
				case r.Error != nil && r.Response == nil:
					errs++
				case r.Response != nil && r.Error == nil:
					if r.Response.Embedding == nil || len(r.Response.Embedding.Values) != embeddingDims {
						t.Errorf("response without an embedding: %+v", r.Response)
					}
				default:
					t.Errorf("inlined response %+v has both or neither", r)
				}
			}
			want := []string{"request-1", "request-2", "request-3", "request-4", "request-5", "request-6"}
			if diff := cmp.Diff(want, keys); diff != "" || errs != 3 {
				t.Errorf("inlined keys (-want +got):\n%s\nerrors %d, want 3", diff, errs)
			}
		})
	}
}

func TestSDK_interactionsErrors(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name     string
		status   int // injected; 0 asks for a missing interaction
		wantCode string
	}{
		{"not_found", 0, "not_found"},
		{"rate_limited", 429, "resource_exhausted"},
		{"unavailable", 503, "unavailable"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			sim, ts := newTestServer(t, Options{})
			id, err := sim.CreateInteraction(InteractionSpec{})
			if err != nil {
				t.Fatal(err)
			}
			if tc.status == 0 {
				id = "missing"
			} else if err := sim.FailNext(RouteInteractions, 1, tc.status); err != nil {
				t.Fatal(err)
			}
			_, err = newSDKClient(t, ts).Interactions.Get(sdkContext(t), operations.GetInteractionByIDRequest{ID: id}, noRetries)
			// The SDK decodes the body into its error models only if it
			// has their string code.
			var code *string
			switch e := err.(type) {
			case *apierrors.GetInteractionByIDClientError:
				code = e.Error_.Code
			case *apierrors.GetInteractionByIDServerError:
				code = e.Error_.Code
			default:
				t.Fatalf("error %T %v, want one of the SDK's interaction error models", err, err)
			}
			if code == nil || *code != tc.wantCode {
				t.Errorf("code = %v, want %q", code, tc.wantCode)
			}
		})
	}
}
