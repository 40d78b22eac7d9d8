package materializer

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"cloud.google.com/go/storage"
	"google.golang.org/api/option"

	"github.com/geminihooks/geminihooks/internal/gcsdiscard"
	"github.com/geminihooks/geminihooks/internal/geminisim"
	"github.com/geminihooks/geminihooks/pkg/blob"
	"github.com/geminihooks/geminihooks/pkg/event"
	"github.com/geminihooks/geminihooks/pkg/gemini"
	"github.com/geminihooks/geminihooks/pkg/logging"
	"github.com/geminihooks/geminihooks/pkg/publish"
	"github.com/geminihooks/geminihooks/pkg/registry"
)

// Environment of the benchmark's child process.
const (
	childModeEnv  = "GEMINIHOOKS_BENCH_CHILD" // "materialize" or "iocopy"
	childSimEnv   = "GEMINIHOOKS_BENCH_SIM"   // simulator URL
	childKeyEnv   = "GEMINIHOOKS_BENCH_KEY"   // simulator API key
	childHostEnv  = "GEMINIHOOKS_BENCH_HOST"  // simulator's download host (host:port)
	childGCSEnv   = "GEMINIHOOKS_BENCH_GCS"   // gcsdiscard endpoint
	childSinkEnv  = "GEMINIHOOKS_BENCH_SINK"  // raw discarding PUT endpoint
	childEventEnv = "GEMINIHOOKS_BENCH_EVENT" // the completion event, JSON
	childFileEnv  = "GEMINIHOOKS_BENCH_FILE"  // the results file name
	benchBytesEnv = "GEMINIHOOKS_BENCH_BYTES" // result size (default 2 GiB)
)

// TestMain doubles as the benchmark's child process: measuring the
// materializer's peak RSS needs a process of its own, away from the
// simulator and the storage stand-in that serve it.
// discardJobs is a registry that remembers nothing, so the benchmark
// measures the materializer alone.
type discardJobs struct{}

func (discardJobs) Stored(context.Context, registry.Notice, string) error { return nil }
func (discardJobs) Failed(context.Context, registry.Notice, string) error { return nil }

func TestMain(m *testing.M) {
	if mode := os.Getenv(childModeEnv); mode != "" {
		elapsed, cpu, err := runChild(mode)
		if err != nil {
			fmt.Fprintln(os.Stderr, "bench child:", err)
			os.Exit(1)
		}
		fmt.Printf("elapsed_ns %d cpu_ns %d\n", elapsed.Nanoseconds(), cpu.Nanoseconds())
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// BenchmarkMaterializeLargeBatch copies a batch result (2 GiB unless
// GEMINIHOOKS_BENCH_BYTES says otherwise) from the simulator to a Cloud
// Storage stand-in that discards the bytes, in a child process, and reports
// that process's peak RSS and throughput, next to a bare io.Copy of the same
// bytes over the same loopback path (GET from the simulator, PUT to a
// discarding server) in a child process as well. Each round runs both
// children, in alternating order; the figures are medians over rounds (the
// peak RSS is the highest), since one copy on shared cores is noisy.
//
// It runs twice. In "isolated" the servers (simulator, stand-in, sink) keep
// to the first CPU the process may use and the child to the second, as in a
// deployment where Gemini and Cloud Storage are other machines: the child's
// speed is then its own work's, bounded by how fast one CPU can serve it. In
// "shared" all processes share all CPUs, so the child also pays for the
// servers' work.
func BenchmarkMaterializeLargeBatch(b *testing.B) {
	size := int64(2 << 30)
	if v := os.Getenv(benchBytesEnv); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			b.Fatalf("%s: %v", benchBytesEnv, err)
		}
		size = n
	}
	b.Run("isolated", func(b *testing.B) {
		cpus, err := allowedCPUs()
		if errors.Is(err, errors.ErrUnsupported) {
			b.Skip("this system cannot keep a process to a CPU")
		}
		if err != nil {
			b.Fatalf("reading the CPUs this process may use: %v", err)
		}
		if len(cpus) < 2 {
			b.Skip("isolating the process under test from its servers needs two CPUs")
		}
		restore, err := pinProcess(cpus[0])
		if err != nil {
			b.Fatalf("pinning the servers to CPU %d: %v", cpus[0], err)
		}
		defer restore()
		benchMaterializeLargeBatch(b, size, cpus[1])
	})
	b.Run("shared", func(b *testing.B) { benchMaterializeLargeBatch(b, size, -1) })
}

