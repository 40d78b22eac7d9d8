package results

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"iter"

	"google.golang.org/genai"

	"github.com/geminihooks/geminihooks/pkg/gemini"
	"github.com/geminihooks/geminihooks/pkg/materializer"
)

// More sentinel errors of Lines.
var (
	// ErrInvalidLine reports a results line that is not a JSON object with
	// exactly one of "response" and "error". Iteration goes on after it.
	ErrInvalidLine = errors.New("results: invalid results line")
	// ErrLineTooLong reports a line longer than Options.MaxLineSize. It
	// ends the iteration.
	ErrLineTooLong = errors.New("results: results line too long")
)

// Line is one line of a batch's results.jsonl: the answer to one request.
// Exactly one of Response, Embedding and Error is set.
type Line struct {
	// N is the line's number in the file, from 1.
	N int64
	// Key is the request's key, as the batch's input line named it (for
	// inlined requests, the request's metadata.key, else its 0-based index).
	// A key that is not a JSON string is kept as its JSON text.
	Key string
	// Response is the answer of a generation batch, decoded as the genai
	// SDK decodes GenerateContent responses of the Gemini API.
	Response *genai.GenerateContentResponse
	// Embedding is the answer of an embedding batch.
	Embedding *genai.SingleEmbedContentResponse
	// Error is the request's failure, a google.rpc.Status. (The SDK's
	// JobError cannot hold the status's details, which are objects.)
	Error *gemini.JobError
	// Raw is the line as stored, without its newline. It is only valid
	// until the loop continues: copy it to keep it.
	Raw []byte
}

// Lines iterates over a batch's results line by line, at constant memory
// (see the package documentation), checking results.jsonl against the
// manifest as it streams. Each step yields a line or an error:
//
//   - an error wrapping ErrInvalidLine for a line that cannot be decoded;
//     the iteration goes on with the next line if the loop does;
//   - any other error ends the iteration: ErrNotStored when the job has no
//     results (not a batch, or a batch that failed), ErrCorrupt when the
//     object does not match the manifest (at the latest when it ends),
//     ErrLineTooLong, a read error, or ctx's error.
//
// Blank lines are skipped. Leaving the loop early closes the object.
func (j *Job) Lines(ctx context.Context) iter.Seq2[*Line, error] {
	return func(yield func(*Line, error) bool) {
		o, err := j.object(materializer.ResultsName)
		if err != nil {
			yield(nil, err)
			return
		}
		rc, err := j.r.open(ctx, o)
		if err != nil {
			yield(nil, err)
			return
		}
		defer rc.Close()
		lr := lineReader{br: bufio.NewReaderSize(rc, readBufferSize), max: j.r.maxLineSize}
		for n := int64(1); ; n++ {
			if err := ctx.Err(); err != nil {
				yield(nil, err)
				return
			}
			raw, err := lr.next()
			if err != nil && !errors.Is(err, io.EOF) {
				if errors.Is(err, ErrLineTooLong) {
					err = fmt.Errorf("%w: line %d of %s is longer than %d bytes", ErrLineTooLong, n, j.r.uri(o.Name), lr.max)
				}
				yield(nil, err) // what was read of the line is dropped
				return
			}
			if len(bytes.TrimSpace(raw)) > 0 {
				line, lerr := parseLine(n, raw)
				if lerr != nil {
					line, lerr = nil, fmt.Errorf("%s line %d: %w", j.r.uri(o.Name), n, lerr)
				}
				if !yield(line, lerr) {
					return
				}
			}
			if errors.Is(err, io.EOF) {
				return
			}
		}
	}
}

// lineReader splits a stream into lines of at most max bytes.
type lineReader struct {
	br  *bufio.Reader
	max int
	buf []byte // a line longer than br's buffer, reused
}

// next returns the next line without its newline, and io.EOF with the last
// line (which may be empty, or lack its newline). Any other error comes
// with what was read of an unfinished line, which is not a line.
func (l *lineReader) next() ([]byte, error) {
	frag, err := l.br.ReadSlice('\n')
	if err == nil {
		// The common case: the whole line is in the read buffer.
		return trimNewline(frag, l.max)
	}
	l.buf = l.buf[:0]
	for errors.Is(err, bufio.ErrBufferFull) {
		if len(l.buf)+len(frag) > l.max+1 {
			return nil, ErrLineTooLong
		}
		l.buf = append(l.buf, frag...)
		frag, err = l.br.ReadSlice('\n')
	}
	l.buf = append(l.buf, frag...)
	line, lerr := trimNewline(l.buf, l.max)
	if lerr != nil {
		return nil, lerr
	}
	return line, err
}

