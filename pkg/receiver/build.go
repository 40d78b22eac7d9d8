package receiver

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"cloud.google.com/go/firestore"
	"cloud.google.com/go/pubsub/v2"
	secretmanager "cloud.google.com/go/secretmanager/apiv1"
	"cloud.google.com/go/storage"
	"go.opentelemetry.io/otel/trace"

	"github.com/geminihooks/geminihooks/pkg/blob"
	"github.com/geminihooks/geminihooks/pkg/capture"
	"github.com/geminihooks/geminihooks/pkg/cleanup"
	"github.com/geminihooks/geminihooks/pkg/config"
	"github.com/geminihooks/geminihooks/pkg/idempotency"
	"github.com/geminihooks/geminihooks/pkg/jwks"
	"github.com/geminihooks/geminihooks/pkg/publish"
	"github.com/geminihooks/geminihooks/pkg/registry"
	"github.com/geminihooks/geminihooks/pkg/secret"
	"github.com/geminihooks/geminihooks/pkg/signature"
	"github.com/geminihooks/geminihooks/pkg/tracing"
)

// Backends are the services Build wires a Handler onto: Google Cloud's
// (CloudBackends) when deployed, emulators or in-process stand-ins locally.
type Backends struct {
	// SecretManager reads the versions of WEBHOOK_SIGNING_SECRET; it is
	// needed only when that is set.
	SecretManager *secretmanager.Client
	// Firestore holds the idempotency ledger and the job registry. Nil keeps
	// both in this process's memory, which only a single instance may do
	// (the local runner): Jobs then shares the registry with the rest of it.
	Firestore *firestore.Client
	// Jobs is the job registry to use when Firestore is nil; nil then means
	// a registry of the receiver's own.
	Jobs *registry.Registry
	// Ledger is the delivery ledger to use when Firestore is nil, shared
	// with the reconciler; nil then means a ledger of the receiver's own.
	Ledger *idempotency.Memory
	// PubSub publishes the events to EVENTS_TOPIC.
	PubSub *pubsub.Client
	// InProcessPubSub, when set, takes the events instead of PubSub, by a
	// direct call: the local runner's in-process Pub/Sub.
	InProcessPubSub publish.RPC
	// Captures stores captured deliveries; it is needed only when
	// WEBHOOK_CAPTURE_LIMIT is above 0.
	Captures capture.Store
	// Secrets, when set, are signing secrets accepted besides those the
	// configuration names: the local runner's stand-in for Secret Manager
	// (secret.File).
	Secrets signature.SecretSource
	// Tracer records the deliveries' spans; nil records none.
	Tracer trace.TracerProvider
}

// CloudBackends connects to the Google Cloud services cfg names. The
// returned close function releases the clients.
func CloudBackends(ctx context.Context, cfg *Config) (Backends, func() error, error) {
	var b Backends
	var res cleanup.Stack
	fail := func(err error) (Backends, func() error, error) { return Backends{}, nil, errors.Join(err, res.Close()) }
	if cfg.ProjectID == "" {
		return fail(errors.New("GOOGLE_CLOUD_PROJECT must be set"))
	}
	tp, stopTracing, err := tracing.NewProvider(ctx, cfg.Tracing, "receiver", cfg.ProjectID)
	if err != nil {
		return fail(err)
	}
	res.Push(stopTracing)
	b.Tracer = tp
	if cfg.SigningSecretName != "" {
		c, err := secretmanager.NewClient(ctx)
		if err != nil {
			return fail(fmt.Errorf("failed to create Secret Manager client: %w", err))
		}
		res.Push(c.Close)
		b.SecretManager = c
	}
	fs, err := firestore.NewClientWithDatabase(ctx, cfg.ProjectID, cfg.FirestoreDatabase)
	if err != nil {
		return fail(fmt.Errorf("failed to create Firestore client: %w", err))
	}
	res.Push(fs.Close)
	b.Firestore = fs
	if b.PubSub, err = pubsub.NewClient(ctx, cfg.ProjectID); err != nil {
		return fail(fmt.Errorf("failed to create Pub/Sub client: %w", err))
	}
	res.Push(b.PubSub.Close)
	if cfg.CaptureLimit > 0 {
		gcs, err := storage.NewClient(ctx)
		if err != nil {
			return fail(fmt.Errorf("failed to create Cloud Storage client: %w", err))
		}
		res.Push(gcs.Close)
		if b.Captures, err = blob.NewGCS(gcs, cfg.ResultsBucket, blob.GCSOptions{}); err != nil {
			return fail(fmt.Errorf("RESULTS_BUCKET: %w", err))
		}
	}
	return b, res.Close, nil
}

