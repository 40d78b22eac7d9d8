package report

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/geminihooks/geminihooks/internal/geminisim"
)

const simAPIKey = "report-test-key"

// newSim returns a Gemini API simulator served over HTTP for the test.
func newSim(t *testing.T) (*geminisim.Server, string) {
	t.Helper()
	sim, err := geminisim.New(geminisim.Options{APIKey: simAPIKey})
	if err != nil {
		t.Fatalf("geminisim.New() error = %v", err)
	}
	ts := httptest.NewServer(sim)
	t.Cleanup(ts.Close)
	return sim, ts.URL
}

// getInteraction returns the body of GET /v1beta/interactions/{id}, as the
// materializer receives it.
func getInteraction(t *testing.T, baseURL, id string) []byte {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, baseURL+"/v1beta/interactions/"+id, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("x-goog-api-key", simAPIKey)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("GET interaction: %v", err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("failed to read interaction: %v", err)
	}
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET interaction: status %d: %s", resp.StatusCode, b)
	}
	return b
}

func TestRender_simulatedDeepResearch(t *testing.T) {
	t.Parallel()
	sim, baseURL := newSim(t)

	// A report in several scripts, citing one source twice.
	report := "# Résumé\n\nLes webhooks évitent le polling. 東京のチームも使っています。 Deliveries are signed.\n"
	span := func(s string) (int, int) {
		i := strings.Index(report, s)
		if i < 0 {
			t.Fatalf("%q is not in the report", s)
		}
		return i, i + len(s)
	}
	s1, e1 := span("Les webhooks évitent le polling.")
	s2, e2 := span("東京のチームも使っています。")
	s3, e3 := span("Deliveries are signed.")
	const docs, sw = "https://ai.google.dev/gemini-api/docs/webhooks", "https://www.standardwebhooks.com/"

	// The report as Deep Research writes it: markers, its own Sources list,
	// grounding redirect URLs without titles, two annotations on one span.
	cited, citedBy := geminisim.CitedReport()
	if len(citedBy) != 4 {
		t.Fatalf("CitedReport() has %d citations, want 4", len(citedBy))
	}
	r1, r2, r3 := citedBy[0].URL, citedBy[1].URL, citedBy[3].URL
	at := func(c geminisim.Citation) Span { return Span{c.StartIndex, c.EndIndex} }
	citedSources := []Source{
		{N: 1, URL: r1, Title: "ai.google.dev", Type: "url_citation", Spans: []Span{at(citedBy[0]), at(citedBy[2])}},
		{N: 2, URL: r2, Title: "standardwebhooks.com", Type: "url_citation", Spans: []Span{at(citedBy[1])}},
		{N: 3, URL: r3, Title: "ai.google.dev", Type: "url_citation", Spans: []Span{at(citedBy[3])}},
	}
	citedList := []string{"1. [ai.google.dev](" + r1 + ")", "2. [standardwebhooks.com](" + r2 + ")", "3. [ai.google.dev](" + r3 + ")"}

	tests := []struct {
		name        string
		spec        geminisim.InteractionSpec
		wantSources []Source
		wantList    []string
	}{
		{
			name: "multibyte_report_with_a_repeated_source",
			spec: geminisim.InteractionSpec{
				Report: report,
				Citations: []geminisim.Citation{
					{URL: docs, Title: "Webhooks | Gemini API", StartIndex: s1, EndIndex: e1},
					{URL: sw, Title: "Standard Webhooks", StartIndex: s3, EndIndex: e3},
					{URL: docs, Title: "Webhooks | Gemini API", StartIndex: s2, EndIndex: e2},
				},
			},
			wantSources: []Source{
				{N: 1, URL: docs, Title: "Webhooks | Gemini API", Type: "url_citation", Spans: []Span{{s1, e1}, {s2, e2}}},
				{N: 2, URL: sw, Title: "Standard Webhooks", Type: "url_citation", Spans: []Span{{s3, e3}}},
			},
			wantList: []string{"1. [Webhooks | Gemini API](" + docs + ")", "2. [Standard Webhooks](" + sw + ")"},
		},
		{
			name:        "deep_research_citation_markup",
			spec:        geminisim.InteractionSpec{Report: cited, Citations: citedBy},
			wantSources: citedSources,
			wantList:    citedList,
		},
		{
			// The simulator's default report is written the same way.
			name:        "built_in_report",
			spec:        geminisim.InteractionSpec{},
			wantSources: citedSources,
			wantList:    citedList,
		},
		{
			name: "model_interaction_without_citations",
			spec: geminisim.InteractionSpec{Model: "gemini-2.5-flash", Report: "Short answer.\n"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			id, err := sim.CreateInteraction(tc.spec)
			if err != nil {
				t.Fatalf("CreateInteraction() error = %v", err)
			}
			if _, err := sim.CompleteInteraction(id); err != nil {
				t.Fatalf("CompleteInteraction() error = %v", err)
			}
			raw := getInteraction(t, baseURL, id)
			r, err := Render(raw)
			if err != nil {
				t.Fatalf("Render() error = %v", err)
			}
			if r.ID != id || !r.Completed() || r.Markdown == nil {
				t.Fatalf("Render() = id %q, status %q, %d bytes of Markdown; want %q, completed, a report", r.ID, r.Status, len(r.Markdown), id)
			}
			if want := sdkOutputText(t, raw); r.Text != want || r.Text == "" {
				t.Errorf("Text = %q, want the SDK's output_text %q", r.Text, want)
			}
			if tc.spec.Model != "" && (r.Model != tc.spec.Model || r.Agent != "") {
				t.Errorf("Model, Agent = %q, %q; want %q, none", r.Model, r.Agent, tc.spec.Model)
			}
			if tc.spec.Model == "" && r.Agent != geminisim.DefaultAgent {
				t.Errorf("Agent = %q, want %q", r.Agent, geminisim.DefaultAgent)
			}
			if r.Updated.IsZero() {
				t.Error("Updated is zero, want the completion time")
			}
			if tc.wantSources != nil {
				if diff := cmp.Diff(tc.wantSources, r.Sources); diff != "" {
					t.Errorf("Sources (-want +got):\n%s", diff)
				}
			}
			if diff := cmp.Diff(tc.wantList, sources(r.Markdown)); diff != "" {
				t.Errorf("Sources section (-want +got):\n%s", diff)
			}
			// Removing our markers gives back the text without the model's
			// markers and Sources list.
			text := body(t, r.Markdown)
			for _, src := range r.Sources {
				text = strings.ReplaceAll(text, citationMarker(src.N, src.URL), "")
			}
			want, _, _ := strings.Cut(r.Text, "\n\n**Sources:**\n")
			want = strings.TrimSuffix(citeMarker.ReplaceAllString(want, ""), "\n") + "\n"
			if text != want {
				t.Errorf("report text without markers = %q, want %q", text, want)
			}
		})
	}
}

