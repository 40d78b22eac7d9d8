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
	"go.opentelemetry.io/otel/trace"
	"google.golang.org/api/option"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/geminihooks/geminihooks/internal/minipubsub"
	"github.com/geminihooks/geminihooks/pkg/idempotency"
	"github.com/geminihooks/geminihooks/pkg/logging"
	"github.com/geminihooks/geminihooks/pkg/publish"
	"github.com/geminihooks/geminihooks/pkg/registry"
	"github.com/geminihooks/geminihooks/pkg/signature"
	"github.com/geminihooks/geminihooks/pkg/tracing"
)

// benchWorkers is how many senders the receiver benchmarks run at once.
const benchWorkers = 16

// BenchmarkReceiverEmbedded drives the receiver over loopback HTTP on the
// embedded backends the local runner uses (in-memory idempotency and job
// registry, its in-process Pub/Sub called directly), each delivery new,
// signed and published. It reports deliveries/s and the 50th/99th
// percentile latency seen by the senders.
// Run with a fixed count, e.g. -benchtime=20000x.
func BenchmarkReceiverEmbedded(b *testing.B) {
	secret := benchSecret(b)
	drive(b, newRig(b, embeddedReceiver(b, secret), secret, "e"))
}

// BenchmarkBareHTTP is BenchmarkReceiverEmbedded's load on bareHandler.
func BenchmarkBareHTTP(b *testing.B) {
	secret := benchSecret(b)
	drive(b, newRig(b, bareHandler(), secret, "b"))
}

// BenchmarkReceiverVsBareHTTP is receiver_vs_bare_http: the receiver on
// embedded backends and bareHandler, b.N deliveries each from the same
// senders, in alternating chunks. It reports each one's deliveries/s and
// receiver_vs_bare, the receiver's throughput ÷ the bare handler's.
func BenchmarkReceiverVsBareHTTP(b *testing.B) {
	secret := benchSecret(b)
	recv, bare := newRig(b, embeddedReceiver(b, secret), secret, "r"), newRig(b, bareHandler(), secret, "b")
	t := alternate(b, recv, bare, nil)
	b.ReportMetric(float64(b.N)/t.wall[0].Seconds(), "receiver_deliveries/s")
	b.ReportMetric(float64(b.N)/t.wall[1].Seconds(), "bare_deliveries/s")
	b.ReportMetric(t.wall[1].Seconds()/t.wall[0].Seconds(), "receiver_vs_bare")
	b.ReportMetric(float64(t.cpu[0].Microseconds())/float64(b.N), "receiver_cpu_us/delivery")
	b.ReportMetric(float64(t.cpu[1].Microseconds())/float64(b.N), "bare_cpu_us/delivery")
}

// BenchmarkReceiverTracing runs the receiver, on Pub/Sub's client and
// fake server as deployed on Pub/Sub, twice side by side, b.N deliveries
// each, in alternating chunks: one without tracing ("off") and one with
// every delivery traced ("on": every span sampled and exported in batches
// to an exporter that discards them, and the trace context carried in each
// message, as deployed). It reports each one's deliveries/s and on_vs_off,
// the traced throughput ÷ the untraced one.
func BenchmarkReceiverTracing(b *testing.B) {
	off, on := newPubSubRig(b, false), newPubSubRig(b, true)
	// The fake keeps every message; deployed, nothing piles up like that,
	// and a growing heap would make each allocation (more of them when
	// traced) cost more collection than it does.
	t := alternate(b, off, on, func(r *receiverRig) { r.pubsub.ClearMessages() })
	b.ReportMetric(float64(b.N)/t.wall[0].Seconds(), "off_deliveries/s")
	b.ReportMetric(float64(b.N)/t.wall[1].Seconds(), "on_deliveries/s")
	b.ReportMetric(t.wall[0].Seconds()/t.wall[1].Seconds(), "on_vs_off")
	// CPU time per delivery (the whole process: receiver, Pub/Sub
	// stand-in and senders), which other processes' load sways less.
	b.ReportMetric(float64(t.cpu[0].Microseconds())/float64(b.N), "off_cpu_us/delivery")
	b.ReportMetric(float64(t.cpu[1].Microseconds())/float64(b.N), "on_cpu_us/delivery")
}

// bareHandler is the floor the receiver is measured against: it only reads
// the body, as the receiver does, and answers the receiver's JSON.
func bareHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, err := io.ReadAll(http.MaxBytesReader(w, r.Body, DefaultMaxBodyBytes)); err != nil {
			writeJSON(w, http.StatusBadRequest, okBody{Status: "unreadable"})
			return
		}
		writeJSON(w, http.StatusOK, okBody{Status: StatusAccepted, WebhookID: r.Header.Get("webhook-id")})
	})
}

// embeddedReceiver is the receiver accepting secret on the local runner's
// embedded backends: in-memory idempotency and job registry, and its
// in-process Pub/Sub, published to by a direct call.
func embeddedReceiver(b *testing.B, secret signature.Secret) http.Handler {
	b.Helper()
	srv, err := minipubsub.New(minipubsub.Options{})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = srv.Close() })
	topic := "projects/bench/topics/events"
	if _, err := srv.CreateTopic(context.Background(), &pubsubpb.Topic{Name: topic}); err != nil {
		b.Fatal(err)
	}
	pub, err := publish.NewDirect(srv, topic, publish.Options{Ordering: true})
	if err != nil {
		b.Fatal(err)
	}
	return newBenchReceiver(b, secret, pub, nil)
}

