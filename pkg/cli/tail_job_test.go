package cli_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"cloud.google.com/go/pubsub/v2"

	"github.com/geminihooks/geminihooks/internal/testenv"
	"github.com/geminihooks/geminihooks/pkg/cli"
	"github.com/geminihooks/geminihooks/pkg/event"
)

// TestTailJob: --job shows the events of one job only, and --max counts
// only those, so a script can wait for one job's results.
func TestTailJob(t *testing.T) {
	t.Parallel()
	env := pubsubEnv(t)
	c := testenv.PubSub(t)
	tests := []struct {
		name, job string
	}{
		{"resource_name", "batches/tailjob1"},
		{"bare_id", "tailjob1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			topic, _ := testenv.Topic(t, c)
			var stdout, stderr testenv.SyncBuffer
			ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
			defer cancel()
			done := make(chan int, 1)
			go func() {
				done <- cli.Main(ctx, &cli.Env{Stdout: &stdout, Stderr: &stderr, Lookup: mapLookup(env)},
					[]string{"tail", "--topic", topic, "--job", tt.job, "--max", "1", "--timeout", "15s"})
			}()
			waitFor(t, 10*time.Second, "the temporary subscription", func() bool { return strings.Contains(stderr.String(), "tailing") })
			p := c.Publisher(topic)
			defer p.Stop()
			for _, m := range []*pubsub.Message{
				{Data: []byte(`{}`), Attributes: map[string]string{event.AttrResource: "batches/otherjob", event.AttrKind: "batch"}},
				{Data: []byte(`{}`), Attributes: map[string]string{event.AttrResource: "interactions/tailjob10", event.AttrKind: "interaction"}},
				{Data: []byte(`{"n":1}`), Attributes: map[string]string{event.AttrResource: "batches/tailjob1", event.AttrKind: "batch"}},
			} {
				if _, err := p.Publish(t.Context(), m).Get(t.Context()); err != nil {
					t.Fatal(err)
				}
			}
			if code := <-done; code != cli.ExitOK {
				t.Fatalf("exit code %d, want 0; stderr: %s", code, stderr.String())
			}
			lines := strings.Split(strings.TrimSpace(stdout.String()), "\n")
			if len(lines) != 1 || !strings.Contains(lines[0], "resource=batches/tailjob1") {
				t.Errorf("printed %q, want the one message of batches/tailjob1", lines)
			}
		})
	}
	t.Run("needs_topic", func(t *testing.T) {
		t.Parallel()
		r := runCLI(t, env, "tail", "--subscription", "s", "--job", "batches/x")
		if r.code != cli.ExitUsage || !strings.Contains(r.stderr, "--message-filter") {
			t.Errorf("exit code %d, stderr %q; want 2 pointing at a subscription filter", r.code, r.stderr)
		}
	})
	t.Run("times_out", func(t *testing.T) {
		t.Parallel()
		topic, _ := testenv.Topic(t, c)
		r := runCLI(t, env, "tail", "--topic", topic, "--job", "batches/none", "--max", "1", "--timeout", "2s", "--json")
		if r.code != cli.ExitFailure || r.stdout != "" {
			t.Errorf("exit code %d, stdout %q; want 1 and nothing", r.code, r.stdout)
		}
	})
}
