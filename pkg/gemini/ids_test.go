package gemini_test

import (
	"encoding/json"
	"errors"
	"regexp"
	"strings"
	"testing"

	"github.com/geminihooks/geminihooks/internal/geminisim"
	"github.com/geminihooks/geminihooks/pkg/event"
	"github.com/geminihooks/geminihooks/pkg/gemini"
)

func TestIdentifiers(t *testing.T) {
	t.Parallel()
	long := strings.Repeat("a", 128)
	const api = gemini.DefaultBaseURL
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
		{"batch_api_url", gemini.BatchName, api + "/v1beta/batches/abc", "batches/abc"},
		{"batch_api_url_v1", gemini.BatchName, api + "/v1/batches/abc", "batches/abc"},
		{"batch_api_url_default_port", gemini.BatchName, "https://generativelanguage.googleapis.com:443/v1beta/batches/abc", "batches/abc"},
		{"batch_api_url_guide_id", gemini.BatchName, api + "/v1beta/batches/batch_123456", "batches/batch_123456"},
		{"batch_api_url_no_collection", gemini.BatchName, api + "/v1beta/abc", ""},
		{"batch_api_url_no_version", gemini.BatchName, api + "/batches/abc", ""},
		{"batch_api_url_other_version", gemini.BatchName, api + "/v2/batches/abc", ""},
		{"batch_api_url_other_collection", gemini.BatchName, api + "/v1beta/files/abc", ""},
		{"batch_api_url_http", gemini.BatchName, "http://generativelanguage.googleapis.com/v1beta/batches/abc", ""},
		{"batch_api_url_query", gemini.BatchName, api + "/v1beta/batches/abc?alt=json", ""},
		{"batch_api_url_fragment", gemini.BatchName, api + "/v1beta/batches/abc#x", ""},
		{"batch_api_url_userinfo", gemini.BatchName, "https://u@generativelanguage.googleapis.com/v1beta/batches/abc", ""},
		{"batch_api_url_escaped", gemini.BatchName, api + "/v1beta/batches/%61bc", ""},
		{"batch_api_url_traversal", gemini.BatchName, api + "/v1beta/batches/%2e%2e", ""},
		{"batch_api_url_lookalike", gemini.BatchName, "https://generativelanguage.googleapis.com.evil.example/v1beta/batches/abc", ""},

		{"interaction_bare", gemini.InteractionID, "v1_ChdXb3JrLTEyMw", "v1_ChdXb3JrLTEyMw"},
		{"interaction_prefixed", gemini.InteractionID, "interactions/abc", "abc"},
		{"interaction_long", gemini.InteractionID, strings.Repeat("b", 512), strings.Repeat("b", 512)},
		{"interaction_too_long", gemini.InteractionID, strings.Repeat("b", 513), ""},
		{"interaction_empty", gemini.InteractionID, "", ""},
		{"interaction_slash", gemini.InteractionID, "abc/def", ""},
		{"interaction_dot", gemini.InteractionID, "abc.def", ""},
		{"interaction_padding", gemini.InteractionID, "abc==", ""},
		{"interaction_api_url", gemini.InteractionID, api + "/v1beta/interactions/v1_abc", "v1_abc"},
		{"interaction_api_url_other_collection", gemini.InteractionID, api + "/v1beta/batches/abc", ""},
		{"interaction_foreign_url", gemini.InteractionID, "https://example.com/v1beta/interactions/abc", ""},

		{"operation_full", gemini.OperationName, "models/veo-3.0-generate-001/operations/op123", "models/veo-3.0-generate-001/operations/op123"},
		{"operation_api_url", gemini.OperationName, api + "/v1beta/models/veo-3.0-generate-001/operations/op123", "models/veo-3.0-generate-001/operations/op123"},
		// No documented path serves an operation without its model.
		{"operation_short", gemini.OperationName, "operations/op123", ""},
		{"operation_bare", gemini.OperationName, "op123", ""},
		{"operation_short_api_url", gemini.OperationName, api + "/v1beta/operations/op123", ""},
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
	for _, s := range []string{"123", "batch_1", "batches/1", "operations/x", "models/veo-3.0/operations/y", "files/a", "interactions/z", "..", "a/../b", "%2e", gemini.DefaultBaseURL + "/v1beta/batches/1"} {
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

func TestSplitOperation(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name, in, model, id string // empty id: invalid
	}{
		{"full", "models/veo-3.0-generate-001/operations/op1", "veo-3.0-generate-001", "op1"},
		{"api_url", gemini.DefaultBaseURL + "/v1beta/models/veo-3.0-generate-001/operations/op1", "veo-3.0-generate-001", "op1"},
		{"short", "operations/op1", "", "op1"},
		{"short_api_url", gemini.DefaultBaseURL + "/v1beta/operations/op1", "", "op1"},
		{"bare", "op1", "", "op1"},
		{"foreign_url", "https://example.com/v1beta/models/veo/operations/op1", "", ""},
		{"nested", "models/veo/operations/op1/x", "", ""},
		{"empty", "", "", ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			model, id, err := gemini.SplitOperation(tc.in)
			if tc.id == "" {
				if !errors.Is(err, gemini.ErrInvalidID) {
					t.Errorf("(%q) = %q, %q, %v; want ErrInvalidID", tc.in, model, id, err)
				}
				return
			}
			if err != nil || model != tc.model || id != tc.id {
				t.Errorf("(%q) = %q, %q, %v; want %q, %q", tc.in, model, id, err, tc.model, tc.id)
			}
		})
	}
}

// TestIdentifiers_matchEvent checks that every id form resolves to the same
// job whether the client reads it raw or as pkg/event normalized it for the
// completion event.
func TestIdentifiers_matchEvent(t *testing.T) {
	t.Parallel()
	split := func(s string) (string, error) {
		model, id, err := gemini.SplitOperation(s)
		return model + "|" + id, err
	}
	const api = gemini.DefaultBaseURL
	cases := []struct {
		name, eventType, id string
		fn                  func(string) (string, error)
	}{
		{"batch_name", "batch.succeeded", "batches/abc", gemini.BatchName},
		{"batch_bare", "batch.succeeded", "abc", gemini.BatchName},
		{"batch_guide_example", "batch.succeeded", "batch_123456", gemini.BatchName},
		{"batch_url", "batch.succeeded", api + "/v1beta/batches/abc", gemini.BatchName},
		{"interaction_bare", "interaction.completed", "v1_abc", gemini.InteractionID},
		{"interaction_url", "interaction.completed", api + "/v1beta/interactions/v1_abc", gemini.InteractionID},
		{"video_name", "video.generated", "models/veo-3.0-generate-001/operations/op1", split},
		{"video_url", "video.generated", api + "/v1/models/veo-3.0-generate-001/operations/op1", split},
		{"video_short", "video.generated", "operations/op1", split},
		{"video_bare", "video.generated", "op1", split},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			body, err := json.Marshal(map[string]any{"type": tc.eventType, "data": map[string]any{"id": tc.id}})
			if err != nil {
				t.Fatal(err)
			}
			n, err := event.Parse(body)
			if err != nil {
				t.Fatalf("event.Parse: %v", err)
			}
			raw, err1 := tc.fn(tc.id)
			normalized, err2 := tc.fn(n.Resource())
			if err1 != nil || err2 != nil || raw != normalized {
				t.Errorf("raw %q -> %q, %v; normalized %q -> %q, %v", tc.id, raw, err1, n.Resource(), normalized, err2)
			}
		})
	}
}