// Build wires the Handler cfg describes onto b: signing secrets from the
// environment and/or Secret Manager, Gemini's JWKS, the idempotency ledger,
// the events publisher and, when asked for, the capture recorder. The
// returned close function stops the publisher; b's clients stay open.
func Build(_ context.Context, cfg *Config, b Backends, logger *slog.Logger) (*Handler, func() error, error) {
	secrets, err := secretSource(cfg, b.SecretManager, logger)
	if err != nil {
		return nil, nil, err
	}
	if b.Secrets != nil {
		secrets = multiSource{secrets, b.Secrets}
	}
	verifier, err := NewVerifier(cfg, signature.Options{Secrets: secrets}, logger)
	if err != nil {
		return nil, nil, err
	}
	ledger, err := idempotency.Open(b.Firestore, b.Ledger,
		idempotency.Options{Collection: cfg.IdempotencyCollection, TTL: cfg.IdempotencyTTL, Lease: cfg.IdempotencyLease})
	if err != nil {
		return nil, nil, err
	}
	jobs, err := registry.Open(b.Firestore, b.Jobs, cfg.Jobs.Options())
	if err != nil {
		return nil, nil, fmt.Errorf("JOBS_COLLECTION/JOBS_TTL: %w", err)
	}
	opts := Options{
		MaxBodyBytes:   cfg.MaxBodyBytes,
		PublishTimeout: cfg.PublishTimeout,
		LedgerTimeout:  cfg.LedgerTimeout,
		RetryAfter:     cfg.IdempotencyLease,
		ProjectID:      cfg.ProjectID,
		Tracer:         b.Tracer,
	}
	if cfg.CaptureLimit > 0 {
		r, err := capture.NewRecorder(b.Captures, capture.Options{Limit: cfg.CaptureLimit, Logger: logger})
		if err != nil {
			return nil, nil, fmt.Errorf("WEBHOOK_CAPTURE_LIMIT: %w", err)
		}
		opts.Capture = r
	}
	publisher, stop, err := eventsPublisher(cfg, b)
	if err != nil {
		return nil, nil, err
	}
	h, err := New(verifier, ledger, publisher, jobs, logger, opts)
	if err != nil {
		return nil, nil, errors.Join(err, stop())
	}
	return h, stop, nil
}

// eventsPublisher returns the publisher to EVENTS_TOPIC on b and the
// function that stops it.
func eventsPublisher(cfg *Config, b Backends) (Publisher, func() error, error) {
	opts := publish.Options{Ordering: cfg.Ordering, Timeout: cfg.PublishTimeout}
	if b.InProcessPubSub != nil {
		p, err := publish.NewDirect(b.InProcessPubSub, config.ResourceName(cfg.ProjectID, "topics", cfg.EventsTopic), opts)
		return p, func() error { return nil }, err
	}
	p, err := publish.NewPubSub(b.PubSub, cfg.EventsTopic, opts)
	if err != nil {
		return nil, nil, err
	}
	return p, func() error { p.Stop(); return nil }, nil
}

// secretSource returns the HMAC secrets cfg names: those in
// WEBHOOK_SIGNING_SECRETS and, when WEBHOOK_SIGNING_SECRET is set, every
// enabled version of that Secret Manager secret (read through sm). A
// signature made with any of them is accepted.
func secretSource(cfg *Config, sm *secretmanager.Client, logger *slog.Logger) (signature.SecretSource, error) {
	static, err := cfg.Secrets()
	if err != nil {
		return nil, fmt.Errorf("WEBHOOK_SIGNING_SECRETS: %w", err)
	}
	if cfg.SigningSecretName == "" {
		return signature.StaticSecrets(static), nil
	}
	if sm == nil {
		return nil, errors.New("WEBHOOK_SIGNING_SECRET is set but no Secret Manager client was given")
	}
	m, err := secret.NewManager(sm, cfg.SigningSecretName, secret.Options{
		TTL:                cfg.SecretCacheTTL,
		MinRefreshInterval: cfg.SecretRefreshInterval,
		OnError: func(ctx context.Context, err error) {
			// Labels only: package secret never puts secret material in errors.
			logger.WarnContext(ctx, "signing secrets could not be fully loaded", slog.String("error", err.Error()))
		},
	})
	if err != nil {
		return nil, err
	}
	if len(static) == 0 {
		return m, nil
	}
	return multiSource{signature.StaticSecrets(static), m}, nil
}

// NewVerifier returns the verifier cfg describes, checking HMAC deliveries
// against opts.Secrets and JWT ones against opts.Keys, by default the JWKS
// at WEBHOOK_JWKS_URL, fetched when first needed. cfg's tolerance, leeway,
// audience and issuer replace those in opts; opts.Now is kept.
func NewVerifier(cfg *Config, opts signature.Options, logger *slog.Logger) (*signature.Verifier, error) {
	if opts.Keys == nil {
		keys, err := jwks.New(cfg.JWKSURL, jwks.Options{
			MinRefreshInterval: cfg.JWKSRefreshInterval,
			HTTPClient:         &http.Client{Timeout: 5 * time.Second},
			OnError: func(ctx context.Context, err error) {
				logger.WarnContext(ctx, "JWKS fetch failed", slog.String("error", err.Error()))
			},
		})
		if err != nil {
			return nil, fmt.Errorf("WEBHOOK_JWKS_URL: %w", err)
		}
		opts.Keys = keys
	}
	opts.Tolerance, opts.Leeway, opts.Audience, opts.Issuer = cfg.TimestampTolerance, cfg.JWTLeeway, cfg.JWTAudience, cfg.JWTIssuer
	return signature.NewVerifier(opts)
}

// multiSource accepts the secrets of every source it holds.
type multiSource []signature.SecretSource

var _ signature.SecretSource = multiSource(nil)

func (m multiSource) Secrets(ctx context.Context) ([]signature.Secret, error) {
	return m.collect(ctx, signature.SecretSource.Secrets)
}

func (m multiSource) Refresh(ctx context.Context) ([]signature.Secret, error) {
	return m.collect(ctx, signature.SecretSource.Refresh)
}

// collect returns every source's secrets; it fails only when none could be
// read, so a Secret Manager outage does not reject env-configured secrets.
func (m multiSource) collect(ctx context.Context, get func(signature.SecretSource, context.Context) ([]signature.Secret, error)) ([]signature.Secret, error) {
	var out []signature.Secret
	var errs []error
	for _, s := range m {
		secrets, err := get(s, ctx)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		out = append(out, secrets...)
	}
	if len(out) == 0 && len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return out, nil
}
