package gemini_test

import (
	"bytes"
	"encoding/json"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/geminihooks/geminihooks/internal/geminisim"
	"github.com/geminihooks/geminihooks/pkg/gemini"
)

func TestGetInteraction_statuses(t *testing.T) {
	t.Parallel()
	const (
		input  = "Compare webhook signing schemes."
		report = "HMAC signs with a shared secret. JWTs are verified against public keys."
	)
	citations := []geminisim.Citation{
		{URL: "https://www.standardwebhooks.com/", Title: "Standard Webhooks", StartIndex: 0, EndIndex: 32},
		{URL: "https://ai.google.dev/gemini-api/docs/webhooks", Title: "Webhooks | Gemini API", StartIndex: 33, EndIndex: len(report)},
	}
	cases := []struct {
		name    string
		advance func(sim *geminisim.Server, id string) error
		want    string
	}{
		{"in_progress", func(*geminisim.Server, string) error { return nil }, gemini.InteractionInProgress},
		{"completed", func(s *geminisim.Server, id string) error { _, err := s.CompleteInteraction(id); return err }, gemini.InteractionCompleted},
		{"failed", func(s *geminisim.Server, id string) error {
			_, err := s.FailInteraction(id, "resource_exhausted", "budget spent")
			return err
		}, gemini.InteractionFailed},
		{"cancelled", func(s *geminisim.Server, id string) error { _, err := s.CancelInteraction(id); return err }, gemini.InteractionCancelled},
		{"requires_action", func(s *geminisim.Server, id string) error { _, err := s.RequireAction(id); return err }, gemini.InteractionRequiresAction},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t, envConfig{})
			id, err := e.sim.CreateInteraction(geminisim.InteractionSpec{Input: input, Report: report, Citations: citations})
			if err != nil {
				t.Fatal(err)
			}
			if err := tc.advance(e.sim, id); err != nil {
				t.Fatal(err)
			}
			it, err := e.client.GetInteraction(testContext(t), id)
			if err != nil {
				t.Fatalf("GetInteraction: %v", err)
			}
			if it.ID != id || it.Status != tc.want || it.Agent != geminisim.DefaultAgent {
				t.Errorf("interaction = %s %s agent %q; want %s %s", it.ID, it.Status, it.Agent, id, tc.want)
			}
			if raw := rawGet(t, e, "/v1beta/interactions/"+id); !bytes.Equal(it.Raw, raw) {
				t.Errorf("Raw differs from the server's body:\n got %s\nwant %s", it.Raw, raw)
			}
			if len(it.Steps) == 0 || it.Steps[0].Type != gemini.StepUserInput ||
				len(it.Steps[0].Content) != 1 || it.Steps[0].Content[0].Text != input {
				t.Fatalf("first step is not the user input: %+v", it.Steps)
			}
			last := it.Steps[len(it.Steps)-1]
			switch tc.want {
			case gemini.InteractionCompleted:
				wantOut := []gemini.Content{{Type: gemini.ContentText, Text: report}}
				for _, c := range citations {
					wantOut[0].Annotations = append(wantOut[0].Annotations, gemini.Annotation{
						Type: gemini.AnnotationURLCitation, URL: c.URL, Title: c.Title, StartIndex: c.StartIndex, EndIndex: c.EndIndex,
					})
				}
				if diff := cmp.Diff(wantOut, it.Output()); diff != "" {
					t.Errorf("Output (-want +got):\n%s", diff)
				}
				if it.OutputText() != report {
					t.Errorf("OutputText = %q, want %q", it.OutputText(), report)
				}
				if last.Type != gemini.StepModelOutput || it.Usage == nil || it.Usage.TotalTokens == 0 {
					t.Errorf("last step %q, usage %+v", last.Type, it.Usage)
				}
			case gemini.InteractionFailed:
				want := []gemini.InteractionError{{Code: "resource_exhausted", Message: "budget spent"}}
				if diff := cmp.Diff(want, it.Errors); diff != "" {
					t.Errorf("Errors (-want +got):\n%s", diff)
				}
				if len(it.Output()) != 0 {
					t.Errorf("failed interaction has output %+v", it.Output())
				}
			case gemini.InteractionRequiresAction:
				if last.Type != gemini.StepFunctionCall || last.Name == "" || last.ID == "" || !json.Valid(last.Arguments) {
					t.Errorf("last step = %+v, want a function call", last)
				}
			default:
				if len(it.Output()) != 0 || len(it.Errors) != 0 {
					t.Errorf("output %+v, errors %+v; want none", it.Output(), it.Errors)
				}
			}

			// The types carry the API's JSON names: decoding Raw directly
			// (as a renderer reading interaction.json would) gives the same
			// value.
			var decoded gemini.Interaction
			if err := json.Unmarshal(it.Raw, &decoded); err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(*it, decoded, cmpopts.IgnoreFields(gemini.Interaction{}, "Raw")); diff != "" {
				t.Errorf("decoding Raw differs (-got +decoded):\n%s", diff)
			}
		})
	}
}

