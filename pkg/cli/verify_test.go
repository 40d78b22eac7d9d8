package cli_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"hash/crc32"
	"io"
	"maps"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"cloud.google.com/go/secretmanager/apiv1/secretmanagerpb"
	"github.com/google/go-cmp/cmp"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/geminihooks/geminihooks/pkg/signature"
)

// capture is one delivery as an operator would have saved it: headers in
// curl -D form and the raw body, in files.
type capture struct {
	headersFile, bodyFile string
	header                http.Header
	body                  []byte
}

// captureSend runs send against a server that saves the request, and
// returns the saved delivery.
func captureSend(t *testing.T, env map[string]string, args ...string) capture {
	t.Helper()
	var (
		mu  sync.Mutex
		got capture
	)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		got.header = r.Header.Clone()
		got.body, _ = io.ReadAll(r.Body)
		w.WriteHeader(http.StatusNoContent)
	}))
	t.Cleanup(srv.Close)
	r := runCLI(t, env, append([]string{"send", "--url", srv.URL}, args...)...)
	if r.code != 0 {
		t.Fatalf("send: exit code %d", r.code)
	}
	mu.Lock()
	defer mu.Unlock()
	dir := t.TempDir()
	var sb strings.Builder
	sb.WriteString("POST / HTTP/1.1\r\n")
	for _, k := range slices.Sorted(func(yield func(string) bool) {
		for k := range got.header {
			if !yield(k) {
				return
			}
		}
	}) {
		for _, v := range got.header[k] {
			fmt.Fprintf(&sb, "%s: %s\r\n", k, v)
		}
	}
	sb.WriteString("\r\n")
	got.headersFile, got.bodyFile = filepath.Join(dir, "headers.txt"), filepath.Join(dir, "body.json")
	writeFile(t, got.headersFile, []byte(sb.String()))
	writeFile(t, got.bodyFile, got.body)
	return got
}

func writeFile(t *testing.T, path string, data []byte) {
	t.Helper()
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
}

