package geminisim

import (
	"bytes"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/lestrrat-go/jwx/v2/jwk"

	"github.com/geminihooks/geminihooks/pkg/event"
)

func TestNew_invalid(t *testing.T) {
	t.Parallel()
	key, err := testKey()
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name string
		opts Options
	}{
		{"no_api_key", Options{SigningKey: key}},
		{"unknown_state_style", Options{APIKey: "k", SigningKey: key, StateStyle: 9}},
		{"negative_retry_after", Options{APIKey: "k", SigningKey: key, RetryAfter: -time.Second}},
		{"negative_complete_after", Options{APIKey: "k", SigningKey: key, CompleteAfter: -time.Second}},
		{"negative_disable_after", Options{APIKey: "k", SigningKey: key, DisableAfterFailures: -1}},
		{"invalid_retry_policy", Options{APIKey: "k", SigningKey: key, Retry: RetryPolicy{Multiplier: 0.5}}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			if _, err := New(tc.opts); !errors.Is(err, ErrInvalidSpec) {
				t.Errorf("New() error = %v, want ErrInvalidSpec", err)
			}
		})
	}
}

// fixture creates one job of each kind, all finished, and returns the paths
// that serve them.
func fixture(t *testing.T, sim *Server) map[Route]string {
	t.Helper()
	batch, err := sim.CreateBatch(BatchSpec{Results: ResultsFile{Size: 4096}})
	if err != nil {
		t.Fatal(err)
	}
	n, err := sim.CompleteBatch(batch)
	if err != nil {
		t.Fatal(err)
	}
	it, err := sim.CreateInteraction(InteractionSpec{})
	if err != nil {
		t.Fatal(err)
	}
	op, err := sim.CreateVideo(VideoSpec{})
	if err != nil {
		t.Fatal(err)
	}
	return map[Route]string{
		RouteBatches:      "/v1beta/" + batch,
		RouteFiles:        "/v1beta/" + n.Data.OutputFileURI,
		RouteDownload:     "/download/v1beta/" + n.Data.OutputFileURI + ":download?alt=media",
		RouteInteractions: "/v1beta/interactions/" + it,
		RouteOperations:   "/v1beta/" + op,
	}
}

func TestServer_keyTwice(t *testing.T) {
	t.Parallel()
	sim, ts := newTestServer(t, Options{})
	paths := fixture(t, sim)
	cases := []struct {
		name  string
		query string // key= next to the right key in the header
	}{
		{"same_key", testAPIKey},
		{"other_key", "nope"},
	}
	for route, path := range paths {
		for _, tc := range cases {
			t.Run(string(route)+"/"+tc.name, func(t *testing.T) {
				t.Parallel()
				sep := "?"
				if strings.Contains(path, "?") {
					sep = "&"
				}
				resp := get(t, ts.URL+path+sep+"key="+tc.query, testAPIKey)
				if route != RouteInteractions {
					// Only the Interactions API is known to refuse it; the
					// header's key counts.
					if resp.status != http.StatusOK {
						t.Fatalf("status = %d, want 200\n%s", resp.status, resp.body)
					}
					return
				}
				if resp.status != http.StatusBadRequest {
					t.Fatalf("status = %d, want 400\n%s", resp.status, resp.body)
				}
				wantError(t, route, resp.body, http.StatusBadRequest, "INVALID_ARGUMENT")
				if e := decodeInteractionsError(t, resp.body); e.Message != msgMultipleCredentials {
					t.Errorf("message = %q, want %q", e.Message, msgMultipleCredentials)
				}
			})
		}
	}
}

