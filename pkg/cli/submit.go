package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"google.golang.org/genai"
	"google.golang.org/genai/interactions/models/apierrors"
	"google.golang.org/genai/interactions/models/components"
	"google.golang.org/genai/interactions/models/interactions"
	"google.golang.org/genai/interactions/models/operations"

	"github.com/geminihooks/geminihooks/pkg/config"
	"github.com/geminihooks/geminihooks/pkg/event"
	"github.com/geminihooks/geminihooks/pkg/gemini"
	"github.com/geminihooks/geminihooks/pkg/registry"
)

// How long each kind of job usually takes: a registered job becomes
// overdue, and the reconciler polls it, only after this (plus its grace
// period).
const (
	// expectedBatch: the Batch API's target turnaround is 24 hours
	// (https://ai.google.dev/gemini-api/docs/batch-api); most batches finish
	// much sooner.
	expectedBatch = 24 * time.Hour
	// expectedResearch: Deep Research runs are documented to take up to 60
	// minutes, most under 20 (https://ai.google.dev/gemini-api/docs/deep-research).
	expectedResearch = 20 * time.Minute
	// expectedVideo: the Veo guide gives latencies from seconds to about 6
	// minutes at peak (https://ai.google.dev/gemini-api/docs/video); 10
	// minutes leaves a margin.
	expectedVideo = 10 * time.Minute
)

// expectedDuration returns how long a job of kind usually takes.
func expectedDuration(kind event.Kind) time.Duration {
	switch kind {
	case event.KindBatch:
		return expectedBatch
	case event.KindInteraction:
		return expectedResearch
	default:
		return expectedVideo
	}
}

// registerTimeout bounds the registration of a job that was just created.
const registerTimeout = 30 * time.Second

// defaultResearchAgent is the Deep Research agent that submit research
// uses unless --agent names another.
const defaultResearchAgent = string(interactions.AgentOptionDeepResearchProPreview122025)

// submitSubs are the subcommands of "submit", in help order.
var submitSubs = []*Command{
	{
		Name:  "submit batch",
		Usage: "submit batch --model M --input requests.jsonl [--inline] [--display-name N] [common flags]",
		Short: "create a batch job from a JSONL file, uploaded through the Files API or sent inline",
		Long:  helpText("submit-batch"),
		Run:   runSubmitBatch,
	},
	{
		Name:  "submit research",
		Usage: "submit research --prompt TEXT [--agent ID] [common flags]",
		Short: "start a Deep Research interaction in the background",
		Long:  helpText("submit-research", "{{agent}}", defaultResearchAgent),
		Run:   runSubmitResearch,
	},
	{
		Name:  "submit video",
		Usage: "submit video --prompt TEXT [--model M] [common flags]",
		Short: "start a Veo video generation",
		Long:  helpText("submit-video", "{{model}}", gemini.DefaultVideoModel),
		Run:   runSubmitVideo,
	},
}

// submitCmd dispatches to its subcommands.
var submitCmd = &Command{
	Name:  "submit",
	Usage: "submit batch|research|video [flags]",
	Short: "create a Gemini job whose webhook points at the receiver, and register it",
	Long:  helpText("submit", "{{subcommands}}\n", subList("submit", submitSubs, 10)),
	Run:   runSubmit,
}

func runSubmit(ctx context.Context, env *Env, c *Command, args []string) error {
	return dispatch(ctx, env, c, submitSubs, args)
}

// submitFlags are the flags every submit subcommand takes.
type submitFlags struct {
	webhookURL   string
	metadata     stringList
	project      string
	wait         bool
	timeout      time.Duration
	resultsTopic string
	asJSON       bool
}

