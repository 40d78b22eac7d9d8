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

	"github.com/geminihooks/geminihooks/internal/minipubsub"
	"github.com/geminihooks/geminihooks/pkg/idempotency"
	"github.com/geminihooks/geminihooks/pkg/logging"
	"github.com/geminihooks/geminihooks/pkg/publish"
	"github.com/geminihooks/geminihooks/pkg/registry"
	"github.com/geminihooks/geminihooks/pkg/signature"
)

// benchWorkers is how many senders the receiver benchmarks run at once.
const benchWorkers = 16

// BenchmarkReceiverEmbedded drives the receiver over loopback HTTP on the
// embedded backends the local runner uses (in-memory idempotency, its
// in-process Pub/Sub), each delivery new, signed and published. It reports
// deliveries/s and the 50th/99th percentile latency seen by the senders.
// Run with a fixed count, e.g. -benchtime=20000x.
func BenchmarkReceiverEmbedded(b *testing.B) {
	ctx := context.Background()
	srv, err := minipubsub.New(minipubsub.Options{})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = srv.Close() })
	conn, err := grpc.NewClient(srv.Addr(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		b.Fatal(err)
	}
	client, err := pubsub.NewClient(ctx, "bench", option.WithGRPCConn(conn))
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
	secret := benchSecret(b)
	v, err := signature.NewVerifier(signature.Options{Secrets: signature.StaticSecrets{secret}})
	if err != nil {
		b.Fatal(err)
	}
	jobs, err := registry.NewMemory(registry.Options{})
	if err != nil {
		b.Fatal(err)
	}
	h, err := New(v, ledger, pub, jobs, logging.New(io.Discard, slog.LevelInfo), Options{})
	if err != nil {
		b.Fatal(err)
	}
	driveDeliveries(b, h, secret)
}

// BenchmarkBareHTTP is the floor BenchmarkReceiverEmbedded is measured
// against (receiver_vs_bare_http): the same senders and deliveries, served
// by a net/http handler that only reads the body, as the receiver does,
// and answers the receiver's JSON.
func BenchmarkBareHTTP(b *testing.B) {
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, err := io.ReadAll(http.MaxBytesReader(w, r.Body, DefaultMaxBodyBytes)); err != nil {
			writeJSON(w, http.StatusBadRequest, okBody{Status: "unreadable"})
			return
		}
		writeJSON(w, http.StatusOK, okBody{Status: StatusAccepted, WebhookID: r.Header.Get("webhook-id")})
	})
	driveDeliveries(b, h, benchSecret(b))
}

func benchSecret(b *testing.B) signature.Secret {
	b.Helper()
	raw, err := signature.GenerateSecret()
	if err != nil {
		b.Fatal(err)
	}
	secret, err := signature.ParseSecret("bench", raw)
	if err != nil {
		b.Fatal(err)
	}
	return secret
}