func TestServer_auth(t *testing.T) {
	t.Parallel()
	sim, ts := newTestServer(t, Options{})
	paths := fixture(t, sim)
	cases := []struct {
		name       string
		header     string // x-goog-api-key
		query      string // key=
		wantStatus int
		wantRPC    string
		wantReason string
	}{
		{"no_key", "", "", http.StatusForbidden, "PERMISSION_DENIED", ""},
		{"wrong_header_key", "nope", "", http.StatusBadRequest, "INVALID_ARGUMENT", "API_KEY_INVALID"},
		{"wrong_query_key", "", "nope", http.StatusBadRequest, "INVALID_ARGUMENT", "API_KEY_INVALID"},
		{"header_key", testAPIKey, "", http.StatusOK, "", ""},
		{"query_key", "", testAPIKey, http.StatusOK, "", ""},
	}
	for route, path := range paths {
		for _, tc := range cases {
			t.Run(string(route)+"/"+tc.name, func(t *testing.T) {
				t.Parallel()
				url := ts.URL + path
				if tc.query != "" {
					sep := "?"
					if strings.Contains(url, "?") {
						sep = "&"
					}
					url += sep + "key=" + tc.query
				}
				resp := get(t, url, tc.header)
				if resp.status != tc.wantStatus {
					t.Fatalf("status = %d, want %d\n%s", resp.status, tc.wantStatus, resp.body)
				}
				if tc.wantStatus == http.StatusOK {
					return
				}
				e := decodeError(t, resp.body)
				if e.Error.Code != tc.wantStatus || e.Error.Status != tc.wantRPC {
					t.Errorf("error = %+v, want code %d status %s", e.Error, tc.wantStatus, tc.wantRPC)
				}
				if tc.wantReason != "" && (len(e.Error.Details) != 1 || e.Error.Details[0]["reason"] != tc.wantReason) {
					t.Errorf("details = %v, want reason %s", e.Error.Details, tc.wantReason)
				}
			})
		}
	}
	t.Run("jwks_needs_no_key", func(t *testing.T) {
		t.Parallel()
		if resp := get(t, ts.URL+"/.well-known/jwks.json", ""); resp.status != http.StatusOK {
			t.Errorf("status = %d, want 200", resp.status)
		}
	})
}

func TestServer_notFound(t *testing.T) {
	t.Parallel()
	_, ts := newTestServer(t, Options{})
	cases := []struct {
		name  string
		path  string
		route Route // whose error format applies
	}{
		{"batch", "/v1beta/batches/missing", RouteBatches},
		{"file", "/v1beta/files/missing", RouteFiles},
		{"download_sdk_form", "/v1beta/files/missing:download?alt=media", RouteDownload},
		{"download_documented_form", "/download/v1beta/files/missing:download?alt=media", RouteDownload},
		{"download_without_verb", "/download/v1beta/files/missing", RouteDownload},
		{"interaction", "/v1beta/interactions/missing", RouteInteractions},
		{"operation", "/v1beta/models/veo-3.0-generate-001/operations/missing", RouteOperations},
		{"operation_short_form", "/v1beta/operations/missing", RouteOperations},
		{"unknown_path", "/v1beta/tunedModels/x", RouteUnknown},
		{"root", "/", RouteUnknown},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			resp := get(t, ts.URL+tc.path, testAPIKey)
			if resp.status != http.StatusNotFound {
				t.Fatalf("status = %d, want 404\n%s", resp.status, resp.body)
			}
			wantError(t, tc.route, resp.body, http.StatusNotFound, "NOT_FOUND")
		})
	}
	t.Run("post_is_not_served", func(t *testing.T) {
		t.Parallel()
		resp, err := http.Post(ts.URL+"/v1beta/batches/x:cancel", "application/json", strings.NewReader("{}"))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		if resp.StatusCode != http.StatusNotFound {
			t.Errorf("status = %d, want 404", resp.StatusCode)
		}
	})
}

