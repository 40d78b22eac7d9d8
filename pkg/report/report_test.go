package report

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	sdk "google.golang.org/genai/interactions/models/interactions"
)

var update = flag.Bool("update", false, "rewrite testdata/golden from the current rendering")

// sdkOutputText decodes raw with the Go SDK, which derives output_text on
// decoding, so that Text can be checked against the SDK's own definition.
func sdkOutputText(t *testing.T, raw []byte) string {
	t.Helper()
	var it sdk.Interaction
	if err := json.Unmarshal(raw, &it); err != nil {
		t.Fatalf("SDK failed to decode the interaction: %v", err)
	}
	if it.OutputText == nil {
		return ""
	}
	return *it.OutputText
}

func render(t *testing.T, raw string) *Report {
	t.Helper()
	r, err := Render([]byte(raw))
	if err != nil {
		t.Fatalf("Render() error = %v", err)
	}
	return r
}

// body returns the Markdown between the front matter and the Sources
// section.
func body(t *testing.T, md []byte) string {
	t.Helper()
	s := string(md)
	_, after, ok := strings.Cut(s, "\n---\n\n")
	if !ok || !strings.HasPrefix(s, "---\n") {
		t.Fatalf("report has no front matter:\n%s", md)
	}
	before, _, _ := strings.Cut(after, "\n## Sources\n")
	return before
}

// sources returns the lines of the Sources section.
func sources(md []byte) []string {
	_, after, ok := strings.Cut(string(md), "\n## Sources\n\n")
	if !ok {
		return nil
	}
	return strings.Split(strings.TrimSuffix(after, "\n"), "\n")
}

func TestRender_golden(t *testing.T) {
	t.Parallel()
	files, err := filepath.Glob(filepath.Join("testdata", "interactions", "*.json"))
	if err != nil {
		t.Fatal(err)
	}
	if len(files) < 3 {
		t.Fatalf("found %d fixtures, want at least 3", len(files))
	}
	for _, f := range files {
		name := strings.TrimSuffix(filepath.Base(f), ".json")
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			raw, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			r, err := Render(raw)
			if err != nil {
				t.Fatalf("Render() error = %v", err)
			}
			citations, err := r.CitationsJSON()
			if err != nil {
				t.Fatalf("CitationsJSON() error = %v", err)
			}
			for path, got := range map[string][]byte{
				filepath.Join("testdata", "golden", name+".md"):             r.Markdown,
				filepath.Join("testdata", "golden", name+".citations.json"): citations,
			} {
				if *update {
					if err := os.WriteFile(path, got, 0o644); err != nil {
						t.Fatal(err)
					}
				}
				want, err := os.ReadFile(path)
				if err != nil {
					t.Fatalf("failed to read golden file (run with -update to create it): %v", err)
				}
				if diff := cmp.Diff(string(want), string(got)); diff != "" {
					t.Errorf("output differs from %s (-want +got):\n%s", path, diff)
				}
			}
		})
	}
}

func TestRender_threeCitations(t *testing.T) {
	t.Parallel()
	raw, err := os.ReadFile(filepath.Join("testdata", "interactions", "three_citations.json"))
	if err != nil {
		t.Fatal(err)
	}
	r, err := Render(raw)
	if err != nil {
		t.Fatalf("Render() error = %v", err)
	}
	if want := sdkOutputText(t, raw); r.Text != want {
		t.Errorf("Text differs from the SDK's output_text (-want +got):\n%s", cmp.Diff(want, r.Text))
	}
	const docs, sw = "https://ai.google.dev/gemini-api/docs/webhooks", "https://www.standardwebhooks.com/"
	for _, src := range r.Sources {
		for _, sp := range src.Spans {
			if span := r.Text[sp.StartIndex:sp.EndIndex]; !strings.HasSuffix(span, ".") {
				t.Errorf("source %d spans %q, want a whole sentence", src.N, span)
			}
		}
	}
	// The URL cited first and last is source 1, with both of its spans.
	want := []Source{
		{N: 1, URL: docs, Title: "Webhooks | Gemini API | Google AI for Developers", Type: "url_citation", Spans: []Span{{41, 164}, {252, 326}}},
		{N: 2, URL: sw, Title: "Standard Webhooks", Type: "url_citation", Spans: []Span{{165, 251}}},
	}
	if diff := cmp.Diff(want, r.Sources); diff != "" {
		t.Errorf("Sources (-want +got):\n%s", diff)
	}
	wantSources := []string{
		"1. [Webhooks | Gemini API | Google AI for Developers](" + docs + ")",
		"2. [Standard Webhooks](" + sw + ")",
	}
	if diff := cmp.Diff(wantSources, sources(r.Markdown)); diff != "" {
		t.Errorf("Sources (-want +got):\n%s", diff)
	}
	if n := strings.Count(string(r.Markdown), "[[1]]("+docs+")"); n != 2 {
		t.Errorf("marker [1] appears %d times, want 2", n)
	}
}

