package cli

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"cloud.google.com/go/storage"
	"google.golang.org/api/iterator"

	"github.com/geminihooks/geminihooks/pkg/blob"
	"github.com/geminihooks/geminihooks/pkg/capture"
	"github.com/geminihooks/geminihooks/pkg/config"
)

// defaultFixtureDir is where the event parser's tests look for captures,
// relative to the repository root.
const defaultFixtureDir = "pkg/event/testdata/captures"

// maxCaptureBytes bounds one capture read: a body is at most the receiver's
// WEBHOOK_MAX_BODY_BYTES (1 MiB by default), and the rest is small.
const maxCaptureBytes = 16 << 20

const capturesPullUsage = "captures pull [--bucket B | --data DIR] [--prefix " + capture.Prefix + "] [--out DIR]"

var capturesCmd = &Command{
	Name:  "captures",
	Usage: capturesPullUsage,
	Short: "copy the deliveries the receiver captured into the event parser's test fixtures",
	Long:  helpText("captures", "{{fixture_dir}}", defaultFixtureDir),
	Run:   runCaptures,
}

func runCaptures(ctx context.Context, env *Env, c *Command, args []string) error {
	if len(args) > 0 && args[0] == "pull" {
		return runCapturesPull(ctx, env, c, args[1:])
	}
	if len(args) > 0 && slices.Contains([]string{"-h", "-help", "--help", "help"}, args[0]) {
		printCommandHelp(env.Stdout, c)
		return flag.ErrHelp
	}
	if len(args) == 0 {
		return usageErrorf("missing subcommand: pull")
	}
	return usageErrorf("unknown subcommand %q: want pull", args[0])
}

// captureSource lists and reads the stored captures.
type captureSource struct {
	store blob.Store
	where string
	list  func(ctx context.Context) ([]string, error)
}