func TestServer_batchStates(t *testing.T) {
	t.Parallel()
	results := ResultsFile{Size: 10 * DefaultLineSize, FailureRatio: 0.2} // 10 lines, 2 failed
	cases := []struct {
		name      string
		state     BatchState
		done      bool
		stats     map[string]any
		wantError float64 // error.code; 0 for none
		wantOut   bool
	}{
		{"pending", BatchPending, false, map[string]any{"requestCount": "10", "pendingRequestCount": "10"}, 0, false},
		{"running", BatchRunning, false, map[string]any{"requestCount": "10", "pendingRequestCount": "10"}, 0, false},
		{"succeeded", BatchSucceeded, true,
			map[string]any{"requestCount": "10", "successfulRequestCount": "8", "failedRequestCount": "2"}, 0, true},
		{"failed", BatchFailed, true, map[string]any{"requestCount": "10", "failedRequestCount": "10"}, 13, false},
		{"cancelled", BatchCancelled, true, map[string]any{"requestCount": "10", "pendingRequestCount": "10"}, 1, false},
		{"expired", BatchExpired, true, map[string]any{"requestCount": "10", "pendingRequestCount": "10"}, 4, false},
	}
	for _, style := range []struct {
		name   string
		style  StateStyle
		prefix string
	}{{"api_style", StateStyleAPI, "BATCH_STATE_"}, {"guide_style", StateStyleGuide, "JOB_STATE_"}} {
		for _, tc := range cases {
			t.Run(style.name+"/"+tc.name, func(t *testing.T) {
				t.Parallel()
				sim, ts := newTestServer(t, Options{StateStyle: style.style})
				name, err := sim.CreateBatch(BatchSpec{ID: "b1", Model: "models/gemini-2.5-pro", DisplayName: "nightly", Results: results})
				if err != nil {
					t.Fatal(err)
				}
				if name != "batches/b1" {
					t.Fatalf("CreateBatch name = %q", name)
				}
				if err := advanceBatch(sim, name, tc.state); err != nil {
					t.Fatal(err)
				}
				resp := get(t, ts.URL+"/v1beta/batches/b1", testAPIKey)
				if resp.status != http.StatusOK {
					t.Fatalf("status = %d\n%s", resp.status, resp.body)
				}
				op := decode(t, resp.body)
				md, _ := op["metadata"].(map[string]any)
				want := map[string]any{
					"@type": batchMetadataType, "model": "models/gemini-2.5-pro", "displayName": "nightly",
					"state": style.prefix + tc.state.String(), "name": "batches/b1", "batchStats": tc.stats,
				}
				got := map[string]any{}
				for k := range want {
					got[k] = md[k]
				}
				if diff := cmp.Diff(want, got); diff != "" {
					t.Errorf("metadata mismatch (-want +got):\n%s", diff)
				}
				if op["name"] != "batches/b1" {
					t.Errorf("name = %v", op["name"])
				}
				if done, present := op["done"]; present != tc.done || (present && done != true) {
					t.Errorf("done = %v (present %v), want %v; proto3 JSON omits false", done, present, tc.done)
				}
				for _, f := range []string{"createTime", "updateTime"} {
					if _, err := time.Parse(time.RFC3339Nano, md[f].(string)); err != nil {
						t.Errorf("%s: %v", f, err)
					}
				}
				if _, hasEnd := md["endTime"]; hasEnd != tc.done {
					t.Errorf("endTime present = %v, want %v", hasEnd, tc.done)
				}
				opErr, hasErr := op["error"].(map[string]any)
				if hasErr != (tc.wantError != 0) || (hasErr && opErr["code"] != tc.wantError) {
					t.Errorf("error = %v, want code %v", op["error"], tc.wantError)
				}
				out, hasOut := md["output"].(map[string]any)
				respField, hasResp := op["response"].(map[string]any)
				if hasOut != tc.wantOut || hasResp != tc.wantOut {
					t.Fatalf("output present %v, response present %v; want %v", hasOut, hasResp, tc.wantOut)
				}
				if tc.wantOut {
					file, _ := out["responsesFile"].(string)
					if !strings.HasPrefix(file, "files/") || respField["responsesFile"] != file || respField["@type"] != batchOutputType {
						t.Errorf("output = %v, response = %v", out, respField)
					}
					if c, ok := sim.File(file); !ok || c != Content(results) {
						t.Errorf("File(%q) = %v, %v; want the batch's results", file, c, ok)
					}
				}
			})
		}
	}
}

