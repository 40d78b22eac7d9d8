package geminisim

import (
	"crypto/rsa"
	"encoding/json"
	"fmt"
	"net/http"
	"sync"

	"github.com/lestrrat-go/jwx/v2/jwk"

	"github.com/geminihooks/geminihooks/pkg/signature"
)

// keyring holds the RS256 signers of per-request webhooks. The newest one
// signs; every key stays published in the JWKS, so tokens signed before a
// rotation keep verifying and receivers meet a kid they have not cached.
type keyring struct {
	mu      sync.Mutex
	signers []*signature.JWTSigner // oldest first; the last one signs
	jwks    []byte                 // public JWKS document of all signers
}

func newKeyring(first *rsa.PrivateKey) (*keyring, error) {
	k := &keyring{}
	if _, err := k.add(first); err != nil {
		return nil, err
	}
	return k, nil
}

// add makes key (or a freshly generated one if nil) the signing key and
// returns its kid.
func (k *keyring) add(key *rsa.PrivateKey) (string, error) {
	if key == nil {
		var err error
		if key, err = signature.GenerateRSAKey(); err != nil {
			return "", err
		}
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	kid := fmt.Sprintf("geminisim-%d-%s", len(k.signers)+1, randomString(8))
	signer, err := signature.NewJWTSigner(kid, key)
	if err != nil {
		return "", err
	}
	signers := append(append([]*signature.JWTSigner(nil), k.signers...), signer)
	set := jwk.NewSet()
	for _, s := range signers {
		if err := set.AddKey(s.PublicKey()); err != nil {
			return "", fmt.Errorf("failed to build key set: %w", err)
		}
	}
	doc, err := json.Marshal(set)
	if err != nil {
		return "", fmt.Errorf("failed to encode key set: %w", err)
	}
	k.signers, k.jwks = signers, doc
	return kid, nil
}

// current returns the signing key.
func (k *keyring) current() *signature.JWTSigner {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.signers[len(k.signers)-1]
}

// Sign signs claims with the current key: a compact RS256 JWT with kid and
// typ headers, as Gemini signs per-request webhooks (time.Time claims become
// NumericDate). The Server thereby implements TokenSigner, so a Sender can
// sign with the keys the Server publishes.
func (s *Server) Sign(claims map[string]any) (string, error) {
	return s.keys.current().Sign(claims)
}

// RotateKey generates a new signing key, publishes it in the JWKS next to
// the previous ones, signs with it from now on and returns its kid.
func (s *Server) RotateKey() (string, error) {
	return s.keys.add(nil)
}

// KeyID returns the kid of the current signing key.
func (s *Server) KeyID() string { return s.keys.current().KeyID() }

// JWKS returns the public key set document served at
// /.well-known/jwks.json.
func (s *Server) JWKS() []byte {
	s.keys.mu.Lock()
	defer s.keys.mu.Unlock()
	return append([]byte(nil), s.keys.jwks...)
}

// getJWKS serves GET /.well-known/jwks.json. It needs no API key.
func (s *Server) getJWKS(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	// Short, so that a cache honouring max-age picks up a rotation soon.
	w.Header().Set("Cache-Control", "public, max-age=300")
	_, _ = w.Write(s.JWKS())
}
