package signature

import (
	"context"
	"crypto"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/lestrrat-go/jwx/v2/jwa"
	"github.com/lestrrat-go/jwx/v2/jwk"
)

const (
	// maxJWTLength bounds the token before any decoding. Gemini may carry the
	// event in the claims, so leave room, but far below net/http's 1 MB
	// header limit.
	maxJWTLength = 64 << 10
	// maxKeyIDLength bounds the kid that is passed to the KeySource and
	// quoted in messages.
	maxKeyIDLength = 256
	// minRSABits is the smallest RSA modulus accepted (NIST SP 800-131A).
	minRSABits = 2048
	// maxNumericDate clamps NumericDate claims (year 9999) so that absurd
	// values cannot overflow time arithmetic.
	maxNumericDate = 253402300799
)

// jwtEncoding is unpadded base64url. Strict rejects non-zero trailing bits,
// so a signed token has exactly one accepted spelling.
var jwtEncoding = base64.RawURLEncoding.Strict()

// base64URLAlphabet is the alphabet of unpadded base64url.
const base64URLAlphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"

// looksLikeJWS reports whether s has the shape of a compact JWS: three
// segments joined by dots, with a non-empty base64url header and no spaces.
// The other two segments are checked when they are decoded. The signature
// may be empty ("alg":"none" tokens), so that such tokens are reported as an
// unsupported algorithm rather than an unknown scheme.
func looksLikeJWS(s string) bool {
	header, _, _ := strings.Cut(s, ".")
	return strings.Count(s, ".") == 2 && header != "" && !strings.Contains(s, " ") &&
		strings.Trim(header, base64URLAlphabet) == ""
}

// verifyJWT verifies a delivery whose webhook-signature is a compact JWS.
//
// The token is checked in a fixed order: structure, alg (RS256 only, before
// any key is touched), kid, key lookup, signature, and only then the claims,
// so no claim is ever read from an unverified token. The checks follow RFC
// 7515/7519 with the semantics of jwx's jwt.Parse (the tests compare the
// two); the token is parsed here so that the order above is explicit.
func (v *Verifier) verifyJWT(ctx context.Context, h http.Header, token string, rep *Report) (*Delivery, *Error) {
	if v.keys == nil {
		return nil, newError(ErrNoSigningKeys, "JWT deliveries are not accepted: no key source is configured")
	}
	if len(token) > maxJWTLength {
		return nil, newError(ErrMalformedJWT, fmt.Sprintf("the JWT is %d bytes; at most %d are accepted", len(token), maxJWTLength))
	}

	// Undocumented: whether per-request (JWT) deliveries carry webhook-id
	// and webhook-timestamp. A third-party guide says they share the
	// Standard Webhooks headers; Google's samples read only the token. Both
	// are accepted: the headers are optional here but checked when sent, and
	// the id falls back to the jti claim (then to event.DerivedID).
	id := headerValue(h, canonicalID)
	if rep != nil {
		rep.ID = id
	}
	if id != "" {
		if err := v.checkID(HeaderID, id); err != nil {
			return nil, err
		}
	}
	now := v.now()
	rawTS := headerValue(h, canonicalTimestamp)
	var ts time.Time
	var tsErr *Error
	if rawTS != "" {
		ts, tsErr = v.checkTimestamp(rawTS, now, rep)
		if tsErr != nil && (rep == nil || !isToleranceError(tsErr)) {
			return nil, tsErr
		}
	}

	claims, kid, err := v.verifyToken(ctx, token, now, rep)
	if tsErr != nil {
		return nil, tsErr // as in Verify, which stops at the timestamp
	}
	if err != nil {
		return nil, err
	}

	if id == "" {
		if jti, ok := claims["jti"].(string); ok && jti != "" {
			if err := v.checkID("the JWT jti claim", jti); err != nil {
				return nil, err
			}
			id = jti
			if rep != nil {
				rep.ID = id
			}
		}
	}
	if rawTS == "" {
		ts = now
		if iat, ok := numericDate(claims["iat"]); ok {
			ts = iat
		}
	}
	return &Delivery{ID: id, Timestamp: ts, Scheme: SchemeJWT, KeyID: kid, Claims: claims}, nil
}