func TestServer_batchTransitions(t *testing.T) {
	t.Parallel()
	sim, _ := newTestServer(t, Options{})
	name, err := sim.CreateBatch(BatchSpec{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := sim.CreateBatch(BatchSpec{ID: strings.TrimPrefix(name, "batches/")}); !errors.Is(err, ErrInvalidSpec) {
		t.Errorf("duplicate CreateBatch error = %v, want ErrInvalidSpec", err)
	}
	if _, err := sim.CompleteBatch(name); err != nil {
		t.Fatal(err)
	}
	if _, err := sim.CancelBatch(name); !errors.Is(err, ErrWrongState) {
		t.Errorf("cancelling a finished batch: %v, want ErrWrongState", err)
	}
	if err := sim.StartBatch(name); !errors.Is(err, ErrWrongState) {
		t.Errorf("starting a finished batch: %v, want ErrWrongState", err)
	}
	if _, err := sim.CompleteBatch("batches/missing"); !errors.Is(err, ErrNotFound) {
		t.Errorf("completing a missing batch: %v, want ErrNotFound", err)
	}
	if _, err := sim.CreateBatch(BatchSpec{Inline: true, Results: ResultsFile{Size: MaxInlineResultsSize + 1}}); !errors.Is(err, ErrInvalidSpec) {
		t.Errorf("oversized inline batch: %v, want ErrInvalidSpec", err)
	}
}

func TestServer_inlinedBatch(t *testing.T) {
	t.Parallel()
	sim, ts := newTestServer(t, Options{})
	results := ResultsFile{Size: 5 * DefaultLineSize, FailureRatio: 0.4}
	name, err := sim.CreateBatch(BatchSpec{Inline: true, Results: results})
	if err != nil {
		t.Fatal(err)
	}
	n, err := sim.CompleteBatch(name)
	if err != nil {
		t.Fatal(err)
	}
	if n.Data.OutputFileURI != "" {
		t.Errorf("inline batch notification has output_file_uri %q", n.Data.OutputFileURI)
	}
	op := decode(t, get(t, ts.URL+"/v1beta/"+name, testAPIKey).body)
	for _, where := range []map[string]any{op["metadata"].(map[string]any)["output"].(map[string]any), op["response"].(map[string]any)} {
		list := where["inlinedResponses"].(map[string]any)["inlinedResponses"].([]any)
		var keys []string
		var errs int
		for _, item := range list {
			m := item.(map[string]any)
			keys = append(keys, m["metadata"].(map[string]any)["key"].(string))
			_, hasResp := m["response"]
			_, hasErr := m["error"]
			if hasResp == hasErr {
				t.Errorf("inlined response %v must have exactly one of response and error", m)
			}
			if hasErr {
				errs++
			}
		}
		want := []string{"request-1", "request-2", "request-3", "request-4", "request-5"}
		if diff := cmp.Diff(want, keys); diff != "" || errs != 2 {
			t.Errorf("inlined keys (-want +got):\n%s\nerrors = %d, want 2", diff, errs)
		}
	}
}

func TestServer_download(t *testing.T) {
	t.Parallel()
	sim, ts := newTestServer(t, Options{})
	results := ResultsFile{Size: 3<<20 + 17, FailureRatio: 0.1, Seed: 11}
	name, err := sim.AddFile(results)
	if err != nil {
		t.Fatal(err)
	}
	var want bytes.Buffer
	if _, err := results.NewReader().WriteTo(&want); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name      string
		path      string
		header    []string
		status    int
		wantBytes []byte
	}{
		{"documented_form", "/download/v1beta/" + name + ":download?alt=media", nil, 200, want.Bytes()},
		{"sdk_form", "/v1beta/" + name + ":download?alt=media", nil, 200, want.Bytes()},
		{"range_suffix", "/v1beta/" + name + ":download?alt=media", []string{"Range", "bytes=1000000-"}, 206, want.Bytes()[1000000:]},
		{"range_middle", "/v1beta/" + name + ":download?alt=media", []string{"Range", "bytes=5-1004"}, 206, want.Bytes()[5:1005]},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			resp := get(t, ts.URL+tc.path, testAPIKey, tc.header...)
			if resp.status != tc.status {
				t.Fatalf("status = %d, want %d\n%.300s", resp.status, tc.status, resp.body)
			}
			if !bytes.Equal(resp.body, tc.wantBytes) {
				t.Errorf("body differs from the generator's bytes (%d vs %d bytes)", len(resp.body), len(tc.wantBytes))
			}
			if got := resp.header.Get("Content-Type"); got != "application/jsonl" {
				t.Errorf("Content-Type = %q", got)
			}
			if got, want := resp.header.Get("Content-Length"), len(tc.wantBytes); got != strconv.Itoa(want) {
				t.Errorf("Content-Length = %q, want %d", got, want)
			}
		})
	}
	t.Run("alt_media_required", func(t *testing.T) {
		t.Parallel()
		resp := get(t, ts.URL+"/v1beta/"+name+":download", testAPIKey)
		if resp.status != http.StatusBadRequest || decodeError(t, resp.body).Error.Status != "INVALID_ARGUMENT" {
			t.Errorf("status = %d, body %s; want 400 INVALID_ARGUMENT", resp.status, resp.body)
		}
	})
	t.Run("metadata", func(t *testing.T) {
		t.Parallel()
		m := decode(t, get(t, ts.URL+"/v1beta/"+name, testAPIKey).body)
		want := map[string]any{"name": name, "mimeType": "application/jsonl", "sizeBytes": strconv.Itoa(int(results.Size)),
			"state": "ACTIVE", "downloadUri": ts.URL + "/download/v1beta/" + name + ":download?alt=media"}
		got := map[string]any{}
		for k := range want {
			got[k] = m[k]
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("file metadata mismatch (-want +got):\n%s", diff)
		}
	})
}

