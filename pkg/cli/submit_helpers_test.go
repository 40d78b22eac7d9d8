package cli_test

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"

	"cloud.google.com/go/firestore"

	"github.com/geminihooks/geminihooks/internal/geminisim"
	"github.com/geminihooks/geminihooks/internal/testenv"
	"github.com/geminihooks/geminihooks/pkg/config"
	"github.com/geminihooks/geminihooks/pkg/event"
	"github.com/geminihooks/geminihooks/pkg/registry"
)

// submitAPIKey is the simulator's API key in the submit and watch tests.
const submitAPIKey = "submit-test-key"

// simRequest is one request the simulator received.
type simRequest struct {
	Method, Path string
	Body         []byte
}

// jobsStack is what submit and watch talk to in a test: the Gemini API
// simulator, recording every request it gets, and a job registry of their
// own in the Firestore emulator.
type jobsStack struct {
	sim        *geminisim.Server
	simURL     string
	collection string
	fs         *firestore.Client
	reg        *registry.Registry

	mu       sync.Mutex
	requests []simRequest
}

func newJobsStack(t *testing.T) *jobsStack {
	t.Helper()
	fs := testenv.Firestore(t) // skips or fails without the emulator
	key, err := simKey()
	if err != nil {
		t.Fatal(err)
	}
	sim, err := geminisim.New(geminisim.Options{APIKey: submitAPIKey, SigningKey: key})
	if err != nil {
		t.Fatal(err)
	}
	st := &jobsStack{sim: sim, fs: fs, collection: testenv.UniqueName(t, "jobs")}
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		r.Body = io.NopCloser(bytes.NewReader(body))
		st.mu.Lock()
		st.requests = append(st.requests, simRequest{Method: r.Method, Path: r.URL.Path, Body: body})
		st.mu.Unlock()
		sim.ServeHTTP(w, r)
	}))
	t.Cleanup(ts.Close)
	st.simURL = ts.URL
	if st.reg, err = registry.NewFirestore(fs, registry.Options{Collection: st.collection}); err != nil {
		t.Fatal(err)
	}
	return st
}

// env returns the tool's environment: the simulator as the Gemini API, the
// stack's registry, and the receiver at webhookURL.
func (st *jobsStack) env(webhookURL string) map[string]string {
	return map[string]string{
		config.EnvGeminiAPIKey:          submitAPIKey,
		config.EnvGeminiBaseURL:         st.simURL,
		config.EnvGoogleCloudProject:    testenv.Project(),
		config.EnvFirestoreEmulatorHost: os.Getenv(config.EnvFirestoreEmulatorHost),
		config.EnvJobsCollection:        st.collection,
		config.EnvWebhookURL:            webhookURL,
		config.EnvPubSubEmulatorHost:    os.Getenv(config.EnvPubSubEmulatorHost),
	}
}

// received returns the requests the simulator got.
func (st *jobsStack) received() []simRequest {
	st.mu.Lock()
	defer st.mu.Unlock()
	return slices.Clone(st.requests)
}

// assertUntouched fails unless the simulator got no request and the
// registry holds no job.
func (st *jobsStack) assertUntouched(t *testing.T) {
	t.Helper()
	if got := st.received(); len(got) > 0 {
		t.Errorf("the Gemini API got %d request(s), want none; the first: %s %s", len(got), got[0].Method, got[0].Path)
	}
	docs, err := st.fs.Collection(st.collection).Documents(t.Context()).GetAll()
	if err != nil {
		t.Fatal(err)
	}
	if len(docs) > 0 {
		t.Errorf("the registry holds %d job(s), want none", len(docs))
	}
}

// job returns the registry's record of the job kind/resource.
func (st *jobsStack) job(t *testing.T, kind event.Kind, resource string) registry.Job {
	t.Helper()
	ref, ok := event.ParseJob(kind, resource)
	if !ok {
		t.Fatalf("%q is not a %s", resource, kind)
	}
	j, found, err := st.reg.Get(t.Context(), ref)
	if err != nil {
		t.Fatal(err)
	}
	if !found {
		t.Fatalf("%s is not in the registry", resource)
	}
	return j
}

// tempFile writes content to a new file in a temporary directory and
// returns its path.
func tempFile(t *testing.T, name, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// hookCapture is a webhook endpoint that accepts every delivery and keeps
// its body.
type hookCapture struct {
	*httptest.Server
	mu     sync.Mutex
	bodies [][]byte
}

func startHookCapture(t *testing.T) *hookCapture {
	t.Helper()
	hc := &hookCapture{}
	hc.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		hc.mu.Lock()
		hc.bodies = append(hc.bodies, body)
		hc.mu.Unlock()
		w.WriteHeader(http.StatusOK)
	}))
	t.Cleanup(hc.Close)
	return hc
}

// payloads returns the deliveries, decoded.
func (hc *hookCapture) payloads(t *testing.T) []event.Payload {
	t.Helper()
	hc.mu.Lock()
	defer hc.mu.Unlock()
	var out []event.Payload
	for _, b := range hc.bodies {
		var p event.Payload
		if err := json.Unmarshal(b, &p); err != nil {
			t.Fatalf("delivery is not a payload: %v\n%s", err, b)
		}
		out = append(out, p)
	}
	return out
}

// created returns the decoded body of the one request the simulator got
// for path with method POST.
func (st *jobsStack) created(t *testing.T, path string) map[string]any {
	t.Helper()
	var found []simRequest
	for _, r := range st.received() {
		if r.Method == http.MethodPost && r.Path == path {
			found = append(found, r)
		}
	}
	if len(found) != 1 {
		t.Fatalf("the simulator got %d POST %s, want 1", len(found), path)
	}
	var body map[string]any
	if err := json.Unmarshal(found[0].Body, &body); err != nil {
		t.Fatalf("POST %s body is not JSON: %v", path, err)
	}
	return body
}

// at returns the value at the path of keys in nested JSON objects.
func at(t *testing.T, v any, keys ...string) any {
	t.Helper()
	for _, k := range keys {
		m, ok := v.(map[string]any)
		if !ok {
			t.Fatalf("no object at %q", k)
		}
		v = m[k]
	}
	return v
}
