package receiver

import (
	"context"
	"net/http"
	"net/http/httptest"
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

// emulatorStack is a receiver on the Firestore and Pub/Sub emulators.
type emulatorStack struct {
	*harness
	ledger     *idempotency.Firestore
	fs         *firestore.Client
	ps         *pubsub.Client
	collection string
	sub        string
}

func newEmulatorStack(t *testing.T, topic string) *emulatorStack {
	t.Helper()
	fs := testenv.Firestore(t)
	ps := testenv.PubSub(t)
	collection := testenv.UniqueName(t, "deliveries")
	clock := &testClock{now: time.Now()}
	ledger, err := idempotency.NewFirestore(fs, idempotency.Options{Collection: collection, Now: clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	var sub string
	if topic == "" {
		topic, sub = testenv.Topic(t, ps)
	}
	pub, err := publish.NewPubSub(ps, topic, publish.Options{Ordering: true, Timeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pub.Stop)
	// The emulator's first calls take seconds, and it serializes contended
	// writes to one document far more slowly than Firestore: a deadline
	// above both keeps these tests about exactly-once, not about speed.
	h := newHarness(t, harnessOptions{clock: clock, ledger: ledger, pub: pub, ledgerTimeout: 20 * time.Second})
	return &emulatorStack{harness: h, ledger: ledger, fs: fs, ps: ps, collection: collection, sub: sub}
}

func TestEmulator_concurrentDeliveriesPublishOnce(t *testing.T) {
	t.Parallel()
	s := newEmulatorStack(t, "")
	srv := httptest.NewServer(s.handler)
	t.Cleanup(srv.Close)

	const n = 200
	payload := body("batch.succeeded", "batches/concurrent")
	ts := s.clock.Now()
	statuses := make(chan response, n)
	var wg sync.WaitGroup
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := s.hmacRequest("msg_concurrent", ts, payload, -1)
			req, _ := http.NewRequest(http.MethodPost, srv.URL, r.Body)
			req.Header = r.Header
			resp, err := srv.Client().Do(req)
			if err != nil {
				t.Error(err)
				return
			}
			defer resp.Body.Close()
			var buf [512]byte
			k, _ := resp.Body.Read(buf[:])
			statuses <- decodeResponse(t, resp.StatusCode, resp.Header, buf[:k])
		}()
	}
	wg.Wait()
	close(statuses)
	counts := map[string]int{}
	for res := range statuses {
		switch {
		case res.Status == 200:
			counts[res.Body["status"].(string)]++
		case res.Status == 503 && res.errCode() == "delivery_in_progress":
			counts["in_progress"]++
		default:
			t.Errorf("unexpected answer %d %s", res.Status, res.Raw)
		}
	}
	if counts["accepted"] != 1 || counts["accepted"]+counts["duplicate"]+counts["in_progress"] != n {
		t.Fatalf("answers %v; want exactly one accepted, the rest duplicate or in progress", counts)
	}
	msgs := testenv.Pull(t, s.ps, s.sub, 1, 30*time.Second)
	if msgs[0].Attributes["webhook_id"] != "msg_concurrent" || msgs[0].OrderingKey != "batches/concurrent" {
		t.Errorf("unexpected message attributes %v, ordering key %q", msgs[0].Attributes, msgs[0].OrderingKey)
	}
}

func TestEmulator_crashBetweenClaimAndPublish(t *testing.T) {
	t.Parallel()
	s := newEmulatorStack(t, "")
	ctx := context.Background()
	payload := body("interaction.completed", "int_crash")

	// An instance claims the delivery, then dies before publishing.
	if _, err := s.ledger.Claim(ctx, jobKey(event.KindInteraction, "int_crash")); err != nil {
		t.Fatal(err)
	}
	res := s.do(s.hmacRequest("msg_crash", s.clock.Now(), payload, 0))
	if res.Status != 503 || res.errCode() != "delivery_in_progress" {
		t.Fatalf("retry during the lease: %d %s; want 503 delivery_in_progress", res.Status, res.Raw)
	}
	// Gemini retries after the lease has expired: the claim is taken over.
	s.clock.Advance(idempotency.DefaultLease + time.Second)
	res = s.do(s.hmacRequest("msg_crash", s.clock.Now(), payload, 0))
	if res.Body["status"] != "accepted" {
		t.Fatalf("retry after the lease: %d %s; want accepted", res.Status, res.Raw)
	}
	msgs := testenv.Pull(t, s.ps, s.sub, 1, 30*time.Second)
	ev, err := event.Decode(msgs[0].Data)
	if err != nil || ev.Data.Delivery.WebhookID != "msg_crash" {
		t.Fatalf("published event %v, %v; want id msg_crash", ev, err)
	}
	// And the next retry is a duplicate.
	if res := s.do(s.hmacRequest("msg_crash", s.clock.Now(), payload, 0)); res.Body["status"] != "duplicate" {
		t.Fatalf("later retry: %d %s; want duplicate", res.Status, res.Raw)
	}
}

func TestEmulator_pubsubDownAnswers503AndRecovers(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	// The topic does not exist yet: every publish fails, as when Pub/Sub is
	// unreachable or the topic was deleted.
	topic := "projects/" + testenv.Project() + "/topics/" + testenv.UniqueName(t, "down")
	s := newEmulatorStack(t, topic)
	ps := s.ps
	payload := body("batch.succeeded", "batches/down")

	res := s.do(s.hmacRequest("msg_down", s.clock.Now(), payload, 0))
	if res.Status != 503 || res.errCode() != "publish_failed" {
		t.Fatalf("got %d %s; want 503 publish_failed", res.Status, res.Raw)
	}
	snap, err := s.fs.Collection(s.collection).Doc(idempotency.DocID(jobKey(event.KindBatch, "down"))).Get(ctx)
	if status.Code(err) != codes.NotFound {
		t.Fatalf("ledger record after a failed publish: %v (state %v); want none", err, snap.Data()["state"])
	}

	// Pub/Sub is back: Gemini's retry goes through at once.
	if _, err := ps.TopicAdminClient.CreateTopic(ctx, &pubsubpb.Topic{Name: topic}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { testenv.DeleteTopic(t, ps, topic) })
	sub := "projects/" + testenv.Project() + "/subscriptions/" + testenv.UniqueName(t, "down-sub")
	if _, err := ps.SubscriptionAdminClient.CreateSubscription(ctx, &pubsubpb.Subscription{Name: sub, Topic: topic}); err != nil {
		t.Fatal(err)
	}
	res = s.do(s.hmacRequest("msg_down", s.clock.Now(), payload, 0))
	if res.Body["status"] != "accepted" {
		t.Fatalf("retry after recovery: %d %s; want accepted", res.Status, res.Raw)
	}
	testenv.Pull(t, ps, sub, 1, 30*time.Second)
	snap, err = s.fs.Collection(s.collection).Doc(idempotency.DocID(jobKey(event.KindBatch, "down"))).Get(ctx)
	if err != nil || snap.Data()["state"] != "published" {
		t.Fatalf("ledger record after recovery: %v %v; want state published", err, snap.Data())
	}
}
