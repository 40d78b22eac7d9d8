package cli_test

import (
	"bytes"
	"context"
	"encoding/json"
	"hash/crc32"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"cloud.google.com/go/iam/apiv1/iampb"
	"cloud.google.com/go/pubsub/v2"
	"cloud.google.com/go/pubsub/v2/apiv1/pubsubpb"
	"cloud.google.com/go/pubsub/v2/pstest"
	secretmanager "cloud.google.com/go/secretmanager/apiv1"
	"cloud.google.com/go/secretmanager/apiv1/secretmanagerpb"
	"github.com/sethvargo/go-envconfig"
	"google.golang.org/api/option"
	"google.golang.org/genai"
	"google.golang.org/genai/interactions/models/operations"
	"google.golang.org/genai/interactions/models/webhooks"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/geminihooks/geminihooks/internal/geminisim"
	"github.com/geminihooks/geminihooks/internal/testenv"
	"github.com/geminihooks/geminihooks/pkg/event"
	"github.com/geminihooks/geminihooks/pkg/receiver"
	"github.com/geminihooks/geminihooks/pkg/signature"
)

// webhooksAPIKey is the simulator's API key in these tests.
const webhooksAPIKey = "webhooks-test-key"

// webhooksSecretName is the Secret Manager secret of these tests.
const webhooksSecretName = "projects/geminihooks-test/secrets/webhook-signing"

// simKey is one RSA key for every simulator of these tests: generating one
// per simulator would dominate their run time.
var simKey = sync.OnceValues(signature.GenerateRSAKey)

// secretManagerFake is an in-process Secret Manager holding one secret. It
// serves the three RPCs geminihooks uses the way the real service does:
// AddSecretVersion checks the payload checksum and appends an enabled
// version, ListSecretVersions lists newest first and filters on state, and
// AccessSecretVersion refuses versions that are not enabled.
type secretManagerFake struct {
	secretmanagerpb.UnimplementedSecretManagerServiceServer

	parent string
	addr   string

	mu       sync.Mutex
	versions []*secretmanagerpb.SecretVersion
	data     map[string][]byte
	addErrs  []error // returned by the next AddSecretVersion calls, in order
	listErr  error   // returned by every ListSecretVersions call
	denied   bool    // the caller lacks secretmanager.versions.add
	checks   int     // TestIamPermissions calls
	adds     int     // AddSecretVersion calls, failed ones included
}

// startSecretManagerFake serves a fake holding an empty secret named parent.
func startSecretManagerFake(t *testing.T, parent string) *secretManagerFake {
	t.Helper()
	f := &secretManagerFake{parent: parent, data: map[string][]byte{}}
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := grpc.NewServer()
	secretmanagerpb.RegisterSecretManagerServiceServer(srv, f)
	go func() { _ = srv.Serve(lis) }()
	t.Cleanup(srv.Stop)
	f.addr = lis.Addr().String()
	return f
}

// client returns a real Secret Manager client connected to the fake.
func (f *secretManagerFake) client(t *testing.T) *secretmanager.Client {
	t.Helper()
	c, err := secretmanager.NewClient(t.Context(),
		option.WithEndpoint(f.addr),
		option.WithoutAuthentication(),
		option.WithGRPCDialOption(grpc.WithTransportCredentials(insecure.NewCredentials())),
	)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// failAdds makes the next AddSecretVersion calls fail with errs, in order.
func (f *secretManagerFake) failAdds(errs ...error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.addErrs = append(f.addErrs, errs...)
}

// deny takes the version-adder grant away: TestIamPermissions leaves
// secretmanager.versions.add out, and AddSecretVersion is refused.
func (f *secretManagerFake) deny() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.denied = true
}

// TestIamPermissions answers with the permissions asked for that the
// caller holds, as the real service does for any caller; a secret that
// does not exist is NotFound.
func (f *secretManagerFake) TestIamPermissions(_ context.Context, req *iampb.TestIamPermissionsRequest) (*iampb.TestIamPermissionsResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.checks++
	if req.GetResource() != f.parent {
		return nil, status.Errorf(codes.NotFound, "Secret [%s] not found.", req.GetResource())
	}
	resp := &iampb.TestIamPermissionsResponse{}
	for _, p := range req.GetPermissions() {
		if p != "secretmanager.versions.add" || !f.denied {
			resp.Permissions = append(resp.Permissions, p)
		}
	}
	return resp, nil
}

