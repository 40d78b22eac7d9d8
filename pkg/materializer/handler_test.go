package materializer_test

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/google/go-cmp/cmp"

	"github.com/geminihooks/geminihooks/internal/geminisim"
	"github.com/geminihooks/geminihooks/pkg/event"
	"github.com/geminihooks/geminihooks/pkg/materializer"
	"github.com/geminihooks/geminihooks/pkg/publish"
)

const (
	testSubscription = "projects/geminihooks-test/subscriptions/geminihooks-events-materializer"
	testTopic        = "projects/geminihooks-test/topics/geminihooks-events"
)

// pushBody is a Pub/Sub push request body carrying data, spelled as the
// service (and the emulator) sends it.
func pushBody(t testing.TB, data []byte) []byte {
	t.Helper()
	b, err := json.Marshal(map[string]any{
		"message": map[string]any{
			"data":         base64.StdEncoding.EncodeToString(data),
			"attributes":   map[string]string{"event_type": "batch.succeeded"},
			"messageId":    "4242",
			"message_id":   "4242",
			"publishTime":  "2026-05-04T12:00:01.123Z",
			"publish_time": "2026-05-04T12:00:01.123Z",
		},
		"subscription":    testSubscription,
		"deliveryAttempt": 1,
	})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// eventJSON is the events topic's message for ev.
func eventJSON(t testing.TB, ev *event.Event) []byte {
	t.Helper()
	// What the receiver publishes; json.Marshal would escape HTML again.
	b, err := ev.MarshalJSON()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// Request shapes of the three ways a Pub/Sub trigger delivers a message.
func pushRequest(body []byte) *http.Request {
	r := httptest.NewRequest(http.MethodPost, "/", bytes.NewReader(body))
	r.Header.Set("Content-Type", "application/json")
	return r
}

func binaryCloudEvent(body []byte) *http.Request {
	r := pushRequest(body)
	r.Header.Set("ce-id", "4242")
	r.Header.Set("ce-specversion", "1.0")
	r.Header.Set("ce-type", "google.cloud.pubsub.topic.v1.messagePublished")
	r.Header.Set("ce-source", "//pubsub.googleapis.com/"+testTopic)
	r.Header.Set("ce-time", "2026-05-04T12:00:01.123Z")
	return r
}

func structuredCloudEvent(t testing.TB, body []byte) *http.Request {
	t.Helper()
	b, err := json.Marshal(map[string]any{
		"specversion": "1.0", "id": "4242", "type": "google.cloud.pubsub.topic.v1.messagePublished",
		"source": "//pubsub.googleapis.com/" + testTopic, "time": "2026-05-04T12:00:01.123Z",
		"datacontenttype": "application/json", "data": json.RawMessage(body),
	})
	if err != nil {
		t.Fatal(err)
	}
	r := httptest.NewRequest(http.MethodPost, "/", bytes.NewReader(b))
	r.Header.Set("Content-Type", "application/cloudevents+json; charset=utf-8")
	return r
}

// handlerResponse is a decoded answer of the Handler.
type handlerResponse struct {
	Status  int
	Outcome string `json:"outcome"`
	Folder  string `json:"folder"`
	Error   struct {
		Code    string `json:"code"`
		Message string `json:"message"`
	} `json:"error"`
	Allow string
}

func serve(t testing.TB, h http.Handler, r *http.Request) handlerResponse {
	t.Helper()
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	if ct := w.Header().Get("Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type = %q, want application/json", ct)
	}
	var resp handlerResponse
	if err := json.Unmarshal(w.Body.Bytes(), &resp); err != nil {
		t.Fatalf("response is not JSON: %v: %q", err, w.Body.String())
	}
	resp.Status, resp.Allow = w.Code, w.Header().Get("Allow")
	return resp
}

func newHandler(t testing.TB, f *fixture) *materializer.Handler {
	t.Helper()
	h, err := materializer.NewHandler(f.m, slog.New(slog.NewJSONHandler(f.logs, nil)), materializer.HandlerOptions{ProjectID: "geminihooks-test"})
	if err != nil {
		t.Fatal(err)
	}
	return h
}

func TestHandler(t *testing.T) {
	t.Parallel()
	finished := func(t *testing.T, f *fixture) []byte {
		j := finishedBatch(t, f.sim, geminisim.BatchSpec{})
		return pushBody(t, eventJSON(t, completionEvent(t, j.n, newWebhookID())))
	}
	premature := func(t *testing.T, f *fixture) []byte {
		name, err := f.sim.CreateBatch(geminisim.BatchSpec{})
		if err != nil {
			t.Fatal(err)
		}
		n := notification(event.TypeBatchSucceeded, name)
		return pushBody(t, eventJSON(t, completionEvent(t, n, newWebhookID())))
	}
	tests := []struct {
		name        string
		request     func(t *testing.T, f *fixture) *http.Request
		wantStatus  int
		wantOutcome materializer.Outcome
		wantCode    string
		published   int
	}{
		{
			name:       "push_envelope",
			request:    func(t *testing.T, f *fixture) *http.Request { return pushRequest(finished(t, f)) },
			wantStatus: http.StatusOK, wantOutcome: materializer.Stored, published: 1,
		},
		{
			name:       "binary_cloudevent",
			request:    func(t *testing.T, f *fixture) *http.Request { return binaryCloudEvent(finished(t, f)) },
			wantStatus: http.StatusOK, wantOutcome: materializer.Stored, published: 1,
		},
		{
			name:       "structured_cloudevent",
			request:    func(t *testing.T, f *fixture) *http.Request { return structuredCloudEvent(t, finished(t, f)) },
			wantStatus: http.StatusOK, wantOutcome: materializer.Stored, published: 1,
		},
		{
			name: "unknown_job_is_acknowledged",
			request: func(t *testing.T, f *fixture) *http.Request {
				n := notification(event.TypeBatchSucceeded, "batches/missing")
				return pushRequest(pushBody(t, eventJSON(t, completionEvent(t, n, newWebhookID()))))
			},
			wantStatus: http.StatusOK, wantOutcome: materializer.Failed, published: 1,
		},
		{
			name: "unknown_kind_is_acknowledged",
			request: func(t *testing.T, f *fixture) *http.Request {
				n := notification("model.tuned", "tunedModels/x")
				return pushRequest(pushBody(t, eventJSON(t, completionEvent(t, n, newWebhookID()))))
			},
			wantStatus: http.StatusOK, wantOutcome: materializer.NotAJob,
		},
		{
			name: "largest_pubsub_message_is_read",
			request: func(t *testing.T, f *fixture) *http.Request {
				n := notification("model.tuned", "tunedModels/x")
				n.Data.UserMetadata = map[string]any{"k": strings.Repeat("<", publish.MaxMessageBytes-2048)}
				data := eventJSON(t, completionEvent(t, n, newWebhookID()))
				if len(data) > publish.MaxMessageBytes {
					t.Fatalf("event is %d bytes, over Pub/Sub's %d", len(data), publish.MaxMessageBytes)
				}
				return pushRequest(pushBody(t, data))
			},
			wantStatus: http.StatusOK, wantOutcome: materializer.NotAJob,
		},
		{
			name:       "transient_failure",
			request:    func(t *testing.T, f *fixture) *http.Request { return pushRequest(premature(t, f)) },
			wantStatus: http.StatusServiceUnavailable, wantCode: "transient_failure",
		},
		{
			name:       "body_not_json",
			request:    func(*testing.T, *fixture) *http.Request { return pushRequest([]byte(`{"message":`)) },
			wantStatus: http.StatusBadRequest, wantCode: "invalid_push",
		},
		{
			name:       "message_without_data",
			request:    func(*testing.T, *fixture) *http.Request { return pushRequest([]byte(`{"message":{"messageId":"1"}}`)) },
			wantStatus: http.StatusBadRequest, wantCode: "invalid_push",
		},
		{
			name: "structured_cloudevent_without_data",
			request: func(t *testing.T, _ *fixture) *http.Request {
				r := structuredCloudEvent(t, []byte(`null`))
				return r
			},
			wantStatus: http.StatusBadRequest, wantCode: "invalid_push",
		},
		{
			name:       "data_not_an_event",
			request:    func(t *testing.T, _ *fixture) *http.Request { return pushRequest(pushBody(t, []byte("hello"))) },
			wantStatus: http.StatusBadRequest, wantCode: "invalid_event",
		},
		{
			name: "data_is_a_results_event",
			request: func(t *testing.T, f *fixture) *http.Request {
				// A subscription wired to the wrong topic.
				return pushRequest(pushBody(t, []byte(`{"specversion":"1.0","id":"results-x","type":"dev.geminihooks.results.stored",`+
					`"source":"//geminihooks/materializer","data":{"schema_version":"1","kind":"batch"}}`)))
			},
			wantStatus: http.StatusBadRequest, wantCode: "invalid_event",
		},
		{
			name: "body_too_large",
			request: func(t *testing.T, _ *fixture) *http.Request {
				return pushRequest(bytes.Repeat([]byte(" "), 16<<20+1))
			},
			wantStatus: http.StatusRequestEntityTooLarge, wantCode: "body_too_large",
		},
		{
			name: "body_unreadable",
			request: func(t *testing.T, _ *fixture) *http.Request {
				body := io.MultiReader(strings.NewReader(`{"message":`), iotest.ErrReader(errors.New("connection reset")))
				return httptest.NewRequest(http.MethodPost, "/", body)
			},
			wantStatus: http.StatusBadRequest, wantCode: "unreadable_body",
		},
		{
			name:       "get_is_not_allowed",
			request:    func(*testing.T, *fixture) *http.Request { return httptest.NewRequest(http.MethodGet, "/", nil) },
			wantStatus: http.StatusMethodNotAllowed, wantCode: "method_not_allowed",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			f := newFixture(t, fixtureOptions{})
			resp := serve(t, newHandler(t, f), tc.request(t, f))
			if resp.Status != tc.wantStatus || resp.Outcome != string(tc.wantOutcome) || resp.Error.Code != tc.wantCode {
				t.Errorf("answer = %d %q %q, want %d %q %q", resp.Status, resp.Outcome, resp.Error.Code, tc.wantStatus, tc.wantOutcome, tc.wantCode)
			}
			if tc.wantCode != "" && resp.Error.Message == "" {
				t.Error("the error has no message")
			}
			if tc.wantStatus == http.StatusMethodNotAllowed && resp.Allow != http.MethodPost {
				t.Errorf("Allow = %q, want POST", resp.Allow)
			}
			if (tc.wantOutcome == materializer.Stored || tc.wantOutcome == materializer.Failed) && !strings.HasPrefix(resp.Folder, "gs://"+testBucket+"/gemini/batch/") {
				t.Errorf("folder = %q, want the job's folder", resp.Folder)
			}
			if n := len(f.pub.Messages()); n != tc.published {
				t.Errorf("published %d results events, want %d", n, tc.published)
			}
		})
	}
}

