package event_test

import (
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/geminihooks/geminihooks/pkg/capture"
	"github.com/geminihooks/geminihooks/pkg/event"
)

// TestCapturedDeliveries replays every capture in testdata/captures (see
// its README) through the parser the receiver uses, and checks that the
// parser still reaches the verdict the receiver gave: real deliveries pin
// what Gemini leaves undocumented.
func TestCapturedDeliveries(t *testing.T) {
	t.Parallel()
	files, err := filepath.Glob(filepath.Join("testdata", "captures", "*.json"))
	if err != nil {
		t.Fatal(err)
	}
	if len(files) == 0 {
		t.Fatal("no captures in testdata/captures; the check would pass vacuously")
	}
	for _, file := range files {
		t.Run(strings.TrimSuffix(filepath.Base(file), ".json"), func(t *testing.T) {
			t.Parallel()
			data, err := os.ReadFile(file)
			if err != nil {
				t.Fatal(err)
			}
			rec, err := capture.Decode(data)
			if err != nil {
				t.Fatal(err)
			}
			checkCapture(t, rec)
		})
	}
}

func checkCapture(t *testing.T, rec *capture.Record) {
	t.Helper()
	body, err := rec.RawBody()
	if err != nil {
		t.Fatal(err)
	}
	if len(body) != rec.BodyBytes && rec.Body == nil {
		t.Errorf("body is %d bytes, the capture says %d", len(body), rec.BodyBytes)
	}
	var claims map[string]any
	if rec.Scheme == event.SchemeJWT {
		claims = rec.Claims
	}
	n, err := event.FromDelivery(body, claims)

	v := rec.Verdict
	if v.HTTPStatus == http.StatusBadRequest || v.HTTPStatus == http.StatusUnauthorized {
		// After verification the receiver refuses only what the parser
		// refuses, body_claims_mismatch included.
		var ee *event.Error
		if !errors.As(err, &ee) || ee.Code != v.Code {
			t.Fatalf("the receiver answered %d %s, but the parser says %v", v.HTTPStatus, v.Code, err)
		}
		return
	}
	if err != nil {
		t.Fatalf("the receiver answered %d %s%s, but the parser refuses the delivery: %v", v.HTTPStatus, v.Status, v.Code, err)
	}
	if n.IsPing() != (v.Status == "ignored") {
		t.Fatalf("ping = %v (type %q), but the receiver answered %d %s", n.IsPing(), n.Type, v.HTTPStatus, v.Status)
	}
	if n.IsPing() {
		return
	}
	id := rec.WebhookID
	if id == "" {
		id = event.DerivedID(n)
	}
	ev, err := event.Normalize(n, event.Meta{WebhookID: id, Scheme: rec.Scheme, ReceivedAt: rec.CapturedAt})
	if err != nil {
		t.Fatalf("Normalize() error = %v", err)
	}
	d := ev.Data
	if d.GeminiEventType != n.Type {
		t.Errorf("gemini_event_type %q, want the delivery's %q", d.GeminiEventType, n.Type)
	}
	var resourceOK bool
	switch d.Kind {
	case event.KindBatch:
		resourceOK = strings.HasPrefix(d.Resource, "batches/")
	case event.KindInteraction:
		resourceOK = strings.HasPrefix(d.Resource, "interactions/")
	case event.KindVideo:
		resourceOK = strings.HasPrefix(d.Resource, "operations/") || strings.Contains(d.Resource, "/operations/")
	default:
		resourceOK = true // unknown events keep the id as sent
	}
	if !resourceOK || (d.Kind != event.KindUnknown && ev.Subject != d.Resource) {
		t.Errorf("kind %s with resource %q (subject %q): they do not agree", d.Kind, d.Resource, ev.Subject)
	}
}
