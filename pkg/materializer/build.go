package materializer

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"

	"cloud.google.com/go/pubsub/v2"
	"cloud.google.com/go/storage"

	"github.com/geminihooks/geminihooks/pkg/blob"
	"github.com/geminihooks/geminihooks/pkg/cleanup"
	"github.com/geminihooks/geminihooks/pkg/gemini"
	"github.com/geminihooks/geminihooks/pkg/publish"
)

// Build wires the push Handler on Google Cloud from cfg: the Gemini API
// client, the results bucket and the results topic. The returned close
// function releases the clients.
func Build(ctx context.Context, cfg *Config, logger *slog.Logger) (*Handler, func() error, error) {
	var res cleanup.Stack
	fail := func(err error) (*Handler, func() error, error) { return nil, nil, errors.Join(err, res.Close()) }
	if cfg.ProjectID == "" {
		return fail(errors.New("GOOGLE_CLOUD_PROJECT must be set"))
	}

	fetcher, err := NewFetcher(ctx, cfg, nil)
	if err != nil {
		return fail(err)
	}
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
	pub, err := publish.NewPubSub(ps, cfg.ResultsTopic, publish.Options{Ordering: cfg.Ordering})
	if err != nil {
		return fail(err)
	}
	res.Push(func() error { pub.Stop(); return nil })

	m, err := New(fetcher, store, pub, logger, Options{Bucket: cfg.ResultsBucket, Prefix: cfg.ResultsPrefix})
	if err != nil {
		return fail(err)
	}
	h, err := NewHandler(m, logger, cfg.ProjectID)
	if err != nil {
		return fail(err)
	}
	return h, res.Close, nil
}

// NewFetcher returns the Gemini API client cfg describes (httpClient may be
// nil for the default).
func NewFetcher(ctx context.Context, cfg *Config, httpClient *http.Client) (*gemini.Client, error) {
	return gemini.New(ctx, gemini.Options{
		BaseURL:       cfg.GeminiBaseURL,
		APIKey:        cfg.GeminiAPIKey,
		DownloadHosts: cfg.DownloadHosts,
		HTTPClient:    httpClient,
		Timeout:       cfg.FetchTimeout,
	})
}
