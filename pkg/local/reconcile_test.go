package local

import (
	"bytes"
	"context"
	"log/slog"
	"testing"
	"time"

	"github.com/sethvargo/go-envconfig"

	"github.com/geminihooks/geminihooks/internal/geminisim"
	"github.com/geminihooks/geminihooks/pkg/event"
	"github.com/geminihooks/geminihooks/pkg/logging"
)

// TestStack_reconcilesDroppedWebhook: with a reconcile interval, a batch
// that finishes without its webhook still gets its completion event
// (marked reconciled), and the materializer stores its results.
func TestStack_reconcilesDroppedWebhook(t *testing.T) {
	t.Parallel()
	stack, err := Start(context.Background(), Options{
		Addr: "127.0.0.1:0", Lookuper: envconfig.MapLookuper(map[string]string{"RECONCILE_GRACE": "1ms"}),
		Logger: logging.New(&bytes.Buffer{}, slog.LevelInfo), DataDir: t.TempDir(), ReconcileInterval: 50 * time.Millisecond,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := stack.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	name, err := stack.Sim.CreateBatch(geminisim.BatchSpec{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := stack.Sim.CompleteBatch(name); err != nil { // no webhook is registered: none comes
		t.Fatal(err)
	}
	select {
	case ev := <-stack.Received:
		if ev.Subject != name || !ev.Data.Delivery.Reconciled || ev.Data.Delivery.Scheme != event.SchemeAPI {
			t.Errorf("completion event %s reconciled=%v scheme=%s; want %s, reconciled", ev.Subject, ev.Data.Delivery.Reconciled, ev.Data.Delivery.Scheme, name)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("no completion event")
	}
	select {
	case r := <-stack.Results:
		if r.Subject != name || r.Type != event.ResultsTypeStored {
			t.Errorf("results event %s %s; want %s stored", r.Type, r.Subject, name)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("no results event")
	}
}
