package cli

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"
	"google.golang.org/genai"
)

// TestReadBatchInputInline checks that a request in its REST form reaches
// the SDK's inline request whole: contents, the request-level fields the SDK
// carries in its config, the generation config, and the key as metadata.
func TestReadBatchInputInline(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "in.jsonl")
	lines := `{"key": "q1", "request": {"contents": [{"role": "user", "parts": [{"text": "Say hi"}]}], ` +
		`"systemInstruction": {"parts": [{"text": "Be brief"}]}, "generationConfig": {"temperature": 0.5, "responseMimeType": "text/plain"}}}` + "\n" +
		`{"key": "q2", "request": {"contents": [{"parts": [{"text": "Say bye"}]}]}}`
	if err := os.WriteFile(path, []byte(lines), 0o600); err != nil {
		t.Fatal(err)
	}
	in, err := readBatchInput(path, true)
	if err != nil {
		t.Fatal(err)
	}
	want := []*genai.InlinedRequest{
		{
			Contents: []*genai.Content{{Role: "user", Parts: []*genai.Part{{Text: "Say hi"}}}},
			Config: &genai.GenerateContentConfig{
				SystemInstruction: &genai.Content{Parts: []*genai.Part{{Text: "Be brief"}}},
				Temperature:       genai.Ptr[float32](0.5),
				ResponseMIMEType:  "text/plain",
			},
			Metadata: map[string]string{"key": "q1"},
		},
		{
			Contents: []*genai.Content{{Parts: []*genai.Part{{Text: "Say bye"}}}},
			Metadata: map[string]string{"key": "q2"},
		},
	}
	if in.requests != 2 {
		t.Errorf("%d requests, want 2", in.requests)
	}
	if diff := cmp.Diff(want, in.inline); diff != "" {
		t.Errorf("inline requests (-want +got):\n%s", diff)
	}

	// Without --inline the file is only checked: it is uploaded as it is.
	checked, err := readBatchInput(path, false)
	if err != nil {
		t.Fatal(err)
	}
	if checked.requests != 2 || checked.inline != nil {
		t.Errorf("checked %d requests with %d inline, want 2 and none", checked.requests, len(checked.inline))
	}
}

// FuzzParseBatchLine checks that any line is either refused or is a JSON
// object with a unique non-empty string key and a request with contents,
// and that inline conversion keeps the key.
func FuzzParseBatchLine(f *testing.F) {
	for _, seed := range []string{
		`{"key": "a", "request": {"contents": [{"parts": [{"text": "x"}]}]}}`,
		`{"key": "a", "request": {"contents": [{"parts": [{"inlineData": {"mimeType": "image/png", "data": "AAAA"}}]}], "generationConfig": {"temperature": 1}}}`,
		`{"key": "", "request": {}}`,
		`{"key": 1}`,
		`[]`,
		"\n",
	} {
		f.Add([]byte(seed), true)
	}
	f.Fuzz(func(t *testing.T, line []byte, inline bool) {
		keys := map[string]int{}
		req, err := parseBatchLine(line, keys, 1, inline)
		if err != nil {
			if len(keys) != 0 {
				t.Fatalf("a refused line recorded keys %v", keys)
			}
			return
		}
		var fields struct {
			Key     string `json:"key"`
			Request struct {
				Contents []json.RawMessage `json:"contents"`
			} `json:"request"`
		}
		if err := json.Unmarshal(line, &fields); err != nil || fields.Key == "" || len(fields.Request.Contents) == 0 || keys[fields.Key] != 1 {
			t.Fatalf("accepted %q (decode error %v)", line, err)
		}
		if inline && (req == nil || req.Metadata["key"] != fields.Key) {
			t.Fatalf("inline request %+v lost the key %q", req, fields.Key)
		}
		if _, err := parseBatchLine(line, keys, 2, inline); err == nil {
			t.Fatalf("the same key was accepted twice: %q", line)
		}
	})
}
