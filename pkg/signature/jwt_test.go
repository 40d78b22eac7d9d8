package signature_test

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/hmac"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	_ "crypto/sha512" // crypto.SHA512 for the RS512 token
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/lestrrat-go/jwx/v2/jwa"
	"github.com/lestrrat-go/jwx/v2/jwk"
	"github.com/lestrrat-go/jwx/v2/jws"
	"github.com/lestrrat-go/jwx/v2/jwt"

	"github.com/geminihooks/geminihooks/pkg/signature"
)

// keySourceFunc adapts a function to signature.KeySource.
type keySourceFunc func(ctx context.Context, kid string) (jwk.Key, error)

func (f keySourceFunc) LookupKey(ctx context.Context, kid string) (jwk.Key, error) {
	return f(ctx, kid)
}

// mutableKeys is a KeySource whose keys can change between calls, like a
// JWKS after a rotation.
type mutableKeys struct {
	mu   sync.Mutex
	keys map[string]jwk.Key
}

func (m *mutableKeys) set(kid string, k jwk.Key) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if k == nil {
		delete(m.keys, kid)
		return
	}
	m.keys[kid] = k
}

func (m *mutableKeys) LookupKey(_ context.Context, kid string) (jwk.Key, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if k, ok := m.keys[kid]; ok {
		return k, nil
	}
	return nil, fmt.Errorf("kid %q: %w", kid, signature.ErrKeyNotFound)
}

// wantClaims is what the verifier hands back for claims: a JSON round trip,
// with times as NumericDate.
func wantClaims(t *testing.T, claims map[string]any) map[string]any {
	t.Helper()
	enc := make(map[string]any, len(claims))
	for k, v := range claims {
		if tm, ok := v.(time.Time); ok {
			v = tm.Unix()
		}
		enc[k] = v
	}
	b, err := json.Marshal(enc)
	if err != nil {
		t.Fatal(err)
	}
	var out map[string]any
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatal(err)
	}
	return out
}

func withClaims(edit func(c map[string]any)) map[string]any {
	c := goodClaims()
	edit(c)
	return c
}

