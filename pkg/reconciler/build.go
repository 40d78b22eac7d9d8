package reconciler

import (
	"context"
	"errors"
	"fmt"
	"log/slog"

	"cloud.google.com/go/firestore"
	"cloud.google.com/go/pubsub/v2"
	"go.opentelemetry.io/otel/trace"

	"github.com/geminihooks/geminihooks/pkg/cleanup"
	"github.com/geminihooks/geminihooks/pkg/gemini"
	"github.com/geminihooks/geminihooks/pkg/idempotency"
	"github.com/geminihooks/geminihooks/pkg/logging"
	"github.com/geminihooks/geminihooks/pkg/publish"
	"github.com/geminihooks/geminihooks/pkg/registry"
	"github.com/geminihooks/geminihooks/pkg/tracing"
)

// Backends are the services Build wires a Handler onto: Google Cloud's
// (CloudBackends) when deployed, emulators or in-process stand-ins locally.
type Backends struct {
	// Firestore holds the delivery ledger and the job registry. Nil keeps
	// both in this process's memory, which only the local runner may do:
	// Ledger and Jobs are then the ones its receiver and materializer use.
	Firestore *firestore.Client
	// Ledger and Jobs are the ledger and registry to use when Firestore is
	// nil; nil then means ones of the reconciler's own.
	Ledger *idempotency.Memory
	Jobs   *registry.Registry
	// PubSub publishes the events to EVENTS_TOPIC.
	PubSub *pubsub.Client
	// Tracer records the passes' spans; nil records none.
	Tracer trace.TracerProvider
}

// CloudBackends connects to the Firestore database and Pub/Sub cfg names.
// The returned close function releases the clients.
func CloudBackends(ctx context.Context, cfg *Config) (Backends, func() error, error) {
	var res cleanup.Stack
	fail := func(err error) (Backends, func() error, error) { return Backends{}, nil, errors.Join(err, res.Close()) }
	if cfg.ProjectID == "" {
		return fail(errors.New("GOOGLE_CLOUD_PROJECT must be set"))
	}
	tp, stopTracing, err := tracing.NewProvider(ctx, cfg.Tracing, "reconciler", cfg.ProjectID)
	if err != nil {
		return fail(err)
	}
	res.Push(stopTracing)
	fs, err := firestore.NewClientWithDatabase(ctx, cfg.ProjectID, cfg.FirestoreDatabase)
	if err != nil {
		return fail(fmt.Errorf("failed to create Firestore client: %w", err))
	}
	res.Push(fs.Close)
	ps, err := pubsub.NewClient(ctx, cfg.ProjectID)
	if err != nil {
		return fail(fmt.Errorf("failed to create Pub/Sub client: %w", err))
	}
	res.Push(ps.Close)
	return Backends{Firestore: fs, PubSub: ps, Tracer: tp}, res.Close, nil
}

// Build wires the Handler cfg describes onto b: the Gemini API client
// (without retries: the next pass is the retry), the delivery ledger, the
// job registry and the events publisher. The returned close function stops
// the publisher; b's clients stay open.
func Build(ctx context.Context, cfg *Config, b Backends, logger *slog.Logger) (*Handler, func() error, error) {
	api, err := gemini.New(ctx, gemini.Options{
		BaseURL: cfg.GeminiBaseURL,
		APIKey:  cfg.GeminiAPIKey,
		Timeout: cfg.FetchTimeout,
		Retry:   gemini.RetryPolicy{Attempts: 1},
	})
	if err != nil {
		return nil, nil, err
	}
	ledger, err := idempotency.Open(b.Firestore, b.Ledger, cfg.ledgerOptions())
	if err != nil {
		return nil, nil, fmt.Errorf("IDEMPOTENCY_COLLECTION/IDEMPOTENCY_TTL/IDEMPOTENCY_LEASE: %w", err)
	}
	jobs, err := registry.Open(b.Firestore, b.Jobs, cfg.Jobs.Options())
	if err != nil {
		return nil, nil, fmt.Errorf("JOBS_COLLECTION/JOBS_TTL: %w", err)
	}
	pub, err := publish.NewPubSub(b.PubSub, cfg.EventsTopic, publish.Options{Ordering: cfg.Ordering, Timeout: cfg.PublishTimeout})
	if err != nil {
		return nil, nil, err
	}
	stop := func() error { pub.Stop(); return nil }
	opts := cfg.Options()
	opts.Tracer = b.Tracer
	r, err := New(api, api, ledger, pub, jobs, logging.WithTrace(logger, cfg.ProjectID), opts)
	if err != nil {
		return nil, nil, errors.Join(err, stop())
	}
	h, err := NewHandler(r)
	if err != nil {
		return nil, nil, errors.Join(err, stop())
	}
	return h, stop, nil
}
