package geminisim

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/subtle"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"
)

// DefaultAddr is where Start listens unless Options.Addr says otherwise.
const DefaultAddr = "127.0.0.1:0"

// StateStyle selects how batch states are spelled on the wire.
//
// The sources disagree: the API reference's BatchState enum (and what the
// service is reported to return) uses BATCH_STATE_*, which the Go SDK maps to
// its JobState values; the Batch guide's REST sample compares
// metadata.state with JOB_STATE_*. A client of the raw REST API should
// accept both, and tests can check that it does.
type StateStyle int

const (
	// StateStyleAPI spells states BATCH_STATE_SUCCEEDED etc. (the default).
	StateStyleAPI StateStyle = iota
	// StateStyleGuide spells states JOB_STATE_SUCCEEDED etc.
	StateStyleGuide
)

// Options configures a Server.
type Options struct {
	// APIKey is the key that every Gemini route requires, in the
	// x-goog-api-key header or the key query parameter (not both on the
	// interactions route). Required.
	APIKey string
	// BaseURL is the simulator's external URL, used in the URIs it hands
	// out (video download links). Empty means the scheme and Host of each
	// request, which is right for httptest and Start.
	BaseURL string
	// Addr is where Start listens. Empty means DefaultAddr (loopback, a free
	// port).
	Addr string
	// DownloadURL is the external URL of the download host, where file
	// downloads redirect to (see DownloadHandler). Empty means Start serves
	// it on a second listener, DownloadAddr; a Server mounted elsewhere
	// without a DownloadURL answers downloads with 500.
	DownloadURL string
	// DownloadAddr is where Start serves the download host when DownloadURL
	// is empty. Empty means DefaultAddr.
	DownloadAddr string
	// StateStyle spells batch states; the default is StateStyleAPI.
	StateStyle StateStyle
	// BareEventIDs makes notifications carry bare job ids ("abc123")
	// instead of resource names ("batches/abc123",
	// "models/veo-3.0-generate-001/operations/abc123"). The guide's only
	// example ("batch_123456") fits neither, so receivers must accept both.
	// Interaction ids are bare either way.
	BareEventIDs bool
	// SigningKey is the first RS256 key of the JWT signer that signs
	// per-request webhooks. Nil generates one (2048 bits). Reusing a key
	// across tests saves the generation time.
	SigningKey *rsa.PrivateKey
	// RetryAfter is announced on injected 429 responses (rounded up to whole
	// seconds). Zero means "0": retry immediately.
	RetryAfter time.Duration
	// Now returns the current time, for resource timestamps. Default
	// time.Now.
	Now func() time.Time
	// CompleteAfter makes the jobs created over REST (batchGenerateContent,
	// interactions with background, predictLongRunning) finish on their own
	// this long after their creation, as real jobs do: batches succeed with
	// one answer per input request, interactions complete with the built-in
	// report, videos are generated. Zero leaves them pending until a Go
	// method (CompleteBatch, FailInteraction, ...) moves them.
	CompleteAfter time.Duration
	// Retry is the redelivery schedule of the notifications the simulator
	// delivers itself (see Server.Deliveries); zero fields take RetryPolicy's
	// defaults, a day of retries. Tests shrink it with TimeScale.
	Retry RetryPolicy
	// DisableAfterFailures makes a registered webhook
	// disabled_due_to_failed_deliveries after this many consecutive failed
	// deliveries (a delivery fails once its retries run out); a delivered
	// one resets the count. Undocumented: Gemini's threshold, and whether it
	// counts deliveries or attempts. Zero never disables a webhook.
	DisableAfterFailures int
	// DeliveryClient sends the simulator's deliveries. Nil means a client
	// with a 10-second timeout (the guide asks endpoints to answer "within a
	// few seconds").
	DeliveryClient *http.Client
}

