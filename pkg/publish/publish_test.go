package publish

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"cloud.google.com/go/pubsub/v2"
	"cloud.google.com/go/pubsub/v2/apiv1/pubsubpb"
	"cloud.google.com/go/pubsub/v2/pstest"
	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"google.golang.org/api/option"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

	"github.com/geminihooks/geminihooks/internal/testenv"
)

// received is the part of a delivered message the tests compare.
type received struct {
	ID          string
	Data        string
	Attributes  map[string]string
	OrderingKey string
}

func toReceived(msgs []*pubsub.Message) []received {
	out := make([]received, len(msgs))
	for i, m := range msgs {
		out[i] = received{ID: m.ID, Data: string(m.Data), Attributes: m.Attributes, OrderingKey: m.OrderingKey}
	}
	return out
}

func newPubSub(t *testing.T, c *pubsub.Client, topic string, opts Options) *PubSub {
	t.Helper()
	p, err := NewPubSub(c, topic, opts)
	if err != nil {
		t.Fatalf("NewPubSub: %v", err)
	}
	t.Cleanup(p.Stop)
	return p
}

func TestPubSubEmulator(t *testing.T) {
	t.Parallel()
	c := testenv.PubSub(t)

	t.Run("attributes_and_ordering_key", func(t *testing.T) {
		t.Parallel()
		topic, sub := testenv.Topic(t, c, testenv.WithMessageOrdering())
		p := newPubSub(t, c, topic, Options{Ordering: true})
		var want []received
		for i := range 5 {
			m := Message{
				Data:        fmt.Appendf(nil, `{"n":%d}`, i),
				Attributes:  map[string]string{"webhook-id": fmt.Sprintf("msg_%d", i), "event-type": "batch.succeeded"},
				OrderingKey: "batches/123",
			}
			id, err := p.Publish(t.Context(), m)
			if err != nil {
				t.Fatalf("Publish %d: %v", i, err)
			}
			want = append(want, received{ID: id, Data: string(m.Data), Attributes: m.Attributes, OrderingKey: m.OrderingKey})
		}
		got := toReceived(testenv.Pull(t, c, sub, len(want), 30*time.Second))
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("received messages mismatch (-want +got):\n%s", diff)
		}
	})

	t.Run("ordering_disabled_drops_key", func(t *testing.T) {
		t.Parallel()
		topic, sub := testenv.Topic(t, c)
		p := newPubSub(t, c, topic, Options{})
		id, err := p.Publish(t.Context(), Message{Data: []byte("x"), OrderingKey: "k"})
		if err != nil {
			t.Fatalf("Publish with an ordering key and ordering disabled: %v", err)
		}
		got := toReceived(testenv.Pull(t, c, sub, 1, 30*time.Second))
		want := []received{{ID: id, Data: "x"}}
		if diff := cmp.Diff(want, got, cmpopts.EquateEmpty()); diff != "" {
			t.Errorf("received messages mismatch (-want +got):\n%s", diff)
		}
	})

	t.Run("deleted_topic_fails", func(t *testing.T) {
		t.Parallel()
		topic, _ := testenv.Topic(t, c)
		p := newPubSub(t, c, topic, Options{})
		if _, err := p.Publish(t.Context(), Message{Data: []byte("before")}); err != nil {
			t.Fatalf("Publish before delete: %v", err)
		}
		testenv.DeleteTopic(t, c, topic)
		_, err := p.Publish(t.Context(), Message{Data: []byte("after")})
		if status.Code(err) != codes.NotFound {
			t.Errorf("Publish to a deleted topic: error %v, want a wrapped %v", err, codes.NotFound)
		}
	})

	t.Run("ordering_key_resumes_after_failure", func(t *testing.T) {
		t.Parallel()
		name := fmt.Sprintf("projects/%s/topics/%s", c.Project(), testenv.UniqueName(t, "late"))
		p := newPubSub(t, c, name, Options{Ordering: true})
		const key = "batches/7"
		_, err := p.Publish(t.Context(), Message{Data: []byte("lost"), OrderingKey: key})
		if status.Code(err) != codes.NotFound {
			t.Fatalf("Publish to a missing topic: error %v, want a wrapped %v", err, codes.NotFound)
		}

		// The topic appears (the outage ends); the same key must publish
		// again rather than stay paused.
		if _, err := c.TopicAdminClient.CreateTopic(t.Context(), &pubsubpb.Topic{Name: name}); err != nil {
			t.Fatalf("CreateTopic: %v", err)
		}
		t.Cleanup(func() { testenv.DeleteTopic(t, c, name) })
		sub := fmt.Sprintf("projects/%s/subscriptions/%s", c.Project(), testenv.UniqueName(t, "late"))
		if _, err := c.SubscriptionAdminClient.CreateSubscription(t.Context(), &pubsubpb.Subscription{
			Name: sub, Topic: name, EnableMessageOrdering: true, AckDeadlineSeconds: 60,
		}); err != nil {
			t.Fatalf("CreateSubscription: %v", err)
		}
		t.Cleanup(func() {
			_ = c.SubscriptionAdminClient.DeleteSubscription(t.Context(), &pubsubpb.DeleteSubscriptionRequest{Subscription: sub})
		})

		id, err := p.Publish(t.Context(), Message{Data: []byte("retried"), OrderingKey: key})
		if err != nil {
			t.Fatalf("Publish with the same ordering key after the failure: %v", err)
		}
		got := toReceived(testenv.Pull(t, c, sub, 1, 30*time.Second))
		want := []received{{ID: id, Data: "retried", OrderingKey: key}}
		if diff := cmp.Diff(want, got, cmpopts.EquateEmpty()); diff != "" {
			t.Errorf("received messages mismatch (-want +got):\n%s", diff)
		}
	})
}

