package signature

import (
	"crypto/sha256"
	"encoding/base64"
	"strings"
	"testing"
)

// FuzzParseSignatureHeader checks parseSignatures on arbitrary headers: it
// never panics, it counts every entry exactly once, and every signature it
// returns is the canonical decoding of a "v1," entry of the header.
func FuzzParseSignatureHeader(f *testing.F) {
	for _, seed := range []string{
		"v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=",
		"v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE= v1a,c2lnbmF0dXJl v2,x",
		"v1,",
		"v1,,",
		" v1,abc  v1 ",
		"v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OF=",
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, header string) {
		var sigs [maxSignatures][sha256.Size]byte
		n, other, err := parseSignatures([]string{header}, &sigs)
		if n < 0 || n > maxSignatures || other < 0 {
			t.Fatalf("n = %d, other = %d", n, other)
		}
		var entries []string
		for _, e := range strings.Split(header, " ") {
			if e != "" {
				entries = append(entries, e)
			}
		}
		if err != nil {
			if err.Code != ErrMalformedSignature.Code || err.Kind != KindMalformed {
				t.Fatalf("unexpected error %v", err)
			}
			return
		}
		if n+other != len(entries) {
			t.Fatalf("n + other = %d + %d, but the header has %d entries", n, other, len(entries))
		}
		v1 := map[string]bool{}
		for _, e := range entries {
			if strings.HasPrefix(e, "v1,") {
				v1[e] = true
			}
		}
		for i := range n {
			entry := "v1," + base64.StdEncoding.EncodeToString(sigs[i][:])
			if !v1[entry] {
				t.Fatalf("signature %d (%s) is not an entry of %q", i, entry, header)
			}
		}
	})
}