// benchMaterializeLargeBatch runs the rounds of BenchmarkMaterializeLargeBatch,
// the children on childCPU, or anywhere when it is negative.
func benchMaterializeLargeBatch(b *testing.B, size int64, childCPU int) {
	const key = "bench-key"
	sim, err := geminisim.New(geminisim.Options{APIKey: key})
	if err != nil {
		b.Fatal(err)
	}
	if err := sim.Start(); err != nil {
		b.Fatal(err)
	}
	defer sim.Close()
	// The stand-in runs in this process, so it skips MD5: Cloud Storage
	// computes it on its own machines, and here it would take CPU time from
	// the child without being the materializer's cost. It does check the
	// client's CRC32C, as the service does.
	gcs := gcsdiscard.NewWithOptions(gcsdiscard.Options{SkipMD5: true})
	defer gcs.Close()
	sink := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
	}))
	defer sink.Close()

	var rss, copyRSS float64
	var mbps, copyMBps, ratios, cpu, copyCPU []float64
	rounds := 0
	// b.Loop runs exactly the rounds -benchtime=Nx asks for, with no
	// warm-up round: each one copies gigabytes.
	for ; b.Loop(); rounds++ {
		i := rounds
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
			childHostEnv + "=" + strings.TrimPrefix(sim.DownloadURL(), "http://"),
			childSinkEnv + "=" + sink.URL, childEventEnv + "=" + string(ev), childFileEnv + "=" + n.Data.OutputFileURI,
		}
		modes := []string{"materialize", "iocopy"}
		if i%2 == 1 {
			modes[0], modes[1] = modes[1], modes[0]
		}
		var round [2]float64
		for _, mode := range modes {
			c := runChildProcess(b, mode, env, childCPU)
			gib := float64(size) / (1 << 30)
			r, t, s := float64(c.maxRSSKiB)/1024, float64(size)/c.elapsed.Seconds()/(1<<20), c.cpu.Seconds()/gib
			if mode == "materialize" {
				rss, round[0] = max(rss, r), t
				mbps, cpu = append(mbps, t), append(cpu, s)
			} else {
				copyRSS, round[1] = max(copyRSS, r), t
				copyMBps, copyCPU = append(copyMBps, t), append(copyCPU, s)
			}
		}
		ratios = append(ratios, round[0]/round[1])
	}
	if got := gcs.BytesReceived(); got < size*int64(rounds) {
		b.Fatalf("the stand-in received %d bytes, want %d", got, size*int64(rounds))
	}
	b.ReportMetric(rss, "peak_rss_MiB")
	b.ReportMetric(median(mbps), "MiB/s")
	b.ReportMetric(median(cpu), "cpu_s/GiB")
	b.ReportMetric(copyRSS, "iocopy_peak_rss_MiB")
	b.ReportMetric(median(copyMBps), "iocopy_MiB/s")
	b.ReportMetric(median(copyCPU), "iocopy_cpu_s/GiB")
	b.ReportMetric(median(ratios), "vs_iocopy")
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