// verifyToken checks the token, its signature and its claims, and returns
// the claims and the kid.
func (v *Verifier) verifyToken(ctx context.Context, token string, now time.Time, rep *Report) (map[string]any, string, *Error) {
	// looksLikeJWS guaranteed exactly two dots.
	headerSeg, rest, _ := strings.Cut(token, ".")
	payloadSeg, sigSeg, _ := strings.Cut(rest, ".")

	alg, kid, err := parseJOSEHeader(headerSeg)
	if rep != nil {
		rep.Algorithm, rep.KeyID = alg, kid
	}
	if err != nil {
		return nil, kid, err
	}
	pub, err := v.publicKey(ctx, kid)
	if err != nil {
		return nil, kid, err
	}
	sig, derr := jwtEncoding.DecodeString(sigSeg)
	if derr != nil {
		return nil, kid, newError(ErrMalformedJWT, "the JWT signature segment is not base64url")
	}
	digest := sha256.Sum256([]byte(token[:len(headerSeg)+1+len(payloadSeg)]))
	if rsa.VerifyPKCS1v15(pub, crypto.SHA256, digest[:], sig) != nil {
		return nil, kid, newError(ErrJWTInvalidSignature, fmt.Sprintf("the JWT signature does not verify with key %q", kid))
	}

	payload, derr := jwtEncoding.DecodeString(payloadSeg)
	if derr != nil {
		return nil, kid, newError(ErrMalformedJWT, "the JWT payload segment is not base64url")
	}
	claims, ok := decodeObject(payload)
	if !ok {
		return nil, kid, newError(ErrMalformedJWT, "the JWT claims are not a JSON object")
	}
	if rep != nil {
		rep.Claims = claims
	}
	if err := v.checkClaims(claims, now); err != nil {
		return nil, kid, err
	}
	return claims, kid, nil
}

// decodeObject decodes a JSON object with encoding/json, into the values it
// produces for an interface (numbers are float64). Decoding into an any
// rather than a map takes encoding/json's path without reflection, which
// allocates a third as much.
func decodeObject(b []byte) (map[string]any, bool) {
	var v any
	if json.Unmarshal(b, &v) != nil {
		return nil, false
	}
	m, ok := v.(map[string]any)
	return m, ok
}

// parseJOSEHeader decodes the protected header and enforces alg == RS256 and
// a kid. Member names are matched exactly, as JOSE requires (encoding/json's
// struct decoding would also accept "ALG").
func parseJOSEHeader(seg string) (alg, kid string, err *Error) {
	raw, derr := jwtEncoding.DecodeString(seg)
	if derr != nil {
		return "", "", newError(ErrMalformedJWT, "the JWT header segment is not base64url")
	}
	hdr, ok := decodeObject(raw)
	if !ok {
		return "", "", newError(ErrMalformedJWT, "the JWT header is not a JSON object")
	}
	alg, ok = hdr["alg"].(string)
	if !ok {
		return "", "", newError(ErrMalformedJWT, "the JWT header has no alg string")
	}
	if alg != jwa.RS256.String() {
		return alg, "", newError(ErrJWTUnsupportedAlgorithm, fmt.Sprintf("JWT alg %q is not accepted; only RS256 is", truncate(alg, 32)))
	}
	if _, ok := hdr["crit"]; ok {
		// RFC 7515 §4.1.11: extensions listed in crit must be understood,
		// and none are.
		return alg, "", newError(ErrMalformedJWT, "the JWT header lists critical extensions, which are not supported")
	}
	switch k := hdr["kid"].(type) {
	case nil:
	case string:
		kid = k
	default:
		return alg, "", newError(ErrMalformedJWT, "the JWT header kid is not a string")
	}
	if kid == "" {
		return alg, "", newError(ErrJWTMissingKeyID, "the JWT header has no kid, so no key can be chosen")
	}
	if len(kid) > maxKeyIDLength {
		return alg, "", newError(ErrMalformedJWT, fmt.Sprintf("the JWT kid is %d bytes; at most %d are accepted", len(kid), maxKeyIDLength))
	}
	return alg, kid, nil
}

// publicKey resolves kid to an RSA public key fit for RS256.
func (v *Verifier) publicKey(ctx context.Context, kid string) (*rsa.PublicKey, *Error) {
	key, err := v.keys.LookupKey(ctx, kid)
	switch {
	case errors.Is(err, ErrKeyNotFound):
		return nil, wrapError(ErrJWTUnknownKeyID, fmt.Sprintf("no signing key has kid %q", kid), err)
	case err != nil:
		return nil, wrapError(ErrKeysUnavailable, fmt.Sprintf("failed to look up signing key %q", kid), err)
	case key == nil:
		return nil, newError(ErrJWTUnknownKeyID, fmt.Sprintf("no signing key has kid %q", kid))
	}
	return rsaPublicKey(kid, key)
}

