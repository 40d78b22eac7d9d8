package cli_test

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"testing"
	"time"

	"cloud.google.com/go/pubsub/v2"
	"github.com/google/go-cmp/cmp"

	"github.com/geminihooks/geminihooks/internal/testenv"
)

// sentMessage is a message as the tests compare it.
type sentMessage struct {
	Data        string
	Attributes  map[string]string
	OrderingKey string
}

// publishN publishes n distinct messages with attributes, half of them with
// an ordering key, and returns them.
func publishN(t *testing.T, c *pubsub.Client, topic string, n int) []sentMessage {
	t.Helper()
	p := c.Publisher(topic)
	p.EnableMessageOrdering = true
	defer p.Stop()
	var sent []sentMessage
	var results []*pubsub.PublishResult
	for i := range n {
		m := sentMessage{
			Data:       fmt.Sprintf(`{"n":%d}`, i),
			Attributes: map[string]string{"event_type": "batch.succeeded", "webhook_id": fmt.Sprintf("msg_%03d", i)},
		}
		if i%2 == 0 {
			m.OrderingKey = fmt.Sprintf("batches/job%d", i%3)
		}
		sent = append(sent, m)
		results = append(results, p.Publish(t.Context(), &pubsub.Message{Data: []byte(m.Data), Attributes: m.Attributes, OrderingKey: m.OrderingKey}))
	}
	for _, r := range results {
		if _, err := r.Get(t.Context()); err != nil {
			t.Fatalf("failed to publish: %v", err)
		}
	}
	return sent
}

func received(msgs []*pubsub.Message) []sentMessage {
	out := make([]sentMessage, len(msgs))
	for i, m := range msgs {
		out[i] = sentMessage{Data: string(m.Data), Attributes: m.Attributes, OrderingKey: m.OrderingKey}
	}
	return sortMessages(out)
}

func sortMessages(ms []sentMessage) []sentMessage {
	sort.Slice(ms, func(i, j int) bool { return ms[i].Data < ms[j].Data })
	return ms
}

// deadLetters sets up a dead-letter subscription holding n messages and a
// target topic with a subscription, as a redrive finds them.
func deadLetters(t *testing.T, c *pubsub.Client, n int) (sent []sentMessage, fromSub, toTopic, toSub string) {
	t.Helper()
	dlqTopic, dlqSub := testenv.Topic(t, c, testenv.WithMessageOrdering())
	toTopic, toSub = testenv.Topic(t, c, testenv.WithMessageOrdering())
	return publishN(t, c, dlqTopic, n), dlqSub, toTopic, toSub
}

func TestRedriveMovesEverything(t *testing.T) {
	t.Parallel()
	env := pubsubEnv(t)
	c := testenv.PubSub(t)
	sent, from, to, toSub := deadLetters(t, c, 25)

	// Short ids, resolved in GOOGLE_CLOUD_PROJECT.
	short := func(name string) string { return name[strings.LastIndexByte(name, '/')+1:] }
	r := runCLI(t, env, "redrive", "--from", short(from), "--to", short(to), "--wait", "1s")
	if r.code != 0 {
		t.Fatalf("exit code %d, want 0", r.code)
	}
	if !strings.Contains(r.stdout, "moved 25, failed 0, left 0") {
		t.Errorf("summary lacks the counts: %s", r.stdout)
	}
	if !strings.Contains(r.stderr, "redrive: moved 25") {
		t.Errorf("progress lacks the final count: %s", r.stderr)
	}
	got := received(testenv.Pull(t, c, toSub, 25, 10*time.Second))
	if diff := cmp.Diff(sortMessages(sent), got); diff != "" {
		t.Errorf("republished messages (-sent +got):\n%s", diff)
	}
	testenv.Pull(t, c, from, 0, time.Second) // the dead letters are gone
}

