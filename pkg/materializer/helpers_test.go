package materializer_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/geminihooks/geminihooks/internal/geminisim"
	"github.com/geminihooks/geminihooks/internal/testenv"
	"github.com/geminihooks/geminihooks/pkg/blob"
	"github.com/geminihooks/geminihooks/pkg/event"
	"github.com/geminihooks/geminihooks/pkg/gemini"
	"github.com/geminihooks/geminihooks/pkg/logging"
	"github.com/geminihooks/geminihooks/pkg/materializer"
	"github.com/geminihooks/geminihooks/pkg/publish"
	"github.com/geminihooks/geminihooks/pkg/registry"
	"github.com/geminihooks/geminihooks/pkg/signature"
)

const (
	testAPIKey = "AIza-materializer-test-key-0123456789"
	testBucket = "geminihooks-test-results"
	// announcedName is the object that records a published results event
	// (see the package documentation's layout).
	announcedName = "_announced.json"
)

// testKey is one RSA key for the package's simulators: generating a key per
// test would dominate the run time.
var testKey = sync.OnceValues(signature.GenerateRSAKey)

// newSim returns a Gemini API simulator, and its download host on a second
// listener, served over HTTP until the test ends.
func newSim(t testing.TB, opts geminisim.Options) (*geminisim.Server, string) {
	t.Helper()
	key, err := testKey()
	if err != nil {
		t.Fatal(err)
	}
	opts.APIKey, opts.SigningKey = testAPIKey, key
	sim, err := geminisim.New(opts)
	if err != nil {
		t.Fatalf("geminisim.New: %v", err)
	}
	if err := sim.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = sim.Close() })
	return sim, sim.URL()
}

// simDownloadHost is the download-host allow-list entry of the simulators
// of newSim: their download hosts all listen on loopback.
const simDownloadHost = "127.0.0.1"

// newClient returns a Gemini API client for the simulator at baseURL whose
// retries are fast, so that fault tests do not wait.
func newClient(t testing.TB, baseURL string, maxResumes int) *gemini.Client {
	t.Helper()
	c, err := gemini.New(t.Context(), gemini.Options{
		BaseURL:       baseURL,
		APIKey:        testAPIKey,
		DownloadHosts: []string{simDownloadHost},
		Timeout:       10 * time.Second,
		Retry:         gemini.RetryPolicy{Attempts: 4, Base: time.Millisecond, Max: 5 * time.Millisecond},
		MaxResumes:    maxResumes,
	})
	if err != nil {
		t.Fatalf("gemini.New: %v", err)
	}
	return c
}

// recordingStore is a blob.Memory that remembers which Create calls wrote a
// new object, so tests can tell that nothing was written or rewritten.
type recordingStore struct {
	*blob.Memory
	mu      sync.Mutex
	created []string
}

func (s *recordingStore) Create(ctx context.Context, name, contentType string, r io.Reader) (blob.Object, error) {
	o, err := s.Memory.Create(ctx, name, contentType, r)
	if err == nil && o.Created {
		s.mu.Lock()
		s.created = append(s.created, name)
		s.mu.Unlock()
	}
	return o, err
}

// Created returns the names of the objects written so far, in order.
func (s *recordingStore) Created() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.created)
}

// fixture is a Materializer on the simulator, a memory store and a memory
// publisher.
type fixture struct {
	t     *testing.T
	sim   *geminisim.Server
	url   string // the simulator's base URL
	store *recordingStore
	pub   *publish.Memory
	jobs  *registry.Registry
	logs  *testenv.SyncBuffer
	m     *materializer.Materializer
}

// memJobs returns an empty job registry in memory.
func memJobs(t testing.TB) *registry.Registry {
	t.Helper()
	r, err := registry.NewMemory(registry.Options{})
	if err != nil {
		t.Fatal(err)
	}
	return r
}

type fixtureOptions struct {
	sim        geminisim.Options
	opts       materializer.Options // Bucket defaults to testBucket
	maxResumes int
}

func newFixture(t *testing.T, o fixtureOptions) *fixture {
	t.Helper()
	f := &fixture{t: t, store: &recordingStore{Memory: blob.NewMemory()}, pub: &publish.Memory{}, jobs: memJobs(t), logs: &testenv.SyncBuffer{}}
	f.sim, f.url = newSim(t, o.sim)
	if o.opts.Bucket == "" {
		o.opts.Bucket = testBucket
	}
	var err error
	f.m, err = materializer.New(newClient(t, f.url, o.maxResumes), f.store, f.pub, f.jobs, logging.New(f.logs, slog.LevelDebug), o.opts)
	if err != nil {
		t.Fatalf("materializer.New: %v", err)
	}
	t.Cleanup(func() {
		if strings.Contains(f.logs.String(), testAPIKey) {
			t.Error("the API key appears in the logs")
		}
	})
	return f
}

