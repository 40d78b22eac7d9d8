package cli_test

import (
	"context"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"cloud.google.com/go/firestore/apiv1/firestorepb"
	"github.com/google/go-cmp/cmp"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/geminihooks/geminihooks/pkg/event"
	"github.com/geminihooks/geminihooks/pkg/gemini"
	"github.com/geminihooks/geminihooks/pkg/registry"
)

// receiverURL stands for the deployed receiver in tests where nothing is
// delivered.
const receiverURL = "https://hooks.example.com/gemini"

const goodLine = `{"key": "r1", "request": {"contents": [{"parts": [{"text": "Say hi"}]}]}}`

func TestSubmitRefusesBadInputAndCreatesNothing(t *testing.T) {
	t.Parallel()
	good := tempFile(t, "good.jsonl", goodLine+"\n")
	big := filepath.Join(t.TempDir(), "big.jsonl")
	f, err := os.Create(big)
	if err != nil {
		t.Fatal(err)
	}
	// Sparse: the size check comes before any line is read.
	if err := f.Truncate(21_000_000); err != nil {
		t.Fatal(err)
	}
	_ = f.Close()

	tests := []struct {
		name     string
		args     []string
		noHook   bool // WEBHOOK_URL unset
		wantCode int
		want     []string // in stderr
	}{
		{
			name: "missing_input_file", args: []string{"batch", "--model", "gemini-2.5-flash", "--input", filepath.Join(t.TempDir(), "nope.jsonl")},
			wantCode: 2, want: []string{"nope.jsonl does not exist"},
		},
		{
			name: "malformed_json_on_line_3",
			args: []string{"batch", "--model", "gemini-2.5-flash", "--input", tempFile(t, "bad.jsonl",
				goodLine+"\n"+strings.Replace(goodLine, "r1", "r2", 1)+"\n"+`{"key": "r3", "request": {"contents": [}`+"\n"+strings.Replace(goodLine, "r1", "r4", 1)+"\n")},
			wantCode: 2, want: []string{"bad.jsonl line 3: not a JSON object", "nothing was created"},
		},
		{
			name:     "missing_key",
			args:     []string{"batch", "--model", "m", "--input", tempFile(t, "nokey.jsonl", goodLine+"\n"+`{"request": {"contents": [{"parts": [{"text": "x"}]}]}}`+"\n")},
			wantCode: 2, want: []string{"nokey.jsonl line 2: \"key\" is missing"},
		},
		{
			name:     "duplicate_key",
			args:     []string{"batch", "--model", "m", "--input", tempFile(t, "dup.jsonl", goodLine+"\n"+goodLine+"\n")},
			wantCode: 2, want: []string{"dup.jsonl line 2: key \"r1\" is also on line 1"},
		},
		{
			name:     "request_without_contents",
			args:     []string{"batch", "--model", "m", "--input", tempFile(t, "nocontents.jsonl", `{"key": "a", "request": {"generationConfig": {}}}`+"\n")},
			wantCode: 2, want: []string{"nocontents.jsonl line 1: \"request\" needs \"contents\""},
		},
		{
			name:     "unknown_line_field",
			args:     []string{"batch", "--model", "m", "--input", tempFile(t, "extra.jsonl", `{"key": "a", "requests": {}}`+"\n")},
			wantCode: 2, want: []string{`extra.jsonl line 1: unknown field "requests"`},
		},
		{
			name:     "blank_line",
			args:     []string{"batch", "--model", "m", "--input", tempFile(t, "blank.jsonl", goodLine+"\n\n"+strings.Replace(goodLine, "r1", "r2", 1)+"\n")},
			wantCode: 2, want: []string{"blank.jsonl line 2: empty line"},
		},
		{
			name:     "empty_file",
			args:     []string{"batch", "--model", "m", "--input", tempFile(t, "empty.jsonl", "")},
			wantCode: 2, want: []string{"holds no requests"},
		},
		{
			name: "inline_field_the_sdk_cannot_send",
			args: []string{"batch", "--model", "m", "--inline", "--input", tempFile(t, "odd.jsonl",
				`{"key": "a", "request": {"contents": [{"parts": [{"text": "x"}]}], "frobnicate": true}}`+"\n")},
			wantCode: 2, want: []string{"odd.jsonl line 1: the request cannot be sent inline", "frobnicate", "drop --inline"},
		},
		{
			name:     "inline_too_large",
			args:     []string{"batch", "--model", "m", "--inline", "--input", big},
			wantCode: 2, want: []string{"is 21000000 bytes; the Batch API takes at most 20000000 (20 MB) inline", "drop --inline"},
		},
		{
			name: "no_model", args: []string{"batch", "--input", good},
			wantCode: 2, want: []string{"--model is required"},
		},
		{
			name: "no_webhook_url", args: []string{"batch", "--model", "m", "--input", good}, noHook: true,
			wantCode: 2, want: []string{"no webhook URL", "WEBHOOK_URL", "terraform output -raw webhook_url"},
		},
		{
			name: "plain_http_webhook", args: []string{"video", "--prompt", "boats", "--webhook-url", "http://hooks.example.com/"},
			wantCode: 2, want: []string{`webhook URL "http://hooks.example.com/" (--webhook-url) must use https`},
		},
		{
			name: "bad_metadata", args: []string{"research", "--prompt", "x", "--metadata", "novalue"},
			wantCode: 2, want: []string{"--metadata wants key=value"},
		},
		{
			name: "metadata_twice", args: []string{"research", "--prompt", "x", "--metadata", "a=1", "--metadata", "a=2"},
			wantCode: 2, want: []string{"--metadata a is given twice"},
		},
		{
			name: "no_prompt", args: []string{"research"},
			wantCode: 2, want: []string{"--prompt is required"},
		},
		{
			name: "timeout_without_wait", args: []string{"video", "--prompt", "x", "--timeout", "1m"},
			wantCode: 2, want: []string{"--timeout and --results-topic go with --wait"},
		},
		{
			name: "unknown_subcommand", args: []string{"movie", "--prompt", "x"},
			wantCode: 2, want: []string{`unknown subcommand "movie"`},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			st := newJobsStack(t)
			env := st.env(receiverURL)
			if tt.noHook {
				delete(env, "WEBHOOK_URL")
			}
			r := runCLI(t, env, append([]string{"submit"}, tt.args...)...)
			if r.code != tt.wantCode {
				t.Errorf("exit code %d, want %d", r.code, tt.wantCode)
			}
			for _, w := range tt.want {
				if !strings.Contains(r.stderr, w) {
					t.Errorf("stderr lacks %q", w)
				}
			}
			st.assertUntouched(t)
		})
	}
}

