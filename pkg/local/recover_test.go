package local

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/sethvargo/go-envconfig"

	"github.com/geminihooks/geminihooks/internal/testenv"
)

// TestStack_recoversFromEmulatorReset resets the Pub/Sub emulator under a
// running stack, as a restart of the emulator would leave it: empty. The
// stack logs the stop, creates its topics and subscriptions again, and a
// delivery made afterwards flows from the receiver to the results topic.
func TestStack_recoversFromEmulatorReset(t *testing.T) {
	t.Parallel()
	host := testenv.PrivatePubSub(t)
	var logs testenv.SyncBuffer
	recreated := make(chan struct{}, 8)
	logger := slog.New(&notifyHandler{Handler: slog.NewJSONHandler(&logs, nil),
		msg: "recreated Pub/Sub resources the emulator lost", seen: recreated})
	stack, err := Start(context.Background(), Options{
		Addr: "127.0.0.1:0", Logger: logger, DataDir: t.TempDir(),
		Lookuper: envconfig.MapLookuper(map[string]string{"PUBSUB_EMULATOR_HOST": host, "GOOGLE_CLOUD_PROJECT": testenv.Project()}),
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := stack.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	flows := func(id, subject string, wait time.Duration) {
		t.Helper()
		deliver(t, stack, id, subject)
		timer := time.NewTimer(wait)
		defer timer.Stop()
		select {
		case r := <-stack.Results:
			if r.Subject != subject {
				t.Fatalf("results event for %s; want %s", r.Subject, subject)
			}
		case <-timer.C:
			t.Fatalf("no results event for %s within %v; logs:\n%s", subject, wait, logs.String())
		}
	}
	flows("msg_before_reset", "batches/before-reset", 20*time.Second)

	reset := time.Now()
	testenv.ResetPubSub(t, host)
	select {
	case <-recreated:
	case <-time.After(maxRecovery):
		t.Fatalf("topics and subscriptions not recreated within %v of the reset; logs:\n%s", maxRecovery, logs.String())
	}
	recovered := time.Since(reset)
	flows("msg_after_reset", "batches/after-reset", 20*time.Second)
	t.Logf("recreated %v after the reset; results of a delivery made then %v after the reset", recovered, time.Since(reset))

	// Which subscriptions see the loss depends on when each stream
	// reconnects: at least one does, and the re-creation covers all.
	out := logs.String()
	if !strings.Contains(out, `"msg":"subscription stopped; receiving again","subscription":"projects/`) ||
		!strings.Contains(out, `"error":"rpc error: code = NotFound`) {
		t.Errorf("no log of a subscription stopping for NotFound:\n%s", out)
	}
	var line string
	for l := range strings.Lines(out) {
		if strings.Contains(l, `"msg":"recreated Pub/Sub resources the emulator lost"`) {
			line = l
		}
	}
	sub := func(topic, suffix string) string {
		return strings.Replace(topic, "/topics/", "/subscriptions/", 1) + "-" + suffix
	}
	for _, name := range []string{stack.Events, stack.ResultsTopic, sub(stack.Events, "local-tail"),
		sub(stack.Events, "materializer"), sub(stack.ResultsTopic, "local-tail")} {
		if !strings.Contains(line, `"`+name+`"`) {
			t.Errorf("re-creation log %q lacks %s", line, name)
		}
	}
}

// maxRecovery bounds the time from an emulator reset to the stack's topics
// and subscriptions existing again: the emulator ends the streams at once,
// and the first retry waits minReceiveBackoff.
const maxRecovery = 5 * time.Second

// deliver sends a signed batch.succeeded delivery for subject and expects
// it accepted.
func deliver(t *testing.T, stack *Stack, id, subject string) {
	t.Helper()
	payload := []byte(`{"type":"batch.succeeded","version":"v1","data":{"id":"` + subject + `"}}`)
	resp, err := http.DefaultClient.Do(signedRequest(context.Background(), stack, stackSecret(t, stack), id, payload))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var got map[string]string
	_ = json.NewDecoder(resp.Body).Decode(&got)
	if got["status"] != "accepted" {
		t.Fatalf("delivery %s: %d %v; want accepted", id, resp.StatusCode, got)
	}
}

// notifyHandler signals seen whenever it handles a record with message msg.
type notifyHandler struct {
	slog.Handler
	msg  string
	seen chan<- struct{}
}

func (h *notifyHandler) Handle(ctx context.Context, r slog.Record) error {
	if r.Message == h.msg {
		select {
		case h.seen <- struct{}{}:
		default:
		}
	}
	return h.Handler.Handle(ctx, r)
}

func (h *notifyHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	return &notifyHandler{Handler: h.Handler.WithAttrs(attrs), msg: h.msg, seen: h.seen}
}

func (h *notifyHandler) WithGroup(name string) slog.Handler {
	return &notifyHandler{Handler: h.Handler.WithGroup(name), msg: h.msg, seen: h.seen}
}
