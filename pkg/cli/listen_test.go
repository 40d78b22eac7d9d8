package cli_test

import (
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/geminihooks/geminihooks/internal/testenv"
	"github.com/geminihooks/geminihooks/pkg/cli"
)

// listening runs listen with args until it has handled --max deliveries
// or the test ends, and returns its address and its output.
func listening(t *testing.T, env map[string]string, args ...string) (addr string, wait func() (int, string, string)) {
	t.Helper()
	var stdout, stderr testenv.SyncBuffer
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	done := make(chan int, 1)
	go func() {
		done <- cli.Main(ctx, &cli.Env{Stdout: &stdout, Stderr: &stderr, Lookup: mapLookup(env)},
			append([]string{"listen", "--addr", "127.0.0.1:0"}, args...))
	}()
	listeningOn := regexp.MustCompile(`listening on (http://\S+/)`)
	waitFor(t, 10*time.Second, "listen to start", func() bool { return listeningOn.MatchString(stderr.String()) })
	return listeningOn.FindStringSubmatch(stderr.String())[1], func() (int, string, string) {
		defer cancel()
		code := <-done
		t.Logf("listen → %d\nstdout:\n%s\nstderr:\n%s", code, stdout.String(), stderr.String())
		return code, stdout.String(), stderr.String()
	}
}

// TestListenForwards: listen records each delivery where verify reads it,
// judges it as the receiver does, forwards it to the local runner and
// answers with the runner's answer.
func TestListenForwards(t *testing.T) {
	t.Parallel()
	stack := startStack(t, nil)
	other := newSecret(t)
	env := map[string]string{"WEBHOOK_SIGNING_SECRETS": stack.Secret}
	dir := t.TempDir()
	addr, wait := listening(t, env, "--dir", dir, "--forward", stack.URL, "--max", "2")

	good := runCLI(t, nil, "send", "batch.succeeded", "--url", addr, "--secret", stack.Secret, "--json")
	bad := runCLI(t, nil, "send", "batch.failed", "--url", addr, "--secret", other)
	code, stdout, _ := wait()
	if code != cli.ExitOK {
		t.Fatalf("listen: exit code %d, want 0", code)
	}
	var sent struct {
		Status int `json:"status"`
		Body   struct {
			Status string `json:"status"`
		} `json:"body"`
	}
	if err := json.Unmarshal([]byte(good.stdout), &sent); err != nil {
		t.Fatal(err)
	}
	if good.code != 0 || sent.Status != 200 || sent.Body.Status != "accepted" {
		t.Errorf("signed delivery: exit %d, answer %d %q; want the runner's 200 accepted", good.code, sent.Status, sent.Body.Status)
	}
	if bad.code != 1 || !strings.Contains(bad.stdout, "401 Unauthorized") || !strings.Contains(bad.stdout, "signature_mismatch") {
		t.Errorf("wrongly signed delivery: exit %d, want the runner's 401 signature_mismatch:\n%s", bad.code, bad.stdout)
	}
	for _, want := range []string{
		"verify    200 accepted", "forward   " + stack.URL + "  200 {\"status\":\"accepted\"",
		"verify    401 signature_mismatch", "forward   " + stack.URL + "  401 {\"error\":{\"code\":\"signature_mismatch\"",
		"recorded  geminihooks verify --headers " + filepath.Join(dir, "0001.headers") + " --body " + filepath.Join(dir, "0001.body"),
	} {
		if !strings.Contains(stdout, want) {
			t.Errorf("listen's output lacks %q", want)
		}
	}
	// The recordings verify as the deliveries did.
	for i, want := range []struct {
		code    int
		verdict string
	}{{0, "OK: 200 accepted"}, {1, "FAILED: 401 signature_mismatch"}} {
		n := fmt.Sprintf("%04d", i+1)
		r := runCLI(t, env, "verify", "--headers", filepath.Join(dir, n+".headers"), "--body", filepath.Join(dir, n+".body"))
		if r.code != want.code || !strings.Contains(r.stdout, want.verdict) {
			t.Errorf("verify %s: exit %d, want %d and %q", n, r.code, want.code, want.verdict)
		}
	}
}

// TestListenWithoutForward: without --forward a delivery the receiver would
// refuse gets its refusal, and one it would take gets 503: nothing was
// published. A second run numbers on from the first.
func TestListenWithoutForward(t *testing.T) {
	t.Parallel()
	secret, other := newSecret(t), newSecret(t)
	env := map[string]string{"WEBHOOK_SIGNING_SECRETS": secret}
	dir := t.TempDir()
	for run, tt := range []struct {
		secret, wantAnswer, wantFile string
	}{
		{secret, "503 Service Unavailable", "0001.body"},
		{other, "401 Unauthorized", "0002.body"},
	} {
		addr, wait := listening(t, env, "--dir", dir, "--max", "1", "--json")
		r := runCLI(t, nil, "send", "interaction.completed", "--url", addr, "--secret", tt.secret)
		code, stdout, _ := wait()
		if code != 0 || r.code != 1 || !strings.Contains(r.stdout, tt.wantAnswer) {
			t.Errorf("run %d: listen exit %d, send exit %d; want 0, 1 and %q", run, code, r.code, tt.wantAnswer)
		}
		var rec struct {
			BodyFile string `json:"body_file"`
			Verify   struct {
				HTTPStatus int `json:"http_status"`
			} `json:"verify"`
		}
		if err := json.Unmarshal([]byte(stdout), &rec); err != nil {
			t.Fatalf("run %d: %v", run, err)
		}
		if filepath.Base(rec.BodyFile) != tt.wantFile {
			t.Errorf("run %d recorded %s, want %s", run, rec.BodyFile, tt.wantFile)
		}
	}
}
