package blob_test

import (
	"bytes"
	"context"
	"errors"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/geminihooks/geminihooks/pkg/blob"
)

func newDir(t *testing.T) (*blob.Dir, string) {
	t.Helper()
	root := t.TempDir()
	d, err := blob.NewDir(root)
	if err != nil {
		t.Fatalf("NewDir: %v", err)
	}
	return d, root
}

// listFiles returns every file under root, slash-separated and sorted.
func listFiles(t *testing.T, root string) []string {
	t.Helper()
	var files []string
	err := filepath.WalkDir(root, func(p string, e fs.DirEntry, err error) error {
		if err != nil || e.IsDir() {
			return err
		}
		rel, err := filepath.Rel(root, p)
		files = append(files, filepath.ToSlash(rel))
		return err
	})
	if err != nil {
		t.Fatalf("walking %s: %v", root, err)
	}
	slices.Sort(files)
	return files
}

func TestNewDir(t *testing.T) {
	t.Parallel()
	base := t.TempDir()
	file := filepath.Join(base, "file")
	if err := os.WriteFile(file, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		root    string
		wantErr bool
	}{
		{name: "existing", root: base},
		{name: "created_with_parents", root: filepath.Join(base, "a", "b", ".geminihooks")},
		{name: "empty", root: "", wantErr: true},
		{name: "file", root: file, wantErr: true},
		{name: "below_a_file", root: filepath.Join(file, "x"), wantErr: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			d, err := blob.NewDir(tc.root)
			if gotErr := err != nil; gotErr != tc.wantErr {
				t.Fatalf("NewDir(%q) error = %v, want error: %v", tc.root, err, tc.wantErr)
			}
			if err != nil {
				return
			}
			if info, err := os.Stat(d.Root()); err != nil || !info.IsDir() || !filepath.IsAbs(d.Root()) {
				t.Errorf("Root() = %q is not an absolute existing directory (%v)", d.Root(), err)
			}
		})
	}
}

func TestDirLayoutAndURI(t *testing.T) {
	t.Parallel()
	d, root := newDir(t)
	const name = "batches/with space/out.jsonl"
	obj, err := d.Create(t.Context(), name, "application/jsonl", strings.NewReader("{}\n"))
	if err != nil {
		t.Fatalf("Create: %v", err)
	}
	u, err := url.Parse(obj.URI)
	if err != nil {
		t.Fatalf("URI %q does not parse: %v", obj.URI, err)
	}
	if want := filepath.Join(root, filepath.FromSlash(name)); u.Scheme != "file" || u.Host != "" || u.Path != filepath.ToSlash(want) {
		t.Errorf("URI = %q, want file://%s", obj.URI, want)
	}
	got, err := os.ReadFile(filepath.Join(root, filepath.FromSlash(name)))
	if err != nil || string(got) != "{}\n" {
		t.Errorf("plain file holds %q (%v), want the content", got, err)
	}
	want := []string{"batches/with space/.out.jsonl.meta.json", "batches/with space/out.jsonl"}
	if diff := cmp.Diff(want, listFiles(t, root)); diff != "" {
		t.Errorf("files under root (-want +got):\n%s", diff)
	}
}

func TestDirLeavesNoTemporaryFiles(t *testing.T) {
	t.Parallel()
	d, root := newDir(t)
	ctx := t.Context()
	if _, err := d.Create(ctx, "a/ok", "", strings.NewReader("ok")); err != nil {
		t.Fatalf("Create: %v", err)
	}
	if _, err := d.Create(ctx, "a/failed", "", failingReader{r: bytes.NewReader(randomBytes(1, 1<<20))}); !errors.Is(err, errSource) {
		t.Fatalf("Create with a failing source: error = %v, want errSource", err)
	}
	cctx, cancel := context.WithCancel(ctx)
	src := &hookReader{r: bytes.NewReader(randomBytes(2, 2<<20)), after: 1 << 20, hook: cancel}
	if _, err := d.Create(cctx, "a/cancelled", "", src); !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled Create: error = %v, want context.Canceled", err)
	}
	if _, err := d.Create(ctx, "a/ok", "", strings.NewReader("again")); err != nil {
		t.Fatalf("repeated Create: %v", err)
	}
	want := []string{"a/.ok.meta.json", "a/ok"}
	if diff := cmp.Diff(want, listFiles(t, root)); diff != "" {
		t.Errorf("files under root (-want +got):\n%s", diff)
	}
}

