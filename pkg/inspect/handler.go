package inspect

import (
	"bufio"
	"bytes"
	"context"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"path"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/geminihooks/geminihooks/pkg/config"
	"github.com/geminihooks/geminihooks/pkg/event"
	"github.com/geminihooks/geminihooks/pkg/materializer"
	"github.com/geminihooks/geminihooks/pkg/reconciler"
	"github.com/geminihooks/geminihooks/pkg/report"
)

// Actions are what the page's buttons do. The local stack (local.Stack)
// implements them; each returns a line saying what happened.
type Actions interface {
	// Replay sends body again under webhookID, freshly signed.
	Replay(ctx context.Context, webhookID string, body []byte) (string, error)
	// SendTest delivers a new job's webhook of eventType.
	SendTest(ctx context.Context, eventType string) (string, error)
	// ReconcileNow runs one reconcile pass.
	ReconcileNow(ctx context.Context) (reconciler.Summary, error)
}

// Bounds on what a job page reads from the data directory.
const (
	maxReport   = 1 << 20
	maxManifest = 256 << 10
	// resultsRows is how many lines of results.jsonl the page shows, each
	// cut to resultsCell characters.
	resultsRows = 10
	resultsCell = 240
	// actionTimeout bounds one action.
	actionTimeout = 30 * time.Second
)

// actionHeader must be on every POST: a page of another site can make a
// browser POST a form here but not set this header without a CORS
// preflight, which the inspector never allows.
const actionHeader = "X-Inspector"

//go:embed assets
var assets embed.FS

// templates are the page's templates, parsed once.
var templates = template.Must(template.New("").Funcs(template.FuncMap{
	"ms": func(d time.Duration) string {
		return strconv.FormatFloat(float64(d.Microseconds())/1000, 'f', 1, 64) + " ms"
	},
	"clock":    func(t time.Time) string { return t.Format("15:04:05.000") },
	"pretty":   prettyJSON,
	"jobLink":  func(resource string) string { return "/job?resource=" + url.QueryEscape(resource) },
	"fileLink": func(folder, name string) string { return "/files/" + escapePath(path.Join(folder, name)) },
	"safeURL":  safeURL,
	// short drops the types' common prefix, as the demo's table does.
	"short": func(s string) string { return strings.TrimPrefix(s, "dev.geminihooks.") },
	"rowOf": func(p page, d *Delivery) page { return page{Delivery: d, Actions: p.Actions} },
}).ParseFS(assets, "assets/*.html"))

// Options configures the inspector's handler.
type Options struct {
	// Log is what the page shows.
	Log *Log
	// DataDir is the directory holding the stored results.
	DataDir string
	// Actions run the page's buttons; nil hides them.
	Actions Actions
	// EventTypes are the types SendTest offers (default
	// event.SubscribableTypes()).
	EventTypes []string
	// Logger receives action failures.
	Logger *slog.Logger
}

// handler serves the inspector.
type handler struct {
	opts Options
	data fs.FS
}

// NewHandler returns the inspector's page, its live updates, the stored
// files and the actions, for loopback use only: requests naming another
// host are refused, so that a web page cannot reach it through DNS
// rebinding.
func NewHandler(opts Options) (http.Handler, error) {
	if opts.Log == nil || opts.Logger == nil || opts.DataDir == "" {
		return nil, errors.New("inspect: Options needs a Log, a Logger and a DataDir")
	}
	if opts.EventTypes == nil {
		opts.EventTypes = event.SubscribableTypes()
	}
	h := &handler{opts: opts, data: os.DirFS(opts.DataDir)}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", h.index)
	mux.HandleFunc("GET /deliveries/{seq}", h.delivery)
	mux.HandleFunc("GET /job", h.job)
	mux.HandleFunc("GET /events", h.events)
	mux.Handle("GET /files/", http.StripPrefix("/files/", sandboxed(http.FileServerFS(h.data))))
	mux.Handle("GET /assets/", http.FileServerFS(assets))
	mux.HandleFunc("POST /actions/replay", h.replay)
	mux.HandleFunc("POST /actions/send", h.send)
	mux.HandleFunc("POST /actions/reconcile", h.reconcile)
	return loopbackOnly(mux), nil
}

