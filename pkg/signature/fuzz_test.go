package signature_test

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/lestrrat-go/jwx/v2/jwa"
	"github.com/lestrrat-go/jwx/v2/jwt"

	"github.com/geminihooks/geminihooks/pkg/signature"
)

// checkFailure fails unless err is a well-formed *signature.Error.
func checkFailure(t *testing.T, err error) {
	t.Helper()
	var e *signature.Error
	if !errors.As(err, &e) {
		t.Fatalf("err = %v (%T), want a *signature.Error", err, err)
	}
	if e.Code == "" || e.Message == "" || e.Kind < signature.KindMalformed || e.Kind > signature.KindUnavailable {
		t.Fatalf("ill-formed error %#v", e)
	}
}

// FuzzVerify feeds arbitrary HMAC deliveries to a verifier holding the
// Standard Webhooks test secret. It must never panic, and it may accept a
// delivery only if the header holds the correct v1 signature of exactly
// "{id}.{timestamp}.{body}".
func FuzzVerify(f *testing.F) {
	f.Add(specID, strconv.Itoa(specTimestamp), specSignature, []byte(specPayload))
	f.Add(specID, strconv.Itoa(specTimestamp), "v1a,x "+specSignature, []byte(specPayload))
	f.Add(specID, strconv.Itoa(specTimestamp+1), specSignature, []byte(specPayload))
	f.Add("msg_1", "0", "v1,", []byte{})

	secret := mustSecret(f, "spec", specSecret)
	v := newVerifier(f, signature.Options{
		Secrets: signature.StaticSecrets{secret},
		Now:     func() time.Time { return time.Unix(specTimestamp, 0) },
	})
	f.Fuzz(func(t *testing.T, id, ts, sig string, body []byte) {
		h := http.Header{
			"Webhook-Id":        {id},
			"Webhook-Timestamp": {ts},
			"Webhook-Signature": {sig},
		}
		d, err := v.Verify(context.Background(), h, body)
		if err != nil {
			checkFailure(t, err)
			return
		}
		m := hmac.New(sha256.New, secret.Key())
		m.Write([]byte(id + "." + ts + "."))
		m.Write(body)
		want := "v1," + base64.StdEncoding.EncodeToString(m.Sum(nil))
		if !containsEntry(sig, want) {
			t.Fatalf("accepted id=%q ts=%q sig=%q body=%q without a valid signature", id, ts, sig, body)
		}
		if d.ID != id || d.Scheme != signature.SchemeHMAC {
			t.Fatalf("delivery = %+v", d)
		}
	})
}

func containsEntry(header, entry string) bool {
	for _, e := range strings.Split(header, " ") {
		if e == entry {
			return true
		}
	}
	return false
}

// FuzzVerifyJWT feeds arbitrary tokens to a JWT verifier. It must never
// panic; it may accept only the one token the test signed (any change to
// a signed token must break it), and jwx must agree with every acceptance.
func FuzzVerifyJWT(f *testing.F) {
	k := keys(f)
	valid := sign(f, k.signer, goodClaims())
	seg := segments(valid)
	f.Add(valid)
	f.Add(seg[0] + "." + seg[1] + ".")
	f.Add(craftJWT(f, map[string]any{"alg": "none", "kid": "k1"}, goodClaims(), nil))
	f.Add(craftJWT(f, map[string]any{"alg": "HS256", "kid": "k1"}, goodClaims(), func(b []byte) []byte {
		m := hmac.New(sha256.New, []byte("public key bytes"))
		m.Write(b)
		return m.Sum(nil)
	}))

	v := jwtVerifier(f, signature.Options{Audience: testAudience, Issuer: testIssuer})
	f.Fuzz(func(t *testing.T, token string) {
		h := http.Header{"Webhook-Signature": {token}}
		d, err := v.Verify(context.Background(), h, nil)
		if err != nil {
			checkFailure(t, err)
			return
		}
		if strings.TrimSpace(token) != valid {
			t.Fatalf("accepted a token that was never signed: %q", token)
		}
		if _, err := jwt.ParseString(strings.TrimSpace(token),
			jwt.WithKey(jwa.RS256, k.signer.PublicKey()),
			jwt.WithClock(jwt.ClockFunc(fixedNow)),
			jwt.WithAudience(testAudience), jwt.WithIssuer(testIssuer)); err != nil {
			t.Fatalf("accepted a token jwx rejects (%v)", err)
		}
		if d.Scheme != signature.SchemeJWT || d.KeyID != "k1" {
			t.Fatalf("delivery = %+v", d)
		}
	})
}