// newFake returns a pstest server with one topic and a client bound to it.
func newFake(t *testing.T) (*pstest.Server, *pubsub.Client, string) {
	t.Helper()
	srv := pstest.NewServer()
	t.Cleanup(func() { _ = srv.Close() })
	conn, err := grpc.NewClient(srv.Addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatalf("grpc.NewClient: %v", err)
	}
	c, err := pubsub.NewClient(t.Context(), "geminihooks-test", option.WithGRPCConn(conn))
	if err != nil {
		t.Fatalf("pubsub.NewClient: %v", err)
	}
	t.Cleanup(func() { _ = c.Close() })
	topic, err := c.TopicAdminClient.CreateTopic(t.Context(), &pubsubpb.Topic{Name: "projects/geminihooks-test/topics/events"})
	if err != nil {
		t.Fatalf("CreateTopic: %v", err)
	}
	return srv, c, topic.GetName()
}

func TestPubSubFake(t *testing.T) {
	t.Parallel()

	t.Run("publishes_message", func(t *testing.T) {
		t.Parallel()
		srv, c, topic := newFake(t)
		p := newPubSub(t, c, "events", Options{Ordering: true}) // a short id works too
		if got := p.Topic(); got != topic {
			t.Errorf("Topic() = %q, want %q", got, topic)
		}
		m := Message{Data: []byte("payload"), Attributes: map[string]string{"a": "1"}, OrderingKey: "k"}
		id, err := p.Publish(t.Context(), m)
		if err != nil {
			t.Fatalf("Publish: %v", err)
		}
		var got []received
		for _, sm := range srv.Messages() {
			got = append(got, received{ID: sm.ID, Data: string(sm.Data), Attributes: sm.Attributes, OrderingKey: sm.OrderingKey})
		}
		want := []received{{ID: id, Data: "payload", Attributes: map[string]string{"a": "1"}, OrderingKey: "k"}}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("stored messages mismatch (-want +got):\n%s", diff)
		}
	})

	t.Run("server_error_is_returned", func(t *testing.T) {
		t.Parallel()
		srv, c, topic := newFake(t)
		srv.SetAutoPublishResponse(false)
		srv.AddPublishResponse(nil, status.Error(codes.PermissionDenied, "denied"))
		p := newPubSub(t, c, topic, Options{})
		_, err := p.Publish(t.Context(), Message{Data: []byte("x")})
		if status.Code(err) != codes.PermissionDenied {
			t.Errorf("Publish error = %v, want a wrapped %v", err, codes.PermissionDenied)
		}
	})

	t.Run("timeout", func(t *testing.T) {
		t.Parallel()
		srv, c, topic := newFake(t)
		// The fake holds the publish until a response is queued, like a
		// server that does not answer.
		srv.SetAutoPublishResponse(false)
		t.Cleanup(func() { srv.AddPublishResponse(nil, status.Error(codes.Unavailable, "test over")) })
		const timeout = 300 * time.Millisecond
		p := newPubSub(t, c, topic, Options{Timeout: timeout})
		start := time.Now()
		_, err := p.Publish(t.Context(), Message{Data: []byte("stuck")})
		if err == nil {
			t.Fatal("Publish to an unresponsive server succeeded")
		}
		if elapsed := time.Since(start); elapsed > timeout+2*time.Second {
			t.Errorf("Publish returned after %v, want about the %v timeout", elapsed, timeout)
		}
	})

	t.Run("key_paused_by_abandoned_publish_recovers", func(t *testing.T) {
		t.Parallel()
		srv, c, topic := newFake(t)
		srv.SetAutoPublishResponse(false)
		const timeout = 400 * time.Millisecond
		p := newPubSub(t, c, topic, Options{Ordering: true, Timeout: timeout})

		// The caller stops waiting first; the request itself fails later
		// (at Timeout) and only then pauses key "k", after Publish returned.
		ctx, cancel := context.WithTimeout(t.Context(), 50*time.Millisecond)
		defer cancel()
		if _, err := p.Publish(ctx, Message{Data: []byte("abandoned"), OrderingKey: "k"}); !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("Publish with a short context: error %v, want %v", err, context.DeadlineExceeded)
		}
		// A probe with the key queues behind the abandoned request and, once
		// that has failed and paused the key, fails without being sent: its
		// result says the key is paused now.
		probe := p.pub.Publish(t.Context(), &pubsub.Message{Data: []byte("probe"), OrderingKey: "k"})
		if _, err := probe.Get(t.Context()); !errors.As(err, new(pubsub.ErrPublishingPaused)) {
			t.Fatalf("probe publish: error %v, want the key paused", err)
		}
		// Unblock the fake's handler (its answer goes nowhere) and let it
		// answer by itself from now on.
		srv.AddPublishResponse(&pubsubpb.PublishResponse{MessageIds: []string{"late"}}, nil)
		srv.SetAutoPublishResponse(true)

		id, err := p.Publish(t.Context(), Message{Data: []byte("next"), OrderingKey: "k"})
		if err != nil {
			t.Fatalf("Publish with the key paused by the abandoned request: %v", err)
		}
		if got := srv.Message(id); got == nil || string(got.Data) != "next" {
			t.Errorf("server message %q = %+v, want data %q", id, got, "next")
		}
	})

	t.Run("oversized_message_is_permanent", func(t *testing.T) {
		t.Parallel()
		srv, c, topic := newFake(t)
		p := newPubSub(t, c, topic, Options{Ordering: true})
		_, err := p.Publish(t.Context(), Message{Data: make([]byte, MaxMessageBytes), OrderingKey: "k"})
		if !errors.Is(err, ErrMessageTooLarge) {
			t.Errorf("Publish of %d bytes: error %v, want %v", MaxMessageBytes, err, ErrMessageTooLarge)
		}
		if n := len(srv.Messages()); n != 0 {
			t.Errorf("server stored %d messages, want none", n)
		}
		// The key is not left paused by the refusal.
		if _, err := p.Publish(t.Context(), Message{Data: []byte("next"), OrderingKey: "k"}); err != nil {
			t.Errorf("Publish after an oversized message: %v", err)
		}
	})

	t.Run("publish_after_stop_fails", func(t *testing.T) {
		t.Parallel()
		_, c, topic := newFake(t)
		p := newPubSub(t, c, topic, Options{})
		p.Stop()
		_, err := p.Publish(t.Context(), Message{Data: []byte("x")})
		if !errors.Is(err, pubsub.ErrPublisherStopped) {
			t.Errorf("Publish after Stop error = %v, want %v", err, pubsub.ErrPublisherStopped)
		}
	})
}

