package cli_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// receiverURL stands for the deployed receiver in tests where nothing is
// delivered.
const receiverURL = "https://hooks.example.com/gemini"

const goodLine = `{"key": "r1", "request": {"contents": [{"parts": [{"text": "Say hi"}]}]}}`

func TestSubmitRefusesBadInputAndCreatesNothing(t *testing.T) {
	t.Parallel()
	good := tempFile(t, "good.jsonl", goodLine+"\n")
	big := filepath.Join(t.TempDir(), "big.jsonl")
	f, err := os.Create(big)
	if err != nil {
		t.Fatal(err)
	}
	// Sparse: the size check comes before any line is read.
	if err := f.Truncate(21_000_000); err != nil {
		t.Fatal(err)
	}
	_ = f.Close()

	tests := []struct {
		name     string
		args     []string
		noHook   bool // WEBHOOK_URL unset
		wantCode int
		want     []string // in stderr
	}{
		{
			name: "missing_input_file", args: []string{"batch", "--model", "gemini-2.5-flash", "--input", filepath.Join(t.TempDir(), "nope.jsonl")},
			wantCode: 2, want: []string{"nope.jsonl does not exist"},
		},
		{
			name: "malformed_json_on_line_3",
			args: []string{"batch", "--model", "gemini-2.5-flash", "--input", tempFile(t, "bad.jsonl",
				goodLine+"\n"+strings.Replace(goodLine, "r1", "r2", 1)+"\n"+`{"key": "r3", "request": {"contents": [}`+"\n"+strings.Replace(goodLine, "r1", "r4", 1)+"\n")},
			wantCode: 2, want: []string{"bad.jsonl line 3: not a JSON object", "nothing was created"},
		},
		{
			name:     "missing_key",
			args:     []string{"batch", "--model", "m", "--input", tempFile(t, "nokey.jsonl", goodLine+"\n"+`{"request": {"contents": [{"parts": [{"text": "x"}]}]}}`+"\n")},
			wantCode: 2, want: []string{"nokey.jsonl line 2: \"key\" is missing"},
		},
		{
			name:     "duplicate_key",
			args:     []string{"batch", "--model", "m", "--input", tempFile(t, "dup.jsonl", goodLine+"\n"+goodLine+"\n")},
			wantCode: 2, want: []string{"dup.jsonl line 2: key \"r1\" is also on line 1"},
		},
		{
			name:     "request_without_contents",
			args:     []string{"batch", "--model", "m", "--input", tempFile(t, "nocontents.jsonl", `{"key": "a", "request": {"generationConfig": {}}}`+"\n")},
			wantCode: 2, want: []string{"nocontents.jsonl line 1: \"request\" needs \"contents\""},
		},
		{
			name:     "unknown_line_field",
			args:     []string{"batch", "--model", "m", "--input", tempFile(t, "extra.jsonl", `{"key": "a", "requests": {}}`+"\n")},
			wantCode: 2, want: []string{`extra.jsonl line 1: unknown field "requests"`},
		},
		{
			name:     "blank_line",
			args:     []string{"batch", "--model", "m", "--input", tempFile(t, "blank.jsonl", goodLine+"\n\n"+strings.Replace(goodLine, "r1", "r2", 1)+"\n")},
			wantCode: 2, want: []string{"blank.jsonl line 2: empty line"},
		},
		{
			name:     "empty_file",
			args:     []string{"batch", "--model", "m", "--input", tempFile(t, "empty.jsonl", "")},
			wantCode: 2, want: []string{"holds no requests"},
		},
		{
			name: "inline_field_the_sdk_cannot_send",
			args: []string{"batch", "--model", "m", "--inline", "--input", tempFile(t, "odd.jsonl",
				`{"key": "a", "request": {"contents": [{"parts": [{"text": "x"}]}], "frobnicate": true}}`+"\n")},
			wantCode: 2, want: []string{"odd.jsonl line 1: the request cannot be sent inline", "frobnicate", "drop --inline"},
		},
		{
			name:     "inline_too_large",
			args:     []string{"batch", "--model", "m", "--inline", "--input", big},
			wantCode: 2, want: []string{"is 21000000 bytes; the Batch API takes at most 20000000 (20 MB) inline", "drop --inline"},
		},
		{
			name: "no_model", args: []string{"batch", "--input", good},
			wantCode: 2, want: []string{"--model is required"},
		},
		{
			name: "no_webhook_url", args: []string{"batch", "--model", "m", "--input", good}, noHook: true,
			wantCode: 2, want: []string{"no webhook URL", "WEBHOOK_URL", "terraform output -raw webhook_url"},
		},
		{
			name: "plain_http_webhook", args: []string{"video", "--prompt", "boats", "--webhook-url", "http://hooks.example.com/"},
			wantCode: 2, want: []string{`webhook URL "http://hooks.example.com/" (--webhook-url) must use https`},
		},
		{
			name: "bad_metadata", args: []string{"research", "--prompt", "x", "--metadata", "novalue"},
			wantCode: 2, want: []string{"--metadata wants key=value"},
		},
		{
			name: "metadata_twice", args: []string{"research", "--prompt", "x", "--metadata", "a=1", "--metadata", "a=2"},
			wantCode: 2, want: []string{"--metadata a is given twice"},
		},
		{
			name: "no_prompt", args: []string{"research"},
			wantCode: 2, want: []string{"--prompt is required"},
		},
		{
			name: "timeout_without_wait", args: []string{"video", "--prompt", "x", "--timeout", "1m"},
			wantCode: 2, want: []string{"--timeout and --results-topic go with --wait"},
		},
		{
			name: "unknown_subcommand", args: []string{"movie", "--prompt", "x"},
			wantCode: 2, want: []string{`unknown subcommand "movie"`},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			st := newJobsStack(t)
			env := st.env(receiverURL)
			if tt.noHook {
				delete(env, "WEBHOOK_URL")
			}
			r := runCLI(t, env, append([]string{"submit"}, tt.args...)...)
			if r.code != tt.wantCode {
				t.Errorf("exit code %d, want %d", r.code, tt.wantCode)
			}
			for _, w := range tt.want {
				if !strings.Contains(r.stderr, w) {
					t.Errorf("stderr lacks %q", w)
				}
			}
			st.assertUntouched(t)
		})
	}
}