func TestRender_header(t *testing.T) {
	t.Parallel()
	r := render(t, `{"id":"v1_abc","agent":"deep-research-pro-preview-12-2025","status":"completed",
		"created":"2026-05-04T09:00:00Z","updated":"2026-05-04T09:30:00.5+02:00",
		"steps":[{"type":"model_output","content":[{"type":"text","text":"Hi."}]}]}`)
	want := "---\n" +
		`interaction: "v1_abc"` + "\n" +
		`agent: "deep-research-pro-preview-12-2025"` + "\n" +
		`status: "completed"` + "\n" +
		`created: "2026-05-04T09:00:00Z"` + "\n" +
		`updated: "2026-05-04T07:30:00.5Z"` + "\n" +
		"---\n\nHi.\n"
	if diff := cmp.Diff(want, string(r.Markdown)); diff != "" {
		t.Errorf("Markdown (-want +got):\n%s", diff)
	}
	if want := time.Date(2026, 5, 4, 7, 30, 0, 5e8, time.UTC); !r.Updated.Equal(want) {
		t.Errorf("Updated = %v, want %v", r.Updated, want)
	}

	// A model interaction names its model; odd characters are escaped.
	r = render(t, `{"id":"v1_\"x\\\n","model":"gemini-3-pro-preview","status":"completed","created":"not a time"}`)
	want = "---\n" +
		`interaction: "v1_\"x\\\u000A"` + "\n" +
		`model: "gemini-3-pro-preview"` + "\n" +
		`status: "completed"` + "\n" +
		"---\n\n" + noOutput + "\n"
	if diff := cmp.Diff(want, string(r.Markdown)); diff != "" {
		t.Errorf("Markdown (-want +got):\n%s", diff)
	}
	if !r.Created.IsZero() {
		t.Errorf("Created = %v, want zero for an unreadable time", r.Created)
	}
}

// textInteraction returns a completed interaction whose only output is text
// with the given annotations (a JSON array).
func textInteraction(t *testing.T, text, annotations string) string {
	t.Helper()
	b, err := json.Marshal(text)
	if err != nil {
		t.Fatal(err)
	}
	return `{"id":"v1_t","status":"completed","steps":[{"type":"user_input","content":[{"type":"text","text":"q"}]},
		{"type":"model_output","content":[{"type":"text","text":` + string(b) + `,"annotations":` + annotations + `}]}]}`
}

// web returns a source cited by url_citation annotations without a title,
// as a test of offsets expects it: titled with its host name.
func web(n int, url string, spans ...Span) Source {
	host := strings.TrimSuffix(strings.TrimPrefix(url, "https://"), "/")
	return Source{N: n, URL: url, Title: host, Type: "url_citation", Spans: spans}
}

