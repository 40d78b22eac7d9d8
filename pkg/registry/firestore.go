package registry

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"cloud.google.com/go/firestore"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/geminihooks/geminihooks/pkg/event"
)

// Record field names the overdue query and the Terraform index use.
const (
	fieldState      = "state"
	fieldExpectedAt = "expected_at"
)

// IndexFields are the fields, in order, of the composite index the overdue
// query needs (state equality, expected_at range and order); Terraform
// creates it.
var IndexFields = []string{fieldState, fieldExpectedAt}

// NewFirestore returns a registry kept in a Firestore collection.
func NewFirestore(client *firestore.Client, opts Options) (*Registry, error) {
	if client == nil {
		return nil, errors.New("failed to create Firestore registry: client is nil")
	}
	opts, err := opts.withDefaults()
	if err != nil {
		return nil, fmt.Errorf("failed to create Firestore registry: %w", err)
	}
	return &Registry{store: &firestoreStore{client: client, coll: client.Collection(opts.Collection), ttl: opts.TTL}, now: opts.Now}, nil
}

// Open returns the registry a function runs on: in Firestore when client is
// set; otherwise shared, the local runner's one registry for all its
// functions, or when that is nil too a new one in memory.
func Open(client *firestore.Client, shared *Registry, opts Options) (*Registry, error) {
	switch {
	case client != nil:
		return NewFirestore(client, opts)
	case shared != nil:
		return shared, nil
	default:
		return NewMemory(opts)
	}
}

type firestoreStore struct {
	client *firestore.Client
	coll   *firestore.CollectionRef
	ttl    time.Duration
}

var _ store = (*firestoreStore)(nil)

// record is a Job as stored. Times that are unset are stored as null, so
// the overdue query never matches a job without an expected time.
type record struct {
	Key          string         `firestore:"key"`
	Kind         string         `firestore:"kind"`
	ID           string         `firestore:"job_id"`
	Resource     string         `firestore:"resource"`
	Origin       string         `firestore:"origin"`
	State        string         `firestore:"state"`
	ExpectedAt   *time.Time     `firestore:"expected_at"`
	UserMetadata map[string]any `firestore:"user_metadata,omitempty"`
	EventID      string         `firestore:"event_id,omitempty"`
	Location     string         `firestore:"location,omitempty"`
	Error        string         `firestore:"error,omitempty"`
	Checks       int            `firestore:"checks"`
	CreatedAt    time.Time      `firestore:"created_at"`
	UpdatedAt    time.Time      `firestore:"updated_at"`
	NotifiedAt   *time.Time     `firestore:"notified_at"`
	FinishedAt   *time.Time     `firestore:"finished_at"`
	ExpireAt     time.Time      `firestore:"expire_at"`
}

// docID is the record's document id: "job_" and the hex SHA-256 of the key,
// which contains a "/" that Firestore ids cannot.
func docID(key string) string {
	sum := sha256.Sum256([]byte(key))
	return "job_" + hex.EncodeToString(sum[:])
}

func optTime(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	return &t
}

func valTime(t *time.Time) time.Time {
	if t == nil {
		return time.Time{}
	}
	return t.UTC()
}

func toRecord(j Job, ttl time.Duration) record {
	return record{
		Key: j.Ref.Key(), Kind: string(j.Ref.Kind), ID: j.Ref.ID, Resource: j.Resource, Origin: string(j.Origin),
		State: string(j.State), ExpectedAt: optTime(j.ExpectedAt), UserMetadata: j.UserMetadata,
		EventID: j.EventID, Location: j.Location, Error: j.Error, Checks: j.Checks,
		CreatedAt: j.CreatedAt, UpdatedAt: j.UpdatedAt, NotifiedAt: optTime(j.NotifiedAt), FinishedAt: optTime(j.FinishedAt),
		ExpireAt: j.UpdatedAt.Add(ttl),
	}
}

