package minipubsub

import (
	"context"
	"errors"
	"io"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"cloud.google.com/go/pubsub/v2"
	pb "cloud.google.com/go/pubsub/v2/apiv1/pubsubpb"
	"google.golang.org/api/option"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
)

const (
	topicName = "projects/p/topics/t"
	subName   = "projects/p/subscriptions/s"
)

// start returns a server with one topic and a client of it.
func start(t *testing.T, opts Options) (*Server, *pubsub.Client) {
	t.Helper()
	s, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	conn, err := grpc.NewClient(s.Addr(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	c, err := pubsub.NewClient(t.Context(), "p", option.WithGRPCConn(conn))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	if _, err := c.TopicAdminClient.CreateTopic(t.Context(), &pb.Topic{Name: topicName}); err != nil {
		t.Fatal(err)
	}
	return s, c
}

func createSub(t *testing.T, c *pubsub.Client, name string, ordered bool, ackDeadline int32) {
	t.Helper()
	if _, err := c.SubscriptionAdminClient.CreateSubscription(t.Context(), &pb.Subscription{
		Name: name, Topic: topicName, EnableMessageOrdering: ordered, AckDeadlineSeconds: ackDeadline,
	}); err != nil {
		t.Fatal(err)
	}
}

// publish publishes n messages "0".."n-1" with ordering key key(i).
func publish(t *testing.T, c *pubsub.Client, n int, key func(int) string) {
	t.Helper()
	p := c.Publisher(topicName)
	p.EnableMessageOrdering = true
	defer p.Stop()
	var results []*pubsub.PublishResult
	for i := range n {
		results = append(results, p.Publish(t.Context(), &pubsub.Message{Data: []byte(strconv.Itoa(i)), OrderingKey: key(i)}))
	}
	for _, r := range results {
		if _, err := r.Get(t.Context()); err != nil {
			t.Fatal(err)
		}
	}
}

// waitFor polls cond until it holds or 10 s pass.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestStreamingPullOrdered: every message arrives, those of one ordering
// key one at a time and in order, and nothing is held once acknowledged.
func TestStreamingPullOrdered(t *testing.T) {
	t.Parallel()
	s, c := start(t, Options{})
	createSub(t, c, subName, true, 60)
	const n = 600
	publish(t, c, n, func(i int) string { return "key-" + strconv.Itoa(i%60) })

	var (
		mu       sync.Mutex
		got      = map[string][]int{}
		inFlight = map[string]bool{}
		overlap  bool
	)
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	done := make(chan error, 1)
	go func() {
		done <- c.Subscriber(subName).Receive(ctx, func(_ context.Context, m *pubsub.Message) {
			mu.Lock()
			if inFlight[m.OrderingKey] {
				overlap = true
			}
			inFlight[m.OrderingKey] = true
			mu.Unlock()
			v, _ := strconv.Atoi(string(m.Data))
			mu.Lock()
			got[m.OrderingKey] = append(got[m.OrderingKey], v)
			inFlight[m.OrderingKey] = false
			mu.Unlock()
			m.Ack()
		})
	}()
	waitFor(t, "every message", func() bool {
		mu.Lock()
		defer mu.Unlock()
		total := 0
		for _, l := range got {
			total += len(l)
		}
		return total == n
	})
	waitFor(t, "the acknowledgements", func() bool { return s.Held() == 0 })
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	if overlap {
		t.Error("two messages of one ordering key were handled at once")
	}
	for k, l := range got {
		if !slices.IsSorted(l) {
			t.Errorf("key %s arrived out of order: %v", k, l)
		}
	}
}

// TestNackRedelivers: a message handed back comes again.
func TestNackRedelivers(t *testing.T) {
	t.Parallel()
	s, c := start(t, Options{})
	createSub(t, c, subName, false, 60)
	publish(t, c, 1, func(int) string { return "" })
	var mu sync.Mutex
	attempts := 0
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	go func() {
		_ = c.Subscriber(subName).Receive(ctx, func(_ context.Context, m *pubsub.Message) {
			mu.Lock()
			defer mu.Unlock()
			attempts++
			if attempts < 3 {
				m.Nack()
				return
			}
			m.Ack()
		})
	}()
	waitFor(t, "the third attempt to be acknowledged", func() bool { return s.Held() == 0 })
	mu.Lock()
	defer mu.Unlock()
	if attempts != 3 {
		t.Errorf("%d attempts, want 3", attempts)
	}
}

// TestPullAndLeases: Pull leases messages, an expired lease is handed out
// again, a modified deadline is kept, and Acknowledge ends it.
func TestPullAndLeases(t *testing.T) {
	t.Parallel()
	s, c := start(t, Options{})
	createSub(t, c, subName, false, 1)
	publish(t, c, 2, func(int) string { return "" })
	pull := func() []*pb.ReceivedMessage {
		t.Helper()
		resp, err := c.SubscriptionAdminClient.Pull(t.Context(), &pb.PullRequest{Subscription: subName, MaxMessages: 10})
		if err != nil {
			t.Fatal(err)
		}
		return resp.GetReceivedMessages()
	}
	first := pull()
	if len(first) != 2 {
		t.Fatalf("pulled %d, want 2", len(first))
	}
	// Keep the first leased, let the second's lease run out.
	if err := c.SubscriptionAdminClient.ModifyAckDeadline(t.Context(), &pb.ModifyAckDeadlineRequest{
		Subscription: subName, AckIds: []string{first[0].GetAckId()}, AckDeadlineSeconds: 60,
	}); err != nil {
		t.Fatal(err)
	}
	again := pull() // waits for the expiry
	if len(again) != 1 || again[0].GetMessage().GetMessageId() != first[1].GetMessage().GetMessageId() || again[0].GetAckId() == first[1].GetAckId() {
		t.Fatalf("after the lease ran out: %v; want the second message under a new ack id", again)
	}
	// The old ack id no longer counts; the new one does.
	for _, id := range []string{first[1].GetAckId(), again[0].GetAckId(), first[0].GetAckId()} {
		if err := c.SubscriptionAdminClient.Acknowledge(t.Context(), &pb.AcknowledgeRequest{Subscription: subName, AckIds: []string{id}}); err != nil {
			t.Fatal(err)
		}
	}
	if n := s.Held(); n != 0 {
		t.Errorf("holds %d after the acknowledgements", n)
	}
}

// TestBacklogBounds: a paced subscription makes publishes wait for room; any
// other keeps its newest messages only.
func TestBacklogBounds(t *testing.T) {
	t.Parallel()
	t.Run("paced_waits", func(t *testing.T) {
		t.Parallel()
		s, c := start(t, Options{MaxBacklog: 10})
		createSub(t, c, subName, false, 60)
		if err := s.Pace(subName); err != nil {
			t.Fatal(err)
		}
		publishOne := func(ctx context.Context, i int) error {
			_, err := c.TopicAdminClient.Publish(ctx, &pb.PublishRequest{Topic: topicName, Messages: []*pb.PubsubMessage{{Data: []byte(strconv.Itoa(i))}}})
			return err
		}
		for i := range 10 {
			if err := publishOne(t.Context(), i); err != nil {
				t.Fatal(err)
			}
		}
		ctx, cancel := context.WithTimeout(t.Context(), 200*time.Millisecond)
		defer cancel()
		if err := publishOne(ctx, 10); status.Code(err) != codes.DeadlineExceeded && !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("publish into a full paced subscription: %v; want it to wait until its deadline", err)
		}
		waiting := make(chan error, 1)
		go func() { waiting <- publishOne(t.Context(), 11) }()
		resp, err := c.SubscriptionAdminClient.Pull(t.Context(), &pb.PullRequest{Subscription: subName, MaxMessages: 1})
		if err != nil {
			t.Fatal(err)
		}
		if err := c.SubscriptionAdminClient.Acknowledge(t.Context(), &pb.AcknowledgeRequest{Subscription: subName, AckIds: []string{resp.GetReceivedMessages()[0].GetAckId()}}); err != nil {
			t.Fatal(err)
		}
		if err := <-waiting; err != nil {
			t.Fatalf("the waiting publish: %v; want it through once there was room", err)
		}
		if s.Held() != 10 || s.Dropped() != 0 {
			t.Errorf("holds %d, dropped %d; want 10 and none", s.Held(), s.Dropped())
		}
	})
	t.Run("unpaced_keeps_newest", func(t *testing.T) {
		t.Parallel()
		s, c := start(t, Options{MaxBacklog: 10})
		createSub(t, c, subName, false, 60)
		publish(t, c, 25, func(int) string { return "" })
		if s.Held() != 10 || s.Dropped() != 15 {
			t.Fatalf("holds %d, dropped %d; want 10 and 15", s.Held(), s.Dropped())
		}
		resp, err := c.SubscriptionAdminClient.Pull(t.Context(), &pb.PullRequest{Subscription: subName, MaxMessages: 100})
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, m := range resp.GetReceivedMessages() {
			got = append(got, string(m.GetMessage().GetData()))
		}
		if want := []string{"15", "16", "17", "18", "19", "20", "21", "22", "23", "24"}; !slices.Equal(got, want) {
			t.Errorf("kept %v, want the newest %v", got, want)
		}
	})
}

// TestErrors: the status codes the local runner and the operator tool rely
// on.
func TestErrors(t *testing.T) {
	t.Parallel()
	_, c := start(t, Options{})
	createSub(t, c, subName, false, 0)
	ctx := t.Context()
	tests := []struct {
		name string
		call func() error
		want codes.Code
	}{
		{"topic_exists", func() error { _, err := c.TopicAdminClient.CreateTopic(ctx, &pb.Topic{Name: topicName}); return err }, codes.AlreadyExists},
		{"subscription_exists", func() error {
			_, err := c.SubscriptionAdminClient.CreateSubscription(ctx, &pb.Subscription{Name: subName, Topic: topicName})
			return err
		}, codes.AlreadyExists},
		{"subscription_to_missing_topic", func() error {
			_, err := c.SubscriptionAdminClient.CreateSubscription(ctx, &pb.Subscription{Name: subName + "2", Topic: topicName + "2"})
			return err
		}, codes.NotFound},
		{"publish_to_missing_topic", func() error {
			_, err := c.TopicAdminClient.Publish(ctx, &pb.PublishRequest{Topic: topicName + "2", Messages: []*pb.PubsubMessage{{Data: []byte("x")}}})
			return err
		}, codes.NotFound},
		{"missing_subscription", func() error {
			_, err := c.SubscriptionAdminClient.GetSubscription(ctx, &pb.GetSubscriptionRequest{Subscription: subName + "2"})
			return err
		}, codes.NotFound},
		{"receive_from_missing_subscription", func() error {
			return c.Subscriber(subName+"2").Receive(ctx, func(context.Context, *pubsub.Message) {})
		}, codes.NotFound},
		{"bad_name", func() error { _, err := c.TopicAdminClient.CreateTopic(ctx, &pb.Topic{Name: "t"}); return err }, codes.InvalidArgument},
		{"filter", func() error {
			_, err := c.SubscriptionAdminClient.CreateSubscription(ctx, &pb.Subscription{Name: subName + "3", Topic: topicName, Filter: `attributes.a = "b"`})
			return err
		}, codes.Unimplemented},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := status.Code(tt.call()); got != tt.want {
				t.Errorf("got %s, want %s", got, tt.want)
			}
		})
	}
	t.Run("deleted_subscription_ends_receive", func(t *testing.T) {
		createSub(t, c, subName+"4", false, 0)
		done := make(chan error, 1)
		go func() { done <- c.Subscriber(subName+"4").Receive(ctx, func(context.Context, *pubsub.Message) {}) }()
		if err := c.SubscriptionAdminClient.DeleteSubscription(ctx, &pb.DeleteSubscriptionRequest{Subscription: subName + "4"}); err != nil {
			t.Fatal(err)
		}
		select {
		case err := <-done:
			if status.Code(err) != codes.NotFound {
				t.Errorf("Receive ended with %v, want NotFound", err)
			}
		case <-time.After(10 * time.Second):
			t.Error("Receive still runs on a deleted subscription")
		}
	})
}

// TestStreamingPullHalfClose: a client that closes its side of the stream
// gets a clean end of stream, not an error, so a subscriber stopping while
// it drains does not report one.
func TestStreamingPullHalfClose(t *testing.T) {
	t.Parallel()
	s, c := start(t, Options{})
	createSub(t, c, subName, false, 60)
	conn, err := grpc.NewClient(s.Addr(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	stream, err := pb.NewSubscriberClient(conn).StreamingPull(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if err := stream.Send(&pb.StreamingPullRequest{Subscription: subName, StreamAckDeadlineSeconds: 10}); err != nil {
		t.Fatal(err)
	}
	if err := stream.CloseSend(); err != nil {
		t.Fatal(err)
	}
	for {
		_, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			return
		}
		if err != nil {
			t.Fatalf("stream ended with %v, want a clean end (io.EOF)", err)
		}
	}
}
