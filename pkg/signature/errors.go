package signature

import "net/http"

// Kind classifies a verification failure by what the caller should answer.
type Kind int

const (
	// KindMalformed means the request is not a well-formed delivery; answer
	// 400 Bad Request.
	KindMalformed Kind = iota + 1
	// KindUnauthorized means the delivery is well-formed but its credentials
	// are missing, wrong or stale; answer 401 Unauthorized.
	KindUnauthorized
	// KindUnavailable means a dependency (Secret Manager, the JWKS host)
	// failed, so the delivery could not be judged; answer 503 Service
	// Unavailable so that the sender retries.
	KindUnavailable
)

// String returns the kind's name.
func (k Kind) String() string {
	switch k {
	case KindMalformed:
		return "malformed"
	case KindUnauthorized:
		return "unauthorized"
	case KindUnavailable:
		return "unavailable"
	default:
		return "unknown"
	}
}

// HTTPStatus returns the status code a webhook endpoint should answer for k.
// An unknown kind maps to 500, which also makes the sender retry.
func (k Kind) HTTPStatus() int {
	switch k {
	case KindMalformed:
		return http.StatusBadRequest
	case KindUnauthorized:
		return http.StatusUnauthorized
	case KindUnavailable:
		return http.StatusServiceUnavailable
	default:
		return http.StatusInternalServerError
	}
}

// Error is a verification failure. Code is stable and machine-readable (use
// it for metrics and in responses); Message is for humans and logs. Neither
// ever contains a secret, a signature value or a token.
//
// The exported Err… values are sentinels: errors.Is(err, ErrSignatureMismatch)
// matches any *Error with the same Code, whatever its Message.
type Error struct {
	// Code is a snake_case identifier, one per failure, e.g. "signature_mismatch".
	Code string
	// Kind tells the caller which status to answer.
	Kind Kind
	// Message explains this particular failure.
	Message string
	// Err is the underlying cause, if any (e.g. a Secret Manager error).
	Err error
}

// Error returns "code: message", followed by the cause if there is one.
func (e *Error) Error() string {
	s := e.Code + ": " + e.Message
	if e.Err != nil {
		s += ": " + e.Err.Error()
	}
	return s
}

// Unwrap returns the underlying cause.
func (e *Error) Unwrap() error { return e.Err }

// Is reports whether target is an *Error with the same Code, so that the
// exported sentinels work with errors.Is.
func (e *Error) Is(target error) bool {
	t, ok := target.(*Error)
	return ok && t.Code == e.Code
}

// newError returns a fresh *Error of the sentinel's code and kind. Sentinels
// are never returned themselves, so callers cannot alias or mutate them.
func newError(sentinel *Error, msg string) *Error {
	return &Error{Code: sentinel.Code, Kind: sentinel.Kind, Message: msg}
}

// wrapError is newError with an underlying cause.
func wrapError(sentinel *Error, msg string, err error) *Error {
	return &Error{Code: sentinel.Code, Kind: sentinel.Kind, Message: msg, Err: err}
}

