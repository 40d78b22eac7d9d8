package materializer

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"cloud.google.com/go/storage"
	"google.golang.org/api/option"

	"github.com/geminihooks/geminihooks/pkg/blob"
	"github.com/geminihooks/geminihooks/pkg/blob/gcsdiscard"
	"github.com/geminihooks/geminihooks/pkg/event"
	"github.com/geminihooks/geminihooks/pkg/gemini"
	"github.com/geminihooks/geminihooks/pkg/geminisim"
	"github.com/geminihooks/geminihooks/pkg/logging"
	"github.com/geminihooks/geminihooks/pkg/publish"
)

// Environment of the benchmark's child process.
const (
	childModeEnv  = "GEMINIHOOKS_BENCH_CHILD" // "materialize" or "iocopy"
	childSimEnv   = "GEMINIHOOKS_BENCH_SIM"   // simulator URL
	childKeyEnv   = "GEMINIHOOKS_BENCH_KEY"   // simulator API key
	childGCSEnv   = "GEMINIHOOKS_BENCH_GCS"   // gcsdiscard endpoint
	childSinkEnv  = "GEMINIHOOKS_BENCH_SINK"  // raw discarding PUT endpoint
	childEventEnv = "GEMINIHOOKS_BENCH_EVENT" // the completion event, JSON
	childFileEnv  = "GEMINIHOOKS_BENCH_FILE"  // the results file name
	benchBytesEnv = "GEMINIHOOKS_BENCH_BYTES" // result size (default 2 GiB)
)

// TestMain doubles as the benchmark's child process: measuring the
// materializer's peak RSS needs a process of its own, away from the
// simulator and the storage stand-in that serve it.
func TestMain(m *testing.M) {
	if mode := os.Getenv(childModeEnv); mode != "" {
		elapsed, err := runChild(mode)
		if err != nil {
			fmt.Fprintln(os.Stderr, "bench child:", err)
			os.Exit(1)
		}
		fmt.Printf("elapsed_ns %d\n", elapsed.Nanoseconds())
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// BenchmarkMaterializeLargeBatch copies a batch result (2 GiB unless
// GEMINIHOOKS_BENCH_BYTES says otherwise) from the simulator to a Cloud
// Storage stand-in that discards the bytes, in a child process, and reports
// that process's peak RSS and throughput, next to a bare io.Copy of the same
// bytes over the same loopback path (GET from the simulator, PUT to a
// discarding server) in a child process as well. Run with -benchtime=1x.
func BenchmarkMaterializeLargeBatch(b *testing.B) {
	size := int64(2 << 30)
	if v := os.Getenv(benchBytesEnv); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			b.Fatalf("%s: %v", benchBytesEnv, err)
		}
		size = n
	}
	const key = "bench-key"
	sim, err := geminisim.New(geminisim.Options{APIKey: key})
	if err != nil {
		b.Fatal(err)
	}
	if err := sim.Start(); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = sim.Close() })
	// The stand-in runs in this process, on the same cores as the child, so
	// it skips MD5: Cloud Storage computes it on its own machines, and here
	// it would slow the child down without being the materializer's cost.
	gcs := gcsdiscard.NewWithOptions(gcsdiscard.Options{SkipMD5: true})
	b.Cleanup(gcs.Close)
	sink := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
	}))
	b.Cleanup(sink.Close)

	var rss, mbps, copyRSS, copyMBps float64
	for i := range b.N {
		name, err := sim.CreateBatch(geminisim.BatchSpec{Results: geminisim.ResultsFile{Size: size, Seed: uint64(i)}})
		if err != nil {
			b.Fatal(err)
		}
		n, err := sim.CompleteBatch(name)
		if err != nil {
			b.Fatal(err)
		}
		ev := benchEvent(b, n)
		env := []string{
			childSimEnv + "=" + sim.URL(), childKeyEnv + "=" + key, childGCSEnv + "=" + gcs.Endpoint(),
			childSinkEnv + "=" + sink.URL, childEventEnv + "=" + string(ev), childFileEnv + "=" + n.Data.OutputFileURI,
		}
		for _, mode := range []string{"materialize", "iocopy"} {
			elapsed, maxRSS := runChildProcess(b, mode, env)
			r, t := float64(maxRSS)/1024, float64(size)/elapsed.Seconds()/(1<<20)
			if mode == "materialize" {
				rss, mbps = max(rss, r), t
			} else {
				copyRSS, copyMBps = max(copyRSS, r), t
			}
		}
	}
	if got := gcs.BytesReceived(); got < size*int64(b.N) {
		b.Fatalf("the stand-in received %d bytes, want %d", got, size*int64(b.N))
	}
	b.ReportMetric(rss, "peak_rss_MiB")
	b.ReportMetric(mbps, "MiB/s")
	b.ReportMetric(copyRSS, "iocopy_peak_rss_MiB")
	b.ReportMetric(copyMBps, "iocopy_MiB/s")
	b.ReportMetric(mbps/copyMBps, "vs_iocopy")
}