// failLists makes every ListSecretVersions call fail with err.
func (f *secretManagerFake) failLists(err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.listErr = err
}

// stored returns the payloads of the versions, oldest first, and the
// number of AddSecretVersion calls.
func (f *secretManagerFake) stored() (payloads []string, adds int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, v := range f.versions {
		payloads = append(payloads, string(f.data[v.GetName()]))
	}
	return payloads, f.adds
}

func (f *secretManagerFake) AddSecretVersion(_ context.Context, req *secretmanagerpb.AddSecretVersionRequest) (*secretmanagerpb.SecretVersion, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.adds++
	if f.denied {
		return nil, status.Error(codes.PermissionDenied, "Permission 'secretmanager.versions.add' denied")
	}
	if len(f.addErrs) > 0 {
		err := f.addErrs[0]
		f.addErrs = f.addErrs[1:]
		return nil, err
	}
	if req.GetParent() != f.parent {
		return nil, status.Errorf(codes.NotFound, "Secret [%s] not found or has no versions.", req.GetParent())
	}
	data := req.GetPayload().GetData()
	sum := req.GetPayload().DataCrc32C
	if sum == nil {
		// geminihooks always sends one; the real service accepts none.
		return nil, status.Error(codes.InvalidArgument, "test fake: the payload has no data_crc32c")
	}
	if int64(crc32.Checksum(data, crc32.MakeTable(crc32.Castagnoli))) != *sum {
		return nil, status.Error(codes.InvalidArgument, "Checksum mismatch.")
	}
	v := &secretmanagerpb.SecretVersion{
		Name:       f.parent + "/versions/" + strconv.Itoa(len(f.versions)+1),
		State:      secretmanagerpb.SecretVersion_ENABLED,
		CreateTime: timestamppb.Now(),
	}
	f.versions = append(f.versions, v)
	f.data[v.GetName()] = slices.Clone(data)
	return v, nil
}

func (f *secretManagerFake) ListSecretVersions(_ context.Context, req *secretmanagerpb.ListSecretVersionsRequest) (*secretmanagerpb.ListSecretVersionsResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.listErr != nil {
		return nil, f.listErr
	}
	if req.GetParent() != f.parent {
		return nil, status.Errorf(codes.NotFound, "Secret [%s] not found.", req.GetParent())
	}
	var want secretmanagerpb.SecretVersion_State
	switch req.GetFilter() {
	case "":
	case "state:ENABLED", "state:DISABLED", "state:DESTROYED":
		want = secretmanagerpb.SecretVersion_State(secretmanagerpb.SecretVersion_State_value[strings.TrimPrefix(req.GetFilter(), "state:")])
	default:
		return nil, status.Errorf(codes.InvalidArgument, "test fake: unsupported filter %q", req.GetFilter())
	}
	resp := &secretmanagerpb.ListSecretVersionsResponse{}
	for _, v := range slices.Backward(f.versions) {
		if want == secretmanagerpb.SecretVersion_STATE_UNSPECIFIED || v.GetState() == want {
			resp.Versions = append(resp.Versions, &secretmanagerpb.SecretVersion{Name: v.GetName(), State: v.GetState(), CreateTime: v.GetCreateTime()})
		}
	}
	resp.TotalSize = int32(len(resp.Versions))
	return resp, nil
}

func (f *secretManagerFake) AccessSecretVersion(_ context.Context, req *secretmanagerpb.AccessSecretVersionRequest) (*secretmanagerpb.AccessSecretVersionResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, v := range f.versions {
		if v.GetName() != req.GetName() {
			continue
		}
		if v.GetState() != secretmanagerpb.SecretVersion_ENABLED {
			return nil, status.Errorf(codes.FailedPrecondition, "%s is in %s state", v.GetName(), v.GetState())
		}
		data := f.data[v.GetName()]
		sum := int64(crc32.Checksum(data, crc32.MakeTable(crc32.Castagnoli)))
		return &secretmanagerpb.AccessSecretVersionResponse{
			Name:    v.GetName(),
			Payload: &secretmanagerpb.SecretPayload{Data: slices.Clone(data), DataCrc32C: &sum},
		}, nil
	}
	return nil, status.Errorf(codes.NotFound, "%s not found", req.GetName())
}

