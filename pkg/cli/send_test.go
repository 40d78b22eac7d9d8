package cli_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/geminihooks/geminihooks/internal/testenv"
	"github.com/geminihooks/geminihooks/pkg/cli"
	"github.com/geminihooks/geminihooks/pkg/event"
	"github.com/geminihooks/geminihooks/pkg/signature"
)

// sendOutput is the part of send --json the tests read.
type sendOutput struct {
	URL        string          `json:"url"`
	EventType  string          `json:"event_type"`
	WebhookID  string          `json:"webhook_id"`
	Scheme     string          `json:"scheme"`
	KeyID      string          `json:"kid"`
	Signatures int             `json:"signatures"`
	Status     int             `json:"status"`
	Body       json.RawMessage `json:"body"`
}

// sendAnswer is the receiver's JSON answer.
type sendAnswer struct {
	Status    string `json:"status"`
	WebhookID string `json:"webhook_id"`
	Error     struct {
		Code string `json:"code"`
	} `json:"error"`
}

func decodeSend(t *testing.T, r cliResult) (sendOutput, sendAnswer) {
	t.Helper()
	var out sendOutput
	if err := json.Unmarshal([]byte(r.stdout), &out); err != nil {
		t.Fatalf("send --json printed %q: %v", r.stdout, err)
	}
	var ans sendAnswer
	if err := json.Unmarshal(out.Body, &ans); err != nil {
		t.Fatalf("the receiver answered %s: %v", out.Body, err)
	}
	return out, ans
}

// nextEvent returns the next event the stack published for the delivery
// with the given webhook-id, skipping others.
func nextEvent(t *testing.T, events <-chan *event.Event, id string) *event.Event {
	t.Helper()
	timeout := time.After(10 * time.Second)
	for {
		select {
		case ev := <-events:
			if ev.Data.Delivery.WebhookID == id {
				return ev
			}
		case <-timeout:
			t.Fatalf("no event for webhook-id %s was published", id)
		}
	}
}

func TestSendEveryEventType(t *testing.T) {
	secret, err := signature.GenerateSecret()
	if err != nil {
		t.Fatal(err)
	}
	stack := startStack(t, map[string]string{"WEBHOOK_SIGNING_SECRETS": secret})
	env := map[string]string{"WEBHOOK_SIGNING_SECRETS": secret}

	tests := []struct {
		eventType string
		kind      event.Kind
		state     event.State
	}{
		{"batch.succeeded", event.KindBatch, event.StateSucceeded},
		{"batch.failed", event.KindBatch, event.StateFailed},
		{"batch.expired", event.KindBatch, event.StateExpired},
		{"batch.cancelled", event.KindBatch, event.StateCancelled},
		{"interaction.completed", event.KindInteraction, event.StateCompleted},
		{"interaction.failed", event.KindInteraction, event.StateFailed},
		{"interaction.cancelled", event.KindInteraction, event.StateCancelled},
		{"interaction.requires_action", event.KindInteraction, event.StateRequiresAction},
		{"video.generated", event.KindVideo, event.StateGenerated},
	}
	for _, tt := range tests {
		t.Run(strings.ReplaceAll(tt.eventType, ".", "_"), func(t *testing.T) {
			r := runCLI(t, env, "send", tt.eventType, "--url", stack.URL, "--json", "--user-metadata", "tenant=acme", "--user-metadata", "job_group=nightly")
			if r.code != 0 {
				t.Fatalf("exit code %d, want 0", r.code)
			}
			out, ans := decodeSend(t, r)
			if out.Status != http.StatusOK || ans.Status != "accepted" || ans.WebhookID != out.WebhookID {
				t.Fatalf("answer %d %+v, want 200 accepted for %s", out.Status, ans, out.WebhookID)
			}
			ev := nextEvent(t, stack.Received, out.WebhookID)
			got := struct {
				Type     string
				Kind     event.Kind
				State    event.State
				Metadata map[string]any
			}{ev.Data.GeminiEventType, ev.Data.Kind, ev.Data.State, ev.Data.UserMetadata}
			want := struct {
				Type     string
				Kind     event.Kind
				State    event.State
				Metadata map[string]any
			}{tt.eventType, tt.kind, tt.state, map[string]any{"tenant": "acme", "job_group": "nightly"}}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("published event (-want +got):\n%s", diff)
			}
			if ev.Subject == "" || ev.Data.ResourceID == "" {
				t.Errorf("published event names no job: subject %q", ev.Subject)
			}
			if (tt.state == event.StateFailed) != (ev.Data.Error != nil) {
				t.Errorf("event error = %+v, want one only for failures", ev.Data.Error)
			}
		})
	}
	t.Run("ping", func(t *testing.T) {
		r := runCLI(t, env, "send", "ping", "--url", stack.URL, "--json")
		if r.code != 0 {
			t.Fatalf("exit code %d, want 0", r.code)
		}
		if _, ans := decodeSend(t, r); ans.Status != "ignored" {
			t.Errorf("ping answered %q, want ignored", ans.Status)
		}
	})
}

