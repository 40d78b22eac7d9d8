package signature_test

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/geminihooks/geminihooks/pkg/signature"
)

// testNow is the verifiers' clock in tests that do not involve the
// reference library (which always reads the wall clock).
var testNow = time.Unix(1_780_000_000, 0)

func fixedNow() time.Time { return testNow }

// Standard Webhooks test vector, from the reference library's webhook_test.go.
const (
	specSecret    = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
	specID        = "msg_p5jXN8AQM9LWM0D4loKWxJek"
	specTimestamp = 1614265330
	specPayload   = `{"test": 2432232314}`
	specSignature = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
)

func mustSecret(t testing.TB, label, s string) signature.Secret {
	t.Helper()
	secret, err := signature.ParseSecret(label, s)
	if err != nil {
		t.Fatalf("ParseSecret(%s): %v", label, err)
	}
	return secret
}

// newSecret returns a fresh random secret and its "whsec_" form.
func newSecret(t testing.TB, label string) (signature.Secret, string) {
	t.Helper()
	s, err := signature.GenerateSecret()
	if err != nil {
		t.Fatal(err)
	}
	return mustSecret(t, label, s), s
}

// deliveryHeader builds the three Standard Webhooks headers; empty values
// are left out.
func deliveryHeader(id, ts, sig string) http.Header {
	h := http.Header{}
	if id != "" {
		h.Set(signature.HeaderID, id)
	}
	if ts != "" {
		h.Set(signature.HeaderTimestamp, ts)
	}
	if sig != "" {
		h.Set(signature.HeaderSignature, sig)
	}
	return h
}

func unix(t time.Time) string { return strconv.FormatInt(t.Unix(), 10) }

func newVerifier(t testing.TB, opts signature.Options) *signature.Verifier {
	t.Helper()
	if opts.Now == nil {
		opts.Now = fixedNow
	}
	v, err := signature.NewVerifier(opts)
	if err != nil {
		t.Fatalf("NewVerifier: %v", err)
	}
	return v
}

// assertCode fails unless err is a *signature.Error matching want by code
// (errors.Is) and kind.
func assertCode(t testing.TB, err error, want *signature.Error) {
	t.Helper()
	if err == nil {
		t.Fatalf("err = nil, want %s", want.Code)
	}
	var e *signature.Error
	if !errors.As(err, &e) {
		t.Fatalf("err = %v (%T), want a *signature.Error", err, err)
	}
	if !errors.Is(err, want) || e.Code != want.Code {
		t.Fatalf("code = %s (%v), want %s", e.Code, err, want.Code)
	}
	if e.Kind != want.Kind {
		t.Fatalf("kind = %v, want %v", e.Kind, want.Kind)
	}
	if e.Message == "" {
		t.Fatalf("%s has an empty message", e.Code)
	}
}

// switchingSecrets is a SecretSource whose Refresh moves from one set to
// another, like a Secret Manager source after a rotation.
type switchingSecrets struct {
	mu         sync.Mutex
	current    []signature.Secret
	next       []signature.Secret
	secretsErr error
	refreshErr error
	refreshes  int
}

var _ signature.SecretSource = (*switchingSecrets)(nil)

func (s *switchingSecrets) Secrets(context.Context) ([]signature.Secret, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.secretsErr != nil {
		return nil, s.secretsErr
	}
	return s.current, nil
}

func (s *switchingSecrets) Refresh(context.Context) ([]signature.Secret, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.refreshes++
	if s.refreshErr != nil {
		return nil, s.refreshErr
	}
	s.current = s.next
	return s.current, nil
}

func (s *switchingSecrets) refreshCount() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.refreshes
}

// testKeys holds RSA keys shared by the JWT tests; generating them is slow.
type testKeys struct {
	signer      *signature.JWTSigner // kid "k1"
	other       *signature.JWTSigner // kid "k2", not published
	private     *rsa.PrivateKey      // signer's key
	otherKey    *rsa.PrivateKey
	weakPrivate *rsa.PrivateKey // 1024 bits
}

var loadTestKeys = sync.OnceValues(func() (*testKeys, error) {
	k1, err := signature.GenerateRSAKey()
	if err != nil {
		return nil, err
	}
	k2, err := signature.GenerateRSAKey()
	if err != nil {
		return nil, err
	}
	weak, err := rsa.GenerateKey(rand.Reader, 1024)
	if err != nil {
		return nil, err
	}
	s1, err := signature.NewJWTSigner("k1", k1)
	if err != nil {
		return nil, err
	}
	s2, err := signature.NewJWTSigner("k2", k2)
	if err != nil {
		return nil, err
	}
	return &testKeys{signer: s1, other: s2, private: k1, otherKey: k2, weakPrivate: weak}, nil
})

func keys(t testing.TB) *testKeys {
	t.Helper()
	k, err := loadTestKeys()
	if err != nil {
		t.Fatalf("failed to generate test keys: %v", err)
	}
	return k
}

// Claims of a well-formed Gemini-like token at testNow.
const (
	testIssuer   = "https://generativelanguage.googleapis.com"
	testAudience = "https://hooks.example.com/gemini"
)

func goodClaims() map[string]any {
	return map[string]any{
		"iss":  testIssuer,
		"aud":  testAudience,
		"iat":  testNow.Add(-10 * time.Second),
		"exp":  testNow.Add(5 * time.Minute),
		"jti":  "evt_1",
		"type": "batch.succeeded",
	}
}

func sign(t testing.TB, s *signature.JWTSigner, claims map[string]any) string {
	t.Helper()
	tok, err := s.Sign(claims)
	if err != nil {
		t.Fatalf("Sign: %v", err)
	}
	return tok
}

// craftJWT assembles a compact JWS from a header, claims and a signing
// function, for tokens no honest signer would produce.
func craftJWT(t testing.TB, header, claims map[string]any, signFn func(input []byte) []byte) string {
	t.Helper()
	enc := func(v any) string {
		b, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		return base64.RawURLEncoding.EncodeToString(b)
	}
	c := make(map[string]any, len(claims))
	for k, v := range claims {
		if tm, ok := v.(time.Time); ok {
			v = tm.Unix()
		}
		c[k] = v
	}
	input := enc(header) + "." + enc(c)
	var sig []byte
	if signFn != nil {
		sig = signFn([]byte(input))
	}
	return input + "." + base64.RawURLEncoding.EncodeToString(sig)
}

// jwtVerifier accepts tokens from keys(t).signer, with audience and issuer
// checks on.
func jwtVerifier(t testing.TB, opts signature.Options) *signature.Verifier {
	t.Helper()
	if opts.Keys == nil {
		ks, err := signature.NewStaticKeys(keys(t).signer.PublicKey())
		if err != nil {
			t.Fatal(err)
		}
		opts.Keys = ks
	}
	return newVerifier(t, opts)
}

// segments splits a compact JWS.
func segments(tok string) []string { return strings.Split(tok, ".") }
