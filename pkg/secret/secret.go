// Package secret supplies the webhook signing secrets stored in Secret
// Manager as a signature.SecretSource, and, where there is no Secret
// Manager (the local runner), those in a file standing in for it (File).
//
// Every enabled version of one secret is accepted: when Gemini rotates a
// signing secret, the old and new ones both stay valid for a grace period,
// and each lives in its own version. The set is cached, reloaded when older
// than a TTL, and reloaded early (rate-limited) when no signature matches.
package secret

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"hash/crc32"
	"regexp"
	"slices"
	"strings"
	"sync"
	"time"

	secretmanager "cloud.google.com/go/secretmanager/apiv1"
	"cloud.google.com/go/secretmanager/apiv1/secretmanagerpb"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/geminihooks/geminihooks/pkg/refresh"
	"github.com/geminihooks/geminihooks/pkg/signature"
)

const (
	// DefaultTTL is how long a loaded set is used before it is reloaded.
	DefaultTTL = 5 * time.Minute
	// DefaultMinRefreshInterval bounds how often Secret Manager is read.
	DefaultMinRefreshInterval = 30 * time.Second
	// DefaultLoadTimeout bounds one load (a list and one access per version).
	DefaultLoadTimeout = 10 * time.Second

	// enabledFilter is the Secret Manager list filter for usable versions.
	enabledFilter = "state:ENABLED"
)

var (
	// ErrNoUsableVersions means Secret Manager was read successfully but the
	// secret has no enabled version holding a well-formed signing secret.
	ErrNoUsableVersions = errors.New("secret has no usable enabled version")
	// ErrMalformedVersion is wrapped by the error describing an enabled
	// version whose payload is not a signing secret. Such versions are
	// skipped; the error names the version, never its payload.
	ErrMalformedVersion = errors.New("malformed secret version")
)

// castagnoli is the CRC32C table Secret Manager checksums payloads with.
var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// namePattern matches projects/PROJECT/secrets/SECRET.
var namePattern = regexp.MustCompile(`^projects/[^/]+/secrets/[A-Za-z0-9_-]+$`)

// Manager is a signature.SecretSource reading every enabled version of one
// Secret Manager secret. It is safe for concurrent use.
//
// Failures never discard a set that was loaded before: while Secret Manager
// cannot be read, the previous set keeps being served (stale-if-error). A
// successful read is authoritative, though: disabling a version revokes it
// at the next load, and a secret left with no usable version yields
// ErrNoUsableVersions. Malformed versions are skipped and reported to the
// error handler (see Options.OnError) rather than failing the load, so one
// bad version cannot stop verification with the good ones.
type Manager struct {
	client      *secretmanager.Client
	name        string
	ttl         time.Duration
	loadTimeout time.Duration
	now         func() time.Time
	onError     func(context.Context, error)

	mu      sync.Mutex
	secrets []signature.Secret // nil when no usable set is known
	loaded  time.Time          // time of the last successful load
	lastErr error              // error of the last load; nil after a success
	loads   refresh.Gate       // one load at a time, at most one per MinInterval
}

var _ signature.SecretSource = (*Manager)(nil)

// Options configures a Manager. Zero values select the documented defaults.
type Options struct {
	// TTL is how long a loaded set is used before Secrets reloads it.
	// Default DefaultTTL.
	TTL time.Duration
	// MinRefreshInterval is the minimum time between two loads, whatever
	// triggers them. Default DefaultMinRefreshInterval.
	MinRefreshInterval time.Duration
	// LoadTimeout bounds one load. A load is shared by concurrent callers,
	// so it is not cancelled with any one caller's context; this timeout is
	// what ends it. Default DefaultLoadTimeout.
	LoadTimeout time.Duration
	// Now returns the current time. Default time.Now; tests inject a clock.
	Now func() time.Time
	// OnError, if set, is called with each failed load and with the
	// malformed versions a successful load skipped, so problems hidden by
	// stale-if-error or by skipping can be logged. Errors never contain
	// secret material. It runs on the loading goroutine and must not block
	// for long.
	OnError func(context.Context, error)
}

// NewManager returns a Manager for secretName ("projects/P/secrets/S"),
// read through client. Nothing is read until the first call to Secrets.
func NewManager(client *secretmanager.Client, secretName string, opts Options) (*Manager, error) {
	switch {
	case client == nil:
		return nil, errors.New("secret: Secret Manager client is nil")
	case !namePattern.MatchString(secretName):
		return nil, fmt.Errorf("secret: name %q is not of the form projects/PROJECT/secrets/SECRET", secretName)
	case opts.TTL < 0:
		return nil, fmt.Errorf("secret: TTL %s is negative", opts.TTL)
	case opts.MinRefreshInterval < 0:
		return nil, fmt.Errorf("secret: minimum refresh interval %s is negative", opts.MinRefreshInterval)
	case opts.LoadTimeout < 0:
		return nil, fmt.Errorf("secret: load timeout %s is negative", opts.LoadTimeout)
	}
	m := &Manager{
		client:      client,
		name:        secretName,
		ttl:         cmp.Or(opts.TTL, DefaultTTL),
		loadTimeout: cmp.Or(opts.LoadTimeout, DefaultLoadTimeout),
		now:         opts.Now,
		onError:     opts.OnError,
		loads:       refresh.Gate{MinInterval: cmp.Or(opts.MinRefreshInterval, DefaultMinRefreshInterval)},
	}
	if m.now == nil {
		m.now = time.Now
	}
	return m, nil
}