func TestServer_interactions(t *testing.T) {
	t.Parallel()
	cases := []struct {
		status     InteractionStatus
		lastStep   string
		wantErrors any // the decoded "errors" field; nil when absent
		wantUsage  bool
	}{
		{InteractionInProgress, "google_search_call", nil, false},
		{InteractionCompleted, "model_output", nil, true},
		{InteractionFailed, "thought", []any{map[string]any{"code": "internal", "message": "agent crashed"}}, false},
		{InteractionCancelled, "google_search_call", nil, false},
		{InteractionRequiresAction, "function_call", nil, false},
	}
	for _, tc := range cases {
		t.Run(string(tc.status), func(t *testing.T) {
			t.Parallel()
			sim, ts := newTestServer(t, Options{})
			id, err := sim.CreateInteraction(InteractionSpec{ID: "it1", Input: "Why is the sky blue?",
				UserMetadata: map[string]any{"job_group": "nightly"}})
			if err != nil {
				t.Fatal(err)
			}
			n, err := advanceInteraction(sim, id, tc.status)
			if err != nil {
				t.Fatal(err)
			}
			if tc.status != InteractionInProgress &&
				(n.Type != "interaction."+string(tc.status) || n.Data.ID != "it1" || n.Data.UserMetadata["job_group"] != "nightly") {
				t.Errorf("notification = %+v", n)
			}
			res := decode(t, get(t, ts.URL+"/v1beta/interactions/it1", testAPIKey).body)
			if res["id"] != "it1" || res["status"] != string(tc.status) || res["agent"] != DefaultAgent {
				t.Errorf("id/status/agent = %v/%v/%v", res["id"], res["status"], res["agent"])
			}
			steps := res["steps"].([]any)
			first := steps[0].(map[string]any)
			if first["type"] != "user_input" || first["content"].([]any)[0].(map[string]any)["text"] != "Why is the sky blue?" {
				t.Errorf("first step = %v", first)
			}
			last := steps[len(steps)-1].(map[string]any)
			if last["type"] != tc.lastStep {
				t.Errorf("last step type = %v, want %s", last["type"], tc.lastStep)
			}
			if diff := cmp.Diff(tc.wantErrors, res["errors"]); diff != "" {
				t.Errorf("errors (-want +got):\n%s", diff)
			}
			if _, ok := res["usage"]; ok != tc.wantUsage {
				t.Errorf("usage present = %v, want %v", ok, tc.wantUsage)
			}
			if tc.lastStep == "model_output" {
				text := last["content"].([]any)[0].(map[string]any)
				report := text["text"].(string)
				anns := text["annotations"].([]any)
				if _, want := CitedReport(); len(anns) != len(want) {
					t.Fatalf("annotations = %v, want the %d of the default report", anns, len(want))
				}
				for _, a := range anns {
					a := a.(map[string]any)
					start, end := int(a["start_index"].(float64)), int(a["end_index"].(float64))
					if a["type"] != "url_citation" || a["url"] == "" || start >= end || end > len(report) {
						t.Errorf("bad annotation %v for a %d-byte report", a, len(report))
					}
				}
			}
		})
	}
	t.Run("transitions", func(t *testing.T) {
		t.Parallel()
		sim, _ := newTestServer(t, Options{})
		id, err := sim.CreateInteraction(InteractionSpec{Model: "gemini-2.5-flash"})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := sim.RequireAction(id); err != nil {
			t.Fatal(err)
		}
		if _, err := sim.RequireAction(id); !errors.Is(err, ErrWrongState) {
			t.Errorf("second RequireAction: %v, want ErrWrongState", err)
		}
		if _, err := sim.CompleteInteraction(id); err != nil {
			t.Errorf("completing after requires_action: %v", err)
		}
		if _, err := sim.CancelInteraction(id); !errors.Is(err, ErrWrongState) {
			t.Errorf("cancelling a completed interaction: %v, want ErrWrongState", err)
		}
		if _, err := sim.CreateInteraction(InteractionSpec{Agent: "a", Model: "m"}); !errors.Is(err, ErrInvalidSpec) {
			t.Errorf("agent and model: %v, want ErrInvalidSpec", err)
		}
		if _, err := sim.CreateInteraction(InteractionSpec{Report: "short", Citations: []Citation{{StartIndex: 0, EndIndex: 10}}}); !errors.Is(err, ErrInvalidSpec) {
			t.Errorf("citation beyond the report: %v, want ErrInvalidSpec", err)
		}
	})
}

