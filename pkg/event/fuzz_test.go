package event

import (
	"errors"
	"testing"
	"time"
)

// FuzzNormalize checks that any body either fails to parse with an *Error or
// becomes an event that marshals within maxEventBytes and MaxDepth+1 levels,
// matches the schema, decodes back to the same JSON and yields attributes
// Pub/Sub accepts. Seeds are the test tables plus
// testdata/fuzz/FuzzNormalize.
func FuzzNormalize(f *testing.F) {
	for _, tc := range exampleCases {
		f.Add([]byte(tc.body), false)
	}
	for _, tc := range variantBodies {
		f.Add([]byte(tc.body), true)
	}
	sch := compileSchema(f)
	receivedAt := time.Date(2026, 1, 22, 12, 0, 1, 0, time.UTC)

	f.Fuzz(func(t *testing.T, body []byte, jwt bool) {
		n, err := Parse(body)
		if err != nil {
			var perr *Error
			if !errors.As(err, &perr) || perr.Code == "" || perr.Message == "" {
				t.Fatalf("Parse() error = %#v, want *Error with code and message", err)
			}
			return
		}
		meta := Meta{WebhookID: "msg_fuzz", Scheme: SchemeHMAC, ReceivedAt: receivedAt}
		if jwt {
			meta = Meta{Scheme: SchemeJWT, ReceivedAt: receivedAt} // exercises DerivedID
		}
		e, err := Normalize(n, meta)
		if n.IsPing() {
			if !errors.Is(err, ErrPing) {
				t.Fatalf("Normalize(ping) error = %v, want ErrPing", err)
			}
			return
		}
		if err != nil {
			t.Fatalf("Normalize() rejected a parsed notification: %v", err)
		}
		b, err := e.MarshalJSON()
		if err != nil {
			t.Fatalf("MarshalJSON() error = %v", err)
		}
		if len(b) > maxEventBytes(len(body)) {
			t.Fatalf("event is %d bytes from a %d-byte body, want at most %d", len(b), len(body), maxEventBytes(len(body)))
		}
		if nestedDeeper(b, MaxDepth+1) {
			t.Fatalf("event nests deeper than %d levels", MaxDepth+1)
		}
		if err := validateJSON(t, sch, b); err != nil {
			t.Fatalf("event does not match the schema: %v\nevent: %s", err, b)
		}
		d, err := Decode(b)
		if err != nil {
			t.Fatalf("Decode() error = %v\nevent: %s", err, b)
		}
		b2, err := d.MarshalJSON()
		if err != nil {
			t.Fatalf("Decode().MarshalJSON() error = %v", err)
		}
		if string(b2) != string(b) {
			t.Fatalf("Decode() round trip changed the event:\n got %s\nwant %s", b2, b)
		}
		checkPubSubLimits(t, e.Attributes())
		if e.OrderingKey() != e.Subject {
			t.Fatalf("OrderingKey() = %q, subject %q", e.OrderingKey(), e.Subject)
		}
	})
}
