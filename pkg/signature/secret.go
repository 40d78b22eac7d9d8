package signature

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"strings"

	"github.com/lestrrat-go/jwx/v2/jwk"
)

// SecretPrefix marks a Standard Webhooks symmetric secret: "whsec_" followed by
// the standard base64 encoding of the key bytes.
const SecretPrefix = "whsec_"

// ErrKeyNotFound is returned (wrapped) by a KeySource that does not know the
// requested key id, even after refreshing.
var ErrKeyNotFound = errors.New("signing key not found")

// Secret is one HMAC signing secret. Its key bytes never leave the package:
// String, GoString and LogValue print only the label, so a Secret can be
// logged or wrapped in an error without leaking it.
type Secret struct {
	// Label says where the secret came from ("WEBHOOK_SIGNING_SECRETS[1]",
	// "projects/p/secrets/s/versions/3"), for diagnostics.
	Label string
	key   []byte
}

// NewSecret returns a Secret holding a copy of key.
func NewSecret(label string, key []byte) Secret {
	return Secret{Label: label, key: append([]byte(nil), key...)}
}

// ParseSecret decodes a "whsec_…" secret (the prefix is optional, as in the
// Standard Webhooks libraries). The error names the label, never the value.
func ParseSecret(label, s string) (Secret, error) {
	s = strings.TrimSpace(s)
	b64 := strings.TrimPrefix(s, SecretPrefix)
	if b64 == "" {
		return Secret{}, fmt.Errorf("signing secret %s is empty", label)
	}
	key, err := base64.StdEncoding.DecodeString(b64)
	if err != nil {
		// Do not wrap err: base64.CorruptInputError is harmless, but keeping the
		// message fixed guarantees no fragment of the secret is ever echoed.
		return Secret{}, fmt.Errorf("signing secret %s is not %q followed by standard base64", label, SecretPrefix)
	}
	if len(key) < 16 {
		return Secret{}, fmt.Errorf("signing secret %s decodes to %d bytes; at least 16 are required", label, len(key))
	}
	return Secret{Label: label, key: key}, nil
}

// ParseSecretList parses a comma-separated list of secrets, as found in
// WEBHOOK_SIGNING_SECRETS. Empty entries are ignored; labels are name[i].
func ParseSecretList(name, list string) ([]Secret, error) {
	var out []Secret
	var errs []error
	for i, part := range strings.Split(list, ",") {
		if strings.TrimSpace(part) == "" {
			continue
		}
		s, err := ParseSecret(fmt.Sprintf("%s[%d]", name, i), part)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		out = append(out, s)
	}
	return out, errors.Join(errs...)
}

// GenerateSecret returns a new random 32-byte secret in "whsec_…" form.
func GenerateSecret() (string, error) {
	key := make([]byte, 32)
	if _, err := rand.Read(key); err != nil {
		return "", fmt.Errorf("failed to generate secret: %w", err)
	}
	return SecretPrefix + base64.StdEncoding.EncodeToString(key), nil
}

// Key returns a copy of the key bytes. It exists for signing (tests, the CLI,
// the simulator); verification uses the bytes in place.
func (s Secret) Key() []byte { return append([]byte(nil), s.key...) }

// Equal reports whether two secrets hold the same key bytes.
func (s Secret) Equal(o Secret) bool { return string(s.key) == string(o.key) }

// IsZero reports whether the secret holds no key.
func (s Secret) IsZero() bool { return len(s.key) == 0 }

// String implements fmt.Stringer without revealing the key.
func (s Secret) String() string { return "Secret(" + s.Label + ")" }

// GoString implements fmt.GoStringer without revealing the key.
func (s Secret) GoString() string { return s.String() }

// LogValue implements slog.LogValuer without revealing the key.
func (s Secret) LogValue() slog.Value { return slog.StringValue(s.String()) }

// SecretSource supplies the HMAC secrets currently accepted. It is implemented
// by StaticSecrets and by the Secret Manager source in package secret.
type SecretSource interface {
	// Secrets returns the secrets to try, typically from a cache.
	Secrets(ctx context.Context) ([]Secret, error)
	// Refresh reloads the secrets because no signature matched (a rotation may
	// have happened). Implementations rate-limit reloads and return the
	// current set when a reload is not allowed yet.
	Refresh(ctx context.Context) ([]Secret, error)
}

// StaticSecrets is a fixed SecretSource, used for WEBHOOK_SIGNING_SECRETS.
type StaticSecrets []Secret

var _ SecretSource = StaticSecrets(nil)

// Secrets returns the fixed list.
func (s StaticSecrets) Secrets(context.Context) ([]Secret, error) { return s, nil }

// Refresh returns the fixed list: there is nothing to reload.
func (s StaticSecrets) Refresh(context.Context) ([]Secret, error) { return s, nil }

// KeySource resolves the public key a JWT names in its "kid" header. It is
// implemented by the JWKS cache in package jwks.
type KeySource interface {
	// LookupKey returns the key with the given id. An unknown id yields an
	// error wrapping ErrKeyNotFound; any other error means the key set could
	// not be obtained (a transient condition).
	LookupKey(ctx context.Context, kid string) (jwk.Key, error)
}
