package cli_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sethvargo/go-envconfig"

	"github.com/geminihooks/geminihooks/pkg/idempotency"
	"github.com/geminihooks/geminihooks/pkg/logging"
	"github.com/geminihooks/geminihooks/pkg/publish"
	"github.com/geminihooks/geminihooks/pkg/receiver"
	"github.com/geminihooks/geminihooks/pkg/registry"
	"github.com/geminihooks/geminihooks/pkg/signature"
)

// TestVerifyAgreesWithReceiver: for every kind of delivery, verify prints
// the status and code the receiver answers it with, from the same
// configuration.
func TestVerifyAgreesWithReceiver(t *testing.T) {
	t.Parallel()
	good, other := newSecret(t), newSecret(t)
	keys := t.TempDir()
	if r := runCLI(t, nil, "keys", "rsa", "--out", keys); r.code != 0 {
		t.Fatalf("keys rsa: exit code %d", r.code)
	}
	jwksFile := filepath.Join(keys, "jwks.json")
	env := map[string]string{"WEBHOOK_SIGNING_SECRETS": good, "WEBHOOK_MAX_BODY_BYTES": "2048"}

	jwtDelivery := captureSend(t, nil, "interaction.completed", "--jwt", "--key", filepath.Join(keys, "private.pem"))
	otherJob := filepath.Join(t.TempDir(), "other-job.json")
	writeFile(t, otherJob, bytes.Replace(jwtDelivery.body, []byte(`"id":"`), []byte(`"id":"x`), 1))
	invalid := filepath.Join(t.TempDir(), "invalid.json")
	writeFile(t, invalid, []byte(`{"type":"batch.succeeded","data":{"id":"../../etc"}}`))
	large := filepath.Join(t.TempDir(), "large.json")
	writeFile(t, large, []byte(`{"type":"batch.succeeded","data":{"id":"batches/b1","pad":"`+strings.Repeat("x", 3000)+`"}}`))

	tests := []struct {
		name     string
		c        capture
		body     string // replaces the capture's body file
		wantCode string // "" for a 2xx answer
		want     int
	}{
		{name: "hmac_accepted", c: captureSend(t, nil, "batch.succeeded", "--secret", good), want: http.StatusOK},
		{name: "ping_ignored", c: captureSend(t, nil, "ping", "--secret", good), want: http.StatusOK},
		{name: "wrong_secret", c: captureSend(t, nil, "batch.failed", "--secret", other), want: http.StatusUnauthorized, wantCode: "signature_mismatch"},
		{name: "stale", c: captureSend(t, nil, "batch.failed", "--secret", good, "--timestamp-offset", "-10m"), want: http.StatusUnauthorized, wantCode: "timestamp_too_old"},
		{name: "jwt_accepted", c: jwtDelivery, want: http.StatusOK},
		{name: "jwt_body_names_another_job", c: jwtDelivery, body: otherJob, want: http.StatusUnauthorized, wantCode: "body_claims_mismatch"},
		{name: "invalid_resource_id", c: captureSend(t, nil, "--payload", invalid, "--secret", good), want: http.StatusBadRequest, wantCode: "invalid_resource_id"},
		{name: "body_over_limit", c: captureSend(t, nil, "--payload", large, "--secret", good), want: http.StatusRequestEntityTooLarge, wantCode: "body_too_large"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			bodyFile := tt.c.bodyFile
			if tt.body != "" {
				bodyFile = tt.body
			}
			body, err := os.ReadFile(bodyFile)
			if err != nil {
				t.Fatal(err)
			}
			status, code := answerOf(t, env, jwksFile, tt.c.header, body)
			if status != tt.want || code != tt.wantCode {
				t.Fatalf("the receiver answered %d %q, want %d %q", status, code, tt.want, tt.wantCode)
			}
			r := runCLI(t, env, "verify", "--headers", tt.c.headersFile, "--body", bodyFile, "--jwks", jwksFile, "--json")
			var got struct {
				HTTPStatus int    `json:"http_status"`
				Code       string `json:"code"`
			}
			if err := json.Unmarshal([]byte(r.stdout), &got); err != nil {
				t.Fatalf("verify --json: %v", err)
			}
			if got.HTTPStatus != status || got.Code != code {
				t.Errorf("verify says %d %q; the receiver answered %d %q", got.HTTPStatus, got.Code, status, code)
			}
			if wantExit := map[bool]int{true: 0, false: 1}[code == ""]; r.code != wantExit {
				t.Errorf("exit code %d, want %d", r.code, wantExit)
			}
			text := runCLI(t, env, "verify", "--headers", tt.c.headersFile, "--body", bodyFile, "--jwks", jwksFile)
			want := fmt.Sprintf("OK: %d ", status)
			if code != "" {
				want = fmt.Sprintf("FAILED: %d %s: ", status, code)
			}
			if !strings.Contains(text.stdout, want) {
				t.Errorf("verify's verdict lacks %q", want)
			}
		})
	}
}

// answerOf serves one delivery with the receiver built from env on
// in-memory backends and returns its status and error code.
func answerOf(t *testing.T, env map[string]string, jwksFile string, header http.Header, body []byte) (int, string) {
	t.Helper()
	cfg, err := receiver.LoadConfig(t.Context(), envconfig.MapLookuper(env))
	if err != nil {
		t.Fatal(err)
	}
	secrets, err := cfg.Secrets()
	if err != nil {
		t.Fatal(err)
	}
	doc, err := os.ReadFile(jwksFile)
	if err != nil {
		t.Fatal(err)
	}
	keys, err := signature.ParseStaticKeys(doc)
	if err != nil {
		t.Fatal(err)
	}
	logger := logging.New(io.Discard, slog.LevelError)
	v, err := receiver.NewVerifier(cfg, signature.Options{Secrets: signature.StaticSecrets(secrets), Keys: keys}, logger)
	if err != nil {
		t.Fatal(err)
	}
	ledger, err := idempotency.NewMemory(idempotency.Options{})
	if err != nil {
		t.Fatal(err)
	}
	jobs, err := registry.NewMemory(registry.Options{})
	if err != nil {
		t.Fatal(err)
	}
	h, err := receiver.New(v, ledger, &publish.Memory{}, jobs, logger, receiver.Options{MaxBodyBytes: cfg.MaxBodyBytes})
	if err != nil {
		t.Fatal(err)
	}
	req := httptest.NewRequest(http.MethodPost, "/", bytes.NewReader(body))
	req.Header = header.Clone()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	var answer struct {
		Error struct {
			Code string `json:"code"`
		} `json:"error"`
	}
	_ = json.Unmarshal(rec.Body.Bytes(), &answer)
	return rec.Code, answer.Error.Code
}
