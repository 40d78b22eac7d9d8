package receiver

import (
	"context"
	"fmt"
	"net/http"
	"sync"
	"testing"
	"time"

	"cloud.google.com/go/firestore"
	"cloud.google.com/go/pubsub/v2"
	"cloud.google.com/go/pubsub/v2/apiv1/pubsubpb"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/geminihooks/geminihooks/internal/testenv"
	"github.com/geminihooks/geminihooks/pkg/event"
	"github.com/geminihooks/geminihooks/pkg/idempotency"
	"github.com/geminihooks/geminihooks/pkg/publish"
)

// Step bounds of the receivers in the fault tests: short, so each test takes
// a few seconds, yet above what a warm emulator takes on a loaded machine;
// and the slack a stalled step may take beyond its bound to be answered
// (scheduling under -race).
const (
	faultLedgerTimeout  = time.Second
	faultPublishTimeout = time.Second
	faultSlack          = time.Second
	// faultRecovery bounds the time from a backend's recovery to the
	// first accepted retry (the goal for Pub/Sub: 2 s).
	faultRecovery = 2 * time.Second
)

// faultStack is a receiver on the emulators whose Firestore or Pub/Sub
// client (or both) runs through a fault proxy. Its events are checked
// through clients of its own, past the proxies.
type faultStack struct {
	*harness
	fsProxy, psProxy *testenv.FaultProxy // nil when not proxied
	fs               *firestore.Client   // direct
	ps               *pubsub.Client      // direct
	collection, sub  string
	topic            string
}

type faultStackOptions struct {
	proxyFirestore, proxyPubSub bool
	// shareWith runs a second receiver (with signing secrets of its own)
	// on the first one's collection, topic and clock.
	shareWith *faultStack
	// wallClock runs the receiver on the real clock; lease is its ledger's
	// lease (zero: the default).
	wallClock bool
	lease     time.Duration
	// Step bounds; zero takes faultLedgerTimeout and faultPublishTimeout.
	ledgerTimeout, publishTimeout time.Duration
}