func TestHandler_redeliveredPushIsAcknowledged(t *testing.T) {
	t.Parallel()
	f := newFixture(t, fixtureOptions{})
	h := newHandler(t, f)
	j := finishedBatch(t, f.sim, geminisim.BatchSpec{})
	body := pushBody(t, eventJSON(t, completionEvent(t, j.n, newWebhookID())))

	first := serve(t, h, pushRequest(body))
	downloads := f.sim.Requests(geminisim.RouteDownload)
	// Eventarc's structured form of the same message, as after a redeploy.
	again := serve(t, h, structuredCloudEvent(t, body))
	want := handlerResponse{Status: http.StatusOK, Outcome: string(materializer.Redundant), Folder: first.Folder}
	if diff := cmp.Diff(want, again); diff != "" || first.Outcome != string(materializer.Stored) {
		t.Errorf("first outcome %q; redelivery answer (-want +got):\n%s", first.Outcome, diff)
	}
	if n := len(f.pub.Messages()); n != 1 || f.sim.Requests(geminisim.RouteDownload) != downloads {
		t.Errorf("after the redelivery: %d events published, %d downloads; want 1 event and no new download",
			n, f.sim.Requests(geminisim.RouteDownload)-downloads)
	}
}

func TestNewHandler_requiresDependencies(t *testing.T) {
	t.Parallel()
	f := newFixture(t, fixtureOptions{})
	logger := slog.New(slog.DiscardHandler)
	if _, err := materializer.NewHandler(nil, logger, materializer.HandlerOptions{}); err == nil {
		t.Error("NewHandler(nil materializer) succeeded")
	}
	if _, err := materializer.NewHandler(f.m, nil, materializer.HandlerOptions{}); err == nil {
		t.Error("NewHandler(nil logger) succeeded")
	}
}

