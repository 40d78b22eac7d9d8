package cli

import (
	"context"
	"crypto"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"github.com/lestrrat-go/jwx/v2/jwk"

	"github.com/geminihooks/geminihooks/pkg/signature"
)

// Files written by "keys rsa".
const (
	privateKeyFile = "private.pem"
	jwksFile       = "jwks.json"
)

// jwksPath is where serve-jwks serves the key set, the path Gemini uses.
const jwksPath = "/.well-known/jwks.json"

var keysCmd = &Command{
	Name:  "keys",
	Usage: "keys hmac | keys rsa --out DIR | keys serve-jwks --key FILE [--addr HOST:PORT]",
	Short: "generate a whsec_ secret or an RSA key with its JWKS, and serve the JWKS",
	Long:  helpText("keys"),
	Run:   runKeys,
}

func runKeys(ctx context.Context, env *Env, c *Command, args []string) error {
	if len(args) == 0 {
		return usageErrorf("missing subcommand: hmac, rsa or serve-jwks")
	}
	switch args[0] {
	case "hmac":
		return runKeysHMAC(env, c, args[1:])
	case "rsa":
		return runKeysRSA(env, c, args[1:])
	case "serve-jwks":
		return runServeJWKS(ctx, env, c, args[1:])
	case "-h", "-help", "--help", "help":
		printKeysHelp(env.Stdout, c)
		return flag.ErrHelp
	default:
		return usageErrorf("unknown subcommand %q: want hmac, rsa or serve-jwks", args[0])
	}
}

// printKeysHelp prints the help and the flags of every subcommand.
func printKeysHelp(w io.Writer, c *Command) {
	printCommandHelp(w, c)
	for _, sub := range []struct {
		name   string
		define func(*flag.FlagSet)
	}{
		{"keys hmac", func(*flag.FlagSet) {}},
		{"keys rsa", func(fs *flag.FlagSet) { keysRSAFlags(fs) }},
		{"keys serve-jwks", func(fs *flag.FlagSet) { serveJWKSFlags(fs) }},
	} {
		fs := flag.NewFlagSet(sub.name, flag.ContinueOnError)
		sub.define(fs)
		fmt.Fprintf(w, "\nFlags of %s:", sub.name)
		if !hasFlags(fs) {
			fmt.Fprintln(w, " none")
			continue
		}
		fmt.Fprintln(w)
		fs.SetOutput(w)
		fs.PrintDefaults()
	}
}

// hasFlags reports whether fs defines any flag.
func hasFlags(fs *flag.FlagSet) bool {
	n := 0
	fs.VisitAll(func(*flag.Flag) { n++ })
	return n > 0
}

// keysRSAFlags defines the flags of keys rsa.
func keysRSAFlags(fs *flag.FlagSet) (out *string, force *bool) {
	return fs.String("out", "", "`DIR` to write private.pem and jwks.json into (required)"),
		fs.Bool("force", false, "overwrite existing files")
}

// serveJWKSFlags defines the flags of keys serve-jwks.
func serveJWKSFlags(fs *flag.FlagSet) (keyFile, addr *string) {
	return fs.String("key", "", "private key `FILE` written by 'keys rsa' (required)"),
		fs.String("addr", "127.0.0.1:8090", "listen address")
}

func runKeysHMAC(env *Env, c *Command, args []string) error {
	fs := newFlagSet(env, c)
	pos, err := parseFlags(env, c, fs, args)
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		return usageErrorf("keys hmac takes no arguments")
	}
	s, err := signature.GenerateSecret()
	if err != nil {
		return err
	}
	// Printing is the point: the operator asked for a new secret.
	fmt.Fprintln(env.Stdout, s)
	return nil
}

func runKeysRSA(env *Env, c *Command, args []string) error {
	fs := newFlagSet(env, c)
	out, force := keysRSAFlags(fs)
	pos, err := parseFlags(env, c, fs, args)
	if err != nil {
		return err
	}
	if *out == "" || len(pos) > 0 {
		return usageErrorf("keys rsa wants --out DIR and no arguments")
	}
	key, err := signature.GenerateRSAKey()
	if err != nil {
		return err
	}
	signer, err := newSigner(key)
	if err != nil {
		return err
	}
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return fmt.Errorf("failed to encode the private key: %w", err)
	}
	jwks, err := signer.PublicJWKS()
	if err != nil {
		return err
	}
	if err := os.MkdirAll(*out, 0o755); err != nil {
		return fmt.Errorf("failed to create %s: %w", *out, err)
	}
	keyPath, jwksPathOnDisk := filepath.Join(*out, privateKeyFile), filepath.Join(*out, jwksFile)
	if err := writeNew(keyPath, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), 0o600, *force); err != nil {
		return err
	}
	if err := writeNew(jwksPathOnDisk, append(jwks, '\n'), 0o644, *force); err != nil {
		return err
	}
	fmt.Fprintf(env.Stdout, "kid          %s\nprivate key  %s\npublic JWKS  %s\n", signer.KeyID(), keyPath, jwksPathOnDisk)
	return nil
}

