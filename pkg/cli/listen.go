package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/geminihooks/geminihooks/pkg/receiver"
)

// listenMaxBody bounds what listen records of one body: past the receiver's
// largest limit, so that a body too large for the receiver is still seen.
const listenMaxBody = 2 * receiver.MaxBodyBytesLimit

// listenForwardTimeout bounds one forwarded delivery, like the deployed
// receiver's request timeout.
const listenForwardTimeout = 60 * time.Second

// Files listen writes per delivery, in the form verify reads.
const (
	listenHeadersExt = ".headers"
	listenBodyExt    = ".body"
)

var listenCmd = &Command{
	Name:  "listen",
	Usage: "listen [--addr HOST:PORT] [--dir DIR] [--forward URL] [flags]",
	Short: "receive deliveries, record each for verify, judge it as the receiver would, and optionally forward it",
	Long:  helpText("listen"),
	Run:   runListen,
}

// listenRecord is listen's --json output, one per delivery.
type listenRecord struct {
	Seq         int            `json:"seq"`
	ReceivedAt  time.Time      `json:"received_at"`
	Method      string         `json:"method"`
	Path        string         `json:"path"`
	BodyBytes   int            `json:"body_bytes"`
	HeadersFile string         `json:"headers_file"`
	BodyFile    string         `json:"body_file"`
	Verify      verifyReport   `json:"verify"`
	Forward     *listenForward `json:"forward,omitempty"`
	// Answer is what listen answered the sender.
	Answer int `json:"answer"`
}

// listenForward is what the --forward target answered.
type listenForward struct {
	URL      string          `json:"url"`
	Status   int             `json:"status,omitempty"`
	Body     json.RawMessage `json:"body,omitempty"`
	BodyText string          `json:"body_text,omitempty"`
	Error    string          `json:"error,omitempty"`
}

// listener records, judges and forwards deliveries.
type listener struct {
	env     *Env
	judge   *judge
	dir     string
	forward string
	asJSON  bool
	client  *http.Client

	mu   sync.Mutex // serializes numbering and printing
	next int
	// seen counts deliveries; done is closed once max were handled.
	seen int
	max  int
	done chan struct{}
}

func runListen(ctx context.Context, env *Env, c *Command, args []string) error {
	fs := newFlagSet(env, c)
	var o verifyOptions
	addr := fs.String("addr", "127.0.0.1:8787", "listen address (loopback by default; expose it with a tunnel)")
	dir := fs.String("dir", "geminihooks-deliveries", "`DIR` to record each delivery in, as NNNN.headers and NNNN.body")
	forward := fs.String("forward", "", "also POST each delivery to `URL` (the local runner or a deployed receiver) and answer with its answer")
	maxN := fs.Int("max", 0, "stop after `N` deliveries (0: until interrupted)")
	judgeFlags(fs, &o)
	fs.BoolVar(&o.json, "json", false, "print one JSON object per delivery")
	pos, err := parseFlags(env, c, fs, args)
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		return usageErrorf("unexpected arguments %q", pos)
	}
	if *maxN < 0 {
		return usageErrorf("--max must not be negative")
	}
	if *forward != "" {
		if err := checkURL(*forward); err != nil {
			return usageErrorf("--forward %q: %v", *forward, err)
		}
	}
	if err := os.MkdirAll(*dir, 0o755); err != nil {
		return fmt.Errorf("failed to create %s: %w", *dir, err)
	}
	next, err := nextDeliveryNumber(*dir)
	if err != nil {
		return err
	}
	j, err := newJudge(ctx, env, o)
	if err != nil {
		return err
	}
	client := *env.HTTP()
	client.Timeout = listenForwardTimeout
	client.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	l := &listener{env: env, judge: j, dir: *dir, forward: *forward, asJSON: o.json, client: &client,
		next: next, max: *maxN, done: make(chan struct{})}

	ln, err := (&net.ListenConfig{}).Listen(ctx, "tcp", *addr)
	if err != nil {
		return fmt.Errorf("failed to listen on %s: %w", *addr, err)
	}
	srv := &http.Server{Handler: l, ReadHeaderTimeout: 5 * time.Second, ReadTimeout: 30 * time.Second}
	target := "judging each as the receiver would"
	if *forward != "" {
		target = "forwarding to " + *forward
	}
	fmt.Fprintf(env.Stderr, "listening on http://%s/, recording to %s, %s; Ctrl-C to stop\n", ln.Addr(), *dir, target)
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return fmt.Errorf("failed to serve: %w", err)
	case <-ctx.Done():
	case <-l.done:
	}
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		return fmt.Errorf("failed to stop: %w", err)
	}
	return nil
}

