package cli_test

import (
	"os"
	"strings"
	"testing"
	"time"

	"github.com/geminihooks/geminihooks/internal/geminisim"
	"github.com/geminihooks/geminihooks/internal/testenv"
	"github.com/geminihooks/geminihooks/pkg/config"
	"github.com/geminihooks/geminihooks/pkg/event"
	"github.com/geminihooks/geminihooks/pkg/registry"
)

// TestSubmitWaitFollowsTheJobToItsResults runs the whole path: submit
// creates a job in the simulator with its webhook at the local pipeline's
// receiver, the simulator finishes it and delivers the JWT-signed event, the
// materializer stores the results and announces them, and submit --wait
// reports where they landed.
func TestSubmitWaitFollowsTheJobToItsResults(t *testing.T) {
	t.Parallel()
	testenv.PubSub(t) // skips, or fails in CI, without the emulators
	st := newJobsStack(t)
	sim, err := geminisim.New(geminisim.Options{APIKey: submitAPIKey, CompleteAfter: 200 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	if err := sim.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = sim.Close() })

	results := testenv.UniqueName(t, "results")
	shared := map[string]string{
		config.EnvGeminiAPIKey:          submitAPIKey,
		config.EnvGeminiBaseURL:         sim.URL(),
		config.EnvGoogleCloudProject:    testenv.Project(),
		config.EnvFirestoreEmulatorHost: os.Getenv(config.EnvFirestoreEmulatorHost),
		config.EnvPubSubEmulatorHost:    os.Getenv(config.EnvPubSubEmulatorHost),
		config.EnvJobsCollection:        st.collection,
		config.EnvResultsTopic:          results,
	}
	stackEnv := map[string]string{
		config.EnvGeminiDownloadHosts: strings.TrimPrefix(sim.DownloadURL(), "http://"),
		config.EnvJWKSURL:             sim.URL() + "/.well-known/jwks.json",
		config.EnvEventsTopic:         testenv.UniqueName(t, "events"),
		"IDEMPOTENCY_COLLECTION":      testenv.UniqueName(t, "ledger"),
	}
	for k, v := range shared {
		stackEnv[k] = v
	}
	stack := startStack(t, stackEnv)

	cliEnv := shared
	cliEnv[config.EnvWebhookURL] = stack.URL
	r := runCLI(t, cliEnv, "submit", "video", "--prompt", "A paper boat", "--metadata", "tenant=acme", "--wait", "--timeout", "60s", "--json")
	if r.code != 0 {
		t.Fatalf("exit code %d, want 0", r.code)
	}
	out := jsonOut[submitOut](t, r.stdout)
	if out.Results == nil {
		t.Fatal("no results in the output")
	}
	res := out.Results
	if res.Resource != out.Job || res.State != event.StateGenerated || !strings.HasPrefix(res.Prefix, "gs://"+stack.Bucket+"/") || len(res.Objects) == 0 {
		t.Errorf("results %+v, want %s generated with its objects in gs://%s/", res, out.Job, stack.Bucket)
	}
	// Where it says they landed, they are.
	for _, o := range res.Objects {
		if _, err := stack.Store.Stat(t.Context(), o.Name); err != nil {
			t.Errorf("%s is reported but not stored: %v", o.URI, err)
		}
	}
	if !strings.Contains(r.stderr, "waiting for the results of "+out.Job) {
		t.Errorf("stderr has no progress line")
	}
	if got := st.job(t, event.KindVideo, out.Job); got.Origin != registry.OriginSubmitted {
		t.Errorf("registered with origin %s, want submitted", got.Origin)
	}
	// The receiver advanced the record when it published the completion
	// event. (The local runner's materializer keeps a registry of its own in
	// memory, so stored is not checked here.)
	if got := st.job(t, event.KindVideo, out.Job).State; got != registry.StateNotified && got != registry.StateStored {
		t.Errorf("registry state %s, want notified or stored", got)
	}

	// The readable form says where the artifacts are.
	r = runCLI(t, cliEnv, "submit", "research", "--prompt", "History of webhooks", "--wait", "--timeout", "60s")
	if r.code != 0 {
		t.Fatalf("exit code %d, want 0", r.code)
	}
	for _, want := range []string{"The job ended completed; its results are stored in gs://" + stack.Bucket + "/", "report.md", "gs://" + stack.Bucket + "/"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("stdout lacks %q", want)
		}
	}
}

func TestSubmitWaitTimesOut(t *testing.T) {
	t.Parallel()
	testenv.PubSub(t)
	st := newJobsStack(t) // its simulator never finishes the job
	c := testenv.PubSub(t)
	topic, _ := testenv.Topic(t, c)
	env := st.env(receiverURL)
	env[config.EnvResultsTopic] = topic
	r := runCLI(t, env, "submit", "video", "--prompt", "x", "--wait", "--timeout", "2s")
	if r.code != 1 {
		t.Errorf("exit code %d, want 1", r.code)
	}
	if want := "timed out after 2s waiting for the results of models/"; !strings.Contains(r.stderr, want) {
		t.Errorf("stderr lacks %q", want)
	}
	if !strings.Contains(r.stdout, "registered") {
		t.Errorf("stdout does not report the job before waiting")
	}
}
