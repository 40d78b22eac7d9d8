package local

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
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
const localGrace = "1s"

// startReconciler builds the reconciler on the stack's ledger, registry and
// events topic, with the simulator (or the real API) as the Gemini API, and
// runs a pass every interval (none when it is 0), as Cloud Scheduler does
// deployed: a POST to the same handler.
func (s *Stack) startReconciler(ctx context.Context, rb receiver.Backends, interval time.Duration, logger *slog.Logger) error {
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
	// Built even without an interval, so that ReconcileNow can run a pass.
	s.reconcile = h
	if interval <= 0 {
		return nil
	}
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

// ReconcileNow runs one reconcile pass at once, as a scheduler tick does,
// and returns its summary (which the pass also logs). It fails when the
// pass could do nothing.
func (s *Stack) ReconcileNow(ctx context.Context) (reconciler.Summary, error) {
	var sum reconciler.Summary
	if s.reconcile == nil {
		return sum, errors.New("the stack has no reconciler")
	}
	rec := httptest.NewRecorder()
	s.reconcile.ServeHTTP(rec, httptest.NewRequestWithContext(ctx, http.MethodPost, "/", nil))
	if rec.Code != http.StatusOK {
		return sum, fmt.Errorf("reconcile pass answered %d: %s", rec.Code, strings.TrimSpace(rec.Body.String()))
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &sum); err != nil {
		return sum, fmt.Errorf("reconcile pass answered %s: %w", strings.TrimSpace(rec.Body.String()), err)
	}
	return sum, nil
}
