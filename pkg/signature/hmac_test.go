package signature_test

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"

	"github.com/geminihooks/geminihooks/pkg/signature"
)

func TestSignHMAC_specVector(t *testing.T) {
	t.Parallel()
	secret := mustSecret(t, "spec", specSecret)
	got := signature.SignHMAC(secret, specID, time.Unix(specTimestamp, 0), []byte(specPayload))
	if got != specSignature {
		t.Fatalf("SignHMAC = %s, want %s", got, specSignature)
	}
}

func TestVerify_specVector(t *testing.T) {
	t.Parallel()
	specTime := time.Unix(specTimestamp, 0)
	v := newVerifier(t, signature.Options{
		Secrets: signature.StaticSecrets{mustSecret(t, "spec", specSecret)},
		Now:     func() time.Time { return specTime.Add(time.Minute) },
	})
	h := deliveryHeader(specID, strconv.Itoa(specTimestamp), specSignature)

	got, err := v.Verify(context.Background(), h, []byte(specPayload))
	if err != nil {
		t.Fatalf("Verify: %v", err)
	}
	want := &signature.Delivery{ID: specID, Timestamp: specTime, Scheme: signature.SchemeHMAC, SecretLabel: "spec"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Fatalf("delivery mismatch (-want +got):\n%s", diff)
	}

	// The reference library's "invalid signature" and "partial signature"
	// cases.
	for _, sig := range []string{"v1,Ceo5qEr07ixe2NLpvHk3FH9bwy/WavXrAFQ/9tdO6mc=", "v1,"} {
		h.Set(signature.HeaderSignature, sig)
		if _, err := v.Verify(context.Background(), h, []byte(specPayload)); err == nil {
			t.Errorf("Verify accepted %q", sig)
		}
	}
}

// TestHMAC_crossCheckReference checks interoperability with the Standard
// Webhooks reference library in both directions, on random inputs.
func TestHMAC_crossCheckReference(t *testing.T) {
	t.Parallel()
	secret, raw := newSecret(t, "s")
	wh, err := standardwebhooks.NewWebhook(raw)
	if err != nil {
		t.Fatal(err)
	}
	// The reference library reads the wall clock, so sign for now.
	v, err := signature.NewVerifier(signature.Options{Secrets: signature.StaticSecrets{secret}})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 50 {
		body := make([]byte, i*37)
		rand.Read(body)
		id := fmt.Sprintf("msg_%d_%x", i, body[:min(len(body), 4)])
		ts := time.Now()

		ours := signature.SignHMAC(secret, id, ts, body)
		theirs, err := wh.Sign(id, ts, body)
		if err != nil {
			t.Fatal(err)
		}
		if ours != theirs {
			t.Fatalf("case %d: SignHMAC = %s, reference Sign = %s", i, ours, theirs)
		}
		h := deliveryHeader(id, unix(ts), ours)
		if err := wh.Verify(body, h); err != nil {
			t.Fatalf("case %d: reference rejects SignHMAC output: %v", i, err)
		}
		h.Set(signature.HeaderSignature, theirs)
		if _, err := v.Verify(context.Background(), h, body); err != nil {
			t.Fatalf("case %d: Verify rejects reference signature: %v", i, err)
		}
	}
}

