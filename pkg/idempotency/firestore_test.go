package idempotency

import (
	"context"
	"errors"
	"testing"
	"time"

	"cloud.google.com/go/firestore"
	"google.golang.org/api/option"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/geminihooks/geminihooks/internal/testenv"
)

func TestFirestoreContract(t *testing.T) {
	t.Parallel()
	client := testenv.Firestore(t)
	runContract(t, func(t *testing.T, opts Options) harness {
		opts.Collection = testenv.UniqueName(t, "deliveries")
		f, err := NewFirestore(client, opts)
		if err != nil {
			t.Fatalf("NewFirestore: %v", err)
		}
		return harness{ledger: f, read: func(t *testing.T, docID string) (view, bool) {
			t.Helper()
			return readFirestore(t, client.Collection(opts.Collection).Doc(docID))
		}}
	})
}

// readFirestore reads a record field by field from the raw document data,
// failing the test when a field has the wrong Firestore type: a TTL policy
// ignores an expiry field that is not a timestamp.
func readFirestore(t *testing.T, ref *firestore.DocumentRef) (view, bool) {
	t.Helper()
	snap, err := ref.Get(t.Context())
	if status.Code(err) == codes.NotFound {
		return view{}, false
	}
	if err != nil {
		t.Fatalf("failed to read %s: %v", ref.Path, err)
	}
	data := snap.Data()
	v := view{
		Key:         field[string](t, data, "key"),
		State:       field[string](t, data, "state"),
		Lease:       field[time.Time](t, data, "lease_expires_at"),
		Attempts:    int(field[int64](t, data, "attempts")),
		CreatedAt:   field[time.Time](t, data, "created_at"),
		UpdatedAt:   field[time.Time](t, data, "updated_at"),
		ExpireAt:    field[time.Time](t, data, ExpiryField),
		PublishedAt: field[time.Time](t, data, "published_at"),
		MessageID:   field[string](t, data, "message_id"),
	}
	return v, true
}

// field returns data[name] as a T, or T's zero value if the field is absent.
func field[T any](t *testing.T, data map[string]any, name string) T {
	t.Helper()
	var zero T
	raw, ok := data[name]
	if !ok {
		return zero
	}
	v, ok := raw.(T)
	if !ok {
		t.Fatalf("field %s has Go type %T, want %T", name, raw, zero)
	}
	return v
}

func TestFirestoreExpiryFieldIsTimestamp(t *testing.T) {
	t.Parallel()
	client := testenv.Firestore(t)
	coll := testenv.UniqueName(t, "deliveries")
	now := time.Date(2026, 5, 6, 7, 8, 9, 0, time.UTC)
	f, err := NewFirestore(client, Options{Collection: coll, Now: func() time.Time { return now }})
	if err != nil {
		t.Fatalf("NewFirestore: %v", err)
	}
	if _, err := f.Claim(t.Context(), "ttl"); err != nil {
		t.Fatalf("Claim: %v", err)
	}
	snap, err := client.Collection(coll).Doc(DocID("ttl")).Get(t.Context())
	if err != nil {
		t.Fatalf("failed to read record: %v", err)
	}
	// The Go client decodes only Firestore timestampValue into time.Time.
	got, ok := snap.Data()[ExpiryField].(time.Time)
	if !ok {
		t.Fatalf("%s = %#v (%T), want a Firestore timestamp", ExpiryField, snap.Data()[ExpiryField], snap.Data()[ExpiryField])
	}
	if want := now.Add(DefaultTTL); !got.Equal(want) {
		t.Errorf("%s = %v, want now + default TTL = %v", ExpiryField, got, want)
	}
}

func TestNewFirestoreValidates(t *testing.T) {
	t.Parallel()
	if _, err := NewFirestore(nil, Options{}); err == nil {
		t.Error("NewFirestore(nil client) succeeded, want error")
	}
	// The client is never used, so it need not reach a server.
	client, err := firestore.NewClient(t.Context(), "geminihooks-test",
		option.WithoutAuthentication(), option.WithEndpoint("127.0.0.1:1"))
	if err != nil {
		t.Fatalf("firestore.NewClient: %v", err)
	}
	t.Cleanup(func() { _ = client.Close() })
	if _, err := NewFirestore(client, Options{TTL: time.Hour}); !errors.Is(err, ErrInvalidOptions) {
		t.Errorf("NewFirestore(TTL 1h) error = %v, want %v", err, ErrInvalidOptions)
	}
	if _, err := NewFirestore(client, Options{}); err != nil {
		t.Errorf("NewFirestore(defaults): %v", err)
	}
}

func TestFirestoreWrapsStoreErrors(t *testing.T) {
	t.Parallel()
	client := testenv.Firestore(t)
	f, err := NewFirestore(client, Options{Collection: testenv.UniqueName(t, "deliveries")})
	if err != nil {
		t.Fatalf("NewFirestore: %v", err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	_, err = f.Claim(ctx, "x")
	if status.Code(err) != codes.Canceled {
		t.Errorf("Claim with a cancelled context: error %v (code %v), want a wrapped %v", err, status.Code(err), codes.Canceled)
	}
}
