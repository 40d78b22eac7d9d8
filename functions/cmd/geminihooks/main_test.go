package main

import (
	"bufio"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// runMainEnv makes the test binary act as the command, so that the tests
// check real exit codes and signal handling.
const runMainEnv = "GEMINIHOOKS_TEST_RUN_MAIN"

func TestMain(m *testing.M) {
	if os.Getenv(runMainEnv) == "1" {
		main()
		return
	}
	os.Exit(m.Run())
}

func command(t *testing.T, args ...string) *exec.Cmd {
	t.Helper()
	cmd := exec.CommandContext(t.Context(), os.Args[0], args...)
	cmd.Env = append(os.Environ(), runMainEnv+"=1")
	return cmd
}

func exitCode(t *testing.T, err error) int {
	t.Helper()
	var ee *exec.ExitError
	switch {
	case err == nil:
		return 0
	case errors.As(err, &ee):
		return ee.ExitCode()
	default:
		t.Fatalf("failed to run the command: %v", err)
		return -1
	}
}

func TestExitCodes(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		args []string
		want int
	}{
		{"help", []string{"--help"}, 0},
		{"unknown_command", []string{"frobnicate"}, 2},
		{"usage_error", []string{"send", "batch.succeeded"}, 2},
		{"not_found", []string{"status", "batches/nothing", "--data", t.TempDir()}, 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			out, err := command(t, tt.args...).CombinedOutput()
			if got := exitCode(t, err); got != tt.want {
				t.Errorf("exit code %d, want %d; output:\n%s", got, tt.want, out)
			}
		})
	}
}

func TestInterruptStopsCleanly(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	if out, err := command(t, "keys", "rsa", "--out", dir).CombinedOutput(); err != nil {
		t.Fatalf("keys rsa: %v\n%s", err, out)
	}
	cmd := command(t, "keys", "serve-jwks", "--key", filepath.Join(dir, "private.pem"), "--addr", "127.0.0.1:0")
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil || !strings.HasSuffix(strings.TrimSpace(line), "/.well-known/jwks.json") {
		t.Fatalf("first line %q (%v), want the JWKS URL", line, err)
	}
	if err := cmd.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if code := exitCode(t, err); code != 0 {
			t.Errorf("exit code %d after SIGINT, want 0", code)
		}
	case <-time.After(10 * time.Second):
		_ = cmd.Process.Kill()
		t.Fatal("the command did not stop on SIGINT")
	}
}
