package publish

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"cloud.google.com/go/pubsub/v2/apiv1/pubsubpb"
	"go.opentelemetry.io/otel/trace"

	"github.com/geminihooks/geminihooks/pkg/tracing"
)

// RPC is Pub/Sub's Publish call as a Go method, which an in-process Pub/Sub
// server (the local runner's) implements: publishing to it by calling the
// method spares the gRPC round trip and the client's batching machinery,
// which cost the receiver most of its time on loopback.
type RPC interface {
	Publish(context.Context, *pubsubpb.PublishRequest) (*pubsubpb.PublishResponse, error)
}

// Direct publishes each message in one call of an in-process server's
// Publish. It is safe for concurrent use if the server is.
type Direct struct {
	rpc     RPC
	topic   string
	timeout time.Duration
	order   bool
}

// NewDirect returns a publisher to topic, a full "projects/P/topics/T"
// name, on rpc. Of opts, Ordering and Timeout apply; there is nothing to
// batch.
func NewDirect(rpc RPC, topic string, opts Options) (*Direct, error) {
	if rpc == nil {
		return nil, errors.New("failed to create publisher: server is nil")
	}
	if !strings.HasPrefix(topic, "projects/") || !strings.Contains(topic, "/topics/") {
		return nil, fmt.Errorf("failed to create publisher: topic %q is not a full projects/P/topics/T name", topic)
	}
	opts, err := opts.withDefaults()
	if err != nil {
		return nil, fmt.Errorf("failed to create publisher: %w", err)
	}
	return &Direct{rpc: rpc, topic: topic, timeout: opts.Timeout, order: opts.Ordering}, nil
}

// Topic returns the full name of the topic published to.
func (d *Direct) Topic() string { return d.topic }

// Publish publishes m and returns the server-assigned message id, with the
// same span, trace attributes and size limit as PubSub.Publish. It gives up
// after Options.Timeout or when ctx ends. The server may keep m's data and
// attributes, which the caller must not change afterwards.
func (d *Direct) Publish(ctx context.Context, m Message) (id string, err error) {
	var span trace.Span
	ctx, span = tracing.Start(ctx, SpanPublish)
	defer func() { endPublish(span, d.topic, id, err) }()
	if size := m.Size(); size > MaxMessageBytes {
		return "", fmt.Errorf("failed to publish to %s: %w: %d bytes", d.topic, ErrMessageTooLarge, size)
	}
	ctx, cancel := context.WithTimeout(ctx, d.timeout)
	defer cancel()
	msg := &pubsubpb.PubsubMessage{Data: m.Data, Attributes: withTrace(ctx, m.Attributes)}
	if d.order {
		msg.OrderingKey = m.OrderingKey
	}
	resp, err := d.rpc.Publish(ctx, &pubsubpb.PublishRequest{Topic: d.topic, Messages: []*pubsubpb.PubsubMessage{msg}})
	if err == nil && len(resp.GetMessageIds()) != 1 {
		err = fmt.Errorf("server returned %d message ids for 1 message", len(resp.GetMessageIds()))
	}
	if err != nil {
		return "", fmt.Errorf("failed to publish to %s: %w", d.topic, err)
	}
	return resp.GetMessageIds()[0], nil
}