func (f *submitFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&f.webhookURL, "webhook-url", "", "`URL` Gemini delivers the job's events to (default $"+config.EnvWebhookURL+", the deployed receiver)")
	fs.Var(&f.metadata, "metadata", "user_metadata entry `key=value`, echoed in the job's events (repeatable)")
	fs.StringVar(&f.project, "project", "", "project of the job registry and the results topic (default $"+config.EnvGoogleCloudProject+")")
	fs.BoolVar(&f.wait, "wait", false, "wait for the job's results event and print where its artifacts landed")
	fs.DurationVar(&f.timeout, "timeout", 0, "with --wait, give up after this long (0: until interrupted)")
	fs.StringVar(&f.resultsTopic, "results-topic", "", "with --wait, the `TOPIC` announcing results (default $"+config.EnvResultsTopic+", else the deployment's)")
	fs.BoolVar(&f.asJSON, "json", false, "print the job (and its results) as JSON")
}

// prepare checks the flags and resolves the webhook, without I/O: the
// cheap checks come before the input is read and before any connection.
func (f *submitFlags) prepare(env *Env) (*submission, error) {
	if f.timeout < 0 {
		return nil, usageErrorf("--timeout must not be negative")
	}
	if !f.wait && (f.timeout > 0 || f.resultsTopic != "") {
		return nil, usageErrorf("--timeout and --results-topic go with --wait")
	}
	metadata, err := parseUserMetadata(f.metadata)
	if err != nil {
		return nil, err
	}
	hook, err := resolveWebhook(env, f.webhookURL)
	if err != nil {
		return nil, err
	}
	return &submission{env: env, flags: f, hook: hook, metadata: metadata}, nil
}

// webhookTarget is where a submitted job's events go, and where that was
// configured.
type webhookTarget struct {
	URL  string `json:"url"`
	From string `json:"from"` // "--webhook-url" or "$WEBHOOK_URL"
}

// resolveWebhook returns --webhook-url, else WEBHOOK_URL, checked: an
// absolute https URL, or http on a loopback host (the local runner).
func resolveWebhook(env *Env, flagValue string) (webhookTarget, error) {
	t := webhookTarget{URL: flagValue, From: "--webhook-url"}
	if t.URL == "" {
		t = webhookTarget{URL: env.Getenv(config.EnvWebhookURL), From: "$" + config.EnvWebhookURL}
	}
	if t.URL == "" {
		return t, usageErrorf("no webhook URL: pass --webhook-url or set %s to the receiver's URL (terraform output -raw webhook_url)", config.EnvWebhookURL)
	}
	u, err := url.Parse(t.URL)
	switch {
	case err != nil || u.Host == "" || u.User != nil || u.Fragment != "":
		return t, usageErrorf("webhook URL %q (%s) must be an absolute URL such as https://example.com/hook", t.URL, t.From)
	case u.Scheme == "https", u.Scheme == "http" && config.IsLoopback(u.Hostname()):
	default:
		return t, usageErrorf("webhook URL %q (%s) must use https (http only on a loopback host, for the local runner)", t.URL, t.From)
	}
	return t, nil
}

// parseUserMetadata turns --metadata key=value pairs into user_metadata.
func parseUserMetadata(pairs []string) (map[string]any, error) {
	if len(pairs) == 0 {
		return nil, nil
	}
	m := make(map[string]any, len(pairs))
	for _, p := range pairs {
		k, v, ok := strings.Cut(p, "=")
		_, dup := m[k]
		switch {
		case !ok || strings.TrimSpace(k) == "":
			return nil, usageErrorf("--metadata wants key=value, got %q", p)
		case dup:
			return nil, usageErrorf("--metadata %s is given twice", k)
		}
		m[k] = v
	}
	return m, nil
}

// submission is a job about to be submitted: where its events go, and the
// connections it needs.
type submission struct {
	env      *Env
	flags    *submitFlags
	hook     webhookTarget
	metadata map[string]any
	api      *genai.Client
	jobs     *jobRegistry
	waiter   *resultsWaiter // nil without --wait
}

