package inspect

import (
	"bufio"
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/geminihooks/geminihooks/pkg/event"
	"github.com/geminihooks/geminihooks/pkg/local"
	"github.com/geminihooks/geminihooks/pkg/reconciler"
	"github.com/geminihooks/geminihooks/pkg/signature"
)

// fakeActions is the in-memory Actions: it records what it was asked.
type fakeActions struct {
	mu        sync.Mutex
	replayed  []string // webhook-id + " " + body
	sent      []string
	reconcile int
}

var _ Actions = (*fakeActions)(nil)

func (f *fakeActions) Replay(_ context.Context, id string, body []byte) (string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.replayed = append(f.replayed, id+" "+string(body))
	return `200 {"status":"duplicate"}`, nil
}

func (f *fakeActions) SendTest(_ context.Context, typ string) (string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.sent = append(f.sent, typ)
	return typ + " sent", nil
}

func (f *fakeActions) ReconcileNow(context.Context) (reconciler.Summary, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.reconcile++
	return reconciler.Summary{Checked: 3}, nil
}

// receiverStub answers as the receiver does: accepted when the request
// carries a signature, else the receiver's error body.
var receiverStub = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
	_, _ = io.ReadAll(r.Body)
	w.Header().Set("Content-Type", "application/json")
	if r.Header.Get(signature.HeaderSignature) == "" {
		w.WriteHeader(http.StatusBadRequest)
		_, _ = io.WriteString(w, `{"error":{"code":"missing_webhook_signature","message":"webhook-signature header is missing or empty"}}`)
		return
	}
	_, _ = io.WriteString(w, `{"status":"accepted","webhook_id":"`+r.Header.Get(signature.HeaderID)+`"}`)
})

// deliver sends body through the log's recorder to the stub.
func deliver(t *testing.T, l *Log, id, sig, body string) {
	t.Helper()
	req := httptest.NewRequest(http.MethodPost, "/", strings.NewReader(body))
	req.Header.Set(signature.HeaderID, id)
	if sig != "" {
		req.Header.Set(signature.HeaderSignature, sig)
	}
	l.Wrap(receiverStub).ServeHTTP(httptest.NewRecorder(), req)
}

const notification = `{"type":"interaction.completed","version":"v1","timestamp":"2026-06-01T08:00:00Z","data":{"id":"v1_abc"}}`

func newTestHandler(t *testing.T, l *Log, dataDir string, a Actions) http.Handler {
	t.Helper()
	h, err := NewHandler(Options{Log: l, DataDir: dataDir, Actions: a, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	return h
}

func get(t *testing.T, h http.Handler, target string) (int, string) {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "http://127.0.0.1:4040"+target, nil))
	return rec.Code, rec.Body.String()
}

func TestLog_keepsTheLastDeliveriesWithoutSecrets(t *testing.T) {
	t.Parallel()
	l, err := NewLog(LogOptions{Keep: 2, MaxBody: 64})
	if err != nil {
		t.Fatal(err)
	}
	deliver(t, l, "msg_1", "v1,c2VjcmV0", notification)
	deliver(t, l, "msg_2", "", `{}`)
	deliver(t, l, "msg_3", "v1,c2VjcmV0", strings.Repeat("x", 100))

	got := l.Deliveries()
	if len(got) != 2 || got[0].WebhookID != "msg_3" || got[1].WebhookID != "msg_2" {
		t.Fatalf("kept %d deliveries, want msg_3 and msg_2 newest first", len(got))
	}
	if !got[0].Truncated || len(got[0].Body) != 64 {
		t.Errorf("a 100-byte body kept %d bytes (truncated %v), want 64, cut", len(got[0].Body), got[0].Truncated)
	}
	if got[1].Status != http.StatusBadRequest || got[1].Verdict != "missing_webhook_signature" || got[1].Message == "" {
		t.Errorf("rejected delivery: status %d verdict %q message %q", got[1].Status, got[1].Verdict, got[1].Message)
	}
	for _, d := range got {
		for _, h := range d.Headers {
			if strings.Contains(h.Value, "c2VjcmV0") {
				t.Errorf("header %s kept the signature", h.Name)
			}
		}
	}
	if got[0].Scheme != "hmac" || got[1].Scheme != "none" {
		t.Errorf("schemes %q, %q; want hmac, none", got[0].Scheme, got[1].Scheme)
	}
}

