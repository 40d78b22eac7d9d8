package cli_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/geminihooks/geminihooks/internal/testenv"
	"github.com/geminihooks/geminihooks/pkg/cli"
	"github.com/geminihooks/geminihooks/pkg/event"
	"github.com/geminihooks/geminihooks/pkg/materializer"
)

// TestStatusMissingDirectory: a --data directory that does not exist is
// named as such (and not created), not reported as a job not materialized.
func TestStatusMissingDirectory(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "typo")
	r := runCLI(t, nil, "status", "batches/x1", "--data", dir)
	if r.code != cli.ExitUsage || !strings.Contains(r.stderr, "no such directory") || strings.Contains(r.stderr, "not materialized") {
		t.Errorf("exit code %d, stderr %q; want 2 saying there is no such directory", r.code, r.stderr)
	}
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Errorf("status created %s (%v)", dir, err)
	}
}

// TestStatusWait: --wait returns as soon as the manifest appears, and
// exits 3 once the wait is over without one.
func TestStatusWait(t *testing.T) {
	t.Parallel()
	t.Run("times_out", func(t *testing.T) {
		t.Parallel()
		start := time.Now()
		r := runCLI(t, nil, "status", "batches/never", "--data", t.TempDir(), "--wait", "300ms")
		if r.code != cli.ExitNotFound || !strings.Contains(r.stderr, "gave up after --wait 300ms") {
			t.Errorf("exit code %d, stderr %q; want 3 saying the wait ended", r.code, r.stderr)
		}
		if waited := time.Since(start); waited < 300*time.Millisecond {
			t.Errorf("returned after %s, before the wait was over", waited)
		}
	})
	t.Run("manifest_appears", func(t *testing.T) {
		t.Parallel()
		dir := t.TempDir()
		var stdout, stderr testenv.SyncBuffer
		ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
		defer cancel()
		done := make(chan int, 1)
		go func() {
			done <- cli.Main(ctx, &cli.Env{Stdout: &stdout, Stderr: &stderr, Lookup: mapLookup(nil)},
				[]string{"status", "--job", "batches/w1", "--data", dir, "--wait", "20s"})
		}()
		waitFor(t, 10*time.Second, "status to start waiting", func() bool { return strings.Contains(stderr.String(), "waiting up to 20s") })
		folder := filepath.Join(dir, filepath.FromSlash(materializer.JobFolder(materializer.DefaultPrefix, event.KindBatch, "w1")))
		if err := os.MkdirAll(folder, 0o755); err != nil {
			t.Fatal(err)
		}
		writeFile(t, filepath.Join(folder, materializer.ManifestName), []byte(`{"resource":"batches/w1","kind":"batch","state":"succeeded"}`))
		if code := <-done; code != cli.ExitOK {
			t.Fatalf("exit code %d, want 0; stderr: %s", code, stderr.String())
		}
		if !strings.Contains(stdout.String(), "batches/w1") {
			t.Errorf("output lacks the job:\n%s", stdout.String())
		}
	})
}
