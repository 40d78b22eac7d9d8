package materializer

import (
	"context"
	"errors"
	"fmt"
	"log/slog"

	"cloud.google.com/go/firestore"
	"cloud.google.com/go/pubsub/v2"
	"cloud.google.com/go/storage"
	"go.opentelemetry.io/otel/trace"

	"github.com/geminihooks/geminihooks/pkg/blob"
	"github.com/geminihooks/geminihooks/pkg/cleanup"
	"github.com/geminihooks/geminihooks/pkg/gemini"
	"github.com/geminihooks/geminihooks/pkg/publish"
	"github.com/geminihooks/geminihooks/pkg/registry"
	"github.com/geminihooks/geminihooks/pkg/tracing"
)

// Backends are the services Build wires a Handler onto: Google Cloud's
// (CloudBackends) when deployed, plain files and an emulator or in-process
// Pub/Sub locally.
type Backends struct {
	// Store receives the results (the results bucket).
	Store Store
	// PubSub announces them on RESULTS_TOPIC.
	PubSub *pubsub.Client
	// Firestore holds the job registry. Nil keeps it in memory: Jobs, the
	// local runner's registry shared with its other functions, or one of
	// the materializer's own.
	Firestore *firestore.Client
	// Jobs is the job registry to use when Firestore is nil.
	Jobs *registry.Registry
	// Tracer records the push deliveries' spans; nil records none.
	Tracer trace.TracerProvider
}

// CloudBackends connects to the results bucket and Pub/Sub. The returned
// close function releases the clients.
func CloudBackends(ctx context.Context, cfg *Config) (Backends, func() error, error) {
	var res cleanup.Stack
	fail := func(err error) (Backends, func() error, error) { return Backends{}, nil, errors.Join(err, res.Close()) }
	if cfg.ProjectID == "" {
		return fail(errors.New("GOOGLE_CLOUD_PROJECT must be set"))
	}
	tp, stopTracing, err := tracing.NewProvider(ctx, cfg.Tracing, "materializer", cfg.ProjectID)
	if err != nil {
		return fail(err)
	}
	res.Push(stopTracing)
	gcs, err := storage.NewClient(ctx)
	if err != nil {
		return fail(fmt.Errorf("failed to create Cloud Storage client: %w", err))
	}
	res.Push(gcs.Close)
	store, err := blob.NewGCS(gcs, cfg.ResultsBucket, blob.GCSOptions{ChunkSize: cfg.UploadChunkSize})
	if err != nil {
		return fail(err)
	}
	ps, err := pubsub.NewClient(ctx, cfg.ProjectID)
	if err != nil {
		return fail(fmt.Errorf("failed to create Pub/Sub client: %w", err))
	}
	res.Push(ps.Close)
	fs, err := firestore.NewClientWithDatabase(ctx, cfg.ProjectID, cfg.FirestoreDatabase)
	if err != nil {
		return fail(fmt.Errorf("failed to create Firestore client: %w", err))
	}
	res.Push(fs.Close)
	return Backends{Store: store, PubSub: ps, Firestore: fs, Tracer: tp}, res.Close, nil
}

// Build wires the push Handler cfg describes onto b: the Gemini API client,
// the results store and the results publisher. The returned close function
// stops the publisher; b's clients stay open.
func Build(ctx context.Context, cfg *Config, b Backends, logger *slog.Logger) (*Handler, func() error, error) {
	fetcher, err := gemini.New(ctx, gemini.Options{
		BaseURL:       cfg.GeminiBaseURL,
		APIKey:        cfg.GeminiAPIKey,
		DownloadHosts: cfg.DownloadHosts,
		Timeout:       cfg.FetchTimeout,
	})
	if err != nil {
		return nil, nil, err
	}
	jobs, err := registry.Open(b.Firestore, b.Jobs, cfg.Jobs.Options())
	if err != nil {
		return nil, nil, fmt.Errorf("JOBS_COLLECTION/JOBS_TTL: %w", err)
	}
	pub, err := publish.NewPubSub(b.PubSub, cfg.ResultsTopic, publish.Options{Ordering: cfg.Ordering})
	if err != nil {
		return nil, nil, err
	}
	stop := func() error { pub.Stop(); return nil }
	m, err := New(fetcher, b.Store, pub, jobs, logger, Options{Bucket: cfg.ResultsBucket, Prefix: cfg.ResultsPrefix})
	if err != nil {
		return nil, nil, errors.Join(err, stop())
	}
	h, err := NewHandler(m, logger, HandlerOptions{ProjectID: cfg.ProjectID, Tracer: b.Tracer})
	if err != nil {
		return nil, nil, errors.Join(err, stop())
	}
	return h, stop, nil
}