func TestVerifyJWT_accepts(t *testing.T) {
	t.Parallel()
	k := keys(t)
	tsHeader := testNow.Add(-2 * time.Second)

	cases := []struct {
		name   string
		claims map[string]any
		header http.Header // webhook-id / webhook-timestamp; signature is added
		// unchecked leaves Audience and Issuer unset.
		unchecked bool
		wantID    string
		wantTS    time.Time
	}{
		{
			name:   "id_and_timestamp_headers",
			claims: goodClaims(),
			header: deliveryHeader("msg_header", unix(tsHeader), ""),
			wantID: "msg_header",
			wantTS: tsHeader,
		},
		{
			name:   "id_from_jti_timestamp_from_iat",
			claims: goodClaims(),
			header: http.Header{},
			wantID: "evt_1",
			wantTS: testNow.Add(-10 * time.Second),
		},
		{
			name:   "no_id_at_all",
			claims: withClaims(func(c map[string]any) { delete(c, "jti") }),
			header: deliveryHeader("", unix(tsHeader), ""),
			wantID: "",
			wantTS: tsHeader,
		},
		{
			name:   "no_iat_timestamp_is_now",
			claims: withClaims(func(c map[string]any) { delete(c, "iat") }),
			header: http.Header{},
			wantID: "evt_1",
			wantTS: testNow,
		},
		{
			name:   "audience_in_array",
			claims: withClaims(func(c map[string]any) { c["aud"] = []string{"other", testAudience} }),
			header: http.Header{},
			wantID: "evt_1",
			wantTS: testNow.Add(-10 * time.Second),
		},
		{
			name: "times_within_leeway",
			claims: withClaims(func(c map[string]any) {
				c["exp"] = testNow.Add(-29 * time.Second)
				c["nbf"] = testNow.Add(30 * time.Second)
				c["iat"] = testNow.Add(30 * time.Second)
			}),
			header: http.Header{},
			wantID: "evt_1",
			wantTS: testNow.Add(30 * time.Second),
		},
		{
			name:   "fractional_times",
			claims: withClaims(func(c map[string]any) { c["exp"] = float64(testNow.Unix()) + 60.75 }),
			header: http.Header{},
			wantID: "evt_1",
			wantTS: testNow.Add(-10 * time.Second),
		},
		{
			name: "absurd_times_clamped",
			claims: withClaims(func(c map[string]any) {
				c["exp"] = 1e300
				c["nbf"] = -1e300
			}),
			header: http.Header{},
			wantID: "evt_1",
			wantTS: testNow.Add(-10 * time.Second),
		},
		{
			name:      "audience_and_issuer_unchecked_when_unset",
			claims:    withClaims(func(c map[string]any) { c["aud"] = "someone-else"; c["iss"] = "someone" }),
			header:    http.Header{},
			unchecked: true,
			wantID:    "evt_1",
			wantTS:    testNow.Add(-10 * time.Second),
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			opts := signature.Options{Audience: testAudience, Issuer: testIssuer}
			if tc.unchecked {
				opts = signature.Options{}
			}
			v := jwtVerifier(t, opts)
			tok := sign(t, k.signer, tc.claims)
			h := tc.header.Clone()
			h.Set(signature.HeaderSignature, tok)

			got, err := v.Verify(context.Background(), h, []byte(`{"ignored":true}`))
			if err != nil {
				t.Fatalf("Verify: %v", err)
			}
			want := &signature.Delivery{
				ID:        tc.wantID,
				Timestamp: tc.wantTS,
				Scheme:    signature.SchemeJWT,
				KeyID:     "k1",
				Claims:    wantClaims(t, tc.claims),
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Fatalf("delivery mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

func TestVerifyJWT_rejects(t *testing.T) {
	t.Parallel()
	k := keys(t)
	rsSign := func(key *rsa.PrivateKey, h crypto.Hash) func([]byte) []byte {
		return func(input []byte) []byte {
			hf := h.New()
			hf.Write(input)
			sig, err := rsa.SignPKCS1v15(rand.Reader, key, h, hf.Sum(nil))
			if err != nil {
				t.Fatal(err)
			}
			return sig
		}
	}
	rs256 := rsSign(k.private, crypto.SHA256)
	hs256 := func(secret []byte) func([]byte) []byte {
		return func(input []byte) []byte {
			m := hmac.New(sha256.New, secret)
			m.Write(input)
			return m.Sum(nil)
		}
	}
	der, err := x509.MarshalPKIXPublicKey(&k.private.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	pemKey := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
	jwksJSON, err := k.signer.PublicJWKS()
	if err != nil {
		t.Fatal(err)
	}
	hdr := func(alg string) map[string]any { return map[string]any{"alg": alg, "kid": "k1", "typ": "JWT"} }
	good := sign(t, k.signer, goodClaims())
	seg := segments(good)
	reencode := func(s string) string { return base64.RawURLEncoding.EncodeToString([]byte(s)) }
	rs512, err := jws.Sign(mustJSON(t, goodClaims()), jws.WithKey(jwa.RS512, k.private, jws.WithProtectedHeaders(mustHeaders(t, "k1"))))
	if err != nil {
		t.Fatal(err)
	}
	ps256, err := jws.Sign(mustJSON(t, goodClaims()), jws.WithKey(jwa.PS256, k.private, jws.WithProtectedHeaders(mustHeaders(t, "k1"))))
	if err != nil {
		t.Fatal(err)
	}
	ecKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	ecJWK := mustJWK(t, &ecKey.PublicKey, "k1", nil)
	weakJWK := mustJWK(t, &k.weakPrivate.PublicKey, "k1", nil)
	rs512JWK := mustJWK(t, &k.private.PublicKey, "k1", map[string]any{jwk.AlgorithmKey: jwa.RS512})
	encJWK := mustJWK(t, &k.private.PublicKey, "k1", map[string]any{jwk.KeyUsageKey: "enc"})
	errJWKS := errors.New("jwks: connection refused")

	cases := []struct {
		name   string
		token  string
		header http.Header
		keys   signature.KeySource
		opts   signature.Options
		want   *signature.Error
	}{
		{name: "no_key_source", token: good, opts: signature.Options{Secrets: signature.StaticSecrets{}}, want: signature.ErrNoSigningKeys},
		{name: "token_too_long", token: seg[0] + "." + strings.Repeat("a", 70_000) + "." + seg[2], want: signature.ErrMalformedJWT},
		{name: "header_not_base64", token: "a." + seg[1] + "." + seg[2], want: signature.ErrMalformedJWT},
		{name: "header_not_json", token: reencode("not json") + "." + seg[1] + "." + seg[2], want: signature.ErrMalformedJWT},
		{name: "header_json_array", token: reencode(`["RS256"]`) + "." + seg[1] + "." + seg[2], want: signature.ErrMalformedJWT},
		{name: "header_trailing_data", token: reencode(`{"alg":"RS256","kid":"k1"}x`) + "." + seg[1] + "." + seg[2], want: signature.ErrMalformedJWT},
		{name: "header_without_alg", token: craftJWT(t, map[string]any{"kid": "k1"}, goodClaims(), rs256), want: signature.ErrMalformedJWT},
		{name: "header_alg_not_string", token: craftJWT(t, map[string]any{"alg": 256, "kid": "k1"}, goodClaims(), rs256), want: signature.ErrMalformedJWT},
		{name: "header_alg_wrong_case_key", token: craftJWT(t, map[string]any{"ALG": "RS256", "kid": "k1"}, goodClaims(), rs256), want: signature.ErrMalformedJWT},
		{name: "header_kid_not_string", token: craftJWT(t, map[string]any{"alg": "RS256", "kid": 1}, goodClaims(), rs256), want: signature.ErrMalformedJWT},
		{name: "header_kid_too_long", token: craftJWT(t, map[string]any{"alg": "RS256", "kid": strings.Repeat("k", 300)}, goodClaims(), rs256), want: signature.ErrMalformedJWT},
		{name: "header_crit", token: craftJWT(t, map[string]any{"alg": "RS256", "kid": "k1", "crit": []string{"b64"}, "b64": false}, goodClaims(), rs256), want: signature.ErrMalformedJWT},
		{name: "signature_padded", token: good + "==", want: signature.ErrMalformedJWT},
		{name: "payload_not_base64url", token: seg[0] + ".a,b." + seg[2], want: signature.ErrJWTInvalidSignature},
		{name: "signature_not_base64", token: seg[0] + "." + seg[1] + ".a", want: signature.ErrMalformedJWT},
		{name: "claims_not_json", token: craftRawJWT(t, hdr("RS256"), "not json", rs256), want: signature.ErrMalformedJWT},
		{name: "claims_json_string", token: craftRawJWT(t, hdr("RS256"), `"claims"`, rs256), want: signature.ErrMalformedJWT},
		{name: "claims_json_null", token: craftRawJWT(t, hdr("RS256"), `null`, rs256), want: signature.ErrMalformedJWT},
		{name: "claims_trailing_data", token: craftRawJWT(t, hdr("RS256"), string(mustJSON(t, goodClaims()))+`{}`, rs256), want: signature.ErrMalformedJWT},
		{name: "claims_exp_string", token: craftJWT(t, hdr("RS256"), withClaims(func(c map[string]any) { c["exp"] = fmt.Sprint(testNow.Unix() + 60) }), rs256), want: signature.ErrMalformedJWT},
		{name: "claims_aud_number", token: craftJWT(t, hdr("RS256"), withClaims(func(c map[string]any) { c["aud"] = 7 }), rs256), want: signature.ErrMalformedJWT},
		{name: "claims_aud_mixed_array", token: craftJWT(t, hdr("RS256"), withClaims(func(c map[string]any) { c["aud"] = []any{testAudience, 7} }), rs256), want: signature.ErrMalformedJWT},
		{name: "claims_iss_number", token: craftJWT(t, hdr("RS256"), withClaims(func(c map[string]any) { c["iss"] = 1 }), rs256), want: signature.ErrMalformedJWT},
		{name: "claims_jti_object", token: craftJWT(t, hdr("RS256"), withClaims(func(c map[string]any) { c["jti"] = map[string]any{} }), rs256), want: signature.ErrMalformedJWT},
		{name: "alg_none", token: craftJWT(t, map[string]any{"alg": "none"}, goodClaims(), nil), want: signature.ErrJWTUnsupportedAlgorithm},
		{name: "alg_none_with_kid_and_signature", token: craftJWT(t, map[string]any{"alg": "none", "kid": "k1"}, goodClaims(), rs256), want: signature.ErrJWTUnsupportedAlgorithm},
		{name: "alg_hs256_keyed_with_public_pem", token: craftJWT(t, hdr("HS256"), goodClaims(), hs256(pemKey)), want: signature.ErrJWTUnsupportedAlgorithm},
		{name: "alg_hs256_keyed_with_public_der", token: craftJWT(t, hdr("HS256"), goodClaims(), hs256(der)), want: signature.ErrJWTUnsupportedAlgorithm},
		{name: "alg_hs256_keyed_with_jwks", token: craftJWT(t, hdr("HS256"), goodClaims(), hs256(jwksJSON)), want: signature.ErrJWTUnsupportedAlgorithm},
		{name: "alg_rs512", token: string(rs512), want: signature.ErrJWTUnsupportedAlgorithm},
		{name: "alg_ps256", token: string(ps256), want: signature.ErrJWTUnsupportedAlgorithm},
		{name: "alg_rs512_header_rs256_hash", token: craftJWT(t, hdr("RS512"), goodClaims(), rsSign(k.private, crypto.SHA512)), want: signature.ErrJWTUnsupportedAlgorithm},
		{name: "alg_es256", token: craftJWT(t, hdr("ES256"), goodClaims(), func([]byte) []byte { return make([]byte, 64) }), want: signature.ErrJWTUnsupportedAlgorithm},
		{name: "alg_lowercase", token: craftJWT(t, hdr("rs256"), goodClaims(), rs256), want: signature.ErrJWTUnsupportedAlgorithm},
		{name: "alg_trailing_space", token: craftJWT(t, hdr("RS256 "), goodClaims(), rs256), want: signature.ErrJWTUnsupportedAlgorithm},
		{name: "kid_missing", token: craftJWT(t, map[string]any{"alg": "RS256"}, goodClaims(), rs256), want: signature.ErrJWTMissingKeyID},
		{name: "kid_empty", token: craftJWT(t, map[string]any{"alg": "RS256", "kid": ""}, goodClaims(), rs256), want: signature.ErrJWTMissingKeyID},
		{name: "kid_unknown", token: sign(t, k.other, goodClaims()), want: signature.ErrJWTUnknownKeyID},
		{name: "kid_nil_key", token: good, keys: keySourceFunc(func(context.Context, string) (jwk.Key, error) { return nil, nil }), want: signature.ErrJWTUnknownKeyID},
		{name: "keys_unavailable", token: good, keys: keySourceFunc(func(context.Context, string) (jwk.Key, error) { return nil, errJWKS }), want: signature.ErrKeysUnavailable},
		{name: "key_is_ec", token: good, keys: signature.StaticKeys{"k1": ecJWK}, want: signature.ErrJWTUnusableKey},
		{name: "key_too_small", token: craftJWT(t, hdr("RS256"), goodClaims(), rsSign(k.weakPrivate, crypto.SHA256)), keys: signature.StaticKeys{"k1": weakJWK}, want: signature.ErrJWTUnusableKey},
		{name: "key_for_rs512", token: good, keys: signature.StaticKeys{"k1": rs512JWK}, want: signature.ErrJWTUnusableKey},
		{name: "key_for_encryption", token: good, keys: signature.StaticKeys{"k1": encJWK}, want: signature.ErrJWTUnusableKey},
		{name: "signed_by_other_key", token: craftJWT(t, hdr("RS256"), goodClaims(), rsSign(k.otherKey, crypto.SHA256)), want: signature.ErrJWTInvalidSignature},
		{name: "tampered_payload", token: seg[0] + "." + reencode(strings.Replace(string(mustDecode(t, seg[1])), "batch.succeeded", "batch.cancelled", 1)) + "." + seg[2], want: signature.ErrJWTInvalidSignature},
		{name: "tampered_header", token: reencode(`{"alg":"RS256","kid":"k1","typ":"at+jwt"}`) + "." + seg[1] + "." + seg[2], want: signature.ErrJWTInvalidSignature},
		{name: "signature_truncated", token: seg[0] + "." + seg[1] + "." + base64.RawURLEncoding.EncodeToString(mustDecode(t, seg[2])[:250]), want: signature.ErrJWTInvalidSignature},
		{name: "signature_non_canonical_base64", token: seg[0] + "." + seg[1] + "." + setPaddingBit(seg[2]), want: signature.ErrMalformedJWT},
		{name: "signature_empty", token: seg[0] + "." + seg[1] + ".", want: signature.ErrJWTInvalidSignature},
		{name: "signature_swapped", token: seg[0] + "." + seg[1] + "." + segments(sign(t, k.signer, withClaims(func(c map[string]any) { c["jti"] = "evt_2" })))[2], want: signature.ErrJWTInvalidSignature},
		{name: "expired", token: sign(t, k.signer, withClaims(func(c map[string]any) { c["exp"] = testNow.Add(-31 * time.Second) })), want: signature.ErrJWTExpired},
		{name: "expired_at_leeway_edge", token: sign(t, k.signer, withClaims(func(c map[string]any) { c["exp"] = testNow.Add(-30 * time.Second) })), want: signature.ErrJWTExpired},
		{name: "expired_at_epoch", token: sign(t, k.signer, withClaims(func(c map[string]any) { c["exp"] = 0 })), want: signature.ErrJWTExpired},
		{name: "expired_custom_leeway", token: sign(t, k.signer, withClaims(func(c map[string]any) { c["exp"] = testNow.Add(-5 * time.Second) })), opts: signature.Options{Leeway: 5 * time.Second}, want: signature.ErrJWTExpired},
		{name: "missing_exp", token: sign(t, k.signer, withClaims(func(c map[string]any) { delete(c, "exp") })), want: signature.ErrJWTMissingExpiration},
		{name: "not_yet_valid", token: sign(t, k.signer, withClaims(func(c map[string]any) { c["nbf"] = testNow.Add(31 * time.Second) })), want: signature.ErrJWTNotYetValid},
		{name: "issued_in_future", token: sign(t, k.signer, withClaims(func(c map[string]any) { c["iat"] = testNow.Add(31 * time.Second) })), want: signature.ErrJWTIssuedInFuture},
		{name: "wrong_audience", token: sign(t, k.signer, withClaims(func(c map[string]any) { c["aud"] = "https://evil.example.com" })), want: signature.ErrJWTInvalidAudience},
		{name: "audience_missing", token: sign(t, k.signer, withClaims(func(c map[string]any) { delete(c, "aud") })), want: signature.ErrJWTInvalidAudience},
		{name: "audience_array_without_ours", token: sign(t, k.signer, withClaims(func(c map[string]any) { c["aud"] = []string{"a", "b"} })), want: signature.ErrJWTInvalidAudience},
		{name: "audience_prefix_only", token: sign(t, k.signer, withClaims(func(c map[string]any) { c["aud"] = testAudience + "/x" })), want: signature.ErrJWTInvalidAudience},
		{name: "wrong_issuer", token: sign(t, k.signer, withClaims(func(c map[string]any) { c["iss"] = "https://accounts.example.com" })), want: signature.ErrJWTInvalidIssuer},
		{name: "issuer_missing", token: sign(t, k.signer, withClaims(func(c map[string]any) { delete(c, "iss") })), want: signature.ErrJWTInvalidIssuer},
		{name: "header_id_invalid", token: good, header: deliveryHeader("msg\x1b[31m", "", ""), want: signature.ErrInvalidID},
		{name: "header_id_too_long", token: good, header: deliveryHeader(strings.Repeat("x", 300), "", ""), want: signature.ErrIDTooLong},
		{name: "jti_invalid", token: sign(t, k.signer, withClaims(func(c map[string]any) { c["jti"] = "evt\u202e" })), want: signature.ErrInvalidID},
		{name: "timestamp_header_invalid", token: good, header: deliveryHeader("", "yesterday", ""), want: signature.ErrInvalidTimestamp},
		{name: "timestamp_header_too_old", token: good, header: deliveryHeader("", unix(testNow.Add(-time.Hour)), ""), want: signature.ErrTimestampTooOld},
		{name: "timestamp_header_too_new", token: good, header: deliveryHeader("", unix(testNow.Add(time.Hour)), ""), want: signature.ErrTimestampTooNew},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			opts := tc.opts
			opts.Audience, opts.Issuer = testAudience, testIssuer
			if tc.keys != nil {
				opts.Keys = tc.keys
			}
			var v *signature.Verifier
			if opts.Secrets != nil {
				v = newVerifier(t, opts)
			} else {
				v = jwtVerifier(t, opts)
			}
			h := tc.header.Clone()
			if h == nil {
				h = http.Header{}
			}
			h.Set(signature.HeaderSignature, tc.token)
			d, err := v.Verify(context.Background(), h, []byte(`{}`))
			if d != nil {
				t.Errorf("delivery = %+v, want nil", d)
			}
			assertCode(t, err, tc.want)
			if tc.want == signature.ErrKeysUnavailable && !errors.Is(err, errJWKS) {
				t.Errorf("err = %v, want it to wrap the key source's error", err)
			}
		})
	}
}

// TestVerifyJWT_claimsAsEncodingJSON checks that the claims handed back are
// exactly what encoding/json decodes from the verified payload: later
// duplicates win, escapes and surrogates are decoded, invalid UTF-8 becomes
// U+FFFD and numbers are float64.
func TestVerifyJWT_claimsAsEncodingJSON(t *testing.T) {
	t.Parallel()
	k := keys(t)
	base := string(mustJSON(t, goodClaims()))
	payload := base[:len(base)-1] + `,"jti":"evt_dup","esc":"\u00e9\ud83d\ude00\ud83d","raw":"h` + "\xff" + `i","n":[1.5e3,-0,null,true],"o":{"a":{}}}`
	tok := craftRawJWT(t, map[string]any{"alg": "RS256", "kid": "k1"}, payload, func(input []byte) []byte {
		digest := sha256.Sum256(input)
		sig, err := rsa.SignPKCS1v15(rand.Reader, k.private, crypto.SHA256, digest[:])
		if err != nil {
			t.Fatal(err)
		}
		return sig
	})
	var want map[string]any
	if err := json.Unmarshal([]byte(payload), &want); err != nil {
		t.Fatal(err)
	}
	if want["jti"] != "evt_dup" || want["raw"] != "h\ufffdi" {
		t.Fatalf("fixture decodes unexpectedly: %v", want)
	}
	v := jwtVerifier(t, signature.Options{Audience: testAudience, Issuer: testIssuer})
	h := http.Header{}
	h.Set(signature.HeaderSignature, tok)
	d, err := v.Verify(context.Background(), h, nil)
	if err != nil {
		t.Fatalf("Verify: %v", err)
	}
	if diff := cmp.Diff(want, d.Claims); diff != "" {
		t.Fatalf("claims differ from encoding/json (-want +got):\n%s", diff)
	}
	if d.ID != "evt_dup" {
		t.Fatalf("ID = %q, want the last jti", d.ID)
	}
}

// TestVerifyJWT_privateKeyInSource checks that a KeySource holding a
// private JWK (a local setup reading the signer's own key) verifies with its
// public half.
func TestVerifyJWT_privateKeyInSource(t *testing.T) {
	t.Parallel()
	k := keys(t)
	v := jwtVerifier(t, signature.Options{Keys: signature.StaticKeys{"k1": mustJWK(t, k.private, "k1", nil)}})
	h := http.Header{}
	h.Set(signature.HeaderSignature, sign(t, k.signer, goodClaims()))
	if _, err := v.Verify(context.Background(), h, nil); err != nil {
		t.Fatalf("Verify: %v", err)
	}
}

// TestVerifyJWT_keyChanges checks that a verification always uses the key
// the KeySource holds at that moment.
func TestVerifyJWT_keyChanges(t *testing.T) {
	t.Parallel()
	k := keys(t)
	ks := &mutableKeys{keys: map[string]jwk.Key{"k1": k.signer.PublicKey()}}
	v := jwtVerifier(t, signature.Options{Keys: ks})
	verify := func(tok string) error {
		h := http.Header{}
		h.Set(signature.HeaderSignature, tok)
		_, err := v.Verify(context.Background(), h, nil)
		return err
	}
	tok := sign(t, k.signer, goodClaims())
	if err := verify(tok); err != nil {
		t.Fatalf("first verify: %v", err)
	}
	// Same header, forged payload.
	seg := segments(tok)
	forged := seg[0] + "." + base64.RawURLEncoding.EncodeToString([]byte(`{"exp":9999999999,"iss":"`+testIssuer+`","aud":"`+testAudience+`"}`)) + "." + seg[2]
	assertCode(t, verify(forged), signature.ErrJWTInvalidSignature)

	// The JWKS now publishes another key under the same kid.
	reusedKid, err := signature.NewJWTSigner("k1", k.otherKey)
	if err != nil {
		t.Fatal(err)
	}
	ks.set("k1", reusedKid.PublicKey())
	assertCode(t, verify(tok), signature.ErrJWTInvalidSignature)
	if err := verify(sign(t, reusedKid, goodClaims())); err != nil {
		t.Fatalf("verify with the new key: %v", err)
	}

	// And then withdraws it.
	ks.set("k1", nil)
	assertCode(t, verify(tok), signature.ErrJWTUnknownKeyID)
}

// TestVerifyJWT_jwxAgreement checks the claim validation against jwx's
// jwt.Parse with equivalent options, over a grid of claim values around
// every boundary. Both must accept exactly the same tokens.
func TestVerifyJWT_jwxAgreement(t *testing.T) {
	t.Parallel()
	k := keys(t)
	const leeway = 30 * time.Second
	var times []any // nil means "absent"
	times = append(times, nil)
	for _, d := range []time.Duration{-time.Hour, -31 * time.Second, -30 * time.Second, -29 * time.Second, 0, 29 * time.Second, 30 * time.Second, 31 * time.Second} {
		times = append(times, testNow.Add(d).Unix())
	}
	dims := []struct {
		name   string
		values []any
	}{
		{"exp", times},
		{"nbf", times},
		{"iat", times},
		{"aud", []any{nil, testAudience, "other", []any{"other", testAudience}, []any{}}},
		{"iss", []any{nil, testIssuer, "other"}},
	}

	type checker struct {
		v       *signature.Verifier
		jwxOpts []jwt.ParseOption
	}
	var checkers []checker
	for _, configured := range []bool{true, false} {
		opts := signature.Options{Leeway: leeway}
		jwxOpts := []jwt.ParseOption{
			jwt.WithKey(jwa.RS256, &k.private.PublicKey),
			jwt.WithClock(jwt.ClockFunc(fixedNow)),
			jwt.WithAcceptableSkew(leeway),
			jwt.WithRequiredClaim("exp"),
		}
		if configured {
			opts.Audience, opts.Issuer = testAudience, testIssuer
			jwxOpts = append(jwxOpts, jwt.WithAudience(testAudience), jwt.WithIssuer(testIssuer))
		}
		checkers = append(checkers, checker{jwtVerifier(t, opts), jwxOpts})
	}

	// Vary one or two claims at a time from a valid base.
	checked, accepted := 0, 0
	for i, d1 := range dims {
		for j := i + 1; j < len(dims); j++ {
			d2 := dims[j]
			for _, x := range d1.values {
				for _, y := range d2.values {
					claims := goodClaims()
					for name, val := range map[string]any{d1.name: x, d2.name: y} {
						if val == nil {
							delete(claims, name)
						} else {
							claims[name] = val
						}
					}
					tok := sign(t, k.signer, claims)
					h := http.Header{}
					h.Set(signature.HeaderSignature, tok)
					for _, c := range checkers {
						_, ours := c.v.Verify(context.Background(), h, nil)
						_, theirs := jwt.ParseString(tok, c.jwxOpts...)
						if (ours == nil) != (theirs == nil) {
							t.Errorf("claims %v: ours = %v, jwx = %v", claims, ours, theirs)
						}
						checked++
						if ours == nil {
							accepted++
						}
					}
				}
			}
		}
	}
	// Guard against a grid that tests only one side.
	if accepted < checked/10 || accepted > checked*9/10 {
		t.Fatalf("%d of %d combinations accepted; the grid is lopsided", accepted, checked)
	}
}

// TestVerifyJWT_jwksFromHTTP serves the signer's JWKS over HTTP, loads it
// the way a JWKS client would, and verifies a token against it.
func TestVerifyJWT_jwksFromHTTP(t *testing.T) {
	t.Parallel()
	k := keys(t)
	jwksJSON, err := k.signer.PublicJWKS()
	if err != nil {
		t.Fatal(err)
	}
	srv := newJWKSServer(t, jwksJSON)
	set, err := jwk.Fetch(context.Background(), srv.URL+"/.well-known/jwks.json")
	if err != nil {
		t.Fatalf("jwk.Fetch: %v", err)
	}
	key, ok := set.LookupKeyID("k1")
	if !ok {
		t.Fatalf("fetched JWKS has no k1: %s", jwksJSON)
	}
	ks, err := signature.NewStaticKeys(key)
	if err != nil {
		t.Fatal(err)
	}
	v := jwtVerifier(t, signature.Options{Keys: ks, Audience: testAudience, Issuer: testIssuer})
	h := http.Header{}
	h.Set(signature.HeaderSignature, sign(t, k.signer, goodClaims()))
	d, err := v.Verify(context.Background(), h, nil)
	if err != nil {
		t.Fatalf("Verify: %v", err)
	}
	if d.KeyID != "k1" || d.ID != "evt_1" {
		t.Fatalf("delivery = %+v", d)
	}
}

func craftRawJWT(t testing.TB, header map[string]any, payload string, signFn func([]byte) []byte) string {
	t.Helper()
	input := base64.RawURLEncoding.EncodeToString(mustJSON(t, header)) + "." + base64.RawURLEncoding.EncodeToString([]byte(payload))
	return input + "." + base64.RawURLEncoding.EncodeToString(signFn([]byte(input)))
}

// setPaddingBit spells a base64url segment of 256 bytes non-canonically: its
// last character carries 2 data bits and 4 unused bits, one of which it sets.
func setPaddingBit(seg string) string {
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
	last := strings.IndexByte(alphabet, seg[len(seg)-1])
	return seg[:len(seg)-1] + string(alphabet[last|1])
}

func mustJSON(t testing.TB, v any) []byte {
	t.Helper()
	if m, ok := v.(map[string]any); ok {
		c := make(map[string]any, len(m))
		for k, x := range m {
			if tm, ok := x.(time.Time); ok {
				x = tm.Unix()
			}
			c[k] = x
		}
		v = c
	}
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func mustDecode(t testing.TB, seg string) []byte {
	t.Helper()
	b, err := base64.RawURLEncoding.DecodeString(seg)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func mustHeaders(t testing.TB, kid string) jws.Headers {
	t.Helper()
	h := jws.NewHeaders()
	if err := h.Set(jws.KeyIDKey, kid); err != nil {
		t.Fatal(err)
	}
	return h
}

func mustJWK(t testing.TB, raw any, kid string, extra map[string]any) jwk.Key {
	t.Helper()
	key, err := jwk.FromRaw(raw)
	if err != nil {
		t.Fatal(err)
	}
	if err := key.Set(jwk.KeyIDKey, kid); err != nil {
		t.Fatal(err)
	}
	for name, v := range extra {
		if err := key.Set(name, v); err != nil {
			t.Fatal(err)
		}
	}
	return key
}