// page is what the templates get.
type page struct {
	Title      string
	Deliveries []*Delivery
	Delivery   *Delivery
	Jobs       []*Job
	Job        *Job
	Artifacts  *artifacts
	Actions    bool
	EventTypes []string
}

func (h *handler) index(w http.ResponseWriter, r *http.Request) {
	h.render(w, "index", page{Title: "geminihooks inspector", Deliveries: h.opts.Log.Deliveries(), Jobs: h.opts.Log.Jobs(),
		Actions: h.opts.Actions != nil, EventTypes: h.opts.EventTypes})
}

func (h *handler) delivery(w http.ResponseWriter, r *http.Request) {
	seq, err := strconv.ParseInt(r.PathValue("seq"), 10, 64)
	if err != nil {
		writeError(w, http.StatusBadRequest, "bad_delivery", "the delivery number is not a number")
		return
	}
	d, ok := h.opts.Log.Delivery(seq)
	if !ok {
		writeError(w, http.StatusNotFound, "delivery_gone", "no such delivery is kept")
		return
	}
	h.render(w, "delivery-page", page{Title: "delivery " + strconv.FormatInt(seq, 10), Delivery: d, Actions: h.opts.Actions != nil})
}

func (h *handler) job(w http.ResponseWriter, r *http.Request) {
	resource := r.URL.Query().Get("resource")
	j, ok := h.opts.Log.Job(resource)
	if !ok {
		writeError(w, http.StatusNotFound, "job_unknown", "the inspector has seen no job named "+strconv.Quote(resource))
		return
	}
	var a *artifacts
	if j.Folder != "" {
		a = readArtifacts(h.data, j.Folder)
	}
	h.render(w, "job-page", page{Title: j.Resource, Job: j, Artifacts: a})
}

// events streams each change as a server-sent event whose data is the
// changed row, rendered by the same template as the page.
func (h *handler) events(w http.ResponseWriter, r *http.Request) {
	changes, stop := h.opts.Log.Subscribe()
	defer stop()
	rc := http.NewResponseController(w)
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusOK)
	if _, err := io.WriteString(w, ": live\n\n"); err != nil || rc.Flush() != nil {
		return
	}
	for {
		select {
		case <-r.Context().Done():
			return
		case c := <-changes:
			name, data := "job", any(c.Job)
			if c.Delivery != nil {
				name, data = "delivery", page{Delivery: c.Delivery, Actions: h.opts.Actions != nil}
			}
			var buf bytes.Buffer
			if err := templates.ExecuteTemplate(&buf, name+"-row", data); err != nil {
				h.opts.Logger.Error("inspector template failed", slog.String("error", err.Error()))
				return
			}
			if writeEvent(w, name, buf.Bytes()) != nil || rc.Flush() != nil {
				return
			}
		}
	}
}

// writeEvent writes one server-sent event, a data line per line of data.
func writeEvent(w io.Writer, name string, data []byte) error {
	var b bytes.Buffer
	b.WriteString("event: " + name + "\n")
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(nil, len(data)+1)
	for sc.Scan() {
		b.WriteString("data: ")
		b.Write(sc.Bytes())
		b.WriteByte('\n')
	}
	b.WriteByte('\n')
	_, err := w.Write(b.Bytes())
	return err
}

func (h *handler) replay(w http.ResponseWriter, r *http.Request) {
	h.act(w, r, func(ctx context.Context) (string, error) {
		seq, err := strconv.ParseInt(r.FormValue("seq"), 10, 64)
		if err != nil {
			return "", badRequest("the delivery number is not a number")
		}
		d, ok := h.opts.Log.Delivery(seq)
		switch {
		case !ok:
			return "", badRequest("delivery %d is no longer kept", seq)
		case d.Truncated:
			return "", badRequest("delivery %d's body was cut to fit the inspector's memory; it cannot be replayed", seq)
		}
		return h.opts.Actions.Replay(ctx, d.WebhookID, d.Body)
	})
}

