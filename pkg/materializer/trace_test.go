package materializer_test

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"cloud.google.com/go/pubsub/v2"
	"cloud.google.com/go/pubsub/v2/pstest"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"google.golang.org/api/option"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/geminihooks/geminihooks/internal/geminisim"
	"github.com/geminihooks/geminihooks/internal/testenv"
	"github.com/geminihooks/geminihooks/pkg/blob"
	"github.com/geminihooks/geminihooks/pkg/idempotency"
	"github.com/geminihooks/geminihooks/pkg/logging"
	"github.com/geminihooks/geminihooks/pkg/materializer"
	"github.com/geminihooks/geminihooks/pkg/publish"
	"github.com/geminihooks/geminihooks/pkg/receiver"
	"github.com/geminihooks/geminihooks/pkg/signature"
)

// TestTrace_followsTheJobFromWebhookToResults delivers a webhook to the
// receiver with Cloud Run's X-Cloud-Trace-Context, lets the publish carry
// its trace context in the message (as the Pub/Sub client's OpenTelemetry
// support would), pulls the message from Pub/Sub, pushes it to the
// materializer the way a push subscription does (with a trace header of its
// own), and checks that one trace holds every step, and that every log line
// links to it.
func TestTrace_followsTheJobFromWebhookToResults(t *testing.T) {
	t.Parallel()
	const project = "trace-test"
	// Cloud Run's header: a decimal span id.
	const cloudTraceID, cloudSpanDecimal = "105445aa7843bc8bf206b12000100000", "1234567890"
	spans := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(spans), sdktrace.WithSampler(sdktrace.AlwaysSample()))
	logs := &testenv.SyncBuffer{}
	logger := logging.New(logs, slog.LevelInfo)

	// In-process Pub/Sub, with a client as CloudBackends makes it.
	srv := pstest.NewServer()
	t.Cleanup(func() { srv.Close() })
	conn, err := grpc.NewClient(srv.Addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	ps, err := pubsub.NewClient(t.Context(), project, option.WithGRPCConn(conn))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ps.Close() })
	topic, sub := testenv.Topic(t, ps)

	// The receiver, publishing to the topic.
	raw, _ := signature.GenerateSecret()
	secret, _ := signature.ParseSecret("test", raw)
	v, err := signature.NewVerifier(signature.Options{Secrets: signature.StaticSecrets{secret}})
	if err != nil {
		t.Fatal(err)
	}
	ledger, err := idempotency.NewMemory(idempotency.Options{})
	if err != nil {
		t.Fatal(err)
	}
	pub, err := publish.NewPubSub(ps, topic, publish.Options{Ordering: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pub.Stop)
	jobs := memJobs(t)
	rh, err := receiver.New(v, ledger, pub, jobs, logger, receiver.Options{ProjectID: project, Tracer: tp})
	if err != nil {
		t.Fatal(err)
	}

	// The materializer, on the simulator.
	sim, simURL := newSim(t, geminisim.Options{})
	m, err := materializer.New(newClient(t, simURL, 0), blob.NewMemory(), &publish.Memory{}, jobs, logger, materializer.Options{Bucket: testBucket})
	if err != nil {
		t.Fatal(err)
	}
	mh, err := materializer.NewHandler(m, logger, materializer.HandlerOptions{ProjectID: project, Tracer: tp})
	if err != nil {
		t.Fatal(err)
	}

	name, err := sim.CreateBatch(geminisim.BatchSpec{Results: geminisim.ResultsFile{Size: 64 << 10}})
	if err != nil {
		t.Fatal(err)
	}
	n, err := sim.CompleteBatch(name)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := json.Marshal(n)
	now := time.Now()
	req := httptest.NewRequest(http.MethodPost, "/", bytes.NewReader(body))
	req.Header.Set("webhook-id", "msg_trace")
	req.Header.Set("webhook-timestamp", strconv.FormatInt(now.Unix(), 10))
	req.Header.Set("webhook-signature", signature.SignHMAC(secret, "msg_trace", now, body))
	req.Header.Set("X-Cloud-Trace-Context", cloudTraceID+"/"+cloudSpanDecimal+";o=1")
	w := httptest.NewRecorder()
	rh.ServeHTTP(w, req)
	if w.Code != http.StatusOK {
		t.Fatalf("receiver answered %d %s", w.Code, w.Body)
	}

	msg := testenv.Pull(t, ps, sub, 1, 30*time.Second)[0]
	if msg.Attributes["googclient_traceparent"] == "" {
		t.Fatalf("the published message carries no trace context: %v", msg.Attributes)
	}
	// The push request has a trace of its own, as Cloud Run gives it.
	const pushTrace = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
	push, _ := json.Marshal(map[string]any{
		"message": map[string]any{"data": base64.StdEncoding.EncodeToString(msg.Data), "attributes": msg.Attributes,
			"messageId": msg.ID, "publishTime": msg.PublishTime},
		"subscription": sub,
	})
	preq := httptest.NewRequest(http.MethodPost, "/", bytes.NewReader(push))
	preq.Header.Set("Content-Type", "application/json")
	preq.Header.Set("traceparent", pushTrace)
	pw := httptest.NewRecorder()
	mh.ServeHTTP(pw, preq)
	if pw.Code != http.StatusOK || !strings.Contains(pw.Body.String(), `"stored"`) {
		t.Fatalf("materializer answered %d %s", pw.Code, pw.Body)
	}

	byName := map[string][]sdktrace.ReadOnlySpan{}
	for _, s := range spans.Ended() {
		if got := s.SpanContext().TraceID().String(); got != cloudTraceID {
			t.Errorf("span %q is in trace %s, want the webhook's %s", s.Name(), got, cloudTraceID)
		}
		byName[s.Name()] = append(byName[s.Name()], s)
	}
	one := func(name string) sdktrace.ReadOnlySpan {
		t.Helper()
		if len(byName[name]) != 1 {
			t.Fatalf("%d spans named %q, want 1; spans: %v", len(byName[name]), name, names(spans.Ended()))
		}
		return byName[name][0]
	}
	delivery, published, materialize := one(receiver.SpanDelivery), one(publish.SpanPublish), one(materializer.SpanMaterialize)
	if got := delivery.Parent().SpanID().String(); got != "00000000499602d2" {
		t.Errorf("the delivery's parent span is %s, want Cloud Run's %s in hex (00000000499602d2)", got, cloudSpanDecimal)
	}
	// The delivery span identifies the delivery, its job and its answer;
	// the rest of the log line stays there.
	attrs := map[string]string{}
	for _, kv := range delivery.Attributes() {
		attrs[string(kv.Key)] = kv.Value.String()
	}
	if attrs["http.response.status_code"] != "200" || attrs["outcome"] != "accepted" || attrs["event_type"] != "batch.succeeded" ||
		attrs["scheme"] != "hmac" || attrs["webhook_id"] == "" || attrs["resource"] == "" || len(attrs) != 6 {
		t.Errorf("the delivery span's attributes are %v, want its scheme, event type, webhook id, resource, outcome and answer", attrs)
	}
	pubAttrs := map[string]string{}
	for _, kv := range published.Attributes() {
		pubAttrs[string(kv.Key)] = kv.Value.String()
	}
	if pubAttrs["messaging.system"] != "gcp_pubsub" || pubAttrs["messaging.destination.name"] != topic || pubAttrs["messaging.message.id"] == "" {
		t.Errorf("the publish span's attributes are %v, want the system, topic and message id", pubAttrs)
	}
	matAttrs := map[string]string{}
	for _, kv := range materialize.Attributes() {
		matAttrs[string(kv.Key)] = kv.Value.String()
	}
	if matAttrs["outcome"] != "stored" || matAttrs["resource"] != attrs["resource"] || matAttrs["kind"] != "batch" ||
		matAttrs["objects"] == "" || matAttrs["bytes"] == "" || matAttrs["message_id"] != "" || len(matAttrs) > 8 {
		t.Errorf("the materialize span's attributes are %v, want the job, its kind, the outcome and what was stored, at most eight", matAttrs)
	}
	if published.Parent().SpanID() != delivery.SpanContext().SpanID() {
		t.Error("the publish span is not a child of the delivery")
	}
	if materialize.Parent().SpanID() != published.SpanContext().SpanID() || !materialize.Parent().IsRemote() {
		t.Errorf("the materializer's span continues %s, want the receiver's publish span %s", materialize.Parent().SpanID(), published.SpanContext().SpanID())
	}
	if links := materialize.Links(); len(links) != 1 || links[0].SpanContext.TraceID().String() != "0af7651916cd43dd8448eb211c80319c" {
		t.Errorf("the materializer's span links %v, want the push request's own trace", links)
	}
	for _, name := range []string{receiver.SpanVerify, idempotency.SpanClaim,
		materializer.SpanFetch, materializer.SpanDownload, materializer.SpanManifest, materializer.SpanRecord, materializer.SpanAnnounce} {
		one(name)
	}
	if ups := byName[materializer.SpanUpload]; len(ups) != 2 { // results.jsonl and _announced.json
		t.Errorf("%d upload spans, want 2", len(ups))
	}
	for _, s := range spans.Ended() {
		if s.Name() == receiver.SpanDelivery || s.Name() == materializer.SpanMaterialize {
			continue
		}
		if !s.Parent().IsValid() {
			t.Errorf("span %q has no parent", s.Name())
		}
	}

	// Every line links to the trace, with a span id of 16 hex digits.
	lines := bytes.Split(bytes.TrimSpace([]byte(logs.String())), []byte("\n"))
	if len(lines) < 2 {
		t.Fatalf("got %d log lines, want the receiver's and the materializer's:\n%s", len(lines), logs.String())
	}
	spanIDs := map[string]bool{delivery.SpanContext().SpanID().String(): true, materialize.SpanContext().SpanID().String(): true}
	for _, l := range lines {
		var line map[string]any
		if err := json.Unmarshal(l, &line); err != nil {
			t.Fatalf("log line is not JSON: %s", l)
		}
		if line[logging.KeyTrace] != "projects/"+project+"/traces/"+cloudTraceID || !spanIDs[line[logging.KeySpanID].(string)] ||
			line[logging.KeyTraceSampled] != true {
			t.Errorf("log line %q links to trace %v span %v, want the delivery's or the materializer's span of trace %s",
				line["message"], line[logging.KeyTrace], line[logging.KeySpanID], cloudTraceID)
		}
	}
}

func names(spans []sdktrace.ReadOnlySpan) []string {
	var out []string
	for _, s := range spans {
		out = append(out, s.Name())
	}
	return out
}