// Server is a simulated Gemini Developer API. It is an http.Handler: mount
// it on an httptest.Server, or call Start to serve it on a loopback port.
// All methods are safe for concurrent use.
type Server struct {
	apiKey       string
	baseURL      string
	addr         string
	downloadURL  string
	downloadAddr string
	urlKey       []byte // signs download URLs
	style        StateStyle
	bareIDs      bool
	retryAfter   time.Duration
	now          func() time.Time

	mux    *http.ServeMux
	keys   *keyring
	faults *faults

	mu           sync.Mutex
	batches      map[string]*batch         // by bare id
	batchSeq     uint64                    // creation counter; orders the batch listing
	interactions map[string]*interaction   // by id
	videos       map[string]*video         // by operation id
	files        map[string]fileEntry      // by bare file id
	uploads      map[string]*uploadSession // resumable uploads in progress, by upload id

	webhooks webhookStore // the WebhookService's webhooks; own lock

	completeAfter time.Duration
	notifier      notifier // the simulator's own deliveries; own lock

	srvMu   sync.Mutex
	httpSrv *http.Server
	url     string
	dlSrv   *http.Server // the download host, when Start serves it
	dlURL   string
}

var _ http.Handler = (*Server)(nil)

// New validates opts and returns a Server with no jobs.
func New(opts Options) (*Server, error) {
	if opts.APIKey == "" {
		return nil, fmt.Errorf("%w: Options.APIKey is required", ErrInvalidSpec)
	}
	if opts.StateStyle != StateStyleAPI && opts.StateStyle != StateStyleGuide {
		return nil, fmt.Errorf("%w: unknown StateStyle %d", ErrInvalidSpec, opts.StateStyle)
	}
	if opts.RetryAfter < 0 {
		return nil, fmt.Errorf("%w: Options.RetryAfter is negative", ErrInvalidSpec)
	}
	if opts.CompleteAfter < 0 || opts.DisableAfterFailures < 0 {
		return nil, fmt.Errorf("%w: Options.CompleteAfter and Options.DisableAfterFailures must not be negative", ErrInvalidSpec)
	}
	keys, err := newKeyring(opts.SigningKey)
	if err != nil {
		return nil, err
	}
	s := &Server{
		apiKey:        opts.APIKey,
		baseURL:       strings.TrimSuffix(opts.BaseURL, "/"),
		addr:          opts.Addr,
		downloadURL:   strings.TrimSuffix(opts.DownloadURL, "/"),
		downloadAddr:  opts.DownloadAddr,
		urlKey:        []byte(rand.Text()),
		style:         opts.StateStyle,
		bareIDs:       opts.BareEventIDs,
		retryAfter:    opts.RetryAfter,
		now:           opts.Now,
		keys:          keys,
		faults:        newFaults(),
		batches:       make(map[string]*batch),
		interactions:  make(map[string]*interaction),
		videos:        make(map[string]*video),
		files:         make(map[string]fileEntry),
		uploads:       make(map[string]*uploadSession),
		completeAfter: opts.CompleteAfter,
	}
	if s.addr == "" {
		s.addr = DefaultAddr
	}
	if s.downloadAddr == "" {
		s.downloadAddr = DefaultAddr
	}
	if s.now == nil {
		s.now = time.Now
	}
	if err := s.notifier.init(s, opts); err != nil {
		return nil, err
	}
	s.mux = s.routes()
	return s, nil
}

// routes builds the request router. Resource names contain a colon verb
// (files/abc:download, models/m:batchGenerateContent), which ServeMux
// wildcards cannot split, so those handlers parse the last segment
// themselves.
func (s *Server) routes() *http.ServeMux {
	mux := http.NewServeMux()
	mux.Handle("/v1beta/batches", s.handle(RouteBatchesList, true, s.listBatches))
	mux.Handle("/v1beta/batches/{id}", s.handle(RouteBatches, true, s.getBatch))
	mux.Handle("/v1beta/files/{name}", s.filesHandler())
	mux.Handle("/upload/v1beta/files", s.dispatch(s.pickUpload))
	mux.Handle("/download/v1beta/files/{name}", s.handle(RouteDownload, true, s.download))
	mux.Handle("/v1beta/interactions", s.dispatch(func(r *http.Request) routeHandler {
		if r.Method != http.MethodPost {
			return routeHandler{route: RouteInteractionsCreate}
		}
		return routeHandler{route: RouteInteractionsCreate, auth: true, h: s.createInteraction}
	}))
	mux.Handle("/v1beta/interactions/{id}", s.handle(RouteInteractions, true, s.getInteraction))
	mux.Handle("/v1beta/models/{model}", s.dispatch(s.pickModelMethod))
	// Operations are served under their model only. Undocumented: any
	// /v1beta/operations/{op} for the Gemini API's video operations, so the
	// simulator, like the real API as documented, serves none.
	mux.Handle("/v1beta/models/{model}/operations/{op}", s.handle(RouteOperations, true, s.getOperation))
	mux.Handle("/.well-known/jwks.json", s.handle(RouteJWKS, false, s.getJWKS))
	s.webhookRoutes(mux)
	mux.Handle("/", s.handle(RouteUnknown, false, func(w http.ResponseWriter, _ *http.Request) {
		writeAPIError(w, http.StatusNotFound, msgNoMethod)
	}))
	return mux
}