// Secrets returns the cached set, newest version first, loading it when
// there is none or it is older than the TTL (subject to the rate limit).
func (m *Manager) Secrets(ctx context.Context) ([]signature.Secret, error) {
	m.mu.Lock()
	if m.secrets != nil && m.now().Sub(m.loaded) < m.ttl {
		defer m.mu.Unlock()
		return slices.Clone(m.secrets), nil
	}
	done := m.loads.StartLocked(ctx, m.now(), m.load)
	m.mu.Unlock()
	return m.wait(ctx, done)
}

// Refresh reloads the set, unless a load started less than the minimum
// refresh interval ago; either way it returns the resulting set. Concurrent
// callers share one load.
func (m *Manager) Refresh(ctx context.Context) ([]signature.Secret, error) {
	m.mu.Lock()
	done := m.loads.StartLocked(ctx, m.now(), m.load)
	m.mu.Unlock()
	return m.wait(ctx, done)
}

// wait waits for done (if not nil) and returns the current set, or the error
// that explains why there is none.
func (m *Manager) wait(ctx context.Context, done <-chan struct{}) ([]signature.Secret, error) {
	if done != nil {
		select {
		case <-done:
		case <-ctx.Done():
			return nil, fmt.Errorf("failed to wait for signing secrets: %w", ctx.Err())
		}
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.secrets != nil {
		return slices.Clone(m.secrets), nil
	}
	return nil, m.lastErr
}

// load is the reload run by m.loads: it replaces the set, or records why it
// could not. Waiters are released when it returns.
func (m *Manager) load(ctx context.Context) {
	lctx, cancel := context.WithTimeout(ctx, m.loadTimeout)
	secrets, malformed, err := m.read(lctx)
	cancel()
	if err == nil && len(secrets) == 0 {
		err = fmt.Errorf("failed to load %s: %w", m.name, errors.Join(ErrNoUsableVersions, malformed))
		malformed = nil // reported as part of err
	}

	m.mu.Lock()
	m.loads.FinishLocked()
	m.lastErr = err
	switch {
	case err == nil:
		m.secrets, m.loaded = secrets, m.now()
	case errors.Is(err, ErrNoUsableVersions):
		// Secret Manager answered: every version was disabled or is unusable.
		m.secrets = nil
	default:
		// Secret Manager could not be read: keep the previous set, if any.
	}
	m.mu.Unlock()

	if m.onError != nil {
		if err != nil {
			m.onError(ctx, err)
		}
		if malformed != nil {
			m.onError(ctx, malformed)
		}
	}
}

// read lists the enabled versions and accesses each one. It returns the
// well-formed secrets, newest first, and an error joining the malformed
// versions; err is set only when Secret Manager could not be read.
func (m *Manager) read(ctx context.Context) (secrets []signature.Secret, malformed, err error) {
	// The API lists versions newest first, which is also the best order to
	// try them in: during a rotation the new secret is the likelier match.
	var names []string
	it := m.client.ListSecretVersions(ctx, &secretmanagerpb.ListSecretVersionsRequest{
		Parent: m.name,
		Filter: enabledFilter,
	})
	for v, err := range it.All() {
		if err != nil {
			return nil, nil, fmt.Errorf("failed to list versions of %s: %w", m.name, err)
		}
		if v.GetState() == secretmanagerpb.SecretVersion_ENABLED {
			names = append(names, v.GetName())
		}
	}
	var bad []error
	for _, name := range names {
		resp, err := m.client.AccessSecretVersion(ctx, &secretmanagerpb.AccessSecretVersionRequest{Name: name})
		switch status.Code(err) {
		case codes.OK:
		case codes.NotFound, codes.FailedPrecondition:
			// Destroyed or disabled since it was listed: no longer valid.
			continue
		default:
			return nil, nil, fmt.Errorf("failed to access %s: %w", name, err)
		}
		data := resp.GetPayload().GetData()
		if sum := resp.GetPayload().DataCrc32C; sum != nil && crc32.Checksum(data, castagnoli) != uint32(*sum) {
			return nil, nil, fmt.Errorf("failed to access %s: payload checksum mismatch", name)
		}
		// Trim the newline "echo ... | gcloud secrets versions add" leaves.
		// ParseSecret's errors name the label only, never the value.
		s, err := signature.ParseSecret(name, strings.TrimSpace(string(data)))
		if err != nil {
			bad = append(bad, fmt.Errorf("%w: %w", ErrMalformedVersion, err))
			continue
		}
		secrets = append(secrets, s)
	}
	return secrets, errors.Join(bad...), nil
}