// newBenchReceiver is the receiver accepting secret, publishing with pub,
// on in-memory idempotency and job registry, logging to nowhere in the
// deployed format; tp traces it when not nil.
func newBenchReceiver(b *testing.B, secret signature.Secret, pub Publisher, tp trace.TracerProvider) http.Handler {
	b.Helper()
	ledger, err := idempotency.NewMemory(idempotency.Options{})
	if err != nil {
		b.Fatal(err)
	}
	v, err := signature.NewVerifier(signature.Options{Secrets: signature.StaticSecrets{secret}})
	if err != nil {
		b.Fatal(err)
	}
	jobs, err := registry.NewMemory(registry.Options{})
	if err != nil {
		b.Fatal(err)
	}
	h, err := New(v, ledger, pub, jobs, logging.New(io.Discard, slog.LevelInfo), Options{Tracer: tp})
	if err != nil {
		b.Fatal(err)
	}
	return h
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

// drive is the single-handler benchmarks' run: b.N new deliveries sent to
// r. It reports deliveries/s and the senders' 50th and 99th percentile
// latency.
func drive(b *testing.B, r *receiverRig) {
	deliveries := r.deliveries(b.N)
	latencies := make([]time.Duration, b.N)
	b.ResetTimer()
	elapsed := r.run(b, deliveries, latencies)
	b.StopTimer()
	slices.Sort(latencies)
	pct := func(p float64) float64 {
		return float64(latencies[min(len(latencies)-1, int(p*float64(len(latencies))))].Microseconds()) / 1000
	}
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "deliveries/s")
	b.ReportMetric(pct(0.50), "p50_ms")
	b.ReportMetric(pct(0.99), "p99_ms")
}

// alternateChunks is how many turns each side of a side-by-side benchmark
// takes: the two alternate in chunks, so that a change in the machine's
// load (other processes on its two CPUs) weighs on both alike.
const alternateChunks = 20

// sideBySide is what alternate measured of each rig, in the order given.
type sideBySide struct{ wall, cpu [2]time.Duration }

// alternate sends b.N deliveries to each of a and c in alternating chunks,
// which one goes first alternating too, and returns each one's time and
// the process's CPU time while it ran. after, if set, runs after each
// chunk, outside the measure.
func alternate(b *testing.B, a, c *receiverRig, after func(*receiverRig)) sideBySide {
	rigs := [2]*receiverRig{a, c}
	deliveries := [2][]benchDelivery{a.deliveries(b.N), c.deliveries(b.N)}
	var t sideBySide
	chunk := max(1, b.N/alternateChunks)
	b.ResetTimer()
	for i := 0; i < b.N; i += chunk {
		j := min(b.N, i+chunk)
		for k := range 2 {
			side := (k + i/chunk) % 2
			c0 := processCPU(b)
			t.wall[side] += rigs[side].run(b, deliveries[side][i:j], nil)
			t.cpu[side] += processCPU(b) - c0
			if after != nil {
				b.StopTimer()
				after(rigs[side])
				b.StartTimer()
			}
		}
	}
	b.StopTimer()
	return t
}

// discardSpans is a span exporter that drops every span.
type discardSpans struct{}

func (discardSpans) ExportSpans(context.Context, []sdktrace.ReadOnlySpan) error { return nil }
func (discardSpans) Shutdown(context.Context) error                             { return nil }

// receiverRig is a handler served over loopback HTTP, and the client that
// drives it.
type receiverRig struct {
	url    string
	secret signature.Secret
	client *http.Client
	// prefix makes the rig's webhook-ids and jobs its own.
	prefix string
	// pubsub is the fake Pub/Sub server the handler publishes to, if any.
	pubsub *pstest.Server
}

// newRig serves h on loopback for deliveries signed with secret.
func newRig(b *testing.B, h http.Handler, secret signature.Secret, prefix string) *receiverRig {
	b.Helper()
	ts := httptest.NewServer(h)
	b.Cleanup(ts.Close)
	return &receiverRig{url: ts.URL, secret: secret, prefix: prefix,
		client: &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: benchWorkers, MaxConnsPerHost: benchWorkers}}}
}

// newPubSubRig serves the receiver publishing through Pub/Sub's client to
// its fake server, traced when traced is true.
func newPubSubRig(b *testing.B, traced bool) *receiverRig {
	b.Helper()
	ctx := context.Background()
	srv := pstest.NewServer()
	b.Cleanup(func() { srv.Close() })
	conn, err := grpc.NewClient(srv.Addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		b.Fatal(err)
	}
	var tp trace.TracerProvider
	if traced {
		// Batched as deployed (tracing.NewProvider).
		sdk, err := tracing.NewBatchedProvider(discardSpans{}, tracing.BatchOptions{}, sdktrace.WithSampler(sdktrace.AlwaysSample()))
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { _ = sdk.Shutdown(context.Background()) })
		tp = sdk
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
	secret := benchSecret(b)
	r := newRig(b, newBenchReceiver(b, secret, pub, tp), secret, strconv.FormatBool(traced))
	r.pubsub = srv
	return r
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
// took; each one's latency goes to latencies, when given. It fails b on
// any answer but 200.
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