func TestRedriveMax(t *testing.T) {
	t.Parallel()
	env := pubsubEnv(t)
	c := testenv.PubSub(t)
	sent, from, to, toSub := deadLetters(t, c, 12)
	r := runCLI(t, env, "redrive", "--from", from, "--to", to, "--max", "5", "--wait", "1s", "--json")
	if r.code != 0 {
		t.Fatalf("exit code %d, want 0", r.code)
	}
	if !strings.Contains(r.stdout, `"moved": 5`) {
		t.Errorf("summary: %s", r.stdout)
	}
	moved := received(testenv.Pull(t, c, toSub, 5, 10*time.Second))
	left := received(testenv.Pull(t, c, from, 7, 10*time.Second))
	if diff := cmp.Diff(sortMessages(sent), sortMessages(append(moved, left...))); diff != "" {
		t.Errorf("moved + left differ from the dead letters (-sent +got):\n%s", diff)
	}
}

func TestRedriveDryRunMovesNothing(t *testing.T) {
	t.Parallel()
	env := pubsubEnv(t)
	c := testenv.PubSub(t)
	sent, from, to, toSub := deadLetters(t, c, 8)
	r := runCLI(t, env, "redrive", "--from", from, "--to", to, "--dry-run", "--wait", "1s")
	if r.code != 0 {
		t.Fatalf("exit code %d, want 0", r.code)
	}
	if !strings.Contains(r.stdout, "dry run: 8 message(s) would move") {
		t.Errorf("summary: %s", r.stdout)
	}
	for _, m := range sent {
		if !strings.Contains(r.stdout, "webhook_id="+m.Attributes["webhook_id"]) {
			t.Errorf("dry run does not show %s", m.Attributes["webhook_id"])
		}
	}
	testenv.Pull(t, c, toSub, 0, time.Second)
	got := received(testenv.Pull(t, c, from, 8, 10*time.Second))
	if diff := cmp.Diff(sortMessages(sent), got); diff != "" {
		t.Errorf("messages left on the dead-letter subscription (-sent +got):\n%s", diff)
	}
}

func TestRedriveMissingTargetLosesNothing(t *testing.T) {
	t.Parallel()
	env := pubsubEnv(t)
	c := testenv.PubSub(t)
	sent, from, _, _ := deadLetters(t, c, 6)
	missing := "projects/" + testenv.Project() + "/topics/" + testenv.UniqueName(t, "absent")
	r := runCLI(t, env, "redrive", "--from", from, "--to", missing, "--wait", "1s")
	if r.code != 1 {
		t.Fatalf("exit code %d, want 1", r.code)
	}
	if !strings.Contains(r.stdout, "moved 0, failed 6, left 0") || !strings.Contains(r.stderr, "failed to publish") {
		t.Errorf("summary and error do not report the failure:\n%s\n%s", r.stdout, r.stderr)
	}
	got := received(testenv.Pull(t, c, from, 6, 10*time.Second))
	if diff := cmp.Diff(sortMessages(sent), got); diff != "" {
		t.Errorf("messages left on the dead-letter subscription (-sent +got):\n%s", diff)
	}
}

func TestRedriveUsageErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		args []string
		env  map[string]string
	}{
		{"no_from", []string{"redrive", "--to", "t"}, map[string]string{"GOOGLE_CLOUD_PROJECT": "p"}},
		{"no_to", []string{"redrive", "--from", "s"}, map[string]string{"GOOGLE_CLOUD_PROJECT": "p"}},
		{"no_project", []string{"redrive", "--from", "s", "--to", "t"}, nil},
		{"negative_max", []string{"redrive", "--from", "s", "--to", "t", "--max", "-1"}, map[string]string{"GOOGLE_CLOUD_PROJECT": "p"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
			defer cancel()
			if r := runCLIContext(ctx, t, tt.env, nil, tt.args...); r.code != 2 {
				t.Errorf("exit code %d, want 2", r.code)
			}
		})
	}
}

func TestRedriveMissingSubscriptionIsNotFound(t *testing.T) {
	t.Parallel()
	env := pubsubEnv(t)
	c := testenv.PubSub(t)
	to, _ := testenv.Topic(t, c)
	r := runCLI(t, env, "redrive", "--from", testenv.UniqueName(t, "absent"), "--to", to, "--wait", "1s")
	if r.code != 3 || !strings.Contains(r.stderr, "does not exist") {
		t.Errorf("exit code %d, want 3 saying the subscription does not exist", r.code)
	}
}
