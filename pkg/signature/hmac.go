package signature

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"hash"
	"net/http"
	"strings"
	"sync"
)

const (
	// maxSignatures bounds the v1 entries read from one header; rotation
	// needs two or three.
	maxSignatures = 16
	// v1Length is the length of a v1 signature value: standard base64, with
	// padding, of a 32-byte HMAC-SHA256.
	v1Length = 44
)

// v1Encoding rejects non-canonical encodings (non-zero padding bits), so each
// MAC has exactly one accepted spelling, as with the reference library's
// string comparison.
var v1Encoding = base64.StdEncoding.Strict()

// hmacScratch is per-verification working memory, pooled so that the hot
// path does not allocate.
type hmacScratch struct {
	sigs   [maxSignatures][sha256.Size]byte // decoded v1 signatures
	prefix []byte                           // "{id}.{timestamp}."
	sum    []byte                           // the MAC being compared
}

// parseSignatures decodes the v1 entries of the webhook-signature header
// values into sigs. It returns how many v1 entries there are and how many
// entries of other versions were skipped. A v1 entry that is not standard
// base64 of exactly 32 bytes fails the whole header: it cannot be a v1
// signature, so the sender is broken or the header was tampered with.
func parseSignatures(values []string, sigs *[maxSignatures][sha256.Size]byte) (n, other int, err *Error) {
	for _, value := range values {
		for value != "" {
			var entry string
			entry, value, _ = strings.Cut(value, " ")
			if entry == "" {
				continue // repeated spaces
			}
			version, sig, ok := strings.Cut(entry, ",")
			if !ok || version != "v1" {
				other++
				continue
			}
			if n == maxSignatures {
				return n, other, newError(ErrMalformedSignature, fmt.Sprintf("webhook-signature has more than %d v1 signatures", maxSignatures))
			}
			if len(sig) != v1Length {
				return n, other, newError(ErrMalformedSignature, fmt.Sprintf("v1 signature #%d is %d characters; a base64 HMAC-SHA256 has %d", n+1, len(sig), v1Length))
			}
			var buf [sha256.Size + 1]byte // DecodedLen(44) is 33
			if m, err := v1Encoding.Decode(buf[:], []byte(sig)); err != nil || m != sha256.Size {
				return n, other, newError(ErrMalformedSignature, fmt.Sprintf("v1 signature #%d is not standard base64 of a 32-byte HMAC-SHA256", n+1))
			}
			copy(sigs[n][:], buf[:sha256.Size])
			n++
		}
	}
	return n, other, nil
}

// verifyHMAC verifies a Standard Webhooks v1 delivery.
func (v *Verifier) verifyHMAC(ctx context.Context, h http.Header, sigValues []string, body []byte, rep *Report) (*Delivery, *Error) {
	sc := v.hmacScratch.Get().(*hmacScratch)
	defer v.hmacScratch.Put(sc)

	n, other, perr := parseSignatures(sigValues, &sc.sigs)
	if rep != nil {
		rep.Signatures, rep.OtherSignatures = n, other
	}
	if perr != nil {
		return nil, perr
	}
	if n == 0 {
		return nil, newError(ErrUnsupportedScheme, fmt.Sprintf("webhook-signature has %d entries but no v1 signature, and is not a compact JWT", other))
	}
	if rep != nil {
		rep.Scheme = SchemeHMAC
	}

	id := headerValue(h, canonicalID)
	if rep != nil {
		rep.ID = id
	}
	if id == "" {
		return nil, newError(ErrMissingID, "webhook-id header is missing or empty; HMAC deliveries must carry one")
	}
	if err := v.checkID(HeaderID, id); err != nil {
		return nil, err
	}
	rawTS := headerValue(h, canonicalTimestamp)
	ts, tsErr := v.checkTimestamp(rawTS, v.now(), rep)
	if tsErr != nil && (rep == nil || !isToleranceError(tsErr)) {
		return nil, tsErr
	}

	label, sigErr := v.matchSecrets(ctx, sc, n, id, rawTS, body, rep)
	// The timestamp verdict comes first, as in Verify, which checks it before
	// the signature; Explain got here only to fill in the report.
	if tsErr != nil {
		return nil, tsErr
	}
	if sigErr != nil {
		return nil, sigErr
	}
	return &Delivery{ID: id, Timestamp: ts, Scheme: SchemeHMAC, SecretLabel: label}, nil
}