// benchEvent turns a simulator notification into the completion event the
// receiver would publish.
func benchEvent(b *testing.B, n geminisim.Notification) []byte {
	body, err := json.Marshal(n)
	if err != nil {
		b.Fatal(err)
	}
	parsed, err := event.Parse(body)
	if err != nil {
		b.Fatal(err)
	}
	ev, err := event.Normalize(parsed, event.Meta{WebhookID: "msg_bench", Scheme: event.SchemeHMAC, ReceivedAt: time.Now()})
	if err != nil {
		b.Fatal(err)
	}
	data, err := json.Marshal(ev)
	if err != nil {
		b.Fatal(err)
	}
	return data
}

func runChildProcess(b *testing.B, mode string, env []string) (time.Duration, int64) {
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), append(env, childModeEnv+"="+mode)...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		b.Fatalf("%s child: %v\n%s", mode, err, stderr.String())
	}
	var ns int64
	if _, err := fmt.Sscanf(strings.TrimSpace(stdout.String()), "elapsed_ns %d", &ns); err != nil {
		b.Fatalf("%s child printed %q: %v", mode, stdout.String(), err)
	}
	// Maxrss is in KiB on Linux.
	return time.Duration(ns), cmd.ProcessState.SysUsage().(*syscall.Rusage).Maxrss
}

// runChild is the child process's work.
func runChild(mode string) (time.Duration, error) {
	ctx := context.Background()
	simURL, key := os.Getenv(childSimEnv), os.Getenv(childKeyEnv)
	switch mode {
	case "materialize":
		var ev event.Event
		if err := json.Unmarshal([]byte(os.Getenv(childEventEnv)), &ev); err != nil {
			return 0, err
		}
		fetcher, err := gemini.New(ctx, gemini.Options{BaseURL: simURL, APIKey: key})
		if err != nil {
			return 0, err
		}
		client, err := storage.NewClient(ctx, option.WithEndpoint(os.Getenv(childGCSEnv)), option.WithoutAuthentication())
		if err != nil {
			return 0, err
		}
		store, err := blob.NewGCS(client, "bench", blob.GCSOptions{})
		if err != nil {
			return 0, err
		}
		m, err := New(fetcher, store, &publish.Memory{}, logging.New(io.Discard, slog.LevelError), Options{Bucket: "bench"})
		if err != nil {
			return 0, err
		}
		start := time.Now()
		res, err := m.Materialize(ctx, &ev)
		if err != nil {
			return 0, err
		}
		if res.Outcome != Stored {
			return 0, fmt.Errorf("outcome %s, want %s", res.Outcome, Stored)
		}
		return time.Since(start), nil
	case "iocopy":
		id := strings.TrimPrefix(os.Getenv(childFileEnv), "files/")
		start := time.Now()
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, simURL+"/download/v1beta/files/"+id+":download?alt=media", nil)
		if err != nil {
			return 0, err
		}
		req.Header.Set("x-goog-api-key", key)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return 0, err
		}
		defer resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return 0, fmt.Errorf("download: %s", resp.Status)
		}
		put, err := http.NewRequestWithContext(ctx, http.MethodPut, os.Getenv(childSinkEnv), resp.Body)
		if err != nil {
			return 0, err
		}
		put.ContentLength = resp.ContentLength
		presp, err := http.DefaultClient.Do(put)
		if err != nil {
			return 0, err
		}
		presp.Body.Close()
		return time.Since(start), nil
	}
	return 0, fmt.Errorf("unknown mode %q", mode)
}
