package local

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/sethvargo/go-envconfig"

	"github.com/geminihooks/geminihooks/internal/testenv"
	"github.com/geminihooks/geminihooks/pkg/capture"
	"github.com/geminihooks/geminihooks/pkg/config"
	"github.com/geminihooks/geminihooks/pkg/event"
	"github.com/geminihooks/geminihooks/pkg/logging"
	"github.com/geminihooks/geminihooks/pkg/signature"
)

func TestStack_deliveryReachesEventsTopic(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name string
		env  func(t *testing.T) map[string]string
		want string
	}{
		{name: "embedded", env: func(*testing.T) map[string]string { return map[string]string{} }, want: "in-memory idempotency, in-process Pub/Sub"},
		{name: "emulators", env: func(t *testing.T) map[string]string {
			testenv.Firestore(t) // skips, or fails in CI, without the emulators
			testenv.PubSub(t)
			return map[string]string{
				"FIRESTORE_EMULATOR_HOST": envOr(config.EnvFirestoreEmulatorHost),
				"PUBSUB_EMULATOR_HOST":    envOr(config.EnvPubSubEmulatorHost),
				"GOOGLE_CLOUD_PROJECT":    testenv.Project(),
				"IDEMPOTENCY_COLLECTION":  testenv.UniqueName(t, "local"),
				"EVENTS_TOPIC":            testenv.UniqueName(t, "events"),
			}
		}, want: "Firestore emulator at"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			env := tc.env(t)
			stack, err := Start(context.Background(), Options{
				Addr: "127.0.0.1:0", Lookuper: envconfig.MapLookuper(env), Logger: logging.New(&bytes.Buffer{}, slog.LevelInfo),
				DataDir: t.TempDir(),
			})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() {
				if err := stack.Close(); err != nil {
					t.Errorf("Close: %v", err)
				}
			})
			if !stack.Generated || len(stack.Backends) < len(tc.want) || stack.Backends[:len(tc.want)] != tc.want {
				t.Errorf("Generated=%v Backends=%q; want a generated secret and %q", stack.Generated, stack.Backends, tc.want)
			}
			secret, err := signature.ParseSecret("dev", stack.Secret)
			if err != nil {
				t.Fatal(err)
			}
			payload := []byte(`{"type":"batch.succeeded","version":"v1","data":{"id":"batches/local-1"}}`)
			for i, want := range []string{"accepted", "duplicate"} {
				now := time.Now()
				req, _ := http.NewRequest(http.MethodPost, stack.URL, bytes.NewReader(payload))
				req.Header.Set("webhook-id", "msg_local")
				req.Header.Set("webhook-timestamp", strconv.FormatInt(now.Unix(), 10))
				req.Header.Set("webhook-signature", signature.SignHMAC(secret, "msg_local", now, payload))
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				var got map[string]string
				_ = json.NewDecoder(resp.Body).Decode(&got)
				resp.Body.Close()
				if got["status"] != want {
					t.Fatalf("delivery %d: %d %v; want %s", i, resp.StatusCode, got, want)
				}
			}
			select {
			case ev := <-stack.Received:
				if ev.Data.Delivery.WebhookID != "msg_local" || ev.Subject != "batches/local-1" {
					t.Errorf("tail saw %+v", ev)
				}
			case <-time.After(20 * time.Second):
				t.Fatal("no event reached the events topic")
			}
			// The simulator knows no such batch: the materializer records
			// and announces the failure instead of retrying forever.
			select {
			case r := <-stack.Results:
				if r.Type != event.ResultsTypeFailed || r.Subject != "batches/local-1" || r.Data.Error == nil || !r.Data.Error.Permanent {
					t.Errorf("results event %+v; want a permanent results.failed for batches/local-1", r)
				}
			case <-time.After(20 * time.Second):
				t.Fatal("no results event")
			}
		})
	}
}

func envOr(name string) string {
	v, _ := envconfig.OsLookuper().Lookup(name)
	return v
}

