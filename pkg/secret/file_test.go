package secret_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/geminihooks/geminihooks/pkg/secret"
)

func TestFile(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "data", "signing-secret.json")
	f, err := secret.NewFile(path)
	if err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	if got, err := f.Secrets(ctx); err != nil || len(got) != 0 {
		t.Fatalf("missing file: %v, %v; want no secret and no error", got, err)
	}
	if err := f.CheckWritable(); err != nil {
		t.Fatalf("CheckWritable: %v", err)
	}
	first, second := generate(t), generate(t)
	if _, err := f.Add("whsec_***"); err == nil || strings.Contains(err.Error(), "***") {
		t.Errorf("malformed secret: %v; want an error that does not quote it", err)
	}
	v1, err := f.Add(first)
	if err != nil {
		t.Fatal(err)
	}
	// A second File on the same path, like another process.
	other, err := secret.NewFile(path)
	if err != nil {
		t.Fatal(err)
	}
	cached, err := other.Secrets(ctx)
	if err != nil || len(cached) != 1 || cached[0].Label != v1 {
		t.Fatalf("other reader: %v, %v; want %s", cached, err, v1)
	}
	v2, err := f.Add(second)
	if err != nil {
		t.Fatal(err)
	}
	if v1 != path+"#1" || v2 != path+"#2" {
		t.Errorf("versions %q, %q; want %s#1 and #2", v1, v2, path)
	}
	if got, _ := other.Secrets(ctx); len(got) != 1 {
		t.Errorf("cached set has %d secrets; want the 1 read before", len(got))
	}
	got, err := other.Refresh(ctx)
	if err != nil || len(got) != 2 || got[0].Label != v2 || got[1].Label != v1 {
		t.Fatalf("after Refresh: %v, %v; want %s then %s", got, err, v2, v1)
	}
	info, err := os.Stat(path)
	if err != nil || info.Mode().Perm() != 0o600 {
		t.Errorf("file mode %v (%v); want 0600", info.Mode().Perm(), err)
	}
	versions, err := f.Versions()
	if err != nil || len(versions) != 2 || versions[0].Number != 2 || versions[0].Secret != second {
		t.Errorf("Versions: %+v, %v", len(versions), err)
	}
}

func TestFileNotWritable(t *testing.T) {
	t.Parallel()
	// A regular file where the directory should be stops root too.
	blocker := filepath.Join(t.TempDir(), "not-a-directory")
	if err := os.WriteFile(blocker, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	f, err := secret.NewFile(filepath.Join(blocker, "signing-secret.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := f.CheckWritable(); err == nil {
		t.Error("CheckWritable succeeded under a regular file")
	}
	if _, err := f.Add(generate(t)); err == nil {
		t.Error("Add succeeded under a regular file")
	}
}
