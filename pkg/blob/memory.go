package blob

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"slices"
	"sync"
	"time"
)

// Memory is a [Store] that keeps objects in a map, for unit tests. Unlike
// the other stores it holds each object's whole content in memory, including
// while Create is streaming it. The zero value is not usable; call [NewMemory].
type Memory struct {
	mu      sync.RWMutex
	objects map[string]memoryObject
}

type memoryObject struct {
	attrs Object
	data  []byte // never modified once stored
}

var _ Store = (*Memory)(nil)

// NewMemory returns an empty Memory store.
func NewMemory() *Memory {
	return &Memory{objects: make(map[string]memoryObject)}
}

// Create implements [Store.Create]. The content is buffered in full and only
// becomes visible, atomically, once r has been read to its end.
func (m *Memory) Create(ctx context.Context, name, contentType string, r io.Reader) (Object, error) {
	if err := ValidateName(name); err != nil {
		return Object{}, err
	}
	if existing, ok := m.lookup(name); ok {
		return existing.attrs, nil
	}
	var buf bytes.Buffer
	d := newDigest()
	if err := stream(ctx, &buf, r, d); err != nil {
		return Object{}, fmt.Errorf("failed to create %s: %w", memoryURI(name), err)
	}
	attrs := Object{
		Name:        name,
		URI:         memoryURI(name),
		ContentType: contentTypeOrDefault(contentType),
		Updated:     time.Now().UTC(),
	}
	d.fill(&attrs)

	m.mu.Lock()
	defer m.mu.Unlock()
	if existing, ok := m.objects[name]; ok {
		return cloneObject(existing.attrs), nil
	}
	m.objects[name] = memoryObject{attrs: attrs, data: buf.Bytes()}
	created := cloneObject(attrs)
	created.Created = true
	return created, nil
}

// Stat implements [Store.Stat].
func (m *Memory) Stat(ctx context.Context, name string) (Object, error) {
	if err := ValidateName(name); err != nil {
		return Object{}, err
	}
	if err := ctx.Err(); err != nil {
		return Object{}, fmt.Errorf("failed to stat %s: %w", memoryURI(name), err)
	}
	o, ok := m.lookup(name)
	if !ok {
		return Object{}, fmt.Errorf("%w: %s", ErrNotExist, memoryURI(name))
	}
	return o.attrs, nil
}

// Open implements [Store.Open].
func (m *Memory) Open(ctx context.Context, name string) (io.ReadCloser, error) {
	if err := ValidateName(name); err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("failed to open %s: %w", memoryURI(name), err)
	}
	o, ok := m.lookup(name)
	if !ok {
		return nil, fmt.Errorf("%w: %s", ErrNotExist, memoryURI(name))
	}
	return io.NopCloser(bytes.NewReader(o.data)), nil
}

// lookup returns a copy of the named object whose attributes the caller may
// modify.
func (m *Memory) lookup(name string) (memoryObject, bool) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	o, ok := m.objects[name]
	o.attrs = cloneObject(o.attrs)
	return o, ok
}

func cloneObject(o Object) Object {
	o.MD5 = slices.Clone(o.MD5)
	return o
}

func memoryURI(name string) string { return "memory:///" + name }