// connect connects to the Gemini API, the job registry and, with --wait,
// the results topic, before the job is created: a missing credential or
// project then cannot leave a job that nobody tracks.
func (s *submission) connect(ctx context.Context) error {
	var err error
	if s.api, err = newGeminiClient(ctx, s.env); err != nil {
		return err
	}
	if s.jobs, err = openJobRegistry(ctx, s.env, s.flags.project); err != nil {
		return err
	}
	if err := s.jobs.check(ctx); err != nil {
		s.close()
		return err
	}
	if s.flags.wait {
		// Subscribed before the job exists, so its results cannot be missed.
		if s.waiter, err = openResultsWaiter(ctx, s.env, s.flags.project, s.flags.resultsTopic); err != nil {
			s.close()
			return err
		}
	}
	return nil
}

func (s *submission) close() {
	if s.waiter != nil {
		s.waiter.close()
	}
	if s.jobs == nil {
		return
	}
	if err := s.jobs.close(); err != nil {
		fmt.Fprintf(s.env.Stderr, "warning: failed to close the Firestore client: %v\n", err)
	}
}

// genaiHook is the job's webhook config for the Batch and video APIs.
func (s *submission) genaiHook() *genai.WebhookConfig {
	return &genai.WebhookConfig{Uris: []string{s.hook.URL}, UserMetadata: s.metadata}
}

// submitResult is what submit reports, and its --json output.
type submitResult struct {
	Job          string         `json:"job"`
	Kind         event.Kind     `json:"kind"`
	Model        string         `json:"model,omitempty"`
	Agent        string         `json:"agent,omitempty"`
	Input        string         `json:"input,omitempty"`
	InputFile    string         `json:"input_file,omitempty"`
	Requests     int            `json:"requests,omitempty"`
	Inline       bool           `json:"inline,omitempty"`
	Webhook      webhookTarget  `json:"webhook"`
	UserMetadata map[string]any `json:"user_metadata,omitempty"`
	// Registry says where the job is registered, and ExpectedAt when the
	// reconciler starts looking for it.
	Registry   string    `json:"registry"`
	ExpectedAt time.Time `json:"expected_at"`
	// Results is the results event's payload, with --wait.
	Results *event.ResultsData `json:"results,omitempty"`
}

// finish registers the job Gemini created, reports it and, with --wait,
// waits for its results.
func (s *submission) finish(ctx context.Context, res submitResult) error {
	ref, ok := event.ParseJob(res.Kind, res.Job)
	if !ok {
		return fmt.Errorf("gemini created a %s named %q, which is not a job name; nothing was registered", res.Kind, res.Job)
	}
	res.Webhook, res.UserMetadata, res.Registry = s.hook, s.metadata, s.jobs.where
	res.ExpectedAt = time.Now().Add(expectedDuration(res.Kind)).UTC().Truncate(time.Second)
	// The job exists now: an interrupt must not keep it from being
	// registered, and an unreachable Firestore must not hang the command.
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), registerTimeout)
	defer cancel()
	if _, _, err := s.jobs.Register(rctx, registry.Job{
		Ref: ref, Resource: res.Job, Origin: registry.OriginSubmitted, ExpectedAt: res.ExpectedAt, UserMetadata: s.metadata,
	}); err != nil {
		printLoud(s.env.Stderr, []string{
			fmt.Sprintf("Gemini created %s, but it could NOT be registered in the %s:", res.Job, s.jobs.where),
			"  " + err.Error(),
			"Its webhook still goes to " + s.hook.URL + "; registering it lets the reconciler notice if that",
			"webhook never comes. Fix the cause, then register it with:",
			"  geminihooks watch " + res.Job,
		})
		return &ExitError{Code: ExitFailure, Err: fmt.Errorf("%s created, not registered", res.Job)}
	}
	if !s.flags.asJSON {
		printSubmitted(s.env.Stdout, res)
	}
	if s.waiter == nil {
		if s.flags.asJSON {
			return writeJSON(s.env.Stdout, res)
		}
		return nil
	}
	results, err := s.waiter.wait(ctx, s.env, ref, res.Job, expectedDuration(res.Kind), s.flags.timeout)
	if results != nil {
		res.Results = &results.Data
	}
	if s.flags.asJSON {
		if werr := writeJSON(s.env.Stdout, res); werr != nil {
			return errors.Join(err, werr)
		}
	} else if results != nil {
		printResults(s.env.Stdout, results)
	}
	if err != nil {
		return err
	}
	if results.Type == event.ResultsTypeFailed {
		return &ExitError{Code: ExitFailure, Err: fmt.Errorf("the results of %s could not be stored", res.Job)}
	}
	return nil
}

