package signature

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode"
	"unicode/utf8"
)

// Standard Webhooks header names. http.Header lookups are case-insensitive.
const (
	HeaderID        = "webhook-id"
	HeaderTimestamp = "webhook-timestamp"
	HeaderSignature = "webhook-signature"
)

// Canonical forms of the header names, for direct map access: http.Header.Get
// would canonicalize the lowercase names on every call, which allocates.
const (
	canonicalID        = "Webhook-Id"
	canonicalTimestamp = "Webhook-Timestamp"
	canonicalSignature = "Webhook-Signature"
)

// Defaults applied by NewVerifier to zero Options fields.
const (
	DefaultTolerance   = 5 * time.Minute
	DefaultLeeway      = 30 * time.Second
	DefaultMaxIDLength = 256
)

// Scheme names how a delivery was signed.
type Scheme string

const (
	// SchemeHMAC is a Standard Webhooks v1 (HMAC-SHA256) signature, used by
	// Gemini's static, project-level webhooks.
	SchemeHMAC Scheme = "hmac"
	// SchemeJWT is an RS256 JWT, used by Gemini's dynamic, per-request webhooks.
	SchemeJWT Scheme = "jwt"
)

// Delivery is a verified webhook delivery.
type Delivery struct {
	// ID is the idempotency key. For HMAC deliveries it is the signed
	// webhook-id. For JWT deliveries it is the webhook-id header (unsigned),
	// else the jti claim, else empty, in which case the caller derives one
	// from the event.
	ID string
	// Timestamp is the webhook-timestamp of the attempt, or for a JWT without
	// that header its iat claim, or failing that the verification time.
	Timestamp time.Time
	// Scheme says how the delivery was signed.
	Scheme Scheme
	// SecretLabel is the label of the secret that matched (HMAC only).
	SecretLabel string
	// KeyID is the kid of the key that verified the JWT (JWT only).
	KeyID string
	// Claims holds every claim of the verified JWT, decoded as by
	// encoding/json (numbers are float64). It is nil for HMAC deliveries.
	Claims map[string]any
}

// Options configures a Verifier. Zero values select the documented defaults.
type Options struct {
	// Secrets supplies the HMAC secrets. Nil rejects HMAC deliveries.
	Secrets SecretSource
	// Keys resolves JWT signing keys by kid. Nil rejects JWT deliveries.
	Keys KeySource
	// Tolerance bounds |now - webhook-timestamp| in both directions, against
	// replays. Default DefaultTolerance (5m), as the Gemini guide recommends.
	Tolerance time.Duration
	// Leeway is the clock skew allowed on the JWT exp, nbf and iat claims.
	// Default DefaultLeeway (30s).
	Leeway time.Duration
	// Audience, when non-empty, must appear in the JWT's aud claim.
	Audience string
	// Issuer, when non-empty, must equal the JWT's iss claim.
	Issuer string
	// MaxIDLength caps webhook-id in bytes. Default DefaultMaxIDLength (256).
	MaxIDLength int
	// Now returns the current time. Default time.Now.
	Now func() time.Time
}

// Verifier checks webhook deliveries. It is safe for concurrent use and
// should be built once per process: it caches HMAC state.
type Verifier struct {
	secrets     SecretSource
	keys        KeySource
	tolerance   time.Duration
	leeway      time.Duration
	audience    string
	issuer      string
	maxIDLength int
	now         func() time.Time

	macs        boundedMap[*sync.Pool] // by secret key bytes
	hmacScratch sync.Pool              // *hmacScratch
}

