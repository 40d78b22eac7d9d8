package geminisim

import (
	"bufio"
	"bytes"
	"crypto/md5"
	"crypto/sha256"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// readAll returns every byte of c, read through small reads of varying
// sizes so that lines straddle read boundaries.
func readAll(t *testing.T, c Content) []byte {
	t.Helper()
	r := c.NewReader()
	var out bytes.Buffer
	buf := make([]byte, 4099)
	rng := rand.New(rand.NewPCG(1, 2))
	for {
		n, err := r.Read(buf[:1+rng.IntN(len(buf)-1)])
		out.Write(buf[:n])
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("Read: %v", err)
		}
	}
	return out.Bytes()
}

// resultsLine is a parsed line of a results file.
type resultsLine struct {
	Key      string `json:"key"`
	Response *struct {
		Candidates []struct {
			Content struct {
				Parts []struct {
					Text string `json:"text"`
				} `json:"parts"`
				Role string `json:"role"`
			} `json:"content"`
			FinishReason string `json:"finishReason"`
			Index        int    `json:"index"`
		} `json:"candidates"`
		UsageMetadata struct {
			PromptTokenCount     int `json:"promptTokenCount"`
			CandidatesTokenCount int `json:"candidatesTokenCount"`
			TotalTokenCount      int `json:"totalTokenCount"`
		} `json:"usageMetadata"`
		ModelVersion string `json:"modelVersion"`
		ResponseID   string `json:"responseId"`
	} `json:"response"`
	Error *struct {
		Code    int    `json:"code"`
		Message string `json:"message"`
	} `json:"error"`
}

func TestResultsFile_format(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name string
		file ResultsFile
	}{
		{"empty", ResultsFile{}},
		{"single_short_line", ResultsFile{Size: 400}},
		{"exact_multiple", ResultsFile{Size: 64 * DefaultLineSize}},
		{"odd_size", ResultsFile{Size: 1_000_003, Seed: 7}},
		{"small_lines", ResultsFile{Size: 123_457, LineSize: MinLineSize}},
		{"large_lines", ResultsFile{Size: 3 << 20, LineSize: 200_000, FailureRatio: 0.5}},
		{"ten_percent_failures", ResultsFile{Size: 2 << 20, FailureRatio: 0.1, Seed: 3}},
		{"all_failures", ResultsFile{Size: 50_000, FailureRatio: 1}},
		{"custom_model", ResultsFile{Size: 70_000, ModelVersion: "gemini-3.1-pro-preview-customtools"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			total, failed, err := tc.file.Lines()
			if err != nil {
				t.Fatalf("Lines: %v", err)
			}
			data := readAll(t, tc.file)
			if got, want := int64(len(data)), tc.file.Size; got != want {
				t.Fatalf("generated %d bytes, want %d", got, want)
			}
			if tc.file.ContentLength() != tc.file.Size {
				t.Errorf("ContentLength() = %d, want %d", tc.file.ContentLength(), tc.file.Size)
			}
			sc := bufio.NewScanner(bytes.NewReader(data))
			sc.Buffer(nil, 1<<20)
			var lines, errs int64
			for sc.Scan() {
				lines++
				var l resultsLine
				dec := json.NewDecoder(bytes.NewReader(sc.Bytes()))
				dec.DisallowUnknownFields()
				if err := dec.Decode(&l); err != nil {
					t.Fatalf("line %d is not valid: %v\n%.300s", lines, err, sc.Bytes())
				}
				if want := fmt.Sprintf("request-%d", lines); l.Key != want {
					t.Fatalf("line %d has key %q, want %q", lines, l.Key, want)
				}
				switch {
				case l.Error != nil && l.Response == nil:
					errs++
					if l.Error.Code == 0 || l.Error.Message == "" {
						t.Errorf("line %d: incomplete error %+v", lines, *l.Error)
					}
				case l.Response != nil && l.Error == nil:
					r := l.Response
					if len(r.Candidates) != 1 || len(r.Candidates[0].Content.Parts) != 1 || r.Candidates[0].Content.Role != "model" {
						t.Fatalf("line %d: unexpected candidates %+v", lines, r.Candidates)
					}
					u := r.UsageMetadata
					if u.TotalTokenCount != u.PromptTokenCount+u.CandidatesTokenCount {
						t.Errorf("line %d: inconsistent usage %+v", lines, u)
					}
					want := tc.file.ModelVersion
					if want == "" {
						want = DefaultModelVersion
					}
					if r.ModelVersion != want || len(r.ResponseID) != responseIDLen {
						t.Errorf("line %d: modelVersion %q responseId %q", lines, r.ModelVersion, r.ResponseID)
					}
				default:
					t.Fatalf("line %d has neither exactly a response nor an error: %.300s", lines, sc.Bytes())
				}
			}
			if err := sc.Err(); err != nil {
				t.Fatal(err)
			}
			if len(data) > 0 && data[len(data)-1] != '\n' {
				t.Error("file does not end with a newline")
			}
			if lines != total || errs != failed {
				t.Errorf("counted %d lines, %d errors; Lines() says %d, %d", lines, errs, total, failed)
			}
			if want := int64(float64(total) * tc.file.FailureRatio); errs != want {
				t.Errorf("%d error lines, want floor(%d × %v) = %d", errs, total, tc.file.FailureRatio, want)
			}
			if tc.file.LineSize == 0 && total > 1 {
				// Lines stay close to the nominal size.
				if avg := tc.file.Size / total; avg < DefaultLineSize*9/10 || avg > DefaultLineSize*11/10 {
					t.Errorf("average line is %d bytes, want about %d", avg, DefaultLineSize)
				}
			}
		})
	}
}