// ServeHTTP implements http.Handler.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.mux.ServeHTTP(w, r) }

// routeHandler is what serves one request: its route (for counting, faults
// and the error format), whether it needs the API key, and its handler; a
// nil handler means the API serves no such method/path pair.
type routeHandler struct {
	route Route
	auth  bool
	h     http.HandlerFunc
}

// handle serves a read-only route: GET and HEAD reach h, any other method
// gets the 404 Google answers for unknown method/path pairs.
func (s *Server) handle(route Route, auth bool, h http.HandlerFunc) http.Handler {
	return s.dispatch(func(r *http.Request) routeHandler {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			return routeHandler{route: route}
		}
		return routeHandler{route: route, auth: auth, h: h}
	})
}

// dispatch wraps the endpoint that pick chooses for each request with, in
// order: counting, the configured delay, the method check (a nil handler
// is answered 404), authentication and injected failures. Errors take the
// route's format (errorWriterFor).
func (s *Server) dispatch(pick func(*http.Request) routeHandler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		e := pick(r)
		write := errorWriterFor(e.route)
		s.faults.count(e.route)
		if !wait(r, s.faults.delay(e.route)) {
			return
		}
		if e.h == nil {
			write(w, http.StatusNotFound, msgNoMethod)
			return
		}
		if e.auth && !s.authorize(w, r, e.route) {
			return
		}
		if code := s.faults.takeFailure(e.route); code != 0 {
			writeInjectedError(w, write, code, s.retryAfter)
			return
		}
		e.h(w, r)
	})
}

// authorize checks the API key, answering as Google does: 403
// PERMISSION_DENIED when no key is given, 400 INVALID_ARGUMENT with an
// API_KEY_INVALID ErrorInfo when the key is wrong. The Interactions API
// also refuses, with its own 400, a key given both in the header and in
// ?key=, whatever the keys.
func (s *Server) authorize(w http.ResponseWriter, r *http.Request, route Route) bool {
	key, query := r.Header.Get("x-goog-api-key"), r.URL.Query()
	if isInteractionsRoute(route) && key != "" && query.Has("key") {
		writeInteractionsError(w, http.StatusBadRequest, msgMultipleCredentials)
		return false
	}
	if key == "" {
		key = query.Get("key")
	}
	switch {
	case key == "":
		writeAPIError(w, http.StatusForbidden, msgMissingKey)
		return false
	case subtle.ConstantTimeCompare([]byte(key), []byte(s.apiKey)) != 1:
		writeAPIError(w, http.StatusBadRequest, msgInvalidKey, map[string]any{
			"@type":    "type.googleapis.com/google.rpc.ErrorInfo",
			"reason":   "API_KEY_INVALID",
			"domain":   "googleapis.com",
			"metadata": map[string]string{"service": "generativelanguage.googleapis.com"},
		})
		return false
	}
	return true
}