func TestServer_video(t *testing.T) {
	t.Parallel()
	sim, ts := newTestServer(t, Options{BaseURL: "https://sim.example"})
	video := VideoFile{Size: 200_000, Seed: 3}
	name, err := sim.CreateVideo(VideoSpec{ID: "op1", Model: "veo-3.1-generate-preview", Video: video})
	if err != nil {
		t.Fatal(err)
	}
	if name != "models/veo-3.1-generate-preview/operations/op1" {
		t.Fatalf("CreateVideo name = %q", name)
	}
	op := decode(t, get(t, ts.URL+"/v1beta/"+name, testAPIKey).body)
	if diff := cmp.Diff(map[string]any{"name": name}, op); diff != "" {
		t.Errorf("pending operation (-want +got):\n%s", diff)
	}
	// The API documents operations under their model only.
	for _, path := range []string{"/v1beta/models/other-model/operations/op1", "/v1beta/operations/op1"} {
		if resp := get(t, ts.URL+path, testAPIKey); resp.status != http.StatusNotFound {
			t.Errorf("%s: status %d, want 404", path, resp.status)
		}
	}
	n, err := sim.CompleteVideo(name)
	if err != nil {
		t.Fatal(err)
	}
	fileID := strings.TrimPrefix(n.Data.FileName, "files/")
	wantURI := "https://sim.example/v1beta/files/" + fileID + ":download?alt=media"
	if n.Type != event.TypeVideoGenerated || n.Data.ID != name || n.Data.OutputFileURI != wantURI {
		t.Errorf("notification = %+v, want output_file_uri %s", n, wantURI)
	}
	op = decode(t, get(t, ts.URL+"/v1beta/"+name, testAPIKey).body)
	want := map[string]any{"name": name, "done": true, "response": map[string]any{
		"@type": predictResponseType,
		"generateVideoResponse": map[string]any{"generatedSamples": []any{
			map[string]any{"video": map[string]any{"uri": wantURI}},
		}},
	}}
	if diff := cmp.Diff(want, op); diff != "" {
		t.Errorf("done operation (-want +got):\n%s", diff)
	}
	resp := get(t, ts.URL+"/v1beta/files/"+fileID+":download?alt=media", testAPIKey)
	wantBytes, _ := io.ReadAll(video.NewReader())
	if resp.status != 200 || resp.header.Get("Content-Type") != "video/mp4" || !bytes.Equal(resp.body, wantBytes) {
		t.Errorf("video download: status %d, type %q, %d bytes (want %d)", resp.status, resp.header.Get("Content-Type"), len(resp.body), len(wantBytes))
	}
	if _, err := sim.CompleteVideo(name); !errors.Is(err, ErrWrongState) {
		t.Errorf("completing twice: %v, want ErrWrongState", err)
	}
}

