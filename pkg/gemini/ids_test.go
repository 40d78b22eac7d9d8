package gemini_test

import (
	"errors"
	"regexp"
	"strings"
	"testing"

	"github.com/geminihooks/geminihooks/pkg/gemini"
	"github.com/geminihooks/geminihooks/pkg/geminisim"
)

func TestIdentifiers(t *testing.T) {
	t.Parallel()
	long := strings.Repeat("a", 128)
	type idFunc func(string) (string, error)
	cases := []struct {
		name string
		fn   idFunc
		in   string
		want string // empty: invalid
	}{
		{"batch_bare_digits", gemini.BatchName, "123", "batches/123"},
		{"batch_guide_example", gemini.BatchName, "batch_123456", "batches/batch_123456"},
		{"batch_resource_name", gemini.BatchName, "batches/abc-123", "batches/abc-123"},
		{"batch_longest", gemini.BatchName, long, "batches/" + long},
		{"batch_empty", gemini.BatchName, "", ""},
		{"batch_prefix_only", gemini.BatchName, "batches/", ""},
		{"batch_too_long", gemini.BatchName, long + "a", ""},
		{"batch_nested", gemini.BatchName, "batches/1/2", ""},
		{"batch_double_prefix", gemini.BatchName, "batches/batches/1", ""},
		{"batch_dot_dot", gemini.BatchName, "..", ""},
		{"batch_traversal", gemini.BatchName, "batches/../files/x", ""},
		{"batch_escaped", gemini.BatchName, "batches/%2e%2e", ""},
		{"batch_query", gemini.BatchName, "123?alt=media", ""},
		{"batch_colon_verb", gemini.BatchName, "123:cancel", ""},
		{"batch_space", gemini.BatchName, "12 3", ""},
		{"batch_newline", gemini.BatchName, "123\n", ""},
		{"batch_leading_dash", gemini.BatchName, "-123", ""},
		{"batch_leading_underscore", gemini.BatchName, "_123", ""},
		{"batch_unicode", gemini.BatchName, "bätch", ""},
		{"batch_other_kind", gemini.BatchName, "files/abc", ""},
		{"batch_url", gemini.BatchName, "https://example.com/batches/1", ""},

		{"interaction_bare", gemini.InteractionID, "v1_ChdXb3JrLTEyMw", "v1_ChdXb3JrLTEyMw"},
		{"interaction_prefixed", gemini.InteractionID, "interactions/abc", "abc"},
		{"interaction_long", gemini.InteractionID, strings.Repeat("b", 512), strings.Repeat("b", 512)},
		{"interaction_too_long", gemini.InteractionID, strings.Repeat("b", 513), ""},
		{"interaction_empty", gemini.InteractionID, "", ""},
		{"interaction_slash", gemini.InteractionID, "abc/def", ""},
		{"interaction_dot", gemini.InteractionID, "abc.def", ""},
		{"interaction_padding", gemini.InteractionID, "abc==", ""},

		{"operation_full", gemini.OperationName, "models/veo-3.0-generate-001/operations/op123", "models/veo-3.0-generate-001/operations/op123"},
		{"operation_short", gemini.OperationName, "operations/op123", "operations/op123"},
		{"operation_bare", gemini.OperationName, "op123", "operations/op123"},
		{"operation_model_dot_dot", gemini.OperationName, "models/../operations/op", ""},
		{"operation_model_double_dot", gemini.OperationName, "models/veo..3/operations/op", ""},
		{"operation_model_trailing_dot", gemini.OperationName, "models/veo./operations/op", ""},
		{"operation_empty_model", gemini.OperationName, "models//operations/op", ""},
		{"operation_missing_id", gemini.OperationName, "operations/", ""},
		{"operation_extra_segment", gemini.OperationName, "models/veo/operations/op/x", ""},
		{"operation_wrong_collection", gemini.OperationName, "models/veo/batches/op", ""},
		{"operation_tuned_model", gemini.OperationName, "tunedModels/x/operations/op", ""},
		{"operation_leading_slash", gemini.OperationName, "/operations/op", ""},
		{"operation_empty", gemini.OperationName, "", ""},

		{"file_name", gemini.FileName, "files/abc-123", "files/abc-123"},
		{"file_bare", gemini.FileName, "abc", ""},
		{"file_empty_id", gemini.FileName, "files/", ""},
		{"file_verb", gemini.FileName, "files/abc:download", ""},
		{"file_gs_uri", gemini.FileName, "gs://bucket/results.jsonl", ""},
		{"file_nested", gemini.FileName, "files/a/b", ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got, err := tc.fn(tc.in)
			if tc.want == "" {
				if err == nil {
					t.Fatalf("accepted %q as %q", tc.in, got)
				}
				if !errors.Is(err, gemini.ErrInvalidID) || gemini.IsTransient(err) {
					t.Errorf("error %v: want a permanent ErrInvalidID", err)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Fatalf("(%q) = %q, %v; want %q", tc.in, got, err, tc.want)
			}
			// Canonical forms are fixed points.
			if again, err := tc.fn(got); err != nil || again != got {
				t.Errorf("(%q) = %q, %v; want the canonical form back", got, again, err)
			}
		})
	}
}

func TestIdentifiers_invalidNeverReachesTheServer(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envConfig{})
	ctx := testContext(t)
	calls := []struct {
		name string
		call func() error
	}{
		{"batch", func() error { _, err := e.client.GetBatch(ctx, "batches/../files/x"); return err }},
		{"interaction", func() error { _, err := e.client.GetInteraction(ctx, "a/b"); return err }},
		{"operation", func() error { _, err := e.client.GetVideoOperation(ctx, "models/x/operations/"); return err }},
		{"download", func() error { _, err := e.client.Download(ctx, "files/../../v1beta/batches/1"); return err }},
	}
	for _, c := range calls {
		if err := c.call(); !errors.Is(err, gemini.ErrInvalidID) || gemini.IsTransient(err) {
			t.Errorf("%s: error %v, want a permanent ErrInvalidID", c.name, err)
		}
	}
	if n := e.sim.Requests(geminisim.AnyRoute); n != 0 {
		t.Errorf("the simulator received %d requests, want 0", n)
	}
}

// FuzzIdentifiers checks that whatever is accepted is a canonical, safe
// path: the fixed alphabet, no traversal, and stable under revalidation.
func FuzzIdentifiers(f *testing.F) {
	for _, s := range []string{"123", "batch_1", "batches/1", "operations/x", "models/veo-3.0/operations/y", "files/a", "interactions/z", "..", "a/../b", "%2e"} {
		f.Add(s)
	}
	safe := regexp.MustCompile(`^[A-Za-z0-9._/-]+$`)
	f.Fuzz(func(t *testing.T, s string) {
		for _, fn := range []func(string) (string, error){gemini.BatchName, gemini.InteractionID, gemini.OperationName, gemini.FileName} {
			got, err := fn(s)
			if err != nil {
				if !errors.Is(err, gemini.ErrInvalidID) {
					t.Fatalf("(%q): error %v does not wrap ErrInvalidID", s, err)
				}
				continue
			}
			if !safe.MatchString(got) || strings.Contains(got, "..") || strings.Contains(got, "//") ||
				strings.HasPrefix(got, "/") || strings.HasSuffix(got, "/") {
				t.Fatalf("(%q) = %q: not a safe path", s, got)
			}
			if again, err := fn(got); err != nil || again != got {
				t.Fatalf("(%q) = %q, but (%q) = %q, %v", s, got, got, again, err)
			}
		}
	})
}
