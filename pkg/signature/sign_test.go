package signature_test

import (
	"crypto/rsa"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/lestrrat-go/jwx/v2/jwa"
	"github.com/lestrrat-go/jwx/v2/jws"
	"github.com/lestrrat-go/jwx/v2/jwt"

	"github.com/geminihooks/geminihooks/pkg/signature"
)

func newJWKSServer(t *testing.T, jwks []byte) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/.well-known/jwks.json" {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.Write(jwks)
	}))
	t.Cleanup(srv.Close)
	return srv
}

func TestJWTSigner_tokenShape(t *testing.T) {
	t.Parallel()
	k := keys(t)
	tok := sign(t, k.signer, map[string]any{"exp": testNow, "sub": "x", "n": 7})

	msg, err := jws.ParseString(tok)
	if err != nil {
		t.Fatalf("jws.Parse: %v", err)
	}
	if len(msg.Signatures()) != 1 {
		t.Fatalf("signatures = %d, want 1", len(msg.Signatures()))
	}
	hdr := msg.Signatures()[0].ProtectedHeaders()
	got := map[string]any{"alg": hdr.Algorithm().String(), "kid": hdr.KeyID(), "typ": hdr.Type()}
	want := map[string]any{"alg": "RS256", "kid": k.signer.KeyID(), "typ": "JWT"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Fatalf("header (-want +got):\n%s", diff)
	}
	var claims map[string]any
	if err := json.Unmarshal(msg.Payload(), &claims); err != nil {
		t.Fatal(err)
	}
	wantClaims := map[string]any{"exp": float64(testNow.Unix()), "sub": "x", "n": float64(7)}
	if diff := cmp.Diff(wantClaims, claims); diff != "" {
		t.Fatalf("claims (-want +got):\n%s", diff)
	}
	// jwx, an independent implementation, accepts it with the public JWK.
	if _, err := jwt.ParseString(tok, jwt.WithKey(jwa.RS256, k.signer.PublicKey()), jwt.WithValidate(false)); err != nil {
		t.Fatalf("jwt.Parse rejects the token: %v", err)
	}
}

func TestJWTSigner_publicJWKS(t *testing.T) {
	t.Parallel()
	k := keys(t)
	b, err := k.signer.PublicJWKS()
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(b), `"d"`) || strings.Contains(string(b), `"p"`) {
		t.Fatalf("JWKS leaks private key material: %s", b)
	}
	ks, err := signature.ParseStaticKeys(b)
	if err != nil {
		t.Fatalf("ParseStaticKeys: %v", err)
	}
	if len(ks) != 1 || ks["k1"] == nil {
		t.Fatalf("keys = %v, want only k1", ks)
	}
	key := ks["k1"]
	got := map[string]string{"kty": key.KeyType().String(), "alg": key.Algorithm().String(), "use": key.KeyUsage()}
	want := map[string]string{"kty": "RSA", "alg": "RS256", "use": "sig"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Fatalf("JWK (-want +got):\n%s", diff)
	}
	var pub rsa.PublicKey
	if err := key.Raw(&pub); err != nil {
		t.Fatal(err)
	}
	if !pub.Equal(&k.private.PublicKey) {
		t.Fatal("JWKS holds a different public key")
	}
}

func TestNewJWTSigner_validates(t *testing.T) {
	t.Parallel()
	k := keys(t)
	cases := []struct {
		name string
		kid  string
		key  *rsa.PrivateKey
	}{
		{name: "empty_kid", kid: "", key: k.private},
		{name: "nil_key", kid: "k", key: nil},
		{name: "weak_key", kid: "k", key: k.weakPrivate},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			if s, err := signature.NewJWTSigner(tc.kid, tc.key); err == nil {
				t.Fatalf("NewJWTSigner = %v, want an error", s)
			}
		})
	}
}

func TestStaticKeys(t *testing.T) {
	t.Parallel()
	k := keys(t)
	if _, err := signature.NewStaticKeys(k.signer.PublicKey(), k.signer.PublicKey()); err == nil {
		t.Error("NewStaticKeys accepted a duplicate kid")
	}
	if _, err := signature.NewStaticKeys(mustJWK(t, &k.private.PublicKey, "", nil)); err == nil {
		t.Error("NewStaticKeys accepted a key without kid")
	}
	if _, err := signature.NewStaticKeys(nil); err == nil {
		t.Error("NewStaticKeys accepted a nil key")
	}
	if _, err := signature.ParseStaticKeys([]byte(`{"keys":[{"kty":"oops"}]}`)); err == nil {
		t.Error("ParseStaticKeys accepted an invalid JWKS")
	}
	ks, err := signature.NewStaticKeys(k.signer.PublicKey(), k.other.PublicKey())
	if err != nil {
		t.Fatal(err)
	}
	if got, err := ks.LookupKey(t.Context(), "k2"); err != nil || got.KeyID() != "k2" {
		t.Errorf("LookupKey(k2) = %v, %v", got, err)
	}
	if _, err := ks.LookupKey(t.Context(), "k3"); !errors.Is(err, signature.ErrKeyNotFound) {
		t.Errorf("LookupKey(k3) err = %v, want ErrKeyNotFound", err)
	}
}

func TestSignHMAC_verifies(t *testing.T) {
	t.Parallel()
	secret, _ := newSecret(t, "s")
	v := newVerifier(t, signature.Options{Secrets: signature.StaticSecrets{secret}})
	for _, body := range []string{"", "{}", strings.Repeat("é", 5000)} {
		ts := testNow.Add(-time.Minute)
		h := deliveryHeader("msg_x", unix(ts), signature.SignHMAC(secret, "msg_x", ts, []byte(body)))
		if _, err := v.Verify(t.Context(), h, []byte(body)); err != nil {
			t.Errorf("body of %d bytes: %v", len(body), err)
		}
	}
}

func TestWebhookClaims(t *testing.T) {
	t.Parallel()
	ts := time.Unix(1_700_000_000, 0)
	fixed := map[string]any{"iss": "https://iss", "aud": "https://aud", "jti": "msg_1", "iat": ts, "exp": ts.Add(5 * time.Minute)}
	tests := []struct {
		name string
		body string
		want map[string]any
	}{
		{name: "event_fields_carried", body: `{"type":"batch.succeeded","data":{"id":"batches/a"}}`, want: map[string]any{
			"type": "batch.succeeded", "data": map[string]any{"id": "batches/a"},
		}},
		{name: "body_cannot_override_fixed_claims", body: `{"iss":"evil","exp":1}`, want: map[string]any{}},
		{name: "non_object_body", body: `[1,2]`, want: map[string]any{}},
		{name: "null_body", body: `null`, want: map[string]any{}},
		{name: "empty_body", body: ``, want: map[string]any{}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			for k, v := range fixed {
				tc.want[k] = v
			}
			got := signature.WebhookClaims([]byte(tc.body), "https://iss", "https://aud", "msg_1", ts)
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("WebhookClaims() (-want +got):\n%s", diff)
			}
		})
	}
}