// webhooksStack is what the webhooks commands talk to in a test: the
// Gemini API simulator and the Secret Manager fake, plus a receiver that
// reads its signing secrets from the fake, as deployed.
type webhooksStack struct {
	sim      *geminisim.Server
	simURL   string
	sm       *secretManagerFake
	receiver *recordingReceiver
	// patches records the raw query of every PATCH the simulator got.
	patches *syncStrings
}

// syncStrings is a string list safe for concurrent use.
type syncStrings struct {
	mu   sync.Mutex
	list []string
}

func (s *syncStrings) add(v string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.list = append(s.list, v)
}

func (s *syncStrings) all() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.list)
}

func newWebhooksStack(t *testing.T) *webhooksStack {
	t.Helper()
	key, err := simKey()
	if err != nil {
		t.Fatal(err)
	}
	sim, err := geminisim.New(geminisim.Options{APIKey: webhooksAPIKey, SigningKey: key})
	if err != nil {
		t.Fatal(err)
	}
	st := &webhooksStack{sim: sim, patches: &syncStrings{}}
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPatch {
			st.patches.add(r.URL.RawQuery)
		}
		sim.ServeHTTP(w, r)
	}))
	t.Cleanup(ts.Close)
	st.simURL = ts.URL
	st.sm = startSecretManagerFake(t, webhooksSecretName)
	st.receiver = startRecordingReceiver(t, st.sm, ts.URL)
	return st
}

// env returns the environment of the tool: the simulator as the Gemini API
// and the fake as Secret Manager.
func (st *webhooksStack) env() map[string]string {
	return map[string]string{
		"GEMINI_API_KEY":               webhooksAPIKey,
		"GEMINI_BASE_URL":              st.simURL,
		"SECRET_MANAGER_EMULATOR_HOST": st.sm.addr,
	}
}

// sdk returns a Gemini client of the simulator, for setting up webhooks.
func (st *webhooksStack) sdk(t *testing.T) *genai.Client {
	t.Helper()
	c, err := genai.NewClient(t.Context(), &genai.ClientConfig{
		APIKey: webhooksAPIKey, Backend: genai.BackendGeminiAPI, HTTPOptions: genai.HTTPOptions{BaseURL: st.simURL},
	})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// createWebhook registers a webhook directly with the simulator and
// returns its id.
func (st *webhooksStack) createWebhook(t *testing.T, name string) string {
	t.Helper()
	res, err := st.sdk(t).Webhooks.Create(t.Context(), operations.CreateWebhookRequest{Body: webhooks.WebhookInput{
		Name: genai.Ptr(name), URI: st.receiver.URL,
		SubscribedEvents: []webhooks.WebhookSubscribedEvent{webhooks.WebhookSubscribedEventBatchSucceeded},
	}})
	if err != nil {
		t.Fatal(err)
	}
	return *res.Webhook.GetID()
}

// webhook returns the simulator's view of a webhook.
func (st *webhooksStack) webhook(t *testing.T, id string) geminisim.WebhookInfo {
	t.Helper()
	info, err := st.sim.Webhook(id)
	if err != nil {
		t.Fatal(err)
	}
	return info
}

// receiverAnswer is one answer of the receiver.
type receiverAnswer struct {
	Status int    `json:"-"`
	Result string `json:"status"`
	Error  struct {
		Code string `json:"code"`
	} `json:"error"`
}

// recordingReceiver is the real receiver (pkg/receiver) on in-memory
// idempotency and an in-process Pub/Sub, verifying HMAC deliveries with every enabled version of the
// Secret Manager secret, and recording its answers.
type recordingReceiver struct {
	*httptest.Server
	logs *testenv.SyncBuffer

	mu      sync.Mutex
	answers []receiverAnswer
}

func startRecordingReceiver(t *testing.T, sm *secretManagerFake, simURL string) *recordingReceiver {
	t.Helper()
	cfg, err := receiver.LoadConfig(t.Context(), envconfig.MapLookuper(map[string]string{
		"GOOGLE_CLOUD_PROJECT":   "geminihooks-test",
		"WEBHOOK_SIGNING_SECRET": sm.parent,
		// Reload as soon as a signature matches no secret; the cache TTL
		// stays the deployed 5 minutes, so only that refresh can pick up a
		// rotation during a test.
		"WEBHOOK_SECRET_REFRESH_INTERVAL": "1ms",
		"WEBHOOK_JWKS_URL":                simURL + "/.well-known/jwks.json",
	}))
	if err != nil {
		t.Fatal(err)
	}
	rr := &recordingReceiver{logs: &testenv.SyncBuffer{}}
	logger := slog.New(slog.NewJSONHandler(rr.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	h, stop, err := receiver.Build(t.Context(), cfg, receiver.Backends{SecretManager: sm.client(t), PubSub: inProcessPubSub(t, cfg.EventsTopic)}, logger)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = stop() })
	rr.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, r)
		var a receiverAnswer
		_ = json.Unmarshal(rec.Body.Bytes(), &a)
		a.Status = rec.Code
		rr.mu.Lock()
		rr.answers = append(rr.answers, a)
		rr.mu.Unlock()
		for k, v := range rec.Header() {
			w.Header()[k] = v
		}
		w.WriteHeader(rec.Code)
		_, _ = w.Write(rec.Body.Bytes())
	}))
	t.Cleanup(rr.Close)
	return rr
}