// fakeExplainer is the in-memory Explainer: it fails every delivery whose
// signature is not "v1,good", reporting the signature it saw.
type fakeExplainer struct{ saw []string }

var _ Explainer = (*fakeExplainer)(nil)

func (f *fakeExplainer) Explain(_ context.Context, h http.Header, _ []byte) signature.Report {
	f.saw = append(f.saw, h.Get(signature.HeaderSignature))
	rep := signature.Report{Scheme: signature.SchemeHMAC, Signatures: 1, SecretsTried: []string{"WEBHOOK_SIGNING_SECRETS[0]"}, Tolerance: 5 * time.Minute}
	if h.Get(signature.HeaderSignature) != "v1,good" {
		rep.Err = errors.New("signature_mismatch: none of 1 v1 signatures matched any of 1 signing secrets")
	}
	return rep
}

func TestLog_explainsRejectedDeliveriesOnly(t *testing.T) {
	t.Parallel()
	l, _ := NewLog(LogOptions{})
	ex := &fakeExplainer{}
	l.Explain(ex)
	deliver(t, l, "msg_ok", "v1,c2VjcmV0", notification)
	deliver(t, l, "msg_bad", "", notification)

	got := l.Deliveries()
	if got[1].Why != nil {
		t.Errorf("an accepted delivery was explained: %+v", got[1].Why)
	}
	why := got[0].Why
	if why == nil || !strings.HasPrefix(why.Err, "signature_mismatch") || len(why.SecretsTried) != 1 {
		t.Fatalf("the rejected delivery's explanation is %+v", why)
	}
	if len(ex.saw) != 1 {
		t.Errorf("the explainer ran %d times, want once", len(ex.saw))
	}
	_, body := get(t, newTestHandler(t, l, t.TempDir(), nil), "/deliveries/2")
	for _, want := range []string{"Signature check", "FAILED: signature_mismatch", "WEBHOOK_SIGNING_SECRETS[0]"} {
		if !strings.Contains(body, want) {
			t.Errorf("the delivery's page lacks %q", want)
		}
	}
}

func TestLog_jobTimeline(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 6, 1, 8, 0, 0, 0, time.UTC)
	l, err := NewLog(LogOptions{Now: func() time.Time { now = now.Add(10 * time.Millisecond); return now }})
	if err != nil {
		t.Fatal(err)
	}
	deliver(t, l, "msg_1", "v1,c2VjcmV0", notification)
	l.Published(&event.Event{Subject: "interactions/v1_abc", Type: "dev.geminihooks.gemini.interaction.completed"})
	published := now
	r := &event.Results{Subject: "interactions/v1_abc", Type: event.ResultsTypeStored}
	r.Data.Prefix = "gs://bucket/gemini/interaction/v1_abc/"
	l.Announced(r)
	// The materializer's steps arrive last (when its push ends), but took
	// place between the publish and the announcement.
	l.Materialized("interactions/v1_abc", []local.Step{
		{Name: local.StepFetched, At: published.Add(2 * time.Millisecond)},
		{Name: local.StepStored, Detail: "gemini/interaction/v1_abc/report.md", At: published.Add(5 * time.Millisecond)},
	})

	j, ok := l.Job("interactions/v1_abc")
	if !ok {
		t.Fatal("no job recorded")
	}
	var names []string
	for _, s := range j.Steps {
		if s.Name == "object stored" {
			s.Name += " " + s.Detail
		}
		names = append(names, s.Name)
	}
	if got, want := strings.Join(names, " → "), "webhook received → event published → job fetched → object stored report.md → results announced"; got != want {
		t.Errorf("timeline %q, want %q", got, want)
	}
	if j.Steps[3].Since != 3*time.Millisecond || j.Steps[4].Since != 5*time.Millisecond {
		t.Errorf("steps %+v: want each one's time since the one before", j.Steps)
	}
	if j.Steps[1].Since <= 0 || j.Folder != "gemini/interaction/v1_abc" || j.Outcome != event.ResultsTypeStored {
		t.Errorf("job %+v: want durations, the folder without the bucket and the outcome", j)
	}
}