// driveDeliveries is the load generator of the receiver benchmarks: b.N
// new deliveries signed with secret, sent over loopback HTTP to h by
// benchWorkers senders. It reports deliveries/s and the senders' 50th and
// 99th percentile latency, and fails on any answer but 200.
func driveDeliveries(b *testing.B, h http.Handler, secret signature.Secret) {
	ts := httptest.NewServer(h)
	b.Cleanup(ts.Close)
	httpClient := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: benchWorkers, MaxConnsPerHost: benchWorkers}}

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
	for range benchWorkers {
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

// tracingChunks is how many turns each side of a tracing benchmark takes:
// the two alternate in chunks, so that a change in the machine's load
// (other processes on its two CPUs) weighs on both alike.
const tracingChunks = 20

// BenchmarkReceiverTracing runs BenchmarkReceiverEmbedded's load on two
// receivers side by side, b.N deliveries each, in alternating chunks: one
// without tracing ("off") and one with every delivery traced ("on": every
// span sampled and exported in batches to an exporter that discards them,
// and the trace context carried in each message, as deployed). It reports each one's deliveries/s and
// on_vs_off, the traced throughput ÷ the untraced one.
func BenchmarkReceiverTracing(b *testing.B) {
	off, on := newReceiverRig(b, false), newReceiverRig(b, true)
	offD, onD := off.deliveries(b.N), on.deliveries(b.N)
	var offT, onT, offCPU, onCPU time.Duration
	run := func(r *receiverRig, d []benchDelivery, wall, cpu *time.Duration) {
		c0 := processCPU(b)
		*wall += r.run(b, d, nil)
		*cpu += processCPU(b) - c0
		// The stand-in keeps every message; deployed, nothing piles up
		// like that, and a growing heap would make each allocation (more
		// of them when traced) cost more collection than it does.
		r.pubsub.ClearMessages()
	}
	chunk := max(1, b.N/tracingChunks)
	b.ResetTimer()
	for i := 0; i < b.N; i += chunk {
		j := min(b.N, i+chunk)
		if (i/chunk)%2 == 0 {
			run(off, offD[i:j], &offT, &offCPU)
			run(on, onD[i:j], &onT, &onCPU)
		} else {
			run(on, onD[i:j], &onT, &onCPU)
			run(off, offD[i:j], &offT, &offCPU)
		}
	}
	b.StopTimer()
	b.ReportMetric(float64(b.N)/offT.Seconds(), "off_deliveries/s")
	b.ReportMetric(float64(b.N)/onT.Seconds(), "on_deliveries/s")
	b.ReportMetric(offT.Seconds()/onT.Seconds(), "on_vs_off")
	// CPU time per delivery (the whole process: receiver, Pub/Sub
	// stand-in and senders), which other processes' load sways less.
	b.ReportMetric(float64(offCPU.Microseconds())/float64(b.N), "off_cpu_us/delivery")
	b.ReportMetric(float64(onCPU.Microseconds())/float64(b.N), "on_cpu_us/delivery")
}

// discardSpans is a span exporter that drops every span.
type discardSpans struct{}

func (discardSpans) ExportSpans(context.Context, []sdktrace.ReadOnlySpan) error { return nil }
func (discardSpans) Shutdown(context.Context) error                             { return nil }

// receiverRig is a receiver served over loopback HTTP on the embedded
// backends, and the client that drives it.
type receiverRig struct {
	url    string
	pubsub *pstest.Server
	secret signature.Secret
	client *http.Client
	// prefix makes the rig's webhook-ids and jobs its own.
	prefix string
}

func newReceiverRig(b *testing.B, traced bool) *receiverRig {
	b.Helper()
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
	client, err := pubsub.NewClient(ctx, "bench", option.WithGRPCConn(conn))
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
	return &receiverRig{url: ts.URL, pubsub: srv, secret: secret, prefix: strconv.FormatBool(traced),
		client: &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: benchWorkers, MaxConnsPerHost: benchWorkers}}}
}

// benchDelivery is one signed delivery.
type benchDelivery struct {
	id, stamp, sig string
	body           []byte
}

// deliveries signs n deliveries, outside the timer: the sender's work is
// not the receiver's. Every delivery ends a different job, so neither the
// webhook-id nor the per-job claim short-circuits a publish.
func (r *receiverRig) deliveries(n int) []benchDelivery {
	now := time.Now()
	out := make([]benchDelivery, n)
	for i := range out {
		id := "msg_bench_" + r.prefix + strconv.Itoa(i)
		body := fmt.Appendf(nil, `{"type":"batch.succeeded","version":"v1","timestamp":"2026-05-04T12:00:00Z","data":{"id":"batches/b%s%d","output_file_uri":"files/out-%d"}}`, r.prefix, i, i)
		out[i] = benchDelivery{id: id, stamp: strconv.FormatInt(now.Unix(), 10), sig: signature.SignHMAC(r.secret, id, now, body), body: body}
	}
	return out
}

// run sends deliveries from benchWorkers senders and returns how long they
// took; each one's latency goes to latencies, when given.
func (r *receiverRig) run(b *testing.B, deliveries []benchDelivery, latencies []time.Duration) time.Duration {
	var next, failures atomic.Int64
	var wg sync.WaitGroup
	start := time.Now()
	for range benchWorkers {
		wg.Go(func() {
			for {
				i := int(next.Add(1)) - 1
				if i >= len(deliveries) {
					return
				}
				d := deliveries[i]
				req, _ := http.NewRequest(http.MethodPost, r.url, bytes.NewReader(d.body))
				req.Header.Set("webhook-id", d.id)
				req.Header.Set("webhook-timestamp", d.stamp)
				req.Header.Set("webhook-signature", d.sig)
				t0 := time.Now()
				resp, err := r.client.Do(req)
				if err != nil {
					failures.Add(1)
					continue
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if latencies != nil {
					latencies[i] = time.Since(t0)
				}
				if resp.StatusCode != http.StatusOK {
					failures.Add(1)
				}
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	if n := failures.Load(); n > 0 {
		b.Fatalf("%d of %d deliveries failed", n, len(deliveries))
	}
	return elapsed
}
