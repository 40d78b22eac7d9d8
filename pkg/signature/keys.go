package signature

import (
	"context"
	"fmt"

	"github.com/lestrrat-go/jwx/v2/jwk"
)

// StaticKeys is a fixed, in-memory KeySource keyed by kid, for tests and
// local runs (the simulator's own key). Production uses the JWKS cache in
// package jwks, which refetches on an unknown kid.
type StaticKeys map[string]jwk.Key

var _ KeySource = StaticKeys(nil)

// NewStaticKeys indexes keys by their kid. Every key needs a distinct,
// non-empty kid.
func NewStaticKeys(keys ...jwk.Key) (StaticKeys, error) {
	out := make(StaticKeys, len(keys))
	for i, k := range keys {
		if k == nil {
			return nil, fmt.Errorf("failed to index keys: key #%d is nil", i)
		}
		kid := k.KeyID()
		if kid == "" {
			return nil, fmt.Errorf("failed to index keys: key #%d has no kid", i)
		}
		if _, dup := out[kid]; dup {
			return nil, fmt.Errorf("failed to index keys: kid %q appears twice", kid)
		}
		out[kid] = k
	}
	return out, nil
}

// ParseStaticKeys reads a JWK set (the JSON a JWKS endpoint serves).
func ParseStaticKeys(jwks []byte) (StaticKeys, error) {
	set, err := jwk.Parse(jwks)
	if err != nil {
		return nil, fmt.Errorf("failed to parse JWKS: %w", err)
	}
	keys := make([]jwk.Key, 0, set.Len())
	for i := range set.Len() {
		k, _ := set.Key(i)
		keys = append(keys, k)
	}
	return NewStaticKeys(keys...)
}

// LookupKey returns the key with the given kid, or an error wrapping
// ErrKeyNotFound.
func (s StaticKeys) LookupKey(_ context.Context, kid string) (jwk.Key, error) {
	if k, ok := s[kid]; ok {
		return k, nil
	}
	return nil, fmt.Errorf("key %q: %w", kid, ErrKeyNotFound)
}