// Start serves the simulator on Options.Addr, and the download host on a
// second listener (Options.DownloadAddr) unless Options.DownloadURL names
// one, until Close. It returns once the listeners are open, so URL and
// DownloadURL are usable right away.
func (s *Server) Start() error {
	s.srvMu.Lock()
	defer s.srvMu.Unlock()
	if s.httpSrv != nil {
		return errors.New("geminisim: server already started")
	}
	ln, err := net.Listen("tcp", s.addr)
	if err != nil {
		return fmt.Errorf("failed to listen on %s: %w", s.addr, err)
	}
	srv := &http.Server{Handler: s, ReadHeaderTimeout: 10 * time.Second}
	if s.downloadURL == "" {
		dln, err := net.Listen("tcp", s.downloadAddr)
		if err != nil {
			_ = ln.Close()
			return fmt.Errorf("failed to listen on %s for the download host: %w", s.downloadAddr, err)
		}
		dl := &http.Server{Handler: s.DownloadHandler(), ReadHeaderTimeout: 10 * time.Second}
		s.dlSrv, s.dlURL = dl, "http://"+dln.Addr().String()
		go func() { _ = dl.Serve(dln) }()
	}
	s.httpSrv, s.url = srv, "http://"+ln.Addr().String()
	go func() { _ = srv.Serve(ln) }()
	return nil
}

// URL returns the base URL of a started server ("http://127.0.0.1:port"),
// or "" when it is not started.
func (s *Server) URL() string {
	s.srvMu.Lock()
	defer s.srvMu.Unlock()
	return s.url
}

// Close ends the simulator's background work (pending automatic
// completions, deliveries in flight, which then fail), for good, and stops
// a started server and its download host, closing open connections.
func (s *Server) Close() error {
	s.notifier.stop()
	s.srvMu.Lock()
	defer s.srvMu.Unlock()
	if s.httpSrv == nil {
		return nil
	}
	err := s.httpSrv.Close()
	if s.dlSrv != nil {
		err = errors.Join(err, s.dlSrv.Close())
	}
	s.httpSrv, s.url, s.dlSrv, s.dlURL = nil, "", nil, ""
	if err != nil {
		return fmt.Errorf("failed to close server: %w", err)
	}
	return nil
}

// Shutdown stops a started server and its download host gracefully,
// waiting for requests in flight until ctx is done. Like Close, it ends the
// simulator's background work.
func (s *Server) Shutdown(ctx context.Context) error {
	s.notifier.stop()
	s.srvMu.Lock()
	srv, dl := s.httpSrv, s.dlSrv
	s.httpSrv, s.url, s.dlSrv, s.dlURL = nil, "", nil, ""
	s.srvMu.Unlock()
	if srv == nil {
		return nil
	}
	err := srv.Shutdown(ctx)
	if dl != nil {
		err = errors.Join(err, dl.Shutdown(ctx))
	}
	if err != nil {
		return fmt.Errorf("failed to shut down server: %w", err)
	}
	return nil
}

// externalURL returns the base URL for links in responses to r.
func (s *Server) externalURL(r *http.Request) string {
	if s.baseURL != "" {
		return s.baseURL
	}
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	return scheme + "://" + r.Host
}

// newID returns a random 16-character id of lower-case letters and digits
// (base32). Only those: the Go SDK extracts a file id from a URI with
// ^[a-z0-9]+, so any other character would cut it short.
func newID() string { return randomString(16) }

// randomString returns n random lower-case base32 characters.
func randomString(n int) string {
	var sb strings.Builder
	for sb.Len() < n {
		sb.WriteString(strings.ToLower(rand.Text()))
	}
	return sb.String()[:n]
}

// checkID validates a caller-chosen id, or generates one if it is empty.
func checkID(kind, id string) (string, error) {
	if id == "" {
		return newID(), nil
	}
	if !isToken(id) {
		return "", fmt.Errorf("%w: %s id %q must match [A-Za-z0-9._-]+", ErrInvalidSpec, kind, id)
	}
	return id, nil
}

// timestamp formats t as a protobuf JSON Timestamp: UTC, with 0, 3, 6 or 9
// fractional digits.
func timestamp(t time.Time) string {
	t = t.UTC()
	ns := t.Nanosecond()
	switch {
	case ns == 0:
		return t.Format("2006-01-02T15:04:05Z")
	case ns%1e6 == 0:
		return t.Format("2006-01-02T15:04:05.000Z")
	case ns%1e3 == 0:
		return t.Format("2006-01-02T15:04:05.000000Z")
	default:
		return t.Format("2006-01-02T15:04:05.000000000Z")
	}
}
