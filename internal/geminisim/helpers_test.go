package geminisim

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/geminihooks/geminihooks/pkg/event"
	"github.com/geminihooks/geminihooks/pkg/signature"
)

const testAPIKey = "test-api-key"

// testKey is one RSA key shared by the package's tests: generating a key per
// test would dominate their run time.
var testKey = sync.OnceValues(signature.GenerateRSAKey)

// newTestServer returns a simulator served by an httptest server, with its
// download host on a second one, both closed at the end of the test.
func newTestServer(t *testing.T, opts Options) (*Server, *httptest.Server) {
	t.Helper()
	key, err := testKey()
	if err != nil {
		t.Fatal(err)
	}
	if opts.APIKey == "" {
		opts.APIKey = testAPIKey
	}
	if opts.SigningKey == nil {
		opts.SigningKey = key
	}
	var dl *httptest.Server
	if opts.DownloadURL == "" {
		dl = httptest.NewUnstartedServer(nil)
		opts.DownloadURL = "http://" + dl.Listener.Addr().String()
		t.Cleanup(dl.Close)
	}
	sim, err := New(opts)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(func() { _ = sim.Close() })
	if dl != nil {
		dl.Config.Handler = sim.DownloadHandler()
		dl.Start()
	}
	ts := httptest.NewServer(sim)
	t.Cleanup(ts.Close)
	return sim, ts
}

// client follows redirects as a careful Gemini client must: net/http
// copies custom headers to every hop, so the API key is dropped on a hop
// to another host (the download host refuses it).
var client = &http.Client{CheckRedirect: func(req *http.Request, via []*http.Request) error {
	if req.URL.Host != via[0].URL.Host {
		req.Header.Del("x-goog-api-key")
	}
	return nil
}}

// response is a decoded HTTP response.
type response struct {
	status int
	header http.Header
	body   []byte
}

// get performs a GET with the API key in x-goog-api-key (none if key is
// empty) and returns the whole response.
func get(t *testing.T, url, key string, header ...string) response {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	if key != "" {
		req.Header.Set("x-goog-api-key", key)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("GET %s: reading body: %v", url, err)
	}
	return response{status: resp.StatusCode, header: resp.Header, body: body}
}

// decode unmarshals a JSON body into a generic value.
func decode(t *testing.T, body []byte) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(body, &m); err != nil {
		t.Fatalf("body is not a JSON object: %v\n%s", err, body)
	}
	return m
}

// googleError is Google's error JSON.
type googleError struct {
	Error struct {
		Code    int              `json:"code"`
		Message string           `json:"message"`
		Status  string           `json:"status"`
		Details []map[string]any `json:"details"`
	} `json:"error"`
}

// decodeError unmarshals Google's error JSON, strictly.
func decodeError(t *testing.T, body []byte) googleError {
	t.Helper()
	var e googleError
	if err := json.Unmarshal(body, &e); err != nil || e.Error.Code == 0 || e.Error.Status == "" || e.Error.Message == "" {
		t.Fatalf("body is not Google's error JSON (%v):\n%s", err, body)
	}
	return e
}

// decodeInteractionsError unmarshals the Interactions API's error JSON,
// strictly: a string code and a message, nothing else.
func decodeInteractionsError(t *testing.T, body []byte) interactionsError {
	t.Helper()
	var e struct {
		Error *interactionsError `json:"error"`
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&e); err != nil || e.Error == nil || e.Error.Code == "" || e.Error.Message == "" {
		t.Fatalf("body is not the Interactions API's error JSON (%v):\n%s", err, body)
	}
	return *e.Error
}

// wantError checks that body is an error in route's format with the HTTP
// status and google.rpc code name: Google's {"code":status,"status":rpc},
// or on interactions {"code":"<rpc in lower case>"}.
func wantError(t *testing.T, route Route, body []byte, status int, rpc string) {
	t.Helper()
	if route == RouteInteractions {
		if e := decodeInteractionsError(t, body); e.Code != strings.ToLower(rpc) {
			t.Errorf("error = %+v, want code %q", e, strings.ToLower(rpc))
		}
		return
	}
	if e := decodeError(t, body); e.Error.Code != status || e.Error.Status != rpc {
		t.Errorf("error = %+v, want %d %s", e.Error, status, rpc)
	}
}

// advanceBatch moves the batch from PENDING to st (a no-op for
// BatchPending). Failures use code 13.
func advanceBatch(sim *Server, name string, st BatchState) error {
	var err error
	switch st {
	case BatchRunning:
		err = sim.StartBatch(name)
	case BatchSucceeded:
		_, err = sim.CompleteBatch(name)
	case BatchFailed:
		_, err = sim.FailBatch(name, JobError{Code: 13, Message: "internal failure"})
	case BatchCancelled:
		_, err = sim.CancelBatch(name)
	case BatchExpired:
		_, err = sim.ExpireBatch(name)
	}
	return err
}

// advanceInteraction moves the interaction from in_progress to st (a
// no-op for InteractionInProgress) and returns the notification, if any.
// Failures use code "internal".
func advanceInteraction(sim *Server, id string, st InteractionStatus) (event.Payload, error) {
	switch st {
	case InteractionCompleted:
		return sim.CompleteInteraction(id)
	case InteractionFailed:
		return sim.FailInteraction(id, "internal", "agent crashed")
	case InteractionCancelled:
		return sim.CancelInteraction(id)
	case InteractionRequiresAction:
		return sim.RequireAction(id)
	}
	return event.Payload{}, nil
}
