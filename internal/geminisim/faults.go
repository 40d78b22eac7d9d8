package geminisim

import (
	"fmt"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// Route names a group of endpoints, for fault injection and request counts.
type Route string

// Routes of the simulator.
const (
	// AnyRoute matches every route: a fault set on it applies to all
	// requests, and Requests(AnyRoute) counts them all.
	AnyRoute Route = "*"
	// RouteBatches is GET /v1beta/batches/{id}.
	RouteBatches Route = "batches.get"
	// RouteBatchesList is GET /v1beta/batches.
	RouteBatchesList Route = "batches.list"
	// RouteBatchesCreate is POST
	// /v1beta/models/{model}:batchGenerateContent.
	RouteBatchesCreate Route = "batches.create"
	// RouteFiles is GET /v1beta/files/{id} (metadata).
	RouteFiles Route = "files.get"
	// RouteUpload is POST /upload/v1beta/files, both the request that
	// starts a resumable upload and those that send its bytes.
	RouteUpload Route = "files.upload"
	// RouteDownload is both download forms of a file on the API host,
	// which redirect to the download host.
	RouteDownload Route = "files.download"
	// RouteDownloadHost is the download host, which serves the bytes.
	RouteDownloadHost Route = "download_host"
	// RouteInteractions is GET /v1beta/interactions/{id}.
	RouteInteractions Route = "interactions.get"
	// RouteInteractionsCreate is POST /v1beta/interactions.
	RouteInteractionsCreate Route = "interactions.create"
	// RouteOperations is GET /v1beta/models/{model}/operations/{op}.
	RouteOperations Route = "operations.get"
	// RouteVideosCreate is POST /v1beta/models/{model}:predictLongRunning.
	RouteVideosCreate Route = "videos.create"
	// RouteJWKS is GET /.well-known/jwks.json.
	RouteJWKS Route = "jwks"
	// RouteWebhooks is every method of /v1beta/webhooks (the WebhookService).
	RouteWebhooks Route = "webhooks"
	// RouteUnknown counts requests for paths the simulator does not serve.
	RouteUnknown Route = "unknown"
)

// routes lists every concrete route, in a fixed order.
var routes = []Route{
	RouteBatches, RouteBatchesList, RouteBatchesCreate, RouteFiles, RouteUpload, RouteDownload, RouteDownloadHost,
	RouteInteractions, RouteInteractionsCreate, RouteOperations, RouteVideosCreate, RouteJWKS, RouteWebhooks, RouteUnknown,
}

// faults holds the fault knobs and request counters of a Server.
type faults struct {
	counts map[Route]*atomic.Int64 // fixed key set; values updated atomically

	mu       sync.Mutex
	failures map[Route]failure // pending injected failures, by route
	delays   map[Route]time.Duration
	truncate truncation
}

type failure struct {
	skip      int // requests let through before the failures start
	remaining int
	status    int
}

type truncation struct {
	remaining int
	after     int64
}

func newFaults() *faults {
	f := &faults{
		counts:   make(map[Route]*atomic.Int64, len(routes)+1),
		failures: make(map[Route]failure),
		delays:   make(map[Route]time.Duration),
	}
	for _, r := range append([]Route{AnyRoute}, routes...) {
		f.counts[r] = new(atomic.Int64)
	}
	return f
}

// validRoute reports whether r is AnyRoute or a concrete route.
func validRoute(r Route) bool { return r == AnyRoute || slices.Contains(routes, r) }

// FailNext makes the next n requests on route (any route for AnyRoute) fail
// with the given HTTP status and Google's error JSON for it; 429 responses
// carry Retry-After (Options.RetryAfter) and a RetryInfo detail. Failures
// are injected after authentication, so requests with a bad key are
// rejected, not counted against n. A route-specific failure is used before
// an AnyRoute one. Calling FailNext again replaces the pending failures of
// that route; n = 0 clears them.
func (s *Server) FailNext(route Route, n int, status int) error {
	return s.FailAfter(route, 0, n, status)
}

// FailAfter is FailNext after `after` more requests on route have been let
// through: a client that pages through a listing can be made to fail half
// way. While the failures wait, requests on route pass (an AnyRoute failure
// is not used for them either). Calling FailAfter or FailNext again
// replaces the pending failures of that route; n = 0 clears them.
func (s *Server) FailAfter(route Route, after, n int, status int) error {
	if !validRoute(route) {
		return fmt.Errorf("%w: unknown route %q", ErrInvalidSpec, route)
	}
	if after < 0 || n < 0 || status < 400 || status > 599 {
		return fmt.Errorf("%w: FailAfter needs after >= 0, n >= 0 and a 4xx or 5xx status, got after=%d n=%d status=%d",
			ErrInvalidSpec, after, n, status)
	}
	s.faults.mu.Lock()
	defer s.faults.mu.Unlock()
	if n == 0 {
		delete(s.faults.failures, route)
	} else {
		s.faults.failures[route] = failure{skip: after, remaining: n, status: status}
	}
	return nil
}

// SetDelay delays every response on route (all routes for AnyRoute) by d,
// or stops delaying them for d = 0. Delays on AnyRoute and on the route add
// up. A client that gives up early cancels the wait.
func (s *Server) SetDelay(route Route, d time.Duration) error {
	if !validRoute(route) || d < 0 {
		return fmt.Errorf("%w: SetDelay needs a known route and a non-negative delay", ErrInvalidSpec)
	}
	s.faults.mu.Lock()
	defer s.faults.mu.Unlock()
	if d == 0 {
		delete(s.faults.delays, route)
	} else {
		s.faults.delays[route] = d
	}
	return nil
}

// TruncateNext makes the next n responses of the download host that send
// the whole file (no Range header) stop after the first `after` bytes: the
// response declares the full Content-Length, then the connection is
// closed, so the client sees
// io.ErrUnexpectedEOF. A file no longer than `after` is sent whole (the
// truncation is still used up). Range requests are never truncated, so a
// client can resume. n = 0 clears pending truncations.
func (s *Server) TruncateNext(n int, after int64) error {
	if n < 0 || after < 0 {
		return fmt.Errorf("%w: TruncateNext needs n >= 0 and after >= 0", ErrInvalidSpec)
	}
	s.faults.mu.Lock()
	defer s.faults.mu.Unlock()
	s.faults.truncate = truncation{remaining: n, after: after}
	return nil
}

// ResetFaults clears every pending failure, delay and truncation. Request
// counters are kept.
func (s *Server) ResetFaults() {
	s.faults.mu.Lock()
	defer s.faults.mu.Unlock()
	clear(s.faults.failures)
	clear(s.faults.delays)
	s.faults.truncate = truncation{}
}

// Requests returns how many requests route has received (all routes for
// AnyRoute), including rejected and failed ones. Unknown routes count 0.
func (s *Server) Requests(route Route) int64 {
	c, ok := s.faults.counts[route]
	if !ok {
		return 0
	}
	return c.Load()
}

// count records a request on route.
func (f *faults) count(route Route) {
	f.counts[AnyRoute].Add(1)
	f.counts[route].Add(1)
}

// delay returns the total delay to apply to a request on route.
func (f *faults) delay(route Route) time.Duration {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.delays[AnyRoute] + f.delays[route]
}

// takeFailure consumes one pending failure for route and returns its status,
// or 0 if none is pending.
func (f *faults) takeFailure(route Route) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, r := range []Route{route, AnyRoute} {
		fl, ok := f.failures[r]
		if !ok {
			continue
		}
		if fl.skip > 0 {
			fl.skip--
			f.failures[r] = fl
			return 0
		}
		if fl.remaining--; fl.remaining == 0 {
			delete(f.failures, r)
		} else {
			f.failures[r] = fl
		}
		return fl.status
	}
	return 0
}

// takeTruncation consumes one pending truncation and returns the number of
// bytes to send, or -1 if none is pending.
func (f *faults) takeTruncation() int64 {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.truncate.remaining == 0 {
		return -1
	}
	f.truncate.remaining--
	return f.truncate.after
}

// wait sleeps for d or until the request is cancelled; it reports whether
// the full delay elapsed.
func wait(r *http.Request, d time.Duration) bool {
	if d <= 0 {
		return true
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-r.Context().Done():
		return false
	}
}