// materialize runs Materialize with a bounded context.
func (f *fixture) materialize(ev *event.Event) (*materializer.Result, error) {
	f.t.Helper()
	ctx, cancel := context.WithTimeout(f.t.Context(), 30*time.Second)
	defer cancel()
	return f.m.Materialize(ctx, ev)
}

// mustMaterialize runs Materialize and fails the test on an error or an
// unexpected outcome.
func (f *fixture) mustMaterialize(ev *event.Event, want materializer.Outcome) *materializer.Result {
	f.t.Helper()
	res, err := f.materialize(ev)
	if err != nil {
		f.t.Fatalf("Materialize() error = %v", err)
	}
	if res.Outcome != want {
		f.t.Fatalf("Materialize() outcome = %q, want %q; logs:\n%s", res.Outcome, want, f.logs.String())
	}
	return res
}

// results decodes every message published so far, checking each against
// the results event schema.
func (f *fixture) results() []*event.Results {
	f.t.Helper()
	var out []*event.Results
	for _, msg := range f.pub.Messages() {
		out = append(out, decodeResults(f.t, msg.Data))
		if r := out[len(out)-1]; msg.OrderingKey != r.OrderingKey() || !cmp.Equal(msg.Attributes, r.Attributes()) {
			f.t.Errorf("message ordering key %q and attributes %v do not match the event's %q and %v",
				msg.OrderingKey, msg.Attributes, r.OrderingKey(), r.Attributes())
		}
	}
	return out
}

// onlyResult returns the single results event published, failing the test
// when there is not exactly one.
func (f *fixture) onlyResult() *event.Results {
	f.t.Helper()
	rs := f.results()
	if len(rs) != 1 {
		f.t.Fatalf("published %d results events, want 1", len(rs))
	}
	return rs[0]
}

// read returns an object's content.
func (f *fixture) read(name string) []byte {
	f.t.Helper()
	return readStore(f.t, f.store, name)
}

// stat returns an object's attributes.
func (f *fixture) stat(name string) blob.Object {
	f.t.Helper()
	o, err := f.store.Stat(f.t.Context(), name)
	if err != nil {
		f.t.Fatalf("Stat(%s): %v", name, err)
	}
	return o
}

// absent fails the test when an object exists.
func (f *fixture) absent(name string) {
	f.t.Helper()
	if _, err := f.store.Stat(f.t.Context(), name); !errors.Is(err, blob.ErrNotExist) {
		f.t.Errorf("Stat(%s) error = %v, want ErrNotExist", name, err)
	}
}

func readStore(t testing.TB, s blob.Store, name string) []byte {
	t.Helper()
	rc, err := s.Open(t.Context(), name)
	if err != nil {
		t.Fatalf("Open(%s): %v", name, err)
	}
	defer rc.Close()
	b, err := io.ReadAll(rc)
	if err != nil {
		t.Fatalf("reading %s: %v", name, err)
	}
	return b
}

// newWebhookID returns a webhook-id in the shape Gemini sends.
func newWebhookID() string {
	return fmt.Sprintf("msg_%016x%011x", rand.Uint64(), rand.Uint64()>>20)
}

// completionEvent builds the completion event the receiver publishes for n:
// n's JSON body is parsed and normalized as a delivery, and the event goes
// through its JSON form as it does on the events topic.
func completionEvent(t testing.TB, n event.Payload, webhookID string) *event.Event {
	t.Helper()
	body, err := json.Marshal(n)
	if err != nil {
		t.Fatal(err)
	}
	parsed, err := event.Parse(body)
	if err != nil {
		t.Fatalf("event.Parse(%s): %v", body, err)
	}
	ev, err := event.Normalize(parsed, event.Meta{WebhookID: webhookID, Scheme: event.SchemeHMAC, ReceivedAt: time.Now().UTC()})
	if err != nil {
		t.Fatalf("event.Normalize(%s): %v", body, err)
	}
	return roundTrip(t, ev)
}

// roundTrip returns ev as a consumer of the events topic decodes it.
func roundTrip(t testing.TB, ev *event.Event) *event.Event {
	t.Helper()
	data, err := json.Marshal(ev)
	if err != nil {
		t.Fatal(err)
	}
	decoded, err := event.Decode(data)
	if err != nil {
		t.Fatalf("event.Decode(%s): %v", data, err)
	}
	return decoded
}