func TestNewPubSubValidates(t *testing.T) {
	t.Parallel()
	_, c, topic := newFake(t)
	tests := []struct {
		name    string
		client  *pubsub.Client
		topic   string
		opts    Options
		wantErr error // nil: success; errAny: any error
	}{
		{name: "defaults", client: c, topic: topic},
		{name: "nil_client", topic: topic, wantErr: errAny},
		{name: "empty_topic", client: c, wantErr: errAny},
		{name: "negative_delay", client: c, topic: topic, opts: Options{DelayThreshold: -1}, wantErr: ErrInvalidOptions},
		{name: "negative_count", client: c, topic: topic, opts: Options{CountThreshold: -1}, wantErr: ErrInvalidOptions},
		{name: "count_over_limit", client: c, topic: topic, opts: Options{CountThreshold: pubsub.MaxPublishRequestCount + 1}, wantErr: ErrInvalidOptions},
		{name: "negative_timeout", client: c, topic: topic, opts: Options{Timeout: -time.Second}, wantErr: ErrInvalidOptions},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			p, err := NewPubSub(tc.client, tc.topic, tc.opts)
			switch {
			case tc.wantErr == nil && err != nil:
				t.Fatalf("NewPubSub: %v", err)
			case tc.wantErr == nil:
				p.Stop()
			case err == nil:
				t.Fatalf("NewPubSub succeeded, want error")
			case tc.wantErr != errAny && !errors.Is(err, tc.wantErr):
				t.Errorf("NewPubSub error = %v, want %v", err, tc.wantErr)
			}
		})
	}
}

var errAny = errors.New("any error")

func TestOptionsDefaults(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		in   Options
		want Options
	}{
		{
			name: "unordered_batches_for_a_millisecond",
			in:   Options{},
			want: Options{DelayThreshold: time.Millisecond, CountThreshold: 100, Timeout: 10 * time.Second},
		},
		{
			name: "ordered_sends_at_once",
			in:   Options{Ordering: true},
			want: Options{Ordering: true, DelayThreshold: time.Millisecond, CountThreshold: 1, Timeout: 10 * time.Second},
		},
		{
			name: "ordered_keeps_an_explicit_count",
			in:   Options{Ordering: true, CountThreshold: 10},
			want: Options{Ordering: true, DelayThreshold: time.Millisecond, CountThreshold: 10, Timeout: 10 * time.Second},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got, err := tc.in.withDefaults()
			if err != nil {
				t.Fatalf("withDefaults: %v", err)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("defaults mismatch (-want +got):\n%s", diff)
			}
		})
	}
}
