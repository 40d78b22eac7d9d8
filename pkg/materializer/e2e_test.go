package materializer_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"cloud.google.com/go/firestore"
	"cloud.google.com/go/pubsub/v2"
	"cloud.google.com/go/pubsub/v2/apiv1/pubsubpb"
	"cloud.google.com/go/storage"
	"github.com/fsouza/fake-gcs-server/fakestorage"
	"github.com/google/go-cmp/cmp"
	"google.golang.org/api/iterator"

	"github.com/geminihooks/geminihooks/internal/geminisim"
	"github.com/geminihooks/geminihooks/internal/testenv"
	"github.com/geminihooks/geminihooks/pkg/event"
	"github.com/geminihooks/geminihooks/pkg/idempotency"
	"github.com/geminihooks/geminihooks/pkg/jwks"
	"github.com/geminihooks/geminihooks/pkg/logging"
	"github.com/geminihooks/geminihooks/pkg/materializer"
	"github.com/geminihooks/geminihooks/pkg/publish"
	"github.com/geminihooks/geminihooks/pkg/receiver"
	"github.com/geminihooks/geminihooks/pkg/registry"
	"github.com/geminihooks/geminihooks/pkg/signature"
	"github.com/geminihooks/geminihooks/pkg/tracing"
)

// e2eWait bounds every wait for the pipeline: a push, a results message.
const e2eWait = 20 * time.Second

