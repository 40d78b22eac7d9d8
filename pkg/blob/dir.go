package blob

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"syscall"
)

// Dir is a [Store] whose objects are plain files under a root directory, so
// that the local runner can tell users where their results are. Object
// "a/b.jsonl" is the file <root>/a/b.jsonl.
//
// Create writes to a temporary file in the destination directory, fsyncs it
// and then hard-links it to the final name; the link fails when the name is
// taken, which makes Create write-once and keeps a partial file from ever
// appearing under the final name. All paths are resolved through [os.Root],
// so neither names nor symbolic links inside the root can reach outside it.
//
// Checksums and the content type are kept in a hidden sidecar file,
// <dir>/.<base>.meta.json, written beside the temporary file and renamed
// into place right after the link, so that Stat need not read the object.
// Stat trusts the sidecar only when its recorded size and modification time
// match the file; when the sidecar is missing (a crash, or a concurrent
// Create that has linked but not yet renamed it) or stale, Stat recomputes
// the checksums by reading the file and reports [DefaultContentType].
//
// A name cannot be both an object and a prefix of another ("a" and "a/b"), a
// limitation of files that Cloud Storage does not share. A crash during
// Create can leave hidden ".<base>.<random>.tmp" files behind; they are never
// seen as objects and may be deleted.
type Dir struct {
	root string // absolute
}

var _ Store = (*Dir)(nil)

// Permissions of what Dir creates: results may hold private model output, so
// they are readable by the owner only.
const (
	dirPerm  fs.FileMode = 0o750
	filePerm fs.FileMode = 0o600
)

// dirMeta is the sidecar's JSON form.
type dirMeta struct {
	ContentType string `json:"contentType"`
	Size        int64  `json:"size"`
	// ModTimeUnixNano identifies the file version the sidecar describes.
	ModTimeUnixNano int64  `json:"modTimeUnixNano"`
	CRC32C          uint32 `json:"crc32c"`
	MD5             string `json:"md5"` // hex
	SHA256          string `json:"sha256"`
}

// NewDir returns a Dir rooted at root, creating the directory if needed.
func NewDir(root string) (*Dir, error) {
	if root == "" {
		return nil, errors.New("blob: directory root is empty")
	}
	abs, err := filepath.Abs(root)
	if err != nil {
		return nil, fmt.Errorf("failed to resolve directory root %q: %w", root, err)
	}
	if err := os.MkdirAll(abs, dirPerm); err != nil {
		return nil, fmt.Errorf("failed to create directory root: %w", err)
	}
	info, err := os.Stat(abs)
	if err != nil {
		return nil, fmt.Errorf("failed to stat directory root: %w", err)
	}
	if !info.IsDir() {
		return nil, fmt.Errorf("blob: directory root %s is not a directory", abs)
	}
	return &Dir{root: abs}, nil
}

// Root returns the absolute path of the root directory.
func (d *Dir) Root() string { return d.root }

// Create implements [Store.Create].
func (d *Dir) Create(ctx context.Context, name, contentType string, r io.Reader) (Object, error) {
	if err := ValidateName(name); err != nil {
		return Object{}, err
	}
	uri := d.uri(name)
	root, err := os.OpenRoot(d.root)
	if err != nil {
		return Object{}, fmt.Errorf("failed to open directory root: %w", err)
	}
	defer root.Close()

	switch existing, err := d.stat(ctx, root, name); {
	case err == nil:
		return existing, nil
	case !errors.Is(err, ErrNotExist):
		return Object{}, err
	}

	obj, err := d.write(ctx, root, name, contentType, r)
	switch {
	case errors.Is(err, errLinkExists):
		existing, serr := d.stat(ctx, root, name)
		switch {
		case errors.Is(serr, ErrNotExist):
			return Object{}, fmt.Errorf("failed to create %s: the name is taken by a directory", uri)
		case serr != nil:
			return Object{}, serr
		}
		return existing, nil
	case err != nil:
		return Object{}, fmt.Errorf("failed to create %s: %w", uri, err)
	}
	return obj, nil
}

// errLinkExists reports that the final name was taken when write tried to
// link its temporary file to it, normally by a concurrent Create.
var errLinkExists = errors.New("name already exists")

