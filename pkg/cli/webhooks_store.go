package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"time"

	"cloud.google.com/go/iam/apiv1/iampb"
	secretmanager "cloud.google.com/go/secretmanager/apiv1"
	"cloud.google.com/go/secretmanager/apiv1/secretmanagerpb"
	"google.golang.org/genai/interactions/models/apierrors"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/geminihooks/geminihooks/pkg/config"
	"github.com/geminihooks/geminihooks/pkg/secret"
)

// Bounds of the retries of a failed AddSecretVersion.
const (
	storeAttempts = 3
	storeBackoff  = 500 * time.Millisecond
)

// signingSecretStore keeps the signing secrets Gemini issues as versions of
// one secret: Secret Manager's (smSecretStore) when deployed, or the file
// standing in for it where there is none, the local runner's
// (fileSecretStore).
type signingSecretStore interface {
	// target names the secret: projects/P/secrets/S, or the file's path.
	target() string
	// flag is the command-line flag that names it again, for advice.
	flag() string
	// check fails when add surely would, so that Gemini is not asked for
	// a secret nobody can keep.
	check(ctx context.Context) error
	// add stores value as a new version and returns the version's name.
	add(ctx context.Context, value string) (string, error)
	// enabledVersionsExcept lists the enabled versions other than skip,
	// newest first.
	enabledVersionsExcept(ctx context.Context, skip string) ([]string, error)
	// byHand tells how to store a secret saved from --print-secret
	// without this tool.
	byHand() []string
	// pickup says when a receiver starts accepting a new version.
	pickup() string
	// retire tells what to do with the previous versions once they no
	// longer sign.
	retire(w io.Writer, newVersion string, previous []string, previousKnown bool)
	close()
}

var (
	_ signingSecretStore = (*smSecretStore)(nil)
	_ signingSecretStore = (*fileSecretStore)(nil)
)

// smSecretStore adds signing secrets to one Secret Manager secret.
type smSecretStore struct {
	client *secretmanager.Client
	name   string // projects/P/secrets/S
}

// permVersionsAdd is the permission add needs
// (roles/secretmanager.secretVersionAdder).
const permVersionsAdd = "secretmanager.versions.add"

// openSecretStore resolves where a new signing secret is stored (nil when it
// is only printed) and checks that it can be written, all before anything
// is created or rotated in Gemini, so that a missing credential or grant
// cannot strand a secret.
func openSecretStore(ctx context.Context, env *Env, name, file string, print bool) (signingSecretStore, error) {
	store, err := resolveSecretStore(ctx, env, name, file, print)
	if err != nil || store == nil {
		return nil, err
	}
	if err := store.check(ctx); err != nil {
		store.close()
		return nil, fmt.Errorf("%w; nothing was asked of Gemini", err)
	}
	return store, nil
}

// resolveSecretStore picks the store: --secret-name, else --secret-file,
// else WEBHOOK_SIGNING_SECRET, else WEBHOOK_SIGNING_SECRET_FILE; none is
// allowed only with --print-secret.
func resolveSecretStore(ctx context.Context, env *Env, name, file string, print bool) (signingSecretStore, error) {
	switch {
	case name != "" && file != "":
		return nil, usageErrorf("give --secret-name or --secret-file, not both")
	case name == "" && file == "":
		if name = env.Getenv(config.EnvSigningSecret); name == "" {
			file = env.Getenv(config.EnvSigningSecretFile)
		}
	}
	switch {
	case file != "":
		f, err := secret.NewFile(file)
		if err != nil {
			return nil, usageErrorf("--secret-file: %v", err)
		}
		return &fileSecretStore{file: f}, nil
	case name == "" && !print:
		return nil, usageErrorf("no --secret-name: pass --secret-name projects/P/secrets/S or set %s (%s, or --secret-file, for the local runner's file; --print-secret to only print the secret)",
			config.EnvSigningSecret, config.EnvSigningSecretFile)
	case name == "":
		return nil, nil
	case !secretNamePattern.MatchString(name):
		return nil, usageErrorf("--secret-name %q must look like projects/PROJECT/secrets/NAME", name)
	}
	c, err := newSecretManagerClient(ctx, env)
	if err != nil {
		return nil, err
	}
	return &smSecretStore{client: c, name: name}, nil
}

func (s *smSecretStore) target() string { return s.name }

func (s *smSecretStore) flag() string { return "--secret-name " + s.name }

func (s *smSecretStore) close() { _ = s.client.Close() }

// check asks Secret Manager whether the caller may add versions to the
// secret; the answer needs no permission of its own, and a secret that
// does not exist is named as such.
func (s *smSecretStore) check(ctx context.Context) error {
	resp, err := s.client.TestIamPermissions(ctx, &iampb.TestIamPermissionsRequest{Resource: s.name, Permissions: []string{permVersionsAdd}})
	switch {
	case status.Code(err) == codes.NotFound:
		return fmt.Errorf("secret %s does not exist (Terraform creates it; its name is the webhook_signing_secret output)", s.name)
	case err != nil:
		return fmt.Errorf("failed to check access to %s: %w", s.name, err)
	case !slices.Contains(resp.GetPermissions(), permVersionsAdd):
		return fmt.Errorf("you may not add versions to %s: %s is missing (grant roles/secretmanager.secretVersionAdder on the secret)", s.name, permVersionsAdd)
	}
	return nil
}

func (s *smSecretStore) byHand() []string {
	return []string{
		"The secret printed on standard output is its only copy. Add it to Secret Manager yourself",
		"from the file you saved it to:",
		fmt.Sprintf("  gcloud secrets versions add %s --project=%s --data-file=FILE", secretID(s.name), projectOf(s.name)),
	}
}

func (s *smSecretStore) pickup() string {
	return fmt.Sprintf("A receiver reading %s (%s) accepts deliveries signed\n"+
		"with it within %s, or at once on the first delivery its cached secrets cannot verify.",
		s.name, config.EnvSigningSecret, humanDuration(secret.DefaultTTL))
}

// add stores value as a new version and returns the version's name.
// Transient failures are retried: a duplicate version is harmless (the
// receiver accepts every enabled version), a lost secret is not.
func (s *smSecretStore) add(ctx context.Context, value string) (string, error) {
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
func (s *smSecretStore) enabledVersionsExcept(ctx context.Context, skip string) ([]string, error) {
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