func TestGetInteraction_idForms(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envConfig{})
	id, err := e.sim.CreateInteraction(geminisim.InteractionSpec{Model: "gemini-2.5-flash"})
	if err != nil {
		t.Fatal(err)
	}
	for _, ref := range []string{id, "interactions/" + id} {
		it, err := e.client.GetInteraction(testContext(t), ref)
		if err != nil {
			t.Fatalf("GetInteraction(%q): %v", ref, err)
		}
		if it.ID != id || it.Model != "gemini-2.5-flash" || it.Agent != "" {
			t.Errorf("GetInteraction(%q) = %s model %q agent %q", ref, it.ID, it.Model, it.Agent)
		}
	}
}

func TestInteraction_Output(t *testing.T) {
	t.Parallel()
	text := func(s string) gemini.Content { return gemini.Content{Type: gemini.ContentText, Text: s} }
	image := gemini.Content{Type: gemini.ContentImage, URI: "files/img"}
	user := gemini.Step{Type: gemini.StepUserInput, Content: []gemini.Content{text("question")}}
	thought := gemini.Step{Type: gemini.StepThought, Summary: []gemini.Content{text("thinking")}}
	call := gemini.Step{Type: gemini.StepGoogleSearchCall, ID: "c1"}
	out := func(c ...gemini.Content) gemini.Step { return gemini.Step{Type: gemini.StepModelOutput, Content: c} }
	cases := []struct {
		name  string
		steps []gemini.Step
		want  []gemini.Content
	}{
		{"no_steps", nil, []gemini.Content{}},
		{"single_output", []gemini.Step{user, call, out(text("a"))}, []gemini.Content{text("a")}},
		{"thoughts_skipped", []gemini.Step{user, out(text("a")), thought, out(text("b"))}, []gemini.Content{text("a"), text("b")}},
		{"tool_call_ends_answer", []gemini.Step{user, out(text("early")), call, out(text("late"))}, []gemini.Content{text("late")}},
		{"previous_turn_excluded", []gemini.Step{user, out(text("old")), user, out(text("new"))}, []gemini.Content{text("new")}},
		{"trailing_image_skipped", []gemini.Step{user, out(text("a"), image)}, []gemini.Content{text("a")}},
		{"image_between_ends_answer", []gemini.Step{user, out(text("a"), image, text("b"))}, []gemini.Content{text("b")}},
		{"multiple_texts_in_order", []gemini.Step{user, out(text("a"), text("b"))}, []gemini.Content{text("a"), text("b")}},
		{"no_output_yet", []gemini.Step{user, thought, call}, []gemini.Content{}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			it := &gemini.Interaction{Steps: tc.steps}
			if diff := cmp.Diff(tc.want, it.Output(), cmpopts.EquateEmpty()); diff != "" {
				t.Errorf("Output (-want +got):\n%s", diff)
			}
			var wantText string
			for _, c := range tc.want {
				wantText += c.Text
			}
			if got := it.OutputText(); got != wantText {
				t.Errorf("OutputText = %q, want %q", got, wantText)
			}
		})
	}
}