// checkURL checks that raw is an absolute http(s) URL.
func checkURL(raw string) error {
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return errors.New("want an absolute http(s) URL such as http://127.0.0.1:8080/")
	}
	return nil
}

// deliveryFile matches the files listen records.
var deliveryFile = regexp.MustCompile(`^(\d{4,})\.(headers|body)$`)

// nextDeliveryNumber returns the number after the highest one recorded in
// dir, so that a second run adds to the first.
func nextDeliveryNumber(dir string) (int, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return 0, fmt.Errorf("failed to read %s: %w", dir, err)
	}
	highest := 0
	for _, e := range entries {
		if m := deliveryFile.FindStringSubmatch(e.Name()); m != nil {
			n, _ := strconv.Atoi(m[1])
			highest = max(highest, n)
		}
	}
	return highest + 1, nil
}

// ServeHTTP records, judges and (with --forward) forwards one delivery,
// then answers the sender: the forward target's answer, or, without
// --forward, the receiver's refusal for a delivery it would refuse and
// 503 for one it would take, so that nothing counts as delivered that was
// not.
func (l *listener) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	received := time.Now().UTC()
	body, err := io.ReadAll(io.LimitReader(r.Body, listenMaxBody))
	if err != nil {
		writeListenError(w, http.StatusBadRequest, "body_unreadable", "request body could not be read")
		return
	}
	l.mu.Lock()
	seq := l.next
	l.next++
	l.mu.Unlock()

	rec := listenRecord{Seq: seq, ReceivedAt: received, Method: r.Method, Path: r.URL.RequestURI(), BodyBytes: len(body)}
	saveErr := l.save(seq, r, body, &rec)
	if r.Method == http.MethodPost {
		rec.Verify, _ = l.judge.judge(r.Context(), r.Header, body)
	} else {
		rec.Verify = verifyReport{HTTPStatus: http.StatusMethodNotAllowed, Code: "method_not_allowed", Answer: "method_not_allowed", Error: "only POST is accepted"}
	}

	var answer func()
	switch {
	case l.forward != "":
		fwd, status, header, fbody := l.forwardTo(r, body)
		rec.Forward = fwd
		if fwd.Error != "" {
			rec.Answer = http.StatusBadGateway
			answer = func() {
				writeListenError(w, http.StatusBadGateway, "forward_failed", "the delivery could not be forwarded; retry later")
			}
			break
		}
		rec.Answer = status
		answer = func() {
			for _, k := range []string{"Content-Type", "Retry-After", "Allow"} {
				if v := header.Get(k); v != "" {
					w.Header().Set(k, v)
				}
			}
			w.WriteHeader(status)
			_, _ = w.Write(fbody)
		}
	case rec.Verify.Code != "":
		rec.Answer = rec.Verify.HTTPStatus
		answer = func() { writeListenError(w, rec.Verify.HTTPStatus, rec.Verify.Code, rec.Verify.Error) }
	default:
		// Nothing was published: a sender that took a 2xx would never
		// deliver this event again.
		rec.Answer = http.StatusServiceUnavailable
		answer = func() {
			w.Header().Set("Retry-After", "30")
			writeListenError(w, http.StatusServiceUnavailable, "not_forwarded",
				"recorded by geminihooks listen without --forward; nothing was published, retry later")
		}
	}
	l.report(rec, saveErr)
	answer()
}

// save writes the delivery as NNNN.headers (the request line and headers,
// as curl -D shows them) and NNNN.body (the exact bytes).
func (l *listener) save(seq int, r *http.Request, body []byte, rec *listenRecord) error {
	name := fmt.Sprintf("%04d", seq)
	rec.HeadersFile = filepath.Join(l.dir, name+listenHeadersExt)
	rec.BodyFile = filepath.Join(l.dir, name+listenBodyExt)
	var sb strings.Builder
	fmt.Fprintf(&sb, "%s %s %s\n", r.Method, r.URL.RequestURI(), r.Proto)
	fmt.Fprintf(&sb, "Host: %s\n", r.Host)
	for _, k := range slices.Sorted(func(yield func(string) bool) {
		for k := range r.Header {
			if !yield(k) {
				return
			}
		}
	}) {
		for _, v := range r.Header[k] {
			fmt.Fprintf(&sb, "%s: %s\n", k, v)
		}
	}
	if err := writeNew(rec.HeadersFile, []byte(sb.String()), 0o600, false); err != nil {
		return err
	}
	return writeNew(rec.BodyFile, body, 0o600, false)
}

