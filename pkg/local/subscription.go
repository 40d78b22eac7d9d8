package local

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"cloud.google.com/go/pubsub/v2"
	"cloud.google.com/go/pubsub/v2/apiv1/pubsubpb"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/geminihooks/geminihooks/pkg/config"
)

// Bounds of the wait before receiving again from a subscription that
// stopped: short for a blip, a few seconds at most while the emulator is
// down, so it is back within moments of the emulator.
const (
	minReceiveBackoff = 100 * time.Millisecond
	maxReceiveBackoff = 5 * time.Second
)

// resources are the stack's topics and subscriptions. The Pub/Sub emulator
// keeps them in memory only, so they are created again whenever a
// subscription turns out to be gone.
type resources struct {
	client *pubsub.Client
	logger *slog.Logger
	topics []string
	subs   []*pubsubpb.Subscription
	// mu serializes create: every subscription notices the loss at once.
	mu sync.Mutex
}

// add registers subscription <topic id>-<suffix> to topic and returns its
// name; create creates it.
func (r *resources) add(topic, suffix string) string {
	project, id := splitName(topic)
	name := config.ResourceName(project, "subscriptions", id+"-"+suffix)
	r.subs = append(r.subs, &pubsubpb.Subscription{
		Name: name, Topic: topic, EnableMessageOrdering: true, AckDeadlineSeconds: 600,
	})
	return name
}

// create creates every topic, then every subscription, and returns the
// names of those that did not exist. After a loss, an event published in
// the moment between a topic's creation and its subscriptions' reaches no
// subscriber; the emulator lost whatever was in flight anyway.
func (r *resources) create(ctx context.Context) ([]string, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	var created []string
	for _, topic := range r.topics {
		_, err := r.client.TopicAdminClient.CreateTopic(ctx, &pubsubpb.Topic{Name: topic})
		switch {
		case err == nil:
			created = append(created, topic)
		case status.Code(err) != codes.AlreadyExists:
			return created, fmt.Errorf("failed to create topic %s: %w", topic, err)
		}
	}
	for _, sub := range r.subs {
		_, err := r.client.SubscriptionAdminClient.CreateSubscription(ctx, sub)
		switch {
		case err == nil:
			created = append(created, sub.GetName())
		case status.Code(err) != codes.AlreadyExists:
			return created, fmt.Errorf("failed to create subscription %s: %w", sub.GetName(), err)
		}
	}
	return created, nil
}

// receive hands every message of subscription name to handle, acking it
// when handle returns true, until ctx is done.
func (r *resources) receive(ctx context.Context, name string, handle func(context.Context, *pubsub.Message) bool) {
	supervise(ctx, r.logger, name, func(ctx context.Context) error {
		return r.client.Subscriber(name).Receive(ctx, func(ctx context.Context, m *pubsub.Message) {
			if handle(ctx, m) {
				m.Ack()
				return
			}
			// Pub/Sub's retry policy waits before redelivering; so do we.
			t := time.NewTimer(time.Second)
			defer t.Stop()
			select {
			case <-t.C:
			case <-ctx.Done():
			}
			m.Nack()
		})
	}, func(ctx context.Context) error {
		created, err := r.create(ctx)
		if len(created) > 0 {
			r.logger.WarnContext(ctx, "recreated Pub/Sub resources the emulator lost", slog.Any("created", created))
		}
		return err
	})
}

// supervise calls receive until ctx is done. Whenever receive returns
// before that, with an error or without, it logs why, calls recreate if the
// subscription is gone (an emulator restarted or reset has lost every topic
// and subscription), waits a backoff that doubles from minReceiveBackoff to
// maxReceiveBackoff, and calls receive again.
func supervise(ctx context.Context, logger *slog.Logger, name string, receive, recreate func(context.Context) error) {
	wait := minReceiveBackoff
	for {
		started := time.Now()
		err := receive(ctx)
		if ctx.Err() != nil {
			return
		}
		if err == nil {
			err = errors.New("receiving ended without an error")
		}
		if time.Since(started) > maxReceiveBackoff {
			wait = minReceiveBackoff // it worked for a while: a new fault
		}
		logger.WarnContext(ctx, "subscription stopped; receiving again", slog.String("subscription", name),
			slog.String("error", err.Error()), slog.Duration("retry_in", wait))
		if status.Code(err) == codes.NotFound {
			if err := recreate(ctx); err != nil && ctx.Err() == nil {
				logger.ErrorContext(ctx, "failed to recreate Pub/Sub resources; trying again after the next stop",
					slog.String("subscription", name), slog.String("error", err.Error()))
			}
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
		wait = min(2*wait, maxReceiveBackoff)
	}
}
