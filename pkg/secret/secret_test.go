package secret_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"cloud.google.com/go/secretmanager/apiv1/secretmanagerpb"
	"github.com/google/go-cmp/cmp"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/geminihooks/geminihooks/internal/testenv"
	"github.com/geminihooks/geminihooks/pkg/secret"
	"github.com/geminihooks/geminihooks/pkg/signature"
)

const (
	enabled  = secretmanagerpb.SecretVersion_ENABLED
	disabled = secretmanagerpb.SecretVersion_DISABLED
)

// clock is a manually advanced time source.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock { return &clock{t: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

func generate(t *testing.T) string {
	t.Helper()
	s, err := signature.GenerateSecret()
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// addSecret adds an enabled version holding a new secret and returns the
// Secret the Manager should produce for it.
func addSecret(t *testing.T, f *fakeSecretManager) signature.Secret {
	t.Helper()
	value := generate(t)
	name := f.add(enabled, value)
	s, err := signature.ParseSecret(name, value)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func newManager(t *testing.T, f *fakeSecretManager, opts secret.Options) *secret.Manager {
	t.Helper()
	m, err := secret.NewManager(f.client, f.parent, opts)
	if err != nil {
		t.Fatalf("NewManager: %v", err)
	}
	return m
}

var secretsEqual = cmp.Comparer(func(a, b signature.Secret) bool { return a.Label == b.Label && a.Equal(b) })

func wantSecrets(t *testing.T, got []signature.Secret, err error, want ...signature.Secret) {
	t.Helper()
	if err != nil {
		t.Fatalf("unexpected error: %v", err)
	}
	if diff := cmp.Diff(want, got, secretsEqual); diff != "" {
		t.Fatalf("secrets mismatch (-want +got):\n%s", diff)
	}
}

func wantLists(t *testing.T, f *fakeSecretManager, want int) {
	t.Helper()
	if got, _, _ := f.counts(); got != want {
		t.Fatalf("versions were listed %d times; want %d", got, want)
	}
}

func TestNewManager(t *testing.T) {
	t.Parallel()
	f := startFake(t, 0)
	tests := []struct {
		name       string
		nilClient  bool
		secretName string
		opts       secret.Options
		wantErr    bool
	}{
		{name: "valid", secretName: "projects/p/secrets/webhook_signing-1"},
		{name: "project_number", secretName: "projects/123456789/secrets/s"},
		{name: "nil_client", nilClient: true, secretName: "projects/p/secrets/s", wantErr: true},
		{name: "empty", secretName: "", wantErr: true},
		{name: "bare_id", secretName: "webhook-signing", wantErr: true},
		{name: "version_name", secretName: "projects/p/secrets/s/versions/1", wantErr: true},
		{name: "latest_alias", secretName: "projects/p/secrets/s/versions/latest", wantErr: true},
		{name: "missing_project", secretName: "projects//secrets/s", wantErr: true},
		{name: "trailing_slash", secretName: "projects/p/secrets/s/", wantErr: true},
		{name: "zero_options_take_defaults", secretName: "projects/p/secrets/s", opts: secret.Options{}},
		{name: "negative_ttl", secretName: "projects/p/secrets/s", opts: secret.Options{TTL: -time.Second}, wantErr: true},
		{name: "negative_interval", secretName: "projects/p/secrets/s", opts: secret.Options{MinRefreshInterval: -time.Second}, wantErr: true},
		{name: "negative_load_timeout", secretName: "projects/p/secrets/s", opts: secret.Options{LoadTimeout: -time.Second}, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			client := f.client
			if tt.nilClient {
				client = nil
			}
			m, err := secret.NewManager(client, tt.secretName, tt.opts)
			if gotErr := err != nil; gotErr != tt.wantErr {
				t.Fatalf("NewManager(%q) error = %v; want error: %t", tt.secretName, err, tt.wantErr)
			}
			if err == nil && m == nil {
				t.Fatal("NewManager returned a nil Manager without error")
			}
		})
	}
	wantLists(t, f, 0) // nothing is read at construction
}

func TestSecrets_everyEnabledVersion(t *testing.T) {
	t.Parallel()
	// Page size 1: every version is on its own page.
	f := startFake(t, 1)
	v1 := addSecret(t, f)
	disabledName := f.add(disabled, generate(t))
	v3 := addSecret(t, f)
	// A payload stored with "echo" ends in a newline.
	value := generate(t)
	v4name := f.add(enabled, value+"\n")
	v4, err := signature.ParseSecret(v4name, value)
	if err != nil {
		t.Fatal(err)
	}
	m := newManager(t, f, secret.Options{Now: newClock().Now})

	got, err := m.Secrets(t.Context())
	wantSecrets(t, got, err, v4, v3, v1)

	lists, pages, accessed := f.counts()
	if lists != 1 || pages != 3 {
		t.Fatalf("listed %d times in %d pages; want 1 time in 3 pages", lists, pages)
	}
	if n := accessed[disabledName]; n != 0 {
		t.Fatalf("disabled version was accessed %d times; want 0", n)
	}

	// Cached: no further reads.
	got, err = m.Secrets(t.Context())
	wantSecrets(t, got, err, v4, v3, v1)
	wantLists(t, f, 1)

	// The returned slice is the caller's own.
	got[0] = signature.Secret{}
	got, err = m.Secrets(t.Context())
	wantSecrets(t, got, err, v4, v3, v1)
}

func TestSecrets_ttl(t *testing.T) {
	t.Parallel()
	f := startFake(t, 0)
	v1 := addSecret(t, f)
	clk := newClock()
	m := newManager(t, f, secret.Options{Now: clk.Now})
	got, err := m.Secrets(t.Context())
	wantSecrets(t, got, err, v1)

	v2 := addSecret(t, f)
	clk.Advance(secret.DefaultTTL - time.Second)
	got, err = m.Secrets(t.Context())
	wantSecrets(t, got, err, v1)
	wantLists(t, f, 1)

	clk.Advance(time.Second)
	got, err = m.Secrets(t.Context())
	wantSecrets(t, got, err, v2, v1)
	wantLists(t, f, 2)
}

func TestRefresh_rateLimited(t *testing.T) {
	t.Parallel()
	f := startFake(t, 0)
	v1 := addSecret(t, f)
	clk := newClock()
	m := newManager(t, f, secret.Options{Now: clk.Now})
	got, err := m.Secrets(t.Context())
	wantSecrets(t, got, err, v1)

	// A rotation adds v2 and, later, disables v1.
	v2 := addSecret(t, f)
	clk.Advance(secret.DefaultMinRefreshInterval - time.Second)
	got, err = m.Refresh(t.Context())
	wantSecrets(t, got, err, v1)
	wantLists(t, f, 1)

	clk.Advance(time.Second)
	got, err = m.Refresh(t.Context())
	wantSecrets(t, got, err, v2, v1)
	wantLists(t, f, 2)

	f.setState(v1.Label, disabled)
	clk.Advance(secret.DefaultMinRefreshInterval)
	got, err = m.Refresh(t.Context())
	wantSecrets(t, got, err, v2)
	wantLists(t, f, 3)
}

func TestRefresh_concurrentCallersShareOneLoad(t *testing.T) {
	t.Parallel()
	f := startFake(t, 0)
	v1 := addSecret(t, f)
	gate := make(chan struct{})
	f.mu.Lock()
	f.gate = gate
	f.mu.Unlock()
	m := newManager(t, f, secret.Options{Now: newClock().Now})

	const callers = 100
	ctxs, allWaiting := testenv.WaitingContexts(t.Context(), callers)
	results := make([][]signature.Secret, callers)
	errs := make([]error, callers)
	var wg sync.WaitGroup
	for i := range callers {
		wg.Go(func() {
			if i%2 == 0 {
				results[i], errs[i] = m.Refresh(ctxs[i])
			} else {
				results[i], errs[i] = m.Secrets(ctxs[i])
			}
		})
	}
	// The load is held at the gate until every caller waits for it.
	select {
	case <-allWaiting:
	case <-time.After(time.Minute):
		t.Fatal("the callers did not all wait for the load")
	}
	close(gate)
	wg.Wait()
	for i := range callers {
		wantSecrets(t, results[i], errs[i], v1)
	}
	wantLists(t, f, 1)
	if _, _, accessed := f.counts(); accessed[v1.Label] != 1 {
		t.Fatalf("version accessed %d times; want 1", accessed[v1.Label])
	}
}

func TestSecrets_staleIfError(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		listErr   error
		accessErr error
		badCRC    bool
	}{
		{name: "list_fails", listErr: status.Error(codes.Internal, "boom")},
		{name: "list_denied", listErr: status.Error(codes.PermissionDenied, "denied")},
		{name: "access_fails", accessErr: status.Error(codes.Internal, "boom")},
		{name: "corrupt_payload", badCRC: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f := startFake(t, 0)
			v1 := addSecret(t, f)
			clk := newClock()
			var mu sync.Mutex
			var handled []error
			m := newManager(t, f, secret.Options{Now: clk.Now, OnError: func(_ context.Context, err error) {
				mu.Lock()
				defer mu.Unlock()
				handled = append(handled, err)
			}})
			got, err := m.Secrets(t.Context())
			wantSecrets(t, got, err, v1)

			f.setErrors(tt.listErr, tt.accessErr)
			f.mu.Lock()
			f.badCRC = tt.badCRC
			f.mu.Unlock()
			addSecret(t, f)
			clk.Advance(secret.DefaultTTL)

			// The reload fails: the previous set is served without error.
			got, err = m.Secrets(t.Context())
			wantSecrets(t, got, err, v1)
			got, err = m.Refresh(t.Context())
			wantSecrets(t, got, err, v1)
			wantLists(t, f, 2) // the failed load is not retried within the interval
			mu.Lock()
			if len(handled) != 1 || errors.Is(handled[0], secret.ErrNoUsableVersions) {
				t.Errorf("error handler got %v; want one load failure", handled)
			}
			mu.Unlock()

			// Without a previous set, the failure is returned.
			fresh := newManager(t, f, secret.Options{Now: clk.Now})
			_, err = fresh.Secrets(t.Context())
			if err == nil || errors.Is(err, secret.ErrNoUsableVersions) || errors.Is(err, secret.ErrMalformedVersion) {
				t.Fatalf("Secrets error = %v; want a load failure", err)
			}
		})
	}
}