// write stores r under name and returns errLinkExists when another writer got
// there first.
func (d *Dir) write(ctx context.Context, root *os.Root, name, contentType string, r io.Reader) (Object, error) {
	file := filepath.FromSlash(name)
	dir, base := filepath.Split(file)
	if dir != "" {
		if err := root.MkdirAll(dir, dirPerm); err != nil {
			return Object{}, fmt.Errorf("failed to create parent directory: %w", err)
		}
	}
	suffix := rand.Text()
	tmp := filepath.Join(dir, "."+base+"."+suffix+".tmp")
	metaTmp := filepath.Join(dir, "."+base+"."+suffix+".meta.tmp")
	// After the link the data lives on under the final name, so removing
	// the temporary names is right on every path.
	defer func() { _ = root.Remove(tmp); _ = root.Remove(metaTmp) }()

	dg := newDigest()
	if err := writeFile(root, tmp, func(f *os.File) error { return stream(ctx, f, r, dg) }); err != nil {
		return Object{}, err
	}
	info, err := root.Stat(tmp)
	if err != nil {
		return Object{}, fmt.Errorf("failed to stat temporary file: %w", err)
	}
	obj := Object{
		Name:        name,
		URI:         d.uri(name),
		ContentType: contentTypeOrDefault(contentType),
		Updated:     info.ModTime().UTC(),
	}
	dg.fill(&obj)
	meta, err := json.Marshal(dirMeta{
		ContentType:     obj.ContentType,
		Size:            obj.Size,
		ModTimeUnixNano: info.ModTime().UnixNano(),
		CRC32C:          obj.CRC32C,
		MD5:             hex.EncodeToString(obj.MD5),
		SHA256:          obj.SHA256,
	})
	if err != nil {
		return Object{}, fmt.Errorf("failed to encode metadata: %w", err)
	}
	// The sidecar is written before the link so that, once the object is
	// visible, only a rename can still fail.
	if err := writeFile(root, metaTmp, func(f *os.File) error {
		_, err := f.Write(meta)
		return err
	}); err != nil {
		return Object{}, fmt.Errorf("failed to write metadata: %w", err)
	}
	if err := ctx.Err(); err != nil {
		return Object{}, fmt.Errorf("upload aborted: %w", err)
	}
	if err := root.Link(tmp, file); err != nil {
		if errors.Is(err, fs.ErrExist) {
			return Object{}, errLinkExists
		}
		return Object{}, fmt.Errorf("failed to link object into place: %w", err)
	}
	if err := root.Rename(metaTmp, sidecarPath(file)); err != nil {
		return Object{}, fmt.Errorf("failed to move metadata into place: %w", err)
	}
	if err := syncDir(root, dir); err != nil {
		return Object{}, err
	}
	obj.Created = true
	return obj, nil
}

// writeFile creates the new file name exclusively, fills it with fill and
// fsyncs it, removing nothing: the caller owns the name's cleanup.
func writeFile(root *os.Root, name string, fill func(*os.File) error) error {
	f, err := root.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_EXCL, filePerm)
	if err != nil {
		return fmt.Errorf("failed to create temporary file: %w", err)
	}
	err = fill(f)
	if err == nil {
		if err = f.Sync(); err != nil {
			err = fmt.Errorf("failed to sync temporary file: %w", err)
		}
	}
	if cerr := f.Close(); err == nil && cerr != nil {
		err = fmt.Errorf("failed to close temporary file: %w", cerr)
	}
	return err
}

// syncDir makes the new directory entries durable.
func syncDir(root *os.Root, dir string) error {
	if dir == "" {
		dir = "."
	}
	f, err := root.Open(dir)
	if err != nil {
		return fmt.Errorf("failed to open directory for sync: %w", err)
	}
	defer f.Close()
	if err := f.Sync(); err != nil {
		return fmt.Errorf("failed to sync directory: %w", err)
	}
	return nil
}

// Stat implements [Store.Stat].
func (d *Dir) Stat(ctx context.Context, name string) (Object, error) {
	if err := ValidateName(name); err != nil {
		return Object{}, err
	}
	root, err := os.OpenRoot(d.root)
	if err != nil {
		return Object{}, fmt.Errorf("failed to open directory root: %w", err)
	}
	defer root.Close()
	return d.stat(ctx, root, name)
}