func newSecret(t *testing.T) string {
	t.Helper()
	s, err := signature.GenerateSecret()
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// assertNoSecrets fails when output holds any secret material.
func assertNoSecrets(t *testing.T, r cliResult, c capture, secrets ...string) {
	t.Helper()
	out := r.stdout + r.stderr
	for _, s := range secrets {
		if strings.Contains(out, strings.TrimPrefix(s, "whsec_")) {
			t.Errorf("a secret was printed")
		}
	}
	for _, sig := range strings.Fields(c.header.Get("webhook-signature")) {
		if v := strings.TrimPrefix(sig, "v1,"); len(v) > 20 && strings.Contains(out, v) {
			t.Errorf("a signature was printed")
		}
	}
}

func TestVerifyHMAC(t *testing.T) {
	t.Parallel()
	good, other := newSecret(t), newSecret(t)
	fresh := captureSend(t, nil, "batch.succeeded", "--secret", good)
	stale := captureSend(t, nil, "batch.failed", "--secret", good, "--timestamp-offset", "-10m")

	tampered := filepath.Join(t.TempDir(), "tampered.json")
	writeFile(t, tampered, []byte(strings.Replace(string(fresh.body), "batches/", "batches/x", 1)))
	newline := filepath.Join(t.TempDir(), "newline.json")
	writeFile(t, newline, append(slices.Clone(fresh.body), '\n'))
	var indented bytes.Buffer
	if err := json.Indent(&indented, fresh.body, "", "  "); err != nil {
		t.Fatal(err)
	}
	pretty := filepath.Join(t.TempDir(), "pretty.json")
	writeFile(t, pretty, indented.Bytes())
	old := captureSend(t, nil, "batch.succeeded", "--secret", good, "--timestamp-offset", "-48h")
	jsonHeaders := filepath.Join(t.TempDir(), "headers.json")
	hb, err := json.Marshal(map[string]string{
		"webhook-id": fresh.header.Get("webhook-id"), "webhook-timestamp": fresh.header.Get("webhook-timestamp"),
		"webhook-signature": fresh.header.Get("webhook-signature"), "content-type": "application/json",
	})
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, jsonHeaders, hb)

	tests := []struct {
		name     string
		c        capture
		body     string // replaces c.bodyFile when set
		headers  string // replaces c.headersFile when set
		env      map[string]string
		args     []string
		wantCode int
		want     []string
	}{
		{
			name: "good_delivery", c: fresh, args: []string{"--secret", good},
			want: []string{"OK", "scheme         hmac", "within the tolerance", "secrets tried  1: --secret[0]", "matched        --secret[0]"},
		},
		{
			name: "good_delivery_json_headers", c: fresh, headers: jsonHeaders, args: []string{"--secret", good},
			want: []string{"OK", "matched        --secret[0]"},
		},
		{
			name: "secret_from_environment", c: fresh, env: map[string]string{"WEBHOOK_SIGNING_SECRETS": other + "," + good},
			want: []string{"OK", "secrets tried  2: WEBHOOK_SIGNING_SECRETS[0], WEBHOOK_SIGNING_SECRETS[1]", "matched        WEBHOOK_SIGNING_SECRETS[1]"},
		},
		{
			name: "wrong_secret", c: fresh, args: []string{"--secret", other}, wantCode: 1,
			want: []string{"FAILED: 401 signature_mismatch", "secrets tried  1: --secret[0]", "matched        none", "None of the 1 signature(s)"},
		},
		{
			name: "no_secret", c: fresh, wantCode: 1,
			want: []string{"FAILED: 401 no_signing_secrets", "pass --secret"},
		},
		{
			name: "stale_timestamp", c: stale, args: []string{"--secret", good}, wantCode: 1,
			want: []string{"FAILED: 401 timestamp_too_old", "old; OUTSIDE the tolerance of ±5m0s", "matched        --secret[0]", "The signature itself is right", "--at " + stale.header.Get("webhook-timestamp")},
		},
		{
			name: "stale_timestamp_judged_at_delivery", c: stale, args: []string{"--secret", good, "--at", stale.header.Get("webhook-timestamp")},
			want: []string{"OK", "(no skew; within the tolerance"},
		},
		{
			name: "stale_timestamp_wider_tolerance", c: stale, args: []string{"--secret", good, "--tolerance", "15m"},
			want: []string{"OK", "within the tolerance of ±15m0s"},
		},
		{
			name: "tampered_body", c: fresh, body: tampered, args: []string{"--secret", other, "--secret", good}, wantCode: 1,
			want: []string{"FAILED: 401 signature_mismatch", "secrets tried  2: --secret[0], --secret[1]", "HMAC cannot tell a wrong secret from changed content", "Re-formatting is ruled out", "changed content fits best"},
		},
		{
			name: "trailing_newline_added", c: fresh, body: newline, args: []string{"--secret", good}, wantCode: 1,
			want: []string{"FAILED: 401 signature_mismatch", "WITHOUT its trailing newline", "(secret --secret[0])", "the secret is right"},
		},
		{
			name: "pretty_printed_capture", c: fresh, body: pretty, args: []string{"--secret", other, "--secret", good}, wantCode: 1,
			want: []string{"FAILED: 401 signature_mismatch", "as compact JSON", "(secret --secret[1])", "the secret is right"},
		},
		{
			name: "old_delivery_wrong_secret", c: old, args: []string{"--secret", other, "--at", old.header.Get("webhook-timestamp")}, wantCode: 1,
			want: []string{"FAILED: 401 signature_mismatch", "HMAC cannot tell", "The delivery is 48h", "a wrong secret fits best"},
		},
		{
			name: "stale_and_wrong_secret", c: stale, args: []string{"--secret", other}, wantCode: 1,
			want: []string{"FAILED: 401 timestamp_too_old", "The signature did not match any secret either", "HMAC cannot tell"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			headers, body := tt.c.headersFile, tt.c.bodyFile
			if tt.headers != "" {
				headers = tt.headers
			}
			if tt.body != "" {
				body = tt.body
			}
			r := runCLI(t, tt.env, append([]string{"verify", "--headers", headers, "--body", body}, tt.args...)...)
			if r.code != tt.wantCode {
				t.Errorf("exit code %d, want %d", r.code, tt.wantCode)
			}
			for _, w := range tt.want {
				if !strings.Contains(r.stdout, w) {
					t.Errorf("output lacks %q", w)
				}
			}
			assertNoSecrets(t, r, tt.c, good, other)
		})
	}
}