func TestServer_jwksRotation(t *testing.T) {
	t.Parallel()
	sim, ts := newTestServer(t, Options{})
	fetch := func() []string {
		resp := get(t, ts.URL+"/.well-known/jwks.json", "")
		set, err := jwk.Parse(resp.body)
		if err != nil {
			t.Fatalf("JWKS does not parse: %v", err)
		}
		var kids []string
		for i := range set.Len() {
			k, _ := set.Key(i)
			if _, isPrivate := k.(jwk.RSAPrivateKey); isPrivate {
				t.Fatal("JWKS publishes a private key")
			}
			if k.Algorithm().String() != "RS256" {
				t.Errorf("key %s has alg %v", k.KeyID(), k.Algorithm())
			}
			kids = append(kids, k.KeyID())
		}
		return kids
	}
	first := sim.KeyID()
	if diff := cmp.Diff([]string{first}, fetch()); diff != "" {
		t.Errorf("JWKS kids (-want +got):\n%s", diff)
	}
	second, err := sim.RotateKey()
	if err != nil {
		t.Fatal(err)
	}
	if second == first || sim.KeyID() != second {
		t.Errorf("after RotateKey: kid %q, current %q, first %q", second, sim.KeyID(), first)
	}
	if diff := cmp.Diff([]string{first, second}, fetch()); diff != "" {
		t.Errorf("JWKS kids after rotation (-want +got):\n%s", diff)
	}
}

func TestServer_start(t *testing.T) {
	t.Parallel()
	key, err := testKey()
	if err != nil {
		t.Fatal(err)
	}
	sim, err := New(Options{APIKey: testAPIKey, SigningKey: key})
	if err != nil {
		t.Fatal(err)
	}
	if sim.URL() != "" {
		t.Errorf("URL before Start = %q", sim.URL())
	}
	if err := sim.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = sim.Close() })
	if err := sim.Start(); err == nil {
		t.Error("second Start succeeded")
	}
	if resp := get(t, sim.URL()+"/.well-known/jwks.json", ""); resp.status != http.StatusOK {
		t.Errorf("JWKS on the started server: %d", resp.status)
	}
	op, err := sim.CreateVideo(VideoSpec{})
	if err != nil {
		t.Fatal(err)
	}
	n, err := sim.CompleteVideo(op)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(n.Data.OutputFileURI, sim.URL()+"/v1beta/files/") {
		t.Errorf("output_file_uri %q does not use the started URL %s", n.Data.OutputFileURI, sim.URL())
	}
	// The download host is a second listener, and serves the video.
	if dl := sim.DownloadURL(); dl == "" || dl == sim.URL() {
		t.Errorf("DownloadURL = %q, want a second listener besides %s", dl, sim.URL())
	}
	if resp := get(t, n.Data.OutputFileURI, testAPIKey); resp.status != http.StatusOK || int64(len(resp.body)) != DefaultVideoSize {
		t.Errorf("video download from the started server: status %d, %d bytes", resp.status, len(resp.body))
	}
	if sim.Requests(RouteDownloadHost) != 1 {
		t.Errorf("download host requests = %d, want 1", sim.Requests(RouteDownloadHost))
	}
	if err := sim.Close(); err != nil {
		t.Fatal(err)
	}
	if sim.DownloadURL() != "" {
		t.Errorf("DownloadURL after Close = %q", sim.DownloadURL())
	}
}

