package materializer_test

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"testing"

	"github.com/geminihooks/geminihooks/internal/geminisim"
	"github.com/geminihooks/geminihooks/pkg/event"
	"github.com/geminihooks/geminihooks/pkg/materializer"
	"github.com/geminihooks/geminihooks/pkg/registry"
)

// TestMaterialize_recordsTheJobsEnd checks that the registry hears how each
// job ended, before the results are announced.
func TestMaterialize_recordsTheJobsEnd(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		run    func(*testing.T, *geminisim.Server) job
		state  registry.State
		detail string // in Location for stored, Error for failed
	}{
		{"stored", func(t *testing.T, s *geminisim.Server) job {
			return finishedInteraction(t, s, geminisim.InteractionSpec{})
		}, registry.StateStored, "gs://" + testBucket + "/gemini/interaction/"},
		{"unknown_job_failed", func(*testing.T, *geminisim.Server) job {
			return job{n: notification(event.TypeBatchSucceeded, "batches/missing")}
		}, registry.StateFailed, "gemini_not_found"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			f := newFixture(t, fixtureOptions{})
			ev := completionEvent(t, tc.run(t, f.sim).n, newWebhookID())
			f.materialize(ev)
			ref, _ := ev.Job()
			got, ok, err := f.jobs.Get(t.Context(), ref)
			if err != nil || !ok {
				t.Fatalf("no registry record for %s: %v", ref.Key(), err)
			}
			detail := got.Location
			if tc.state == registry.StateFailed {
				detail = got.Error
			}
			if got.State != tc.state || !strings.Contains(detail, tc.detail) || got.Resource != ev.Data.Resource {
				t.Errorf("record %+v; want state %s with %q", got, tc.state, tc.detail)
			}
		})
	}
}

// downJobs is a registry that cannot be written.
type downJobs struct{}

func (downJobs) Stored(context.Context, registry.Notice, string) error {
	return errors.New("registry down")
}

func (downJobs) Failed(context.Context, registry.Notice, string) error {
	return errors.New("registry down")
}

// TestMaterialize_registryDownIsTransient checks that nothing is announced
// while the registry cannot be written, and that the redelivery finishes.
func TestMaterialize_registryDownIsTransient(t *testing.T) {
	t.Parallel()
	f := newFixture(t, fixtureOptions{})
	ev := completionEvent(t, finishedInteraction(t, f.sim, geminisim.InteractionSpec{}).n, newWebhookID())
	down, err := materializer.New(newClient(t, f.url, 0), f.store, f.pub, downJobs{}, slog.New(slog.DiscardHandler), materializer.Options{Bucket: testBucket})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := down.Materialize(t.Context(), ev); err == nil {
		t.Fatal("Materialize() succeeded with the registry down; want a transient error")
	}
	if n := len(f.results()); n != 0 {
		t.Fatalf("%d results events published while the registry was down, want 0", n)
	}
	f.mustMaterialize(ev, materializer.Stored)
	if got := len(f.results()); got != 1 {
		t.Errorf("%d results events after the redelivery, want 1", got)
	}
}
