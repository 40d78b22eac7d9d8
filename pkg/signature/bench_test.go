package signature_test

import (
	"context"
	"crypto"
	"crypto/hmac"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"

	"github.com/geminihooks/geminihooks/pkg/signature"
)

// The benchmarks come in pairs whose ratio is a performance goal:
//
//	VerifyHMAC1K / ReferenceVerifyHMAC1K <= 1.0
//	VerifyHMAC64K / RawHMAC64K           <= 1.1
//	VerifyJWT / RawRSAVerify             <= 1.3
//
// Each pair runs on the same input.

const benchSecret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"

// hmacBenchInput returns a delivery signed now (the reference library always
// uses the wall clock) with a body of the given size.
func hmacBenchInput(b *testing.B, size int) (signature.Secret, http.Header, []byte) {
	b.Helper()
	secret, err := signature.ParseSecret("bench", benchSecret)
	if err != nil {
		b.Fatal(err)
	}
	body := []byte(`{"type":"batch.succeeded","version":"v1","data":{"id":"batches/123","pad":"` +
		strings.Repeat("x", size) + `"}}`)[:size]
	body[size-1] = '}'
	id := "msg_p5jXN8AQM9LWM0D4loKWxJek"
	ts := time.Now()
	h := http.Header{}
	h.Set(signature.HeaderID, id)
	h.Set(signature.HeaderTimestamp, strconv.FormatInt(ts.Unix(), 10))
	h.Set(signature.HeaderSignature, signature.SignHMAC(secret, id, ts, body))
	return secret, h, body
}

func benchmarkVerifyHMAC(b *testing.B, size int) {
	secret, h, body := hmacBenchInput(b, size)
	v, err := signature.NewVerifier(signature.Options{Secrets: signature.StaticSecrets{secret}})
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	b.SetBytes(int64(size))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := v.Verify(ctx, h, body); err != nil {
			b.Fatal(err)
		}
	}
}

// Pairs are declared next to each other so that they run back to back.

func BenchmarkVerifyHMAC1K(b *testing.B) { benchmarkVerifyHMAC(b, 1<<10) }

// BenchmarkReferenceVerifyHMAC1K runs the Standard Webhooks reference
// library (same secret, input and 5-minute tolerance).
func BenchmarkReferenceVerifyHMAC1K(b *testing.B) {
	_, h, body := hmacBenchInput(b, 1<<10)
	wh, err := standardwebhooks.NewWebhook(benchSecret)
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		if err := wh.Verify(body, h); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkVerifyHMAC64K(b *testing.B) { benchmarkVerifyHMAC(b, 64<<10) }

// BenchmarkRawHMAC64K is the floor for BenchmarkVerifyHMAC64K: one HMAC of
// id.timestamp.body and a constant-time compare, with the signature decoded
// beforehand.
func BenchmarkRawHMAC64K(b *testing.B) {
	secret, h, body := hmacBenchInput(b, 64<<10)
	prefix := []byte(h.Get(signature.HeaderID) + "." + h.Get(signature.HeaderTimestamp) + ".")
	want, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(h.Get(signature.HeaderSignature), "v1,"))
	if err != nil {
		b.Fatal(err)
	}
	key := secret.Key()
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		m := hmac.New(sha256.New, key)
		m.Write(prefix)
		m.Write(body)
		if !hmac.Equal(m.Sum(nil), want) {
			b.Fatal("mismatch")
		}
	}
}

// jwtFixture is a token shaped like a Gemini dynamic delivery and a
// verifier that accepts it. It is built once so that both JWT benchmarks use
// the same key and token.
type jwtFixture struct {
	v      *signature.Verifier
	signer *signature.JWTSigner
	header http.Header
	token  string
}

var loadJWTFixture = sync.OnceValues(func() (*jwtFixture, error) {
	key, err := signature.GenerateRSAKey()
	if err != nil {
		return nil, err
	}
	signer, err := signature.NewJWTSigner("bench-key", key)
	if err != nil {
		return nil, err
	}
	keys, err := signature.NewStaticKeys(signer.PublicKey())
	if err != nil {
		return nil, err
	}
	now := time.Unix(1_780_000_000, 0)
	tok, err := signer.Sign(map[string]any{
		"iss":  "https://generativelanguage.googleapis.com",
		"aud":  "https://hooks.example.com/gemini",
		"iat":  now,
		"exp":  now.Add(5 * time.Minute),
		"jti":  "evt_7ZJ4n1wQ0bYkQ2",
		"type": "batch.succeeded",
		"data": map[string]any{"id": "batches/123456"},
	})
	if err != nil {
		return nil, err
	}
	v, err := signature.NewVerifier(signature.Options{
		Keys:     keys,
		Audience: "https://hooks.example.com/gemini",
		Issuer:   "https://generativelanguage.googleapis.com",
		Now:      func() time.Time { return now },
	})
	if err != nil {
		return nil, err
	}
	h := http.Header{}
	h.Set(signature.HeaderID, "evt_7ZJ4n1wQ0bYkQ2")
	h.Set(signature.HeaderTimestamp, strconv.FormatInt(now.Unix(), 10))
	h.Set(signature.HeaderSignature, tok)
	return &jwtFixture{v: v, signer: signer, header: h, token: tok}, nil
})

func jwtBenchInput(b *testing.B) *jwtFixture {
	b.Helper()
	f, err := loadJWTFixture()
	if err != nil {
		b.Fatal(err)
	}
	return f
}

func BenchmarkVerifyJWT(b *testing.B) {
	f := jwtBenchInput(b)
	body := []byte(`{"type":"batch.succeeded","version":"v1","data":{"id":"batches/123456"}}`)
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := f.v.Verify(ctx, f.header, body); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkRawRSAVerify is the floor for BenchmarkVerifyJWT: SHA-256 of the
// same token's signing input and rsa.VerifyPKCS1v15, with the token split
// and the signature decoded beforehand.
func BenchmarkRawRSAVerify(b *testing.B) {
	f := jwtBenchInput(b)
	dot := strings.LastIndexByte(f.token, '.')
	input := []byte(f.token[:dot])
	sig, err := base64.RawURLEncoding.DecodeString(f.token[dot+1:])
	if err != nil {
		b.Fatal(err)
	}
	var pub rsa.PublicKey
	if err := f.signer.PublicKey().Raw(&pub); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		digest := sha256.Sum256(input)
		if err := rsa.VerifyPKCS1v15(&pub, crypto.SHA256, digest[:], sig); err != nil {
			b.Fatal(err)
		}
	}
}
