package publish

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestMemoryRecordsInOrder(t *testing.T) {
	t.Parallel()
	var m Memory
	var want []Message
	for i := range 3 {
		msg := Message{Data: fmt.Appendf(nil, "d%d", i), Attributes: map[string]string{"i": fmt.Sprint(i)}, OrderingKey: "k"}
		id, err := m.Publish(t.Context(), msg)
		if err != nil {
			t.Fatalf("Publish: %v", err)
		}
		if wantID := fmt.Sprintf("mem-%d", i+1); id != wantID {
			t.Errorf("Publish id = %q, want %q", id, wantID)
		}
		want = append(want, cloneMessage(msg))
	}
	if diff := cmp.Diff(want, m.Messages()); diff != "" {
		t.Errorf("Messages mismatch (-want +got):\n%s", diff)
	}
}

func TestMemoryCopiesMessages(t *testing.T) {
	t.Parallel()
	var m Memory
	msg := Message{Data: []byte("abc"), Attributes: map[string]string{"k": "v"}}
	if _, err := m.Publish(t.Context(), msg); err != nil {
		t.Fatalf("Publish: %v", err)
	}
	msg.Data[0] = 'X'
	msg.Attributes["k"] = "changed"
	got := m.Messages()
	got[0].Data[1] = 'Y'
	want := []Message{{Data: []byte("abc"), Attributes: map[string]string{"k": "v"}}}
	if diff := cmp.Diff(want, m.Messages()); diff != "" {
		t.Errorf("recorded messages changed through caller references (-want +got):\n%s", diff)
	}
}

func TestMemoryRefusesOversizedMessages(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		msg     Message
		wantErr error
	}{
		{"data_at_limit", Message{Data: make([]byte, MaxMessageBytes)}, nil},
		{"data_over_limit", Message{Data: make([]byte, MaxMessageBytes+1)}, ErrMessageTooLarge},
		{"attributes_count", Message{Data: make([]byte, MaxMessageBytes-2), Attributes: map[string]string{"k": "vv"}}, ErrMessageTooLarge},
		{"ordering_key_counts", Message{Data: make([]byte, MaxMessageBytes), OrderingKey: "k"}, ErrMessageTooLarge},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var m Memory
			_, err := m.Publish(t.Context(), tc.msg)
			if !errors.Is(err, tc.wantErr) {
				t.Errorf("Publish error = %v, want %v", err, tc.wantErr)
			}
			want := 1
			if tc.wantErr != nil {
				want = 0
			}
			if got := len(m.Messages()); got != want {
				t.Errorf("recorded %d messages, want %d", got, want)
			}
		})
	}
}

func TestMemoryFailures(t *testing.T) {
	t.Parallel()
	errDown := errors.New("pubsub down")
	tests := []struct {
		name    string
		setup   func(*Memory)
		ctx     func(context.Context) context.Context
		wantErr []error // per publish of "a", "b", "c"; nil = success
		wantIDs []string
		wantMsg []string
	}{
		{
			name:    "fail_next_once",
			setup:   func(m *Memory) { m.FailNext(errDown) },
			wantErr: []error{errDown, nil, nil},
			wantIDs: []string{"", "mem-1", "mem-2"},
			wantMsg: []string{"b", "c"},
		},
		{
			name:    "fail_next_queues",
			setup:   func(m *Memory) { m.FailNext(errDown); m.FailNext(context.DeadlineExceeded) },
			wantErr: []error{errDown, context.DeadlineExceeded, nil},
			wantIDs: []string{"", "", "mem-1"},
			wantMsg: []string{"c"},
		},
		{
			name: "fail_func_selects_messages",
			setup: func(m *Memory) {
				m.Fail = func(msg Message) error {
					if string(msg.Data) == "b" {
						return errDown
					}
					return nil
				}
			},
			wantErr: []error{nil, errDown, nil},
			wantIDs: []string{"mem-1", "", "mem-2"},
			wantMsg: []string{"a", "c"},
		},
		{
			name: "cancelled_context",
			ctx: func(ctx context.Context) context.Context {
				ctx, cancel := context.WithCancel(ctx)
				cancel()
				return ctx
			},
			wantErr: []error{context.Canceled, context.Canceled, context.Canceled},
			wantIDs: []string{"", "", ""},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var m Memory
			if tc.setup != nil {
				tc.setup(&m)
			}
			ctx := t.Context()
			if tc.ctx != nil {
				ctx = tc.ctx(ctx)
			}
			var ids []string
			for i, d := range []string{"a", "b", "c"} {
				id, err := m.Publish(ctx, Message{Data: []byte(d)})
				if !errors.Is(err, tc.wantErr[i]) || (tc.wantErr[i] == nil) != (err == nil) {
					t.Errorf("Publish(%q) error = %v, want %v", d, err, tc.wantErr[i])
				}
				ids = append(ids, id)
			}
			if diff := cmp.Diff(tc.wantIDs, ids); diff != "" {
				t.Errorf("ids mismatch (-want +got):\n%s", diff)
			}
			var got []string
			for _, msg := range m.Messages() {
				got = append(got, string(msg.Data))
			}
			if diff := cmp.Diff(tc.wantMsg, got); diff != "" {
				t.Errorf("recorded messages mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

func TestMemoryConcurrentPublish(t *testing.T) {
	t.Parallel()
	var (
		m   Memory
		wg  sync.WaitGroup
		mu  sync.Mutex
		ids = map[string]bool{}
	)
	const n = 100
	for i := range n {
		wg.Go(func() {
			id, err := m.Publish(t.Context(), Message{Data: fmt.Appendf(nil, "%d", i)})
			if err != nil {
				t.Errorf("Publish: %v", err)
				return
			}
			mu.Lock()
			defer mu.Unlock()
			ids[id] = true
		})
	}
	wg.Wait()
	if len(ids) != n || len(m.Messages()) != n {
		t.Errorf("got %d distinct ids and %d messages, want %d of each", len(ids), len(m.Messages()), n)
	}
}