// benchEvent turns a simulator notification into the completion event the
// receiver would publish.
func benchEvent(b *testing.B, n event.Payload) []byte {
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

// childRun is what one child process measured.
type childRun struct {
	elapsed   time.Duration // of the copy alone, as the child timed it
	cpu       time.Duration // user and system time of the copy, on all threads
	maxRSSKiB int64         // of the whole process
}

// processCPU returns the user and system time this process has used.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// runChildProcess runs the child for mode, on CPU cpu unless it is negative.
func runChildProcess(b *testing.B, mode string, env []string, cpu int) childRun {
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), append(env, childModeEnv+"="+mode)...)
	if cpu >= 0 {
		// A child inherits the CPUs of the thread that starts it.
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		restore, err := pinThread(cpu)
		if err != nil {
			b.Fatalf("pinning the %s child to CPU %d: %v", mode, cpu, err)
		}
		defer restore()
	}
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		b.Fatalf("%s child: %v\n%s", mode, err, stderr.String())
	}
	var ns, cpuNS int64
	if _, err := fmt.Sscanf(strings.TrimSpace(stdout.String()), "elapsed_ns %d cpu_ns %d", &ns, &cpuNS); err != nil {
		b.Fatalf("%s child printed %q: %v", mode, stdout.String(), err)
	}
	return childRun{
		elapsed: time.Duration(ns),
		cpu:     time.Duration(cpuNS),
		// Maxrss is in KiB on Linux.
		maxRSSKiB: cmd.ProcessState.SysUsage().(*syscall.Rusage).Maxrss,
	}
}

// runChild is the child process's work. It returns the time and the CPU
// time (of all its threads) that the copy took.
func runChild(mode string) (elapsed, cpu time.Duration, err error) {
	var start time.Time
	var cpu0 time.Duration
	begin := func() { start, cpu0 = time.Now(), processCPU() }
	done := func() (time.Duration, time.Duration, error) {
		return time.Since(start), processCPU() - cpu0, nil
	}
	ctx := context.Background()
	simURL, key := os.Getenv(childSimEnv), os.Getenv(childKeyEnv)
	switch mode {
	case "materialize":
		var ev event.Event
		if err := json.Unmarshal([]byte(os.Getenv(childEventEnv)), &ev); err != nil {
			return 0, 0, err
		}
		fetcher, err := gemini.New(ctx, gemini.Options{BaseURL: simURL, APIKey: key, DownloadHosts: []string{os.Getenv(childHostEnv)}})
		if err != nil {
			return 0, 0, err
		}
		client, err := storage.NewClient(ctx, option.WithEndpoint(os.Getenv(childGCSEnv)), option.WithoutAuthentication())
		if err != nil {
			return 0, 0, err
		}
		store, err := blob.NewGCS(client, "bench", blob.GCSOptions{})
		if err != nil {
			return 0, 0, err
		}
		m, err := New(fetcher, store, &publish.Memory{}, discardJobs{}, logging.New(io.Discard, slog.LevelError), Options{Bucket: "bench"})
		if err != nil {
			return 0, 0, err
		}
		begin()
		res, err := m.Materialize(ctx, &ev)
		if err != nil {
			return 0, 0, err
		}
		if res.Outcome != Stored {
			return 0, 0, fmt.Errorf("outcome %s, want %s", res.Outcome, Stored)
		}
		return done()
	case "iocopy":
		id := strings.TrimPrefix(os.Getenv(childFileEnv), "files/")
		begin()
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, simURL+"/download/v1beta/files/"+id+":download?alt=media", nil)
		if err != nil {
			return 0, 0, err
		}
		req.Header.Set("x-goog-api-key", key)
		// The download redirects to the download host, which refuses the key.
		keyless := &http.Client{CheckRedirect: func(req *http.Request, _ []*http.Request) error {
			req.Header.Del("x-goog-api-key")
			return nil
		}}
		resp, err := keyless.Do(req)
		if err != nil {
			return 0, 0, err
		}
		defer resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return 0, 0, fmt.Errorf("download: %s", resp.Status)
		}
		put, err := http.NewRequestWithContext(ctx, http.MethodPut, os.Getenv(childSinkEnv), resp.Body)
		if err != nil {
			return 0, 0, err
		}
		put.ContentLength = resp.ContentLength
		presp, err := http.DefaultClient.Do(put)
		if err != nil {
			return 0, 0, err
		}
		presp.Body.Close()
		return done()
	}
	return 0, 0, fmt.Errorf("unknown mode %q", mode)
}
