package results_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"hash/crc32"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"google.golang.org/genai"

	"github.com/geminihooks/geminihooks/pkg/blob"
	"github.com/geminihooks/geminihooks/pkg/event"
	"github.com/geminihooks/geminihooks/pkg/gemini"
	"github.com/geminihooks/geminihooks/pkg/materializer"
	"github.com/geminihooks/geminihooks/pkg/results"
)

// handmadeJob stores content as a batch's results.jsonl, with a manifest
// listing it, and opens the job.
func handmadeJob(t *testing.T, content string, opts results.Options) *results.Job {
	t.Helper()
	return handmadeJobListing(t, content, content, opts)
}

// handmadeJobListing stores stored as a batch's results.jsonl, with a
// manifest listing the size and CRC32C of listed, and opens the job.
func handmadeJobListing(t *testing.T, stored, listed string, opts results.Options) *results.Job {
	t.Helper()
	store := blob.NewMemory()
	folder := materializer.JobFolder("", event.KindBatch, "handmade")
	obj, err := store.Create(t.Context(), folder+materializer.ResultsName, "application/jsonl", strings.NewReader(stored))
	if err != nil {
		t.Fatal(err)
	}
	crc := crc32.Checksum([]byte(listed), crc32.MakeTable(crc32.Castagnoli))
	man := materializer.Manifest{
		SchemaVersion: event.ResultsSchemaVersion, Kind: event.KindBatch, Resource: "batches/handmade", State: event.StateSucceeded,
		Objects: []event.StoredObject{{Name: obj.Name, Size: int64(len(listed)), CRC32C: event.EncodeCRC32C(crc), ContentType: obj.ContentType}},
	}
	if _, err := store.Create(t.Context(), folder+materializer.ManifestName, "application/json", bytes.NewReader(jsonOf(t, man))); err != nil {
		t.Fatal(err)
	}
	r, err := results.New(store, testBucket, opts)
	if err != nil {
		t.Fatal(err)
	}
	job, err := r.OpenFolder(t.Context(), folder)
	if err != nil {
		t.Fatal(err)
	}
	return job
}

func TestLines_decoding(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		line string
		want results.Line // Raw and N are checked apart
	}{
		{
			name: "generation_response",
			line: `{"key":"a","response":{"candidates":[{"content":{"parts":[{"text":"hi"}],"role":"model"},"finishReason":"STOP"}],"modelVersion":"gemini-2.5-flash","responseId":"r1"}}`,
			want: results.Line{Key: "a", Response: &genai.GenerateContentResponse{
				Candidates:   []*genai.Candidate{{Content: &genai.Content{Parts: []*genai.Part{{Text: "hi"}}, Role: "model"}, FinishReason: genai.FinishReasonStop}},
				ModelVersion: "gemini-2.5-flash", ResponseID: "r1",
			}},
		},
		{
			// The SDK renames citationSources on the way in; so does Lines.
			name: "citation_sources",
			line: `{"key":"b","response":{"candidates":[{"content":{"parts":[{"text":"q"}]},"citationMetadata":{"citationSources":[{"startIndex":1,"endIndex":5,"uri":"https://x.example/","license":"mit"}]}}]}}`,
			want: results.Line{Key: "b", Response: &genai.GenerateContentResponse{
				Candidates: []*genai.Candidate{{
					Content:          &genai.Content{Parts: []*genai.Part{{Text: "q"}}},
					CitationMetadata: &genai.CitationMetadata{Citations: []*genai.Citation{{StartIndex: 1, EndIndex: 5, URI: "https://x.example/", License: "mit"}}},
				}},
			}},
		},
		{
			name: "word_embedding_as_a_value_is_no_embedding",
			line: `{"key":"c","response":{"candidates":[{"content":{"parts":[{"text":"x"}]},"finishReason":"embedding"}]}}`,
			want: results.Line{Key: "c", Response: &genai.GenerateContentResponse{
				Candidates: []*genai.Candidate{{Content: &genai.Content{Parts: []*genai.Part{{Text: "x"}}}, FinishReason: "embedding"}},
			}},
		},
		{
			name: "embedding_response",
			line: `{"key":"d","response":{"embedding":{"values":[0.5,-0.25]},"tokenCount":"7"}}`,
			want: results.Line{Key: "d", Embedding: &genai.SingleEmbedContentResponse{Embedding: &genai.ContentEmbedding{Values: []float32{0.5, -0.25}}, TokenCount: 7}},
		},
		{
			name: "error_with_details",
			line: `{"key":"e","error":{"code":3,"message":"bad","details":[{"@type":"type.googleapis.com/google.rpc.BadRequest"}]}}`,
			want: results.Line{Key: "e", Error: &gemini.JobError{Code: 3, Message: "bad", Details: []json.RawMessage{json.RawMessage(`{"@type":"type.googleapis.com/google.rpc.BadRequest"}`)}}},
		},
		{
			name: "numeric_key",
			line: `{"key":12,"error":{"code":13,"message":"internal"}}`,
			want: results.Line{Key: "12", Error: &gemini.JobError{Code: 13, Message: "internal"}},
		},
		{
			name: "no_key",
			line: `{"error":{"code":8}}`,
			want: results.Line{Error: &gemini.JobError{Code: 8}},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			lines, errs := drain(t, handmadeJob(t, tc.line+"\n", results.Options{}))
			if len(errs) > 0 || len(lines) != 1 {
				t.Fatalf("got %d lines, errors %v; want one line", len(lines), errs)
			}
			got := lines[0]
			if got.N != 1 || string(got.Raw) != tc.line {
				t.Errorf("N %d, Raw %s; want 1, the line", got.N, got.Raw)
			}
			got.N, got.Raw = 0, nil
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("line (-want +got):\n%s", diff)
			}
		})
	}
}

