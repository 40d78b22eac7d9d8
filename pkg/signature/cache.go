package signature

import (
	"sync"
	"sync/atomic"
)

// maxCachedSecrets bounds the HMAC cache. It holds what the operator
// configured (a handful of secrets), so the limit only guards against churn.
const maxCachedSecrets = 64

// boundedMap is a copy-on-write map for read-mostly caches on the
// verification hot path: lookups take no lock and do not allocate. Stores
// copy the map; when it is full it starts over, which only costs a rebuild
// of the dropped entries.
type boundedMap[V any] struct {
	limit int
	mu    sync.Mutex // serializes stores
	m     atomic.Pointer[map[string]V]
}

// loadBytes returns the value stored under key; the map index converts
// without allocating.
func (b *boundedMap[V]) loadBytes(key []byte) (V, bool) {
	if m := b.m.Load(); m != nil {
		v, ok := (*m)[string(key)]
		return v, ok
	}
	var zero V
	return zero, false
}

// loadOrStore returns the value under key, first storing the result of
// create if there is none.
func (b *boundedMap[V]) loadOrStore(key string, create func() V) V {
	b.mu.Lock()
	defer b.mu.Unlock()
	old := b.m.Load()
	if old != nil {
		if v, ok := (*old)[key]; ok {
			return v
		}
	}
	n := make(map[string]V, 1)
	if old != nil && len(*old) < b.limit {
		n = make(map[string]V, len(*old)+1)
		for k, v := range *old {
			n[k] = v
		}
	}
	v := create()
	n[key] = v
	b.m.Store(&n)
	return v
}