func TestSecrets_noUsableVersions(t *testing.T) {
	t.Parallel()
	f := startFake(t, 0)
	clk := newClock()
	m := newManager(t, f, secret.Options{Now: clk.Now})
	f.add(disabled, generate(t))

	_, err := m.Secrets(t.Context())
	if !errors.Is(err, secret.ErrNoUsableVersions) {
		t.Fatalf("Secrets error = %v; want ErrNoUsableVersions", err)
	}

	// Once a version is enabled, the next allowed load finds it.
	v2 := addSecret(t, f)
	clk.Advance(secret.DefaultMinRefreshInterval)
	got, err := m.Secrets(t.Context())
	wantSecrets(t, got, err, v2)

	// Disabling every version revokes the cached set rather than keeping it
	// as stale: Secret Manager did answer.
	f.setState(v2.Label, disabled)
	clk.Advance(secret.DefaultMinRefreshInterval)
	got, err = m.Refresh(t.Context())
	if !errors.Is(err, secret.ErrNoUsableVersions) || got != nil {
		t.Fatalf("Refresh = %v, %v; want no secrets and ErrNoUsableVersions", got, err)
	}
	_, err = m.Secrets(t.Context())
	if !errors.Is(err, secret.ErrNoUsableVersions) {
		t.Fatalf("Secrets error = %v; want ErrNoUsableVersions", err)
	}
}

