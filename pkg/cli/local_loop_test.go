package cli_test

import (
	"context"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/geminihooks/geminihooks/internal/testenv"
	"github.com/geminihooks/geminihooks/pkg/cli"
	"github.com/geminihooks/geminihooks/pkg/local"
)

// stackEnv is the environment the local runner's export block sets.
func stackEnv(stack *local.Stack) map[string]string {
	env := map[string]string{}
	for _, v := range stack.Environment() {
		env[v.Name] = v.Value
	}
	return env
}

// TestLocalLoop: with only the variables the local runner prints, the
// operator tool manages webhooks against its simulator, their secrets land
// in the runner's stand-in for Secret Manager, and the runner's receiver
// accepts what Gemini signs with them; send and tail work against it too.
func TestLocalLoop(t *testing.T) {
	t.Parallel()
	stack := startStack(t, map[string]string{"GEMINI_API_KEY": "a-real-key-that-must-not-be-used"})
	env := stackEnv(stack)

	created := runCLI(t, env, "webhooks", "create", "--uri", stack.URL, "--events", "batch.succeeded,batch.failed")
	if created.code != cli.ExitOK || !strings.Contains(created.stdout, "Stored its signing secret as "+stack.SecretFile.Path()+"#1") {
		t.Fatalf("create: exit code %d; want 0 and the secret stored in the runner's file", created.code)
	}
	id := regexp.MustCompile(`Created webhook (\S+)\.`).FindStringSubmatch(created.stdout)[1]
	ping := func(n int) {
		t.Helper()
		if r := runCLI(t, env, "webhooks", "ping", id); r.code != cli.ExitOK {
			t.Fatalf("ping: exit code %d", r.code)
		}
		info, err := stack.Sim.Webhook(id)
		if err != nil {
			t.Fatal(err)
		}
		if len(info.Pings) != n || !slices.Equal(info.Pings[n-1].Statuses(), []int{200}) {
			t.Errorf("ping %d reached the receiver with %v; want 200 (verified with the stored secret)", n, info.Pings[n-1].Statuses())
		}
	}
	ping(1)
	rotated := runCLI(t, env, "webhooks", "rotate", id, "--revoke-immediately")
	if rotated.code != cli.ExitOK || !strings.Contains(rotated.stdout, stack.SecretFile.Path()+"#2") {
		t.Fatalf("rotate: exit code %d; want 0 and version 2 stored", rotated.code)
	}
	ping(2)

	// tail sees what send delivers, through the runner's Pub/Sub.
	var stdout, stderr testenv.SyncBuffer
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	done := make(chan int, 1)
	go func() {
		done <- cli.Main(ctx, &cli.Env{Stdout: &stdout, Stderr: &stderr, Lookup: mapLookup(env)},
			[]string{"tail", "--topic", "geminihooks-events", "--job", "batches/loop1", "--max", "1", "--timeout", "25s"})
	}()
	waitFor(t, 10*time.Second, "tail to subscribe", func() bool { return strings.Contains(stderr.String(), "tailing") })
	if r := runCLI(t, env, "send", "batch.succeeded", "--url", stack.URL, "--resource", "batches/loop1"); r.code != cli.ExitOK {
		t.Fatalf("send: exit code %d", r.code)
	}
	if code := <-done; code != cli.ExitOK || !strings.Contains(stdout.String(), "batches/loop1") {
		t.Errorf("tail: exit code %d, output %q; want the event of batches/loop1", code, stdout.String())
	}
}
