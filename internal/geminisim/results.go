package geminisim

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"sync"
)

// ErrInvalidSpec is wrapped by every error about a malformed specification
// (a file, job or option the simulator cannot honour).
var ErrInvalidSpec = errors.New("geminisim: invalid specification")

// Defaults of a ResultsFile.
const (
	// DefaultLineSize is the nominal length of a results line, newline
	// included: about what a short text answer takes.
	DefaultLineSize = 1024
	// MinLineSize is the smallest LineSize accepted.
	MinLineSize = 256
	// DefaultModelVersion is the modelVersion reported in generated responses.
	DefaultModelVersion = "gemini-2.5-flash"
)

// ResultsFile describes the JSONL results file of a batch job, the file named
// by the batch's responsesFile. Each line answers one request:
//
//	{"key":"request-1","response":{"candidates":[...],"usageMetadata":{...},"modelVersion":"...","responseId":"..."}}
//	{"key":"request-2","error":{"code":13,"message":"Internal error encountered. ..."}}
//
// The Batch guide says each output line is "either a GenerateContentResponse
// or a status object" carrying the input line's key; the error object is a
// google.rpc.Status (gRPC code and message), which is what the Go SDK's
// JobError models.
//
// The content is deterministic: equal values produce equal bytes. Lines are
// padded with filler text so that the file is exactly Size bytes; every line
// is valid JSON and ends with "\n".
type ResultsFile struct {
	// Size is the exact length in bytes. Zero is an empty file; otherwise it
	// must hold at least one line (a few hundred bytes).
	Size int64
	// LineSize is the nominal line length in bytes, newline included;
	// actual lines differ from it by at most a few percent. Zero means
	// DefaultLineSize.
	LineSize int
	// FailureRatio is the fraction of lines, in [0, 1], that are errors.
	// Failures are spread evenly through the file; their count is
	// floor(lines × ratio) (at a resolution of one part per million).
	FailureRatio float64
	// Seed varies the filler text and ids; files that differ only in Seed
	// have the same layout but different bytes.
	Seed uint64
	// ModelVersion is reported in every response. Zero means
	// DefaultModelVersion. It must match [A-Za-z0-9._-]+.
	ModelVersion string
}

var _ Content = ResultsFile{}

// ContentLength returns Size.
func (f ResultsFile) ContentLength() int64 { return f.Size }

// ContentType returns the JSON Lines media type.
func (f ResultsFile) ContentType() string { return "application/jsonl" }

// Validate reports whether the file can be generated.
func (f ResultsFile) Validate() error {
	_, err := f.layout()
	return err
}

// Lines returns how many lines the file has and how many of them are
// errors. A batch built on the file reports these counts in its batchStats.
func (f ResultsFile) Lines() (total, failed int64, err error) {
	l, err := f.layout()
	if err != nil {
		return 0, 0, err
	}
	return l.lines, l.failed(), nil
}

// NewReader returns a reader over the file's bytes. It panics if the file is
// invalid; call Validate first.
func (f ResultsFile) NewReader() *Reader {
	l, err := f.layout()
	if err != nil {
		panic(err)
	}
	return &Reader{gen: &resultsGen{resultsLayout: l}}
}

// Fixed parts of a results line. A success line is
//
//	s1 key s2 text s3 prompt s4 candidates s5 total s6 modelVersion s7 responseId s8
//
// and an error line is
//
//	e1 key e2 code e3 message text e4
const (
	s1 = `{"key":"request-`
	s2 = `","response":{"candidates":[{"content":{"parts":[{"text":"`
	s3 = `"}],"role":"model"},"finishReason":"STOP","index":0}],"usageMetadata":{"promptTokenCount":`
	s4 = `,"candidatesTokenCount":`
	s5 = `,"totalTokenCount":`
	s6 = `},"modelVersion":"`
	s7 = `","responseId":"`
	s8 = "\"}}\n"
	e1 = s1
	e2 = `","error":{"code":`
	e3 = `,"message":"`
	e4 = "\"}}\n"

	// Token counts are drawn from ranges with a fixed number of digits, so
	// that a line's skeleton length depends only on its key and kind.
	promptDigits, candidatesDigits, totalDigits = 2, 3, 3
	responseIDLen                               = 22

	successFixed = len(s1) + len(s2) + len(s3) + len(s4) + len(s5) + len(s6) + len(s7) + len(s8) +
		promptDigits + candidatesDigits + totalDigits + responseIDLen
	errorFixed = len(e1) + len(e2) + len(e3) + len(e4)
)

// lineErrors are the per-request failures a results file reports, as
// google.rpc.Status values.
var lineErrors = [...]struct {
	code    int64
	message string
}{
	{3, "Request contains an invalid argument. "},
	{8, "Resource has been exhausted (e.g. check quota). "},
	{13, "Internal error encountered. "},
}