func TestSendRepeatedIDIsDuplicate(t *testing.T) {
	t.Parallel()
	secret, err := signature.GenerateSecret()
	if err != nil {
		t.Fatal(err)
	}
	stack := startStack(t, map[string]string{"WEBHOOK_SIGNING_SECRETS": secret})
	var statuses []string
	for range 2 {
		r := runCLI(t, nil, "send", "batch.succeeded", "--url", stack.URL, "--secret", secret,
			"--id", "msg_dedupe_test", "--resource", "batches/dedupe1", "--json")
		if r.code != 0 {
			t.Fatalf("exit code %d, want 0", r.code)
		}
		_, ans := decodeSend(t, r)
		statuses = append(statuses, ans.Status)
	}
	if diff := cmp.Diff([]string{"accepted", "duplicate"}, statuses); diff != "" {
		t.Errorf("answers (-want +got):\n%s", diff)
	}
}

func TestSendSeveralSecretsSignEach(t *testing.T) {
	t.Parallel()
	oldSecret, err := signature.GenerateSecret()
	if err != nil {
		t.Fatal(err)
	}
	newSecret, err := signature.GenerateSecret()
	if err != nil {
		t.Fatal(err)
	}
	// The receiver knows only the new secret: a rotation in progress.
	stack := startStack(t, map[string]string{"WEBHOOK_SIGNING_SECRETS": newSecret})
	r := runCLI(t, map[string]string{"WEBHOOK_SIGNING_SECRETS": oldSecret + "," + newSecret},
		"send", "interaction.completed", "--url", stack.URL, "--json")
	if r.code != 0 {
		t.Fatalf("exit code %d, want 0", r.code)
	}
	out, ans := decodeSend(t, r)
	if out.Signatures != 2 || ans.Status != "accepted" {
		t.Errorf("signatures %d, answer %q; want 2 and accepted", out.Signatures, ans.Status)
	}
}

func TestSendStaleTimestampIsRejected(t *testing.T) {
	t.Parallel()
	secret, err := signature.GenerateSecret()
	if err != nil {
		t.Fatal(err)
	}
	stack := startStack(t, map[string]string{"WEBHOOK_SIGNING_SECRETS": secret})
	r := runCLI(t, nil, "send", "batch.failed", "--url", stack.URL, "--secret", secret, "--timestamp-offset", "-10m")
	if r.code != 1 {
		t.Fatalf("exit code %d, want 1", r.code)
	}
	for _, want := range []string{"401", "timestamp_too_old"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("output lacks %q:\n%s", want, r.stdout)
		}
	}
	if !strings.Contains(r.stderr, "401") {
		t.Errorf("stderr lacks the status:\n%s", r.stderr)
	}
}

func TestSendJWTWithServedJWKS(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	if r := runCLI(t, nil, "keys", "rsa", "--out", dir); r.code != 0 {
		t.Fatalf("keys rsa: exit code %d", r.code)
	}
	keyFile := filepath.Join(dir, "private.pem")

	// keys serve-jwks, until the test ends.
	ctx, stop := context.WithCancel(t.Context())
	var served testenv.SyncBuffer
	done := make(chan int)
	go func() {
		done <- cli.Main(ctx, &cli.Env{Stdout: &served, Stderr: &served, Lookup: mapLookup(nil)},
			[]string{"keys", "serve-jwks", "--key", keyFile, "--addr", "127.0.0.1:0"})
	}()
	t.Cleanup(func() {
		stop()
		if code := <-done; code != 0 {
			t.Errorf("serve-jwks exited %d: %s", code, served.String())
		}
	})
	waitFor(t, 5*time.Second, "the JWKS URL", func() bool { return strings.Contains(served.String(), "/.well-known/jwks.json") })
	jwksURL := strings.Fields(served.String())[0]

	stack := startStack(t, map[string]string{"WEBHOOK_JWKS_URL": jwksURL, "WEBHOOK_JWT_AUDIENCE": "https://hooks.example.com/gemini"})
	tests := []struct {
		name       string
		args       []string
		wantCode   int
		wantStatus string
		wantError  string
	}{
		{"accepted", []string{"--audience", "https://hooks.example.com/gemini"}, 0, "accepted", ""},
		{"wrong_audience", []string{"--audience", "https://elsewhere.example.com/"}, 1, "", "jwt_invalid_audience"},
		{"stale", []string{"--audience", "https://hooks.example.com/gemini", "--timestamp-offset", "-1h"}, 1, "", "timestamp_too_old"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			args := append([]string{"send", "video.generated", "--url", stack.URL, "--jwt", "--key", keyFile, "--json"}, tt.args...)
			r := runCLI(t, nil, args...)
			if r.code != tt.wantCode {
				t.Fatalf("exit code %d, want %d", r.code, tt.wantCode)
			}
			out, ans := decodeSend(t, r)
			if ans.Status != tt.wantStatus || ans.Error.Code != tt.wantError {
				t.Errorf("answer %+v, want status %q error %q", ans, tt.wantStatus, tt.wantError)
			}
			if out.Scheme != "jwt" || out.KeyID == "" {
				t.Errorf("scheme %q kid %q, want jwt and a kid", out.Scheme, out.KeyID)
			}
		})
	}
}