// TestEndToEnd runs the whole flow on the emulators: the simulator's
// signed webhooks reach the receiver (Firestore ledger, events topic), the
// events topic's push subscription calls the materializer built by Build,
// which stores results in fake-gcs-server and announces them on the results
// topic.
func TestEndToEnd(t *testing.T) {
	// Not parallel: CloudBackends' storage client finds fake-gcs-server through
	// the environment, like a deployment finds an emulator. The cases run
	// in parallel with each other, each on its own topics, bucket, ledger
	// collection and simulator.
	fs := testenv.Firestore(t)
	ps := testenv.PubSub(t)
	gcs := startFakeGCS(t)
	t.Setenv("STORAGE_EMULATOR_HOST", gcs.URL())
	reader := gcsClient(t, gcs)
	env := &e2eEnv{fs: fs, ps: ps, gcs: gcs, reader: reader}

	tests := []struct {
		name string
		run  func(t *testing.T, s *e2eStack)
	}{
		{"batch_results_file_hmac", func(t *testing.T, s *e2eStack) {
			j := finishedBatch(t, s.sim, geminisim.BatchSpec{Results: geminisim.ResultsFile{Size: 3 << 20, FailureRatio: 0.1, Seed: 11}})
			id := s.deliver(t, s.hmac, j.n)
			s.checkPushes(t, id, "200 stored")
			r := s.onlyResult(t, event.ResultsTypeStored)
			folder := s.checkStored(t, r, j, id, materializer.ResultsName)
			s.checkContent(t, folder+materializer.ResultsName, digest(t, s.sim, j.n.Data.OutputFileURI))
		}},
		{"batch_inlined_jwt", func(t *testing.T, s *e2eStack) {
			spec := geminisim.BatchSpec{Results: geminisim.ResultsFile{Size: 100 << 10, FailureRatio: 0.2, Seed: 12}, Inline: true}
			j := finishedBatch(t, s.sim, spec)
			id := s.deliver(t, s.jwt, j.n)
			s.checkPushes(t, id, "200 stored")
			r := s.onlyResult(t, event.ResultsTypeStored)
			folder := s.checkStored(t, r, j, id, materializer.ResultsName)
			total, failed := resultLines(t, s.read(t, folder+materializer.ResultsName))
			if want := wantCounts(t, spec.Results); total != want.Requests || failed != want.Failed || !cmp.Equal(r.Data.Counts, want) {
				t.Errorf("results.jsonl has %d lines (%d errors), the event counts %+v; want %+v", total, failed, r.Data.Counts, want)
			}
		}},
		{"interaction_completed_jwt", func(t *testing.T, s *e2eStack) {
			j := finishedInteraction(t, s.sim, geminisim.InteractionSpec{Report: citedReport, Citations: reportCitations})
			id := s.deliver(t, s.jwt, j.n)
			s.checkPushes(t, id, "200 stored")
			r := s.onlyResult(t, event.ResultsTypeStored)
			folder := s.checkStored(t, r, j, id, materializer.CitationsName, materializer.InteractionName, materializer.ReportName)
			if md := s.read(t, folder+materializer.ReportName); !bytes.Contains(md, []byte("[[2]](https://beta.example/source)")) {
				t.Errorf("report.md lacks the numbered citation link:\n%s", md)
			}
			if got, want := s.read(t, folder+materializer.InteractionName), apiGet(t, s.simURL, "/v1beta/interactions/"+j.n.Data.ID); !bytes.Equal(got, want) {
				t.Errorf("interaction.json differs from the API's body")
			}
		}},
		{"video_generated_hmac", func(t *testing.T, s *e2eStack) {
			j := finishedVideo(t, s.sim, geminisim.VideoSpec{Video: geminisim.VideoFile{Size: 2<<20 + 7, Seed: 13}})
			id := s.deliver(t, s.hmac, j.n)
			s.checkPushes(t, id, "200 stored")
			r := s.onlyResult(t, event.ResultsTypeStored)
			folder := s.checkStored(t, r, j, id, "video-1.mp4")
			s.checkContent(t, folder+"video-1.mp4", digest(t, s.sim, j.n.Data.FileName))
		}},
		{"batch_failed_hmac", func(t *testing.T, s *e2eStack) {
			name, err := s.sim.CreateBatch(geminisim.BatchSpec{})
			if err != nil {
				t.Fatal(err)
			}
			n, err := s.sim.FailBatch(name, geminisim.JobError{Code: 13, Message: "the batch hit an internal error"})
			if err != nil {
				t.Fatal(err)
			}
			id := s.deliver(t, s.hmac, n)
			s.checkPushes(t, id, "200 failed")
			r := s.onlyResult(t, event.ResultsTypeFailed)
			s.checkFailed(t, r, "batch/"+path.Base(name)+"/", "batch_failed_13")
		}},
		{"duplicate_webhook", func(t *testing.T, s *e2eStack) {
			// A retry, then the same finished job under a second webhook-id
			// (two webhooks on one URL): one event.
			j := finishedBatch(t, s.sim, geminisim.BatchSpec{})
			d := geminisim.Delivery{URL: s.receiverURL, Notification: j.n, WebhookID: newWebhookID()}
			other := d
			other.WebhookID = newWebhookID()
			statuses := []string{s.post(t, s.hmac, d), s.post(t, s.hmac, d), s.post(t, s.hmac, other)}
			if want := []string{receiver.StatusAccepted, receiver.StatusDuplicate, receiver.StatusDuplicate}; !slices.Equal(statuses, want) {
				t.Errorf("receiver answered %v, want %v", statuses, want)
			}
			id := eventIDOf(t, j.n)
			s.checkPushes(t, id, "200 stored")
			r := s.onlyResult(t, event.ResultsTypeStored)
			s.checkStored(t, r, j, id, materializer.ResultsName)
			ref, _ := completionEvent(t, j.n, d.WebhookID).Job()
			if rec, ok, err := s.jobs.Get(t.Context(), ref); err != nil || !ok || rec.State != registry.StateStored || rec.EventID != id {
				t.Errorf("registry record %+v (%v, %v); want stored under the event id", rec, ok, err)
			}
		}},
		{"redelivered_push", func(t *testing.T, s *e2eStack) {
			// The materializer stores and announces, but its answer is lost:
			// Pub/Sub pushes the same message again.
			j := finishedBatch(t, s.sim, geminisim.BatchSpec{Results: geminisim.ResultsFile{Size: 1 << 20, Seed: 14}})
			id := eventIDOf(t, j.n)
			s.pushes.loseFirstAnswer(id)
			s.deliverID(t, s.hmac, j.n, newWebhookID())
			s.checkPushes(t, id, "503 stored", "200 redundant")
			r := s.onlyResult(t, event.ResultsTypeStored)
			s.checkStored(t, r, j, id, materializer.ResultsName)
			if n := s.sim.Requests(geminisim.RouteDownload); n != 1 {
				t.Errorf("downloaded the results %d times, want once", n)
			}
		}},
		{"api_429_and_503_then_success", func(t *testing.T, s *e2eStack) {
			j := finishedBatch(t, s.sim, geminisim.BatchSpec{Results: geminisim.ResultsFile{Size: 1 << 20, Seed: 15}})
			s.failNext(t, geminisim.RouteBatches, 2, http.StatusTooManyRequests)
			s.failNext(t, geminisim.RouteDownload, 2, http.StatusServiceUnavailable)
			id := s.deliver(t, s.hmac, j.n)
			s.checkPushes(t, id, "200 stored")
			r := s.onlyResult(t, event.ResultsTypeStored)
			folder := s.checkStored(t, r, j, id, materializer.ResultsName)
			s.checkContent(t, folder+materializer.ResultsName, digest(t, s.sim, j.n.Data.OutputFileURI))
			// The client's own retries absorbed the faults: one push.
			if b, d := s.sim.Requests(geminisim.RouteBatches), s.sim.Requests(geminisim.RouteDownload); b != 3 || d != 3 {
				t.Errorf("made %d batch and %d download requests, want 3 and 3", b, d)
			}
		}},
		{"api_faults_outlast_retries", func(t *testing.T, s *e2eStack) {
			j := finishedBatch(t, s.sim, geminisim.BatchSpec{})
			// More than one call's attempts (gemini.DefaultRetryAttempts).
			s.failNext(t, geminisim.RouteBatches, 5, http.StatusServiceUnavailable)
			id := s.deliver(t, s.hmac, j.n)
			s.checkPushes(t, id, "503 ", "200 stored")
			r := s.onlyResult(t, event.ResultsTypeStored)
			s.checkStored(t, r, j, id, materializer.ResultsName)
		}},
		{"truncated_download", func(t *testing.T, s *e2eStack) {
			j := finishedBatch(t, s.sim, geminisim.BatchSpec{Results: geminisim.ResultsFile{Size: 2 << 20, Seed: 16}})
			if err := s.sim.TruncateNext(1, 700<<10); err != nil {
				t.Fatal(err)
			}
			id := s.deliver(t, s.hmac, j.n)
			s.checkPushes(t, id, "200 stored")
			r := s.onlyResult(t, event.ResultsTypeStored)
			folder := s.checkStored(t, r, j, id, materializer.ResultsName)
			s.checkContent(t, folder+materializer.ResultsName, digest(t, s.sim, j.n.Data.OutputFileURI))
			if n := s.sim.Requests(geminisim.RouteDownload); n != 2 {
				t.Errorf("made %d download requests, want 2 (a truncated one, then a resumption)", n)
			}
		}},
		{"unknown_job", func(t *testing.T, s *e2eStack) {
			n := notification(event.TypeBatchSucceeded, "batches/never-created")
			id := s.deliver(t, s.hmac, n)
			// Acknowledged: the one answer is a 200, which Pub/Sub takes as
			// an ack (a nack would show here as another status).
			s.checkPushes(t, id, "200 failed")
			r := s.onlyResult(t, event.ResultsTypeFailed)
			s.checkFailed(t, r, "batch/never-created/", "gemini_not_found")
			if n := s.sim.Requests(geminisim.RouteBatches); n != 1 {
				t.Errorf("asked the API %d times, want once", n)
			}
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tc.run(t, env.stack(t))
		})
	}
}