func TestVerifyHMAC_accepts(t *testing.T) {
	t.Parallel()
	oldSecret, _ := newSecret(t, "old")
	newSecretValue, _ := newSecret(t, "new")
	unknown, _ := newSecret(t, "unknown")
	body := []byte(`{"type":"batch.succeeded","data":{"id":"batches/1"}}`)
	const id = "msg_1"
	sigOld := signature.SignHMAC(oldSecret, id, testNow, body)
	sigNew := signature.SignHMAC(newSecretValue, id, testNow, body)
	sigUnknown := signature.SignHMAC(unknown, id, testNow, body)
	junk := "v1," + base64.StdEncoding.EncodeToString(make([]byte, 32))

	cases := []struct {
		name      string
		sig       string
		ts        time.Time
		wantLabel string
	}{
		{name: "signed_by_old_secret", sig: sigOld, wantLabel: "old"},
		{name: "signed_by_new_secret", sig: sigNew, wantLabel: "new"},
		{name: "both_signatures", sig: sigNew + " " + sigOld, wantLabel: "old"},
		{name: "unknown_then_valid", sig: sigUnknown + " " + sigNew, wantLabel: "new"},
		{name: "other_versions_skipped", sig: "v1a,c2lnbmF0dXJl v2," + sigNew[3:] + " " + sigNew + " v1b,x", wantLabel: "new"},
		{name: "reference_multi_sig_case", sig: strings.Join([]string{junk, "v2," + junk[3:], sigOld, junk}, " "), wantLabel: "old"},
		{name: "extra_spaces", sig: "  " + sigUnknown + "   " + sigOld + " ", wantLabel: "old"},
		{name: "timestamp_at_old_edge", sig: signature.SignHMAC(oldSecret, id, testNow.Add(-5*time.Minute), body), ts: testNow.Add(-5 * time.Minute), wantLabel: "old"},
		{name: "timestamp_at_new_edge", sig: signature.SignHMAC(oldSecret, id, testNow.Add(5*time.Minute), body), ts: testNow.Add(5 * time.Minute), wantLabel: "old"},
	}
	v := newVerifier(t, signature.Options{Secrets: signature.StaticSecrets{oldSecret, newSecretValue}})
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ts := tc.ts
			if ts.IsZero() {
				ts = testNow
			}
			got, err := v.Verify(context.Background(), deliveryHeader(id, unix(ts), tc.sig), body)
			if err != nil {
				t.Fatalf("Verify: %v", err)
			}
			want := &signature.Delivery{ID: id, Timestamp: ts, Scheme: signature.SchemeHMAC, SecretLabel: tc.wantLabel}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Fatalf("delivery mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

func TestVerifyHMAC_signatureHeaderInSeveralLines(t *testing.T) {
	t.Parallel()
	secret, _ := newSecret(t, "s")
	other, _ := newSecret(t, "other")
	body := []byte("{}")
	h := deliveryHeader("msg_1", unix(testNow), "")
	h.Add(signature.HeaderSignature, signature.SignHMAC(other, "msg_1", testNow, body))
	h.Add(signature.HeaderSignature, signature.SignHMAC(secret, "msg_1", testNow, body))

	v := newVerifier(t, signature.Options{Secrets: signature.StaticSecrets{secret}})
	if _, err := v.Verify(context.Background(), h, body); err != nil {
		t.Fatalf("Verify: %v", err)
	}
}

func TestVerifyHMAC_rejects(t *testing.T) {
	t.Parallel()
	secret, _ := newSecret(t, "s")
	other, _ := newSecret(t, "other")
	body := []byte(`{"type":"batch.failed"}`)
	const id = "msg_1"
	ts := unix(testNow)
	good := signature.SignHMAC(secret, id, testNow, body)
	sum := func(s string) string { return "v1," + base64.StdEncoding.EncodeToString([]byte(s)) }
	// Set one of the two unused bits in the last base64 character: the same
	// 32 bytes, spelt non-canonically.
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
	last := strings.IndexByte(alphabet, good[len(good)-2])
	nonCanonical := good[:len(good)-2] + string(alphabet[last|1]) + "="
	var many []string
	for range 17 {
		many = append(many, good)
	}

	cases := []struct {
		name string
		id   string
		ts   string
		sig  string
		body string
		opts signature.Options
		want *signature.Error
	}{
		{name: "missing_signature", id: id, ts: ts, want: signature.ErrMissingSignature},
		{name: "blank_signature", id: id, ts: ts, sig: "   ", want: signature.ErrMissingSignature},
		{name: "only_v1a", id: id, ts: ts, sig: "v1a,c2lnbmF0dXJl", want: signature.ErrUnsupportedScheme},
		{name: "only_v2", id: id, ts: ts, sig: "v2," + good[3:], want: signature.ErrUnsupportedScheme},
		{name: "bearer_token", id: id, ts: ts, sig: "Bearer abc", want: signature.ErrUnsupportedScheme},
		{name: "github_style", id: id, ts: ts, sig: "sha256=0123abcd", want: signature.ErrUnsupportedScheme},
		{name: "jwt_without_key_source", id: id, ts: ts, sig: "eyJh.eyJi.c2ln", want: signature.ErrNoSigningKeys},
		{name: "jwt_with_space", id: id, ts: ts, sig: "eyJh.eyJi.c2ln eyJh.eyJi.c2ln", want: signature.ErrUnsupportedScheme},
		{name: "empty_v1", id: id, ts: ts, sig: "v1,", want: signature.ErrMalformedSignature},
		{name: "short_v1", id: id, ts: ts, sig: "v1,abc", want: signature.ErrMalformedSignature},
		{name: "v1_not_base64", id: id, ts: ts, sig: "v1," + strings.Repeat("!", 44), want: signature.ErrMalformedSignature},
		{name: "v1_url_alphabet", id: id, ts: ts, sig: "v1," + strings.Repeat("-", 43) + "=", want: signature.ErrMalformedSignature},
		{name: "v1_31_bytes", id: id, ts: ts, sig: sum(strings.Repeat("x", 31)), want: signature.ErrMalformedSignature},
		{name: "v1_33_bytes", id: id, ts: ts, sig: sum(strings.Repeat("x", 33)), want: signature.ErrMalformedSignature},
		{name: "v1_non_canonical", id: id, ts: ts, sig: nonCanonical, want: signature.ErrMalformedSignature},
		{name: "v1_extra_comma", id: id, ts: ts, sig: good + ",x", want: signature.ErrMalformedSignature},
		{name: "malformed_beside_valid", id: id, ts: ts, sig: good + " v1,abc", want: signature.ErrMalformedSignature},
		{name: "too_many_signatures", id: id, ts: ts, sig: strings.Join(many, " "), want: signature.ErrMalformedSignature},
		{name: "missing_id", ts: ts, sig: good, want: signature.ErrMissingID},
		{name: "blank_id", id: "   ", ts: ts, sig: good, want: signature.ErrInvalidID},
		{name: "id_with_newline", id: "msg\n1", ts: ts, sig: good, want: signature.ErrInvalidID},
		{name: "id_with_nul", id: "msg\x001", ts: ts, sig: good, want: signature.ErrInvalidID},
		{name: "id_with_del", id: "msg\x7f", ts: ts, sig: good, want: signature.ErrInvalidID},
		{name: "id_with_c1_control", id: "msg\u0085", ts: ts, sig: good, want: signature.ErrInvalidID},
		{name: "id_with_bidi_override", id: "msg\u202e1", ts: ts, sig: good, want: signature.ErrInvalidID},
		{name: "id_with_zero_width_space", id: "msg\u200b", ts: ts, sig: good, want: signature.ErrInvalidID},
		{name: "id_invalid_utf8", id: "msg\xff", ts: ts, sig: good, want: signature.ErrInvalidID},
		{name: "id_too_long", id: strings.Repeat("a", 257), ts: ts, sig: good, want: signature.ErrIDTooLong},
		{name: "id_over_custom_limit", id: "msg_12345", ts: ts, sig: good, opts: signature.Options{MaxIDLength: 8}, want: signature.ErrIDTooLong},
		{name: "missing_timestamp", id: id, sig: good, want: signature.ErrMissingTimestamp},
		{name: "timestamp_letters", id: id, ts: "soon", sig: good, want: signature.ErrInvalidTimestamp},
		{name: "timestamp_negative", id: id, ts: "-5", sig: good, want: signature.ErrInvalidTimestamp},
		{name: "timestamp_plus_sign", id: id, ts: "+" + ts, sig: good, want: signature.ErrInvalidTimestamp},
		{name: "timestamp_fraction", id: id, ts: ts + ".5", sig: good, want: signature.ErrInvalidTimestamp},
		{name: "timestamp_exponent", id: id, ts: "1.78e9", sig: good, want: signature.ErrInvalidTimestamp},
		{name: "timestamp_milliseconds_overflow", id: id, ts: "99999999999999999999", sig: good, want: signature.ErrInvalidTimestamp},
		{name: "timestamp_too_old", id: id, ts: unix(testNow.Add(-5*time.Minute - time.Second)), sig: good, want: signature.ErrTimestampTooOld},
		{name: "timestamp_zero", id: id, ts: "0", sig: good, want: signature.ErrTimestampTooOld},
		{name: "timestamp_too_new", id: id, ts: unix(testNow.Add(5*time.Minute + time.Second)), sig: good, want: signature.ErrTimestampTooNew},
		{name: "timestamp_in_milliseconds", id: id, ts: strconv.FormatInt(testNow.UnixMilli(), 10), sig: good, want: signature.ErrTimestampTooNew},
		{name: "timestamp_outside_custom_tolerance", id: id, ts: unix(testNow.Add(-31 * time.Second)), sig: good, opts: signature.Options{Tolerance: 30 * time.Second}, want: signature.ErrTimestampTooOld},
		{name: "wrong_secret", id: id, ts: ts, sig: signature.SignHMAC(other, id, testNow, body), want: signature.ErrSignatureMismatch},
		{name: "tampered_body", id: id, ts: ts, sig: good, body: `{"type":"batch.succeeded"}`, want: signature.ErrSignatureMismatch},
		{name: "tampered_id", id: "msg_2", ts: ts, sig: good, want: signature.ErrSignatureMismatch},
		{name: "tampered_timestamp", id: id, ts: unix(testNow.Add(time.Second)), sig: good, want: signature.ErrSignatureMismatch},
		{name: "timestamp_leading_zero", id: id, ts: "0" + ts, sig: good, want: signature.ErrSignatureMismatch},
		{name: "signature_for_other_version_tag", id: id, ts: ts, sig: "v1a," + good[3:] + " " + signature.SignHMAC(other, id, testNow, body), want: signature.ErrSignatureMismatch},
		{name: "no_secret_source", id: id, ts: ts, sig: good, opts: signature.Options{Keys: signature.StaticKeys{}}, want: signature.ErrNoSigningSecrets},
		{name: "empty_secret_source", id: id, ts: ts, sig: good, opts: signature.Options{Secrets: signature.StaticSecrets{}}, want: signature.ErrNoSigningSecrets},
		{name: "zero_secret_ignored", id: id, ts: ts, sig: good, opts: signature.Options{Secrets: signature.StaticSecrets{{Label: "zero"}}}, want: signature.ErrNoSigningSecrets},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			opts := tc.opts
			if opts.Secrets == nil && opts.Keys == nil {
				opts.Secrets = signature.StaticSecrets{secret}
			}
			b := body
			if tc.body != "" {
				b = []byte(tc.body)
			}
			v := newVerifier(t, opts)
			d, err := v.Verify(context.Background(), deliveryHeader(tc.id, tc.ts, tc.sig), b)
			if d != nil {
				t.Errorf("delivery = %+v, want nil", d)
			}
			assertCode(t, err, tc.want)
		})
	}
}