// printSubmitted reports a created and registered job.
func printSubmitted(w io.Writer, res submitResult) {
	t := newTable(w)
	t.row("job", res.Job)
	t.row("kind", string(res.Kind))
	if res.Model != "" {
		t.row("model", res.Model)
	}
	if res.Agent != "" {
		t.row("agent", res.Agent)
	}
	switch {
	case res.Inline:
		t.row("input", fmt.Sprintf("%s: %d requests, sent inline", res.Input, res.Requests))
	case res.InputFile != "":
		t.row("input", fmt.Sprintf("%s: %d requests, uploaded as %s", res.Input, res.Requests, res.InputFile))
	}
	t.row("webhook", fmt.Sprintf("%s (from %s)", res.Webhook.URL, res.Webhook.From))
	if len(res.UserMetadata) > 0 {
		var kv []string
		for _, k := range slices.Sorted(maps.Keys(res.UserMetadata)) {
			kv = append(kv, fmt.Sprintf("%s=%v", k, res.UserMetadata[k]))
		}
		t.row("metadata", strings.Join(kv, " "))
	}
	t.row("registered", fmt.Sprintf("pending in the %s, expected by %s", res.Registry, res.ExpectedAt.Format(time.RFC3339)))
	t.flush()
}

func runSubmitBatch(ctx context.Context, env *Env, c *Command, args []string) error {
	fs := newFlagSet(env, c)
	model := fs.String("model", "", "`MODEL` that answers the requests, e.g. gemini-2.5-flash (required)")
	input := fs.String("input", "", "JSONL `FILE` of {\"key\": …, \"request\": {…}} lines (required)")
	inline := fs.Bool("inline", false, "send the requests in the create call instead of uploading the file (inputs up to 20 MB)")
	displayName := fs.String("display-name", "", "display `NAME` of the batch (default: the input file's name)")
	var f submitFlags
	f.register(fs)
	if err := parseNoArgs(env, c, fs, args); err != nil {
		return err
	}
	s, err := f.prepare(env)
	if err != nil {
		return err
	}
	switch {
	case strings.TrimSpace(*model) == "":
		return usageErrorf("--model is required")
	case *input == "":
		return usageErrorf("--input is required")
	}
	if *displayName == "" {
		*displayName = filepath.Base(*input)
	}
	// The whole file is checked before anything is created.
	in, err := readBatchInput(*input, *inline)
	if err != nil {
		return err
	}
	if err := s.connect(ctx); err != nil {
		return err
	}
	defer s.close()

	res := submitResult{Kind: event.KindBatch, Model: *model, Input: *input, Requests: in.requests, Inline: *inline}
	cfg := &genai.CreateBatchJobConfig{DisplayName: *displayName, WebhookConfig: s.genaiHook()}
	src := &genai.BatchJobSource{InlinedRequests: in.inline}
	if !*inline {
		if src.FileName, err = uploadBatchInput(ctx, s.api, in, *displayName); err != nil {
			return err
		}
		res.InputFile = src.FileName
	}
	job, err := s.api.Batches.Create(ctx, *model, src, cfg)
	if err != nil {
		err = sdkError("create the batch", err)
		if src.FileName != "" {
			err = errors.Join(err, deleteUpload(ctx, s.api, src.FileName))
		}
		return err
	}
	if res.Job, err = gemini.BatchName(job.Name); err != nil {
		return fmt.Errorf("gemini created a batch with an unexpected name: %w", err)
	}
	return s.finish(ctx, res)
}