// maxErrorFixed is the longest error-line skeleton, key excluded.
var maxErrorFixed = func() int {
	m := 0
	for _, e := range lineErrors {
		m = max(m, errorFixed+digits(e.code)+len(e.message))
	}
	return m
}()

// resultsLayout is a validated ResultsFile with its line geometry: lines
// lines, the first extra of which are base+1 bytes long and the rest base.
// Line offsets are therefore computable, which makes the file seekable.
type resultsLayout struct {
	size        int64
	lines       int64
	base, extra int64
	ppm         int64 // failures per million lines
	seed        uint64
	model       string
}

// layout validates f and computes its geometry.
func (f ResultsFile) layout() (resultsLayout, error) {
	l := resultsLayout{size: f.Size, seed: f.Seed, model: f.ModelVersion}
	if l.model == "" {
		l.model = DefaultModelVersion
	}
	if !isToken(l.model) {
		return l, fmt.Errorf("%w: results model version %q must match [A-Za-z0-9._-]+", ErrInvalidSpec, l.model)
	}
	if math.IsNaN(f.FailureRatio) || f.FailureRatio < 0 || f.FailureRatio > 1 {
		return l, fmt.Errorf("%w: results failure ratio %v is outside [0, 1]", ErrInvalidSpec, f.FailureRatio)
	}
	l.ppm = int64(math.Round(f.FailureRatio * 1e6))
	lineSize := int64(f.LineSize)
	if lineSize == 0 {
		lineSize = DefaultLineSize
	}
	if lineSize < MinLineSize {
		return l, fmt.Errorf("%w: results line size %d is below %d", ErrInvalidSpec, lineSize, MinLineSize)
	}
	switch {
	case f.Size < 0:
		return l, fmt.Errorf("%w: results size %d is negative", ErrInvalidSpec, f.Size)
	case f.Size == 0:
		return l, nil
	}
	// Start from the nominal line count and lower it until the longest
	// skeleton fits in every line. Fewer lines means shorter keys, so the
	// loop only ever moves down and ends.
	n := max(f.Size/lineSize, 1)
	for {
		need := maxSkeleton(n, len(l.model))
		if f.Size/n >= need {
			break
		}
		next := f.Size / need
		if next == 0 {
			return l, fmt.Errorf("%w: results size %d is below the shortest line (%d bytes)", ErrInvalidSpec, f.Size, need)
		}
		if next >= n {
			next = n - 1
		}
		n = next
	}
	l.lines, l.base, l.extra = n, f.Size/n, f.Size%n
	return l, nil
}

// maxSkeleton is the longest line skeleton (everything but filler text) in
// a file of n lines whose model version is modelLen bytes long.
func maxSkeleton(n int64, modelLen int) int64 {
	return int64(max(successFixed+modelLen, maxErrorFixed) + digits(n))
}

// failed is the number of error lines.
func (l resultsLayout) failed() int64 { return l.lines * l.ppm / 1e6 }

// isError reports whether line k (0-based) is an error. The error lines are
// those where floor(k × ratio) steps up, which spreads them evenly.
func (l resultsLayout) isError(k int64) bool {
	return (k+1)*l.ppm/1e6 > k*l.ppm/1e6
}

// lineLen is the length of line k, newline included.
func (l resultsLayout) lineLen(k int64) int64 {
	if k < l.extra {
		return l.base + 1
	}
	return l.base
}

// lineAt returns the line containing byte offset off and where it starts.
func (l resultsLayout) lineAt(off int64) (k, start int64) {
	long := l.extra * (l.base + 1)
	if off < long {
		k = off / (l.base + 1)
		return k, k * (l.base + 1)
	}
	k = l.extra + (off-long)/l.base
	return k, long + (k-l.extra)*l.base
}

// resultsGen generates a results file. It has a scratch buffer for lines
// that straddle a fill boundary, so each Reader gets its own.
type resultsGen struct {
	resultsLayout
	scratch []byte
}

func (g *resultsGen) size() int64 { return g.resultsLayout.size }

func (g *resultsGen) fill(dst []byte, off int64) {
	k, start := g.lineAt(off)
	for len(dst) > 0 {
		n := g.lineLen(k)
		if off == start && int64(len(dst)) >= n {
			// The whole line fits: generate it in place. The capacity limit
			// keeps append from ever writing past dst.
			g.appendLine(dst[:0:n], k)
			dst = dst[n:]
		} else {
			g.scratch = g.appendLine(g.scratch[:0], k)
			c := copy(dst, g.scratch[off-start:])
			dst = dst[c:]
		}
		off = start + n
		start = off
		k++
	}
}

