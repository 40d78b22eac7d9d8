// Package registry keeps one record per Gemini job the project knows of, so
// that no finished job goes missing: it says how each job became known, when
// it should finish, and how far it got (pending → notified → stored | failed).
//
// Jobs enter it four ways (Origin): `geminihooks submit` registers what it
// creates and `geminihooks watch` what was created elsewhere, both pending
// with an expected completion time; the receiver adds a job the first time
// its terminal event is published (webhook), and the reconciler one it found
// finished without a webhook (reconciled). The receiver and the reconciler
// advance a job to notified, the materializer to stored or failed, and the
// reconciler fails a registered job the API does not know. A state never
// goes back, so writers may race: a materializer that stored a job before the
// receiver recorded its notification leaves it stored.
//
// The reconciler asks for pending jobs past their expected completion
// (Overdue) and polls only those: interactions and video operations cannot
// be listed, so remembering their names is the only way to find one whose
// webhook never came.
//
// Records expire TTL after their last write (ExpiryField, a Firestore TTL
// policy in Terraform), like the delivery ledger's.
package registry

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/geminihooks/geminihooks/pkg/event"
)

// Origin says how a job became known.
type Origin string

// Origins.
const (
	// OriginSubmitted: created by `geminihooks submit`.
	OriginSubmitted Origin = "submitted"
	// OriginWatched: created elsewhere and registered by `geminihooks watch`.
	OriginWatched Origin = "watched"
	// OriginWebhook: first seen in a webhook delivery.
	OriginWebhook Origin = "webhook"
	// OriginReconciled: found finished by the reconciler, without a webhook.
	OriginReconciled Origin = "reconciled"
)

// State is how far a job got. States only advance: pending, then notified,
// then stored or failed (both final).
type State string

// States.
const (
	// StatePending: registered, no completion event published yet.
	StatePending State = "pending"
	// StateNotified: its completion event is published.
	StateNotified State = "notified"
	// StateStored: its results are in Cloud Storage and announced.
	StateStored State = "stored"
	// StateFailed: it failed for good (the job failed, its results could not
	// be stored, or the API does not know it).
	StateFailed State = "failed"
)

// rank orders states; a write never lowers it.
func (s State) rank() int {
	switch s {
	case StatePending:
		return 0
	case StateNotified:
		return 1
	case StateStored, StateFailed:
		return 2
	default:
		return -1
	}
}

// Final reports whether s is stored or failed.
func (s State) Final() bool { return s.rank() == 2 }

// Job is one registry record.
type Job struct {
	// Ref names the job.
	Ref event.JobRef
	// Resource is the job's full resource name ("batches/x",
	// "interactions/x", "models/m/operations/x"), the one to GET it by.
	Resource string
	// Origin says how the job became known.
	Origin Origin
	// State is how far it got.
	State State
	// ExpectedAt is when a pending job should have finished; the reconciler
	// polls it once this (plus a grace period) has passed. Zero: unknown.
	ExpectedAt time.Time
	// UserMetadata is the user_metadata of the job's webhook config.
	UserMetadata map[string]any
	// EventID is the id of its completion event, once published.
	EventID string
	// Location is where its results landed (the job folder's gs:// URI, or
	// the local runner's directory), once stored.
	Location string
	// Error says why it failed.
	Error string
	// Checks counts the reconciler's polls of the job.
	Checks int
	// CreatedAt, UpdatedAt, NotifiedAt and FinishedAt are when the record
	// was created and last written, and when it became notified and
	// stored or failed; zero until then.
	CreatedAt, UpdatedAt, NotifiedAt, FinishedAt time.Time
}

// Defaults of Options.
const (
	// DefaultCollection is the Firestore collection holding the records.
	DefaultCollection = "jobs"
	// DefaultTTL keeps a record for 14 days after its last write: past
	// Gemini's 48-hour batch expiry and the reconciler's look-back window.
	DefaultTTL = 14 * 24 * time.Hour
)

// ExpiryField is the record field holding the expiry time; the Firestore
// TTL policy in Terraform names it.
const ExpiryField = "expire_at"

// MinTTL is the shortest TTL accepted: a batch may run for 48 hours before
// Gemini expires it, and its record must outlive that.
const MinTTL = 72 * time.Hour

