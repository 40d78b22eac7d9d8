package cli_test

import (
	"context"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/geminihooks/geminihooks/internal/testenv"
	"github.com/geminihooks/geminihooks/pkg/cli"
	"github.com/geminihooks/geminihooks/pkg/signature"
)

func TestKeysHMAC(t *testing.T) {
	t.Parallel()
	var secrets []string
	for range 2 {
		r := runCLI(t, nil, "keys", "hmac")
		if r.code != 0 {
			t.Fatalf("exit code %d, want 0", r.code)
		}
		s := strings.TrimSpace(r.stdout)
		if _, err := signature.ParseSecret("printed", s); err != nil || !strings.HasPrefix(s, "whsec_") {
			t.Fatalf("printed %q, want a whsec_ secret (%v)", s, err)
		}
		secrets = append(secrets, s)
	}
	if secrets[0] == secrets[1] {
		t.Error("two runs printed the same secret")
	}
}

func TestKeysRSA(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	r := runCLI(t, nil, "keys", "rsa", "--out", dir)
	if r.code != 0 {
		t.Fatalf("exit code %d, want 0", r.code)
	}
	kid := strings.Fields(strings.SplitN(r.stdout, "\n", 2)[0])[1]

	info, err := os.Stat(filepath.Join(dir, "private.pem"))
	if err != nil {
		t.Fatal(err)
	}
	if perm := info.Mode().Perm(); perm != 0o600 {
		t.Errorf("private key mode %o, want 600", perm)
	}
	doc, err := os.ReadFile(filepath.Join(dir, "jwks.json"))
	if err != nil {
		t.Fatal(err)
	}
	keys, err := signature.ParseStaticKeys(doc)
	if err != nil {
		t.Fatalf("jwks.json is not a key set: %v", err)
	}
	if _, err := keys.LookupKey(t.Context(), kid); err != nil {
		t.Errorf("jwks.json lacks the printed kid %s: %v", kid, err)
	}
	if strings.Contains(string(doc), `"d"`) {
		t.Error("jwks.json holds private key material")
	}

	t.Run("refuses_to_overwrite", func(t *testing.T) {
		before, _ := os.ReadFile(filepath.Join(dir, "private.pem"))
		if r := runCLI(t, nil, "keys", "rsa", "--out", dir); r.code != 2 {
			t.Errorf("exit code %d, want 2", r.code)
		}
		after, _ := os.ReadFile(filepath.Join(dir, "private.pem"))
		if string(before) != string(after) {
			t.Error("the existing key was replaced")
		}
	})
	t.Run("force_overwrites", func(t *testing.T) {
		r := runCLI(t, nil, "keys", "rsa", "--out", dir, "--force")
		if r.code != 0 || strings.Contains(r.stdout, kid) {
			t.Errorf("exit code %d, kid reused: %v; want 0 and a new kid", r.code, strings.Contains(r.stdout, kid))
		}
	})
}

func TestKeysServeJWKS(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	if r := runCLI(t, nil, "keys", "rsa", "--out", dir); r.code != 0 {
		t.Fatalf("keys rsa: exit code %d", r.code)
	}
	ctx, cancel := context.WithCancel(t.Context())
	var out testenv.SyncBuffer
	done := make(chan int, 1)
	go func() {
		done <- cli.Main(ctx, &cli.Env{Stdout: &out, Stderr: io.Discard, Lookup: mapLookup(nil)},
			[]string{"keys", "serve-jwks", "--key", filepath.Join(dir, "private.pem"), "--addr", "127.0.0.1:0"})
	}()
	waitFor(t, 5*time.Second, "the JWKS URL", func() bool { return strings.Contains(out.String(), "\n") })
	url := strings.TrimSpace(out.String())
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	served, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		t.Fatal(err)
	}
	file, err := os.ReadFile(filepath.Join(dir, "jwks.json"))
	if err != nil {
		t.Fatal(err)
	}
	if strings.TrimSpace(string(served)) != strings.TrimSpace(string(file)) || resp.Header.Get("Content-Type") != "application/json" {
		t.Errorf("served %s (%s), want the jwks.json written by keys rsa", served, resp.Header.Get("Content-Type"))
	}
	cancel()
	select {
	case code := <-done:
		if code != 0 {
			t.Errorf("serve-jwks exited %d after interruption, want 0", code)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("serve-jwks did not stop when interrupted")
	}
}

func TestKeysUsageErrors(t *testing.T) {
	t.Parallel()
	notKey := filepath.Join(t.TempDir(), "not.pem")
	writeFile(t, notKey, []byte("hello"))
	for _, args := range [][]string{
		{"keys"},
		{"keys", "ed25519"},
		{"keys", "rsa"},
		{"keys", "hmac", "extra"},
		{"keys", "serve-jwks"},
		{"keys", "serve-jwks", "--key", filepath.Join(t.TempDir(), "missing.pem")},
	} {
		if r := runCLI(t, nil, args...); r.code != 2 {
			t.Errorf("%q: exit code %d, want 2", args, r.code)
		}
	}
	if r := runCLI(t, nil, "keys", "serve-jwks", "--key", notKey); r.code != 1 || !strings.Contains(r.stderr, "no PEM block") {
		t.Errorf("a file without a key: exit code %d, want 1 naming the problem", r.code)
	}
}