// appendLine appends line k (0-based; its key is "request-<k+1>").
func (g *resultsGen) appendLine(b []byte, k int64) []byte {
	n := g.lineLen(k)
	key := k + 1
	h := mix(g.seed, uint64(k))
	b = append(b, s1...)
	b = strconv.AppendInt(b, key, 10)
	if g.isError(k) {
		e := lineErrors[h%uint64(len(lineErrors))]
		b = append(b, e2...)
		b = strconv.AppendInt(b, e.code, 10)
		b = append(b, e3...)
		b = append(b, e.message...)
		fill := n - int64(errorFixed+digits(key)+digits(e.code)+len(e.message))
		b = appendFiller(b, fill, h)
		return append(b, e4...)
	}
	prompt := 10 + int64(h%90)            // 2 digits
	candidates := 100 + int64((h>>8)%800) // 3 digits; total stays below 1000
	b = append(b, s2...)
	fill := n - int64(successFixed+digits(key)+len(g.model))
	b = appendFiller(b, fill, h)
	b = append(b, s3...)
	b = strconv.AppendInt(b, prompt, 10)
	b = append(b, s4...)
	b = strconv.AppendInt(b, candidates, 10)
	b = append(b, s5...)
	b = strconv.AppendInt(b, prompt+candidates, 10)
	b = append(b, s6...)
	b = append(b, g.model...)
	b = append(b, s7...)
	b = appendResponseID(b, h)
	return append(b, s8...)
}

// fillerWords make up the filler text. They contain nothing that JSON
// would escape.
var fillerWords = [...]string{
	"the", "batch", "model", "answer", "request", "result", "token", "stream",
	"signal", "river", "mountain", "quiet", "light", "under", "between", "across",
	"gemini", "webhook", "storage", "bucket", "object", "line", "json", "value",
	"simple", "careful", "bright", "window", "garden", "number", "paper", "system",
	"first", "second", "third", "again", "always", "never", "often", "rarely",
	"north", "south", "east", "west", "morning", "evening", "summer", "winter",
	"data", "field", "record", "index", "offset", "buffer", "chunk", "upload",
	"and", "or", "with", "from", "into", "over", "after", "before",
}

// fillerPoolSize is the length of the filler pool; lines longer than it
// cycle through it.
const fillerPoolSize = 64 << 10

// fillerPool is fillerPoolSize bytes of words, stored twice in a row so that
// any window of up to fillerPoolSize bytes is contiguous. It is immutable
// once built.
var fillerPool = sync.OnceValue(func() []byte {
	b := make([]byte, 0, fillerPoolSize+64)
	x := uint64(0x243F6A8885A308D3)
	for len(b) < fillerPoolSize {
		x = mix(x, 0)
		b = append(b, fillerWords[x%uint64(len(fillerWords))]...)
		if x>>32%11 == 0 {
			b = append(b, '.')
		} else if x>>32%7 == 0 {
			b = append(b, ',')
		}
		b = append(b, ' ')
	}
	b = b[:fillerPoolSize]
	return append(b, b...)
})

// appendFiller appends n bytes of filler text starting at a position chosen
// by h.
func appendFiller(b []byte, n int64, h uint64) []byte {
	pool := fillerPool()
	at := int(h % fillerPoolSize)
	for n > 0 {
		c := int(min(n, fillerPoolSize))
		b = append(b, pool[at:at+c]...)
		n -= int64(c)
	}
	return b
}

// responseIDAlphabet is base64url, the alphabet of real responseId values.
const responseIDAlphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"

// appendResponseID appends responseIDLen characters derived from h, ten
// characters (60 bits) per hash word.
func appendResponseID(b []byte, h uint64) []byte {
	var x uint64
	for i := range responseIDLen {
		if i%10 == 0 {
			x = mix(h, uint64(i))
		}
		b = append(b, responseIDAlphabet[x&63])
		x >>= 6
	}
	return b
}

// mix is SplitMix64's finalizer over seed and i: a cheap, well-spread hash
// that makes every line's pseudo-random choices independent of the others.
func mix(seed, i uint64) uint64 {
	z := seed + (i+1)*0x9E3779B97F4A7C15
	z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9
	z = (z ^ (z >> 27)) * 0x94D049BB133111EB
	return z ^ (z >> 31)
}

// digits returns the number of decimal digits of a non-negative x.
func digits(x int64) int {
	d := 1
	for x >= 10 {
		x /= 10
		d++
	}
	return d
}

// isToken reports whether s is non-empty and made of [A-Za-z0-9._-], i.e.
// safe to embed in JSON and in a resource name without escaping.
func isToken(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '.' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}