func trimNewline(b []byte, limit int) ([]byte, error) {
	b = bytes.TrimSuffix(b, []byte("\n"))
	b = bytes.TrimSuffix(b, []byte("\r"))
	if len(b) > limit {
		return nil, ErrLineTooLong
	}
	return b, nil
}

// wireLine is a results line as the materializer stores it, decoded in one
// pass: the response decodes itself into the type its shape calls for.
type wireLine struct {
	Key      json.RawMessage  `json:"key"`
	Response *wireResponse    `json:"response"`
	Error    *gemini.JobError `json:"error"`
}

// wireResponse is a line's response: a generation or an embedding.
type wireResponse struct {
	generation *genai.GenerateContentResponse
	embedding  *genai.SingleEmbedContentResponse
}

// Markers that decide how a response is decoded, searched as bytes so that
// a generation response costs no extra decoding. Inside a JSON string a
// quote is escaped, so the quoted forms only match keys (or a string value
// that is exactly the word, which the probe then rules out).
var (
	embeddingKey       = []byte(`"embedding"`)
	citationSourcesKey = []byte(`"citationSources"`)
)

// UnmarshalJSON implements json.Unmarshaler.
func (w *wireResponse) UnmarshalJSON(b []byte) error {
	if bytes.Contains(b, embeddingKey) {
		var probe struct {
			Embedding json.RawMessage `json:"embedding"`
		}
		if err := json.Unmarshal(b, &probe); err == nil && nonNull(probe.Embedding) != nil {
			w.embedding = new(genai.SingleEmbedContentResponse)
			return json.Unmarshal(b, w.embedding)
		}
	}
	w.generation = new(genai.GenerateContentResponse)
	if err := json.Unmarshal(b, w.generation); err != nil {
		return err
	}
	if bytes.Contains(b, citationSourcesKey) {
		return renameCitations(b, w.generation)
	}
	return nil
}

func parseLine(n int64, raw []byte) (*Line, error) {
	var w wireLine
	if err := json.Unmarshal(raw, &w); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalidLine, err)
	}
	if (w.Response == nil) == (w.Error == nil) {
		return nil, fmt.Errorf("%w: want exactly one of \"response\" and \"error\"", ErrInvalidLine)
	}
	line := &Line{N: n, Raw: raw, Error: w.Error}
	if w.Response != nil {
		line.Response, line.Embedding = w.Response.generation, w.Response.embedding
	}
	if k := nonNull(w.Key); len(k) > 0 && k[0] == '"' {
		if err := json.Unmarshal(k, &line.Key); err != nil {
			return nil, fmt.Errorf("%w: key: %w", ErrInvalidLine, err)
		}
	} else {
		line.Key = string(k)
	}
	return line, nil
}

// renameCitations does the one rename the SDK's converter of Gemini API
// responses makes (generateContentResponseFromMldev):
// candidates[].citationMetadata.citationSources becomes
// CitationMetadata.Citations, which decoding the REST shape as is leaves
// empty.
func renameCitations(raw []byte, resp *genai.GenerateContentResponse) error {
	var rest struct {
		Candidates []struct {
			CitationMetadata *struct {
				CitationSources []*genai.Citation `json:"citationSources"`
			} `json:"citationMetadata"`
		} `json:"candidates"`
	}
	if err := json.Unmarshal(raw, &rest); err != nil {
		return err
	}
	for i, c := range rest.Candidates {
		if c.CitationMetadata == nil || len(c.CitationMetadata.CitationSources) == 0 || i >= len(resp.Candidates) || resp.Candidates[i] == nil {
			continue
		}
		resp.Candidates[i].CitationMetadata = &genai.CitationMetadata{Citations: c.CitationMetadata.CitationSources}
	}
	return nil
}

// nonNull returns nil for an absent or null JSON value.
func nonNull(v json.RawMessage) json.RawMessage {
	if len(v) == 0 || bytes.Equal(v, []byte("null")) {
		return nil
	}
	return v
}
