package receiver

import (
	"fmt"
	"net/http"
	"sync"
	"testing"
	"time"
)

// BenchmarkPubSubOutageRecovery stalls Pub/Sub (a fault proxy before the
// emulator) while deliveries arrive, so each is answered 503 publish_failed,
// then lets it through again and sends every pending delivery again at
// once, as Gemini's retries would, until all are accepted. It reports the
// longest time, over the rounds, from Pub/Sub reachable again to every
// pending id published, as recovery_s. The publish bound is the fault
// tests' (1 s), which sets how long an outage round lasts, not how fast
// it recovers. Needs the emulators; run with a fixed count, e.g.
// -benchtime=3x.
func BenchmarkPubSubOutageRecovery(b *testing.B) {
	const pending = 8 // distinct jobs: the emulator runs a thread per ordering key
	s := newFaultStack(b, faultStackOptions{proxyPubSub: true})
	var worst time.Duration
	var all []string
	for round := 0; b.Loop(); round++ {
		ids := faultIDs(fmt.Sprintf("outage%d", round), pending)
		all = append(all, ids...)
		s.psProxy.Stall()
		res, _ := s.deliverAll(ids)
		for i, r := range res {
			if r.Status != http.StatusServiceUnavailable || r.errCode() != "publish_failed" {
				b.Fatalf("%s during the outage: %d %s; want 503 publish_failed", ids[i], r.Status, r.Raw)
			}
		}
		s.psProxy.Drop()
		s.psProxy.Resume()
		start := time.Now()
		var wg sync.WaitGroup
		for _, id := range ids {
			wg.Go(func() { retryAccepted(b, s, id, 30*time.Second) })
		}
		wg.Wait()
		worst = max(worst, time.Since(start))
	}
	s.expectEvents(all)
	b.ReportMetric(worst.Seconds(), "recovery_s")
}

// BenchmarkFirestoreStallAnswer stalls Firestore (a fault proxy before the
// emulator) while deliveries arrive, on the default LEDGER_TIMEOUT, and
// reports the slowest answer over the rounds as answer_ms (each must be
// 503 idempotency_unavailable) and the bound as bound_ms. Needs the
// emulators; run with a fixed count, e.g. -benchtime=3x.
func BenchmarkFirestoreStallAnswer(b *testing.B) {
	const concurrent = 4
	s := newFaultStack(b, faultStackOptions{proxyFirestore: true, ledgerTimeout: DefaultLedgerTimeout})
	var worst time.Duration
	for round := 0; b.Loop(); round++ {
		ids := faultIDs(fmt.Sprintf("stall%d", round), concurrent)
		s.fsProxy.Stall()
		res, took := s.deliverAll(ids)
		for i, r := range res {
			if r.Status != http.StatusServiceUnavailable || r.errCode() != "idempotency_unavailable" {
				b.Fatalf("%s while Firestore stalls: %d %s; want 503 idempotency_unavailable", ids[i], r.Status, r.Raw)
			}
			worst = max(worst, took[i])
		}
		// Firestore comes back; the next round starts on a working
		// connection, so it measures the stall rather than a broken link.
		s.fsProxy.Drop()
		s.fsProxy.Resume()
		retryAccepted(b, s, ids[0], 30*time.Second)
	}
	b.ReportMetric(float64(worst)/float64(time.Millisecond), "answer_ms")
	b.ReportMetric(float64(DefaultLedgerTimeout)/float64(time.Millisecond), "bound_ms")
}

// retryAccepted sends id's delivery until it is accepted; answers other
// than 503, or no acceptance within wait, fail the benchmark. It may run
// on any goroutine.
func retryAccepted(b *testing.B, s *faultStack, id string, wait time.Duration) {
	start := time.Now()
	for {
		res, _ := s.deliver(id)
		if res.Status == http.StatusOK && res.Body["status"] == StatusAccepted {
			return
		}
		if res.Status != http.StatusServiceUnavailable || time.Since(start) > wait {
			b.Errorf("retry of %s: %d %s; want accepted within %s", id, res.Status, res.Raw, wait)
			return
		}
	}
}