// submitOut is submit's --json output, as far as the tests read it.
type submitOut struct {
	Job       string     `json:"job"`
	Kind      event.Kind `json:"kind"`
	InputFile string     `json:"input_file"`
	Requests  int        `json:"requests"`
	Webhook   struct {
		URL  string `json:"url"`
		From string `json:"from"`
	} `json:"webhook"`
	UserMetadata map[string]any     `json:"user_metadata"`
	Registry     string             `json:"registry"`
	ExpectedAt   time.Time          `json:"expected_at"`
	Results      *event.ResultsData `json:"results"`
}

func TestSubmitCreatesEachKindWithItsWebhookAndRegistersIt(t *testing.T) {
	t.Parallel()
	input := tempFile(t, "requests.jsonl", goodLine+"\n"+
		strings.Replace(goodLine, "r1", "r2", 1)+"\n"+
		`{"key": "r3", "request": {"contents": [{"parts": [{"text": "Say bye"}]}], "generationConfig": {"temperature": 0.2}}}`+"\n")
	wantMetadata := map[string]any{"tenant": "acme", "run": "7"}
	metadataArgs := []string{"--metadata", "tenant=acme", "--metadata", "run=7"}

	tests := []struct {
		name     string
		args     []string
		kind     event.Kind
		flagHook bool          // the webhook comes from --webhook-url, not WEBHOOK_URL
		expected time.Duration // how long after submission the job is expected
		// check inspects the create request the simulator received.
		check func(t *testing.T, st *jobsStack, out submitOut, hook string)
		// complete finishes the job in the simulator.
		complete func(st *jobsStack, job string) error
	}{
		{
			name: "batch_uploaded", kind: event.KindBatch, expected: 24 * time.Hour,
			args: []string{"batch", "--model", "gemini-2.5-flash", "--input", input},
			check: func(t *testing.T, st *jobsStack, out submitOut, hook string) {
				body := st.created(t, "/v1beta/models/gemini-2.5-flash:batchGenerateContent")
				if got := at(t, body, "batch", "inputConfig", "fileName"); got != out.InputFile || out.InputFile == "" {
					t.Errorf("the batch reads %v, want the uploaded %q", got, out.InputFile)
				}
				if got := at(t, body, "batch", "displayName"); got != "requests.jsonl" {
					t.Errorf("display name %v, want the input's name", got)
				}
				checkHook(t, at(t, body, "batch", "webhookConfig"), "userMetadata", hook, wantMetadata)
				if out.Requests != 3 {
					t.Errorf("%d requests reported, want 3", out.Requests)
				}
				// The uploaded bytes are the input file's.
				content, ok := st.sim.File(out.InputFile)
				if !ok {
					t.Fatalf("the simulator holds no %s", out.InputFile)
				}
				want, err := os.ReadFile(input)
				if err != nil {
					t.Fatal(err)
				}
				if content.ContentLength() != int64(len(want)) {
					t.Errorf("uploaded %d bytes, want %d", content.ContentLength(), len(want))
				}
			},
			complete: func(st *jobsStack, job string) error { _, err := st.sim.CompleteBatch(job); return err },
		},
		{
			name: "batch_inline", kind: event.KindBatch, expected: 24 * time.Hour,
			args: []string{"batch", "--model", "gemini-2.5-flash", "--input", input, "--inline", "--display-name", "nightly"},
			check: func(t *testing.T, st *jobsStack, out submitOut, hook string) {
				body := st.created(t, "/v1beta/models/gemini-2.5-flash:batchGenerateContent")
				reqs, _ := at(t, body, "batch", "inputConfig", "requests", "requests").([]any)
				if len(reqs) != 3 {
					t.Fatalf("%d inline requests, want 3", len(reqs))
				}
				for i, key := range []string{"r1", "r2", "r3"} {
					if got := at(t, reqs[i], "metadata", "key"); got != key {
						t.Errorf("request %d has key %v, want %s", i, got, key)
					}
					if got := at(t, reqs[i], "request", "contents"); got == nil {
						t.Errorf("request %d lost its contents", i)
					}
				}
				if got := at(t, reqs[2], "request", "generationConfig", "temperature"); got != 0.2 {
					t.Errorf("request 3 temperature %v, want 0.2", got)
				}
				if got := at(t, body, "batch", "displayName"); got != "nightly" {
					t.Errorf("display name %v, want nightly", got)
				}
				checkHook(t, at(t, body, "batch", "webhookConfig"), "userMetadata", hook, wantMetadata)
				for _, r := range st.received() {
					if strings.HasPrefix(r.Path, "/upload/") {
						t.Errorf("an inline batch uploaded a file: %s %s", r.Method, r.Path)
					}
				}
			},
			complete: func(st *jobsStack, job string) error { _, err := st.sim.CompleteBatch(job); return err },
		},
		{
			name: "research", kind: event.KindInteraction, expected: 20 * time.Minute, flagHook: true,
			args: []string{"research", "--prompt", "History of webhooks"},
			check: func(t *testing.T, st *jobsStack, out submitOut, hook string) {
				body := st.created(t, "/v1beta/interactions")
				if body["agent"] != "deep-research-pro-preview-12-2025" || body["background"] != true || body["input"] != "History of webhooks" {
					t.Errorf("created agent %v, background %v, input %v; want the Deep Research agent in the background with the prompt",
						body["agent"], body["background"], body["input"])
				}
				checkHook(t, body["webhook_config"], "user_metadata", hook, wantMetadata)
			},
			complete: func(st *jobsStack, job string) error {
				_, err := st.sim.CompleteInteraction(strings.TrimPrefix(job, "interactions/"))
				return err
			},
		},
		{
			name: "video", kind: event.KindVideo, expected: 10 * time.Minute,
			args: []string{"video", "--prompt", "A paper boat"},
			check: func(t *testing.T, st *jobsStack, out submitOut, hook string) {
				body := st.created(t, "/v1beta/models/"+gemini.DefaultVideoModel+":predictLongRunning")
				if got := at(t, body, "instances").([]any); len(got) != 1 || at(t, got[0], "prompt") != "A paper boat" {
					t.Errorf("instances %v, want the prompt", got)
				}
				checkHook(t, body["webhookConfig"], "userMetadata", hook, wantMetadata)
				if !strings.HasPrefix(out.Job, "models/"+gemini.DefaultVideoModel+"/operations/") {
					t.Errorf("job %q is not an operation of the default model", out.Job)
				}
			},
			complete: func(st *jobsStack, job string) error { _, err := st.sim.CompleteVideo(job); return err },
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			st := newJobsStack(t)
			hook := startHookCapture(t)
			env := st.env(hook.URL + "/gemini")
			args := append(append([]string{"submit"}, tt.args...), metadataArgs...)
			args = append(args, "--json")
			wantFrom := "$WEBHOOK_URL"
			if tt.flagHook {
				env = st.env("")
				args = append(args, "--webhook-url", hook.URL+"/gemini")
				wantFrom = "--webhook-url"
			}
			before := time.Now().Truncate(time.Second)
			r := runCLI(t, env, args...)
			if r.code != 0 {
				t.Fatalf("exit code %d, want 0", r.code)
			}
			after := time.Now()
			out := jsonOut[submitOut](t, r.stdout)
			if out.Kind != tt.kind || out.Webhook.URL != hook.URL+"/gemini" || out.Webhook.From != wantFrom {
				t.Errorf("reported a %s with webhook %+v, want a %s with %s from %s", out.Kind, out.Webhook, tt.kind, hook.URL+"/gemini", wantFrom)
			}
			tt.check(t, st, out, hook.URL+"/gemini")

			j := st.job(t, tt.kind, out.Job)
			if j.Origin != registry.OriginSubmitted || j.State != registry.StatePending || j.Resource != out.Job {
				t.Errorf("registered as %s/%s %q, want submitted/pending %q", j.Origin, j.State, j.Resource, out.Job)
			}
			if diff := cmp.Diff(wantMetadata, j.UserMetadata); diff != "" {
				t.Errorf("registered user_metadata (-want +got):\n%s", diff)
			}
			if lo, hi := before.Add(tt.expected), after.Add(tt.expected); j.ExpectedAt.Before(lo) || j.ExpectedAt.After(hi) {
				t.Errorf("expected at %s, want between %s and %s", j.ExpectedAt, lo, hi)
			}

			// Gemini's delivery goes to the job's webhook and echoes its
			// user_metadata.
			if err := tt.complete(st, out.Job); err != nil {
				t.Fatal(err)
			}
			if err := st.sim.WaitIdle(t.Context()); err != nil {
				t.Fatal(err)
			}
			got := hook.payloads(t)
			if len(got) != 1 {
				t.Fatalf("%d deliveries to the job's webhook, want 1", len(got))
			}
			ref, _ := event.ParseJob(tt.kind, out.Job)
			if gotRef, ok := event.ParseJob(tt.kind, got[0].Data.ID); !ok || gotRef != ref {
				t.Errorf("delivery is about %q, want %s", got[0].Data.ID, out.Job)
			}
			if diff := cmp.Diff(wantMetadata, got[0].Data.UserMetadata); diff != "" {
				t.Errorf("delivered user_metadata (-want +got):\n%s", diff)
			}
		})
	}
}