func TestRender_simulatedUnfinished(t *testing.T) {
	t.Parallel()
	sim, baseURL := newSim(t)
	tests := []struct {
		name       string
		move       func(id string) error
		wantStatus string
		wantErrors []InteractionError
	}{
		{
			name:       "in_progress",
			move:       func(string) error { return nil },
			wantStatus: StatusInProgress,
		},
		{
			name: "failed",
			move: func(id string) error {
				_, err := sim.FailInteraction(id, "RESOURCE_EXHAUSTED", "Quota exceeded for deep research requests.")
				return err
			},
			wantStatus: StatusFailed,
			wantErrors: []InteractionError{{Code: "RESOURCE_EXHAUSTED", Message: "Quota exceeded for deep research requests."}},
		},
		{
			name: "cancelled",
			move: func(id string) error {
				_, err := sim.CancelInteraction(id)
				return err
			},
			wantStatus: StatusCancelled,
		},
		{
			name: "requires_action",
			move: func(id string) error {
				_, err := sim.RequireAction(id)
				return err
			},
			wantStatus: StatusRequiresAction,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			id, err := sim.CreateInteraction(geminisim.InteractionSpec{})
			if err != nil {
				t.Fatalf("CreateInteraction() error = %v", err)
			}
			if err := tc.move(id); err != nil {
				t.Fatal(err)
			}
			r, err := Render(getInteraction(t, baseURL, id))
			if err != nil {
				t.Fatalf("Render() error = %v", err)
			}
			if r.Status != tc.wantStatus || r.Completed() || r.Markdown != nil {
				t.Errorf("Status = %q, Completed() = %v, Markdown = %q; want %q, false, none", r.Status, r.Completed(), r.Markdown, tc.wantStatus)
			}
			if r.Text != "" || r.Sources != nil {
				t.Errorf("Text = %q, Sources = %v; want no output", r.Text, r.Sources)
			}
			if diff := cmp.Diff(tc.wantErrors, r.Errors); diff != "" {
				t.Errorf("Errors (-want +got):\n%s", diff)
			}
		})
	}
}