func TestRender_offsets(t *testing.T) {
	t.Parallel()
	const a, b = "https://a.example/", "https://b.example/"
	tests := []struct {
		name        string
		text        string
		annotations string
		wantBody    string
		want        []Source
	}{
		{
			name:        "in_range",
			text:        "One. Two.",
			annotations: `[{"type":"url_citation","url":"` + a + `","start_index":0,"end_index":4}]`,
			wantBody:    "One.[[1]](" + a + ") Two.\n",
			want:        []Source{web(1, a, Span{0, 4})},
		},
		{
			name:        "end_past_text_is_clamped",
			text:        "One.",
			annotations: `[{"type":"url_citation","url":"` + a + `","start_index":2,"end_index":400}]`,
			wantBody:    "One.[[1]](" + a + ")\n",
			want:        []Source{web(1, a, Span{2, 4})},
		},
		{
			name:        "span_past_text_is_skipped",
			text:        "One.",
			annotations: `[{"type":"url_citation","url":"` + a + `","start_index":10,"end_index":20}]`,
			wantBody:    "One.\n",
		},
		{
			name:        "negative_start_is_clamped",
			text:        "One.",
			annotations: `[{"type":"url_citation","url":"` + a + `","start_index":-5,"end_index":4}]`,
			wantBody:    "One.[[1]](" + a + ")\n",
			want:        []Source{web(1, a, Span{0, 4})},
		},
		{
			name:        "missing_start_means_zero",
			text:        "One.",
			annotations: `[{"type":"url_citation","url":"` + a + `","end_index":3}]`,
			wantBody:    "One[[1]](" + a + ").\n",
			want:        []Source{web(1, a, Span{0, 3})},
		},
		{
			name: "unusable_end_is_skipped",
			text: "One.",
			annotations: `[{"type":"url_citation","url":"` + a + `","start_index":0},
				{"type":"url_citation","url":"` + a + `","start_index":0,"end_index":-1},
				{"type":"url_citation","url":"` + a + `","start_index":0,"end_index":1.5},
				{"type":"url_citation","url":"` + a + `","start_index":0,"end_index":"x"},
				{"type":"url_citation","url":"` + a + `","start_index":0,"end_index":null},
				{"type":"url_citation","url":"` + a + `","start_index":0,"end_index":-99999999999999999999999}]`,
			wantBody: "One.\n",
		},
		{
			name:        "start_after_end_is_skipped",
			text:        "One. Two.",
			annotations: `[{"type":"url_citation","url":"` + a + `","start_index":5,"end_index":4}]`,
			wantBody:    "One. Two.\n",
		},
		{
			name:        "string_and_huge_offsets",
			text:        "One. Two.",
			annotations: `[{"type":"url_citation","url":"` + a + `","start_index":"5","end_index":99999999999999999999999}]`,
			wantBody:    "One. Two.[[1]](" + a + ")\n",
			want:        []Source{web(1, a, Span{5, 9})},
		},
		{
			name:        "integral_float_offsets",
			text:        "One. Two.",
			annotations: `[{"type":"url_citation","url":"` + a + `","start_index":5.0,"end_index":9e0}]`,
			wantBody:    "One. Two.[[1]](" + a + ")\n",
			want:        []Source{web(1, a, Span{5, 9})},
		},
		{
			name: "overlapping_spans",
			text: "One. Two. Three.",
			annotations: `[{"type":"url_citation","url":"` + b + `","start_index":0,"end_index":16},
				{"type":"url_citation","url":"` + a + `","start_index":5,"end_index":9}]`,
			wantBody: "One. Two.[[1]](" + a + ") Three.[[2]](" + b + ")\n",
			want: []Source{
				web(1, a, Span{5, 9}),
				web(2, b, Span{0, 16}),
			},
		},
		{
			name: "same_end_different_sources",
			text: "One.",
			annotations: `[{"type":"url_citation","url":"` + b + `","start_index":0,"end_index":4},
				{"type":"url_citation","url":"` + a + `","start_index":2,"end_index":4}]`,
			wantBody: "One.[[1]](" + b + ")[[2]](" + a + ")\n",
			want: []Source{
				web(1, b, Span{0, 4}),
				web(2, a, Span{2, 4}),
			},
		},
		{
			name: "duplicate_annotation_gets_one_marker",
			text: "One.",
			annotations: `[{"type":"url_citation","url":"` + a + `","start_index":0,"end_index":4},
				{"type":"url_citation","url":"` + a + `","start_index":0,"end_index":4}]`,
			wantBody: "One.[[1]](" + a + ")\n",
			want: []Source{
				web(1, a, Span{0, 4}),
			},
		},
		{
			// "é" is 2 bytes and "東" 3: offsets inside them move outwards.
			name: "multibyte_offsets_inside_runes",
			text: "café 東京",
			annotations: `[{"type":"url_citation","url":"` + a + `","start_index":0,"end_index":4},
				{"type":"url_citation","url":"` + b + `","start_index":7,"end_index":10}]`,
			wantBody: "café[[1]](" + a + ") 東京[[2]](" + b + ")\n",
			want: []Source{
				web(1, a, Span{0, 5}),
				web(2, b, Span{6, 12}),
			},
		},
		{
			name:        "citation_without_url_is_skipped",
			text:        "One.",
			annotations: `[{"type":"url_citation","title":"No URL","start_index":0,"end_index":4}]`,
			wantBody:    "One.\n",
		},
		{
			name: "malformed_annotations_are_skipped",
			text: "One.",
			annotations: `[{"type":"url_citation","url":42,"start_index":0,"end_index":4}, "x", null,
				{"type":"url_citation","url":"` + a + `","start_index":0,"end_index":4}]`,
			wantBody: "One.[[1]](" + a + ")\n",
			want:     []Source{web(1, a, Span{0, 4})},
		},
		{
			name:        "marker_after_exclamation_mark_stays_a_link",
			text:        "Wow!",
			annotations: `[{"type":"url_citation","url":"` + a + `","start_index":0,"end_index":4}]`,
			wantBody:    "Wow! [[1]](" + a + ")\n",
			want:        []Source{web(1, a, Span{0, 4})},
		},
		{
			name:        "empty_span_at_start",
			text:        "One.",
			annotations: `[{"type":"url_citation","url":"` + a + `","start_index":0,"end_index":0}]`,
			wantBody:    "[[1]](" + a + ")One.\n",
			want:        []Source{web(1, a, Span{0, 0})},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			r := render(t, textInteraction(t, tc.text, tc.annotations))
			if r.Text != tc.text {
				t.Errorf("Text = %q, want %q", r.Text, tc.text)
			}
			if diff := cmp.Diff(tc.wantBody, body(t, r.Markdown)); diff != "" {
				t.Errorf("report text (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tc.want, r.Sources); diff != "" {
				t.Errorf("Sources (-want +got):\n%s", diff)
			}
		})
	}
}

