package idempotency

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/geminihooks/geminihooks/pkg/event"
)

// ExpiryField is the record field holding the expiry time. The Firestore TTL
// policy (in Terraform) must be configured on this exact field.
const ExpiryField = "expire_at"

// Defaults applied by Options for zero values.
const (
	// DefaultCollection is the Firestore collection holding the records.
	DefaultCollection = "webhook_deliveries"
	// DefaultTTL keeps a record for a week: well past the sender's 24-hour
	// retries, and long enough to answer questions about a delivery.
	DefaultTTL = 7 * 24 * time.Hour
	// DefaultLease is how long a claim blocks others. It exceeds the
	// publisher's default 10 s timeout, so a live holder is not taken over
	// while its publish may still succeed.
	DefaultLease = 30 * time.Second
)

// MinTTL is the shortest TTL accepted: the sender retries for 24 hours, and
// a record must outlive every retry of its delivery. Undocumented: Gemini's
// exact retry schedule (the guide says only "for 24 hours using exponential
// backoff"), so an hour of margin is added and the default is 7 days.
const MinTTL = 25 * time.Hour

// Record field names and states, shared by both implementations.
const (
	fieldKey       = "key"
	fieldState     = "state"
	fieldLease     = "lease_expires_at"
	fieldAttempts  = "attempts"
	fieldCreatedAt = "created_at"
	fieldUpdatedAt = "updated_at"
	fieldPublished = "published_at"
	fieldMessageID = "message_id"

	stateReceived  = "received"
	statePublished = "published"
)

const (
	docIDPrefix = "wh_"
	// maxIDBytes is Firestore's limit for document and collection ids.
	maxIDBytes = 1500
)

var (
	// ErrInvalidOptions is wrapped by constructor errors caused by Options.
	ErrInvalidOptions = errors.New("invalid idempotency options")

	// ErrEmptyKey is returned by Claim for an empty key.
	ErrEmptyKey = errors.New("ledger key is empty")

	// ErrNotClaimed is returned by MarkPublished and Release for a Claim whose
	// Outcome is not Claimed: only the holder of a claim may settle it.
	ErrNotClaimed = errors.New("claim is not held")
)

// Outcome is the result of a Claim.
type Outcome int

const (
	// Claimed means the caller now holds the delivery and must publish it,
	// then call MarkPublished, or Release if publishing failed.
	Claimed Outcome = iota + 1
	// Duplicate means the delivery was already published; the caller should
	// acknowledge it without publishing.
	Duplicate
	// InFlight means another process holds an unexpired claim; the caller
	// should answer with a retryable error so the sender tries again later.
	InFlight
)

// String returns the outcome's lowercase name.
func (o Outcome) String() string {
	switch o {
	case Claimed:
		return "claimed"
	case Duplicate:
		return "duplicate"
	case InFlight:
		return "in_flight"
	default:
		return fmt.Sprintf("Outcome(%d)", int(o))
	}
}

// Claim is the result of claiming a key.
type Claim struct {
	// Key is the claimed key: a webhook-id, or a JobKey.
	Key string
	// DocID is the record id, DocID(Key).
	DocID string
	// Outcome says what the caller should do.
	Outcome Outcome
	// Attempt counts the claims that won the record, 1 for the first one;
	// for Duplicate and InFlight it is the count stored in the record.
	Attempt int
	// Takeover is true when this claim replaced an expired one.
	Takeover bool
	// MessageID is the published message's id; set only for Duplicate.
	MessageID string

	// updateTime (Firestore) and version (Memory) identify the record as
	// this claim wrote it, for the conditional delete in Release.
	updateTime time.Time
	version    uint64
}

func (c Claim) held() error {
	if c.Outcome != Claimed {
		return fmt.Errorf("%w: outcome is %s", ErrNotClaimed, c.Outcome)
	}
	return nil
}

// JobKey returns the ledger key of a job's terminal event: "job " and the
// job's key. A job reaches a terminal state once, so the receiver claims its
// terminal events on the job, whichever webhook-id carried them, and the
// reconciler claims the same key. The space keeps it apart from every
// webhook-id, which is visible ASCII.
func JobKey(j event.JobRef) string { return "job " + j.Key() }

// DocID returns the record id for a key: "wh_" followed by the
// lowercase hex SHA-256 of the id. Webhook ids are sender-controlled, and
// Firestore rejects ids containing "/", ids "." and "..", ids matching
// __.*__ and ids over 1500 bytes; a fixed-length hash has none of these
// problems and still maps distinct ids to distinct records.
func DocID(key string) string {
	sum := sha256.Sum256([]byte(key))
	return docIDPrefix + hex.EncodeToString(sum[:])
}

// Options configures a ledger. Zero fields take the defaults.
type Options struct {
	// Collection is the Firestore collection holding the records.
	// Default DefaultCollection. Memory ignores it beyond validation.
	Collection string
	// TTL is how long a record is kept after its last write, stored in
	// ExpiryField. Default DefaultTTL; at least MinTTL.
	TTL time.Duration
	// Lease is how long a claim blocks other claimers before it may be taken
	// over. It must exceed the time the holder needs to publish. Default
	// DefaultLease.
	Lease time.Duration
	// Now returns the current time. Default time.Now; tests inject a clock.
	Now func() time.Time
}

// Validate reports what is wrong with o.
func (o Options) Validate() error {
	_, err := o.withDefaults()
	return err
}

// withDefaults validates o and fills in defaults.
func (o Options) withDefaults() (Options, error) {
	if o.Collection == "" {
		o.Collection = DefaultCollection
	}
	if o.TTL == 0 {
		o.TTL = DefaultTTL
	}
	if o.Lease == 0 {
		o.Lease = DefaultLease
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	switch {
	case o.Lease < 0:
		return o, fmt.Errorf("%w: lease %v must be positive", ErrInvalidOptions, o.Lease)
	case o.TTL < MinTTL:
		return o, fmt.Errorf("%w: TTL %v must be at least %v to outlive the sender's 24h retries", ErrInvalidOptions, o.TTL, MinTTL)
	case o.Lease >= o.TTL:
		return o, fmt.Errorf("%w: lease %v must be shorter than TTL %v", ErrInvalidOptions, o.Lease, o.TTL)
	case strings.Contains(o.Collection, "/"), o.Collection == ".", o.Collection == "..",
		len(o.Collection) > maxIDBytes,
		len(o.Collection) >= 4 && strings.HasPrefix(o.Collection, "__") && strings.HasSuffix(o.Collection, "__"):
		return o, fmt.Errorf("%w: collection %q is not a valid Firestore collection id", ErrInvalidOptions, o.Collection)
	}
	return o, nil
}
