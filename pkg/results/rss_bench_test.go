package results_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/geminihooks/geminihooks/internal/geminisim"
	"github.com/geminihooks/geminihooks/pkg/blob"
	"github.com/geminihooks/geminihooks/pkg/event"
	"github.com/geminihooks/geminihooks/pkg/materializer"
	"github.com/geminihooks/geminihooks/pkg/results"
)

// Environment of the benchmark's child process.
const (
	childEnv      = "GEMINIHOOKS_READER_BENCH_CHILD" // the results file, JSON
	childCRCEnv   = "GEMINIHOOKS_READER_BENCH_CRC"   // its CRC32C
	benchBytesEnv = "GEMINIHOOKS_BENCH_BYTES"        // result size (default 2 GiB)
)

// TestMain doubles as the benchmark's child process: a peak RSS is a whole
// process's, so the reader runs in one of its own.
func TestMain(m *testing.M) {
	if spec := os.Getenv(childEnv); spec != "" {
		if err := runChild(spec, os.Getenv(childCRCEnv)); err != nil {
			fmt.Fprintln(os.Stderr, "bench child:", err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// BenchmarkReadLargeResult streams a batch result (2 GiB unless
// GEMINIHOOKS_BENCH_BYTES says otherwise) through Job.Lines in a child
// process, decoding every line into its genai type and checking the
// object's size and CRC32C, and reports that process's peak RSS (the
// highest over rounds) and its median throughput. The results file is the
// simulator's, generated as it is read, behind an Opener that serves it
// with its manifest: nothing holds the file, in memory or on disk, so the
// figure is the reader's own (plus the test binary's baseline), not a
// storage client's.
func BenchmarkReadLargeResult(b *testing.B) {
	size := int64(2 << 30)
	if v := os.Getenv(benchBytesEnv); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			b.Fatalf("%s: %v", benchBytesEnv, err)
		}
		size = n
	}
	var rss float64
	var rates []float64
	for i := 0; b.Loop(); i++ {
		file := geminisim.ResultsFile{Size: size, FailureRatio: 0.01, Seed: uint64(i)}
		crc := crc32.New(crc32.MakeTable(crc32.Castagnoli))
		if _, err := file.NewReader().WriteTo(crc); err != nil {
			b.Fatal(err)
		}
		spec, err := json.Marshal(file)
		if err != nil {
			b.Fatal(err)
		}
		cmd := exec.Command(os.Args[0], "-test.run=^$")
		cmd.Env = append(os.Environ(), childEnv+"="+string(spec), childCRCEnv+"="+strconv.FormatUint(uint64(crc.Sum32()), 10))
		var stdout, stderr bytes.Buffer
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		if err := cmd.Run(); err != nil {
			b.Fatalf("child: %v\n%s", err, stderr.String())
		}
		var lines, failed, ns int64
		if _, err := fmt.Sscanf(strings.TrimSpace(stdout.String()), "lines %d failed %d elapsed_ns %d", &lines, &failed, &ns); err != nil {
			b.Fatalf("child printed %q: %v", stdout.String(), err)
		}
		if wantLines, wantFailed, _ := file.Lines(); lines != wantLines || failed != wantFailed {
			b.Fatalf("child read %d lines (%d failed), want %d (%d)", lines, failed, wantLines, wantFailed)
		}
		// Maxrss is in KiB on Linux.
		rss = max(rss, float64(cmd.ProcessState.SysUsage().(*syscall.Rusage).Maxrss)/1024)
		rates = append(rates, float64(size)/(1<<20)/time.Duration(ns).Seconds())
	}
	b.ReportMetric(rss, "peak_rss_MiB")
	b.ReportMetric(median(rates), "MiB/s")
}

// median returns the median of vs, which it sorts.
func median(vs []float64) float64 {
	slices.Sort(vs)
	n := len(vs)
	if n%2 == 1 {
		return vs[n/2]
	}
	return (vs[n/2-1] + vs[n/2]) / 2
}

// runChild reads the results file spec describes through a Reader and
// prints how many lines it read, how many were errors, and how long it
// took.
func runChild(spec, crc string) error {
	var file geminisim.ResultsFile
	if err := json.Unmarshal([]byte(spec), &file); err != nil {
		return err
	}
	sum, err := strconv.ParseUint(crc, 10, 32)
	if err != nil {
		return err
	}
	src, err := newGenerated(file, uint32(sum))
	if err != nil {
		return err
	}
	r, err := results.New(src, testBucket, results.Options{})
	if err != nil {
		return err
	}
	ctx := context.Background()
	start := time.Now()
	job, err := r.OpenFolder(ctx, src.folder)
	if err != nil {
		return err
	}
	var lines, failed int64
	for line, err := range job.Lines(ctx) {
		if err != nil {
			return err
		}
		lines++
		if line.Error != nil {
			failed++
		} else if line.Response == nil || len(line.Response.Candidates) == 0 {
			return fmt.Errorf("line %d has no candidates", line.N)
		}
	}
	fmt.Printf("lines %d failed %d elapsed_ns %d\n", lines, failed, time.Since(start).Nanoseconds())
	return nil
}

// generated is an Opener serving one batch job whose results.jsonl is a
// simulator results file, generated as it is read.
type generated struct {
	folder   string
	file     geminisim.ResultsFile
	manifest []byte
}

var _ results.Opener = (*generated)(nil)

func newGenerated(file geminisim.ResultsFile, crc uint32) (*generated, error) {
	g := &generated{folder: materializer.JobFolder("", event.KindBatch, "bench"), file: file}
	man := materializer.Manifest{
		SchemaVersion: event.ResultsSchemaVersion, Kind: event.KindBatch, Resource: "batches/bench", State: event.StateSucceeded,
		Objects: []event.StoredObject{{Name: g.folder + materializer.ResultsName, Size: file.Size, CRC32C: event.EncodeCRC32C(crc), ContentType: file.ContentType()}},
	}
	var err error
	g.manifest, err = json.Marshal(man)
	return g, err
}

func (g *generated) Open(_ context.Context, name string) (io.ReadCloser, error) {
	switch name {
	case g.folder + materializer.ManifestName:
		return io.NopCloser(bytes.NewReader(g.manifest)), nil
	case g.folder + materializer.ResultsName:
		return io.NopCloser(g.file.NewReader()), nil
	}
	return nil, fmt.Errorf("%w: %s", blob.ErrNotExist, name)
}
