// Package publish sends events to a Pub/Sub topic: the receiver's
// completion events and the materializer's results events.
//
// PubSub publishes to Google Cloud Pub/Sub and waits for the server's
// acknowledgement, because the webhook receiver may answer the sender only
// once the event is durably stored. Memory records messages in process
// memory, for tests and local runs.
//
// A failed Publish does not prove that the message was not stored: the
// request may have reached the server before the failure. Consumers should
// therefore tolerate an occasional duplicate (by the webhook-id attribute).
package publish

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"time"

	"cloud.google.com/go/pubsub/v2"
	"cloud.google.com/go/pubsub/v2/apiv1/pubsubpb"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"

	"github.com/geminihooks/geminihooks/pkg/tracing"
)

// MaxMessageBytes is Pub/Sub's limit on a publish request, which bounds one
// message: its data, attributes and ordering key together.
const MaxMessageBytes int = pubsub.MaxPublishRequestBytes

// ErrMessageTooLarge is wrapped by Publish errors for a message over
// MaxMessageBytes. It is permanent: publishing the message again cannot
// succeed.
var ErrMessageTooLarge = errors.New("message exceeds Pub/Sub's size limit")

// Message is one event to publish.
type Message struct {
	// Data is the message payload.
	Data []byte
	// Attributes are the message attributes.
	Attributes map[string]string
	// OrderingKey groups messages that subscribers with message ordering
	// receive in publish order. Ignored unless Options.Ordering is set.
	OrderingKey string
}

// Size is the size of m's data, attribute keys and values and ordering key:
// what Pub/Sub counts against MaxMessageBytes, without the few bytes of
// framing per field that the client adds.
func (m Message) Size() int {
	n := len(m.Data) + len(m.OrderingKey)
	for k, v := range m.Attributes {
		n += len(k) + len(v)
	}
	return n
}

// Defaults applied by Options for zero values.
const (
	// DefaultDelayThreshold is how long a message may wait to be batched
	// with others. The library's default is 10 ms, which every webhook
	// request would pay in full, since the receiver waits for the publish
	// result and each request publishes a single message; with a request
	// latency goal of 10 ms at the 99th percentile, 1 ms still lets
	// concurrent requests share an RPC without dominating the latency.
	DefaultDelayThreshold = time.Millisecond
	// DefaultCountThreshold sends a batch once it holds this many messages,
	// the library's default. It applies without ordering.
	DefaultCountThreshold = 100
	// DefaultOrderedCountThreshold applies with ordering, and sends every
	// message at once. The client batches each ordering key apart, and the
	// receiver and materializer wait for each result with one message per
	// key (per job) in flight, so a batch never holds a second message and
	// waiting for one only delays the first: sending at once measured about
	// 15% more receiver throughput at 16 concurrent deliveries.
	DefaultOrderedCountThreshold = 1
	// DefaultTimeout bounds one publish, including the client's retries. It
	// stays below the idempotency lease (30 s by default), so a stuck
	// publish ends before another process may take the delivery over.
	DefaultTimeout = 10 * time.Second
)

// Options configures PubSub. Zero fields take the defaults.
type Options struct {
	// Ordering enables message ordering: messages with the same OrderingKey
	// are delivered in publish order. When false, OrderingKey is dropped.
	Ordering bool
	// DelayThreshold is the longest a message waits for a batch to fill.
	// Default DefaultDelayThreshold.
	DelayThreshold time.Duration
	// CountThreshold sends a batch once it holds this many messages.
	// Default DefaultCountThreshold, or DefaultOrderedCountThreshold with
	// Ordering.
	CountThreshold int
	// Timeout bounds one Publish. Default DefaultTimeout.
	Timeout time.Duration
}

// ErrInvalidOptions is wrapped by NewPubSub errors caused by Options.
var ErrInvalidOptions = errors.New("invalid publish options")

func (o Options) withDefaults() (Options, error) {
	if o.DelayThreshold == 0 {
		o.DelayThreshold = DefaultDelayThreshold
	}
	if o.CountThreshold == 0 {
		o.CountThreshold = DefaultCountThreshold
		if o.Ordering {
			o.CountThreshold = DefaultOrderedCountThreshold
		}
	}
	if o.Timeout == 0 {
		o.Timeout = DefaultTimeout
	}
	switch {
	case o.DelayThreshold < 0:
		return o, fmt.Errorf("%w: delay threshold %v is negative", ErrInvalidOptions, o.DelayThreshold)
	case o.CountThreshold < 0:
		return o, fmt.Errorf("%w: count threshold %d is negative", ErrInvalidOptions, o.CountThreshold)
	case o.CountThreshold > pubsub.MaxPublishRequestCount:
		return o, fmt.Errorf("%w: count threshold %d exceeds %d", ErrInvalidOptions, o.CountThreshold, pubsub.MaxPublishRequestCount)
	case o.Timeout < 0:
		return o, fmt.Errorf("%w: timeout %v is negative", ErrInvalidOptions, o.Timeout)
	}
	return o, nil
}

// PubSub publishes to one Pub/Sub topic. It is safe for concurrent use;
// call Stop when done.
type PubSub struct {
	pub     *pubsub.Publisher
	topic   string
	timeout time.Duration
	order   bool
}