// Sentinels, one per failure code. Compare with errors.Is; read the details
// of an actual failure with errors.As into a *Error.
var (
	// ErrMissingID means the webhook-id header is absent on an HMAC delivery.
	ErrMissingID = &Error{Code: "missing_webhook_id", Kind: KindMalformed, Message: "webhook-id header is missing"}
	// ErrMissingTimestamp means the webhook-timestamp header is absent on an HMAC delivery.
	ErrMissingTimestamp = &Error{Code: "missing_webhook_timestamp", Kind: KindMalformed, Message: "webhook-timestamp header is missing"}
	// ErrMissingSignature means the webhook-signature header is absent or blank.
	ErrMissingSignature = &Error{Code: "missing_webhook_signature", Kind: KindMalformed, Message: "webhook-signature header is missing"}
	// ErrIDTooLong means webhook-id (or the jti standing in for it) exceeds Options.MaxIDLength bytes.
	ErrIDTooLong = &Error{Code: "webhook_id_too_long", Kind: KindMalformed, Message: "webhook-id is too long"}
	// ErrInvalidID means webhook-id is blank, not UTF-8, or holds control or other non-printable characters.
	ErrInvalidID = &Error{Code: "invalid_webhook_id", Kind: KindMalformed, Message: "webhook-id is not printable UTF-8"}
	// ErrInvalidTimestamp means webhook-timestamp is not a base-10 integer of seconds.
	ErrInvalidTimestamp = &Error{Code: "invalid_timestamp", Kind: KindMalformed, Message: "webhook-timestamp is not an integer number of seconds"}
	// ErrTimestampTooOld means webhook-timestamp is further in the past than Options.Tolerance.
	ErrTimestampTooOld = &Error{Code: "timestamp_too_old", Kind: KindUnauthorized, Message: "webhook-timestamp is outside the tolerance (too old)"}
	// ErrTimestampTooNew means webhook-timestamp is further in the future than Options.Tolerance.
	ErrTimestampTooNew = &Error{Code: "timestamp_too_new", Kind: KindUnauthorized, Message: "webhook-timestamp is outside the tolerance (too new)"}
	// ErrMalformedSignature means a v1 entry is not standard base64 of exactly 32 bytes.
	ErrMalformedSignature = &Error{Code: "malformed_signature", Kind: KindMalformed, Message: "a v1 signature is malformed"}
	// ErrUnsupportedScheme means webhook-signature holds neither a v1 entry nor a compact JWS.
	ErrUnsupportedScheme = &Error{Code: "unsupported_signature_scheme", Kind: KindMalformed, Message: "webhook-signature holds neither a v1 signature nor a JWT"}
	// ErrNoSigningSecrets means an HMAC delivery arrived but no secret is configured.
	ErrNoSigningSecrets = &Error{Code: "no_signing_secrets", Kind: KindUnauthorized, Message: "no signing secret is configured"}
	// ErrSignatureMismatch means no v1 signature matched any configured secret.
	ErrSignatureMismatch = &Error{Code: "signature_mismatch", Kind: KindUnauthorized, Message: "no signature matched"}
	// ErrNoSigningKeys means a JWT delivery arrived but no KeySource is configured.
	ErrNoSigningKeys = &Error{Code: "no_signing_keys", Kind: KindUnauthorized, Message: "no key source is configured for JWT deliveries"}
	// ErrMalformedJWT means the JWT is not a well-formed compact JWS with a JSON header and claims.
	ErrMalformedJWT = &Error{Code: "malformed_jwt", Kind: KindMalformed, Message: "the JWT is malformed"}
	// ErrJWTUnsupportedAlgorithm means the JWT's alg is anything but RS256.
	ErrJWTUnsupportedAlgorithm = &Error{Code: "jwt_unsupported_algorithm", Kind: KindUnauthorized, Message: "the JWT algorithm is not RS256"}
	// ErrJWTMissingKeyID means the JWT header has no kid.
	ErrJWTMissingKeyID = &Error{Code: "jwt_missing_kid", Kind: KindUnauthorized, Message: "the JWT header has no kid"}
	// ErrJWTUnknownKeyID means the KeySource does not know the JWT's kid.
	ErrJWTUnknownKeyID = &Error{Code: "jwt_unknown_kid", Kind: KindUnauthorized, Message: "the JWT kid is unknown"}
	// ErrJWTUnusableKey means the key named by kid cannot verify RS256 (not RSA, too small, or marked for another use).
	ErrJWTUnusableKey = &Error{Code: "jwt_unusable_key", Kind: KindUnauthorized, Message: "the key named by the JWT kid cannot verify RS256"}
	// ErrJWTInvalidSignature means the JWT signature does not verify with the key.
	ErrJWTInvalidSignature = &Error{Code: "jwt_invalid_signature", Kind: KindUnauthorized, Message: "the JWT signature is invalid"}
	// ErrJWTMissingExpiration means the JWT has no exp claim; tokens without an expiry are refused.
	ErrJWTMissingExpiration = &Error{Code: "jwt_missing_exp", Kind: KindUnauthorized, Message: "the JWT has no exp claim"}
	// ErrJWTExpired means the JWT's exp is in the past (beyond Options.Leeway).
	ErrJWTExpired = &Error{Code: "jwt_expired", Kind: KindUnauthorized, Message: "the JWT has expired"}
	// ErrJWTNotYetValid means the JWT's nbf is in the future (beyond Options.Leeway).
	ErrJWTNotYetValid = &Error{Code: "jwt_not_yet_valid", Kind: KindUnauthorized, Message: "the JWT is not valid yet"}
	// ErrJWTIssuedInFuture means the JWT's iat is in the future (beyond Options.Leeway).
	ErrJWTIssuedInFuture = &Error{Code: "jwt_issued_in_future", Kind: KindUnauthorized, Message: "the JWT was issued in the future"}
	// ErrJWTInvalidAudience means Options.Audience is set and the JWT's aud does not contain it.
	ErrJWTInvalidAudience = &Error{Code: "jwt_invalid_audience", Kind: KindUnauthorized, Message: "the JWT audience does not match"}
	// ErrJWTInvalidIssuer means Options.Issuer is set and the JWT's iss differs.
	ErrJWTInvalidIssuer = &Error{Code: "jwt_invalid_issuer", Kind: KindUnauthorized, Message: "the JWT issuer does not match"}
	// ErrKeysUnavailable means the KeySource failed (e.g. the JWKS could not be fetched).
	ErrKeysUnavailable = &Error{Code: "keys_unavailable", Kind: KindUnavailable, Message: "verification keys are unavailable"}
	// ErrSecretsUnavailable means the SecretSource failed (e.g. Secret Manager is down).
	ErrSecretsUnavailable = &Error{Code: "secrets_unavailable", Kind: KindUnavailable, Message: "signing secrets are unavailable"}
)