// checkHook checks a webhook config as the simulator received it: the one
// URI and the user metadata under metadataField.
func checkHook(t *testing.T, cfg any, metadataField, wantURI string, wantMetadata map[string]any) {
	t.Helper()
	if diff := cmp.Diff([]any{wantURI}, at(t, cfg, "uris")); diff != "" {
		t.Errorf("webhook uris (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(wantMetadata, at(t, cfg, metadataField)); diff != "" {
		t.Errorf("webhook %s (-want +got):\n%s", metadataField, diff)
	}
}

func TestSubmitUnknownModelIsTheAPIsErrorAndRegistersNothing(t *testing.T) {
	t.Parallel()
	input := tempFile(t, "requests.jsonl", goodLine+"\n")
	tests := []struct {
		name string
		args []string
		want []string // in stderr
		// deletes is the path prefix of the cleanup the tool must attempt.
		deletes string
	}{
		{
			name: "batch_inline", args: []string{"batch", "--model", "gemini-0-nope", "--input", input, "--inline"},
			want: []string{"failed to create the batch: NOT_FOUND (HTTP 404): models/gemini-0-nope is not found"},
		},
		{
			// The input is uploaded before the batch is created; the
			// refused batch's input is deleted again.
			name: "batch_uploaded", args: []string{"batch", "--model", "gemini-0-nope", "--input", input},
			want:    []string{"failed to create the batch: NOT_FOUND (HTTP 404): models/gemini-0-nope is not found"},
			deletes: "/v1beta/files/",
		},
		{
			name: "research_agent", args: []string{"research", "--prompt", "x", "--agent", "deep-research-nope"},
			want: []string{"failed to create the research interaction", "deep-research-nope was not found"},
		},
		{
			name: "video", args: []string{"video", "--prompt", "x", "--model", "veo-0-nope"},
			want: []string{"failed to start the video generation: NOT_FOUND (HTTP 404): models/veo-0-nope is not found"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			st := newJobsStack(t)
			r := runCLI(t, st.env(receiverURL), append([]string{"submit"}, tt.args...)...)
			if r.code != 3 {
				t.Errorf("exit code %d, want 3 (not found)", r.code)
			}
			for _, w := range tt.want {
				if !strings.Contains(r.stderr, w) {
					t.Errorf("stderr lacks %q", w)
				}
			}
			docs, err := st.fs.Collection(st.collection).Documents(t.Context()).GetAll()
			if err != nil {
				t.Fatal(err)
			}
			if len(docs) != 0 {
				t.Errorf("the registry holds %d job(s), want none", len(docs))
			}
			deleted := false
			for _, req := range st.received() {
				deleted = deleted || (req.Method == "DELETE" && tt.deletes != "" && strings.HasPrefix(req.Path, tt.deletes))
			}
			if tt.deletes != "" && !deleted {
				t.Errorf("the uploaded input was not deleted (no DELETE %s…)", tt.deletes)
			}
		})
	}
}

// writeRefusingFirestore serves reads (every document is missing) and
// refuses every write, as a Firestore does to a caller that may read the
// registry but not write it.
type writeRefusingFirestore struct {
	firestorepb.UnimplementedFirestoreServer
}

func (writeRefusingFirestore) BatchGetDocuments(req *firestorepb.BatchGetDocumentsRequest, stream firestorepb.Firestore_BatchGetDocumentsServer) error {
	if req.GetTransaction() != nil || req.GetNewTransaction() != nil {
		return status.Error(codes.PermissionDenied, "Missing or insufficient permissions.")
	}
	for _, name := range req.GetDocuments() {
		if err := stream.Send(&firestorepb.BatchGetDocumentsResponse{
			Result: &firestorepb.BatchGetDocumentsResponse_Missing{Missing: name}, ReadTime: timestamppb.Now(),
		}); err != nil {
			return err
		}
	}
	return nil
}

func (writeRefusingFirestore) BeginTransaction(context.Context, *firestorepb.BeginTransactionRequest) (*firestorepb.BeginTransactionResponse, error) {
	return nil, status.Error(codes.PermissionDenied, "Missing or insufficient permissions.")
}

func (writeRefusingFirestore) Commit(context.Context, *firestorepb.CommitRequest) (*firestorepb.CommitResponse, error) {
	return nil, status.Error(codes.PermissionDenied, "Missing or insufficient permissions.")
}

func TestSubmitReportsAJobItCouldNotRegister(t *testing.T) {
	t.Parallel()
	st := newJobsStack(t)
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := grpc.NewServer()
	firestorepb.RegisterFirestoreServer(srv, writeRefusingFirestore{})
	go func() { _ = srv.Serve(lis) }()
	t.Cleanup(srv.Stop)

	env := st.env(receiverURL)
	env["FIRESTORE_EMULATOR_HOST"] = lis.Addr().String()
	r := runCLI(t, env, "submit", "video", "--prompt", "A paper boat")
	if r.code != 1 {
		t.Fatalf("exit code %d, want 1", r.code)
	}
	var job string
	for _, line := range strings.Split(r.stderr, "\n") {
		if rest, ok := strings.CutPrefix(line, "!!!   geminihooks watch "); ok {
			job = rest
		}
	}
	if !strings.HasPrefix(job, "models/"+gemini.DefaultVideoModel+"/operations/") {
		t.Fatalf("stderr does not give the watch command that registers the created job:\n%s", r.stderr)
	}
	if !strings.Contains(r.stderr, "could NOT be registered") || !strings.Contains(r.stderr, "created, not registered") {
		t.Errorf("stderr does not say the job was created but not registered")
	}

	// The command it gives registers the job.
	if w := runCLI(t, st.env(receiverURL), "watch", job); w.code != 0 {
		t.Fatalf("watch exit code %d, want 0", w.code)
	}
	if j := st.job(t, event.KindVideo, job); j.Origin != registry.OriginWatched {
		t.Errorf("registered with origin %s, want watched", j.Origin)
	}
}

func TestSubmitChecksTheRegistryBeforeCreating(t *testing.T) {
	t.Parallel()
	st := newJobsStack(t)
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := grpc.NewServer() // serves no Firestore at all
	go func() { _ = srv.Serve(lis) }()
	t.Cleanup(srv.Stop)

	env := st.env(receiverURL)
	env["FIRESTORE_EMULATOR_HOST"] = lis.Addr().String()
	r := runCLI(t, env, "submit", "research", "--prompt", "x")
	if r.code != 1 {
		t.Errorf("exit code %d, want 1", r.code)
	}
	if want := "failed to read the job registry"; !strings.Contains(r.stderr, want) {
		t.Errorf("stderr lacks %q", want)
	}
	if got := st.received(); len(got) > 0 {
		t.Errorf("the Gemini API got %d request(s), want none", len(got))
	}
}