func TestRender_citationMarkup(t *testing.T) {
	t.Parallel()
	const a, b, c = "https://a.example/", "https://b.example/", "https://c.example/"
	ma, mb, mc := "[[1]]("+a+")", "[[2]]("+b+")", "[[3]]("+c+")"
	list := "\n\n**Sources:**\n1. [Site A](" + a + ")\n2. [Site B](" + b + ")\n"
	cite := func(url string, start, end int) string {
		return fmt.Sprintf(`{"type":"url_citation","url":%q,"title":null,"start_index":%d,"end_index":%d}`, url, start, end)
	}
	tests := []struct {
		name        string
		text        string
		annotations []string
		wantBody    string
		wantList    []string
	}{
		{
			name:     "marker_names_a_list_item",
			text:     "One [cite: 1]." + list,
			wantBody: "One " + ma + ".\n",
			wantList: []string{"1. [Site A](" + a + ")", "2. [Site B](" + b + ")"},
		},
		{
			name:     "marker_with_a_list_of_numbers",
			text:     "One [cite: 2, 1]. Two [cite: 1,2]." + list,
			wantBody: "One [[1]](" + b + ")[[2]](" + a + "). Two [[2]](" + a + ")[[1]](" + b + ").\n",
			wantList: []string{"1. [Site B](" + b + ")", "2. [Site A](" + a + ")"},
		},
		{
			name:        "annotation_before_the_marker_of_its_source_adds_nothing",
			text:        "One [cite: 1]." + list,
			annotations: []string{cite(a, 0, 3)},
			wantBody:    "One " + ma + ".\n",
			wantList:    []string{"1. [Site A](" + a + ")", "2. [Site B](" + b + ")"},
		},
		{
			name:        "annotation_over_the_marker_of_its_source_adds_nothing",
			text:        "One [cite: 1]. Two [cite: 2]." + list,
			annotations: []string{cite(a, 0, 13), cite(b, 15, 29)},
			wantBody:    "One " + ma + ". Two " + mb + ".\n",
			wantList:    []string{"1. [Site A](" + a + ")", "2. [Site B](" + b + ")"},
		},
		{
			name:        "annotation_of_another_source_joins_the_marker",
			text:        "One [cite: 1]." + list,
			annotations: []string{cite(c, 0, 3)},
			wantBody:    "One " + ma + "[[2]](" + c + ").\n",
			wantList:    []string{"1. [Site A](" + a + ")", "2. [c.example](" + c + ")", "3. [Site B](" + b + ")"},
		},
		{
			name:        "annotation_elsewhere_keeps_its_marker",
			text:        "One. Two [cite: 2]." + list,
			annotations: []string{cite(a, 0, 4)},
			wantBody:    "One." + ma + " Two " + mb + ".\n",
			wantList:    []string{"1. [Site A](" + a + ")", "2. [Site B](" + b + ")"},
		},
		{
			name:     "unknown_number_is_dropped_with_the_space_before",
			text:     "One [cite: 7]. Two [cite: 1, 7]." + list,
			wantBody: "One. Two " + ma + ".\n",
			wantList: []string{"1. [Site A](" + a + ")", "2. [Site B](" + b + ")"},
		},
		{
			name:        "markers_without_a_list_are_dropped",
			text:        "One [cite: 1]. Two [cite: 2] and three.\n[cite: 3] Four.\n*   [cite: 4] Five.",
			annotations: []string{cite(a, 0, 3)},
			wantBody:    "One" + ma + ". Two and three.\nFour.\n* Five.\n",
			wantList:    []string{"1. [a.example](" + a + ")"},
		},
		{
			name:     "marker_after_exclamation_mark_stays_a_link",
			text:     "Wow![cite: 1]" + list,
			wantBody: "Wow! " + ma + "\n",
			wantList: []string{"1. [Site A](" + a + ")", "2. [Site B](" + b + ")"},
		},
		{
			name:        "citation_of_the_list_itself_is_not_marked",
			text:        "One." + list,
			annotations: []string{cite(c, 0, 4), cite(b, 20, 30)},
			wantBody:    "One." + mc[:2] + "1]](" + c + ")\n",
			wantList:    []string{"1. [c.example](" + c + ")", "2. [Site A](" + a + ")", "3. [Site B](" + b + ")"},
		},
		{
			name:     "sources_heading_variants",
			text:     "One [cite: 1].\n\n## Sources\n\n1. Site A: " + a + "\n2) <" + b + ">\n",
			wantBody: "One " + ma + ".\n",
			wantList: []string{"1. [Site A](" + a + ")", "2. [b.example](" + b + ")"},
		},
		{
			name:     "list_followed_by_text_is_kept",
			text:     "One [cite: 1]." + list + "\nMore text.",
			wantBody: "One." + list + "\nMore text.\n",
		},
		{
			name:     "list_with_an_item_without_url_is_kept",
			text:     "One [cite: 1].\n\nSources:\n1. A book\n",
			wantBody: "One.\n\nSources:\n1. A book\n",
		},
		{
			name:     "hostile_list_items_are_escaped",
			text:     "One [cite: 1][cite: 2][cite: 3].\n\n**Sources:**\n1. [<script>x</script> *b*](" + a + ")\n2. [go](javascript:alert(1))\n3. [\\[y\\]](https://c.example/a)b%29(c)\n",
			wantBody: "One " + ma + "\\[2\\][[3]](https://c.example/a).\n",
			wantList: []string{`1. [\<script\>x\</script\> \*b\*](` + a + ")", "2. go: javascript:alert(1)", `3. [\[y\]](https://c.example/a)`},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			r := render(t, textInteraction(t, tc.text, "["+strings.Join(tc.annotations, ",")+"]"))
			if r.Text != tc.text {
				t.Errorf("Text = %q, want the text as sent %q", r.Text, tc.text)
			}
			if diff := cmp.Diff(tc.wantBody, body(t, r.Markdown)); diff != "" {
				t.Errorf("report text (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tc.wantList, sources(r.Markdown)); diff != "" {
				t.Errorf("Sources (-want +got):\n%s", diff)
			}
		})
	}
}

