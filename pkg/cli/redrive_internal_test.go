package cli

import (
	"context"
	"errors"
	"io"
	"sort"
	"sync"
	"testing"
	"time"

	"cloud.google.com/go/pubsub/v2"
	"cloud.google.com/go/pubsub/v2/apiv1/pubsubpb"
	"github.com/google/go-cmp/cmp"

	"github.com/geminihooks/geminihooks/internal/testenv"
)

// TestRedrivePublishFailsMidway makes the publish fail once some batches
// have moved: the messages already republished are gone from the source,
// the batch that failed and everything not yet pulled are still on it, and
// together they are exactly the dead letters.
func TestRedrivePublishFailsMidway(t *testing.T) {
	t.Parallel()
	c := testenv.PubSub(t)
	ctx := t.Context()
	dlqTopic, dlqSub := testenv.Topic(t, c)
	toTopic, toSub := testenv.Topic(t, c)

	const total, okCalls, batch = 20, 2, 4
	p := c.Publisher(dlqTopic)
	var want []string
	for i := range total {
		data := []byte{byte('a' + i)}
		want = append(want, string(data))
		if _, err := p.Publish(ctx, &pubsub.Message{Data: data, Attributes: map[string]string{"i": string(data)}}).Get(ctx); err != nil {
			t.Fatal(err)
		}
	}
	p.Stop()

	real := topicPublish(c)
	var mu sync.Mutex
	calls := 0
	failing := func(ctx context.Context, topic string, msgs []*pubsubpb.PubsubMessage) error {
		mu.Lock()
		calls++
		n := calls
		mu.Unlock()
		if n > okCalls {
			return errors.New("topic deleted")
		}
		return real(ctx, topic, msgs)
	}
	r := &redriver{
		subs: subscriberRPC{c}, publish: failing, from: dlqSub, to: toTopic,
		pullSize: batch, wait: time.Second, progress: io.Discard,
	}
	sum, err := r.run(ctx)
	if err == nil {
		t.Fatal("run succeeded, want the publish error")
	}
	if got, wantSum := sum, (redriveSummary{From: dlqSub, To: toTopic, Moved: okCalls * batch, Failed: batch}); got != wantSum {
		t.Errorf("summary %+v, want %+v", got, wantSum)
	}

	moved := testenv.Pull(t, c, toSub, okCalls*batch, 10*time.Second)
	left := testenv.Pull(t, c, dlqSub, total-okCalls*batch, 10*time.Second)
	var got []string
	for _, m := range append(moved, left...) {
		if m.Attributes["i"] != string(m.Data) {
			t.Errorf("message %q lost its attributes: %v", m.Data, m.Attributes)
		}
		got = append(got, string(m.Data))
	}
	sort.Strings(got)
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("moved + left (-dead letters +got):\n%s", diff)
	}
}