func TestVerifyHMAC_refresh(t *testing.T) {
	t.Parallel()
	oldSecret, _ := newSecret(t, "v1")
	rotated, _ := newSecret(t, "v2")
	body := []byte(`{}`)
	sigRotated := signature.SignHMAC(rotated, "msg_1", testNow, body)
	sigOld := signature.SignHMAC(oldSecret, "msg_1", testNow, body)
	errSM := errors.New("secret manager: deadline exceeded")

	cases := []struct {
		name          string
		src           *switchingSecrets
		sig           string
		wantLabel     string
		wantErr       *signature.Error
		wantRefreshes int
		wantTried     []string
	}{
		{
			name:          "match_needs_no_refresh",
			src:           &switchingSecrets{current: []signature.Secret{oldSecret}, next: []signature.Secret{rotated}},
			sig:           sigOld,
			wantLabel:     "v1",
			wantRefreshes: 0,
			wantTried:     []string{"v1"},
		},
		{
			name:          "refresh_finds_rotated_secret",
			src:           &switchingSecrets{current: []signature.Secret{oldSecret}, next: []signature.Secret{oldSecret, rotated}},
			sig:           sigRotated,
			wantLabel:     "v2",
			wantRefreshes: 1,
			wantTried:     []string{"v1", "v2"},
		},
		{
			name:          "refresh_from_empty",
			src:           &switchingSecrets{next: []signature.Secret{rotated}},
			sig:           sigRotated,
			wantLabel:     "v2",
			wantRefreshes: 1,
			wantTried:     []string{"v2"},
		},
		{
			name:          "unchanged_set_is_not_retried",
			src:           &switchingSecrets{current: []signature.Secret{oldSecret}, next: []signature.Secret{oldSecret}},
			sig:           sigRotated,
			wantErr:       signature.ErrSignatureMismatch,
			wantRefreshes: 1,
			wantTried:     []string{"v1"},
		},
		{
			name:          "refresh_fails",
			src:           &switchingSecrets{current: []signature.Secret{oldSecret}, refreshErr: errSM},
			sig:           sigRotated,
			wantErr:       signature.ErrSecretsUnavailable,
			wantRefreshes: 1,
			wantTried:     []string{"v1"},
		},
		{
			name:          "secrets_fail",
			src:           &switchingSecrets{secretsErr: errSM},
			sig:           sigOld,
			wantErr:       signature.ErrSecretsUnavailable,
			wantRefreshes: 0,
		},
		{
			name:          "both_sets_empty",
			src:           &switchingSecrets{},
			sig:           sigOld,
			wantErr:       signature.ErrNoSigningSecrets,
			wantRefreshes: 1,
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			v := newVerifier(t, signature.Options{Secrets: tc.src})
			h := deliveryHeader("msg_1", unix(testNow), tc.sig)

			rep := v.Explain(context.Background(), h, body)
			if got := tc.src.refreshCount(); got != tc.wantRefreshes {
				t.Errorf("refreshes = %d, want %d", got, tc.wantRefreshes)
			}
			if diff := cmp.Diff(tc.wantTried, rep.SecretsTried); diff != "" {
				t.Errorf("secrets tried (-want +got):\n%s", diff)
			}
			if tc.wantErr != nil {
				assertCode(t, rep.Err, tc.wantErr)
				if tc.wantErr == signature.ErrSecretsUnavailable && !errors.Is(rep.Err, errSM) {
					t.Errorf("err = %v, want it to wrap the source's error", rep.Err)
				}
				return
			}
			if rep.Err != nil {
				t.Fatalf("Explain: %v", rep.Err)
			}
			if rep.Delivery.SecretLabel != tc.wantLabel {
				t.Errorf("label = %q, want %q", rep.Delivery.SecretLabel, tc.wantLabel)
			}
		})
	}
}