func TestResultsFile_deterministic(t *testing.T) {
	t.Parallel()
	f := ResultsFile{Size: 300_001, FailureRatio: 0.2, Seed: 42}
	a, b := readAll(t, f), readAll(t, f)
	if !bytes.Equal(a, b) {
		t.Fatal("two readers of the same file produced different bytes")
	}
	var whole bytes.Buffer
	if _, err := f.NewReader().WriteTo(&whole); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(a, whole.Bytes()) {
		t.Fatal("WriteTo and Read produced different bytes")
	}
	g := f
	g.Seed = 43
	c := readAll(t, g)
	if len(c) != len(a) || bytes.Equal(a, c) {
		t.Errorf("changing the seed: len %d vs %d, equal=%v; want the same length and different bytes", len(c), len(a), bytes.Equal(a, c))
	}
	tf, ff, _ := f.Lines()
	tg, fg, _ := g.Lines()
	if tf != tg || ff != fg {
		t.Errorf("changing the seed changed the layout: %d/%d lines vs %d/%d", tf, ff, tg, fg)
	}
}

func TestReader_seek(t *testing.T) {
	t.Parallel()
	contents := []struct {
		name string
		c    Content
	}{
		{"results", ResultsFile{Size: 200_003, FailureRatio: 0.3, Seed: 9}},
		{"video", VideoFile{Size: 100_005, Seed: 5}},
		{"static", StaticFile{Data: []byte("hello, world\n")}},
	}
	for _, tc := range contents {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			whole := readAll(t, tc.c)
			r := tc.c.NewReader()
			rng := rand.New(rand.NewPCG(3, 4))
			for range 200 {
				off := rng.Int64N(int64(len(whole)))
				n := 1 + rng.IntN(5000)
				if _, err := r.Seek(off, io.SeekStart); err != nil {
					t.Fatal(err)
				}
				got := make([]byte, n)
				m, err := io.ReadFull(r, got)
				if err != nil && !errors.Is(err, io.ErrUnexpectedEOF) {
					t.Fatal(err)
				}
				want := whole[off:min(off+int64(n), int64(len(whole)))]
				if !bytes.Equal(got[:m], want) {
					t.Fatalf("bytes at %d..%d differ from a sequential read", off, off+int64(n))
				}
			}
			if end, err := r.Seek(0, io.SeekEnd); err != nil || end != tc.c.ContentLength() {
				t.Errorf("Seek(0, SeekEnd) = %d, %v; want %d", end, err, tc.c.ContentLength())
			}
			if n, err := r.Read(make([]byte, 1)); n != 0 || err != io.EOF {
				t.Errorf("Read at end = %d, %v; want 0, EOF", n, err)
			}
			if _, err := r.Seek(-1, io.SeekStart); err == nil {
				t.Error("Seek to -1 succeeded")
			}
		})
	}
}

func TestContent_invalid(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name string
		c    Content
	}{
		{"negative_size", ResultsFile{Size: -1}},
		{"below_one_line", ResultsFile{Size: 100}},
		{"line_size_too_small", ResultsFile{Size: 10_000, LineSize: 100}},
		{"ratio_above_one", ResultsFile{Size: 10_000, FailureRatio: 1.5}},
		{"ratio_negative", ResultsFile{Size: 10_000, FailureRatio: -0.1}},
		{"model_needs_escaping", ResultsFile{Size: 10_000, ModelVersion: `a"b`}},
		{"video_too_small", VideoFile{Size: MinVideoSize - 1}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			if err := tc.c.Validate(); !errors.Is(err, ErrInvalidSpec) {
				t.Errorf("Validate() = %v, want ErrInvalidSpec", err)
			}
			if _, err := DigestOf(tc.c); !errors.Is(err, ErrInvalidSpec) {
				t.Errorf("DigestOf() = %v, want ErrInvalidSpec", err)
			}
		})
	}
}

func TestVideoFile_boxes(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name     string
		size     int64
		wantHead []byte
	}{
		{"smallest", MinVideoSize, []byte("\x00\x00\x00\x08mdat")},
		{"one_mib", 1 << 20, binary.BigEndian.AppendUint32(nil, 1<<20-32)},
		// Over 4 GiB the mdat box uses a 64-bit size; nothing is generated
		// beyond the bytes read.
		{"five_gib", 5 << 30, append([]byte("\x00\x00\x00\x01mdat"), binary.BigEndian.AppendUint64(nil, 5<<30-32)...)},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			v := VideoFile{Size: tc.size, Seed: 1}
			head := make([]byte, min(48, tc.size))
			if _, err := io.ReadFull(v.NewReader(), head); err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(head[:32], ftypBox) {
				t.Errorf("ftyp box = %q", head[:32])
			}
			if !bytes.HasPrefix(head[32:], tc.wantHead[:min(len(tc.wantHead), len(head)-32)]) {
				t.Errorf("mdat header = %x, want prefix %x", head[32:], tc.wantHead)
			}
			if v.ContentType() != "video/mp4" {
				t.Errorf("ContentType() = %q", v.ContentType())
			}
		})
	}
}

func TestDigestOf(t *testing.T) {
	t.Parallel()
	for _, c := range []Content{
		ResultsFile{Size: 777_777, FailureRatio: 0.05},
		VideoFile{Size: 333_333},
		StaticFile{Data: []byte(strings.Repeat("x", 1000))},
	} {
		data := readAll(t, c)
		got, err := DigestOf(c)
		if err != nil {
			t.Fatal(err)
		}
		want := Digest{Size: int64(len(data)), SHA256: sha256.Sum256(data), MD5: md5.Sum(data),
			CRC32C: crc32.Checksum(data, crc32.MakeTable(crc32.Castagnoli))}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("DigestOf(%T) mismatch (-want +got):\n%s", c, diff)
		}
	}
}