// e2eEnv holds what the cases share: the emulator clients and the fake.
type e2eEnv struct {
	fs     *firestore.Client
	ps     *pubsub.Client
	gcs    *fakestorage.Server
	reader *storage.Client
}

// e2eStack is one case's pipeline.
type e2eStack struct {
	env         *e2eEnv
	sim         *geminisim.Server
	simURL      string
	bucket      string
	resultsSub  string
	receiverURL string
	hmac, jwt   *geminisim.Sender
	pushes      *pushLog
	jobs        *registry.Registry // the registry both functions share
}

func (e *e2eEnv) stack(t *testing.T) *e2eStack {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), e2eWait)
	defer cancel()
	s := &e2eStack{env: e, bucket: "results-" + randomHex(t, 8), pushes: &pushLog{byEvent: map[string][]string{}, lose: map[string]bool{}, changed: make(chan struct{})}}
	s.sim, s.simURL = newSim(t, geminisim.Options{})
	e.gcs.CreateBucketWithOpts(fakestorage.CreateBucketOpts{Name: s.bucket})
	logger := logging.New(testWriter{t}, slog.LevelInfo)

	// The materializer, as deployed, behind the push log.
	resultsTopic, resultsSub := testenv.Topic(t, e.ps)
	s.resultsSub = resultsSub
	cfg := &materializer.Config{
		ProjectID: testenv.Project(), GeminiAPIKey: testAPIKey, GeminiBaseURL: s.simURL,
		DownloadHosts: []string{strings.TrimPrefix(s.sim.DownloadURL(), "http://")},
		ResultsBucket: s.bucket, ResultsPrefix: "gemini", ResultsTopic: resultsTopic,
		UploadChunkSize: testChunkSize, FetchTimeout: 10 * time.Second, Ordering: true, LogLevel: "info",
		FirestoreDatabase: "(default)", Jobs: registry.Config{Collection: testenv.UniqueName(t, "jobs")},
		Tracing: tracing.Config{Exporter: tracing.ExporterNone, Sampler: tracing.SamplerAlwaysOn},
	}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	backends, closeBackends, err := materializer.CloudBackends(ctx, cfg)
	if err != nil {
		t.Fatalf("CloudBackends: %v", err)
	}
	t.Cleanup(func() {
		if err := closeBackends(); err != nil {
			t.Errorf("closing the materializer's clients: %v", err)
		}
	})
	h, stop, err := materializer.Build(ctx, cfg, backends, logger)
	if err != nil {
		t.Fatalf("Build: %v", err)
	}
	t.Cleanup(func() {
		if err := stop(); err != nil {
			t.Errorf("closing the materializer: %v", err)
		}
	})
	s.pushes.next = h
	matSrv := httptest.NewServer(s.pushes)
	t.Cleanup(matSrv.Close)

	// The events topic, pushing to the materializer.
	eventsTopic, _ := testenv.Topic(t, e.ps, func(sub *pubsubpb.Subscription) {
		sub.PushConfig = &pubsubpb.PushConfig{PushEndpoint: matSrv.URL + "/"}
		sub.AckDeadlineSeconds = 30
	})

	// The receiver, with the JWKS fetched from the simulator.
	raw, err := signature.GenerateSecret()
	if err != nil {
		t.Fatal(err)
	}
	secret, err := signature.ParseSecret("e2e", raw)
	if err != nil {
		t.Fatal(err)
	}
	keys, err := jwks.New(s.simURL+"/.well-known/jwks.json", jwks.Options{})
	if err != nil {
		t.Fatal(err)
	}
	v, err := signature.NewVerifier(signature.Options{Secrets: signature.StaticSecrets{secret}, Keys: keys})
	if err != nil {
		t.Fatal(err)
	}
	ledger, err := idempotency.NewFirestore(e.fs, idempotency.Options{Collection: testenv.UniqueName(t, "deliveries")})
	if err != nil {
		t.Fatal(err)
	}
	pub, err := publish.NewPubSub(e.ps, eventsTopic, publish.Options{Ordering: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pub.Stop)
	if s.jobs, err = registry.NewFirestore(e.fs, cfg.Jobs.Options()); err != nil {
		t.Fatal(err)
	}
	rh, err := receiver.New(v, ledger, pub, s.jobs, logger, receiver.Options{ProjectID: testenv.Project()})
	if err != nil {
		t.Fatal(err)
	}
	recvSrv := httptest.NewServer(rh)
	t.Cleanup(recvSrv.Close)
	s.receiverURL = recvSrv.URL + "/webhooks/gemini"

	retry := geminisim.RetryPolicy{MaxAttempts: 5, InitialBackoff: 200 * time.Millisecond, Window: e2eWait}
	if s.hmac, err = geminisim.NewSender(geminisim.SenderOptions{Secrets: []string{raw}, Retry: retry}); err != nil {
		t.Fatal(err)
	}
	if s.jwt, err = geminisim.NewSender(geminisim.SenderOptions{Signer: s.sim, Retry: retry}); err != nil {
		t.Fatal(err)
	}
	return s
}

