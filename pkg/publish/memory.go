package publish

import (
	"context"
	"fmt"
	"strconv"
	"sync"
)

// Memory records published messages in order, for tests and local runs. It
// keeps ordering keys as given. It is safe for concurrent use; the zero value
// is ready to use.
type Memory struct {
	// Fail, if set, is called for every message before it is recorded; a
	// non-nil result fails the publish, simulating Pub/Sub being down. Set it
	// before the first Publish.
	Fail func(Message) error

	mu       sync.Mutex
	messages []Message
	failures []error
}

// FailNext makes the next Publish fail with err (each call queues one
// failure), without recording its message.
func (m *Memory) FailNext(err error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.failures = append(m.failures, err)
}

// Publish records a copy of msg and returns its id, "mem-1" for the first
// message recorded, "mem-2" for the second and so on. Like Pub/Sub, it
// refuses a message over MaxMessageBytes with ErrMessageTooLarge.
func (m *Memory) Publish(ctx context.Context, msg Message) (string, error) {
	if err := ctx.Err(); err != nil {
		return "", fmt.Errorf("failed to publish: %w", err)
	}
	if size := msg.Size(); size > MaxMessageBytes {
		return "", fmt.Errorf("failed to publish: %w: %d bytes", ErrMessageTooLarge, size)
	}
	if m.Fail != nil {
		if err := m.Fail(msg); err != nil {
			return "", fmt.Errorf("failed to publish: %w", err)
		}
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if len(m.failures) > 0 {
		err := m.failures[0]
		m.failures = m.failures[1:]
		return "", fmt.Errorf("failed to publish: %w", err)
	}
	m.messages = append(m.messages, cloneMessage(msg))
	return "mem-" + strconv.Itoa(len(m.messages)), nil
}

// Messages returns copies of the recorded messages in publish order.
func (m *Memory) Messages() []Message {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make([]Message, len(m.messages))
	for i, msg := range m.messages {
		out[i] = cloneMessage(msg)
	}
	return out
}
