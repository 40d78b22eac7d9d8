package report

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"unicode/utf8"
)

// FuzzRender checks that Render never panics, fails only with
// ErrInvalidInteraction, and otherwise yields valid UTF-8, a Markdown report
// exactly for completed interactions, and citations whose numbers and spans
// are consistent with Text. Seeds are the golden fixtures plus
// testdata/fuzz/FuzzRender.
func FuzzRender(f *testing.F) {
	files, err := filepath.Glob(filepath.Join("testdata", "interactions", "*.json"))
	if err != nil {
		f.Fatal(err)
	}
	for _, file := range files {
		b, err := os.ReadFile(file)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}

	f.Fuzz(func(t *testing.T, raw []byte) {
		r, err := Render(raw)
		if err != nil {
			if !errors.Is(err, ErrInvalidInteraction) || r != nil {
				t.Fatalf("Render() = %v, %v; want nil, ErrInvalidInteraction", r, err)
			}
			return
		}
		if !utf8.ValidString(r.Text) || !utf8.Valid(r.Markdown) {
			t.Fatalf("invalid UTF-8 in Text %q or Markdown %q", r.Text, r.Markdown)
		}
		if (r.Markdown != nil) != r.Completed() {
			t.Fatalf("status %q with %d bytes of Markdown", r.Status, len(r.Markdown))
		}
		maxN := 0
		for _, c := range r.Citations {
			if c.N < maxN || c.N > maxN+1 {
				t.Fatalf("citation numbers out of order: %+v", r.Citations)
			}
			maxN = c.N
			if c.StartIndex < 0 || c.StartIndex > c.EndIndex || c.EndIndex > len(r.Text) {
				t.Fatalf("citation span [%d, %d) outside the %d-byte text", c.StartIndex, c.EndIndex, len(r.Text))
			}
			if !utf8.ValidString(r.Text[:c.StartIndex]) || !utf8.ValidString(r.Text[c.EndIndex:]) {
				t.Fatalf("citation span [%d, %d) splits a UTF-8 sequence of %q", c.StartIndex, c.EndIndex, r.Text)
			}
		}
		b, err := r.CitationsJSON()
		if err != nil || !json.Valid(b) {
			t.Fatalf("CitationsJSON() = %q, %v", b, err)
		}
	})
}