// lastAnswer returns the receiver's latest answer.
func (rr *recordingReceiver) lastAnswer(t *testing.T) receiverAnswer {
	t.Helper()
	rr.mu.Lock()
	defer rr.mu.Unlock()
	if len(rr.answers) == 0 {
		t.Fatal("the receiver got no request")
	}
	return rr.answers[len(rr.answers)-1]
}

// deliver sends a new batch.succeeded to the receiver, signed with each
// of secrets as Gemini signs it, once, and returns the receiver's answer.
func (rr *recordingReceiver) deliver(t *testing.T, secrets ...string) receiverAnswer {
	t.Helper()
	sender, err := geminisim.NewSender(geminisim.SenderOptions{Secrets: secrets, Retry: geminisim.RetryPolicy{MaxAttempts: 1}})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 15*time.Second)
	defer cancel()
	rep, _ := sender.Send(ctx, geminisim.Delivery{URL: rr.URL, Notification: event.Payload{
		Type: event.TypeBatchSucceeded, Version: "v1", Timestamp: time.Now(),
		Data: event.PayloadData{ID: "batches/b" + strconv.FormatInt(time.Now().UnixNano(), 36), OutputFileURI: "files/results"},
	}})
	if len(rep.Attempts) != 1 || rep.Attempts[0].Err != nil {
		t.Fatalf("delivery failed: %+v", rep)
	}
	return rr.lastAnswer(t)
}

// assertNoSecret fails if any of secrets, or its base64 part, appears in
// the tool's output or in text.
func assertNoSecret(t *testing.T, res cliResult, secrets []string, more ...string) {
	t.Helper()
	for i, s := range secrets {
		for name, out := range map[string]string{"stdout": res.stdout, "stderr": res.stderr, "other output": strings.Join(more, "\n")} {
			if strings.Contains(out, strings.TrimPrefix(s, signature.SecretPrefix)) {
				t.Errorf("secret %d appears in %s", i, name)
			}
		}
	}
}

// createdID returns the webhook id of create's readable output.
func createdID(t *testing.T, out string) string {
	t.Helper()
	for _, line := range strings.Split(out, "\n") {
		if rest, ok := strings.CutPrefix(line, "Created webhook "); ok {
			return strings.TrimSuffix(rest, ".")
		}
	}
	t.Fatalf("no 'Created webhook' line in:\n%s", out)
	return ""
}

// jsonOut decodes a command's JSON output.
func jsonOut[T any](t *testing.T, out string) T {
	t.Helper()
	var v T
	dec := json.NewDecoder(bytes.NewReader([]byte(out)))
	if err := dec.Decode(&v); err != nil {
		t.Fatalf("output is not the expected JSON: %v\n%s", err, out)
	}
	if _, err := dec.Token(); err != io.EOF {
		t.Fatalf("trailing output after the JSON:\n%s", out)
	}
	return v
}

// inProcessPubSub returns a client of an in-process Pub/Sub holding topic.
func inProcessPubSub(t *testing.T, topic string) *pubsub.Client {
	t.Helper()
	srv := pstest.NewServer()
	t.Cleanup(func() { _ = srv.Close() })
	if _, err := srv.GServer.CreateTopic(t.Context(), &pubsubpb.Topic{Name: "projects/geminihooks-test/topics/" + topic}); err != nil {
		t.Fatal(err)
	}
	conn, err := grpc.NewClient(srv.Addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	c, err := pubsub.NewClient(t.Context(), "geminihooks-test", option.WithGRPCConn(conn))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close(); _ = conn.Close() })
	return c
}