func (h *handler) send(w http.ResponseWriter, r *http.Request) {
	h.act(w, r, func(ctx context.Context) (string, error) {
		typ := r.FormValue("type")
		if !slices.Contains(h.opts.EventTypes, typ) {
			return "", badRequest("unknown event type %q", typ)
		}
		return h.opts.Actions.SendTest(ctx, typ)
	})
}

func (h *handler) reconcile(w http.ResponseWriter, r *http.Request) {
	h.act(w, r, func(ctx context.Context) (string, error) {
		sum, err := h.opts.Actions.ReconcileNow(ctx)
		if err != nil {
			return "", err
		}
		b, err := json.Marshal(sum)
		return "reconcile pass: " + string(b), err
	})
}

// act runs one action and answers {"message": …} or a JSON error.
func (h *handler) act(w http.ResponseWriter, r *http.Request, do func(context.Context) (string, error)) {
	if h.opts.Actions == nil {
		writeError(w, http.StatusNotFound, "no_actions", "this inspector has no actions")
		return
	}
	if r.Header.Get(actionHeader) == "" {
		writeError(w, http.StatusForbidden, "missing_header", "actions need the "+actionHeader+" header, which the page sends")
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), actionTimeout)
	defer cancel()
	msg, err := do(ctx)
	var bad *badRequestError
	switch {
	case errors.As(err, &bad):
		writeError(w, http.StatusBadRequest, "bad_action", bad.msg)
	case err != nil:
		h.opts.Logger.WarnContext(ctx, "inspector action failed", slog.String("path", r.URL.Path), slog.String("error", err.Error()))
		writeError(w, http.StatusBadGateway, "action_failed", err.Error())
	default:
		writeJSON(w, http.StatusOK, map[string]string{"message": msg})
	}
}

// badRequestError is an action refused for its input.
type badRequestError struct{ msg string }

func (e *badRequestError) Error() string { return e.msg }

func badRequest(format string, args ...any) error {
	return &badRequestError{msg: fmt.Sprintf(format, args...)}
}

// render executes a page template.
func (h *handler) render(w http.ResponseWriter, name string, p page) {
	var buf bytes.Buffer
	if err := templates.ExecuteTemplate(&buf, name, p); err != nil {
		h.opts.Logger.Error("inspector template failed", slog.String("template", name), slog.String("error", err.Error()))
		writeError(w, http.StatusInternalServerError, "internal", "the page could not be rendered")
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	_, _ = w.Write(buf.Bytes())
}

// contentPolicy lets pages load only the inspector's own script, styles
// and media: even markup that slipped through could run nothing.
const contentPolicy = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; media-src 'self'; connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'"

// loopbackOnly refuses requests for any host but a loopback one and sets
// the security headers.
func loopbackOnly(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		host, _, err := net.SplitHostPort(r.Host)
		if err != nil {
			host = r.Host
		}
		if !config.IsLoopback(host) {
			writeError(w, http.StatusForbidden, "not_loopback", "the inspector answers only requests for localhost")
			return
		}
		w.Header().Set("Content-Security-Policy", contentPolicy)
		w.Header().Set("X-Content-Type-Options", "nosniff")
		w.Header().Set("Referrer-Policy", "no-referrer")
		next.ServeHTTP(w, r)
	})
}

// sandboxed serves stored files so that none can run script in the
// inspector's origin, whatever its content: an HTML file a job stored is
// shown as text.
func sandboxed(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Security-Policy", "sandbox; default-src 'none'; media-src 'self'")
		if ext := path.Ext(r.URL.Path); ext != ".mp4" && ext != ".webm" && ext != ".png" && ext != ".jpg" {
			w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		}
		next.ServeHTTP(w, r)
	})
}

// writeError answers {"error":{"code","message"}}, as the receiver does.
func writeError(w http.ResponseWriter, status int, code, message string) {
	var body struct {
		Error struct {
			Code    string `json:"code"`
			Message string `json:"message"`
		} `json:"error"`
	}
	body.Error.Code, body.Error.Message = code, message
	writeJSON(w, status, body)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		status, b = http.StatusInternalServerError, []byte(`{"error":{"code":"internal","message":"response encoding failed"}}`)
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(b)
}