// deliver sends n through sender as a new webhook and returns the id of the
// completion event it leads to.
func (s *e2eStack) deliver(t *testing.T, sender *geminisim.Sender, n event.Payload) string {
	t.Helper()
	s.deliverID(t, sender, n, newWebhookID())
	return eventIDOf(t, n)
}

// eventIDOf returns the id of the completion event of the job that n ends.
func eventIDOf(t *testing.T, n event.Payload) string {
	t.Helper()
	ref, ok := completionEvent(t, n, newWebhookID()).Job()
	if !ok || !event.IsTerminal(n.Type) {
		t.Fatalf("%s names no finished job", n.Type)
	}
	return ref.EventID()
}

func (s *e2eStack) deliverID(t *testing.T, sender *geminisim.Sender, n event.Payload, id string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), e2eWait)
	defer cancel()
	rep, err := sender.Send(ctx, geminisim.Delivery{URL: s.receiverURL, Notification: n, WebhookID: id})
	if err != nil || !rep.Delivered {
		t.Fatalf("delivering %s: %v (statuses %v)", id, err, rep.Statuses())
	}
}

// post sends one attempt of d and returns the receiver's status.
func (s *e2eStack) post(t *testing.T, sender *geminisim.Sender, d geminisim.Delivery) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), e2eWait)
	defer cancel()
	req, err := sender.Request(ctx, d)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var body struct {
		Status string `json:"status"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("receiver answered %d (%v)", resp.StatusCode, err)
	}
	return body.Status
}

func (s *e2eStack) failNext(t *testing.T, route geminisim.Route, n, status int) {
	t.Helper()
	if err := s.sim.FailNext(route, n, status); err != nil {
		t.Fatal(err)
	}
}

// onlyResult pulls the results topic, expecting exactly one event, of type
// typ.
func (s *e2eStack) onlyResult(t *testing.T, typ string) *event.Results {
	t.Helper()
	msgs := testenv.Pull(t, s.env.ps, s.resultsSub, 1, e2eWait)
	r := decodeResults(t, msgs[0].Data)
	if r.Type != typ {
		t.Fatalf("results event type = %s, want %s: %+v", r.Type, typ, r.Data.Error)
	}
	if diff := cmp.Diff(r.Attributes(), msgs[0].Attributes); diff != "" {
		t.Errorf("message attributes (-event +message):\n%s", diff)
	}
	return r
}

// checkStored checks a results.stored event for job j, delivered as
// webhook id, against the bucket, and returns the job's folder.
func (s *e2eStack) checkStored(t *testing.T, r *event.Results, j job, id string, objects ...string) string {
	t.Helper()
	folder := "gemini/" + j.folder
	names := []string{folder + materializer.ManifestName}
	for _, o := range objects {
		names = append(names, folder+o)
	}
	slices.Sort(names)
	if r.Data.SourceEventID != id || r.ID != event.ResultsIDPrefix+id || r.Data.Prefix != "gs://"+s.bucket+"/"+folder {
		t.Errorf("event %s for source %s at %s; want source %s at %s", r.ID, r.Data.SourceEventID, r.Data.Prefix, id, folder)
	}
	if diff := cmp.Diff(s.objects(t, names...), r.Data.Objects); diff != "" {
		t.Errorf("announced objects (-bucket +event):\n%s", diff)
	}
	inFolder := append(slices.Clone(names), folder+announcedName)
	slices.Sort(inFolder)
	if diff := cmp.Diff(inFolder, s.list(t, folder)); diff != "" {
		t.Errorf("objects in the folder (-want +got):\n%s", diff)
	}
	man := manifest(t, s.read(t, folder+materializer.ManifestName))
	if man.SourceEventID != id || man.Error != nil || len(man.Objects) != len(objects) || man.Bytes != r.Data.Bytes-r.Data.Objects[slices.IndexFunc(r.Data.Objects, func(o event.StoredObject) bool { return path.Base(o.Name) == materializer.ManifestName })].Size {
		t.Errorf("manifest %+v does not match the event %+v", man, r.Data)
	}
	return folder
}

// checkFailed checks a results.failed event whose folder holds only the
// manifest.
func (s *e2eStack) checkFailed(t *testing.T, r *event.Results, jobFolder, code string) {
	t.Helper()
	folder := "gemini/" + jobFolder
	if r.Data.Error == nil || r.Data.Error.Code != code || !r.Data.Error.Permanent {
		t.Errorf("results.failed error = %+v, want permanent %s", r.Data.Error, code)
	}
	manifestName := folder + materializer.ManifestName
	if diff := cmp.Diff(s.objects(t, manifestName), r.Data.Objects); diff != "" {
		t.Errorf("announced objects (-bucket +event):\n%s", diff)
	}
	if diff := cmp.Diff([]string{folder + announcedName, manifestName}, s.list(t, folder)); diff != "" {
		t.Errorf("objects in the folder (-want +got):\n%s", diff)
	}
	if man := manifest(t, s.read(t, manifestName)); man.Error == nil || man.Error.Code != code || len(man.Objects) != 0 {
		t.Errorf("manifest = %+v, want error %s and no objects", man, code)
	}
}

// objects describes objects as the bucket reports them, sorted by name.
func (s *e2eStack) objects(t *testing.T, names ...string) []event.StoredObject {
	t.Helper()
	var out []event.StoredObject
	for _, name := range names {
		a, err := s.env.reader.Bucket(s.bucket).Object(name).Attrs(t.Context())
		if err != nil {
			t.Fatalf("Attrs(%s): %v", name, err)
		}
		out = append(out, event.StoredObject{
			Name: name, URI: "gs://" + s.bucket + "/" + name, Size: a.Size, CRC32C: event.EncodeCRC32C(a.CRC32C),
			MD5: base64.StdEncoding.EncodeToString(a.MD5), ContentType: a.ContentType,
		})
	}
	slices.SortFunc(out, func(a, b event.StoredObject) int { return strings.Compare(a.Name, b.Name) })
	return out
}

// list returns the names of the objects under prefix, sorted.
func (s *e2eStack) list(t *testing.T, prefix string) []string {
	t.Helper()
	var names []string
	it := s.env.reader.Bucket(s.bucket).Objects(t.Context(), &storage.Query{Prefix: prefix})
	for {
		a, err := it.Next()
		if errors.Is(err, iterator.Done) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		names = append(names, a.Name)
	}
	slices.Sort(names)
	return names
}

func (s *e2eStack) read(t *testing.T, name string) []byte {
	t.Helper()
	rc, err := s.env.reader.Bucket(s.bucket).Object(name).NewReader(t.Context())
	if err != nil {
		t.Fatalf("reading %s: %v", name, err)
	}
	defer rc.Close()
	b, err := io.ReadAll(rc)
	if err != nil {
		t.Fatalf("reading %s: %v", name, err)
	}
	return b
}

// checkContent compares an object's bytes and recorded checksums with a
// simulated file's.
func (s *e2eStack) checkContent(t *testing.T, name string, want geminisim.Digest) {
	t.Helper()
	got := s.read(t, name)
	if sum := sha256.Sum256(got); int64(len(got)) != want.Size || sum != want.SHA256 {
		t.Errorf("%s holds %d bytes with SHA-256 %x, want %d with %x", name, len(got), sum, want.Size, want.SHA256)
	}
	a, err := s.env.reader.Bucket(s.bucket).Object(name).Attrs(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if a.Size != want.Size || a.CRC32C != want.CRC32C || !bytes.Equal(a.MD5, want.MD5[:]) {
		t.Errorf("%s records size %d, crc32c %08x and md5 %x, want %d, %08x and %x", name, a.Size, a.CRC32C, a.MD5, want.Size, want.CRC32C, want.MD5)
	}
}

// checkPushes waits until the materializer has answered as many pushes of
// the event as want lists, then compares them: each is "<status>
// <outcome>", a transient failure having no outcome.
func (s *e2eStack) checkPushes(t *testing.T, eventID string, want ...string) {
	t.Helper()
	if diff := cmp.Diff(want, s.pushes.answers(eventID, len(want), e2eWait)); diff != "" {
		t.Errorf("push answers (-want +got):\n%s", diff)
	}
}

// pushLog records the materializer's answer to every push, by completion
// event id, and can lose the first answer to an event as a network would:
// the work is done, but Pub/Sub sees a failure.
type pushLog struct {
	next http.Handler

	mu      sync.Mutex
	byEvent map[string][]string
	lose    map[string]bool
	changed chan struct{} // closed and replaced on every answer
}

func (p *pushLog) loseFirstAnswer(eventID string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.lose[eventID] = true
}

// answers returns the answers to eventID once there are at least n, or
// those there are after wait.
func (p *pushLog) answers(eventID string, n int, wait time.Duration) []string {
	timer := time.NewTimer(wait)
	defer timer.Stop()
	for {
		p.mu.Lock()
		got, changed := slices.Clone(p.byEvent[eventID]), p.changed
		p.mu.Unlock()
		if len(got) >= n {
			return got
		}
		select {
		case <-changed:
		case <-timer.C:
			return got
		}
	}
}

func (p *pushLog) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	var env struct {
		Message struct {
			Data []byte `json:"data"`
		} `json:"message"`
	}
	var ev struct {
		ID string `json:"id"`
	}
	_ = json.Unmarshal(body, &env)
	_ = json.Unmarshal(env.Message.Data, &ev)

	rec := httptest.NewRecorder()
	r.Body = io.NopCloser(bytes.NewReader(body))
	p.next.ServeHTTP(rec, r)
	var answer struct {
		Outcome string `json:"outcome"`
	}
	_ = json.Unmarshal(rec.Body.Bytes(), &answer)

	status := rec.Code
	p.mu.Lock()
	if p.lose[ev.ID] && status == http.StatusOK {
		delete(p.lose, ev.ID)
		status = http.StatusServiceUnavailable
	}
	p.byEvent[ev.ID] = append(p.byEvent[ev.ID], strconv.Itoa(status)+" "+answer.Outcome)
	close(p.changed)
	p.changed = make(chan struct{})
	p.mu.Unlock()

	for k, v := range rec.Header() {
		w.Header()[k] = v
	}
	w.WriteHeader(status)
	_, _ = w.Write(rec.Body.Bytes())
}

// randomHex returns n random bytes in hex.
func randomHex(t testing.TB, n int) string {
	t.Helper()
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(b)
}

// testWriter sends log lines to the test log, so that a failure shows what
// the functions logged.
type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Helper()
	w.t.Log(strings.TrimSpace(string(p)))
	return len(p), nil
}