func newFaultStack(t testing.TB, o faultStackOptions) *faultStack {
	t.Helper()
	if o.ledgerTimeout == 0 {
		o.ledgerTimeout = faultLedgerTimeout
	}
	if o.publishTimeout == 0 {
		o.publishTimeout = faultPublishTimeout
	}
	s := &faultStack{fs: testenv.Firestore(t), ps: testenv.PubSub(t)}
	fs, ps := s.fs, s.ps
	if o.proxyFirestore {
		fs, s.fsProxy = testenv.FirestoreBehind(t)
	}
	if o.proxyPubSub {
		ps, s.psProxy = testenv.PubSubBehind(t)
	}
	clock := &testClock{now: time.Now(), wall: o.wallClock}
	var topic string
	if o.shareWith != nil {
		clock, s.collection, s.sub = o.shareWith.clock, o.shareWith.collection, o.shareWith.sub
		topic = o.shareWith.topic
	} else {
		s.collection = testenv.UniqueName(t, "deliveries")
		topic, s.sub = testenv.Topic(t, s.ps)
	}
	ledger, err := idempotency.NewFirestore(fs, idempotency.Options{Collection: s.collection, Lease: o.lease, Now: clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	pub, err := publish.NewPubSub(ps, topic, publish.Options{Ordering: true, Timeout: o.publishTimeout})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pub.Stop)
	s.harness = newHarness(t, harnessOptions{clock: clock, ledger: ledger, pub: pub,
		ledgerTimeout: o.ledgerTimeout, publishTimeout: o.publishTimeout})
	s.topic = topic
	// The emulators' first calls take seconds (JIT, connection set-up):
	// warm both connections, without a deadline to miss, before anything
	// is measured.
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	warm, err := ledger.Claim(ctx, fmt.Sprintf("msg_warm_%p", s))
	if err == nil {
		err = ledger.Release(ctx, warm)
	}
	if err == nil {
		_, err = ps.TopicAdminClient.GetTopic(ctx, &pubsubpb.GetTopicRequest{Topic: topic})
	}
	if err != nil {
		t.Fatalf("warming the emulator connections: %v", err)
	}
	return s
}

// deliver sends the delivery of id (job "batches/<id>") and times the
// answer.
func (s *faultStack) deliver(id string) (response, time.Duration) {
	start := time.Now()
	res := s.do(s.hmacRequest(id, s.clock.Now(), body("batch.succeeded", "batches/"+id), 0))
	return res, time.Since(start)
}

// deliverAll sends the deliveries of ids concurrently.
func (s *faultStack) deliverAll(ids []string) ([]response, []time.Duration) {
	res, took := make([]response, len(ids)), make([]time.Duration, len(ids))
	var wg sync.WaitGroup
	for i, id := range ids {
		wg.Go(func() { res[i], took[i] = s.deliver(id) })
	}
	wg.Wait()
	return res, took
}

// retryUntilAccepted sends id's delivery until it is accepted, as Gemini's
// retries would, and returns how long that took. Answers other than 503
// fail the test; so does not being accepted within wait.
func (s *faultStack) retryUntilAccepted(id string, wait time.Duration) time.Duration {
	s.t.Helper()
	start := time.Now()
	for attempt := 1; ; attempt++ {
		res, _ := s.deliver(id)
		if res.Status == http.StatusOK && res.Body["status"] == StatusAccepted {
			return time.Since(start)
		}
		if res.Status != http.StatusServiceUnavailable {
			s.t.Fatalf("retry %d of %s: %d %s; want accepted or 503", attempt, id, res.Status, res.Raw)
		}
		if time.Since(start) > wait {
			s.t.Fatalf("%s not accepted within %s (%d attempts); last answer %s", id, wait, attempt, res.Raw)
		}
	}
}

// retryUntilDone sends id's delivery until it is accepted or a duplicate,
// and returns which.
func (s *faultStack) retryUntilDone(id string, wait time.Duration) string {
	s.t.Helper()
	start := time.Now()
	for {
		res, _ := s.deliver(id)
		if st, _ := res.Body["status"].(string); res.Status == http.StatusOK && (st == StatusAccepted || st == StatusDuplicate) {
			return st
		}
		if res.Status != http.StatusServiceUnavailable || time.Since(start) > wait {
			s.t.Fatalf("retry of %s: %d %s; want accepted or duplicate within %s", id, res.Status, res.Raw, wait)
		}
	}
}

// expectEvents pulls the subscription and fails unless it holds exactly
// one event for each id.
func (s *faultStack) expectEvents(ids []string) {
	s.t.Helper()
	msgs := testenv.Pull(s.t, s.ps, s.sub, len(ids), 30*time.Second)
	seen := map[string]int{}
	for _, m := range msgs {
		ev, err := event.Decode(m.Data)
		if err != nil {
			s.t.Fatalf("undecodable event: %v", err)
		}
		seen[ev.Data.Delivery.WebhookID]++
	}
	for _, id := range ids {
		if seen[id] != 1 {
			s.t.Errorf("%d events for %s; want exactly one (all: %v)", seen[id], id, seen)
		}
	}
}

func (s *faultStack) expectNoRecord(id string) {
	s.t.Helper()
	_, err := s.fs.Collection(s.collection).Doc(idempotency.DocID(jobKey(event.KindBatch, id))).Get(context.Background())
	if status.Code(err) != codes.NotFound {
		s.t.Errorf("ledger record of %s: %v; want none (released)", id, err)
	}
}

func faultIDs(prefix string, n int) []string {
	ids := make([]string, n)
	for i := range ids {
		ids[i] = fmt.Sprintf("msg_%s_%d", prefix, i)
	}
	return ids
}

func expectFast503(t *testing.T, res []response, took []time.Duration, code string, bound time.Duration) {
	t.Helper()
	for i, r := range res {
		if r.Status != http.StatusServiceUnavailable || r.errCode() != code || r.Header.Get("Retry-After") == "" {
			t.Errorf("answer %d: %d %s (Retry-After %q); want 503 %s with Retry-After", i, r.Status, r.Raw, r.Header.Get("Retry-After"), code)
		}
		if took[i] > bound+faultSlack {
			t.Errorf("answer %d took %s; want at most %s + %s", i, took[i], bound, faultSlack)
		}
		t.Logf("answer %d: %d %s after %s", i, r.Status, r.errCode(), took[i])
	}
}

func TestFault_firestoreStalled(t *testing.T) {
	t.Parallel()
	s := newFaultStack(t, faultStackOptions{proxyFirestore: true})

	ids := faultIDs("fs", 3)
	s.fsProxy.Stall()
	res, took := s.deliverAll(ids)
	expectFast503(t, res, took, "idempotency_unavailable", faultLedgerTimeout)

	// Firestore comes back; the stalled connections were lost on the way.
	s.fsProxy.Drop()
	s.fsProxy.Resume()
	start := time.Now()
	for _, id := range ids {
		s.retryUntilAccepted(id, faultRecovery)
	}
	t.Logf("every pending id published %s after recovery", time.Since(start))
	s.expectEvents(ids)
}

func TestFault_pubsubStalled(t *testing.T) {
	t.Parallel()
	s := newFaultStack(t, faultStackOptions{proxyPubSub: true})

	ids := faultIDs("ps", 3)
	s.psProxy.Stall()
	res, took := s.deliverAll(ids)
	// The publish times out, then the release runs on a deadline of its own.
	expectFast503(t, res, took, "publish_failed", faultPublishTimeout)
	for _, id := range ids {
		s.expectNoRecord(id)
	}

	// Pub/Sub comes back: the first retry of each publishes at once, since
	// the claims were released.
	s.psProxy.Drop()
	s.psProxy.Resume()
	start := time.Now()
	for _, id := range ids {
		res, d := s.deliver(id)
		if res.Status != http.StatusOK || res.Body["status"] != StatusAccepted {
			t.Errorf("first retry of %s after recovery: %d %s; want accepted", id, res.Status, res.Raw)
		}
		t.Logf("%s: first retry after recovery answered %s in %s", id, res.Raw, d)
	}
	if d := time.Since(start); d > faultRecovery {
		t.Errorf("every pending id published %s after recovery; want at most %s", d, faultRecovery)
	}
	s.expectEvents(ids)
}

func TestFault_twoReceiversRace(t *testing.T) {
	t.Parallel()
	a := newFaultStack(t, faultStackOptions{})
	b := newFaultStack(t, faultStackOptions{shareWith: a})
	ids := faultIDs("race", 4)
	const perReceiver = 3 // concurrent attempts of each id at each receiver

	var (
		mu       sync.Mutex
		accepted = map[string]int{}
		wg       sync.WaitGroup
	)
	for _, s := range []*faultStack{a, b} {
		for _, id := range ids {
			for range perReceiver {
				wg.Go(func() {
					res, _ := s.deliver(id)
					switch {
					case res.Status == http.StatusOK && res.Body["status"] == StatusAccepted:
						mu.Lock()
						accepted[id]++
						mu.Unlock()
					case res.Status == http.StatusOK && res.Body["status"] == StatusDuplicate:
					case res.Status == http.StatusServiceUnavailable:
						// delivery_in_progress, or the emulator slower than
						// the ledger's bound under this contention: both are
						// retried by Gemini, as below.
					default:
						t.Errorf("%s: %d %s; want accepted, duplicate or 503", id, res.Status, res.Raw)
					}
				})
			}
		}
	}
	wg.Wait()
	for _, id := range ids {
		// Gemini's later retries, at either receiver, end the same way: the
		// one that publishes (if none did yet) and duplicates.
		for _, s := range []*faultStack{a, b} {
			if s.retryUntilDone(id, 5*time.Second) == StatusAccepted {
				accepted[id]++
			}
		}
		if accepted[id] != 1 {
			t.Errorf("%s accepted %d times; want once", id, accepted[id])
		}
	}
	a.expectEvents(ids)
}
