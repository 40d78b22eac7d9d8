package receiver

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/lestrrat-go/jwx/v2/jwk"

	"github.com/geminihooks/geminihooks/internal/testenv"
	"github.com/geminihooks/geminihooks/pkg/event"
	"github.com/geminihooks/geminihooks/pkg/idempotency"
	"github.com/geminihooks/geminihooks/pkg/logging"
	"github.com/geminihooks/geminihooks/pkg/publish"
	"github.com/geminihooks/geminihooks/pkg/registry"
	"github.com/geminihooks/geminihooks/pkg/signature"
)

// testClock is a settable clock shared by the verifier, ledger and handler.
// A wall clock follows time.Now instead, for tests whose leases must end
// in real time (another process wrote them).
type testClock struct {
	mu   sync.Mutex
	now  time.Time
	wall bool
}

func (c *testClock) Now() time.Time {
	if c.wall {
		return time.Now()
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *testClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// testKey is one RSA key for the whole package: generating 2048-bit keys
// dominates the run time otherwise.
var testKey = sync.OnceValues(signature.GenerateRSAKey)

// harness is a receiver on in-memory backends with two signing secrets
// (a rotation in progress) and one JWT signing key.
type harness struct {
	t       testing.TB
	clock   *testClock
	secrets []signature.Secret
	raw     []string // the whsec_ strings, to check that logs never show them
	signer  *signature.JWTSigner
	keys    signature.KeySource
	ledger  Ledger
	pub     *publish.Memory
	mem     *idempotency.Memory
	jobs    *registry.Registry // in memory
	logs    *testenv.SyncBuffer
	handler *Handler
}

type harnessOptions struct {
	clock    *testClock          // default: 2026-05-04 12:00 UTC
	ledger   Ledger              // default: in-memory
	pub      Publisher           // default: h.pub
	keys     signature.KeySource // default: the signer's key
	audience string
	maxBody  int64
	capture  Capturer // default: none
	jobs     Jobs     // default: h.jobs
	// Step deadlines; zero takes the Options defaults.
	ledgerTimeout, publishTimeout time.Duration
}

func newHarness(t testing.TB, o harnessOptions) *harness {
	t.Helper()
	h := &harness{t: t, clock: o.clock, pub: &publish.Memory{}, logs: &testenv.SyncBuffer{}}
	if h.clock == nil {
		h.clock = &testClock{now: time.Date(2026, 5, 4, 12, 0, 0, 0, time.UTC)}
	}
	for i := 0; i < 2; i++ {
		raw, err := signature.GenerateSecret()
		if err != nil {
			t.Fatal(err)
		}
		s, err := signature.ParseSecret("test["+strconv.Itoa(i)+"]", raw)
		if err != nil {
			t.Fatal(err)
		}
		h.raw = append(h.raw, raw)
		h.secrets = append(h.secrets, s)
	}
	key, err := testKey()
	if err != nil {
		t.Fatal(err)
	}
	if h.signer, err = signature.NewJWTSigner("test-kid", key); err != nil {
		t.Fatal(err)
	}
	h.keys = o.keys
	if h.keys == nil {
		if h.keys, err = signature.NewStaticKeys(h.signer.PublicKey()); err != nil {
			t.Fatal(err)
		}
	}
	v, err := signature.NewVerifier(signature.Options{
		Secrets:  signature.StaticSecrets(h.secrets),
		Keys:     h.keys,
		Audience: o.audience,
		Now:      h.clock.Now,
	})
	if err != nil {
		t.Fatal(err)
	}
	if h.mem, err = idempotency.NewMemory(idempotency.Options{Now: h.clock.Now}); err != nil {
		t.Fatal(err)
	}
	h.ledger = o.ledger
	if h.ledger == nil {
		h.ledger = h.mem
	}
	var pub Publisher = h.pub
	if o.pub != nil {
		pub = o.pub
	}
	if h.jobs, err = registry.NewMemory(registry.Options{Now: h.clock.Now}); err != nil {
		t.Fatal(err)
	}
	var jobs Jobs = h.jobs
	if o.jobs != nil {
		jobs = o.jobs
	}
	h.handler, err = New(v, h.ledger, pub, jobs, logging.New(h.logs, slog.LevelDebug), Options{
		MaxBodyBytes: o.maxBody, Now: h.clock.Now, ProjectID: "test", Capture: o.capture,
		LedgerTimeout: o.ledgerTimeout, PublishTimeout: o.publishTimeout,
	})
	if err != nil {
		t.Fatal(err)
	}
	return h
}

// jobKey is the ledger key of the terminal events of the job kind/id.
func jobKey(kind event.Kind, id string) string {
	return idempotency.JobKey(event.JobRef{Kind: kind, ID: id})
}

// body returns a documented Gemini envelope.
func body(typ, id string) []byte {
	b, _ := json.Marshal(map[string]any{
		"type": typ, "version": "v1", "timestamp": "2026-05-04T11:59:58Z",
		"data": map[string]any{"id": id, "output_file_uri": "files/batch-out-1"},
	})
	return b
}

// hmacRequest builds a delivery signed like a project-level webhook with
// secret number i (or every secret when i < 0).
func (h *harness) hmacRequest(id string, ts time.Time, payload []byte, i int) *http.Request {
	r := httptest.NewRequest(http.MethodPost, "/", bytes.NewReader(payload))
	r.Header.Set("Content-Type", "application/json")
	r.Header.Set("webhook-id", id)
	r.Header.Set("webhook-timestamp", strconv.FormatInt(ts.Unix(), 10))
	var sigs []string
	for j, s := range h.secrets {
		if i < 0 || i == j {
			sigs = append(sigs, signature.SignHMAC(s, id, ts, payload))
		}
	}
	r.Header.Set("webhook-signature", strings.Join(sigs, " "))
	return r
}

// claims returns JWT claims carrying the event in payload, valid now.
func (h *harness) claims(payload []byte, extra map[string]any) map[string]any {
	c := map[string]any{}
	if payload != nil {
		if err := json.Unmarshal(payload, &c); err != nil {
			h.t.Fatal(err)
		}
	}
	now := h.clock.Now()
	c["iss"] = "https://generativelanguage.googleapis.com"
	c["iat"] = now.Unix()
	c["exp"] = now.Add(5 * time.Minute).Unix()
	for k, v := range extra {
		if v == nil {
			delete(c, k)
			continue
		}
		c[k] = v
	}
	return c
}

// jwtRequest builds a per-request delivery; id "" leaves out the
// webhook-id and webhook-timestamp headers.
func (h *harness) jwtRequest(id string, token string, payload []byte) *http.Request {
	r := httptest.NewRequest(http.MethodPost, "/", bytes.NewReader(payload))
	r.Header.Set("Content-Type", "application/json")
	if id != "" {
		r.Header.Set("webhook-id", id)
		r.Header.Set("webhook-timestamp", strconv.FormatInt(h.clock.Now().Unix(), 10))
	}
	r.Header.Set("webhook-signature", token)
	return r
}

func (h *harness) sign(claims map[string]any) string {
	tok, err := h.signer.Sign(claims)
	if err != nil {
		h.t.Fatal(err)
	}
	return tok
}

// unsignedToken builds a compact JWS with the given header, signed with
// HS256 under key (alg "HS256") or not at all (any other alg).
func unsignedToken(header, claims map[string]any, hsKey []byte) string {
	enc := func(v any) string { b, _ := json.Marshal(v); return base64.RawURLEncoding.EncodeToString(b) }
	input := enc(header) + "." + enc(claims)
	if header["alg"] != "HS256" {
		return input + "."
	}
	mac := hmac.New(sha256.New, hsKey)
	mac.Write([]byte(input))
	return input + "." + base64.RawURLEncoding.EncodeToString(mac.Sum(nil))
}

type response struct {
	Status int
	Header http.Header
	Body   map[string]any
	Raw    string
}

func (r response) errCode() string {
	e, _ := r.Body["error"].(map[string]any)
	code, _ := e["code"].(string)
	return code
}

func (h *harness) do(r *http.Request) response {
	h.t.Helper()
	w := httptest.NewRecorder()
	h.handler.ServeHTTP(w, r)
	return decodeResponse(h.t, w.Code, w.Header(), w.Body.Bytes())
}

func decodeResponse(t testing.TB, status int, header http.Header, raw []byte) response {
	t.Helper()
	if ct := header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type = %q, want application/json", ct)
	}
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatalf("response is not JSON: %v: %q", err, raw)
	}
	return response{Status: status, Header: header, Body: m, Raw: string(raw)}
}

// failingLedger fails every call, as Firestore does when it is unreachable.
type failingLedger struct{ err error }

func (f failingLedger) Claim(context.Context, string) (idempotency.Claim, error) {
	return idempotency.Claim{}, f.err
}
func (f failingLedger) MarkPublished(context.Context, idempotency.Claim, string) error { return f.err }
func (f failingLedger) Release(context.Context, idempotency.Claim) error               { return f.err }

// unavailableKeys fails like a JWKS host that cannot be reached.
type unavailableKeys struct{}

func (unavailableKeys) LookupKey(context.Context, string) (jwk.Key, error) {
	return nil, io.ErrUnexpectedEOF
}
