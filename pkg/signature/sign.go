package signature

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/lestrrat-go/jwx/v2/jwa"
	"github.com/lestrrat-go/jwx/v2/jwk"
	"github.com/lestrrat-go/jwx/v2/jws"
)

// SignHMAC returns the Standard Webhooks v1 signature of a delivery, in the
// "v1,<base64>" form that goes into webhook-signature. Join the results for
// several secrets with a space to sign for a rotation.
//
// It is the sending side of HMAC verification, for tests, the Gemini
// simulator and the CLI.
func SignHMAC(s Secret, id string, ts time.Time, body []byte) string {
	m := hmac.New(sha256.New, s.key)
	m.Write([]byte(id))
	m.Write([]byte{'.'})
	m.Write(strconv.AppendInt(nil, ts.Unix(), 10))
	m.Write([]byte{'.'})
	m.Write(body)
	return "v1," + base64.StdEncoding.EncodeToString(m.Sum(nil))
}

// GenerateRSAKey returns a new 2048-bit RSA key for a JWTSigner.
func GenerateRSAKey() (*rsa.PrivateKey, error) {
	key, err := rsa.GenerateKey(rand.Reader, minRSABits)
	if err != nil {
		return nil, fmt.Errorf("failed to generate RSA key: %w", err)
	}
	return key, nil
}

// JWTSigner signs RS256 JWTs the way Gemini signs dynamic webhook
// deliveries: a compact JWS whose header names the key by kid. It is the
// sending side of JWT verification, for tests, the simulator and the CLI.
type JWTSigner struct {
	kid string
	key *rsa.PrivateKey
	pub jwk.Key
}

// NewJWTSigner returns a signer for key, published under kid.
func NewJWTSigner(kid string, key *rsa.PrivateKey) (*JWTSigner, error) {
	if kid == "" {
		return nil, errors.New("failed to create JWT signer: kid is empty")
	}
	if key == nil {
		return nil, errors.New("failed to create JWT signer: key is nil")
	}
	if bits := key.N.BitLen(); bits < minRSABits {
		return nil, fmt.Errorf("failed to create JWT signer: key has %d bits, at least %d are required", bits, minRSABits)
	}
	if err := key.Validate(); err != nil {
		return nil, fmt.Errorf("failed to create JWT signer: invalid key: %w", err)
	}
	pub, err := jwk.FromRaw(&key.PublicKey)
	if err != nil {
		return nil, fmt.Errorf("failed to create JWT signer: %w", err)
	}
	for name, value := range map[string]any{
		jwk.KeyIDKey:     kid,
		jwk.AlgorithmKey: jwa.RS256,
		jwk.KeyUsageKey:  jwk.ForSignature,
	} {
		if err := pub.Set(name, value); err != nil {
			return nil, fmt.Errorf("failed to create JWT signer: failed to set %s: %w", name, err)
		}
	}
	return &JWTSigner{kid: kid, key: key, pub: pub}, nil
}

// KeyID returns the kid put in every token's header.
func (s *JWTSigner) KeyID() string { return s.kid }

// PublicKey returns the public JWK (with kid, alg and use set), e.g. for
// NewStaticKeys. It is shared: do not modify it.
func (s *JWTSigner) PublicKey() jwk.Key { return s.pub }

// PublicJWKS returns the JSON of a JWK set holding the public key, as a
// JWKS endpoint would serve it.
func (s *JWTSigner) PublicJWKS() ([]byte, error) {
	set := jwk.NewSet()
	if err := set.AddKey(s.pub); err != nil {
		return nil, fmt.Errorf("failed to build JWKS: %w", err)
	}
	b, err := json.Marshal(set)
	if err != nil {
		return nil, fmt.Errorf("failed to encode JWKS: %w", err)
	}
	return b, nil
}

// Sign returns a compact RS256 JWS over the JSON of claims, with "kid" and
// "typ":"JWT" in the protected header. Claims are encoded with
// encoding/json, except that time.Time values are written as NumericDate
// (seconds since the epoch), so exp, nbf and iat can be given as times.
func (s *JWTSigner) Sign(claims map[string]any) (string, error) {
	enc := make(map[string]any, len(claims))
	for k, v := range claims {
		if t, ok := v.(time.Time); ok {
			v = t.Unix()
		}
		enc[k] = v
	}
	payload, err := json.Marshal(enc)
	if err != nil {
		return "", fmt.Errorf("failed to encode JWT claims: %w", err)
	}
	hdr := jws.NewHeaders()
	if err := hdr.Set(jws.KeyIDKey, s.kid); err != nil {
		return "", fmt.Errorf("failed to set JWT kid: %w", err)
	}
	if err := hdr.Set(jws.TypeKey, "JWT"); err != nil {
		return "", fmt.Errorf("failed to set JWT typ: %w", err)
	}
	tok, err := jws.Sign(payload, jws.WithKey(jwa.RS256, s.key, jws.WithProtectedHeaders(hdr)))
	if err != nil {
		return "", fmt.Errorf("failed to sign JWT: %w", err)
	}
	return string(tok), nil
}

// WebhookJWTLifetime is exp - iat of the per-request webhook JWTs that
// WebhookClaims builds: the five-minute replay window Gemini's guide
// recommends.
const WebhookJWTLifetime = 5 * time.Minute

// WebhookClaims returns the claims of a per-request webhook JWT issued at ts:
// the event (body, when it is a JSON object, as the guide decodes the token
// into the event) plus iss, aud, jti, iat and exp. It is the sending side,
// for the Gemini simulator and the CLI.
func WebhookClaims(body []byte, issuer, audience, id string, ts time.Time) map[string]any {
	var claims map[string]any
	if err := json.Unmarshal(body, &claims); err != nil || claims == nil {
		claims = map[string]any{}
	}
	claims["iss"], claims["aud"], claims["jti"] = issuer, audience, id
	claims["iat"], claims["exp"] = ts, ts.Add(WebhookJWTLifetime)
	return claims
}
