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

	"github.com/geminihooks/geminihooks/pkg/cleanup"
	"github.com/geminihooks/geminihooks/pkg/idempotency"
	"github.com/geminihooks/geminihooks/pkg/jwks"
	"github.com/geminihooks/geminihooks/pkg/publish"
	"github.com/geminihooks/geminihooks/pkg/secret"
	"github.com/geminihooks/geminihooks/pkg/signature"
)

// Build wires a Handler on Google Cloud from cfg: signing secrets from the
// environment and/or Secret Manager, Gemini's JWKS, a Firestore ledger and a
// Pub/Sub publisher. The returned close function releases the clients.
func Build(ctx context.Context, cfg *Config, logger *slog.Logger) (*Handler, func() error, error) {
	var res cleanup.Stack
	fail := func(err error) (*Handler, func() error, error) { return nil, nil, errors.Join(err, res.Close()) }
	if cfg.ProjectID == "" {
		return fail(errors.New("GOOGLE_CLOUD_PROJECT must be set"))
	}

	var sm *secretmanager.Client
	if cfg.SigningSecretName != "" {
		c, err := secretmanager.NewClient(ctx)
		if err != nil {
			return fail(fmt.Errorf("failed to create Secret Manager client: %w", err))
		}
		res.Push(c.Close)
		sm = c
	}
	secrets, err := SecretSource(cfg, sm, logger)
	if err != nil {
		return fail(err)
	}
	verifier, err := NewVerifier(cfg, secrets, logger)
	if err != nil {
		return fail(err)
	}

	fs, err := firestore.NewClientWithDatabase(ctx, cfg.ProjectID, cfg.FirestoreDatabase)
	if err != nil {
		return fail(fmt.Errorf("failed to create Firestore client: %w", err))
	}
	res.Push(fs.Close)
	ledger, err := idempotency.NewFirestore(fs, LedgerOptions(cfg))
	if err != nil {
		return fail(err)
	}

	ps, err := pubsub.NewClient(ctx, cfg.ProjectID)
	if err != nil {
		return fail(fmt.Errorf("failed to create Pub/Sub client: %w", err))
	}
	res.Push(ps.Close)
	publisher, err := publish.NewPubSub(ps, cfg.EventsTopic, PublishOptions(cfg))
	if err != nil {
		return fail(err)
	}
	res.Push(func() error { publisher.Stop(); return nil })

	hopts := HandlerOptions(cfg)
	if hopts.Capture, err = buildCapture(ctx, cfg, logger, &res); err != nil {
		return fail(err)
	}
	h, err := New(verifier, ledger, publisher, logger, hopts)
	if err != nil {
		return fail(err)
	}
	return h, res.Close, nil
}

// SecretSource returns the HMAC secrets cfg names: those in
// WEBHOOK_SIGNING_SECRETS and, when WEBHOOK_SIGNING_SECRET is set, every
// enabled version of that Secret Manager secret (read through sm). A
// signature made with any of them is accepted.
func SecretSource(cfg *Config, sm *secretmanager.Client, logger *slog.Logger) (signature.SecretSource, error) {
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

// NewVerifier returns the verifier cfg describes, with secrets for HMAC
// deliveries and a lazily fetched JWKS for JWT ones.
func NewVerifier(cfg *Config, secrets signature.SecretSource, logger *slog.Logger) (*signature.Verifier, error) {
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
	return signature.NewVerifier(signature.Options{
		Secrets:   secrets,
		Keys:      keys,
		Tolerance: cfg.TimestampTolerance,
		Leeway:    cfg.JWTLeeway,
		Audience:  cfg.JWTAudience,
		Issuer:    cfg.JWTIssuer,
	})
}

// LedgerOptions returns the idempotency settings in cfg.
func LedgerOptions(cfg *Config) idempotency.Options {
	return idempotency.Options{Collection: cfg.IdempotencyCollection, TTL: cfg.IdempotencyTTL, Lease: cfg.IdempotencyLease}
}

// PublishOptions returns the publishing settings in cfg.
func PublishOptions(cfg *Config) publish.Options {
	return publish.Options{Ordering: cfg.Ordering, Timeout: cfg.PublishTimeout}
}

// HandlerOptions returns the request-handling settings in cfg.
func HandlerOptions(cfg *Config) Options {
	return Options{
		MaxBodyBytes:   cfg.MaxBodyBytes,
		PublishTimeout: cfg.PublishTimeout,
		RetryAfter:     cfg.IdempotencyLease,
		ProjectID:      cfg.ProjectID,
	}
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
