package local

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sethvargo/go-envconfig"

	"github.com/geminihooks/geminihooks/internal/geminisim"
	"github.com/geminihooks/geminihooks/pkg/logging"
)

// BenchmarkCompleteToArtifact measures, on the local stack, the time from a
// batch job's completion (1 MiB of results) to its results event: webhook
// delivery, verification, ledger, Pub/Sub, the materializer's fetch and
// copy, manifest and announcement. Polling every 30 s would average 15 s.
// It reports the median and 90th percentile; run with a fixed count, e.g.
// -benchtime=30x.
func BenchmarkCompleteToArtifact(b *testing.B) {
	stack, err := Start(context.Background(), Options{
		Addr: "127.0.0.1:0", Lookuper: envconfig.MapLookuper(map[string]string{}),
		Logger: logging.New(io.Discard, slog.LevelError), DataDir: b.TempDir(),
	})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = stack.Close() })
	sender, err := geminisim.NewSender(geminisim.SenderOptions{Secrets: []string{stack.Secret}})
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	latencies := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for i := range b.N {
		name, err := stack.Sim.CreateBatch(geminisim.BatchSpec{Results: geminisim.ResultsFile{Size: 1 << 20, Seed: uint64(i)}})
		if err != nil {
			b.Fatal(err)
		}
		n, err := stack.Sim.CompleteBatch(name)
		completed := time.Now()
		if err != nil {
			b.Fatal(err)
		}
		if _, err := sender.Send(ctx, geminisim.Delivery{URL: stack.URL, Notification: n}); err != nil {
			b.Fatal(err)
		}
		for r := range stack.Results {
			if r.Subject == name {
				latencies = append(latencies, time.Since(completed))
				break
			}
		}
	}
	b.StopTimer()
	slices.Sort(latencies)
	ms := func(p float64) float64 {
		return float64(latencies[min(len(latencies)-1, int(p*float64(len(latencies))))].Microseconds()) / 1000
	}
	b.ReportMetric(ms(0.5), "p50_ms")
	b.ReportMetric(ms(0.9), "p90_ms")
}

// BenchmarkLostWebhookRecovery measures, on the local stack with a reconcile
// pass every second, the time from a batch job's completion whose webhook
// never comes to its completion event (recovery) and to its results event
// (to_results). RECONCILE_GRACE is 1ms: the webhook is known to be lost, and
// the grace a deployment waits (15 minutes by default) would only add to
// both. Each job completes right after the pass that found the previous
// one, so it waits nearly a whole interval for the next: the worst phase.
// It reports the median and the worst; the goal is at most the interval
// plus one second.
func BenchmarkLostWebhookRecovery(b *testing.B) {
	const interval = time.Second
	stack, err := Start(context.Background(), Options{
		Addr: "127.0.0.1:0", Lookuper: envconfig.MapLookuper(map[string]string{"RECONCILE_GRACE": "1ms"}),
		Logger: logging.New(io.Discard, slog.LevelError), DataDir: b.TempDir(), ReconcileInterval: interval,
	})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = stack.Close() })
	recovery := make([]time.Duration, 0, b.N)
	toResults := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for i := range b.N {
		name, err := stack.Sim.CreateBatch(geminisim.BatchSpec{Results: geminisim.ResultsFile{Size: 64 << 10, Seed: uint64(i)}})
		if err != nil {
			b.Fatal(err)
		}
		// No webhook is registered with the simulator: none is delivered.
		if _, err := stack.Sim.CompleteBatch(name); err != nil {
			b.Fatal(err)
		}
		completed := time.Now()
		for ev := range stack.Received {
			if ev.Subject == name && ev.Data.Delivery.Reconciled {
				recovery = append(recovery, time.Since(completed))
				break
			}
		}
		for r := range stack.Results {
			if r.Subject == name {
				toResults = append(toResults, time.Since(completed))
				break
			}
		}
	}
	b.StopTimer()
	seconds := func(ds []time.Duration, p float64) float64 {
		ds = slices.Sorted(slices.Values(ds))
		return ds[min(len(ds)-1, int(p*float64(len(ds))))].Seconds()
	}
	b.ReportMetric(seconds(recovery, 0.5), "p50_recovery_s")
	b.ReportMetric(seconds(recovery, 1), "max_recovery_s")
	b.ReportMetric(seconds(toResults, 1), "max_to_results_s")
	b.ReportMetric(interval.Seconds(), "interval_s")
}

// sustainedRounds and sustainedSenders shape BenchmarkLocalRunnerSustained.
const (
	sustainedRounds  = 3
	sustainedSenders = 16
	// sustainedBound bounds the whole benchmark's time.
	sustainedBound = 5 * time.Minute
)

// BenchmarkLocalRunnerSustained drives the whole local stack (receiver,
// in-process Pub/Sub, materializer, simulator, results on disk) with three
// equal rounds of b.N new signed deliveries from 16 senders each, without a
// pause, and reports each round's rate and local_runner_sustained_ratio:
// the last round's rate ÷ the first's. The jobs are unknown to the
// simulator, so each one ends in a failure manifest and a results.failed
// event: the materializer's whole path without a download. A 503 (the
// receiver waited too long for room in the in-process Pub/Sub) is counted
// and sent again, as Gemini would. Run with a fixed count, e.g.
// -benchtime=4000x; the run is bounded by sustainedBound.
func BenchmarkLocalRunnerSustained(b *testing.B) {
	stack, secret := startDrained(b)
	ctx, cancel := context.WithTimeout(context.Background(), sustainedBound)
	defer cancel()
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: sustainedSenders, MaxConnsPerHost: sustainedSenders}}
	var seq, retried atomic.Int64
	send := func() error {
		i := seq.Add(1)
		id := "msg_sustained_" + strconv.FormatInt(i, 10)
		body := fmt.Appendf(nil, `{"type":"batch.succeeded","version":"v1","timestamp":"2026-05-04T12:00:00Z","data":{"id":"batches/sustained%d"}}`, i)
		for {
			resp, err := client.Do(signedRequest(ctx, stack, secret, id, body))
			if err != nil {
				return err
			}
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			switch resp.StatusCode {
			case http.StatusOK:
				return nil
			case http.StatusServiceUnavailable:
				retried.Add(1)
			default:
				return fmt.Errorf("delivery %s: %s", id, resp.Status)
			}
		}
	}
	rates := make([]float64, sustainedRounds)
	b.ResetTimer()
	for r := range rates {
		var next atomic.Int64
		var wg sync.WaitGroup
		errs := make(chan error, sustainedSenders)
		start := time.Now()
		for range sustainedSenders {
			wg.Go(func() {
				for next.Add(1) <= int64(b.N) {
					if err := send(); err != nil {
						errs <- err
						return
					}
				}
			})
		}
		wg.Wait()
		close(errs)
		if err := <-errs; err != nil {
			b.Fatalf("round %d: %v", r+1, err)
		}
		rates[r] = float64(b.N) / time.Since(start).Seconds()
	}
	b.StopTimer()
	b.ReportMetric(rates[0], "round1_deliveries/s")
	b.ReportMetric(rates[len(rates)-1], "round3_deliveries/s")
	b.ReportMetric(rates[len(rates)-1]/rates[0], "sustained_ratio")
	b.ReportMetric(float64(retried.Load()), "retried_503")
}
