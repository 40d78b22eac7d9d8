package idempotency

import (
	"context"
	"errors"
	"fmt"
	"time"

	"cloud.google.com/go/firestore"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// Firestore is the ledger backed by a Firestore collection.
type Firestore struct {
	coll *firestore.CollectionRef
	opts Options
}

// NewFirestore returns a ledger storing records in opts.Collection.
func NewFirestore(client *firestore.Client, opts Options) (*Firestore, error) {
	if client == nil {
		return nil, errors.New("failed to create Firestore ledger: client is nil")
	}
	opts, err := opts.withDefaults()
	if err != nil {
		return nil, fmt.Errorf("failed to create Firestore ledger: %w", err)
	}
	return &Firestore{coll: client.Collection(opts.Collection), opts: opts}, nil
}

// Open returns the ledger a function runs on: in Firestore when client is
// set; otherwise shared, the local runner's one ledger for all its
// functions, or when that is nil too a new one in memory.
func Open(client *firestore.Client, shared *Memory, opts Options) (Ledger, error) {
	switch {
	case client != nil:
		return NewFirestore(client, opts)
	case shared != nil:
		return shared, nil
	default:
		return NewMemory(opts)
	}
}

// stored is the part of a record that Claim reads back.
type stored struct {
	State     string    `firestore:"state"`
	Lease     time.Time `firestore:"lease_expires_at"`
	Attempts  int       `firestore:"attempts"`
	MessageID string    `firestore:"message_id"`
}

// Claim claims key; see the package documentation for the outcomes.
// Errors other than the expected contention are returned wrapped; the
// caller should answer with a retryable status.
func (f *Firestore) Claim(ctx context.Context, key string) (Claim, error) {
	if key == "" {
		return Claim{}, ErrEmptyKey
	}
	c := Claim{Key: key, DocID: DocID(key)}
	ref := f.coll.Doc(c.DocID)
	// The second round handles a record deleted between our Create and Get
	// (a Release or TTL deletion); after that, give up as contended.
	for range 2 {
		now := f.opts.Now()
		wr, err := ref.Create(ctx, map[string]any{
			fieldKey:       key,
			fieldState:     stateReceived,
			fieldLease:     now.Add(f.opts.Lease),
			fieldAttempts:  1,
			fieldCreatedAt: now,
			fieldUpdatedAt: now,
			ExpiryField:    now.Add(f.opts.TTL),
		})
		if err == nil {
			c.Outcome, c.Attempt, c.updateTime = Claimed, 1, wr.UpdateTime
			return c, nil
		}
		// Aborted means the create lost a lock on this very document to a
		// concurrent writer (Firestore, and the emulator far more often, abort
		// contended writes): someone else is claiming it, which is decided
		// like an existing record.
		createCode := status.Code(err)
		if createCode != codes.AlreadyExists && createCode != codes.Aborted {
			return Claim{}, fmt.Errorf("failed to create delivery record: %w", err)
		}

		snap, err := ref.Get(ctx)
		if status.Code(err) == codes.NotFound {
			if createCode == codes.Aborted {
				c.Outcome = InFlight // the concurrent create has not committed yet
				return c, nil
			}
			continue
		}
		if err != nil {
			return Claim{}, fmt.Errorf("failed to read delivery record: %w", err)
		}
		var rec stored
		if err := snap.DataTo(&rec); err != nil {
			return Claim{}, fmt.Errorf("failed to decode delivery record %s: %w", c.DocID, err)
		}
		c.Attempt = rec.Attempts
		switch {
		case rec.State == statePublished:
			c.Outcome, c.MessageID = Duplicate, rec.MessageID
			return c, nil
		case rec.State != stateReceived:
			return Claim{}, fmt.Errorf("failed to claim delivery record %s: unknown state %q", c.DocID, rec.State)
		case now.Before(rec.Lease):
			c.Outcome = InFlight
			return c, nil
		}

		// The lease expired: the holder died before publishing. Take over,
		// but only if nobody else wrote the record since we read it.
		now = f.opts.Now()
		wr, err = ref.Update(ctx, []firestore.Update{
			{Path: fieldLease, Value: now.Add(f.opts.Lease)},
			{Path: fieldAttempts, Value: rec.Attempts + 1},
			{Path: fieldUpdatedAt, Value: now},
		}, firestore.LastUpdateTime(snap.UpdateTime))
		switch status.Code(err) {
		case codes.OK:
			c.Outcome, c.Attempt, c.Takeover, c.updateTime = Claimed, rec.Attempts+1, true, wr.UpdateTime
			return c, nil
		case codes.FailedPrecondition, codes.NotFound:
			// Another process took over (or released) first.
			c.Outcome = InFlight
			return c, nil
		default:
			return Claim{}, fmt.Errorf("failed to take over delivery record: %w", err)
		}
	}
	c.Outcome = InFlight
	return c, nil
}

// MarkPublished records that c's delivery was published as messageID. It
// writes unconditionally: the message is out, so even if c's lease was lost
// to a takeover, "published" is now the truth and stops further publishes.
func (f *Firestore) MarkPublished(ctx context.Context, c Claim, messageID string) error {
	if err := c.held(); err != nil {
		return fmt.Errorf("failed to mark delivery published: %w", err)
	}
	now := f.opts.Now()
	// Set with merge (not Update) also recreates a record deleted meanwhile.
	_, err := f.coll.Doc(c.DocID).Set(ctx, map[string]any{
		fieldKey:       c.Key,
		fieldState:     statePublished,
		fieldPublished: now,
		fieldMessageID: messageID,
		fieldLease:     firestore.Delete,
		fieldUpdatedAt: now,
		ExpiryField:    now.Add(f.opts.TTL),
	}, firestore.MergeAll)
	if err != nil {
		return fmt.Errorf("failed to mark delivery published: %w", err)
	}
	return nil
}

// Release deletes c's record after a failed publish, so the next retry can
// claim at once. It does nothing if the record changed since c wrote it
// (another process took it over or it was published).
func (f *Firestore) Release(ctx context.Context, c Claim) error {
	if err := c.held(); err != nil {
		return fmt.Errorf("failed to release delivery: %w", err)
	}
	_, err := f.coll.Doc(c.DocID).Delete(ctx, firestore.LastUpdateTime(c.updateTime))
	switch status.Code(err) {
	case codes.OK, codes.FailedPrecondition, codes.NotFound:
		return nil
	default:
		return fmt.Errorf("failed to release delivery: %w", err)
	}
}