func (r record) job() Job {
	return Job{
		Ref: event.JobRef{Kind: event.Kind(r.Kind), ID: r.ID}, Resource: r.Resource, Origin: Origin(r.Origin),
		State: State(r.State), ExpectedAt: valTime(r.ExpectedAt), UserMetadata: r.UserMetadata,
		EventID: r.EventID, Location: r.Location, Error: r.Error, Checks: r.Checks,
		CreatedAt: r.CreatedAt.UTC(), UpdatedAt: r.UpdatedAt.UTC(), NotifiedAt: valTime(r.NotifiedAt), FinishedAt: valTime(r.FinishedAt),
	}
}

// storable converts user_metadata for storage: events decode numbers as
// json.Number, which Firestore would store as text, so every record holds
// int64 or float64 instead, in memory too.
func storable(m map[string]any) map[string]any {
	if m == nil {
		return nil
	}
	out := make(map[string]any, len(m))
	for k, v := range m {
		out[k] = storableValue(v)
	}
	return out
}

func storableValue(v any) any {
	switch v := v.(type) {
	case json.Number:
		if i, err := v.Int64(); err == nil {
			return i
		}
		if f, err := v.Float64(); err == nil {
			return f
		}
		return v.String()
	case map[string]any:
		return storable(v)
	case []any:
		out := make([]any, len(v))
		for i, e := range v {
			out[i] = storableValue(e)
		}
		return out
	default:
		return v
	}
}

func (f *firestoreStore) update(ctx context.Context, key string, fn func(*Job, bool) bool) (Job, error) {
	ref := f.coll.Doc(docID(key))
	var out Job
	err := f.client.RunTransaction(ctx, func(_ context.Context, tx *firestore.Transaction) error {
		snap, err := tx.Get(ref)
		exists := err == nil
		if err != nil && status.Code(err) != codes.NotFound {
			return err
		}
		var j Job
		if exists {
			var rec record
			if err := snap.DataTo(&rec); err != nil {
				return fmt.Errorf("failed to decode job record %s: %w", ref.ID, err)
			}
			j = rec.job()
		}
		if !fn(&j, exists) {
			out = j
			return nil
		}
		out = j
		return tx.Set(ref, toRecord(j, f.ttl))
	})
	if err != nil {
		return Job{}, fmt.Errorf("failed to update job record: %w", err)
	}
	return out, nil
}

func (f *firestoreStore) getAll(ctx context.Context, keys []string) (map[string]Job, error) {
	refs := make([]*firestore.DocumentRef, len(keys))
	for i, k := range keys {
		refs[i] = f.coll.Doc(docID(k))
	}
	snaps, err := f.client.GetAll(ctx, refs)
	if err != nil {
		return nil, fmt.Errorf("failed to read job records: %w", err)
	}
	out := make(map[string]Job, len(snaps))
	for _, snap := range snaps {
		if !snap.Exists() {
			continue
		}
		var rec record
		if err := snap.DataTo(&rec); err != nil {
			return nil, fmt.Errorf("failed to decode job record %s: %w", snap.Ref.ID, err)
		}
		out[rec.Key] = rec.job()
	}
	return out, nil
}

func (f *firestoreStore) overdue(ctx context.Context, before time.Time, limit int) ([]Job, error) {
	it := f.coll.Where(fieldState, "==", string(StatePending)).
		Where(fieldExpectedAt, "<=", before).
		OrderBy(fieldExpectedAt, firestore.Asc).Limit(limit).Documents(ctx)
	snaps, err := it.GetAll()
	if err != nil {
		return nil, fmt.Errorf("failed to query overdue jobs: %w", err)
	}
	out := make([]Job, 0, len(snaps))
	for _, snap := range snaps {
		var rec record
		if err := snap.DataTo(&rec); err != nil {
			return nil, fmt.Errorf("failed to decode job record %s: %w", snap.Ref.ID, err)
		}
		out = append(out, rec.job())
	}
	return out, nil
}
