package cli_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"cloud.google.com/go/pubsub/v2"
	"cloud.google.com/go/pubsub/v2/apiv1/pubsubpb"
	"github.com/google/go-cmp/cmp"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/geminihooks/geminihooks/internal/testenv"
	"github.com/geminihooks/geminihooks/pkg/cli"
	"github.com/geminihooks/geminihooks/pkg/event"
)

// testEvents returns a completion event and the results event announcing
// its artifacts, as the receiver and the materializer publish them.
func testEvents(t *testing.T) (*event.Event, *event.Results) {
	t.Helper()
	n, err := event.Parse([]byte(`{"type":"batch.succeeded","version":"v1","timestamp":"2026-01-22T12:00:00Z",
		"data":{"id":"batches/tailjob1","output_file_uri":"files/out1","user_metadata":{"tenant":"acme"}}}`))
	if err != nil {
		t.Fatal(err)
	}
	ev, err := event.Normalize(n, event.Meta{WebhookID: "msg_tail_1", Scheme: event.SchemeHMAC, ReceivedAt: time.Date(2026, 1, 22, 12, 0, 1, 0, time.UTC)})
	if err != nil {
		t.Fatal(err)
	}
	prefix := "gemini/batch/tailjob1/"
	res, err := event.NewResultsStored(ev, event.ResultsSpec{
		State: event.StateSucceeded, Bucket: "results-bucket", ObjectPrefix: prefix,
		Objects: []event.StoredObject{
			{Name: prefix + "manifest.json", Size: 900, CRC32C: "AAAAAA==", ContentType: "application/json"},
			{Name: prefix + "results.jsonl", Size: 3 << 20, CRC32C: "AAAAAA==", ContentType: "application/jsonl"},
		},
		StartedAt: time.Date(2026, 1, 22, 12, 0, 2, 0, time.UTC), FinishedAt: time.Date(2026, 1, 22, 12, 0, 3, 0, time.UTC),
	})
	if err != nil {
		t.Fatal(err)
	}
	return ev, res
}

func publishEvents(t *testing.T, c *pubsub.Client, topic string, ev *event.Event, res *event.Results) {
	t.Helper()
	evData, err := json.Marshal(ev)
	if err != nil {
		t.Fatal(err)
	}
	resData, err := json.Marshal(res)
	if err != nil {
		t.Fatal(err)
	}
	p := c.Publisher(topic)
	defer p.Stop()
	for _, m := range []*pubsub.Message{
		{Data: evData, Attributes: ev.Attributes()},
		{Data: resData, Attributes: res.Attributes()},
		{Data: []byte("not json"), Attributes: map[string]string{"origin": "elsewhere"}},
	} {
		if _, err := p.Publish(t.Context(), m).Get(t.Context()); err != nil {
			t.Fatal(err)
		}
	}
}