func TestRender_outputText(t *testing.T) {
	t.Parallel()
	const (
		user   = `{"type":"user_input","content":[{"type":"text","text":"question"}]}`
		search = `{"type":"google_search_call","id":"s","arguments":{"queries":["q"]}}`
		think  = `{"type":"thought","summary":[{"type":"text","text":"thinking"}]}`
	)
	out := func(texts ...string) string {
		var items []string
		for _, s := range texts {
			items = append(items, `{"type":"text","text":"`+s+`"}`)
		}
		return `{"type":"model_output","content":[` + strings.Join(items, ",") + `]}`
	}
	tests := []struct {
		name  string
		steps []string
		want  string
	}{
		{"single_output", []string{user, out("A")}, "A"},
		{"consecutive_outputs_are_joined", []string{user, out("A", "B"), out("C")}, "ABC"},
		{"thoughts_between_outputs_are_skipped", []string{user, out("A"), think, out("B")}, "AB"},
		{"tool_call_ends_the_output", []string{user, out("draft"), search, out("final")}, "final"},
		{"trailing_tool_call_is_skipped", []string{user, out("A"), search}, "A"},
		{"only_the_last_turn", []string{user, out("old"), user, out("new")}, "new"},
		{"no_output_after_last_input", []string{user, out("old"), user}, ""},
		{"no_model_output", []string{user, think, search}, ""},
		{"no_steps", nil, ""},
		{"non_text_item_ends_the_output", []string{user,
			`{"type":"model_output","content":[{"type":"text","text":"A"},{"type":"image","mime_type":"image/png","data":"AA=="},{"type":"text","text":"B"}]}`}, "B"},
		{"empty_model_output_is_skipped", []string{user, out("A"), `{"type":"model_output"}`}, "A"},
		{"unknown_step_shape", []string{user, out("A"), `{"type":"future_step","content":"not a list"}`}, "A"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			raw := `{"id":"v1_x","status":"completed","steps":[` + strings.Join(tc.steps, ",") + `]}`
			r := render(t, raw)
			if r.Text != tc.want {
				t.Errorf("Text = %q, want %q", r.Text, tc.want)
			}
			if sdkText := sdkOutputText(t, []byte(raw)); r.Text != sdkText {
				t.Errorf("Text = %q, but the SDK's output_text is %q", r.Text, sdkText)
			}
		})
	}
}

