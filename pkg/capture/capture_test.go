package capture_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/geminihooks/geminihooks/internal/testenv"
	"github.com/geminihooks/geminihooks/pkg/blob"
	"github.com/geminihooks/geminihooks/pkg/capture"
	"github.com/geminihooks/geminihooks/pkg/signature"
)

const jwtToken = "eyJhbGciOiJSUzI1NiIsImtpZCI6ImsxIn0.eyJ0eXBlIjoiYmF0Y2guc3VjY2VlZGVkIn0.c2lnbmF0dXJl"

func hmacDelivery(id string) capture.Delivery {
	h := http.Header{}
	h.Set("Content-Type", "application/json")
	h.Set("Webhook-Id", id)
	h.Set("Webhook-Timestamp", "1769083200")
	h.Set("Webhook-Signature", "v1,K5oZfzN95Z9UVu1EsfQmfVNQhnkZ2pj9o9NDN/H/pI4=")
	return capture.Delivery{
		Header:   h,
		Body:     []byte(`{"type":"batch.succeeded","data":{"id":"batches/b1"}}`),
		Verified: &signature.Delivery{ID: id, Scheme: signature.SchemeHMAC, SecretLabel: "env[0]"},
		Verdict:  capture.Verdict{HTTPStatus: http.StatusOK, Status: "accepted"},
	}
}

func TestNewRecord(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 5, 4, 9, 30, 0, 0, time.FixedZone("x", 3600))
	jwtHeader := http.Header{}
	jwtHeader.Set("Webhook-Signature", jwtToken)
	jwtHeader.Set("X-Forwarded-Signature", "Bearer "+jwtToken)
	jwtHeader.Set("Authorization", "Bearer abc")
	jwtHeader.Set("X-Serverless-Authorization", "Bearer def")
	jwtHeader.Set("Cookie", "session=1")
	jwtHeader.Set("User-Agent", "Google-Webhooks")
	claims := map[string]any{"iss": "https://generativelanguage.googleapis.com", "type": "interaction.completed"}

	tests := []struct {
		name string
		in   capture.Delivery
		want capture.Record
	}{
		{
			name: "hmac_json_body",
			in:   hmacDelivery("msg_1"),
			want: capture.Record{
				CapturedAt: now.UTC(), WebhookID: "msg_1", Scheme: "hmac",
				Header: http.Header{"Content-Type": {"application/json"}, "Webhook-Id": {"msg_1"}, "Webhook-Timestamp": {"1769083200"}},
				Body:   []byte(`{"type":"batch.succeeded","data":{"id":"batches/b1"}}`), BodyBytes: 53,
				Verdict: capture.Verdict{HTTPStatus: 200, Status: "accepted"},
			},
		},
		{
			name: "jwt_claims_kept_token_and_credentials_dropped",
			in: capture.Delivery{
				Header:   jwtHeader,
				Verified: &signature.Delivery{Scheme: signature.SchemeJWT, KeyID: "k1", Claims: claims},
				Verdict:  capture.Verdict{HTTPStatus: 401, Code: "body_claims_mismatch"},
			},
			want: capture.Record{
				CapturedAt: now.UTC(), Scheme: "jwt", KeyID: "k1", Claims: claims,
				Header:  http.Header{"User-Agent": {"Google-Webhooks"}},
				Verdict: capture.Verdict{HTTPStatus: 401, Code: "body_claims_mismatch"},
			},
		},
		{
			name: "text_body",
			in:   capture.Delivery{Header: http.Header{}, Body: []byte("not json"), Verified: &signature.Delivery{Scheme: signature.SchemeHMAC}},
			want: capture.Record{CapturedAt: now.UTC(), Scheme: "hmac", Header: http.Header{}, BodyText: "not json", BodyBytes: 8},
		},
		{
			name: "binary_body",
			in:   capture.Delivery{Header: http.Header{}, Body: []byte{0xff, 0x00}, Verified: &signature.Delivery{Scheme: signature.SchemeHMAC}},
			want: capture.Record{CapturedAt: now.UTC(), Scheme: "hmac", Header: http.Header{}, BodyBase64: "/wA=", BodyBytes: 2},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got := capture.NewRecord(now, tt.in)
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("NewRecord() mismatch (-want +got):\n%s", diff)
			}
			raw, err := got.RawBody()
			if err != nil || !bytes.Equal(raw, tt.in.Body) {
				t.Errorf("RawBody() = %q, %v; want %q", raw, err, tt.in.Body)
			}
		})
	}
}

// countingStore counts the objects it created and can be made to fail.
type countingStore struct {
	*blob.Memory
	created atomic.Int64
	fail    atomic.Bool
	calls   atomic.Int64
}

func (s *countingStore) Create(ctx context.Context, name, contentType string, r io.Reader) (blob.Object, error) {
	s.calls.Add(1)
	if s.fail.Load() {
		return blob.Object{}, errors.New("storage unavailable")
	}
	obj, err := s.Memory.Create(ctx, name, contentType, r)
	if obj.Created {
		s.created.Add(1)
	}
	return obj, err
}

