package registry

import (
	"context"
	"maps"
	"slices"
	"sync"
	"time"
)

// NewMemory returns a registry kept in process memory, for tests and the
// local runner. Records do not expire.
func NewMemory(opts Options) (*Registry, error) {
	opts, err := opts.withDefaults()
	if err != nil {
		return nil, err
	}
	return &Registry{store: &memoryStore{jobs: map[string]Job{}}, now: opts.Now}, nil
}

type memoryStore struct {
	mu   sync.Mutex
	jobs map[string]Job
}

var _ store = (*memoryStore)(nil)

func (m *memoryStore) update(_ context.Context, key string, fn func(*Job, bool) bool) (Job, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	j, exists := m.jobs[key]
	j.UserMetadata = maps.Clone(j.UserMetadata)
	if fn(&j, exists) {
		m.jobs[key] = j
	}
	return j, nil
}

func (m *memoryStore) getAll(_ context.Context, keys []string) (map[string]Job, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make(map[string]Job, len(keys))
	for _, k := range keys {
		if j, ok := m.jobs[k]; ok {
			j.UserMetadata = maps.Clone(j.UserMetadata)
			out[k] = j
		}
	}
	return out, nil
}

func (m *memoryStore) overdue(_ context.Context, before time.Time, limit int) ([]Job, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var due []Job
	for _, j := range m.jobs {
		if j.State == StatePending && !j.ExpectedAt.IsZero() && !j.ExpectedAt.After(before) {
			due = append(due, j)
		}
	}
	slices.SortFunc(due, func(a, b Job) int {
		if c := a.ExpectedAt.Compare(b.ExpectedAt); c != 0 {
			return c
		}
		return compareKeys(a, b)
	})
	if len(due) > limit {
		due = due[:limit]
	}
	return due, nil
}

func compareKeys(a, b Job) int {
	ka, kb := a.Ref.Key(), b.Ref.Key()
	switch {
	case ka < kb:
		return -1
	case ka > kb:
		return 1
	}
	return 0
}
