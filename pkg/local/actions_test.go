package local

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/sethvargo/go-envconfig"

	"github.com/geminihooks/geminihooks/pkg/event"
	"github.com/geminihooks/geminihooks/pkg/logging"
	"github.com/geminihooks/geminihooks/pkg/signature"
)

// TestStack_inspectorActions sends a test event of every type through the
// stack, replays one (answered duplicate), and checks that the stack's
// verifier explains a forged delivery as the receiver judged it, and that
// the hooks saw the deliveries and events.
func TestStack_inspectorActions(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	obs := &watcher{published: make(chan *event.Event, 64), materialized: make(chan materialized, 64)}
	stack, err := Start(ctx, Options{
		Addr: "127.0.0.1:0", Lookuper: envconfig.MapLookuper(map[string]string{}),
		Logger: logging.New(&bytes.Buffer{}, slog.LevelInfo), DataDir: t.TempDir(), Observer: obs,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := stack.Close(); err != nil {
			t.Error(err)
		}
	})
	if !obs.wrapped {
		t.Error("the observer did not wrap the receiver")
	}

	for _, typ := range event.SubscribableTypes() {
		t.Run(typ, func(t *testing.T) {
			got, err := stack.SendTest(ctx, typ)
			if err != nil || !strings.HasPrefix(got, typ+" for ") || !strings.Contains(got, `200 {"status":"accepted"`) {
				t.Errorf("SendTest(%s) = %q, %v; want accepted", typ, got, err)
			}
		})
	}
	if _, err := stack.SendTest(ctx, "batch.exploded"); err == nil || !strings.Contains(err.Error(), "unknown event type") {
		t.Errorf("SendTest of an unknown type: %v", err)
	}
	select {
	case ev := <-obs.published:
		if ev.Subject == "" {
			t.Errorf("the observer saw an event without a subject: %+v", ev)
		}
	case <-ctx.Done():
		t.Fatal("the observer saw no event published")
	}
	// Each job's materializer steps: fetched, then its objects stored.
	for stored := false; !stored; {
		select {
		case m := <-obs.materialized:
			if len(m.steps) == 0 || m.steps[0].Name != StepFetched {
				t.Fatalf("materializer steps of %s: %+v; want fetched first", m.resource, m.steps)
			}
			for _, s := range m.steps[1:] {
				if s.Name != StepStored || s.Detail == "" || strings.Contains(s.Detail, "announced") {
					t.Errorf("step %+v of %s is not an object stored", s, m.resource)
				}
				stored = true
			}
		case <-ctx.Done():
			t.Fatal("the observer saw no object stored")
		}
	}

	body, _ := json.Marshal(event.Payload{Type: event.TypeBatchCancelled, Version: event.PayloadVersion,
		Timestamp: time.Now().UTC().Truncate(time.Second), Data: event.PayloadData{ID: "batches/replayed"}})
	for i, want := range []string{`"accepted"`, `"duplicate"`} {
		got, err := stack.Replay(ctx, "msg_replayed", body)
		if err != nil || !strings.HasPrefix(got, "200 ") || !strings.Contains(got, want) {
			t.Errorf("delivery %d = %q, %v; want 200 %s", i+1, got, err, want)
		}
	}
	if _, err := stack.Replay(ctx, "", body); err == nil {
		t.Error("a replay without a webhook-id was sent")
	}

	v, err := stack.Verifier(ctx)
	if err != nil {
		t.Fatal(err)
	}
	h := http.Header{}
	h.Set(signature.HeaderID, "msg_forged")
	h.Set(signature.HeaderTimestamp, "1700000000")
	h.Set(signature.HeaderSignature, "v1,AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=")
	rep := v.Explain(ctx, h, body)
	if rep.Err == nil || rep.Scheme != signature.SchemeHMAC || len(rep.SecretsTried) != 1 {
		t.Errorf("Explain(forged) = %+v; want an HMAC failure after trying the stack's secret", rep)
	}
}

// watcher is an Observer that keeps what a test asks about.
type watcher struct {
	wrapped      bool
	published    chan *event.Event
	materialized chan materialized
}

type materialized struct {
	resource string
	steps    []Step
}

var _ Observer = (*watcher)(nil)

func (w *watcher) Wrap(h http.Handler) http.Handler { w.wrapped = true; return h }
func (w *watcher) Published(ev *event.Event)        { offer(w.published, ev) }
func (w *watcher) Announced(*event.Results)         {}
func (w *watcher) Materialized(resource string, steps []Step) {
	offer(w.materialized, materialized{resource, steps})
}