// hopHeaders are not passed on: they describe the connection to listen.
var hopHeaders = []string{"Connection", "Keep-Alive", "Proxy-Connection", "Te", "Trailer", "Transfer-Encoding", "Upgrade", "Content-Length"}

// forwardTo POSTs the delivery, headers and body unchanged, to --forward.
func (l *listener) forwardTo(r *http.Request, body []byte) (*listenForward, int, http.Header, []byte) {
	fwd := &listenForward{URL: l.forward}
	req, err := http.NewRequestWithContext(context.WithoutCancel(r.Context()), r.Method, l.forward, bytes.NewReader(body))
	if err != nil {
		fwd.Error = err.Error()
		return fwd, 0, nil, nil
	}
	req.Header = r.Header.Clone()
	for _, h := range hopHeaders {
		req.Header.Del(h)
	}
	resp, err := l.client.Do(req)
	if err != nil {
		fwd.Error = err.Error()
		return fwd, 0, nil, nil
	}
	defer resp.Body.Close()
	answer, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		fwd.Error = "failed to read the answer: " + err.Error()
		return fwd, 0, nil, nil
	}
	fwd.Status = resp.StatusCode
	if trimmed := bytes.TrimSpace(answer); len(trimmed) > 0 && json.Valid(trimmed) {
		fwd.Body = trimmed
	} else {
		fwd.BodyText = string(answer)
	}
	return fwd, resp.StatusCode, resp.Header, answer
}

// report prints one delivery and counts it toward --max.
func (l *listener) report(rec listenRecord, saveErr error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	w := l.env.Stdout
	if saveErr != nil {
		fmt.Fprintf(l.env.Stderr, "warning: delivery %04d not recorded: %v\n", rec.Seq, saveErr)
		rec.HeadersFile, rec.BodyFile = "", ""
	}
	if l.asJSON {
		b, err := json.Marshal(rec)
		if err == nil {
			fmt.Fprintf(w, "%s\n", b)
		}
	} else {
		printListenRecord(w, rec)
	}
	l.seen++
	if l.max > 0 && l.seen == l.max {
		close(l.done)
	}
}

func printListenRecord(w io.Writer, rec listenRecord) {
	v := rec.Verify
	what := strings.TrimSpace(v.EventType + " " + v.Resource)
	if what == "" {
		what = fmt.Sprintf("%d bytes", rec.BodyBytes)
	}
	fmt.Fprintf(w, "%04d  %s  %s %s  %s  webhook-id %q\n", rec.Seq, rec.ReceivedAt.Format(time.RFC3339), rec.Method, rec.Path, what, v.WebhookID)
	t := newTable(w)
	verdict := fmt.Sprintf("%d %s", v.HTTPStatus, v.Answer)
	if v.Code != "" {
		verdict += ": " + v.Error
	}
	t.row("", "verify", verdict)
	if v.Hint != "" {
		t.row("", "why", v.Hint)
	}
	if f := rec.Forward; f != nil {
		switch {
		case f.Error != "":
			t.row("", "forward", fmt.Sprintf("%s  FAILED: %s", f.URL, f.Error))
		case f.Body != nil:
			t.row("", "forward", fmt.Sprintf("%s  %d %s", f.URL, f.Status, f.Body))
		default:
			t.row("", "forward", fmt.Sprintf("%s  %d %s", f.URL, f.Status, truncate(strings.TrimSpace(f.BodyText), 200)))
		}
	}
	t.row("", "answered", strconv.Itoa(rec.Answer))
	if rec.HeadersFile != "" {
		t.row("", "recorded", fmt.Sprintf("geminihooks verify --headers %s --body %s", rec.HeadersFile, rec.BodyFile))
	}
	t.flush()
}

// writeListenError answers in the receiver's error format.
func writeListenError(w http.ResponseWriter, status int, code, message string) {
	var body struct {
		Error struct {
			Code    string `json:"code"`
			Message string `json:"message"`
		} `json:"error"`
	}
	body.Error.Code, body.Error.Message = code, message
	b, _ := json.Marshal(body)
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(append(b, '\n'))
}