// NewVerifier validates opts, applies defaults and returns a Verifier.
func NewVerifier(opts Options) (*Verifier, error) {
	var errs []error
	if opts.Secrets == nil && opts.Keys == nil {
		errs = append(errs, errors.New("neither Secrets nor Keys is set, so no delivery could ever verify"))
	}
	if opts.Tolerance < 0 {
		errs = append(errs, fmt.Errorf("negative Tolerance %s", opts.Tolerance))
	}
	if opts.Leeway < 0 {
		errs = append(errs, fmt.Errorf("negative Leeway %s", opts.Leeway))
	}
	if opts.MaxIDLength < 0 {
		errs = append(errs, fmt.Errorf("negative MaxIDLength %d", opts.MaxIDLength))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("failed to create verifier: %w", err)
	}

	v := &Verifier{
		secrets:     opts.Secrets,
		keys:        opts.Keys,
		tolerance:   opts.Tolerance,
		leeway:      opts.Leeway,
		audience:    opts.Audience,
		issuer:      opts.Issuer,
		maxIDLength: opts.MaxIDLength,
		now:         opts.Now,
		macs:        boundedMap[*sync.Pool]{limit: maxCachedSecrets},
	}
	if v.tolerance == 0 {
		v.tolerance = DefaultTolerance
	}
	if v.leeway == 0 {
		v.leeway = DefaultLeeway
	}
	if v.maxIDLength == 0 {
		v.maxIDLength = DefaultMaxIDLength
	}
	if v.now == nil {
		v.now = time.Now
	}
	v.hmacScratch.New = func() any { return new(hmacScratch) }
	return v, nil
}

// Verify checks the signature headers in h against body, the raw request
// body, and returns the verified delivery. Errors are always *Error; see Kind
// for the status to answer.
func (v *Verifier) Verify(ctx context.Context, h http.Header, body []byte) (*Delivery, error) {
	d, err := v.verify(ctx, h, body, nil)
	if err != nil {
		// Return a nil interface, not a typed nil *Error.
		return nil, err
	}
	return d, nil
}

// Report describes one verification attempt in detail, for an operator
// diagnosing rejected deliveries. It holds labels, key ids and timings, but
// no secret, signature value or token.
type Report struct {
	// Scheme is the signing scheme detected from webhook-signature, or empty
	// if none was recognised.
	Scheme Scheme
	// ID is the webhook-id header (or jti) as received; print it quoted.
	ID string
	// Timestamp is the parsed webhook-timestamp (zero if absent or invalid).
	Timestamp time.Time
	// Skew is now minus Timestamp: positive when the delivery is older than
	// the verifier's clock. Zero when Timestamp is zero.
	Skew time.Duration
	// Tolerance is the allowed |Skew|.
	Tolerance time.Duration
	// Signatures counts the v1 entries in webhook-signature.
	Signatures int
	// OtherSignatures counts entries of other versions (v1a, v2, …), which
	// are skipped.
	OtherSignatures int
	// SecretsTried lists the labels of the secrets tried, in order.
	SecretsTried []string
	// Refreshed reports whether the secret source was refreshed after a miss.
	Refreshed bool
	// MatchedSecret is the label of the secret whose signature matched. It
	// can be set even when Err is a timestamp error: the signature is right
	// but the clocks disagree.
	MatchedSecret string
	// Algorithm and KeyID are the JWT header's alg and kid.
	Algorithm, KeyID string
	// Claims are the JWT claims, set once the JWT signature has verified
	// (even if a claim check then failed).
	Claims map[string]any
	// Delivery is the verified delivery, nil if verification failed.
	Delivery *Delivery
	// Err is the verdict, exactly what Verify would return (nil on success).
	Err error
}

// Explain verifies like Verify but also records how the verdict was reached.
// Unlike Verify, it goes on to check the signature after a timestamp
// failure, so that the report can tell a clock problem from a secret
// problem. Err and Delivery are what Verify would return.
func (v *Verifier) Explain(ctx context.Context, h http.Header, body []byte) Report {
	rep := Report{Tolerance: v.tolerance}
	d, err := v.verify(ctx, h, body, &rep)
	if err != nil {
		rep.Err = err
		return rep
	}
	rep.Delivery = d
	return rep
}

// verify is the single code path behind Verify and Explain; rep is nil for
// Verify.
func (v *Verifier) verify(ctx context.Context, h http.Header, body []byte, rep *Report) (*Delivery, *Error) {
	sigs := h[canonicalSignature]
	if blank(sigs) {
		return nil, newError(ErrMissingSignature, "webhook-signature header is missing or empty")
	}
	// A JWT is one token; several header lines can only be a v1 list.
	if len(sigs) == 1 {
		if tok := strings.TrimSpace(sigs[0]); looksLikeJWS(tok) {
			if rep != nil {
				rep.Scheme = SchemeJWT
			}
			return v.verifyJWT(ctx, h, tok, rep)
		}
	}
	return v.verifyHMAC(ctx, h, sigs, body, rep)
}