func TestSecrets_malformedVersions(t *testing.T) {
	t.Parallel()
	malformed := []string{
		"whsec_not*base64*at*all",
		"whsec_c2hvcnQ=", // "short": too few key bytes
		"   ",
	}
	tests := []struct {
		name      string
		withValid bool
	}{
		{name: "skipped_beside_valid_version", withValid: true},
		{name: "only_malformed_versions"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f := startFake(t, 0)
			var badNames []string
			for _, v := range malformed {
				badNames = append(badNames, f.add(enabled, v))
			}
			var want []signature.Secret
			if tt.withValid {
				want = append(want, addSecret(t, f))
			}
			var mu sync.Mutex
			var handled []error
			m := newManager(t, f, secret.Options{Now: newClock().Now, OnError: func(_ context.Context, err error) {
				mu.Lock()
				defer mu.Unlock()
				handled = append(handled, err)
			}})

			got, err := m.Secrets(t.Context())
			var reported error
			if tt.withValid {
				wantSecrets(t, got, err, want...)
			} else if !errors.Is(err, secret.ErrNoUsableVersions) || !errors.Is(err, secret.ErrMalformedVersion) {
				t.Fatalf("Secrets error = %v; want ErrNoUsableVersions and ErrMalformedVersion", err)
			} else {
				reported = err
			}

			mu.Lock()
			defer mu.Unlock()
			if len(handled) != 1 {
				t.Fatalf("error handler called %d times (%v); want 1", len(handled), handled)
			}
			if reported != nil && handled[0] != reported {
				t.Fatalf("error handler got %v; want the returned error %v", handled[0], reported)
			}
			msg := handled[0].Error()
			if !errors.Is(handled[0], secret.ErrMalformedVersion) {
				t.Fatalf("reported error %q does not wrap ErrMalformedVersion", msg)
			}
			for _, name := range badNames {
				if !strings.Contains(msg, name) {
					t.Errorf("reported error %q does not name %s", msg, name)
				}
			}
			for _, v := range malformed {
				if v := strings.TrimSpace(v); v != "" && strings.Contains(msg, strings.TrimPrefix(v, signature.SecretPrefix)) {
					t.Errorf("reported error %q contains a payload", msg)
				}
			}
		})
	}
}

func TestSecrets_versionDisabledWhileLoading(t *testing.T) {
	t.Parallel()
	f := startFake(t, 0)
	v1 := addSecret(t, f)
	v2 := addSecret(t, f)
	f.mu.Lock()
	f.onAccess = func(name string) {
		if name == v2.Label {
			f.setState(name, disabled)
		}
	}
	f.mu.Unlock()
	m := newManager(t, f, secret.Options{Now: newClock().Now})
	got, err := m.Secrets(t.Context())
	wantSecrets(t, got, err, v1)
}

func TestSecrets_callerCancellation(t *testing.T) {
	t.Parallel()
	f := startFake(t, 0)
	v1 := addSecret(t, f)
	gate := make(chan struct{})
	f.mu.Lock()
	f.gate = gate
	f.mu.Unlock()
	m := newManager(t, f, secret.Options{Now: newClock().Now})

	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if _, err := m.Secrets(ctx); !errors.Is(err, context.Canceled) {
		t.Fatalf("Secrets with a cancelled context: error = %v; want context.Canceled", err)
	}
	// The load the cancelled caller started carries on for the others.
	close(gate)
	got, err := m.Secrets(t.Context())
	wantSecrets(t, got, err, v1)
	wantLists(t, f, 1)
}
