package cli_test

import (
	"encoding/json"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
)

// TestSendNamesTheJob: send says which job the event it built names, in
// text and in JSON, so the operator can follow it with status or tail.
func TestSendNamesTheJob(t *testing.T) {
	t.Parallel()
	secret := newSecret(t)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusOK) }))
	t.Cleanup(srv.Close)
	tests := []struct {
		name    string
		args    []string
		wantJob string // "" when any generated id of the prefix will do
		prefix  string
	}{
		{name: "generated_batch", args: []string{"batch.succeeded"}, prefix: "batches/"},
		{name: "generated_video", args: []string{"video.generated"}, prefix: "models/"},
		{name: "given_resource", args: []string{"interaction.completed", "--resource", "abc123"}, wantJob: "abc123"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			args := append([]string{"send", "--url", srv.URL, "--secret", secret}, tt.args...)
			text := runCLI(t, nil, args...)
			asJSON := runCLI(t, nil, append(args, "--json")...)
			if text.code != 0 || asJSON.code != 0 {
				t.Fatalf("exit codes %d and %d, want 0", text.code, asJSON.code)
			}
			var res struct {
				Resource string `json:"resource"`
			}
			if err := json.Unmarshal([]byte(asJSON.stdout), &res); err != nil {
				t.Fatal(err)
			}
			if (tt.wantJob != "" && res.Resource != tt.wantJob) || !strings.HasPrefix(res.Resource, tt.prefix) || res.Resource == "" {
				t.Errorf("resource %q, want %q (prefix %q)", res.Resource, tt.wantJob, tt.prefix)
			}
			if want := "  job " + tt.prefix + tt.wantJob; !strings.Contains(text.stdout, want) {
				t.Errorf("text output lacks %q:\n%s", want, text.stdout)
			}
		})
	}
}

// TestSendJSONConnectionError: with --json a script gets a JSON object
// saying there was no answer, and exit code 1.
func TestSendJSONConnectionError(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	url := "http://" + ln.Addr().String() + "/"
	_ = ln.Close() // nothing listens there now
	r := runCLI(t, nil, "send", "batch.failed", "--url", url, "--secret", newSecret(t), "--json")
	if r.code != 1 {
		t.Errorf("exit code %d, want 1", r.code)
	}
	var res struct {
		URL, Resource, Error string
		WebhookID            string `json:"webhook_id"`
		Status               int
	}
	if err := json.Unmarshal([]byte(r.stdout), &res); err != nil {
		t.Fatalf("stdout is not a JSON object: %v\n%s", err, r.stdout)
	}
	if res.URL != url || res.Status != 0 || !strings.Contains(res.Error, "failed to POST") || res.WebhookID == "" || res.Resource == "" {
		t.Errorf("got %+v, want the url, ids, no status and the error", res)
	}
}

// TestSendPayloadType: a --payload body whose type contradicts the command's
// event type is refused before anything is sent; without an event type the
// file goes as it is.
func TestSendPayloadType(t *testing.T) {
	t.Parallel()
	secret := newSecret(t)
	var sent atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		sent.Add(1)
		w.WriteHeader(http.StatusOK)
	}))
	t.Cleanup(srv.Close)
	dir := t.TempDir()
	failed := filepath.Join(dir, "failed.json")
	writeFile(t, failed, []byte(`{"type":"batch.failed","data":{"id":"batches/x1"}}`))
	garbage := filepath.Join(dir, "garbage.json")
	writeFile(t, garbage, []byte(`not json`))
	tests := []struct {
		name     string
		args     []string
		wantCode int
		want     string
	}{
		{"type_contradicts", []string{"batch.succeeded", "--payload", failed}, 2, `holds a "batch.failed" event, but the command says "batch.succeeded"`},
		{"type_matches", []string{"batch.failed", "--payload", failed}, 0, "job batches/x1"},
		{"no_type_given", []string{"--payload", failed}, 0, "batch.failed  job batches/x1"},
		{"untyped_body_with_type", []string{"batch.failed", "--payload", garbage}, 2, `has no string "type"`},
		{"untyped_body_as_is", []string{"--payload", garbage}, 0, "(as in " + garbage + ")"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := sent.Load()
			r := runCLI(t, nil, append([]string{"send", "--url", srv.URL, "--secret", secret}, tt.args...)...)
			if r.code != tt.wantCode {
				t.Errorf("exit code %d, want %d", r.code, tt.wantCode)
			}
			if !strings.Contains(r.stdout+r.stderr, tt.want) {
				t.Errorf("output lacks %q", tt.want)
			}
			if after := sent.Load(); (after > before) != (tt.wantCode == 0) {
				t.Errorf("sent %d request(s), want one only when the command succeeds", after-before)
			}
		})
	}
}
