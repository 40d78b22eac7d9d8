package local

import (
	"context"
	"fmt"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// TestStack_inProcessPubSubIsBounded: under more deliveries than the
// materializer keeps up with, the in-process Pub/Sub never holds more than
// its bound per subscription, every delivery is still accepted (the
// receiver waits for room), and once the materializer is through nothing is
// held any more.
func TestStack_inProcessPubSubIsBounded(t *testing.T) {
	t.Parallel()
	stack, secret := startDrained(t)
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
				resp, err := http.DefaultClient.Do(signedRequest(context.Background(), stack, secret, id, body))
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
