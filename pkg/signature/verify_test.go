package signature_test

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/geminihooks/geminihooks/pkg/signature"
)

func TestNewVerifier_validates(t *testing.T) {
	t.Parallel()
	secrets := signature.StaticSecrets{}
	cases := []struct {
		name    string
		opts    signature.Options
		wantErr string
	}{
		{name: "nothing_to_verify_with", opts: signature.Options{}, wantErr: "neither Secrets nor Keys"},
		{name: "negative_tolerance", opts: signature.Options{Secrets: secrets, Tolerance: -time.Second}, wantErr: "Tolerance"},
		{name: "negative_leeway", opts: signature.Options{Secrets: secrets, Leeway: -time.Second}, wantErr: "Leeway"},
		{name: "negative_max_id_length", opts: signature.Options{Secrets: secrets, MaxIDLength: -1}, wantErr: "MaxIDLength"},
		{name: "secrets_only", opts: signature.Options{Secrets: secrets}},
		{name: "keys_only", opts: signature.Options{Keys: signature.StaticKeys{}}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			v, err := signature.NewVerifier(tc.opts)
			if tc.wantErr == "" {
				if err != nil || v == nil {
					t.Fatalf("NewVerifier = %v, %v; want a verifier", v, err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("err = %v, want it to mention %q", err, tc.wantErr)
			}
		})
	}
}

func TestVerify_headerNamesAreCaseInsensitive(t *testing.T) {
	t.Parallel()
	secret, _ := newSecret(t, "s")
	body := []byte("{}")
	h := http.Header{}
	h.Set("WEBHOOK-ID", "msg_1")
	h.Set("Webhook-Timestamp", unix(testNow))
	h.Set("webhook-SIGNATURE", signature.SignHMAC(secret, "msg_1", testNow, body))
	v := newVerifier(t, signature.Options{Secrets: signature.StaticSecrets{secret}})
	if _, err := v.Verify(context.Background(), h, body); err != nil {
		t.Fatalf("Verify: %v", err)
	}
}

func TestExplain(t *testing.T) {
	t.Parallel()
	a, _ := newSecret(t, "a")
	b, _ := newSecret(t, "b")
	stranger, _ := newSecret(t, "stranger")
	k := keys(t)
	body := []byte(`{"type":"batch.succeeded"}`)
	old := testNow.Add(-10 * time.Minute)
	expired := sign(t, k.signer, withClaims(func(c map[string]any) { c["exp"] = testNow.Add(-time.Hour) }))

	cases := []struct {
		name    string
		header  http.Header
		want    signature.Report
		wantErr *signature.Error
	}{
		{
			name:   "hmac_match_with_second_secret",
			header: deliveryHeader("msg_1", unix(testNow.Add(-3*time.Second)), "v1a,eA== "+signature.SignHMAC(stranger, "msg_1", testNow.Add(-3*time.Second), body)+" "+signature.SignHMAC(b, "msg_1", testNow.Add(-3*time.Second), body)),
			want: signature.Report{
				Scheme: signature.SchemeHMAC, ID: "msg_1", Timestamp: testNow.Add(-3 * time.Second), Skew: 3 * time.Second,
				Tolerance: 5 * time.Minute, Signatures: 2, OtherSignatures: 1, SecretsTried: []string{"a", "b"}, MatchedSecret: "b",
				Delivery: &signature.Delivery{ID: "msg_1", Timestamp: testNow.Add(-3 * time.Second), Scheme: signature.SchemeHMAC, SecretLabel: "b"},
			},
		},
		{
			name:   "hmac_right_secret_wrong_clock",
			header: deliveryHeader("msg_1", unix(old), signature.SignHMAC(a, "msg_1", old, body)),
			want: signature.Report{
				Scheme: signature.SchemeHMAC, ID: "msg_1", Timestamp: old, Skew: 10 * time.Minute,
				Tolerance: 5 * time.Minute, Signatures: 1, SecretsTried: []string{"a"}, MatchedSecret: "a",
			},
			wantErr: signature.ErrTimestampTooOld,
		},
		{
			name:   "hmac_wrong_secret_wrong_clock",
			header: deliveryHeader("msg_1", unix(old), signature.SignHMAC(stranger, "msg_1", old, body)),
			want: signature.Report{
				Scheme: signature.SchemeHMAC, ID: "msg_1", Timestamp: old, Skew: 10 * time.Minute,
				Tolerance: 5 * time.Minute, Signatures: 1, SecretsTried: []string{"a", "b"}, Refreshed: true,
			},
			wantErr: signature.ErrTimestampTooOld,
		},
		{
			name:   "hmac_wrong_secret",
			header: deliveryHeader("msg_1", unix(testNow), signature.SignHMAC(stranger, "msg_1", testNow, body)),
			want: signature.Report{
				Scheme: signature.SchemeHMAC, ID: "msg_1", Timestamp: testNow, Tolerance: 5 * time.Minute,
				Signatures: 1, SecretsTried: []string{"a", "b"}, Refreshed: true,
			},
			wantErr: signature.ErrSignatureMismatch,
		},
		{
			name:    "unsupported_scheme",
			header:  deliveryHeader("msg_1", unix(testNow), "v1a,eA== v2,eA=="),
			want:    signature.Report{Tolerance: 5 * time.Minute, OtherSignatures: 2},
			wantErr: signature.ErrUnsupportedScheme,
		},
		{
			name:   "jwt_expired_shows_claims",
			header: deliveryHeader("", "", expired),
			want: signature.Report{
				Scheme: signature.SchemeJWT, Tolerance: 5 * time.Minute, Algorithm: "RS256", KeyID: "k1",
				Claims: wantClaims(t, withClaims(func(c map[string]any) { c["exp"] = testNow.Add(-time.Hour) })),
			},
			wantErr: signature.ErrJWTExpired,
		},
		{
			name:    "jwt_alg_none",
			header:  deliveryHeader("", "", craftJWT(t, map[string]any{"alg": "none", "kid": "k1"}, goodClaims(), nil)),
			want:    signature.Report{Scheme: signature.SchemeJWT, Tolerance: 5 * time.Minute, Algorithm: "none"},
			wantErr: signature.ErrJWTUnsupportedAlgorithm,
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			v := jwtVerifier(t, signature.Options{Secrets: signature.StaticSecrets{a, b}, Audience: testAudience, Issuer: testIssuer})
			got := v.Explain(context.Background(), tc.header, body)
			if tc.wantErr != nil {
				assertCode(t, got.Err, tc.wantErr)
			} else if got.Err != nil {
				t.Fatalf("Err = %v", got.Err)
			}
			if diff := cmp.Diff(tc.want, got, cmpopts.IgnoreFields(signature.Report{}, "Err")); diff != "" {
				t.Fatalf("report mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

// TestExplain_agreesWithVerify runs a mixed corpus through both entry points.
func TestExplain_agreesWithVerify(t *testing.T) {
	t.Parallel()
	for _, tc := range leakCorpus(t) {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			d, err := tc.v.Verify(context.Background(), tc.header, tc.body)
			rep := tc.v.Explain(context.Background(), tc.header, tc.body)
			if !errors.Is(rep.Err, err) {
				t.Fatalf("Verify err = %v, Explain err = %v", err, rep.Err)
			}
			if diff := cmp.Diff(d, rep.Delivery); diff != "" {
				t.Fatalf("delivery (-Verify +Explain):\n%s", diff)
			}
		})
	}
}

type leakCase struct {
	name   string
	v      *signature.Verifier
	header http.Header
	body   []byte
	// secrets are strings that must never appear in an error or report.
	secrets []string
}

// leakCorpus builds requests that fail (and a few that pass) along every
// path, each with the credentials it carries.
func leakCorpus(t *testing.T) []leakCase {
	t.Helper()
	secret, raw := newSecret(t, "configured")
	stranger, strangerRaw := newSecret(t, "stranger")
	k := keys(t)
	body := []byte(`{"type":"batch.succeeded","data":{"id":"batches/9"}}`)
	hmacV := newVerifier(t, signature.Options{Secrets: signature.StaticSecrets{secret}})
	failingV := newVerifier(t, signature.Options{Secrets: &switchingSecrets{secretsErr: errors.New("secret manager: permission denied")}})
	jwtV := jwtVerifier(t, signature.Options{Audience: testAudience, Issuer: testIssuer})

	mac := func(s signature.Secret, id, ts string, b []byte) string {
		m := hmac.New(sha256.New, s.Key())
		fmt.Fprintf(m, "%s.%s.", id, ts)
		m.Write(b)
		return base64.StdEncoding.EncodeToString(m.Sum(nil))
	}
	credentials := func(extra ...string) []string {
		out := []string{raw, strings.TrimPrefix(raw, "whsec_"), string(secret.Key()), strangerRaw, strings.TrimPrefix(strangerRaw, "whsec_")}
		return append(out, extra...)
	}
	ts := unix(testNow)
	good := signature.SignHMAC(secret, "msg_1", testNow, body)
	wrong := signature.SignHMAC(stranger, "msg_1", testNow, body)
	expected := mac(secret, "msg_1", ts, append(body, '!'))

	var cases []leakCase
	addHMAC := func(name string, v *signature.Verifier, h http.Header, b []byte, extra ...string) {
		cases = append(cases, leakCase{name: name, v: v, header: h, body: b, secrets: credentials(extra...)})
	}
	addHMAC("hmac_ok", hmacV, deliveryHeader("msg_1", ts, good), body, good[3:])
	addHMAC("hmac_wrong_secret", hmacV, deliveryHeader("msg_1", ts, wrong), body, wrong[3:], good[3:])
	addHMAC("hmac_tampered_body", hmacV, deliveryHeader("msg_1", ts, good), append(body, '!'), good[3:], expected)
	addHMAC("hmac_partial_signature", hmacV, deliveryHeader("msg_1", ts, "v1,"+good[3:30]), body, good[3:30])
	addHMAC("hmac_secret_pasted_as_signature", hmacV, deliveryHeader("msg_1", ts, raw), body)
	addHMAC("hmac_secret_pasted_as_v1", hmacV, deliveryHeader("msg_1", ts, "v1,"+strings.TrimPrefix(raw, "whsec_")), body)
	addHMAC("hmac_too_old", hmacV, deliveryHeader("msg_1", unix(testNow.Add(-time.Hour)), good), body, good[3:])
	addHMAC("hmac_source_fails", failingV, deliveryHeader("msg_1", ts, good), body, good[3:])
	addHMAC("hmac_bad_id", hmacV, deliveryHeader("msg\x00", ts, good), body, good[3:])

	addJWT := func(name string, tok string, h http.Header) {
		if h == nil {
			h = http.Header{}
		}
		h.Set(signature.HeaderSignature, tok)
		seg := segments(tok)
		cases = append(cases, leakCase{name: name, v: jwtV, header: h, body: body, secrets: credentials(tok, seg[1], seg[2])})
	}
	addJWT("jwt_ok", sign(t, k.signer, goodClaims()), nil)
	addJWT("jwt_expired", sign(t, k.signer, withClaims(func(c map[string]any) { c["exp"] = testNow.Add(-time.Hour) })), nil)
	addJWT("jwt_wrong_audience", sign(t, k.signer, withClaims(func(c map[string]any) { c["aud"] = "x" })), nil)
	addJWT("jwt_unknown_kid", sign(t, k.other, goodClaims()), nil)
	addJWT("jwt_bad_signature", segments(sign(t, k.signer, goodClaims()))[0]+"."+segments(sign(t, k.signer, goodClaims()))[1]+"."+segments(sign(t, k.other, goodClaims()))[2], nil)
	addJWT("jwt_alg_none", craftJWT(t, map[string]any{"alg": "none"}, goodClaims(), nil)+"c2lnbmF0dXJlc2lnbmF0dXJl", nil)
	addJWT("jwt_too_old_header", sign(t, k.signer, goodClaims()), deliveryHeader("", unix(testNow.Add(-time.Hour)), ""))
	return cases
}

// TestErrorsNeverLeakCredentials formats every error and report the
// verifier produces and looks for secrets, signatures and tokens in them.
func TestErrorsNeverLeakCredentials(t *testing.T) {
	t.Parallel()
	for _, tc := range leakCorpus(t) {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, err := tc.v.Verify(context.Background(), tc.header, tc.body)
			rep := tc.v.Explain(context.Background(), tc.header, tc.body)
			var outputs []string
			if err != nil {
				outputs = append(outputs, err.Error(), fmt.Sprintf("%+v", err), fmt.Sprintf("%#v", err))
			}
			outputs = append(outputs, fmt.Sprintf("%+v", rep), fmt.Sprintf("%#v", rep))
			for _, out := range outputs {
				for _, s := range tc.secrets {
					if len(s) >= 8 && strings.Contains(out, s) {
						t.Errorf("output leaks a credential (%d bytes): %s", len(s), out)
					}
				}
			}
		})
	}
}
