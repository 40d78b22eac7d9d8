package secret

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/geminihooks/geminihooks/pkg/signature"
)

// File keeps the versions of one signing secret in a JSON file, standing in
// for Secret Manager where there is none: the local runner's receiver reads
// it, and `geminihooks webhooks create` and `rotate` add to it when they
// run against the local runner. Every version is enabled, as a new
// Secret Manager version is.
//
// Add replaces the file in one rename, so a reader never sees half of it;
// two processes adding at the same moment are not coordinated (one version
// may be lost), which a local tool run by hand does not need.
type File struct {
	path string

	mu      sync.Mutex
	secrets []signature.Secret // nil until loaded
}

var _ signature.SecretSource = (*File)(nil)

// FileVersion is one version of a File.
type FileVersion struct {
	// Number counts versions from 1, as Secret Manager's do.
	Number int `json:"number"`
	// CreateTime is when it was added.
	CreateTime time.Time `json:"create_time"`
	// Secret is the signing secret, "whsec_…".
	Secret string `json:"secret"`
}

// fileDoc is the file's content.
type fileDoc struct {
	Versions []FileVersion `json:"versions"`
}

// NewFile returns the File at path. Nothing is read or written yet; a file
// that does not exist holds no version.
func NewFile(path string) (*File, error) {
	if path == "" {
		return nil, errors.New("secret: file path is empty")
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, fmt.Errorf("secret: %w", err)
	}
	return &File{path: abs}, nil
}

// Path returns the file's absolute path.
func (f *File) Path() string { return f.path }

// VersionName names version n for messages and labels: the file's path and
// the number, as "PATH#N".
func (f *File) VersionName(n int) string { return f.path + "#" + strconv.Itoa(n) }

// CheckWritable fails when a version could not be added: the directory
// cannot be created or written (a temporary file is created and removed),
// or the file is unreadable. Callers check before they obtain a secret they could not
// keep.
func (f *File) CheckWritable() error {
	if _, err := f.read(); err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(f.path), 0o755); err != nil {
		return fmt.Errorf("cannot create the directory of %s: %w", f.path, err)
	}
	tmp, err := os.CreateTemp(filepath.Dir(f.path), ".check-*")
	if err != nil {
		return fmt.Errorf("cannot write next to %s: %w", f.path, err)
	}
	name := tmp.Name()
	return errors.Join(tmp.Close(), os.Remove(name))
}

// Add stores value, a signing secret, as a new version and returns the
// version's name. The value is checked first; errors never contain it.
func (f *File) Add(value string) (string, error) {
	if _, err := signature.ParseSecret("the new version", value); err != nil {
		return "", err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	doc, err := f.read()
	if err != nil {
		return "", err
	}
	n := 1
	if len(doc.Versions) > 0 {
		n = doc.Versions[len(doc.Versions)-1].Number + 1
	}
	doc.Versions = append(doc.Versions, FileVersion{Number: n, CreateTime: time.Now().UTC().Truncate(time.Second), Secret: value})
	if err := f.write(doc); err != nil {
		return "", err
	}
	f.secrets = nil // read again at the next call
	return f.VersionName(n), nil
}

// Versions returns the versions, newest first.
func (f *File) Versions() ([]FileVersion, error) {
	doc, err := f.read()
	if err != nil {
		return nil, err
	}
	slices.Reverse(doc.Versions)
	return doc.Versions, nil
}

// Secrets returns every version's secret, newest first, as last read; the
// file is read at the first call.
func (f *File) Secrets(ctx context.Context) ([]signature.Secret, error) {
	f.mu.Lock()
	cached := f.secrets
	f.mu.Unlock()
	if cached != nil {
		return slices.Clone(cached), nil
	}
	return f.Refresh(ctx)
}

// Refresh reads the file again, so that a version added by another
// process is seen: the receiver calls it when no signature matches.
func (f *File) Refresh(context.Context) ([]signature.Secret, error) {
	versions, err := f.Versions()
	if err != nil {
		return nil, err
	}
	secrets := make([]signature.Secret, 0, len(versions))
	for _, v := range versions {
		s, err := signature.ParseSecret(f.VersionName(v.Number), v.Secret)
		if err != nil {
			return nil, fmt.Errorf("%w: %w", ErrMalformedVersion, err)
		}
		secrets = append(secrets, s)
	}
	f.mu.Lock()
	f.secrets = secrets
	f.mu.Unlock()
	return slices.Clone(secrets), nil
}

// read decodes the file; a missing file holds no version.
func (f *File) read() (fileDoc, error) {
	var doc fileDoc
	b, err := os.ReadFile(f.path)
	if errors.Is(err, fs.ErrNotExist) {
		return doc, nil
	}
	if err != nil {
		return doc, fmt.Errorf("failed to read %s: %w", f.path, err)
	}
	if err := json.Unmarshal(b, &doc); err != nil {
		// The decoder's message may quote the content; say only where.
		return doc, fmt.Errorf("failed to read %s: not a signing secret file", f.path)
	}
	return doc, nil
}

// write replaces the file with doc through a temporary file and a rename,
// readable by its owner only.
func (f *File) write(doc fileDoc) error {
	b, err := json.MarshalIndent(doc, "", "  ")
	if err != nil {
		return fmt.Errorf("failed to encode %s: %w", f.path, err)
	}
	if err := os.MkdirAll(filepath.Dir(f.path), 0o755); err != nil {
		return fmt.Errorf("failed to create the directory of %s: %w", f.path, err)
	}
	tmp, err := os.CreateTemp(filepath.Dir(f.path), ".secret-*")
	if err != nil {
		return fmt.Errorf("failed to write %s: %w", f.path, err)
	}
	_, werr := tmp.Write(append(b, '\n'))
	if err := errors.Join(werr, tmp.Sync(), tmp.Close()); err != nil {
		_ = os.Remove(tmp.Name())
		return fmt.Errorf("failed to write %s: %w", f.path, err)
	}
	if err := os.Rename(tmp.Name(), f.path); err != nil {
		_ = os.Remove(tmp.Name())
		return fmt.Errorf("failed to write %s: %w", f.path, err)
	}
	return nil
}
