package receiver

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"cloud.google.com/go/pubsub/v2"
	"cloud.google.com/go/pubsub/v2/apiv1/pubsubpb"
	"cloud.google.com/go/pubsub/v2/pstest"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"google.golang.org/api/option"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/geminihooks/geminihooks/pkg/idempotency"
	"github.com/geminihooks/geminihooks/pkg/logging"
	"github.com/geminihooks/geminihooks/pkg/publish"
	"github.com/geminihooks/geminihooks/pkg/registry"
	"github.com/geminihooks/geminihooks/pkg/signature"
)

// BenchmarkReceiverEmbedded drives the receiver over loopback HTTP on the
// embedded backends the local runner uses (in-memory idempotency, in-process
// Pub/Sub), each delivery new, signed and published. It reports
// deliveries/s and the 50th/99th percentile latency seen by the senders.
// Run with a fixed count, e.g. -benchtime=20000x.
func BenchmarkReceiverEmbedded(b *testing.B) { benchReceiverEmbedded(b, false) }

// BenchmarkReceiverTracing is BenchmarkReceiverEmbedded without tracing
// ("off") and with every delivery traced ("on"): every span sampled and
// exported in batches to an exporter that discards them, and the Pub/Sub
// client's OpenTelemetry support carrying the trace in each message, as
// deployed. scripts/bench.sh divides the two throughputs.
func BenchmarkReceiverTracing(b *testing.B) {
	b.Run("off", func(b *testing.B) { benchReceiverEmbedded(b, false) })
	b.Run("on", func(b *testing.B) { benchReceiverEmbedded(b, true) })
}

// discardSpans is a span exporter that drops every span.
type discardSpans struct{}

func (discardSpans) ExportSpans(context.Context, []sdktrace.ReadOnlySpan) error { return nil }
func (discardSpans) Shutdown(context.Context) error                             { return nil }

func benchReceiverEmbedded(b *testing.B, traced bool) {
	const workers = 16
	ctx := context.Background()
	srv := pstest.NewServer()
	b.Cleanup(func() { srv.Close() })
	conn, err := grpc.NewClient(srv.Addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		b.Fatal(err)
	}
	var opts Options
	if traced {
		tp := sdktrace.NewTracerProvider(sdktrace.WithSampler(sdktrace.AlwaysSample()), sdktrace.WithBatcher(discardSpans{}))
		b.Cleanup(func() { _ = tp.Shutdown(context.Background()) })
		opts.Tracer = tp
	}
	client, err := pubsub.NewClientWithConfig(ctx, "bench", &pubsub.ClientConfig{EnableOpenTelemetryTracing: traced}, option.WithGRPCConn(conn))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { client.Close() })
	topic := "projects/bench/topics/events"
	if _, err := client.TopicAdminClient.CreateTopic(ctx, &pubsubpb.Topic{Name: topic}); err != nil {
		b.Fatal(err)
	}
	pub, err := publish.NewPubSub(client, topic, publish.Options{Ordering: true})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(pub.Stop)
	ledger, err := idempotency.NewMemory(idempotency.Options{})
	if err != nil {
		b.Fatal(err)
	}
	raw, _ := signature.GenerateSecret()
	secret, _ := signature.ParseSecret("bench", raw)
	v, err := signature.NewVerifier(signature.Options{Secrets: signature.StaticSecrets{secret}})
	if err != nil {
		b.Fatal(err)
	}
	jobs, err := registry.NewMemory(registry.Options{})
	if err != nil {
		b.Fatal(err)
	}
	h, err := New(v, ledger, pub, jobs, logging.New(io.Discard, slog.LevelInfo), opts)
	if err != nil {
		b.Fatal(err)
	}
	ts := httptest.NewServer(h)
	b.Cleanup(ts.Close)
	httpClient := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: workers, MaxConnsPerHost: workers}}

	// Sign outside the timer: the sender's work is not the receiver's.
	type delivery struct {
		id, stamp, sig string
		body           []byte
	}
	now := time.Now()
	deliveries := make([]delivery, b.N)
	// Every delivery ends a different job, so neither the webhook-id nor
	// the per-job claim short-circuits a publish.
	for i := range deliveries {
		id := "msg_bench_" + strconv.Itoa(i)
		body := fmt.Appendf(nil, `{"type":"batch.succeeded","version":"v1","timestamp":"2026-05-04T12:00:00Z","data":{"id":"batches/b%d","output_file_uri":"files/out-%d"}}`, i, i)
		deliveries[i] = delivery{id: id, stamp: strconv.FormatInt(now.Unix(), 10), sig: signature.SignHMAC(secret, id, now, body), body: body}
	}
	latencies := make([]time.Duration, b.N)
	var next atomic.Int64
	var failures atomic.Int64
	var wg sync.WaitGroup
	b.ResetTimer()
	start := time.Now()
	for range workers {
		wg.Go(func() {
			for {
				i := int(next.Add(1)) - 1
				if i >= len(deliveries) {
					return
				}
				d := deliveries[i]
				req, _ := http.NewRequest(http.MethodPost, ts.URL, bytes.NewReader(d.body))
				req.Header.Set("webhook-id", d.id)
				req.Header.Set("webhook-timestamp", d.stamp)
				req.Header.Set("webhook-signature", d.sig)
				t0 := time.Now()
				resp, err := httpClient.Do(req)
				if err != nil {
					failures.Add(1)
					continue
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				latencies[i] = time.Since(t0)
				if resp.StatusCode != http.StatusOK {
					failures.Add(1)
				}
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	b.StopTimer()
	if n := failures.Load(); n > 0 {
		b.Fatalf("%d of %d deliveries failed", n, b.N)
	}
	slices.Sort(latencies)
	pct := func(p float64) float64 {
		return float64(latencies[min(len(latencies)-1, int(p*float64(len(latencies))))].Microseconds()) / 1000
	}
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "deliveries/s")
	b.ReportMetric(pct(0.50), "p50_ms")
	b.ReportMetric(pct(0.99), "p99_ms")
}