func blank(values []string) bool {
	for _, s := range values {
		if strings.TrimSpace(s) != "" {
			return false
		}
	}
	return true
}

// checkID validates a webhook id; name says where it came from
// ("webhook-id" or "jti") for the message.
func (v *Verifier) checkID(name, id string) *Error {
	if len(id) > v.maxIDLength {
		return newError(ErrIDTooLong, fmt.Sprintf("%s is %d bytes; at most %d are allowed", name, len(id), v.maxIDLength))
	}
	if strings.TrimSpace(id) == "" {
		return newError(ErrInvalidID, name+" is blank")
	}
	for i := 0; i < len(id); {
		c := id[i]
		if c < utf8.RuneSelf {
			// ASCII fast path: printable is 0x20 through 0x7e.
			if c < 0x20 || c == 0x7f {
				return newError(ErrInvalidID, fmt.Sprintf("%s has a control character at byte %d", name, i))
			}
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(id[i:])
		if r == utf8.RuneError && size == 1 {
			return newError(ErrInvalidID, fmt.Sprintf("%s is not valid UTF-8 at byte %d", name, i))
		}
		// IsPrint rejects C1 controls, format characters such as bidi
		// overrides and zero-width spaces, and unusual spaces: none belongs
		// in an id that ends up in logs and document names.
		if !unicode.IsPrint(r) {
			return newError(ErrInvalidID, fmt.Sprintf("%s has non-printable character %U at byte %d", name, r, i))
		}
		i += size
	}
	return nil
}

// checkTimestamp parses a webhook-timestamp value and applies the tolerance.
// It returns the parsed time even when the tolerance check fails, so that
// Explain can report the skew.
func (v *Verifier) checkTimestamp(raw string, now time.Time, rep *Report) (time.Time, *Error) {
	if raw == "" {
		return time.Time{}, newError(ErrMissingTimestamp, "webhook-timestamp header is missing or empty")
	}
	// Digits only: strconv.ParseInt would also take a sign, and the signed
	// content uses the header verbatim.
	for i := 0; i < len(raw); i++ {
		if raw[i] < '0' || raw[i] > '9' {
			return time.Time{}, newError(ErrInvalidTimestamp, "webhook-timestamp must be a base-10 integer of seconds since the epoch")
		}
	}
	secs, err := strconv.ParseInt(raw, 10, 64)
	if err != nil {
		return time.Time{}, newError(ErrInvalidTimestamp, "webhook-timestamp is out of range")
	}
	ts := time.Unix(secs, 0)
	skew := now.Sub(ts) // saturates rather than overflows
	if rep != nil {
		rep.Timestamp, rep.Skew = ts, skew
	}
	switch {
	case skew > v.tolerance:
		return ts, newError(ErrTimestampTooOld, fmt.Sprintf("webhook-timestamp is %s in the past; the tolerance is %s", skew.Round(time.Second), v.tolerance))
	case skew < -v.tolerance:
		return ts, newError(ErrTimestampTooNew, fmt.Sprintf("webhook-timestamp is %s in the future; the tolerance is %s", (-skew).Round(time.Second), v.tolerance))
	}
	return ts, nil
}

// isToleranceError reports whether err is a timestamp outside the tolerance,
// the one failure after which Explain keeps checking.
func isToleranceError(err *Error) bool {
	return err != nil && (err.Code == ErrTimestampTooOld.Code || err.Code == ErrTimestampTooNew.Code)
}

// headerValue returns the first value of a header by canonical key, like
// http.Header.Get but without canonicalizing the key on each call.
func headerValue(h http.Header, canonicalKey string) string {
	if v := h[canonicalKey]; len(v) > 0 {
		return v[0]
	}
	return ""
}

// truncate shortens an untrusted string before it is quoted in a message.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