func TestSendPayloadFile(t *testing.T) {
	t.Parallel()
	secret, err := signature.GenerateSecret()
	if err != nil {
		t.Fatal(err)
	}
	var gotBody []byte
	var gotHeader http.Header
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		gotHeader = r.Header.Clone()
		gotBody, _ = io.ReadAll(r.Body)
		w.WriteHeader(http.StatusAccepted)
		_, _ = w.Write([]byte("thanks"))
	}))
	t.Cleanup(srv.Close)
	body := []byte(`{"type":"batch.succeeded","version":"v1","data":{"id":"batches/custom"}}`)
	file := filepath.Join(t.TempDir(), "body.json")
	if err := os.WriteFile(file, body, 0o600); err != nil {
		t.Fatal(err)
	}
	r := runCLI(t, nil, "send", "batch.succeeded", "--url", srv.URL, "--secret", secret, "--payload", file, "--id", "msg_fixed", "--timestamp-offset", "-1m")
	if r.code != 0 {
		t.Fatalf("exit code %d, want 0", r.code)
	}
	if string(gotBody) != string(body) {
		t.Errorf("body sent %q, want the file's %q", gotBody, body)
	}
	v, err := signature.NewVerifier(signature.Options{Secrets: mustSecrets(t, secret)})
	if err != nil {
		t.Fatal(err)
	}
	d, err := v.Verify(t.Context(), gotHeader, gotBody)
	if err != nil {
		t.Fatalf("the delivery does not verify: %v", err)
	}
	if d.ID != "msg_fixed" || time.Since(d.Timestamp) < 55*time.Second {
		t.Errorf("delivery id %q at %s, want msg_fixed about a minute ago", d.ID, d.Timestamp)
	}
	if !strings.Contains(r.stdout, "202") || !strings.Contains(r.stdout, "thanks") {
		t.Errorf("output lacks the status and body:\n%s", r.stdout)
	}
}

func TestSendUsageErrors(t *testing.T) {
	t.Parallel()
	secret, err := signature.GenerateSecret()
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		args []string
		env  map[string]string
	}{
		{"no_event_type", []string{"send", "--url", "http://127.0.0.1:1/", "--secret", secret}, nil},
		{"unknown_event_type", []string{"send", "batch.exploded", "--url", "http://127.0.0.1:1/", "--secret", secret}, nil},
		{"no_url", []string{"send", "batch.succeeded", "--secret", secret}, nil},
		{"no_secret", []string{"send", "batch.succeeded", "--url", "http://127.0.0.1:1/"}, nil},
		{"malformed_secret", []string{"send", "batch.succeeded", "--url", "http://127.0.0.1:1/"}, map[string]string{"WEBHOOK_SIGNING_SECRETS": "whsec_***"}},
		{"jwt_without_key", []string{"send", "batch.succeeded", "--url", "http://127.0.0.1:1/", "--jwt"}, nil},
		{"bad_metadata", []string{"send", "batch.succeeded", "--url", "http://127.0.0.1:1/", "--secret", secret, "--user-metadata", "novalue"}, nil},
		{"unknown_flag", []string{"send", "batch.succeeded", "--bogus"}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r := runCLI(t, tt.env, tt.args...)
			if r.code != 2 {
				t.Errorf("exit code %d, want 2", r.code)
			}
			if strings.Contains(r.stdout+r.stderr, strings.TrimPrefix(secret, "whsec_")) {
				t.Errorf("the secret was printed")
			}
		})
	}
}

func mustSecrets(t *testing.T, list ...string) signature.StaticSecrets {
	t.Helper()
	s, err := signature.ParseSecretList("test", strings.Join(list, ","))
	if err != nil {
		t.Fatal(err)
	}
	return s
}
