package terraform_test

import (
	"fmt"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/zclconf/go-cty/cty"
)

// sourceArchive returns the function source archive's source_dir and
// excludes, evaluated from the configuration, so that the build test uploads
// exactly what terraform apply would.
func (m *module) sourceArchive(t testing.TB) (dir string, excludes []string) {
	t.Helper()
	archives := m.labelled("data", "archive_file")
	if len(archives) != 1 {
		t.Fatalf("want one data \"archive_file\" (the function source), found %d", len(archives))
	}
	body := archives[0].Body
	ctx := m.evalContext(t)

	src, diags := attr(body, "source_dir").Value(ctx)
	if diags.HasErrors() || !src.IsKnown() || src.Type() != cty.String {
		t.Fatalf("archive_file.source_dir must evaluate without a plan: %s", diags.Error())
	}
	dir = filepath.Clean(src.AsString())

	expr := attr(body, "excludes")
	if expr == nil {
		t.Fatalf("archive_file has no excludes: tests, terraform/ and .git would be uploaded")
	}
	list, diags := expr.Value(ctx)
	if diags.HasErrors() || !list.IsWhollyKnown() || !(list.Type().IsTupleType() || list.Type().IsListType() || list.Type().IsSetType()) {
		t.Fatalf("archive_file.excludes must be a constant list: %s", diags.Error())
	}
	for it := list.ElementIterator(); it.Next(); {
		_, v := it.Element()
		if v.Type() != cty.String {
			t.Fatalf("archive_file.excludes holds a %s, want strings", v.Type().FriendlyName())
		}
		if err := checkPattern(v.AsString()); err != nil {
			t.Fatalf("archive_file.excludes: %v", err)
		}
		excludes = append(excludes, v.AsString())
	}
	return dir, excludes
}

// checkPattern rejects exclude patterns outside the subset excluded
// implements, so that the test never silently disagrees with the provider.
func checkPattern(p string) error {
	if p == "" || strings.HasPrefix(p, "/") || strings.HasPrefix(p, "./") || strings.ContainsAny(p, `{}\`) {
		return fmt.Errorf("pattern %q: use plain relative paths, * ? [] and whole-segment **", p)
	}
	for seg := range strings.SplitSeq(p, "/") {
		if strings.Contains(seg, "**") && seg != "**" {
			return fmt.Errorf("pattern %q: ** must be a whole path segment", p)
		}
		if _, err := path.Match(seg, ""); err != nil {
			return fmt.Errorf("pattern %q: %v", p, err)
		}
	}
	return nil
}

// excluded reports whether the archive provider leaves rel out. The provider
// (hashicorp/archive 2.4 and later) matches every file's and directory's path
// relative to source_dir against each pattern with doublestar.PathMatch;
// within the subset checkPattern allows, that is path.Match per segment with
// ** standing for any number of segments.
func excluded(patterns []string, rel string) bool {
	name := strings.Split(filepath.ToSlash(rel), "/")
	for _, p := range patterns {
		if matchSegments(strings.Split(p, "/"), name) {
			return true
		}
	}
	return false
}

func matchSegments(pattern, name []string) bool {
	if len(pattern) == 0 {
		return len(name) == 0
	}
	if pattern[0] == "**" {
		for i := 0; i <= len(name); i++ {
			if matchSegments(pattern[1:], name[i:]) {
				return true
			}
		}
		return false
	}
	if len(name) == 0 {
		return false
	}
	if ok, _ := path.Match(pattern[0], name[0]); !ok {
		return false
	}
	return matchSegments(pattern[1:], name[1:])
}

// archiveFiles lists, slash-separated and relative to dir, the files the
// archive would hold: a walk of dir that skips excluded directories whole
// and excluded files, as the provider's walk does.
func archiveFiles(t testing.TB, dir string, excludes []string) []string {
	t.Helper()
	var files []string
	err := filepath.Walk(dir, func(p string, info os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(dir, p)
		if err != nil {
			return err
		}
		if excluded(excludes, rel) {
			if info.IsDir() {
				return filepath.SkipDir
			}
			return nil
		}
		if info.Mode()&os.ModeSymlink != 0 {
			target, err := os.Stat(p)
			if err != nil {
				return err
			}
			if target.IsDir() {
				return fmt.Errorf("%s is a symbolic link to a directory, which the archive would follow; exclude it or teach this test to follow it", rel)
			}
		}
		if !info.IsDir() {
			files = append(files, filepath.ToSlash(rel))
		}
		return nil
	})
	if err != nil {
		t.Fatalf("failed to list the archive's files: %v", err)
	}
	return files
}

func TestExcludedMatchesProviderSemantics(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		patterns []string
		path     string
		want     bool
	}{
		{name: "exact_root_directory", patterns: []string{"terraform"}, path: "terraform", want: true},
		{name: "exact_is_anchored_at_root", patterns: []string{"terraform"}, path: "pkg/terraform", want: false},
		{name: "globstar_matches_root_level", patterns: []string{"**/*_test.go"}, path: "geminihooks_test.go", want: true},
		{name: "globstar_matches_deep", patterns: []string{"**/*_test.go"}, path: "pkg/a/b/x_test.go", want: true},
		{name: "star_stays_in_segment", patterns: []string{"*_test.go"}, path: "pkg/x_test.go", want: false},
		{name: "globstar_directory", patterns: []string{"**/testdata"}, path: "pkg/event/testdata", want: true},
		{name: "non_test_file_kept", patterns: []string{"**/*_test.go", "**/testdata"}, path: "pkg/event/event.go", want: false},
		{name: "star_matches_dotfiles", patterns: []string{"*"}, path: ".git", want: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			for _, p := range tc.patterns {
				if err := checkPattern(p); err != nil {
					t.Fatal(err)
				}
			}
			if got := excluded(tc.patterns, tc.path); got != tc.want {
				t.Errorf("excluded(%q, %q) = %v, want %v", tc.patterns, tc.path, got, tc.want)
			}
		})
	}
}

func TestSourceArchiveContents(t *testing.T) {
	t.Parallel()
	m := loadModule(t)
	dir, excludes := m.sourceArchive(t)
	files := archiveFiles(t, dir, excludes)

	for _, want := range []string{"go.mod", "go.sum", "geminihooks.go"} {
		if !slices.Contains(files, want) {
			t.Errorf("the source archive lacks %s; the buildpack builds the module at the archive's root", want)
		}
	}
	for _, f := range files {
		first, _, _ := strings.Cut(f, "/")
		switch {
		case strings.HasSuffix(f, "_test.go"), strings.Contains("/"+f, "/testdata/"):
			t.Errorf("the source archive holds test file %s", f)
		case first == ".git" || first == "terraform":
			t.Errorf("the source archive holds %s (VCS data and the Terraform configuration stay out)", f)
		}
	}
}
