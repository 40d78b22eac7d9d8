package local

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sethvargo/go-envconfig"

	"github.com/geminihooks/geminihooks/pkg/logging"
	"github.com/geminihooks/geminihooks/pkg/signature"
)

// TestStack_inProcessPubSubIsBounded: under more deliveries than the
// materializer keeps up with, the in-process Pub/Sub never holds more than
// its bound per subscription, every delivery is still accepted (the
// receiver waits for room), and once the materializer is through nothing is
// held any more.
func TestStack_inProcessPubSubIsBounded(t *testing.T) {
	t.Parallel()
	stack, err := Start(t.Context(), Options{
		Addr: "127.0.0.1:0", Lookuper: envconfig.MapLookuper(map[string]string{}),
		Logger: logging.New(io.Discard, slog.LevelError), DataDir: t.TempDir(),
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = stack.Close() })
	go func() {
		for range stack.Received {
		}
	}()
	go func() {
		for range stack.Results {
		}
	}()
	secret, err := signature.ParseSecret("dev", stack.Secret)
	if err != nil {
		t.Fatal(err)
	}
	const n = 3 * PubSubBacklog
	var (
		next, most atomic.Int64
		wg         sync.WaitGroup
		sampling   = make(chan struct{})
	)
	go func() {
		for {
			select {
			case <-sampling:
				return
			default:
			}
			if h := int64(stack.inProcess.Held()); h > most.Load() {
				most.Store(h)
			}
			time.Sleep(time.Millisecond)
		}
	}()
	for range 16 {
		wg.Go(func() {
			for i := next.Add(1); i <= n; i = next.Add(1) {
				id := "msg_bound_" + strconv.FormatInt(i, 10)
				body := fmt.Appendf(nil, `{"type":"batch.succeeded","version":"v1","data":{"id":"batches/bound%d"}}`, i)
				now := time.Now()
				req, _ := http.NewRequestWithContext(context.Background(), http.MethodPost, stack.URL, bytes.NewReader(body))
				req.Header.Set("webhook-id", id)
				req.Header.Set("webhook-timestamp", strconv.FormatInt(now.Unix(), 10))
				req.Header.Set("webhook-signature", signature.SignHMAC(secret, id, now, body))
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					t.Error(err)
					return
				}
				_ = resp.Body.Close()
				if resp.StatusCode != http.StatusOK {
					t.Errorf("%s: %s", id, resp.Status)
				}
			}
		})
	}
	wg.Wait()
	deadline := time.Now().Add(2 * time.Minute)
	for stack.inProcess.Held() > 0 {
		if time.Now().After(deadline) {
			t.Fatalf("still holding %d messages 2 minutes after the last delivery", stack.inProcess.Held())
		}
		time.Sleep(20 * time.Millisecond)
	}
	close(sampling)
	// Three subscriptions: the materializer's (paced) and two readers of
	// the stack's own, each within the bound.
	if m := most.Load(); m > 3*PubSubBacklog+16 {
		t.Errorf("held up to %d messages; want at most %d", m, 3*PubSubBacklog+16)
	}
}