func TestDirStatWithoutTrustworthySidecar(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		damage  func(t *testing.T, file, sidecar string)
		newData []byte // content after damage, when it changes
	}{
		{
			name:   "sidecar_missing",
			damage: func(t *testing.T, _, sidecar string) { mustRemove(t, sidecar) },
		},
		{
			name: "sidecar_garbled",
			damage: func(t *testing.T, _, sidecar string) {
				if err := os.WriteFile(sidecar, []byte("{not json"), 0o600); err != nil {
					t.Fatal(err)
				}
			},
		},
		{
			name: "file_replaced_with_same_size",
			damage: func(t *testing.T, file, _ string) {
				if err := os.WriteFile(file, []byte("HELLO"), 0o600); err != nil {
					t.Fatal(err)
				}
				later := time.Now().Add(time.Hour)
				if err := os.Chtimes(file, later, later); err != nil {
					t.Fatal(err)
				}
			},
			newData: []byte("HELLO"),
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			d, root := newDir(t)
			data := []byte("hello")
			if _, err := d.Create(t.Context(), "x/y", "text/plain", bytes.NewReader(data)); err != nil {
				t.Fatalf("Create: %v", err)
			}
			tc.damage(t, filepath.Join(root, "x", "y"), filepath.Join(root, "x", ".y.meta.json"))
			if tc.newData != nil {
				data = tc.newData
			}
			got, err := d.Stat(t.Context(), "x/y")
			if err != nil {
				t.Fatalf("Stat: %v", err)
			}
			want := expected(d, "x/y", blob.DefaultContentType, data)
			if diff := cmp.Diff(want, got, ignoreVolatile); diff != "" {
				t.Errorf("Stat mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

func mustRemove(t *testing.T, p string) {
	t.Helper()
	if err := os.Remove(p); err != nil {
		t.Fatal(err)
	}
}

// TestDirSymlinkCannotEscape guards against a link planted inside the root:
// names are validated, but paths through links are only safe because every
// access goes through os.Root.
func TestDirSymlinkCannotEscape(t *testing.T) {
	t.Parallel()
	d, root := newDir(t)
	outside := t.TempDir()
	if err := os.WriteFile(filepath.Join(outside, "secret"), []byte("secret"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(outside, filepath.Join(root, "escape")); err != nil {
		t.Fatal(err)
	}
	if obj, err := d.Create(t.Context(), "escape/new", "", strings.NewReader("x")); err == nil {
		t.Errorf("Create through an escaping link = %+v, want an error", obj)
	}
	if obj, err := d.Stat(t.Context(), "escape/secret"); err == nil {
		t.Errorf("Stat through an escaping link = %+v, want an error", obj)
	}
	if rc, err := d.Open(t.Context(), "escape/secret"); err == nil {
		rc.Close()
		t.Error("Open through an escaping link succeeded")
	}
	if diff := cmp.Diff([]string{"secret"}, listFiles(t, outside)); diff != "" {
		t.Errorf("files outside the root changed (-want +got):\n%s", diff)
	}
}

// TestDirObjectAndPrefix documents the one divergence from Cloud Storage: a
// name cannot be both an object and a prefix. Both orders must fail cleanly.
func TestDirObjectAndPrefix(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name          string
		first, second string
	}{
		{"object_then_prefix", "a", "a/b"},
		{"prefix_then_object", "a/b", "a"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			d, _ := newDir(t)
			if _, err := d.Create(t.Context(), tc.first, "", strings.NewReader("1")); err != nil {
				t.Fatalf("Create(%q): %v", tc.first, err)
			}
			obj, err := d.Create(t.Context(), tc.second, "", strings.NewReader("2"))
			if err == nil {
				t.Fatalf("Create(%q) = %+v, want an error", tc.second, obj)
			}
			if errors.Is(err, blob.ErrInvalidName) || errors.Is(err, blob.ErrNotExist) {
				t.Errorf("Create(%q) error = %v; want neither ErrInvalidName nor ErrNotExist", tc.second, err)
			}
			assertNotExist(t, d, tc.second)
		})
	}
}