func runServeJWKS(ctx context.Context, env *Env, c *Command, args []string) error {
	fs := newFlagSet(env, c)
	keyFile, addr := serveJWKSFlags(fs)
	pos, err := parseFlags(env, c, fs, args)
	if err != nil {
		return err
	}
	if *keyFile == "" || len(pos) > 0 {
		return usageErrorf("keys serve-jwks wants --key FILE and no arguments")
	}
	signer, err := loadSigner(*keyFile)
	if err != nil {
		return err
	}
	jwks, err := signer.PublicJWKS()
	if err != nil {
		return err
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET "+jwksPath, func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "public, max-age=60")
		_, _ = w.Write(jwks)
	})
	ln, err := (&net.ListenConfig{}).Listen(ctx, "tcp", *addr)
	if err != nil {
		return fmt.Errorf("failed to listen on %s: %w", *addr, err)
	}
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	fmt.Fprintf(env.Stdout, "http://%s%s\n", ln.Addr(), jwksPath)
	fmt.Fprintf(env.Stderr, "serving the JWKS of kid %s; Ctrl-C to stop\n", signer.KeyID())
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return fmt.Errorf("failed to serve the JWKS: %w", err)
	case <-ctx.Done():
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		if err := srv.Shutdown(sctx); err != nil {
			return fmt.Errorf("failed to stop the JWKS server: %w", err)
		}
		return nil
	}
}

// loadSigner reads an RSA private key (PKCS#8 or PKCS#1 PEM) and returns
// its signer, whose kid is the key's JWK thumbprint.
func loadSigner(path string) (*signature.JWTSigner, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, usageErrorf("%v", err)
		}
		return nil, fmt.Errorf("failed to read the key: %w", err)
	}
	block, _ := pem.Decode(b)
	if block == nil {
		return nil, fmt.Errorf("failed to read the key in %s: no PEM block", path)
	}
	var key *rsa.PrivateKey
	switch block.Type {
	case "PRIVATE KEY":
		k, err := x509.ParsePKCS8PrivateKey(block.Bytes)
		if err != nil {
			return nil, fmt.Errorf("failed to parse the key in %s: %w", path, err)
		}
		rk, ok := k.(*rsa.PrivateKey)
		if !ok {
			return nil, fmt.Errorf("failed to use the key in %s: it is a %T, not an RSA key", path, k)
		}
		key = rk
	case "RSA PRIVATE KEY":
		if key, err = x509.ParsePKCS1PrivateKey(block.Bytes); err != nil {
			return nil, fmt.Errorf("failed to parse the key in %s: %w", path, err)
		}
	default:
		return nil, fmt.Errorf("failed to read the key in %s: PEM block %q is not a private key", path, block.Type)
	}
	return newSigner(key)
}

// newSigner returns the signer of key under its thumbprint kid.
func newSigner(key *rsa.PrivateKey) (*signature.JWTSigner, error) {
	kid, err := thumbprint(&key.PublicKey)
	if err != nil {
		return nil, err
	}
	return signature.NewJWTSigner(kid, key)
}

// thumbprint returns the RFC 7638 SHA-256 JWK thumbprint of pub, base64url.
func thumbprint(pub *rsa.PublicKey) (string, error) {
	k, err := jwk.FromRaw(pub)
	if err != nil {
		return "", fmt.Errorf("failed to convert the public key: %w", err)
	}
	sum, err := k.Thumbprint(crypto.SHA256)
	if err != nil {
		return "", fmt.Errorf("failed to compute the key thumbprint: %w", err)
	}
	return base64.RawURLEncoding.EncodeToString(sum), nil
}

// writeNew writes a file, refusing to replace an existing one unless force.
func writeNew(path string, data []byte, perm os.FileMode, force bool) error {
	flags := os.O_WRONLY | os.O_CREATE | os.O_TRUNC
	if !force {
		flags |= os.O_EXCL
	}
	f, err := os.OpenFile(path, flags, perm)
	if err != nil {
		if errors.Is(err, os.ErrExist) {
			return usageErrorf("%s exists; pass --force to replace it", path)
		}
		return fmt.Errorf("failed to create %s: %w", path, err)
	}
	if _, err := f.Write(data); err != nil {
		_ = f.Close()
		return fmt.Errorf("failed to write %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("failed to write %s: %w", path, err)
	}
	return nil
}