func (d *Dir) stat(ctx context.Context, root *os.Root, name string) (Object, error) {
	uri := d.uri(name)
	if err := ctx.Err(); err != nil {
		return Object{}, fmt.Errorf("failed to stat %s: %w", uri, err)
	}
	file := filepath.FromSlash(name)
	f, err := openRegular(root, file)
	if err != nil {
		if errors.Is(err, ErrNotExist) {
			return Object{}, fmt.Errorf("%w: %s", ErrNotExist, uri)
		}
		return Object{}, fmt.Errorf("failed to stat %s: %w", uri, err)
	}
	defer f.Close()
	info, err := f.Stat()
	if err != nil {
		return Object{}, fmt.Errorf("failed to stat %s: %w", uri, err)
	}
	obj := Object{Name: name, URI: uri, Updated: info.ModTime().UTC()}
	if meta, ok := readSidecar(root, file, info); ok {
		obj.Size, obj.CRC32C, obj.SHA256, obj.ContentType = meta.Size, meta.CRC32C, meta.SHA256, meta.ContentType
		obj.MD5, _ = hex.DecodeString(meta.MD5) // validated by readSidecar
		return obj, nil
	}
	dg := newDigest()
	if err := stream(ctx, io.Discard, f, dg); err != nil {
		return Object{}, fmt.Errorf("failed to checksum %s: %w", uri, err)
	}
	dg.fill(&obj)
	obj.ContentType = DefaultContentType
	return obj, nil
}

// readSidecar returns the sidecar of file when it describes the file's
// current version.
func readSidecar(root *os.Root, file string, info fs.FileInfo) (dirMeta, bool) {
	raw, err := root.ReadFile(sidecarPath(file))
	if err != nil {
		return dirMeta{}, false
	}
	var meta dirMeta
	if err := json.Unmarshal(raw, &meta); err != nil {
		return dirMeta{}, false
	}
	if meta.Size != info.Size() || meta.ModTimeUnixNano != info.ModTime().UnixNano() {
		return dirMeta{}, false
	}
	if md5Bytes, err := hex.DecodeString(meta.MD5); err != nil || len(md5Bytes) != 16 {
		return dirMeta{}, false
	}
	return meta, true
}

// Open implements [Store.Open]. The reader is an *os.File.
func (d *Dir) Open(ctx context.Context, name string) (io.ReadCloser, error) {
	if err := ValidateName(name); err != nil {
		return nil, err
	}
	uri := d.uri(name)
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("failed to open %s: %w", uri, err)
	}
	root, err := os.OpenRoot(d.root)
	if err != nil {
		return nil, fmt.Errorf("failed to open directory root: %w", err)
	}
	defer root.Close() // the returned file stays open
	f, err := openRegular(root, filepath.FromSlash(name))
	if err != nil {
		if errors.Is(err, ErrNotExist) {
			return nil, fmt.Errorf("%w: %s", ErrNotExist, uri)
		}
		return nil, fmt.Errorf("failed to open %s: %w", uri, err)
	}
	return f, nil
}

// openRegular opens file for reading, reporting ErrNotExist when it is
// missing or is not a regular file (a directory is a prefix, not an object).
func openRegular(root *os.Root, file string) (*os.File, error) {
	f, err := root.Open(file)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) || isNotDir(err) {
			return nil, ErrNotExist
		}
		return nil, err
	}
	info, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, err
	}
	if !info.Mode().IsRegular() {
		f.Close()
		return nil, ErrNotExist
	}
	return f, nil
}

// sidecarPath names the hidden metadata file of file.
func sidecarPath(file string) string {
	dir, base := filepath.Split(file)
	return filepath.Join(dir, "."+base+".meta.json")
}

func (d *Dir) uri(name string) string {
	u := url.URL{Scheme: "file", Path: path.Join(filepath.ToSlash(d.root), name)}
	return u.String()
}

// isNotDir reports a path whose parent is a file, which for a store means
// the object does not exist.
func isNotDir(err error) bool { return errors.Is(err, syscall.ENOTDIR) }