func runCapturesPull(ctx context.Context, env *Env, c *Command, args []string) error {
	fs := newFlagSet(env, c)
	bucket := fs.String("bucket", "", "results `BUCKET` holding the captures (default $RESULTS_BUCKET)")
	data := fs.String("data", "", "read the local runner's data `DIR` instead of Cloud Storage")
	prefix := fs.String("prefix", capture.Prefix, "folder of the captures")
	out := fs.String("out", "", "fixture `DIR` (default "+defaultFixtureDir+")")
	pos, err := parseFlags(env, c, fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 0 {
		return usageErrorf("pull takes no arguments, got %q", pos)
	}
	pfx := strings.Trim(*prefix, "/") + "/"
	if pfx == "/" {
		return usageErrorf("--prefix must name a folder")
	}
	dir, err := fixtureDir(*out)
	if err != nil {
		return err
	}

	src, closeSrc, err := openCaptureSource(ctx, env, *bucket, *data, pfx)
	if err != nil {
		return err
	}
	defer closeSrc()
	names, err := src.list(ctx)
	if err != nil {
		return err
	}
	if len(names) == 0 {
		return fmt.Errorf("%w: no captures under %s/%s: is WEBHOOK_CAPTURE_LIMIT set, and has a delivery arrived since?", ErrNotFound, src.where, pfx)
	}

	var written, unchanged int
	var conflicts []string
	for _, name := range names {
		raw, err := readCapture(ctx, src.store, name)
		if err != nil {
			return err
		}
		rec, err := capture.Decode(raw)
		if err != nil {
			return fmt.Errorf("%s/%s: %w", src.where, name, err)
		}
		var pretty bytes.Buffer
		if err := json.Indent(&pretty, raw, "", "  "); err != nil {
			return fmt.Errorf("%s/%s: %w", src.where, name, err)
		}
		pretty.WriteByte('\n')
		path := filepath.Join(dir, fixtureName(rec, raw))
		switch existing, err := os.ReadFile(path); {
		case err == nil && bytes.Equal(existing, pretty.Bytes()):
			unchanged++
			continue
		case err == nil:
			conflicts = append(conflicts, path)
			fmt.Fprintf(env.Stderr, "%s exists with different content; not overwritten (from %s/%s)\n", path, src.where, name)
			continue
		case !errors.Is(err, os.ErrNotExist):
			return fmt.Errorf("failed to read %s: %w", path, err)
		}
		if err := writeNewFile(path, pretty.Bytes()); err != nil {
			return err
		}
		written++
		fmt.Fprintf(env.Stdout, "wrote %s (from %s/%s)\n", path, src.where, name)
	}
	fmt.Fprintf(env.Stdout, "%d written, %d unchanged, %d conflicting, in %s\n", written, unchanged, len(conflicts), dir)
	if len(conflicts) > 0 {
		return &ExitError{Code: ExitFailure, Err: fmt.Errorf("%d fixture(s) differ from the capture of the same name: %s", len(conflicts), strings.Join(conflicts, ", "))}
	}
	return nil
}

// fixtureDir returns out, created if needed, or the default directory, which
// must already be there (its absence means the command runs elsewhere than
// the repository root).
func fixtureDir(out string) (string, error) {
	if out == "" {
		if info, err := os.Stat(filepath.Dir(defaultFixtureDir)); err != nil || !info.IsDir() {
			return "", usageErrorf("no %s here: run from the repository root or pass --out", filepath.Dir(defaultFixtureDir))
		}
		out = defaultFixtureDir
	}
	if err := os.MkdirAll(out, 0o755); err != nil {
		return "", fmt.Errorf("failed to create %s: %w", out, err)
	}
	return out, nil
}

// openCaptureSource opens the local data directory or the bucket.
func openCaptureSource(ctx context.Context, env *Env, bucket, data, prefix string) (*captureSource, func(), error) {
	if data != "" {
		d, err := blob.NewDir(data)
		if err != nil {
			return nil, nil, fmt.Errorf("failed to open %s: %w", data, err)
		}
		list := func(context.Context) ([]string, error) {
			entries, err := os.ReadDir(filepath.Join(d.Root(), filepath.FromSlash(prefix)))
			if errors.Is(err, os.ErrNotExist) {
				return nil, nil
			}
			if err != nil {
				return nil, fmt.Errorf("failed to list captures: %w", err)
			}
			var names []string
			for _, e := range entries {
				// Dot files are the store's sidecars and temporary files.
				if e.Type().IsRegular() && strings.HasSuffix(e.Name(), ".json") && !strings.HasPrefix(e.Name(), ".") {
					names = append(names, prefix+e.Name())
				}
			}
			return names, nil // ReadDir sorts by name
		}
		return &captureSource{store: d, where: d.Root(), list: list}, func() {}, nil
	}
	if bucket == "" {
		bucket = env.Getenv(config.EnvResultsBucket)
	}
	if bucket == "" {
		return nil, nil, usageErrorf("no bucket: pass --bucket, set %s, or read a local directory with --data", config.EnvResultsBucket)
	}
	client, err := newStorageClient(ctx, env)
	if err != nil {
		return nil, nil, err
	}
	g, err := blob.NewGCS(client, bucket, blob.GCSOptions{})
	if err != nil {
		client.Close()
		return nil, nil, usageErrorf("%v", err)
	}
	list := func(ctx context.Context) ([]string, error) {
		var names []string
		it := client.Bucket(bucket).Objects(ctx, &storage.Query{Prefix: prefix, Delimiter: "/"})
		for {
			attrs, err := it.Next()
			if errors.Is(err, iterator.Done) {
				break
			}
			if err != nil {
				return nil, fmt.Errorf("failed to list gs://%s/%s: %w", bucket, prefix, err)
			}
			if attrs.Name != "" && strings.HasSuffix(attrs.Name, ".json") {
				names = append(names, attrs.Name)
			}
		}
		slices.Sort(names)
		return names, nil
	}
	return &captureSource{store: g, where: "gs://" + bucket, list: list}, func() { client.Close() }, nil
}

func readCapture(ctx context.Context, store blob.Store, name string) ([]byte, error) {
	r, err := store.Open(ctx, name)
	if err != nil {
		return nil, fmt.Errorf("failed to read %s: %w", name, err)
	}
	defer r.Close()
	b, err := io.ReadAll(io.LimitReader(r, maxCaptureBytes+1))
	if err != nil {
		return nil, fmt.Errorf("failed to read %s: %w", name, err)
	}
	if len(b) > maxCaptureBytes {
		return nil, fmt.Errorf("%s is larger than %d bytes: not a capture", name, maxCaptureBytes)
	}
	return b, nil
}

// fixtureName names a capture's fixture by its event type and content.
func fixtureName(rec *capture.Record, raw []byte) string {
	typ, _ := rec.Claims["type"].(string)
	if typ == "" {
		var env struct {
			Type any `json:"type"`
		}
		if body, err := rec.RawBody(); err == nil && json.Unmarshal(body, &env) == nil {
			typ, _ = env.Type.(string)
		}
	}
	typ = strings.Map(func(r rune) rune {
		switch {
		case r >= 'a' && r <= 'z', r >= '0' && r <= '9', r == '.', r == '-', r == '_':
			return r
		case r >= 'A' && r <= 'Z':
			return r + 'a' - 'A'
		}
		return '_'
	}, typ)
	if typ = strings.Trim(typ, "."); typ == "" {
		typ = "no-type"
	}
	if len(typ) > 64 {
		typ = typ[:64]
	}
	sum := sha256.Sum256(raw)
	return typ + "-" + hex.EncodeToString(sum[:6]) + ".json"
}

// writeNewFile creates path with data, failing if it exists.
func writeNewFile(path string, data []byte) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return fmt.Errorf("failed to create %s: %w", path, err)
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		os.Remove(path)
		return fmt.Errorf("failed to write %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		os.Remove(path)
		return fmt.Errorf("failed to write %s: %w", path, err)
	}
	return nil
}