func TestRender_noCitations(t *testing.T) {
	t.Parallel()
	r := render(t, textInteraction(t, "# Title\n\nPlain text.", `[]`))
	if r.Sources != nil {
		t.Errorf("Sources = %v, want none", r.Sources)
	}
	if got, want := body(t, r.Markdown), "# Title\n\nPlain text.\n"; got != want {
		t.Errorf("report text = %q, want %q", got, want)
	}
	if strings.Contains(string(r.Markdown), "## Sources") {
		t.Errorf("report without citations has a Sources section:\n%s", r.Markdown)
	}
	got, err := r.CitationsJSON()
	if err != nil {
		t.Fatalf("CitationsJSON() error = %v", err)
	}
	if string(got) != "[]\n" {
		t.Errorf("CitationsJSON() = %q, want an empty array", got)
	}
}

func TestRender_noModelOutput(t *testing.T) {
	t.Parallel()
	r := render(t, `{"id":"v1_x","agent":"deep-research-pro-preview-12-2025","status":"completed",
		"steps":[{"type":"user_input","content":[{"type":"text","text":"q"}]},{"type":"thought","summary":[]}]}`)
	if r.Text != "" || r.Sources != nil {
		t.Errorf("Text = %q, Sources = %v, want none", r.Text, r.Sources)
	}
	if !r.Completed() {
		t.Fatal("Completed() = false, want true")
	}
	if got := body(t, r.Markdown); got != noOutput+"\n" {
		t.Errorf("report text = %q, want the no-output note", got)
	}
}