// uploadBatchInput uploads a validated input file through the Files API and
// returns its name ("files/…").
func uploadBatchInput(ctx context.Context, api *genai.Client, in *batchInput, displayName string) (string, error) {
	f, err := os.Open(in.path)
	if err != nil {
		return "", fmt.Errorf("failed to open --input %s: %w", in.path, err)
	}
	defer f.Close()
	// The Batch API guide uploads its input with the MIME type "jsonl".
	file, err := api.Files.Upload(ctx, f, &genai.UploadFileConfig{MIMEType: "jsonl", DisplayName: displayName})
	if err != nil {
		return "", sdkError("upload "+in.path+" through the Files API", err)
	}
	name, err := gemini.FileName(file.Name)
	if err != nil {
		return "", fmt.Errorf("the Files API stored %s under an unexpected name: %w", in.path, err)
	}
	return name, nil
}

// deleteUpload deletes an input file whose batch could not be created, so
// that a refused batch leaves nothing behind; it says so when it fails.
func deleteUpload(ctx context.Context, api *genai.Client, name string) error {
	ctx = context.WithoutCancel(ctx)
	if _, err := api.Files.Delete(ctx, name, nil); err != nil {
		return fmt.Errorf("the uploaded input %s was not deleted either (the Files API deletes it after 48 hours): %w", name, sdkError("delete "+name, err))
	}
	return nil
}

func runSubmitResearch(ctx context.Context, env *Env, c *Command, args []string) error {
	s, text, agent, err := startPromptJob(ctx, env, c, args, "what to research",
		promptOption{name: "agent", value: defaultResearchAgent, usage: "Deep Research agent `ID`"})
	if err != nil {
		return err
	}
	defer s.close()

	// Webhook config needs background mode, which Deep Research needs anyway.
	body := interactions.CreateAgentInteraction{
		Agent:         interactions.AgentOption(agent),
		Input:         genai.Ptr(interactions.NewInteractionsInput(text)),
		Background:    genai.Ptr(true),
		WebhookConfig: &interactions.WebhookConfig{Uris: []string{s.hook.URL}, UserMetadata: s.metadata},
	}
	got, err := s.api.Interactions.Create(ctx, operations.CreateInteractionRequest{
		Body: operations.NewCreateInteractionRequestBody(body),
	}, noRetries)
	if err != nil {
		return sdkError("create the research interaction", err)
	}
	id := ""
	if in := got.Interaction; in != nil && in.ID != nil {
		id = *in.ID
	}
	if id, err = gemini.InteractionID(id); err != nil {
		return fmt.Errorf("gemini answered the research request without a usable interaction id: %w", err)
	}
	return s.finish(ctx, submitResult{Job: "interactions/" + id, Kind: event.KindInteraction, Agent: agent})
}

func runSubmitVideo(ctx context.Context, env *Env, c *Command, args []string) error {
	s, text, model, err := startPromptJob(ctx, env, c, args, "what the video shows",
		promptOption{name: "model", value: gemini.DefaultVideoModel, usage: "Veo `MODEL`"})
	if err != nil {
		return err
	}
	defer s.close()

	op, err := s.api.Models.GenerateVideosFromSource(ctx, model, &genai.GenerateVideosSource{Prompt: text},
		&genai.GenerateVideosConfig{WebhookConfig: s.genaiHook()})
	if err != nil {
		return sdkError("start the video generation", err)
	}
	name, err := gemini.OperationName(op.Name)
	if err != nil {
		return fmt.Errorf("gemini answered the video request without a usable operation name: %w", err)
	}
	return s.finish(ctx, submitResult{Job: name, Kind: event.KindVideo, Model: model})
}

