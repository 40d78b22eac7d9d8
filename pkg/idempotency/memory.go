package idempotency

import (
	"context"
	"fmt"
	"sync"
	"time"
)

// sweepEvery is how often Memory drops records past their expiry, as a
// Firestore TTL policy does (also lazily, not at the exact instant).
const sweepEvery = time.Hour

// Memory is an in-process ledger with the same semantics as Firestore, for
// tests and local runs. It is safe for concurrent use.
type Memory struct {
	opts Options

	mu        sync.Mutex
	records   map[string]*record
	version   uint64 // last version handed out; identifies each write
	nextSweep time.Time
}

// record mirrors the Firestore document.
type record struct {
	key         string
	state       string
	lease       time.Time
	attempts    int
	createdAt   time.Time
	updatedAt   time.Time
	expireAt    time.Time
	publishedAt time.Time
	messageID   string
	version     uint64
}

// NewMemory returns an empty in-memory ledger.
func NewMemory(opts Options) (*Memory, error) {
	opts, err := opts.withDefaults()
	if err != nil {
		return nil, fmt.Errorf("failed to create memory ledger: %w", err)
	}
	return &Memory{opts: opts, records: make(map[string]*record)}, nil
}

// inProcess marks Memory as a ledger in this process's memory, for Once.
func (*Memory) inProcess() {}

// Claim claims key; see the package documentation for the outcomes.
func (m *Memory) Claim(ctx context.Context, key string) (Claim, error) {
	if key == "" {
		return Claim{}, ErrEmptyKey
	}
	if err := ctx.Err(); err != nil {
		return Claim{}, fmt.Errorf("failed to claim delivery: %w", err)
	}
	c := Claim{Key: key, DocID: DocID(key)}
	now := m.opts.Now()

	m.mu.Lock()
	defer m.mu.Unlock()
	m.sweep(now)
	r, ok := m.records[c.DocID]
	switch {
	case !ok:
		m.version++
		m.records[c.DocID] = &record{
			key:       key,
			state:     stateReceived,
			lease:     now.Add(m.opts.Lease),
			attempts:  1,
			createdAt: now,
			updatedAt: now,
			expireAt:  now.Add(m.opts.TTL),
			version:   m.version,
		}
		c.Outcome, c.Attempt, c.version = Claimed, 1, m.version
	case r.state == statePublished:
		c.Outcome, c.Attempt, c.MessageID = Duplicate, r.attempts, r.messageID
	case now.Before(r.lease):
		c.Outcome, c.Attempt = InFlight, r.attempts
	default:
		m.version++
		r.lease, r.attempts, r.updatedAt, r.version = now.Add(m.opts.Lease), r.attempts+1, now, m.version
		c.Outcome, c.Attempt, c.Takeover, c.version = Claimed, r.attempts, true, m.version
	}
	return c, nil
}

// MarkPublished records that c's delivery was published as messageID,
// unconditionally, like Firestore.MarkPublished.
func (m *Memory) MarkPublished(ctx context.Context, c Claim, messageID string) error {
	if err := c.held(); err != nil {
		return fmt.Errorf("failed to mark delivery published: %w", err)
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("failed to mark delivery published: %w", err)
	}
	now := m.opts.Now()

	m.mu.Lock()
	defer m.mu.Unlock()
	r, ok := m.records[c.DocID]
	if !ok {
		r = &record{key: c.Key}
		m.records[c.DocID] = r
	}
	m.version++
	r.state, r.publishedAt, r.messageID = statePublished, now, messageID
	r.lease, r.updatedAt, r.expireAt, r.version = time.Time{}, now, now.Add(m.opts.TTL), m.version
	return nil
}

// Release deletes c's record if it is still exactly as c left it, like
// Firestore.Release.
func (m *Memory) Release(ctx context.Context, c Claim) error {
	if err := c.held(); err != nil {
		return fmt.Errorf("failed to release delivery: %w", err)
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("failed to release delivery: %w", err)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if r, ok := m.records[c.DocID]; ok && r.version == c.version {
		delete(m.records, c.DocID)
	}
	return nil
}

// sweep drops expired records at most once per sweepEvery, which bounds
// memory without scanning on every claim. m.mu must be held.
func (m *Memory) sweep(now time.Time) {
	if now.Before(m.nextSweep) {
		return
	}
	m.nextSweep = now.Add(sweepEvery)
	for id, r := range m.records {
		if !now.Before(r.expireAt) {
			delete(m.records, id)
		}
	}
}
