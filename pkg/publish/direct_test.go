package publish_test

import (
	"errors"
	"strings"
	"testing"

	pb "cloud.google.com/go/pubsub/v2/apiv1/pubsubpb"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/geminihooks/geminihooks/internal/minipubsub"
	"github.com/geminihooks/geminihooks/pkg/config"
	"github.com/geminihooks/geminihooks/pkg/publish"
	"github.com/geminihooks/geminihooks/pkg/tracing"
)

// TestDirect publishes to the local runner's in-process Pub/Sub by direct
// calls and pulls what it stored.
func TestDirect(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	srv, err := minipubsub.New(minipubsub.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = srv.Close() })
	const topic, sub = "projects/p/topics/events", "projects/p/subscriptions/events-sub"
	if _, err := srv.CreateTopic(ctx, &pb.Topic{Name: topic}); err != nil {
		t.Fatal(err)
	}
	if _, err := srv.CreateSubscription(ctx, &pb.Subscription{Name: sub, Topic: topic, EnableMessageOrdering: true}); err != nil {
		t.Fatal(err)
	}
	ordered, err := publish.NewDirect(srv, config.ResourceName("p", "topics", "events"), publish.Options{Ordering: true})
	if err != nil {
		t.Fatal(err)
	}

	// A traced publish carries its trace context, as PubSub's does.
	spans := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(spans))
	tctx, root := tracing.StartRoot(ctx, tracing.Tracer(tp), "root")
	id, err := ordered.Publish(tctx, publish.Message{Data: []byte(`{"n":1}`), Attributes: map[string]string{"event_id": "e1"}, OrderingKey: "batches/b1"})
	root.End()
	if err != nil || id == "" {
		t.Fatalf("Publish = %q, %v", id, err)
	}
	got, err := srv.Pull(ctx, &pb.PullRequest{Subscription: sub, MaxMessages: 10})
	if err != nil || len(got.GetReceivedMessages()) != 1 {
		t.Fatalf("pulled %v, %v; want the one message", got, err)
	}
	m := got.GetReceivedMessages()[0].GetMessage()
	if m.GetMessageId() != id || string(m.GetData()) != `{"n":1}` || m.GetOrderingKey() != "batches/b1" || m.GetAttributes()["event_id"] != "e1" {
		t.Errorf("stored %v, want the message as published under id %s", m, id)
	}
	if tp := m.GetAttributes()["googclient_traceparent"]; !strings.Contains(tp, root.SpanContext().TraceID().String()) {
		t.Errorf("googclient_traceparent = %q, want the publisher's trace", tp)
	}
	if ended := spans.Ended(); len(ended) != 2 || ended[0].Name() != publish.SpanPublish {
		t.Errorf("recorded %d spans, want the publish's and the root's", len(ended))
	}

	tooLarge := publish.Message{Data: make([]byte, publish.MaxMessageBytes+1)}
	if _, err := ordered.Publish(ctx, tooLarge); !errors.Is(err, publish.ErrMessageTooLarge) {
		t.Errorf("an oversized message: %v, want ErrMessageTooLarge", err)
	}
	missing, err := publish.NewDirect(srv, "projects/p/topics/missing", publish.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := missing.Publish(ctx, publish.Message{Data: []byte("x")}); status.Code(err) != codes.NotFound {
		t.Errorf("publishing to a missing topic: %v, want NotFound", err)
	}
}

func TestNewDirectValidates(t *testing.T) {
	t.Parallel()
	srv, err := minipubsub.New(minipubsub.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = srv.Close() })
	tests := []struct {
		name  string
		rpc   publish.RPC
		topic string
	}{
		{name: "no_server", topic: "projects/p/topics/t"},
		{name: "short_topic_id", rpc: srv, topic: "events"},
		{name: "subscription_name", rpc: srv, topic: "projects/p/subscriptions/s"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			if _, err := publish.NewDirect(tc.rpc, tc.topic, publish.Options{}); err == nil {
				t.Error("NewDirect accepted it")
			}
		})
	}
}