// promptOption is the one flag besides --prompt that a prompt-driven submit
// subcommand takes: the agent or model.
type promptOption struct{ name, value, usage string }

// startPromptJob parses and checks the flags of a prompt-driven submit
// subcommand (--prompt, opt and the common flags) and connects its
// submission; the caller closes it. It returns the prompt and opt's value.
func startPromptJob(ctx context.Context, env *Env, c *Command, args []string, prompt string, opt promptOption) (*submission, string, string, error) {
	fs := newFlagSet(env, c)
	promptFlag := fs.String("prompt", "", prompt+" (required; - reads it from standard input)")
	value := fs.String(opt.name, opt.value, opt.usage)
	var f submitFlags
	f.register(fs)
	if err := parseNoArgs(env, c, fs, args); err != nil {
		return nil, "", "", err
	}
	s, err := f.prepare(env)
	if err != nil {
		return nil, "", "", err
	}
	text, err := promptText(env, *promptFlag)
	if err != nil {
		return nil, "", "", err
	}
	if strings.TrimSpace(*value) == "" {
		return nil, "", "", usageErrorf("--%s must not be empty", opt.name)
	}
	if err := s.connect(ctx); err != nil {
		return nil, "", "", err
	}
	return s, text, *value, nil
}

// promptText returns --prompt, reading standard input for "-".
func promptText(env *Env, prompt string) (string, error) {
	if prompt == "-" {
		b, err := readInput(env, "-")
		if err != nil {
			return "", err
		}
		prompt = string(b)
	}
	if strings.TrimSpace(prompt) == "" {
		return "", usageErrorf("--prompt is required")
	}
	return prompt, nil
}

// sdkError describes a failed genai SDK call by the API's status and
// message. A 404 (an unknown model or agent) wraps ErrNotFound.
func sdkError(action string, err error) error {
	status, code, message, ok := sdkErrorDetail(err)
	if !ok {
		if _, isInteractions := errors.AsType[*apierrors.APIError](err); isInteractions {
			return geminiError(action, err)
		}
		return &apiFailure{msg: fmt.Sprintf("failed to %s: %v", action, err), errs: []error{err}}
	}
	detail := fmt.Sprintf("HTTP %d", status)
	if message != "" {
		detail = fmt.Sprintf("%s (HTTP %d): %s", orPlaceholder(code, "error"), status, message)
	}
	f := &apiFailure{msg: fmt.Sprintf("failed to %s: %s", action, detail), errs: []error{err}}
	if status == http.StatusNotFound {
		f.errs = append(f.errs, ErrNotFound)
	}
	return f
}

// sdkErrorDetail reads an error answer of the genai SDK: Google's error
// JSON (a numeric code and a status) from the Batch, Files and video calls,
// or the Interactions API's (a string code) from interaction creation.
func sdkErrorDetail(err error) (status int, code, message string, ok bool) {
	if e, found := errors.AsType[genai.APIError](err); found {
		return e.Code, e.Status, e.Message, true
	}
	if e, found := errors.AsType[*genai.APIError](err); found && e != nil {
		return e.Code, e.Status, e.Message, true
	}
	var body interactions.Error
	var meta components.HTTPMetadata
	if e, found := errors.AsType[*apierrors.CreateInteractionClientError](err); found && e != nil {
		body, meta = e.Error_, e.HTTPMeta
	} else if e, found := errors.AsType[*apierrors.CreateInteractionServerError](err); found && e != nil {
		body, meta = e.Error_, e.HTTPMeta
	} else {
		return 0, "", "", false
	}
	if r := meta.Response; r != nil {
		status = r.StatusCode
	}
	return status, deref(body.GetCode()), deref(body.GetMessage()), true
}
