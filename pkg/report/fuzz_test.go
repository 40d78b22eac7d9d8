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
// exactly for completed interactions, and sources numbered 1..n, once per
// URL, each with a title and spans inside Text. Seeds are the golden
// fixtures plus testdata/fuzz/FuzzRender.
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
		urls := make(map[string]bool)
		for i, src := range r.Sources {
			if src.N != i+1 || urls[src.URL] || src.Title == "" || src.Spans == nil {
				t.Fatalf("source %d of %+v: want number %d, a URL not listed before, a title and spans", i, r.Sources, i+1)
			}
			urls[src.URL] = true
			for _, sp := range src.Spans {
				if sp.StartIndex < 0 || sp.StartIndex > sp.EndIndex || sp.EndIndex > len(r.Text) {
					t.Fatalf("span [%d, %d) outside the %d-byte text", sp.StartIndex, sp.EndIndex, len(r.Text))
				}
				if !utf8.ValidString(r.Text[:sp.StartIndex]) || !utf8.ValidString(r.Text[sp.EndIndex:]) {
					t.Fatalf("span [%d, %d) splits a UTF-8 sequence of %q", sp.StartIndex, sp.EndIndex, r.Text)
				}
			}
		}
		b, err := r.CitationsJSON()
		if err != nil || !json.Valid(b) {
			t.Fatalf("CitationsJSON() = %q, %v", b, err)
		}
	})
}
