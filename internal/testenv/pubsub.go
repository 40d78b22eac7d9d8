package testenv

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"cloud.google.com/go/pubsub/v2"
	"cloud.google.com/go/pubsub/v2/apiv1/pubsubpb"
)

// TopicOption configures the subscription created by Topic.
type TopicOption func(*pubsubpb.Subscription)

// WithMessageOrdering makes the subscription deliver messages with the same
// ordering key in publish order.
func WithMessageOrdering() TopicOption {
	return func(s *pubsubpb.Subscription) { s.EnableMessageOrdering = true }
}

// Topic creates a topic and one subscription to it, both named uniquely for
// the test, and deletes them when the test ends. It returns their full
// resource names ("projects/P/topics/T", "projects/P/subscriptions/S").
func Topic(t testing.TB, c *pubsub.Client, opts ...TopicOption) (topic, sub string) {
	t.Helper()
	ctx := context.Background()
	name := UniqueName(t, "topic")
	tp, err := c.TopicAdminClient.CreateTopic(ctx, &pubsubpb.Topic{
		Name: fmt.Sprintf("projects/%s/topics/%s", c.Project(), name),
	})
	if err != nil {
		t.Fatalf("failed to create topic %s: %v", name, err)
	}
	t.Cleanup(func() { DeleteTopic(t, c, tp.GetName()) })

	s := &pubsubpb.Subscription{
		Name:  fmt.Sprintf("projects/%s/subscriptions/%s", c.Project(), name),
		Topic: tp.GetName(),
		// Long enough that a slow test does not see a redelivery it would
		// mistake for a duplicate publish.
		AckDeadlineSeconds: 60,
	}
	for _, o := range opts {
		o(s)
	}
	created, err := c.SubscriptionAdminClient.CreateSubscription(ctx, s)
	if err != nil {
		t.Fatalf("failed to create subscription %s: %v", s.GetName(), err)
	}
	t.Cleanup(func() {
		err := c.SubscriptionAdminClient.DeleteSubscription(context.Background(),
			&pubsubpb.DeleteSubscriptionRequest{Subscription: created.GetName()})
		if err != nil {
			t.Logf("failed to delete subscription %s: %v", created.GetName(), err)
		}
	})
	return tp.GetName(), created.GetName()
}

// DeleteTopic deletes a topic, logging (not failing) when that is not
// possible, so it can run in cleanups and in tests that delete a topic on
// purpose.
func DeleteTopic(t testing.TB, c *pubsub.Client, topic string) {
	t.Helper()
	err := c.TopicAdminClient.DeleteTopic(context.Background(), &pubsubpb.DeleteTopicRequest{Topic: topic})
	if err != nil {
		t.Logf("failed to delete topic %s: %v", topic, err)
	}
}

// Pull receives and acknowledges messages from sub until want have arrived,
// then fails the test if the subscription holds anything else: the
// exactly-once tests need exactly want messages, so callers pull once what
// they test has finished publishing. It fails the test when fewer than want
// arrive within wait. Messages are returned in arrival order.
func Pull(t testing.TB, c *pubsub.Client, sub string, want int, wait time.Duration) []*pubsub.Message {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()

	var (
		mu   sync.Mutex
		got  []*pubsub.Message
		full = make(chan struct{})
	)
	if want == 0 {
		close(full)
	}
	done := make(chan error, 1)
	go func() {
		done <- c.Subscriber(sub).Receive(ctx, func(_ context.Context, m *pubsub.Message) {
			m.Ack()
			mu.Lock()
			defer mu.Unlock()
			got = append(got, m)
			if len(got) == want {
				close(full)
			}
		})
	}()

	timer := time.NewTimer(wait)
	defer timer.Stop()
	select {
	case <-full:
	case <-timer.C:
	case err := <-done:
		t.Fatalf("failed to receive from %s: %v", sub, err)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("failed to receive from %s: %v", sub, err)
	}

	mu.Lock()
	defer mu.Unlock()
	if len(got) < want {
		t.Fatalf("received %d messages from %s within %v, want %d", len(got), sub, wait, want)
	}
	// Receive has returned, so the acks are sent and whatever it held back
	// unprocessed is released: anything left is an extra message.
	resp, err := c.SubscriptionAdminClient.Pull(context.Background(), &pubsubpb.PullRequest{
		// Deprecated in the API, but the emulator honours it, and it is the
		// one way to ask "is anything left?" without waiting.
		Subscription: sub, MaxMessages: 100, ReturnImmediately: true, //nolint:staticcheck // see above
	})
	if err != nil {
		t.Fatalf("failed to check %s for more messages: %v", sub, err)
	}
	if extra := len(got) - want + len(resp.GetReceivedMessages()); extra > 0 {
		t.Fatalf("received %d messages from %s, want exactly %d", want+extra, sub, want)
	}
	return got
}
