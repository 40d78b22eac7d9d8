package receiver

import (
	"context"
	"fmt"
	"log/slog"

	"cloud.google.com/go/storage"

	"github.com/geminihooks/geminihooks/pkg/blob"
	"github.com/geminihooks/geminihooks/pkg/capture"
	"github.com/geminihooks/geminihooks/pkg/cleanup"
)

// buildCapture returns the recorder WEBHOOK_CAPTURE_LIMIT asks for, writing
// to the results bucket, or nil when capturing is off. The storage client is
// released with res.
func buildCapture(ctx context.Context, cfg *Config, logger *slog.Logger, res *cleanup.Stack) (Capturer, error) {
	if cfg.CaptureLimit == 0 {
		return nil, nil
	}
	client, err := storage.NewClient(ctx)
	if err != nil {
		return nil, fmt.Errorf("failed to create Cloud Storage client: %w", err)
	}
	res.Push(client.Close)
	store, err := blob.NewGCS(client, cfg.ResultsBucket, blob.GCSOptions{})
	if err != nil {
		return nil, fmt.Errorf("RESULTS_BUCKET: %w", err)
	}
	return NewCapture(store, cfg, logger)
}

// NewCapture returns the recorder cfg asks for on store, or nil when
// capturing is off.
func NewCapture(store capture.Store, cfg *Config, logger *slog.Logger) (Capturer, error) {
	if cfg.CaptureLimit == 0 {
		return nil, nil
	}
	r, err := capture.NewRecorder(store, capture.Options{Limit: cfg.CaptureLimit, Logger: logger})
	if err != nil {
		return nil, fmt.Errorf("WEBHOOK_CAPTURE_LIMIT: %w", err)
	}
	return r, nil
}