func TestStack_demo(t *testing.T) {
	t.Parallel()
	const captures = 3 // fewer than the demo's deliveries
	stack, err := Start(context.Background(), Options{
		Addr: "127.0.0.1:0", Lookuper: envconfig.MapLookuper(map[string]string{"WEBHOOK_CAPTURE_LIMIT": strconv.Itoa(captures)}),
		Logger: logging.New(&bytes.Buffer{}, slog.LevelInfo), DataDir: t.TempDir(),
	})
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	results, err := stack.Demo(context.Background(), &out)
	if cerr := stack.Close(); cerr != nil {
		t.Errorf("Close after the demo: %v", cerr)
	}
	if err != nil {
		t.Fatalf("demo failed: %v\n%s", err, out.String())
	}
	want := map[string]string{
		"batch (results file)": "results.stored", "batch (inlined)": "results.stored", "deep research": "results.stored",
		"video": "results.stored", "batch (failed)": "results.failed",
		"batch (webhook twice)": "results.stored", "batch (webhook lost)": "results.stored",
	}
	if len(results) != len(want) {
		t.Fatalf("demo ran %d jobs, want %d", len(results), len(want))
	}
	for _, r := range results {
		if want[r.Job] != r.Event || r.Folder == "" || r.Latency <= 0 {
			t.Errorf("%s: event %q folder %q latency %s; want %s", r.Job, r.Event, r.Folder, r.Latency, want[r.Job])
		}
		// Its trace followed it from the webhook to the announcement.
		var steps []string
		for i, s := range r.Timeline {
			steps = append(steps, s.Name)
			if i > 0 && s.At.Before(r.Timeline[i-1].At) {
				t.Errorf("%s: %s before %s", r.Job, s.Name, r.Timeline[i-1].Name)
			}
		}
		first := "received"
		if r.Job == "batch (webhook lost)" {
			first = "reconciled" // no webhook brought it
		}
		if !slices.Equal(steps, []string{first, "published", "fetched", "stored", "announced"}) {
			t.Errorf("%s: timeline %v, want every step", r.Job, steps)
		}
		if line := FormatTimeline(r.Timeline); !strings.Contains(out.String(), r.Job) || !strings.Contains(line, "announced +") {
			t.Errorf("%s: timeline printed as %q", r.Job, line)
		}
	}
	if !strings.Contains(out.String(), "TIMELINES") {
		t.Errorf("the demo printed no timelines:\n%s", out.String())
	}
	// The receiver captured the first deliveries into the data directory.
	for slot := 1; slot <= captures+1; slot++ {
		_, err := stack.Store.Stat(context.Background(), capture.SlotName(capture.Prefix, slot))
		if exists := err == nil; exists != (slot <= captures) {
			t.Errorf("capture slot %d: exists=%v (err %v); want exactly %d captures", slot, exists, err, captures)
		}
	}
}

// TestStack_closeWithUnusedConnection opens a connection to the receiver
// and sends nothing on it, as an HTTP client's spare connection does: Close
// must still succeed, once its wait for requests in progress is over.
func TestStack_closeWithUnusedConnection(t *testing.T) {
	t.Parallel()
	stack, err := Start(context.Background(), Options{
		Addr: "127.0.0.1:0", Lookuper: envconfig.MapLookuper(map[string]string{}),
		Logger: logging.New(&bytes.Buffer{}, slog.LevelInfo), DataDir: t.TempDir(),
	})
	if err != nil {
		t.Fatal(err)
	}
	u, err := url.Parse(stack.URL)
	if err != nil {
		t.Fatal(err)
	}
	conn, err := net.Dial("tcp", u.Host)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if err := stack.Close(); err != nil {
		t.Errorf("Close with an unused client connection open: %v", err)
	}
}

func TestStack_demoNeedsSimulator(t *testing.T) {
	t.Parallel()
	stack, err := Start(context.Background(), Options{
		Addr: "127.0.0.1:0", Lookuper: envconfig.MapLookuper(map[string]string{"GEMINI_API_KEY": "real-key"}),
		Logger: logging.New(&bytes.Buffer{}, slog.LevelInfo), DataDir: t.TempDir(), RealGemini: true,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = stack.Close() })
	if stack.Sim != nil || stack.Gemini != "Gemini API" {
		t.Errorf("with RealGemini the stack uses %q", stack.Gemini)
	}
	if _, err := stack.Demo(context.Background(), &bytes.Buffer{}); err == nil {
		t.Error("Demo against the real API succeeded; want an error")
	}
}