// TestServer_downloadRedirect checks the download host: the API answers a
// download with a redirect to a signed URL on another host:port, which
// serves the bytes only to a request that carries no API key.
func TestServer_downloadRedirect(t *testing.T) {
	t.Parallel()
	sim, ts := newTestServer(t, Options{})
	data := []byte("0123456789abcdef")
	name, err := sim.AddFile(StaticFile{Data: data})
	if err != nil {
		t.Fatal(err)
	}
	noFollow := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, ts.URL+"/download/v1beta/"+name+":download?alt=media", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("x-goog-api-key", testAPIKey)
	resp, err := noFollow.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	location := resp.Header.Get("Location")
	if resp.StatusCode != http.StatusFound || !strings.HasPrefix(location, sim.DownloadURL()+"/") {
		t.Fatalf("download answered %d to %q, want 302 to the download host %s", resp.StatusCode, location, sim.DownloadURL())
	}
	if strings.Contains(location, testAPIKey) {
		t.Errorf("the redirect carries the API key: %s", location)
	}
	unsigned, _, _ := strings.Cut(location, "?")
	cases := []struct {
		name   string
		url    string
		key    string
		status int
	}{
		{"signed_without_key", location, "", http.StatusOK},
		{"signed_with_key_header", location, testAPIKey, http.StatusBadRequest},
		{"signed_with_key_param", location + "&key=" + testAPIKey, "", http.StatusBadRequest},
		{"unsigned", unsigned, "", http.StatusForbidden},
		{"tampered", location + "x", "", http.StatusForbidden},
		{"other_file", strings.Replace(location, strings.TrimPrefix(name, "files/"), "other", 1), "", http.StatusForbidden},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			resp := get(t, tc.url, tc.key)
			if resp.status != tc.status {
				t.Fatalf("status = %d, want %d\n%.300s", resp.status, tc.status, resp.body)
			}
			if tc.status == http.StatusOK && !bytes.Equal(resp.body, data) {
				t.Errorf("body = %q, want %q", resp.body, data)
			}
		})
	}
	t.Run("plain_client_leaks_the_key_and_is_refused", func(t *testing.T) {
		t.Parallel()
		// net/http forwards x-goog-api-key to the next host: the download
		// host's refusal is what makes such a client fail its tests.
		req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, ts.URL+"/v1beta/"+name+":download?alt=media", nil)
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("x-goog-api-key", testAPIKey)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusBadRequest {
			t.Errorf("status = %d, want 400", resp.StatusCode)
		}
	})
}

func TestServer_noDownloadHost(t *testing.T) {
	t.Parallel()
	key, err := testKey()
	if err != nil {
		t.Fatal(err)
	}
	sim, err := New(Options{APIKey: testAPIKey, SigningKey: key})
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(sim)
	t.Cleanup(ts.Close)
	name, err := sim.AddFile(StaticFile{Data: []byte("x")})
	if err != nil {
		t.Fatal(err)
	}
	if resp := get(t, ts.URL+"/download/v1beta/"+name+":download?alt=media", testAPIKey); resp.status != http.StatusInternalServerError {
		t.Errorf("download without a download host: status %d, want 500", resp.status)
	}
}