func TestRender_sources(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name        string
		annotations string
		wantMarker  string
		wantSource  string
	}{
		{
			name:        "title_falls_back_to_host",
			annotations: `[{"type":"url_citation","url":"https://www.a.example/x_y","title":null,"end_index":2}]`,
			wantMarker:  "[[1]](https://www.a.example/x_y)",
			wantSource:  `1. [a.example](https://www.a.example/x_y)`,
		},
		{
			name:        "host_title_is_escaped",
			annotations: `[{"type":"url_citation","url":"https://A_B.example:8443/","end_index":2}]`,
			wantMarker:  "[[1]](https://A_B.example:8443/)",
			wantSource:  `1. [a\_b.example](https://A_B.example:8443/)`,
		},
		{
			name:        "title_falls_back_to_url_without_host",
			annotations: `[{"source":"javascript:alert(1)","end_index":2}]`,
			wantMarker:  `\[1\]`,
			wantSource:  "1. javascript:alert(1)",
		},
		{
			name:        "markdown_in_title_is_escaped",
			annotations: `[{"type":"url_citation","url":"https://a.example/","title":"[x](javascript:y) *b* ` + "`c`" + ` <i> \\ &amp; Q&A\nnext","end_index":2}]`,
			wantMarker:  "[[1]](https://a.example/)",
			wantSource:  `1. [\[x\](javascript:y) \*b\* \` + "`c\\`" + ` \<i\> \\ \&amp; Q&A next](https://a.example/)`,
		},
		{
			name:        "url_characters_that_end_a_link_are_encoded",
			annotations: `[{"type":"url_citation","url":"https://a.example/Foo_(bar) baz<1>","title":"T","end_index":2}]`,
			wantMarker:  "[[1]](https://a.example/Foo_%28bar%29%20baz%3C1%3E)",
			wantSource:  "1. [T](https://a.example/Foo_%28bar%29%20baz%3C1%3E)",
		},
		{
			name:        "unsafe_scheme_is_not_linked",
			annotations: `[{"type":"url_citation","url":"javascript:alert(1)","title":"Click","end_index":2}]`,
			wantMarker:  `\[1\]`,
			wantSource:  "1. Click: javascript:alert(1)",
		},
		{
			name:        "file_citation",
			annotations: `[{"type":"file_citation","file_name":"report.pdf","document_uri":"fileSearchStores/s/documents/d","page_number":2,"end_index":2}]`,
			wantMarker:  `\[1\]`,
			wantSource:  "1. report.pdf: fileSearchStores/s/documents/d",
		},
		{
			name:        "file_citation_without_uri",
			annotations: `[{"type":"file_citation","file_name":"report.pdf","end_index":2}]`,
			wantMarker:  `\[1\]`,
			wantSource:  "1. report.pdf",
		},
		{
			name:        "place_citation",
			annotations: `[{"type":"place_citation","name":"Café Zoë","place_id":"places/abc","url":"https://maps.google.com/?cid=1","end_index":2}]`,
			wantMarker:  "[[1]](https://maps.google.com/?cid=1)",
			wantSource:  "1. [Café Zoë](https://maps.google.com/?cid=1)",
		},
		{
			name:        "untyped_source",
			annotations: `[{"source":"https://a.example/","end_index":2}]`,
			wantMarker:  "[[1]](https://a.example/)",
			wantSource:  "1. [a.example](https://a.example/)",
		},
		{
			name:        "title_that_looks_like_a_list",
			annotations: `[{"source":"1. Intro","end_index":2}]`,
			wantMarker:  `\[1\]`,
			wantSource:  `1. 1\. Intro`,
		},
		{
			name:        "title_that_looks_like_a_heading",
			annotations: `[{"file_name":"# notes","end_index":2}]`,
			wantMarker:  `\[1\]`,
			wantSource:  `1. \# notes`,
		},
		{
			name:        "blank_title_falls_back_to_host",
			annotations: `[{"type":"url_citation","url":"https://a.example/","title":"  \n\t ","end_index":2}]`,
			wantMarker:  "[[1]](https://a.example/)",
			wantSource:  "1. [a.example](https://a.example/)",
		},
		{
			name:        "indented_title_is_trimmed",
			annotations: `[{"file_name":"     code?","end_index":2}]`,
			wantMarker:  `\[1\]`,
			wantSource:  "1. code?",
		},
		{
			name:        "first_non_empty_title_wins",
			annotations: `[{"type":"url_citation","url":"https://a.example/","start_index":0,"end_index":1},{"type":"url_citation","url":"https://a.example/","title":"Second","start_index":1,"end_index":2},{"type":"url_citation","url":"https://a.example/","title":"Third","start_index":2,"end_index":3}]`,
			wantMarker:  "O[[1]](https://a.example/)K[[1]](https://a.example/).[[1]](https://a.example/)",
			wantSource:  "1. [Second](https://a.example/)",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			r := render(t, textInteraction(t, "OK.", tc.annotations))
			if got := body(t, r.Markdown); !strings.Contains(got, tc.wantMarker) {
				t.Errorf("report text = %q, want it to contain %q", got, tc.wantMarker)
			}
			if diff := cmp.Diff([]string{tc.wantSource}, sources(r.Markdown)); diff != "" {
				t.Errorf("Sources (-want +got):\n%s", diff)
			}
		})
	}
}