// notification is a hand-built Gemini notification, for jobs that the
// simulator would not announce (unknown, unfinished).
func notification(typ, id string) event.Payload {
	return event.Payload{Type: typ, Version: "v1", Timestamp: time.Now().UTC().Truncate(time.Second),
		Data: event.PayloadData{ID: id}}
}

var resultsSchema = sync.OnceValues(func() (*jsonschema.Schema, error) {
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(event.ResultsSchema()))
	if err != nil {
		return nil, err
	}
	c := jsonschema.NewCompiler()
	c.AssertFormat()
	if err := c.AddResource(event.ResultsSchemaURI, doc); err != nil {
		return nil, err
	}
	return c.Compile(event.ResultsSchemaURI)
})

// decodeResults validates a published results event against its schema and
// decodes it.
func decodeResults(t testing.TB, data []byte) *event.Results {
	t.Helper()
	sch, err := resultsSchema()
	if err != nil {
		t.Fatalf("compiling the results schema: %v", err)
	}
	v, err := jsonschema.UnmarshalJSON(bytes.NewReader(data))
	if err != nil {
		t.Fatalf("results event is not JSON: %v", err)
	}
	if err := sch.Validate(v); err != nil {
		t.Errorf("results event does not match the schema: %v\n%s", err, data)
	}
	r, err := event.DecodeResults(data)
	if err != nil {
		t.Fatalf("event.DecodeResults: %v", err)
	}
	return r
}

// storedObjects describes objects as a results event lists them, from what
// the store reports for them, sorted by name.
func storedObjects(t testing.TB, s blob.Store, bucket string, names ...string) []event.StoredObject {
	t.Helper()
	var out []event.StoredObject
	for _, name := range names {
		o, err := s.Stat(t.Context(), name)
		if err != nil {
			t.Fatalf("Stat(%s): %v", name, err)
		}
		out = append(out, event.StoredObject{
			Name: name, URI: "gs://" + bucket + "/" + name, Size: o.Size,
			CRC32C: event.EncodeCRC32C(o.CRC32C), MD5: base64.StdEncoding.EncodeToString(o.MD5),
			SHA256: o.SHA256, ContentType: o.ContentType,
		})
	}
	slices.SortFunc(out, func(a, b event.StoredObject) int { return strings.Compare(a.Name, b.Name) })
	return out
}

// manifest decodes a stored manifest.json strictly.
func manifest(t testing.TB, data []byte) materializer.Manifest {
	t.Helper()
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	var m materializer.Manifest
	if err := dec.Decode(&m); err != nil {
		t.Fatalf("manifest.json does not decode: %v\n%s", err, data)
	}
	return m
}

// digest returns the checksums of a simulated file.
func digest(t testing.TB, sim *geminisim.Server, name string) geminisim.Digest {
	t.Helper()
	c, ok := sim.File(name)
	if !ok {
		t.Fatalf("the simulator has no file %s", name)
	}
	d, err := geminisim.DigestOf(c)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// checkContent compares stored bytes, and the store's record of them, with
// a simulated file's digest. The store's SHA-256 is compared when it reports
// one (Cloud Storage does not).
func checkContent(t testing.TB, got []byte, obj blob.Object, want geminisim.Digest) {
	t.Helper()
	sum := sha256.Sum256(got)
	if int64(len(got)) != want.Size || sum != want.SHA256 {
		t.Errorf("stored %d bytes with SHA-256 %x, want %d bytes with %x", len(got), sum, want.Size, want.SHA256)
	}
	if obj.Size != want.Size || (obj.SHA256 != "" && obj.SHA256 != hex.EncodeToString(want.SHA256[:])) ||
		obj.CRC32C != want.CRC32C || !bytes.Equal(obj.MD5, want.MD5[:]) {
		t.Errorf("store reports size %d, sha256 %s, crc32c %08x, md5 %x; want %d, %x, %08x, %x",
			obj.Size, obj.SHA256, obj.CRC32C, obj.MD5, want.Size, want.SHA256, want.CRC32C, want.MD5)
	}
}

// apiGet fetches a path from the simulator, for comparing with what was
// stored.
func apiGet(t testing.TB, baseURL, path string) []byte {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, baseURL+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("x-goog-api-key", testAPIKey)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %d %v %s", path, resp.StatusCode, err, b)
	}
	return b
}