// writeJob stores a job's artifacts under dir/folder.
func writeJob(t *testing.T, dir, folder string, files map[string]string) {
	t.Helper()
	p := filepath.Join(dir, filepath.FromSlash(folder))
	if err := os.MkdirAll(p, 0o755); err != nil {
		t.Fatal(err)
	}
	for name, content := range files {
		if err := os.WriteFile(filepath.Join(p, name), []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
	}
}

// announce records a job whose results are in folder.
func announce(l *Log, resource, folder string) {
	r := &event.Results{Subject: resource, Type: event.ResultsTypeStored}
	r.Data.Prefix = "gs://bucket/" + folder + "/"
	l.Announced(r)
}

func TestHandler_views(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	l, _ := NewLog(LogOptions{})
	deliver(t, l, "msg_ok", "v1,c2VjcmV0", notification)
	deliver(t, l, "msg_bad", "", notification)
	writeJob(t, dir, "gemini/interaction/v1_abc", map[string]string{
		"report.md":      "# Findings\n\nWebhooks are **at least once** [[1]](https://example.com/a).\n",
		"results.jsonl":  `{"key":"req-1","response":{"text":"hello"}}` + "\n" + `{"key":"req-2","error":{"code":3}}` + "\n",
		"manifest.json":  `{"kind":"interaction","objects":[]}`,
		"video-1.mp4":    "not really a video",
		"citations.json": `[{"n":1,"url":"https://example.com/a","title":"Example"}]`,
	})
	announce(l, "interactions/v1_abc", "gemini/interaction/v1_abc")
	h := newTestHandler(t, l, dir, &fakeActions{})

	tests := []struct {
		name       string
		target     string
		wantStatus int
		want       []string
	}{
		{name: "index lists deliveries, verdicts and jobs", target: "/", wantStatus: 200, want: []string{
			"msg_ok", "200 accepted", "msg_bad", "400 missing_webhook_signature", "interaction.completed",
			"/job?resource=interactions%2Fv1_abc", "results announced", "Send test event", "Run a reconcile pass",
		}},
		{name: "delivery shows redacted headers, the body and the answer", target: "/deliveries/2", wantStatus: 200, want: []string{
			"Webhook-Id", "msg_bad", "webhook-signature header is missing or empty", "&#34;interaction.completed&#34;",
		}},
		{name: "job shows timeline and artifacts", target: "/job?resource=interactions%2Fv1_abc", wantStatus: 200, want: []string{
			"results announced", "<h2>Findings</h2>", "<strong>at least once</strong>",
			`<a href="https://example.com/a" rel="noopener noreferrer nofollow">[1]</a>`,
			"req-1", "req-2", "&#34;kind&#34;: &#34;interaction&#34;",
			`<video controls preload="metadata" src="/files/gemini/interaction/v1_abc/video-1.mp4">`,
		}},
		{name: "stored file", target: "/files/gemini/interaction/v1_abc/manifest.json", wantStatus: 200, want: []string{`"kind":"interaction"`}},
		{name: "unknown delivery", target: "/deliveries/99", wantStatus: 404, want: []string{"delivery_gone"}},
		{name: "unknown job", target: "/job?resource=batches%2Fnone", wantStatus: 404, want: []string{"job_unknown"}},
		{name: "path outside the data directory", target: "/files/..%2F..%2F..%2Fetc%2Fpasswd", wantStatus: 404},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			status, body := get(t, h, tc.target)
			if status != tc.wantStatus {
				t.Fatalf("GET %s = %d, want %d: %s", tc.target, status, tc.wantStatus, body)
			}
			for _, w := range tc.want {
				if !strings.Contains(body, w) {
					t.Errorf("GET %s lacks %q", tc.target, w)
				}
			}
			if strings.Contains(body, "c2VjcmV0") {
				t.Errorf("GET %s shows the signature", tc.target)
			}
		})
	}
}