func (s *countingStore) Stat(ctx context.Context, name string) (blob.Object, error) {
	s.calls.Add(1)
	if s.fail.Load() {
		return blob.Object{}, errors.New("storage unavailable")
	}
	return s.Memory.Stat(ctx, name)
}

func newRecorder(t *testing.T, store capture.Store, limit int, logs io.Writer) *capture.Recorder {
	t.Helper()
	r, err := capture.NewRecorder(store, capture.Options{Limit: limit, Logger: slog.New(slog.NewTextHandler(logs, nil))})
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func readRecord(t *testing.T, store blob.Store, name string) *capture.Record {
	t.Helper()
	rc, err := store.Open(t.Context(), name)
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	b, err := io.ReadAll(rc)
	if err != nil {
		t.Fatal(err)
	}
	rec, err := capture.Decode(b)
	if err != nil {
		t.Fatal(err)
	}
	return rec
}

func TestRecorderWritesExactlyLimitAcrossInstances(t *testing.T) {
	t.Parallel()
	const limit = 7
	store := &countingStore{Memory: blob.NewMemory()}
	// Two recorders sharing one store are two receiver instances.
	instances := []*capture.Recorder{newRecorder(t, store, limit, io.Discard), newRecorder(t, store, limit, io.Discard)}
	var wg sync.WaitGroup
	for i := range 40 {
		wg.Go(func() {
			instances[i%2].Capture(t.Context(), hmacDelivery(fmt.Sprintf("msg_%02d", i)))
		})
	}
	wg.Wait()

	if got := store.created.Load(); got != limit {
		t.Fatalf("created %d captures, want %d", got, limit)
	}
	ids := map[string]bool{}
	for slot := 1; slot <= limit; slot++ {
		rec := readRecord(t, store, capture.SlotName(capture.Prefix, slot))
		if ids[rec.WebhookID] {
			t.Errorf("delivery %s captured twice", rec.WebhookID)
		}
		ids[rec.WebhookID] = true
	}
	if _, err := store.Stat(t.Context(), capture.SlotName(capture.Prefix, limit+1)); !errors.Is(err, blob.ErrNotExist) {
		t.Errorf("slot %d exists (err %v); the limit is %d", limit+1, err, limit)
	}
	for i, r := range instances {
		r.Capture(t.Context(), hmacDelivery("msg_late"))
		if !r.Done() {
			t.Errorf("instance %d is not done after every slot was taken", i)
		}
	}
}

func TestRecorderStopsAtOnceWhenCapturesAreComplete(t *testing.T) {
	t.Parallel()
	store := &countingStore{Memory: blob.NewMemory()}
	first := newRecorder(t, store, 3, io.Discard)
	for i := range 3 {
		first.Capture(t.Context(), hmacDelivery(fmt.Sprintf("msg_%d", i)))
	}
	store.calls.Store(0)
	// A new instance looks at the last slot only, then never again.
	later := newRecorder(t, store, 3, io.Discard)
	for range 5 {
		later.Capture(t.Context(), hmacDelivery("msg_x"))
	}
	if got := store.calls.Load(); got != 1 {
		t.Errorf("a new instance made %d store calls after the captures were complete, want 1", got)
	}
}

func TestRecorderStoreFailures(t *testing.T) {
	t.Parallel()
	store := &countingStore{Memory: blob.NewMemory()}
	logs := &testenv.SyncBuffer{}
	r := newRecorder(t, store, 5, logs)

	store.fail.Store(true)
	r.Capture(t.Context(), hmacDelivery("msg_a"))
	store.fail.Store(false)
	r.Capture(t.Context(), hmacDelivery("msg_b"))
	if rec := readRecord(t, store, capture.SlotName(capture.Prefix, 1)); rec.WebhookID != "msg_b" {
		t.Errorf("slot 1 holds %q, want the delivery after the failure (the failed slot is retried)", rec.WebhookID)
	}

	store.fail.Store(true)
	for range 10 {
		r.Capture(t.Context(), hmacDelivery("msg_c"))
	}
	if !r.Done() {
		t.Error("the recorder still tries after repeated failures")
	}
	if n := strings.Count(logs.String(), "could not be captured"); n != 1 {
		t.Errorf("the failure was logged %d times, want once:\n%s", n, logs)
	}
	if !strings.Contains(logs.String(), "capturing stopped") {
		t.Errorf("stopping was not logged:\n%s", logs)
	}
}

func TestNewRecorderChecksOptions(t *testing.T) {
	t.Parallel()
	logger := slog.New(slog.DiscardHandler)
	tests := []struct {
		name  string
		store capture.Store
		opts  capture.Options
	}{
		{name: "no_store", opts: capture.Options{Limit: 1, Logger: logger}},
		{name: "no_logger", store: blob.NewMemory(), opts: capture.Options{Limit: 1}},
		{name: "zero_limit", store: blob.NewMemory(), opts: capture.Options{Logger: logger}},
		{name: "limit_too_large", store: blob.NewMemory(), opts: capture.Options{Limit: capture.MaxLimit + 1, Logger: logger}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if _, err := capture.NewRecorder(tt.store, tt.opts); err == nil {
				t.Error("NewRecorder() succeeded, want an error")
			}
		})
	}
}