// TestVerifyHMAC_concurrent exercises the pooled HMAC state from many
// goroutines with several secrets; run with -race.
func TestVerifyHMAC_concurrent(t *testing.T) {
	t.Parallel()
	var secrets signature.StaticSecrets
	for i := range 4 {
		s, _ := newSecret(t, fmt.Sprintf("s%d", i))
		secrets = append(secrets, s)
	}
	v := newVerifier(t, signature.Options{Secrets: secrets})
	errs := make(chan error, 64)
	for g := range 8 {
		go func() {
			for i := range 50 {
				s := secrets[(g+i)%len(secrets)]
				body := []byte(fmt.Sprintf(`{"g":%d,"i":%d}`, g, i))
				id := fmt.Sprintf("msg_%d_%d", g, i)
				h := deliveryHeader(id, unix(testNow), signature.SignHMAC(s, id, testNow, body))
				d, err := v.Verify(context.Background(), h, body)
				if err != nil {
					errs <- err
					return
				}
				if d.SecretLabel != s.Label {
					errs <- fmt.Errorf("label = %s, want %s", d.SecretLabel, s.Label)
					return
				}
				// A tampered copy must still fail with the state reused.
				if _, err := v.Verify(context.Background(), h, append(body, ' ')); !errors.Is(err, signature.ErrSignatureMismatch) {
					errs <- fmt.Errorf("tampered body: err = %v", err)
					return
				}
			}
			errs <- nil
		}()
	}
	for range 8 {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
}

// TestVerifyHMAC_allocations pins the hot path's allocation budget: the
// returned Delivery and nothing else.
func TestVerifyHMAC_allocations(t *testing.T) {
	if raceEnabled {
		t.Skip("allocation counts are meaningless under -race")
	}
	secret, _ := newSecret(t, "s")
	body := make([]byte, 1024)
	h := deliveryHeader("msg_1", unix(testNow), signature.SignHMAC(secret, "msg_1", testNow, body))
	v := newVerifier(t, signature.Options{Secrets: signature.StaticSecrets{secret}})
	ctx := context.Background()
	if _, err := v.Verify(ctx, h, body); err != nil {
		t.Fatal(err)
	}
	allocs := testing.AllocsPerRun(100, func() {
		if _, err := v.Verify(ctx, h, body); err != nil {
			t.Fatal(err)
		}
	})
	if allocs > 1 {
		t.Fatalf("Verify allocates %.1f times per call, want at most 1", allocs)
	}
}