// TestHandler_logLineCarriesMetricFields checks the fields Terraform's
// log-based metrics extract from a push request's one line.
func TestHandler_logLineCarriesMetricFields(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		spec    geminisim.BatchSpec
		fail    bool // the batch fails: a failed outcome
		want    map[string]any
		stored  bool
		message string
	}{
		{name: "stored", spec: geminisim.BatchSpec{Results: geminisim.ResultsFile{Size: 10_000}}, stored: true, message: materializer.MsgMaterialized,
			want: map[string]any{"outcome": "stored", "kind": "batch", "event_type": "batch.succeeded", "bytes": float64(10_000), "objects": float64(1)}},
		{name: "failed", fail: true, message: materializer.MsgMaterialized,
			want: map[string]any{"outcome": "failed", "kind": "batch", "code": "batch_failed_3"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			f := newFixture(t, fixtureOptions{})
			name, err := f.sim.CreateBatch(tc.spec)
			if err != nil {
				t.Fatal(err)
			}
			var n event.Payload
			if tc.fail {
				n, err = f.sim.FailBatch(name, geminisim.JobError{Code: 3, Message: "bad request 7"})
			} else {
				n, err = f.sim.CompleteBatch(name)
			}
			if err != nil {
				t.Fatal(err)
			}
			if resp := serve(t, newHandler(t, f), pushRequest(pushBody(t, eventJSON(t, completionEvent(t, n, newWebhookID()))))); resp.Status != http.StatusOK {
				t.Fatalf("status %d", resp.Status)
			}
			var line map[string]any
			for _, l := range strings.Split(strings.TrimSpace(f.logs.String()), "\n") {
				var m map[string]any
				if json.Unmarshal([]byte(l), &m) == nil && m["msg"] == tc.message {
					line = m
				}
			}
			if line == nil {
				t.Fatalf("no %q line in:\n%s", tc.message, f.logs.String())
			}
			for k, v := range tc.want {
				if line[k] != v {
					t.Errorf("%s = %#v, want %#v", k, line[k], v)
				}
			}
			lag, ok := line["lag_ms"].(float64)
			if ok != tc.stored || (ok && lag <= 0) {
				t.Errorf("lag_ms = %#v; want a positive number only for a stored job", line["lag_ms"])
			}
		})
	}
}