// rsaPublicKey checks that key can verify RS256 and returns its raw form.
func rsaPublicKey(kid string, key jwk.Key) (*rsa.PublicKey, *Error) {
	if kt := key.KeyType(); kt != jwa.RSA {
		return nil, newError(ErrJWTUnusableKey, fmt.Sprintf("key %q has type %q; RS256 needs an RSA key", kid, kt))
	}
	if alg := key.Algorithm(); alg != nil && alg.String() != "" && alg.String() != jwa.RS256.String() {
		return nil, newError(ErrJWTUnusableKey, fmt.Sprintf("key %q is published for alg %q, not RS256", kid, alg))
	}
	if use := key.KeyUsage(); use != "" && use != string(jwk.ForSignature) {
		return nil, newError(ErrJWTUnusableKey, fmt.Sprintf("key %q is published for use %q, not signatures", kid, use))
	}
	// A public key (what a JWKS serves) converts directly; PublicRawKeyOf,
	// which also takes the public half of a private key, costs a tenth of
	// the RSA verification.
	pub := new(rsa.PublicKey)
	if key.Raw(pub) != nil {
		raw, err := jwk.PublicRawKeyOf(key)
		if err != nil {
			return nil, wrapError(ErrJWTUnusableKey, fmt.Sprintf("key %q has no usable public key", kid), err)
		}
		var ok bool
		if pub, ok = raw.(*rsa.PublicKey); !ok {
			return nil, newError(ErrJWTUnusableKey, fmt.Sprintf("key %q is not an RSA public key", kid))
		}
	}
	if bits := pub.N.BitLen(); bits < minRSABits {
		return nil, newError(ErrJWTUnusableKey, fmt.Sprintf("key %q has %d bits; at least %d are required", kid, bits, minRSABits))
	}
	return pub, nil
}

// checkClaims validates the registered claims of a verified token: their
// types, exp (required), iat and nbf with the leeway, then aud and iss when
// configured. Times are compared at one-second resolution, as jwx does.
func (v *Verifier) checkClaims(c map[string]any, now time.Time) *Error {
	for _, name := range [...]string{"iss", "sub", "jti"} {
		if x, ok := c[name]; ok {
			if _, ok := x.(string); !ok {
				return newError(ErrMalformedJWT, fmt.Sprintf("the JWT %s claim is not a string", name))
			}
		}
	}
	if !validAudience(c["aud"]) {
		return newError(ErrMalformedJWT, "the JWT aud claim is neither a string nor an array of strings")
	}
	var dates [3]time.Time
	var present [3]bool
	for i, name := range [...]string{"exp", "nbf", "iat"} {
		x, ok := c[name]
		if !ok {
			continue
		}
		if dates[i], ok = numericDate(x); !ok {
			return newError(ErrMalformedJWT, fmt.Sprintf("the JWT %s claim is not a NumericDate", name))
		}
		present[i] = true
	}
	exp, nbf, iat := dates[0], dates[1], dates[2]

	now = now.Truncate(time.Second)
	if present[2] && now.Before(iat.Add(-v.leeway)) {
		return newError(ErrJWTIssuedInFuture, fmt.Sprintf("the JWT iat is %s in the future; the leeway is %s", iat.Sub(now), v.leeway))
	}
	if !present[0] {
		return newError(ErrJWTMissingExpiration, "the JWT has no exp claim; tokens must expire")
	}
	if !now.Before(exp.Add(v.leeway)) {
		return newError(ErrJWTExpired, fmt.Sprintf("the JWT expired %s ago; the leeway is %s", now.Sub(exp), v.leeway))
	}
	if present[1] && now.Before(nbf.Add(-v.leeway)) {
		return newError(ErrJWTNotYetValid, fmt.Sprintf("the JWT is not valid for another %s; the leeway is %s", nbf.Sub(now), v.leeway))
	}
	// Undocumented: which iss and aud Gemini puts in its tokens (the guide's
	// sample says "your-configured-audience"; a third-party guide says the
	// endpoint URL). Any value is accepted until the operator pins one with
	// WEBHOOK_JWT_AUDIENCE / WEBHOOK_JWT_ISSUER; aud may be a string or an
	// array, as RFC 7519 allows.
	if v.audience != "" && !audienceContains(c["aud"], v.audience) {
		return newError(ErrJWTInvalidAudience, fmt.Sprintf("the JWT aud does not contain %q", v.audience))
	}
	if v.issuer != "" {
		if iss, _ := c["iss"].(string); iss != v.issuer {
			return newError(ErrJWTInvalidIssuer, fmt.Sprintf("the JWT iss is not %q", v.issuer))
		}
	}
	return nil
}

// validAudience reports whether an aud claim is absent, a string, or an
// array of strings.
func validAudience(x any) bool {
	switch a := x.(type) {
	case nil, string:
		return true
	case []any:
		for _, s := range a {
			if _, ok := s.(string); !ok {
				return false
			}
		}
		return true
	default:
		return false
	}
}

// audienceContains reports whether a valid aud claim holds s; a single
// string is a list of one.
func audienceContains(x any, s string) bool {
	switch a := x.(type) {
	case string:
		return a == s
	case []any:
		for _, e := range a {
			if e == any(s) {
				return true
			}
		}
	}
	return false
}

// numericDate converts a JSON number of seconds to a time, dropping the
// fraction (as jwx does by default) and clamping absurd values.
func numericDate(x any) (time.Time, bool) {
	f, ok := x.(float64)
	if !ok {
		return time.Time{}, false
	}
	switch {
	case f > maxNumericDate:
		f = maxNumericDate
	case f < -maxNumericDate:
		f = -maxNumericDate
	}
	return time.Unix(int64(f), 0), true
}
