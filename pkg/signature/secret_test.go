package signature_test

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"log/slog"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/geminihooks/geminihooks/pkg/signature"
)

func TestParseSecret(t *testing.T) {
	t.Parallel()
	key := bytes.Repeat([]byte{0xa5}, 24)
	b64 := base64.StdEncoding.EncodeToString(key)
	cases := []struct {
		name    string
		in      string
		wantKey []byte
		wantErr bool
	}{
		{name: "with_prefix", in: "whsec_" + b64, wantKey: key},
		{name: "without_prefix", in: b64, wantKey: key},
		{name: "surrounding_space", in: "  whsec_" + b64 + "\n", wantKey: key},
		{name: "empty", in: "", wantErr: true},
		{name: "prefix_only", in: "whsec_", wantErr: true},
		{name: "not_base64", in: "whsec_not*base64!", wantErr: true},
		{name: "url_alphabet", in: "whsec_" + base64.URLEncoding.EncodeToString(bytes.Repeat([]byte{0xff}, 24)), wantErr: true},
		{name: "too_short", in: "whsec_" + base64.StdEncoding.EncodeToString(make([]byte, 15)), wantErr: true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s, err := signature.ParseSecret("label", tc.in)
			if tc.wantErr {
				if err == nil {
					t.Fatalf("ParseSecret(%q) = %v, want an error", tc.in, s)
				}
				if payload := strings.TrimPrefix(strings.TrimSpace(tc.in), "whsec_"); len(payload) >= 8 && strings.Contains(err.Error(), payload) {
					t.Fatalf("error %q echoes the secret", err)
				}
				if !strings.Contains(err.Error(), "label") {
					t.Fatalf("error %q does not name the label", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("ParseSecret: %v", err)
			}
			if diff := cmp.Diff(tc.wantKey, s.Key()); diff != "" {
				t.Fatalf("key (-want +got):\n%s", diff)
			}
		})
	}
}

func TestParseSecretList(t *testing.T) {
	t.Parallel()
	a, rawA := newSecret(t, "")
	b, rawB := newSecret(t, "")
	got, err := signature.ParseSecretList("WEBHOOK_SIGNING_SECRETS", rawA+", ,"+rawB+",")
	if err != nil {
		t.Fatalf("ParseSecretList: %v", err)
	}
	if len(got) != 2 || !got[0].Equal(a) || !got[1].Equal(b) {
		t.Fatalf("secrets = %v, want a and b", got)
	}
	if diff := cmp.Diff([]string{"WEBHOOK_SIGNING_SECRETS[0]", "WEBHOOK_SIGNING_SECRETS[2]"}, []string{got[0].Label, got[1].Label}); diff != "" {
		t.Fatalf("labels (-want +got):\n%s", diff)
	}

	got, err = signature.ParseSecretList("S", rawA+",whsec_bad!,"+rawB)
	if err == nil || !strings.Contains(err.Error(), "S[1]") {
		t.Fatalf("err = %v, want one naming S[1]", err)
	}
	if len(got) != 2 {
		t.Fatalf("kept %d valid secrets, want 2", len(got))
	}
}

func TestSecret_neverPrintsKey(t *testing.T) {
	t.Parallel()
	s, raw := newSecret(t, "projects/p/secrets/hook/versions/3")
	var logged bytes.Buffer
	slog.New(slog.NewJSONHandler(&logged, nil)).Info("loaded", slog.Any("secret", s))
	for _, out := range []string{
		fmt.Sprint(s), fmt.Sprintf("%v %+v %#v %s", s, s, s, s), logged.String(),
		fmt.Sprint(signature.StaticSecrets{s}),
	} {
		if strings.Contains(out, strings.TrimPrefix(raw, "whsec_")) || strings.Contains(out, string(s.Key())) {
			t.Errorf("output reveals the key: %s", out)
		}
		if !strings.Contains(out, s.Label) {
			t.Errorf("output %q lacks the label", out)
		}
	}
}

func TestSecret_copiesAndCompares(t *testing.T) {
	t.Parallel()
	key := bytes.Repeat([]byte{1}, 32)
	s := signature.NewSecret("k", key)
	key[0] = 2 // the Secret holds its own copy
	if s.Key()[0] != 1 {
		t.Fatal("NewSecret aliases its argument")
	}
	s.Key()[1] = 3 // and Key hands out a copy
	if s.Key()[1] != 1 {
		t.Fatal("Key exposes the internal bytes")
	}
	if !s.Equal(signature.NewSecret("other label", bytes.Repeat([]byte{1}, 32))) {
		t.Error("Equal compares labels, want keys only")
	}
	if s.Equal(signature.NewSecret("k", bytes.Repeat([]byte{9}, 32))) {
		t.Error("Equal ignores the key")
	}
	if s.IsZero() || !(signature.Secret{Label: "x"}).IsZero() {
		t.Error("IsZero is wrong")
	}
}

func TestGenerateSecret(t *testing.T) {
	t.Parallel()
	a, err := signature.GenerateSecret()
	if err != nil {
		t.Fatal(err)
	}
	b, err := signature.GenerateSecret()
	if err != nil {
		t.Fatal(err)
	}
	if a == b {
		t.Fatal("two generated secrets are equal")
	}
	s := mustSecret(t, "gen", a)
	if n := len(s.Key()); n != 32 {
		t.Fatalf("generated key has %d bytes, want 32", n)
	}
}