// artifacts is what a job's folder holds, read for its page.
type artifacts struct {
	Folder string
	Files  []string
	// Report is report.md rendered; Citations are citations.json's.
	Report    template.HTML
	Citations []report.Source
	// Results are the first lines of results.jsonl.
	Results []resultRow
	// Manifest is manifest.json, indented.
	Manifest string
	Videos   []string
	// Problems are files that could not be read or parsed.
	Problems []string
}

// resultRow is one line of results.jsonl.
type resultRow struct {
	Line       int
	Key, Value string
}

// readArtifacts reads the job's folder. What is missing is left out; what
// is unreadable is named in Problems.
func readArtifacts(data fs.FS, folder string) *artifacts {
	a := &artifacts{Folder: folder}
	entries, err := fs.ReadDir(data, folder)
	if err != nil {
		a.Problems = append(a.Problems, "the folder cannot be read: "+err.Error())
		return a
	}
	for _, e := range entries {
		name := e.Name()
		// _announced.json and the .meta.json sidecars are the pipeline's
		// own bookkeeping.
		if e.IsDir() || strings.HasPrefix(name, "_") || strings.HasPrefix(name, ".") {
			continue
		}
		a.Files = append(a.Files, name)
		switch p := path.Join(folder, name); {
		case name == materializer.ReportName:
			b, err := readBounded(data, p, maxReport)
			a.problem(name, err)
			a.Report = renderMarkdown(string(b))
		case name == materializer.CitationsName:
			b, err := readBounded(data, p, maxReport)
			if err == nil {
				err = json.Unmarshal(b, &a.Citations)
			}
			a.problem(name, err)
		case name == materializer.ManifestName:
			b, err := readBounded(data, p, maxManifest)
			a.problem(name, err)
			a.Manifest = prettyJSON(b)
		case name == materializer.ResultsName:
			rows, err := firstResults(data, p)
			a.problem(name, err)
			a.Results = rows
		case path.Ext(name) == ".mp4" || path.Ext(name) == ".webm":
			a.Videos = append(a.Videos, name)
		}
	}
	return a
}

func (a *artifacts) problem(name string, err error) {
	if err != nil {
		a.Problems = append(a.Problems, name+": "+err.Error())
	}
}

// readBounded reads at most limit bytes of the file.
func readBounded(data fs.FS, name string, limit int64) ([]byte, error) {
	f, err := data.Open(name)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return io.ReadAll(io.LimitReader(f, limit))
}

// firstResults reads the first lines of a results.jsonl file.
func firstResults(data fs.FS, name string) ([]resultRow, error) {
	f, err := data.Open(name)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 4<<20)
	var rows []resultRow
	for sc.Scan() && len(rows) < resultsRows {
		row := resultRow{Line: len(rows) + 1}
		var line map[string]json.RawMessage
		if json.Unmarshal(sc.Bytes(), &line) == nil {
			_ = json.Unmarshal(line["key"], &row.Key)
			delete(line, "key")
			b, _ := json.Marshal(line)
			row.Value = string(b)
		} else {
			row.Value = sc.Text()
		}
		if len(row.Value) > resultsCell {
			row.Value = strings.ToValidUTF8(row.Value[:resultsCell], "") + "…"
		}
		rows = append(rows, row)
	}
	return rows, sc.Err()
}

// prettyJSON indents b when it is JSON, else returns it as is.
func prettyJSON(b []byte) string {
	var out bytes.Buffer
	if json.Indent(&out, b, "", "  ") != nil {
		return string(b)
	}
	return out.String()
}

// escapePath escapes each segment of a slash-separated path for a URL.
func escapePath(p string) string {
	parts := strings.Split(p, "/")
	for i, s := range parts {
		parts[i] = url.PathEscape(s)
	}
	return strings.Join(parts, "/")
}