func TestTailSubscription(t *testing.T) {
	t.Parallel()
	env := pubsubEnv(t)
	c := testenv.PubSub(t)
	ev, res := testEvents(t)

	t.Run("readable", func(t *testing.T) {
		t.Parallel()
		topic, sub := testenv.Topic(t, c)
		publishEvents(t, c, topic, ev, res)
		r := runCLI(t, env, "tail", "--subscription", sub, "--max", "3", "--timeout", "15s")
		if r.code != 0 {
			t.Fatalf("exit code %d, want 0", r.code)
		}
		lines := strings.Split(strings.TrimSpace(r.stdout), "\n")
		if len(lines) != 3 {
			t.Fatalf("%d lines, want 3", len(lines))
		}
		want := [][]string{
			{"2026-01-22T12:00:00Z", "batch.succeeded", "batches/tailjob1", "succeeded", "id=msg_tail_1", "kind=batch", "um_tenant=acme", `files={"output_file_uri":"files/out1"}`},
			{"2026-01-22T12:00:03Z  results.stored  ", "batches/tailjob1", "gs://results-bucket/gemini/batch/tailjob1/", "results.jsonl (3.0 MiB)", "manifest.json (900 B)"},
			{"not a geminihooks event", "origin=elsewhere", "8 bytes"},
		}
		for i, parts := range want {
			for _, p := range parts {
				if !strings.Contains(lines[i], p) {
					t.Errorf("line %d %q lacks %q", i+1, lines[i], p)
				}
			}
		}
		testenv.Pull(t, c, sub, 0, time.Second) // tail acknowledged what it showed
	})

	t.Run("json", func(t *testing.T) {
		t.Parallel()
		topic, sub := testenv.Topic(t, c)
		publishEvents(t, c, topic, ev, res)
		r := runCLI(t, env, "tail", "--subscription", sub, "--max", "2", "--timeout", "15s", "--json")
		if r.code != 0 {
			t.Fatalf("exit code %d, want 0", r.code)
		}
		lines := strings.Split(strings.TrimSpace(r.stdout), "\n")
		if len(lines) != 2 {
			t.Fatalf("%d lines, want 2", len(lines))
		}
		var first struct {
			MessageID  string            `json:"message_id"`
			Attributes map[string]string `json:"attributes"`
			Data       json.RawMessage   `json:"data"`
		}
		if err := json.Unmarshal([]byte(lines[0]), &first); err != nil {
			t.Fatal(err)
		}
		got, err := event.Decode(first.Data)
		if err != nil {
			t.Fatalf("data is not the event: %v", err)
		}
		if got.ID != ev.ID || got.Subject != ev.Subject || first.MessageID == "" {
			t.Errorf("first line carries event %s about %s (message %q)", got.ID, got.Subject, first.MessageID)
		}
		if diff := cmp.Diff(ev.Attributes(), first.Attributes); diff != "" {
			t.Errorf("attributes (-published +printed):\n%s", diff)
		}
		// The third message was not shown, so it was left on the subscription:
		// tail nacks it, but a nack sent as its stream closes can be lost, and
		// the emulator then redelivers after the 60 s ack deadline.
		testenv.Pull(t, c, sub, 1, 75*time.Second)
	})

	t.Run("timeout_with_nothing", func(t *testing.T) {
		t.Parallel()
		_, sub := testenv.Topic(t, c)
		start := time.Now()
		r := runCLI(t, env, "tail", "--subscription", sub, "--timeout", "1s")
		if r.code != 0 || r.stdout != "" {
			t.Errorf("exit code %d, output %q; want 0 and nothing", r.code, r.stdout)
		}
		if d := time.Since(start); d > 10*time.Second {
			t.Errorf("took %s for a 1s timeout", d)
		}
	})

	// Waiting for N messages is scriptable: a timeout before the N-th is a
	// failure, so `tail --max 1 --timeout D && next-step` does not go on.
	t.Run("timeout_before_max", func(t *testing.T) {
		t.Parallel()
		_, sub := testenv.Topic(t, c)
		r := runCLI(t, env, "tail", "--subscription", sub, "--max", "1", "--timeout", "1s")
		if r.code != cli.ExitFailure || r.stdout != "" || !strings.Contains(r.stderr, "0 of --max 1") {
			t.Errorf("exit code %d, stdout %q, stderr %q; want 1, nothing, and the count on stderr", r.code, r.stdout, r.stderr)
		}
	})
}

func TestTailTopicUsesTemporarySubscription(t *testing.T) {
	t.Parallel()
	env := pubsubEnv(t)
	c := testenv.PubSub(t)
	ev, res := testEvents(t)
	topic, _ := testenv.Topic(t, c)

	var stdout, stderr testenv.SyncBuffer
	done := make(chan int, 1)
	ctx, cancel := context.WithTimeout(t.Context(), 15*time.Second)
	defer cancel()
	go func() {
		done <- cli.Main(ctx, &cli.Env{Stdout: &stdout, Stderr: &stderr, Lookup: mapLookup(env)},
			[]string{"tail", "--topic", topic, "--max", "2"})
	}()
	waitFor(t, 10*time.Second, "the temporary subscription", func() bool { return strings.Contains(stderr.String(), "tailing") })
	publishEvents(t, c, topic, ev, res)
	if code := <-done; code != 0 {
		t.Fatalf("exit code %d, want 0; stderr: %s", code, stderr.String())
	}
	if n := strings.Count(stdout.String(), "\n"); n != 2 {
		t.Errorf("%d lines, want 2:\n%s", n, stdout.String())
	}
	fields := strings.Fields(stderr.String())
	var sub string
	for i, f := range fields {
		if f == "through" && i+1 < len(fields) {
			sub = strings.TrimSuffix(fields[i+1], ";")
		}
	}
	_, err := c.SubscriptionAdminClient.GetSubscription(t.Context(), &pubsubpb.GetSubscriptionRequest{Subscription: sub})
	if status.Code(err) != codes.NotFound {
		t.Errorf("temporary subscription %q after exit: %v, want NotFound", sub, err)
	}
}

func TestTailUsageErrors(t *testing.T) {
	t.Parallel()
	for _, args := range [][]string{
		{"tail"},
		{"tail", "--subscription", "s", "--topic", "t"},
		{"tail", "--subscription", "s"}, // no project
		{"tail", "--subscription", "projects/p/subscriptions/s", "--max", "-1"},
	} {
		if r := runCLI(t, nil, args...); r.code != 2 {
			t.Errorf("%q: exit code %d, want 2", args, r.code)
		}
	}
}

func TestTailMissingIsNotFound(t *testing.T) {
	t.Parallel()
	env := pubsubEnv(t)
	for _, args := range [][]string{
		{"tail", "--subscription", testenv.UniqueName(t, "absent"), "--timeout", "10s"},
		{"tail", "--topic", testenv.UniqueName(t, "absent"), "--timeout", "10s"},
	} {
		if r := runCLI(t, env, args...); r.code != 3 || !strings.Contains(r.stderr, "does not exist") {
			t.Errorf("%q: exit code %d, want 3 saying what does not exist", args, r.code)
		}
	}
}