// matchSecrets compares the n decoded signatures in sc with the MAC under
// each current secret. On a miss it refreshes the source once, because the
// secret may have been rotated since it was cached, and tries the secrets it
// had not tried yet.
func (v *Verifier) matchSecrets(ctx context.Context, sc *hmacScratch, n int, id, rawTS string, body []byte, rep *Report) (string, *Error) {
	if v.secrets == nil {
		return "", newError(ErrNoSigningSecrets, "HMAC deliveries are not accepted: no signing secret source is configured")
	}
	sc.prefix = append(sc.prefix[:0], id...)
	sc.prefix = append(sc.prefix, '.')
	sc.prefix = append(sc.prefix, rawTS...)
	sc.prefix = append(sc.prefix, '.')

	secrets, err := v.secrets.Secrets(ctx)
	if err != nil {
		return "", wrapError(ErrSecretsUnavailable, "failed to load signing secrets", err)
	}
	label, tried, ok := v.trySecrets(secrets, nil, sc, n, body, rep)
	if ok {
		return label, nil
	}

	if rep != nil {
		rep.Refreshed = true
	}
	refreshed, err := v.secrets.Refresh(ctx)
	if err != nil {
		return "", wrapError(ErrSecretsUnavailable, fmt.Sprintf("no signature matched %d signing secrets and refreshing them failed", tried), err)
	}
	label, triedNew, ok := v.trySecrets(refreshed, secrets, sc, n, body, rep)
	if ok {
		return label, nil
	}
	if tried+triedNew == 0 {
		return "", newError(ErrNoSigningSecrets, "HMAC deliveries are not accepted: the signing secret source holds no secret")
	}
	return "", newError(ErrSignatureMismatch, fmt.Sprintf("none of %d v1 signatures matched any of %d signing secrets", n, tried+triedNew))
}

// trySecrets returns the label of the first secret in secrets, other than
// those in skip, under which one of the n signatures in sc is valid.
func (v *Verifier) trySecrets(secrets, skip []Secret, sc *hmacScratch, n int, body []byte, rep *Report) (label string, tried int, ok bool) {
	for _, s := range secrets {
		if s.IsZero() || containsSecret(skip, s) {
			continue
		}
		tried++
		if rep != nil {
			rep.SecretsTried = append(rep.SecretsTried, s.Label)
		}
		v.mac(s, sc, body)
		for i := range n {
			if hmac.Equal(sc.sum, sc.sigs[i][:]) {
				if rep != nil {
					rep.MatchedSecret = s.Label
				}
				return s.Label, tried, true
			}
		}
	}
	return "", tried, false
}

func containsSecret(list []Secret, s Secret) bool {
	for _, o := range list {
		if o.Equal(s) {
			return true
		}
	}
	return false
}

// mac computes HMAC-SHA256(s, sc.prefix || body) into sc.sum. The keyed
// HMAC state is pooled per secret: hmac.New hashes the padded key twice, and
// Reset restores the saved state instead.
func (v *Verifier) mac(s Secret, sc *hmacScratch, body []byte) {
	pool, ok := v.macs.loadBytes(s.key)
	if !ok {
		key := s.Key()
		pool = v.macs.loadOrStore(string(key), func() *sync.Pool {
			return &sync.Pool{New: func() any { return hmac.New(sha256.New, key) }}
		})
	}
	m := pool.Get().(hash.Hash)
	m.Reset()
	m.Write(sc.prefix)
	m.Write(body)
	sc.sum = m.Sum(sc.sum[:0])
	pool.Put(m)
}