func TestRender_statuses(t *testing.T) {
	t.Parallel()
	for _, status := range []string{
		StatusInProgress, StatusRequiresAction, StatusFailed, StatusCancelled, StatusIncomplete,
		StatusBudgetExceeded, StatusQueued, StatusRequiresContinuation, "some_future_status",
	} {
		t.Run(status, func(t *testing.T) {
			t.Parallel()
			r := render(t, `{"id":"v1_x","status":"`+status+`","steps":[{"type":"model_output","content":[{"type":"text","text":"partial"}]}],
				"errors":[{"code":"RESOURCE_EXHAUSTED","message":"Quota exceeded."},{"code":8}]}`)
			if r.Status != status || r.Completed() {
				t.Errorf("Status = %q, Completed() = %v, want %q and false", r.Status, r.Completed(), status)
			}
			if r.Markdown != nil {
				t.Errorf("Markdown = %q, want none for status %s", r.Markdown, status)
			}
			if r.Text != "partial" {
				t.Errorf("Text = %q, want the partial output", r.Text)
			}
			want := []InteractionError{{Code: "RESOURCE_EXHAUSTED", Message: "Quota exceeded."}, {Code: "8"}}
			if diff := cmp.Diff(want, r.Errors); diff != "" {
				t.Errorf("Errors (-want +got):\n%s", diff)
			}
		})
	}
}

func TestRender_invalid(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		raw  string
	}{
		{"empty", ""},
		{"not_json", "<html>502 Bad Gateway</html>"},
		{"truncated", `{"id":"v1_x","status":"completed","steps":[`},
		{"trailing_data", `{"id":"v1_x","status":"completed"} {}`},
		{"array", `[]`},
		{"null", `null`},
		{"string", `"completed"`},
		{"missing_id", `{"status":"completed"}`},
		{"missing_status", `{"id":"v1_x"}`},
		{"id_not_string", `{"id":7,"status":"completed"}`},
		{"steps_not_array", `{"id":"v1_x","status":"completed","steps":{}}`},
		{"step_not_object", `{"id":"v1_x","status":"completed","steps":["model_output"]}`},
		{"content_not_array", `{"id":"v1_x","status":"completed","steps":[{"type":"model_output","content":"x"}]}`},
		{"text_not_string", `{"id":"v1_x","status":"completed","steps":[{"type":"model_output","content":[{"type":"text","text":1}]}]}`},
		{"errors_not_array", `{"id":"v1_x","status":"failed","errors":"boom"}`},
		{"error_code_object", `{"id":"v1_x","status":"failed","errors":[{"code":{}}]}`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			r, err := Render([]byte(tc.raw))
			if !errors.Is(err, ErrInvalidInteraction) {
				t.Errorf("Render() error = %v, want ErrInvalidInteraction", err)
			}
			if r != nil {
				t.Errorf("Render() = %+v, want nil", r)
			}
		})
	}
}

func TestReport_CitationsJSON(t *testing.T) {
	t.Parallel()
	r := &Report{Sources: []Source{
		{N: 1, URL: "https://a.example/?x=1&y=<2>", Title: "A", Type: "url_citation", Spans: []Span{{0, 4}, {10, 12}}},
		{N: 2, URL: "files/abc", Title: "files/abc", Spans: []Span{{5, 9}}},
		{N: 3, URL: "https://b.example/", Title: "b.example", Spans: []Span{}},
	}}
	got, err := r.CitationsJSON()
	if err != nil {
		t.Fatalf("CitationsJSON() error = %v", err)
	}
	want := `[
  {
    "n": 1,
    "url": "https://a.example/?x=1&y=<2>",
    "title": "A",
    "type": "url_citation",
    "spans": [
      {
        "start_index": 0,
        "end_index": 4
      },
      {
        "start_index": 10,
        "end_index": 12
      }
    ]
  },
  {
    "n": 2,
    "url": "files/abc",
    "title": "files/abc",
    "spans": [
      {
        "start_index": 5,
        "end_index": 9
      }
    ]
  },
  {
    "n": 3,
    "url": "https://b.example/",
    "title": "b.example",
    "spans": []
  }
]
`
	if diff := cmp.Diff(want, string(got)); diff != "" {
		t.Errorf("CitationsJSON() (-want +got):\n%s", diff)
	}
	var back []Source
	if err := json.Unmarshal(got, &back); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(r.Sources, back); diff != "" {
		t.Errorf("round trip (-want +got):\n%s", diff)
	}
}
