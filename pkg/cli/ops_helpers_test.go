package cli_test

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"maps"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/sethvargo/go-envconfig"

	"github.com/geminihooks/geminihooks/internal/testenv"
	"github.com/geminihooks/geminihooks/pkg/cli"
	"github.com/geminihooks/geminihooks/pkg/config"
	"github.com/geminihooks/geminihooks/pkg/local"
)

// cliResult is what one run of the tool produced.
type cliResult struct {
	code           int
	stdout, stderr string
}

// runCLI runs the tool in-process, as main does, with env as its whole
// environment.
func runCLI(t *testing.T, env map[string]string, args ...string) cliResult {
	t.Helper()
	return runCLIContext(t.Context(), t, env, nil, args...)
}

// runCLIContext is runCLI with a context and standard input.
func runCLIContext(ctx context.Context, t *testing.T, env map[string]string, stdin io.Reader, args ...string) cliResult {
	t.Helper()
	var stdout, stderr bytes.Buffer
	code := cli.Main(ctx, &cli.Env{
		Stdout: &stdout, Stderr: &stderr, Stdin: stdin,
		Lookup: mapLookup(env),
	}, args)
	shown := make([]string, len(args))
	for i, a := range args {
		shown[i] = a
		if strings.HasPrefix(a, "whsec_") {
			shown[i] = "whsec_…" // keep secrets out of test logs too
		}
	}
	t.Logf("geminihooks %s → %d\nstdout:\n%s\nstderr:\n%s", strings.Join(shown, " "), code, stdout.String(), stderr.String())
	return cliResult{code: code, stdout: stdout.String(), stderr: stderr.String()}
}

func mapLookup(env map[string]string) func(string) (string, bool) {
	env = maps.Clone(env)
	return func(k string) (string, bool) {
		v, ok := env[k]
		return v, ok
	}
}

// pubsubEnv returns the environment of a command using the Pub/Sub emulator,
// skipping (or failing in CI) when it is not running.
func pubsubEnv(t *testing.T) map[string]string {
	t.Helper()
	testenv.PubSub(t) // skips or fails without the emulator
	return map[string]string{
		"PUBSUB_EMULATOR_HOST": os.Getenv(config.EnvPubSubEmulatorHost),
		"GOOGLE_CLOUD_PROJECT": testenv.Project(),
	}
}

// startStack starts the local pipeline (receiver, in-memory ledger,
// in-process Pub/Sub, materializer, simulator) with env as its environment
// and results under a temporary directory.
func startStack(t *testing.T, env map[string]string) *local.Stack {
	t.Helper()
	env = maps.Clone(env)
	if env == nil {
		env = map[string]string{}
	}
	env["LOG_LEVEL"] = "error"
	s, err := local.Start(t.Context(), local.Options{
		Addr:     "127.0.0.1:0",
		Lookuper: envconfig.MapLookuper(env),
		Logger:   slog.New(slog.DiscardHandler),
		DataDir:  t.TempDir(),
		// A test that points the stack at a Gemini API (its own
		// simulator) means it; a key alone is not used (TestLocalLoop).
		RealGemini: env["GEMINI_BASE_URL"] != "",
	})
	if err != nil {
		t.Fatalf("failed to start the local stack: %v", err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Logf("failed to stop the local stack: %v", err)
		}
	})
	return s
}

// waitFor polls cond until it holds or the timeout passes.
func waitFor(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", timeout, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