func TestHandler_refusesOtherHosts(t *testing.T) {
	t.Parallel()
	l, _ := NewLog(LogOptions{})
	h := newTestHandler(t, l, t.TempDir(), nil)
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "http://attacker.example:4040/", nil))
	if rec.Code != http.StatusForbidden {
		t.Errorf("a request for attacker.example = %d, want 403 (DNS rebinding)", rec.Code)
	}
	if _, body := get(t, h, "/"); strings.Contains(body, "Send test event") {
		t.Error("an inspector without actions shows the actions")
	}
}

func TestHandler_escapesHostileContent(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	l, _ := NewLog(LogOptions{})
	hostile := `{"type":"batch.succeeded","data":{"id":"batches/<script>alert(1)</script>"}}`
	deliver(t, l, `msg_<script>alert(2)</script>`, "v1,c2VjcmV0", hostile)
	writeJob(t, dir, "gemini/interaction/evil", map[string]string{
		"report.md": "---\ninteraction: \"<script>alert(3)</script>\"\n---\n\n# Title <script>alert(4)</script>\n\n" +
			"Model says <img src=x onerror=alert(5)> and [click](javascript:alert(6)) and [**x**<script>alert(7)</script>](https://ok.example/\"onmouseover=alert(8)).\n\n" +
			"- [<script>alert(9)</script>](https://example.com)\n\n```\n<script>alert(10)</script>\n```\n",
		"citations.json": `[{"n":1,"url":"javascript:alert(11)","title":"<script>alert(12)</script>"},{"n":2,"url":"https://e.example","title":"<img src=x onerror=alert(13)>"}]`,
		"results.jsonl":  `{"key":"<script>alert(14)</script>","response":"</td><script>alert(15)</script>"}` + "\n",
	})
	announce(l, "interactions/evil", "gemini/interaction/evil")
	h := newTestHandler(t, l, dir, &fakeActions{})

	for _, target := range []string{"/", "/deliveries/1", "/job?resource=interactions%2Fevil"} {
		t.Run(target, func(t *testing.T) {
			t.Parallel()
			status, body := get(t, h, target)
			if status != http.StatusOK {
				t.Fatalf("GET %s = %d", target, status)
			}
			if n := strings.Count(body, "<script"); n != 1 {
				t.Errorf("GET %s has %d script elements, want only the page's own", target, n)
			}
			for _, bad := range []string{"<img", `href="javascript:`, `"onmouseover`, ` onmouseover`, ` onerror=alert(5)>`} {
				if strings.Contains(body, bad) {
					i := strings.Index(body, bad)
					t.Errorf("GET %s renders %q unescaped: …%s…", target, bad, body[max(0, i-80):min(len(body), i+80)])
				}
			}
			if !strings.Contains(body, "&lt;script&gt;alert") {
				t.Errorf("GET %s does not show the hostile text escaped", target)
			}
		})
	}
	t.Run("stored files are sandboxed text", func(t *testing.T) {
		t.Parallel()
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "http://localhost/files/gemini/interaction/evil/report.md", nil))
		if ct, csp := rec.Header().Get("Content-Type"), rec.Header().Get("Content-Security-Policy"); !strings.HasPrefix(ct, "text/plain") || !strings.Contains(csp, "sandbox") {
			t.Errorf("report.md served as %q with policy %q, want sandboxed text/plain", ct, csp)
		}
	})
}