var (
	// ErrInvalidOptions is wrapped by constructor errors caused by Options.
	ErrInvalidOptions = errors.New("invalid registry options")
	// ErrInvalidJob is returned for a job without a kind, id or resource, or
	// with an unknown origin.
	ErrInvalidJob = errors.New("invalid job")
)

// Options configures a Registry. Zero fields take the defaults.
type Options struct {
	// Collection is the Firestore collection (DefaultCollection).
	Collection string
	// TTL is how long a record is kept after its last write (DefaultTTL; at
	// least MinTTL).
	TTL time.Duration
	// Now is the clock (time.Now).
	Now func() time.Time
}

func (o Options) withDefaults() (Options, error) {
	if o.Collection == "" {
		o.Collection = DefaultCollection
	}
	if o.TTL == 0 {
		o.TTL = DefaultTTL
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	switch {
	case o.TTL < MinTTL:
		return o, fmt.Errorf("%w: TTL %v is shorter than %v", ErrInvalidOptions, o.TTL, MinTTL)
	case strings.Contains(o.Collection, "/") || strings.HasPrefix(o.Collection, "__"):
		return o, fmt.Errorf("%w: collection %q is not a valid Firestore collection id", ErrInvalidOptions, o.Collection)
	}
	return o, nil
}

// store is where records live: Firestore or memory. update runs fn on the
// record of key (exists false and a zero Job when there is none) atomically
// and writes the job back when fn returns true.
type store interface {
	update(ctx context.Context, key string, fn func(j *Job, exists bool) bool) (Job, error)
	getAll(ctx context.Context, keys []string) (map[string]Job, error)
	overdue(ctx context.Context, before time.Time, limit int) ([]Job, error)
}

// Registry is the job registry. Use NewFirestore or NewMemory.
type Registry struct {
	store store
	now   func() time.Time
}

// Notice is what a completion event tells the registry.
type Notice struct {
	// Ref and Resource name the job.
	Ref      event.JobRef
	Resource string
	// EventID is the completion event's id.
	EventID string
	// Reconciled is true when the reconciler, not a webhook, found the job.
	Reconciled bool
	// UserMetadata is the event's user_metadata, kept when the record has
	// none.
	UserMetadata map[string]any
}

// origin is the origin of a job first seen in n.
func (n Notice) origin() Origin {
	if n.Reconciled {
		return OriginReconciled
	}
	return OriginWebhook
}

func checkRef(ref event.JobRef, resource string) error {
	switch {
	case ref.ID == "" || resource == "":
		return fmt.Errorf("%w: a job needs an id and a resource name", ErrInvalidJob)
	case ref.Kind != event.KindBatch && ref.Kind != event.KindInteraction && ref.Kind != event.KindVideo:
		return fmt.Errorf("%w: kind %q", ErrInvalidJob, ref.Kind)
	}
	return nil
}

// write runs fn on key's record through the store and stamps UpdatedAt on
// every record it writes.
func (r *Registry) write(ctx context.Context, key string, fn func(j *Job, exists bool) bool) (Job, error) {
	return r.store.update(ctx, key, func(j *Job, exists bool) bool {
		if !fn(j, exists) {
			return false
		}
		j.UpdatedAt = r.now()
		return true
	})
}

// Register adds a pending job created or watched by the operator tool. A job
// already known is left as it is and returned with created false, so
// registering twice is harmless.
func (r *Registry) Register(ctx context.Context, j Job) (Job, bool, error) {
	if err := checkRef(j.Ref, j.Resource); err != nil {
		return Job{}, false, err
	}
	if j.Origin != OriginSubmitted && j.Origin != OriginWatched {
		return Job{}, false, fmt.Errorf("%w: register takes origin %q or %q, not %q", ErrInvalidJob, OriginSubmitted, OriginWatched, j.Origin)
	}
	created := false
	got, err := r.write(ctx, j.Ref.Key(), func(rec *Job, exists bool) bool {
		if exists {
			return false
		}
		now := r.now()
		*rec = Job{Ref: j.Ref, Resource: j.Resource, Origin: j.Origin, State: StatePending, ExpectedAt: j.ExpectedAt,
			UserMetadata: storable(j.UserMetadata), CreatedAt: now}
		created = true
		return true
	})
	return got, created, err
}

// Notified records that the job's completion event is published. An unknown
// job is added with origin webhook (or reconciled); a pending one advances;
// one already notified, stored or failed keeps its state.
func (r *Registry) Notified(ctx context.Context, n Notice) error {
	if err := checkRef(n.Ref, n.Resource); err != nil {
		return err
	}
	_, err := r.write(ctx, n.Ref.Key(), func(rec *Job, exists bool) bool {
		now := r.now()
		if !exists {
			*rec = Job{Ref: n.Ref, Resource: n.Resource, Origin: n.origin(), State: StatePending, CreatedAt: now}
		}
		changed := !exists
		if rec.EventID == "" && n.EventID != "" {
			rec.EventID, changed = n.EventID, true
		}
		if rec.UserMetadata == nil && len(n.UserMetadata) > 0 {
			rec.UserMetadata, changed = storable(n.UserMetadata), true
		}
		if rec.State.rank() < StateNotified.rank() {
			rec.State, rec.NotifiedAt, changed = StateNotified, now, true
		}
		return changed
	})
	return err
}

// Stored records that the job whose completion event n describes has its
// results stored at location. The materializer may get there before the
// receiver or the reconciler records the job notified: the record is then
// created from n.
func (r *Registry) Stored(ctx context.Context, n Notice, location string) error {
	return r.finish(ctx, n, StateStored, func(j *Job) { j.Location = location })
}

// Failed records that the job n names failed for good, and why.
func (r *Registry) Failed(ctx context.Context, n Notice, reason string) error {
	return r.finish(ctx, n, StateFailed, func(j *Job) { j.Error = reason })
}

func (r *Registry) finish(ctx context.Context, n Notice, to State, set func(*Job)) error {
	if err := checkRef(n.Ref, n.Resource); err != nil {
		return err
	}
	_, err := r.write(ctx, n.Ref.Key(), func(rec *Job, exists bool) bool {
		if exists && rec.State.Final() {
			return false
		}
		now := r.now()
		if !exists {
			*rec = Job{Ref: n.Ref, Resource: n.Resource, Origin: n.origin(), UserMetadata: storable(n.UserMetadata), CreatedAt: now}
		}
		if rec.EventID == "" {
			rec.EventID = n.EventID
		}
		if rec.NotifiedAt.IsZero() && to == StateStored {
			rec.NotifiedAt = now
		}
		rec.State, rec.FinishedAt = to, now
		set(rec)
		return true
	})
	return err
}

// Checked records a poll of a pending job that is not finished yet: the next
// poll is due at next. Jobs no longer pending are left alone.
func (r *Registry) Checked(ctx context.Context, ref event.JobRef, next time.Time) error {
	_, err := r.write(ctx, ref.Key(), func(rec *Job, exists bool) bool {
		if !exists || rec.State != StatePending {
			return false
		}
		rec.Checks++
		rec.ExpectedAt = next
		return true
	})
	return err
}

// Get returns the job's record; false when there is none.
func (r *Registry) Get(ctx context.Context, ref event.JobRef) (Job, bool, error) {
	jobs, err := r.store.getAll(ctx, []string{ref.Key()})
	if err != nil {
		return Job{}, false, err
	}
	j, ok := jobs[ref.Key()]
	return j, ok, nil
}

// GetAll returns the records of refs that exist, by JobRef.Key, in one
// round trip.
func (r *Registry) GetAll(ctx context.Context, refs []event.JobRef) (map[string]Job, error) {
	if len(refs) == 0 {
		return map[string]Job{}, nil
	}
	keys := make([]string, len(refs))
	for i, ref := range refs {
		keys[i] = ref.Key()
	}
	return r.store.getAll(ctx, keys)
}

// Overdue returns at most limit pending jobs expected by before, the most
// overdue first.
func (r *Registry) Overdue(ctx context.Context, before time.Time, limit int) ([]Job, error) {
	if limit <= 0 {
		return nil, nil
	}
	return r.store.overdue(ctx, before, limit)
}

// Config is the registry's part of each function's configuration, a field
// of their Config structs (which name the Firestore database).
type Config struct {
	// Collection holds the job records.
	Collection string `env:"JOBS_COLLECTION, default=jobs"`
	// TTL is how long a job record is kept after its last write.
	TTL time.Duration `env:"JOBS_TTL, default=336h"`
}

// Options returns the registry options c describes.
func (c Config) Options() Options { return Options{Collection: c.Collection, TTL: c.TTL} }

// Validate reports what is wrong with c.
func (c Config) Validate() error {
	_, err := c.Options().withDefaults()
	return err
}