func TestVerifyJSONReport(t *testing.T) {
	t.Parallel()
	good, other := newSecret(t), newSecret(t)
	c := captureSend(t, nil, "interaction.failed", "--secret", good, "--id", "msg_json_report")
	r := runCLI(t, nil, "verify", "--headers", c.headersFile, "--body", c.bodyFile, "--secret", other, "--json")
	if r.code != 1 {
		t.Fatalf("exit code %d, want 1", r.code)
	}
	var got struct {
		Verified     bool     `json:"verified"`
		Code         string   `json:"code"`
		Scheme       string   `json:"scheme"`
		WebhookID    string   `json:"webhook_id"`
		Signatures   int      `json:"signatures"`
		SecretsTried []string `json:"secrets_tried"`
		Matched      string   `json:"matched_secret"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &got); err != nil {
		t.Fatal(err)
	}
	want := got
	want.Verified, want.Code, want.Scheme, want.WebhookID = false, "signature_mismatch", "hmac", "msg_json_report"
	want.Signatures, want.SecretsTried, want.Matched = 1, []string{"--secret[0]"}, ""
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("report (-want +got):\n%s", diff)
	}
	assertNoSecrets(t, r, c, good, other)
}

func TestVerifyJWT(t *testing.T) {
	t.Parallel()
	keys, otherKeys := t.TempDir(), t.TempDir()
	for _, dir := range []string{keys, otherKeys} {
		if r := runCLI(t, nil, "keys", "rsa", "--out", dir); r.code != 0 {
			t.Fatalf("keys rsa: exit code %d", r.code)
		}
	}
	c := captureSend(t, nil, "interaction.completed", "--jwt", "--key", filepath.Join(keys, "private.pem"), "--audience", "https://hooks.example.com/")
	tests := []struct {
		name     string
		args     []string
		wantCode int
		want     []string
	}{
		{"good", []string{"--jwks", filepath.Join(keys, "jwks.json")}, 0, []string{"OK", "scheme      jwt", "alg         RS256", "aud=\"https://hooks.example.com/\"", "type=\"interaction.completed\""}},
		{"audience_pinned", []string{"--jwks", filepath.Join(keys, "jwks.json"), "--audience", "https://hooks.example.com/"}, 0, []string{"OK"}},
		{"wrong_audience", []string{"--jwks", filepath.Join(keys, "jwks.json"), "--audience", "https://other.example.com/"}, 1, []string{"FAILED: 401 jwt_invalid_audience", "meant for another URL"}},
		{"unknown_kid", []string{"--jwks", filepath.Join(otherKeys, "jwks.json")}, 1, []string{"FAILED: 401 jwt_unknown_kid", "The key set has no key"}},
		{"expired_later", []string{"--jwks", filepath.Join(keys, "jwks.json"), "--at", "2099-01-01T00:00:00Z", "--tolerance", "876000h"}, 1, []string{"FAILED: 401 jwt_expired", "--at"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r := runCLI(t, nil, append([]string{"verify", "--headers", c.headersFile, "--body", c.bodyFile}, tt.args...)...)
			if r.code != tt.wantCode {
				t.Errorf("exit code %d, want %d", r.code, tt.wantCode)
			}
			for _, w := range tt.want {
				if !strings.Contains(r.stdout, w) {
					t.Errorf("output lacks %q", w)
				}
			}
			if tok := c.header.Get("webhook-signature"); strings.Contains(r.stdout+r.stderr, tok[strings.LastIndexByte(tok, '.')+1:]) {
				t.Errorf("the token's signature was printed")
			}
		})
	}
}

func TestVerifyUsageErrors(t *testing.T) {
	t.Parallel()
	good := newSecret(t)
	c := captureSend(t, nil, "batch.succeeded", "--secret", good)
	garbage := filepath.Join(t.TempDir(), "garbage.txt")
	writeFile(t, garbage, []byte("this is not a header\n"))
	tests := []struct {
		name string
		args []string
	}{
		{"no_files", []string{"verify"}},
		{"missing_body", []string{"verify", "--headers", c.headersFile}},
		{"headers_file_absent", []string{"verify", "--headers", filepath.Join(t.TempDir(), "nope"), "--body", c.bodyFile, "--secret", good}},
		{"headers_not_headers", []string{"verify", "--headers", garbage, "--body", c.bodyFile, "--secret", good}},
		{"bad_at", []string{"verify", "--headers", c.headersFile, "--body", c.bodyFile, "--secret", good, "--at", "yesterday"}},
		{"bad_secret_name", []string{"verify", "--headers", c.headersFile, "--body", c.bodyFile, "--secret-name", "my-secret"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if r := runCLI(t, nil, tt.args...); r.code != 2 {
				t.Errorf("exit code %d, want 2", r.code)
			}
		})
	}
}

// verifySecretFake is an in-process Secret Manager holding the versions of
// one secret; it serves the two RPCs that package secret uses.
type verifySecretFake struct {
	secretmanagerpb.UnimplementedSecretManagerServiceServer
	parent   string
	versions []*secretmanagerpb.SecretVersion // oldest first
	data     map[string]string
}

func (f *verifySecretFake) ListSecretVersions(_ context.Context, req *secretmanagerpb.ListSecretVersionsRequest) (*secretmanagerpb.ListSecretVersionsResponse, error) {
	if req.GetParent() != f.parent {
		return nil, status.Errorf(codes.NotFound, "secret %s not found", req.GetParent())
	}
	resp := &secretmanagerpb.ListSecretVersionsResponse{}
	for _, v := range slices.Backward(f.versions) {
		if req.GetFilter() == "state:ENABLED" && v.GetState() != secretmanagerpb.SecretVersion_ENABLED {
			continue
		}
		resp.Versions = append(resp.Versions, v)
	}
	return resp, nil
}

func (f *verifySecretFake) AccessSecretVersion(_ context.Context, req *secretmanagerpb.AccessSecretVersionRequest) (*secretmanagerpb.AccessSecretVersionResponse, error) {
	for _, v := range f.versions {
		if v.GetName() != req.GetName() {
			continue
		}
		if v.GetState() != secretmanagerpb.SecretVersion_ENABLED {
			return nil, status.Errorf(codes.FailedPrecondition, "%s is not enabled", v.GetName())
		}
		data := []byte(f.data[v.GetName()])
		sum := int64(crc32.Checksum(data, crc32.MakeTable(crc32.Castagnoli)))
		return &secretmanagerpb.AccessSecretVersionResponse{Name: v.GetName(), Payload: &secretmanagerpb.SecretPayload{Data: data, DataCrc32C: &sum}}, nil
	}
	return nil, status.Errorf(codes.NotFound, "%s not found", req.GetName())
}

func TestVerifySecretManagerVersions(t *testing.T) {
	t.Parallel()
	v1, v2, v3 := newSecret(t), newSecret(t), newSecret(t)
	parent := "projects/geminihooks-test/secrets/gemini-webhook"
	f := &verifySecretFake{parent: parent, data: map[string]string{
		parent + "/versions/1": v1 + "\n", parent + "/versions/2": v2, parent + "/versions/3": v3,
	}}
	for i, st := range []secretmanagerpb.SecretVersion_State{secretmanagerpb.SecretVersion_ENABLED, secretmanagerpb.SecretVersion_DISABLED, secretmanagerpb.SecretVersion_ENABLED} {
		f.versions = append(f.versions, &secretmanagerpb.SecretVersion{Name: fmt.Sprintf("%s/versions/%d", parent, i+1), State: st})
	}
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := grpc.NewServer()
	secretmanagerpb.RegisterSecretManagerServiceServer(srv, f)
	go func() { _ = srv.Serve(lis) }()
	t.Cleanup(srv.Stop)
	env := map[string]string{"SECRET_MANAGER_EMULATOR_HOST": lis.Addr().String()}

	tests := []struct {
		name     string
		signedBy string
		args     []string
		env      map[string]string
		wantCode int
		want     []string
	}{
		{
			name: "old_enabled_version", signedBy: v1, args: []string{"--secret-name", parent},
			want: []string{"OK", "secrets tried  2: " + parent + "/versions/3, " + parent + "/versions/1", "matched        " + parent + "/versions/1"},
		},
		{
			name: "name_from_environment", signedBy: v3, env: map[string]string{"WEBHOOK_SIGNING_SECRET": parent},
			want: []string{"OK", "matched        " + parent + "/versions/3"},
		},
		{
			name: "disabled_version", signedBy: v2, args: []string{"--secret-name", parent}, wantCode: 1,
			want: []string{"FAILED: 401 signature_mismatch", "secrets tried  2: " + parent + "/versions/3, " + parent + "/versions/1"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c := captureSend(t, nil, "batch.succeeded", "--secret", tt.signedBy)
			e := maps.Clone(env)
			maps.Copy(e, tt.env)
			r := runCLI(t, e, append([]string{"verify", "--headers", c.headersFile, "--body", c.bodyFile}, tt.args...)...)
			if r.code != tt.wantCode {
				t.Errorf("exit code %d, want %d", r.code, tt.wantCode)
			}
			for _, w := range tt.want {
				if !strings.Contains(r.stdout, w) {
					t.Errorf("output lacks %q", w)
				}
			}
			assertNoSecrets(t, r, c, v1, v2, v3)
		})
	}
}
