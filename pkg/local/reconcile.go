package local

import (
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"time"

	"github.com/sethvargo/go-envconfig"

	"github.com/geminihooks/geminihooks/pkg/config"
	"github.com/geminihooks/geminihooks/pkg/receiver"
	"github.com/geminihooks/geminihooks/pkg/reconciler"
)

// DefaultReconcileInterval is the local runner's reconcile interval: short,
// so that a dropped webhook shows its effect within the session.
const DefaultReconcileInterval = 30 * time.Second

// localGrace replaces the deployed grace period (15 minutes) unless
// RECONCILE_GRACE says otherwise: locally a webhook arrives within
// milliseconds or not at all.
const localGrace = "5s"

// startReconciler builds the reconciler on the stack's ledger, registry and
// events topic, with the simulator (or the real API) as the Gemini API, and
// runs a pass every interval, as Cloud Scheduler does deployed: a POST to
// the same handler.
func (s *Stack) startReconciler(ctx context.Context, rb receiver.Backends, interval time.Duration, logger *slog.Logger) error {
	if interval <= 0 {
		return nil
	}
	overrides := map[string]string{}
	if v, ok := s.env.Lookup(config.EnvReconcileGrace); !ok || v == "" {
		overrides[config.EnvReconcileGrace] = localGrace
	}
	cfg, err := reconciler.LoadConfig(ctx, envconfig.MultiLookuper(envconfig.MapLookuper(overrides), s.env))
	if err != nil {
		return err
	}
	h, stop, err := reconciler.Build(ctx, cfg, reconciler.Backends{Firestore: rb.Firestore, Ledger: rb.Ledger, Jobs: rb.Jobs, PubSub: rb.PubSub, Tracer: rb.Tracer}, logger)
	if err != nil {
		return err
	}
	s.res.Push(stop)
	rctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	done := make(chan struct{})
	// Pushed after stop, so it runs first: no pass is left running on a
	// stopped publisher.
	s.res.Push(func() error { cancel(); <-done; return nil })
	go func() {
		defer close(done)
		t := time.NewTicker(interval)
		defer t.Stop()
		for {
			select {
			case <-rctx.Done():
				return
			case <-t.C:
				// The summary is logged by the pass itself.
				h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequestWithContext(rctx, http.MethodPost, "/", nil))
			}
		}
	}()
	return nil
}
