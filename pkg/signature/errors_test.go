package signature_test

import (
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/geminihooks/geminihooks/pkg/signature"
)

// allSentinels lists every exported sentinel with the kind the webhook
// contract assigns to its code.
var allSentinels = []struct {
	err  *signature.Error
	code string
	kind signature.Kind
}{
	{signature.ErrMissingID, "missing_webhook_id", signature.KindMalformed},
	{signature.ErrMissingTimestamp, "missing_webhook_timestamp", signature.KindMalformed},
	{signature.ErrMissingSignature, "missing_webhook_signature", signature.KindMalformed},
	{signature.ErrIDTooLong, "webhook_id_too_long", signature.KindMalformed},
	{signature.ErrInvalidID, "invalid_webhook_id", signature.KindMalformed},
	{signature.ErrInvalidTimestamp, "invalid_timestamp", signature.KindMalformed},
	{signature.ErrTimestampTooOld, "timestamp_too_old", signature.KindUnauthorized},
	{signature.ErrTimestampTooNew, "timestamp_too_new", signature.KindUnauthorized},
	{signature.ErrMalformedSignature, "malformed_signature", signature.KindMalformed},
	{signature.ErrUnsupportedScheme, "unsupported_signature_scheme", signature.KindMalformed},
	{signature.ErrNoSigningSecrets, "no_signing_secrets", signature.KindUnauthorized},
	{signature.ErrSignatureMismatch, "signature_mismatch", signature.KindUnauthorized},
	{signature.ErrNoSigningKeys, "no_signing_keys", signature.KindUnauthorized},
	{signature.ErrMalformedJWT, "malformed_jwt", signature.KindMalformed},
	{signature.ErrJWTUnsupportedAlgorithm, "jwt_unsupported_algorithm", signature.KindUnauthorized},
	{signature.ErrJWTMissingKeyID, "jwt_missing_kid", signature.KindUnauthorized},
	{signature.ErrJWTUnknownKeyID, "jwt_unknown_kid", signature.KindUnauthorized},
	{signature.ErrJWTUnusableKey, "jwt_unusable_key", signature.KindUnauthorized},
	{signature.ErrJWTInvalidSignature, "jwt_invalid_signature", signature.KindUnauthorized},
	{signature.ErrJWTMissingExpiration, "jwt_missing_exp", signature.KindUnauthorized},
	{signature.ErrJWTExpired, "jwt_expired", signature.KindUnauthorized},
	{signature.ErrJWTNotYetValid, "jwt_not_yet_valid", signature.KindUnauthorized},
	{signature.ErrJWTIssuedInFuture, "jwt_issued_in_future", signature.KindUnauthorized},
	{signature.ErrJWTInvalidAudience, "jwt_invalid_audience", signature.KindUnauthorized},
	{signature.ErrJWTInvalidIssuer, "jwt_invalid_issuer", signature.KindUnauthorized},
	{signature.ErrKeysUnavailable, "keys_unavailable", signature.KindUnavailable},
	{signature.ErrSecretsUnavailable, "secrets_unavailable", signature.KindUnavailable},
}

func TestSentinels(t *testing.T) {
	t.Parallel()
	snake := regexp.MustCompile(`^[a-z]+(_[a-z]+)*$`)
	seen := map[string]bool{}
	for _, s := range allSentinels {
		if s.err.Code != s.code || s.err.Kind != s.kind {
			t.Errorf("%s: got code %s kind %v, want %s %v", s.code, s.err.Code, s.err.Kind, s.code, s.kind)
		}
		if !snake.MatchString(s.err.Code) {
			t.Errorf("%s is not snake_case", s.err.Code)
		}
		if seen[s.err.Code] {
			t.Errorf("code %s is used twice", s.err.Code)
		}
		seen[s.err.Code] = true
		if s.err.Message == "" {
			t.Errorf("%s has no message", s.err.Code)
		}
	}
}

func TestError_isAndAs(t *testing.T) {
	t.Parallel()
	cause := errors.New("secret manager: unavailable")
	err := fmt.Errorf("failed to verify webhook: %w", &signature.Error{
		Code: signature.ErrSecretsUnavailable.Code, Kind: signature.KindUnavailable, Message: "failed to load", Err: cause,
	})

	if !errors.Is(err, signature.ErrSecretsUnavailable) {
		t.Error("errors.Is(err, ErrSecretsUnavailable) = false")
	}
	if errors.Is(err, signature.ErrKeysUnavailable) {
		t.Error("errors.Is(err, ErrKeysUnavailable) = true")
	}
	if !errors.Is(err, cause) {
		t.Error("errors.Is(err, cause) = false")
	}
	var e *signature.Error
	if !errors.As(err, &e) {
		t.Fatal("errors.As failed")
	}
	if got, want := e.Error(), "secrets_unavailable: failed to load: secret manager: unavailable"; got != want {
		t.Errorf("Error() = %q, want %q", got, want)
	}
}

func TestKind(t *testing.T) {
	t.Parallel()
	type result struct {
		Name   string
		Status int
	}
	got := map[signature.Kind]result{}
	for _, k := range []signature.Kind{signature.KindMalformed, signature.KindUnauthorized, signature.KindUnavailable, signature.Kind(0)} {
		got[k] = result{k.String(), k.HTTPStatus()}
	}
	want := map[signature.Kind]result{
		signature.KindMalformed:    {"malformed", http.StatusBadRequest},
		signature.KindUnauthorized: {"unauthorized", http.StatusUnauthorized},
		signature.KindUnavailable:  {"unavailable", http.StatusServiceUnavailable},
		signature.Kind(0):          {"unknown", http.StatusInternalServerError},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Fatalf("kinds (-want +got):\n%s", diff)
	}
}