func TestHandler_actions(t *testing.T) {
	t.Parallel()
	l, _ := NewLog(LogOptions{MaxBody: 200})
	deliver(t, l, "msg_1", "v1,c2VjcmV0", notification)
	deliver(t, l, "msg_big", "v1,c2VjcmV0", strings.Repeat(" ", 300))
	actions := &fakeActions{}
	h := newTestHandler(t, l, t.TempDir(), actions)

	tests := []struct {
		name       string
		path, form string
		noHeader   bool
		wantStatus int
		want       string
	}{
		{name: "replay", path: "/actions/replay", form: "seq=1", wantStatus: 200, want: "duplicate"},
		{name: "replay of a cut body", path: "/actions/replay", form: "seq=2", wantStatus: 400, want: "cannot be replayed"},
		{name: "replay of an unknown delivery", path: "/actions/replay", form: "seq=9", wantStatus: 400, want: "no longer kept"},
		{name: "send", path: "/actions/send", form: "type=video.generated", wantStatus: 200, want: "video.generated sent"},
		{name: "send of an unknown type", path: "/actions/send", form: "type=batch.exploded", wantStatus: 400, want: "unknown event type"},
		{name: "reconcile", path: "/actions/reconcile", wantStatus: 200, want: `\"checked\":3`},
		{name: "without the page's header", path: "/actions/reconcile", noHeader: true, wantStatus: 403, want: "missing_header"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			req := httptest.NewRequest(http.MethodPost, "http://127.0.0.1/"+strings.TrimPrefix(tc.path, "/"), strings.NewReader(tc.form))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			if !tc.noHeader {
				req.Header.Set(actionHeader, "1")
			}
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			if rec.Code != tc.wantStatus || !strings.Contains(rec.Body.String(), tc.want) {
				t.Errorf("POST %s %s = %d %s; want %d with %q", tc.path, tc.form, rec.Code, rec.Body, tc.wantStatus, tc.want)
			}
		})
	}
	if len(actions.replayed) != 1 || actions.replayed[0] != "msg_1 "+notification {
		t.Errorf("replayed %q, want msg_1's webhook-id and whole body", actions.replayed)
	}
	if len(actions.sent) != 1 || actions.reconcile != 1 {
		t.Errorf("sent %v, reconciled %d times; want one each", actions.sent, actions.reconcile)
	}
}

func TestHandler_streamsChanges(t *testing.T) {
	t.Parallel()
	l, _ := NewLog(LogOptions{})
	srv := httptest.NewServer(newTestHandler(t, l, t.TempDir(), nil))
	defer srv.Close()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, srv.URL+"/events", nil)
	resp, err := srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if ct := resp.Header.Get("Content-Type"); ct != "text/event-stream" {
		t.Fatalf("Content-Type %q", ct)
	}
	sc := bufio.NewScanner(resp.Body)
	sc.Scan() // ": live": the subscription exists from here on
	deliver(t, l, "msg_live", "v1,c2VjcmV0", notification)

	var name string
	var data strings.Builder
	for sc.Scan() && (name == "" || sc.Text() != "") {
		line := sc.Text()
		if v, ok := strings.CutPrefix(line, "event: "); ok {
			name = v
		} else if v, ok := strings.CutPrefix(line, "data: "); ok {
			data.WriteString(v + "\n")
		}
	}
	if name != "delivery" || !strings.Contains(data.String(), `<tbody id="d-1"`) || !strings.Contains(data.String(), "msg_live") {
		t.Errorf("first event %q with data %q; want the delivery's row", name, data.String())
	}
}

func TestRenderMarkdown(t *testing.T) {
	t.Parallel()
	tests := []struct{ name, in, want string }{
		{name: "heading", in: "## Sources", want: "<h3>Sources</h3>\n"},
		{name: "paragraph with escapes", in: "a \\[3\\] \\<b\\>", want: "<p>a [3] &lt;b&gt;</p>\n"},
		{name: "nested link text", in: "[[1]](https://x.example/a_(b))", want: `<p><a href="https://x.example/a_(b" rel="noopener noreferrer nofollow">[1]</a>)</p>` + "\n"},
		{name: "non-http link stays text", in: "[memo](files/abc)", want: "<p>memo (files/abc)</p>\n"},
		{name: "ordered list", in: "1. one\n2. two", want: "<ol><li>one</li>\n<li>two</li>\n</ol>\n"},
		{name: "code", in: "`<x>`", want: "<p><code>&lt;x&gt;</code></p>\n"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			if got := string(renderMarkdown(tc.in)); got != tc.want {
				t.Errorf("renderMarkdown(%q) = %q, want %q", tc.in, got, tc.want)
			}
		})
	}
}