func TestLines_splitting(t *testing.T) {
	t.Parallel()
	ok := func(key string) string { return `{"key":"` + key + `","error":{"code":13}}` }
	long := `{"key":"long","error":{"code":13,"message":"` + strings.Repeat("m", 200<<10) + `"}}`
	tests := []struct {
		name     string
		content  string
		maxLine  int
		wantKeys []string
		wantErrs []error
	}{
		{name: "empty", content: ""},
		{name: "no_final_newline", content: ok("1") + "\n" + ok("2"), wantKeys: []string{"1", "2"}},
		{name: "crlf", content: ok("1") + "\r\n" + ok("2") + "\r\n", wantKeys: []string{"1", "2"}},
		{name: "blank_lines_skipped", content: "\n" + ok("1") + "\n\n  \n" + ok("2") + "\n\n", wantKeys: []string{"1", "2"}},
		{name: "line_longer_than_the_read_buffer", content: ok("1") + "\n" + long + "\n" + ok("2") + "\n", wantKeys: []string{"1", "long", "2"}},
		{
			name: "bad_lines_reported_and_skipped", content: ok("1") + "\nnot json\n" + `{"key":"both","response":{},"error":{}}` + "\n" + `{"key":"neither"}` + "\n" + ok("2") + "\n",
			wantKeys: []string{"1", "2"}, wantErrs: []error{results.ErrInvalidLine, results.ErrInvalidLine, results.ErrInvalidLine},
		},
		{
			name: "line_too_long_ends_the_iteration", content: ok("1") + "\n" + long + "\n" + ok("2") + "\n", maxLine: 100 << 10,
			wantKeys: []string{"1"}, wantErrs: []error{results.ErrLineTooLong},
		},
		{
			name: "line_too_long_within_the_read_buffer", content: ok("1") + "\n" + ok(strings.Repeat("k", 100)) + "\n", maxLine: 64,
			wantKeys: []string{"1"}, wantErrs: []error{results.ErrLineTooLong},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			lines, errs := drain(t, handmadeJob(t, tc.content, results.Options{MaxLineSize: tc.maxLine}))
			var keys []string
			for _, l := range lines {
				keys = append(keys, l.Key)
			}
			if !cmp.Equal(keys, tc.wantKeys) {
				t.Errorf("keys %q, want %q", keys, tc.wantKeys)
			}
			if len(errs) != len(tc.wantErrs) {
				t.Fatalf("errors %v, want %v", errs, tc.wantErrs)
			}
			for i, err := range errs {
				if !errors.Is(err, tc.wantErrs[i]) {
					t.Errorf("error %d: %v, want %v", i, err, tc.wantErrs[i])
				}
			}
		})
	}
}

func TestLines_stopsWhenTheLoopDoes(t *testing.T) {
	t.Parallel()
	job := handmadeJob(t, strings.Repeat(`{"key":"k","error":{"code":13}}`+"\n", 10), results.Options{})
	n := 0
	for range job.Lines(t.Context()) {
		if n++; n == 3 {
			break
		}
	}
	if n != 3 {
		t.Errorf("the loop ran %d times, want 3", n)
	}
}

func TestLines_followsTheContext(t *testing.T) {
	t.Parallel()
	job := handmadeJob(t, strings.Repeat(`{"key":"k","error":{"code":13}}`+"\n", 10), results.Options{})
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	var lines int
	var errs []error
	for line, err := range job.Lines(ctx) {
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if lines++; line.N == 2 {
			cancel()
		}
	}
	if lines != 2 || len(errs) != 1 || !errors.Is(errs[0], context.Canceled) {
		t.Errorf("%d lines, errors %v; want 2 lines, then context.Canceled", lines, errs)
	}
}

// TestLines_endsInErrCorrupt checks what a damaged results.jsonl yields:
// the lines read before the damage shows, then ErrCorrupt, and never a
// line past the size the manifest lists or a line cut short.
func TestLines_endsInErrCorrupt(t *testing.T) {
	t.Parallel()
	a, b, c := `{"key":"a","error":{"code":13}}`, `{"key":"b","error":{"code":13}}`, `{"key":"c","error":{"code":13}}`
	listed := a + "\n" + b + "\n"
	tests := []struct {
		name     string
		stored   string
		wantKeys []string
	}{
		{name: "longer", stored: listed + c + "\n", wantKeys: []string{"a", "b"}},
		{name: "truncated_at_a_newline", stored: a + "\n" + b, wantKeys: []string{"a"}},
		{name: "truncated_mid_line", stored: a + "\n" + b[:10], wantKeys: []string{"a"}},
		{name: "truncated_to_nothing", stored: "", wantKeys: nil},
		// Streaming cannot know a line is altered before the end: the
		// error comes once the whole object has been read.
		{name: "altered", stored: a + "\n" + strings.Replace(b, `"b"`, `"x"`, 1) + "\n", wantKeys: []string{"a", "x"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			lines, errs := drain(t, handmadeJobListing(t, tc.stored, listed, results.Options{}))
			var keys []string
			for _, l := range lines {
				keys = append(keys, l.Key)
			}
			if !cmp.Equal(keys, tc.wantKeys) {
				t.Errorf("keys %q, want %q", keys, tc.wantKeys)
			}
			onlyError(t, errs, results.ErrCorrupt)
		})
	}
}
