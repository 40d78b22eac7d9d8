package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"hash/crc32"
	"net/http"
	"regexp"
	"strings"
	"time"

	secretmanager "cloud.google.com/go/secretmanager/apiv1"
	"cloud.google.com/go/secretmanager/apiv1/secretmanagerpb"
	"google.golang.org/genai/interactions/models/apierrors"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// Bounds of the retries of a failed AddSecretVersion.
const (
	storeAttempts = 3
	storeBackoff  = 500 * time.Millisecond
)

// secretStore adds signing secrets to one Secret Manager secret.
type secretStore struct {
	client *secretmanager.Client
	name   string // projects/P/secrets/S
}

// newSecretStore connects to Secret Manager (or SECRET_MANAGER_EMULATOR_HOST)
// for the secret name.
func newSecretStore(ctx context.Context, env *Env, name string) (*secretStore, error) {
	c, err := newSecretManagerClient(ctx, env)
	if err != nil {
		return nil, err
	}
	return &secretStore{client: c, name: name}, nil
}

// openSecretTarget resolves where a new signing secret is stored and connects
// to Secret Manager before anything is created or rotated in Gemini, so a
// missing credential cannot strand a secret. The store is nil when the
// secret is only printed.
func openSecretTarget(ctx context.Context, env *Env, name string, print bool) (string, *secretStore, error) {
	target, err := secretTarget(env, name, print)
	if err != nil || target == "" {
		return target, nil, err
	}
	store, err := newSecretStore(ctx, env, target)
	if err != nil {
		return "", nil, err
	}
	return target, store, nil
}

func (s *secretStore) close() { _ = s.client.Close() }

// add stores value as a new version and returns the version's name.
// Transient failures are retried: a duplicate version is harmless (the
// receiver accepts every enabled version), a lost secret is not.
func (s *secretStore) add(ctx context.Context, value string) (string, error) {
	data := []byte(value)
	sum := int64(crc32.Checksum(data, crc32.MakeTable(crc32.Castagnoli)))
	req := &secretmanagerpb.AddSecretVersionRequest{
		Parent:  s.name,
		Payload: &secretmanagerpb.SecretPayload{Data: data, DataCrc32C: &sum},
	}
	var err error
	for attempt := 1; ; attempt++ {
		var v *secretmanagerpb.SecretVersion
		if v, err = s.client.AddSecretVersion(ctx, req); err == nil {
			return v.GetName(), nil
		}
		switch status.Code(err) {
		case codes.Unavailable, codes.DeadlineExceeded, codes.ResourceExhausted, codes.Internal, codes.Aborted:
		default:
			return "", fmt.Errorf("failed to add a version to %s: %w", s.name, err)
		}
		if attempt == storeAttempts {
			return "", fmt.Errorf("failed to add a version to %s after %d attempts: %w", s.name, attempt, err)
		}
		t := time.NewTimer(storeBackoff * time.Duration(attempt))
		select {
		case <-ctx.Done():
			t.Stop()
			return "", fmt.Errorf("failed to add a version to %s: %w", s.name, errors.Join(err, ctx.Err()))
		case <-t.C:
		}
	}
}

// enabledVersionsExcept lists the enabled versions other than skip, newest
// first. It needs more than the version-adder role, so callers treat a
// failure as "unknown".
func (s *secretStore) enabledVersionsExcept(ctx context.Context, skip string) ([]string, error) {
	var out []string
	it := s.client.ListSecretVersions(ctx, &secretmanagerpb.ListSecretVersionsRequest{Parent: s.name, Filter: "state:ENABLED"})
	for v, err := range it.All() {
		if err != nil {
			return nil, fmt.Errorf("failed to list the versions of %s: %w", s.name, err)
		}
		if v.GetName() != skip && v.GetState() == secretmanagerpb.SecretVersion_ENABLED {
			out = append(out, v.GetName())
		}
	}
	return out, nil
}

// secretID returns S of projects/P/secrets/S[/versions/N].
func secretID(name string) string {
	_, rest, _ := strings.Cut(name, "/secrets/")
	id, _, _ := strings.Cut(rest, "/")
	return id
}

// versionID returns N of projects/P/secrets/S/versions/N.
func versionID(name string) string {
	_, v, _ := strings.Cut(name, "/versions/")
	return v
}

// secretValuePattern matches a Standard Webhooks secret anywhere in a text.
var secretValuePattern = regexp.MustCompile(`whsec_[A-Za-z0-9+/=]{4,}`)

// redactSecrets replaces every whsec_ secret in s.
func redactSecrets(s string) string {
	return secretValuePattern.ReplaceAllString(s, "whsec_[REDACTED]")
}

// apiFailure is a failed Gemini API call, described by Google's status and
// message only: the SDK's own error text quotes whole response bodies, and
// create's body holds the signing secret.
type apiFailure struct {
	msg  string
	errs []error
}

func (e *apiFailure) Error() string   { return e.msg }
func (e *apiFailure) Unwrap() []error { return e.errs }

// geminiError describes a failed call to "action". A 404 wraps ErrNotFound
// (exit code 3); the cause stays reachable with errors.Is/As.
func geminiError(action string, err error) error {
	var apiErr *apierrors.APIError
	if !errors.As(err, &apiErr) {
		return &apiFailure{msg: redactSecrets(fmt.Sprintf("failed to %s: %v", action, err)), errs: []error{err}}
	}
	var body struct {
		Error struct {
			Message string `json:"message"`
			Status  string `json:"status"`
		} `json:"error"`
	}
	detail := fmt.Sprintf("HTTP %d", apiErr.StatusCode)
	if apiErr.StatusCode >= 400 && json.Unmarshal([]byte(apiErr.Body), &body) == nil && body.Error.Message != "" {
		detail = fmt.Sprintf("%s (HTTP %d): %s", body.Error.Status, apiErr.StatusCode, body.Error.Message)
	} else if apiErr.StatusCode < 400 {
		detail = fmt.Sprintf("unexpected answer (HTTP %d)", apiErr.StatusCode)
		if r := apiErr.RawResponse; r != nil {
			detail = fmt.Sprintf("unexpected answer (HTTP %d, Content-Type %q)", apiErr.StatusCode, r.Header.Get("Content-Type"))
		}
	}
	f := &apiFailure{msg: redactSecrets(fmt.Sprintf("failed to %s: %s", action, detail)), errs: []error{apiErr}}
	if apiErr.StatusCode == http.StatusNotFound {
		f.errs = append(f.errs, ErrNotFound)
	}
	return f
}