// NewPubSub returns a publisher for topic, a topic id or a full
// "projects/P/topics/T" name. It does not check that the topic exists;
// Publish fails if it does not.
func NewPubSub(client *pubsub.Client, topic string, opts Options) (*PubSub, error) {
	if client == nil {
		return nil, errors.New("failed to create publisher: client is nil")
	}
	if topic == "" {
		return nil, errors.New("failed to create publisher: topic is empty")
	}
	opts, err := opts.withDefaults()
	if err != nil {
		return nil, fmt.Errorf("failed to create publisher: %w", err)
	}
	pub := client.Publisher(topic)
	pub.EnableMessageOrdering = opts.Ordering
	pub.PublishSettings.DelayThreshold = opts.DelayThreshold
	pub.PublishSettings.CountThreshold = opts.CountThreshold
	pub.PublishSettings.Timeout = opts.Timeout
	return &PubSub{pub: pub, topic: pub.String(), timeout: opts.Timeout, order: opts.Ordering}, nil
}

// Topic returns the full name of the topic published to.
func (p *PubSub) Topic() string { return p.topic }

// Publish publishes m and waits for the server to store it, returning the
// server-assigned message id. It gives up after Options.Timeout or when ctx
// ends.
//
// When publishing with an ordering key fails, the client pauses that key so
// that later messages cannot overtake the failed one, and every further
// publish with the key fails until ResumePublish is called. The receiver
// does not need that guarantee (the sender retries the failed delivery on
// its own schedule), so Publish resumes the key after every failure;
// otherwise one Pub/Sub outage would block the key for the life of the
// process.
func (p *PubSub) Publish(ctx context.Context, m Message) (id string, err error) {
	ctx, span := tracing.Start(ctx, SpanPublish)
	defer func() { endPublish(span, p.topic, id, err) }()
	ctx, cancel := context.WithTimeout(ctx, p.timeout)
	defer cancel()
	msg := &pubsub.Message{Data: m.Data, Attributes: withTrace(ctx, m.Attributes)}
	if p.order {
		msg.OrderingKey = m.OrderingKey
	}
	id, err = p.pub.Publish(ctx, msg).Get(ctx)
	if err != nil && msg.OrderingKey != "" {
		p.pub.ResumePublish(msg.OrderingKey)
		// A key paused by an earlier failure (one that ended after its
		// caller stopped waiting) rejects the message without sending it,
		// so it is safe to send once more now that the key is resumed.
		if errors.As(err, new(pubsub.ErrPublishingPaused)) {
			id, err = p.pub.Publish(ctx, msg).Get(ctx)
			if err != nil {
				p.pub.ResumePublish(msg.OrderingKey)
			}
		}
	}
	if errors.Is(err, pubsub.ErrOversizedMessage) {
		// The client measures the message before sending it; Pub/Sub
		// itself would answer InvalidArgument.
		err = fmt.Errorf("%w: %w", ErrMessageTooLarge, err)
	}
	if err != nil {
		return "", fmt.Errorf("failed to publish to %s: %w", p.topic, err)
	}
	return id, nil
}

// endPublish ends a publish's span with its outcome. Its attributes are
// set in this one call, the message id known only now: each call grows the
// span's attribute storage once more.
func endPublish(span trace.Span, topic, id string, err error) {
	if span.IsRecording() {
		span.SetAttributes(attribute.String("messaging.system", "gcp_pubsub"),
			attribute.String("messaging.destination.name", topic), attribute.String("messaging.message.id", id))
	}
	tracing.End(span, err)
}

// SpanPublish is the name of Publish's span.
const SpanPublish = "pubsub publish"

// withTrace returns attrs with the trace context of ctx's span added the
// way the Pub/Sub client's OpenTelemetry support adds it (the attribute
// googclient_traceparent, through the client's own carrier and W3C
// propagator), so that a subscriber, the materializer's push handler or a
// client with that support on, continues the trace. The support itself is
// left off: its spans would go to the global tracer provider, which is not
// set, and its per-publish work cost the receiver about a fifth of its
// throughput in BenchmarkReceiverTracing. attrs is not modified.
func withTrace(ctx context.Context, attrs map[string]string) map[string]string {
	if !trace.SpanContextFromContext(ctx).IsValid() {
		return attrs
	}
	out := make(map[string]string, len(attrs)+2)
	maps.Copy(out, attrs)
	propagation.TraceContext{}.Inject(ctx, pubsub.NewMessageCarrierFromPB(&pubsubpb.PubsubMessage{Attributes: out}))
	return out
}

// Stop sends any batched messages, waits for their results and releases the
// publisher's resources. Publish fails after Stop.
func (p *PubSub) Stop() { p.pub.Stop() }

// cloneMessage returns a deep copy of m, so that recorded messages do not
// change when the caller reuses its buffers.
func cloneMessage(m Message) Message {
	return Message{
		Data:        append([]byte(nil), m.Data...),
		Attributes:  maps.Clone(m.Attributes),
		OrderingKey: m.OrderingKey,
	}
}
