package reconciler

import (
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"time"

	"github.com/geminihooks/geminihooks/pkg/tracing"
)

// retryAfter is sent with a 503: the next scheduled pass comes anyway, so
// a retry need not hurry.
const retryAfter = time.Minute

// Handler is the ReconcileJobs endpoint, which Cloud Scheduler calls: each
// POST runs one pass and answers 200 with its Summary, or 503 when the pass
// could do nothing (ErrNothingDone). The pass logs its own summary.
type Handler struct {
	r *Reconciler
}

// NewHandler returns the endpoint running r's passes.
func NewHandler(r *Reconciler) (*Handler, error) {
	if r == nil {
		return nil, errors.New("reconciler: NewHandler needs a reconciler")
	}
	return &Handler{r: r}, nil
}

// ServeHTTP implements http.Handler. The request body is ignored.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		writeJSON(w, http.StatusMethodNotAllowed, errorBody("method_not_allowed", "only POST is accepted"))
		return
	}
	// The pass continues the trace of the request (Cloud Scheduler's call,
	// as Cloud Run forwards it).
	s, err := h.r.Pass(tracing.Extract(r.Context(), r.Header))
	if err != nil {
		w.Header().Set("Retry-After", strconv.Itoa(int(retryAfter.Seconds())))
		writeJSON(w, http.StatusServiceUnavailable, errorBody("reconcile_unavailable",
			"the pass could not start ("+s.StopReason+"); the next one will try again"))
		return
	}
	writeJSON(w, http.StatusOK, s)
}

func errorBody(code, message string) any {
	return map[string]any{"error": map[string]string{"code": code, "message": message}}
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, _ := json.Marshal(v) // fixed, encodable shapes
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_, _ = w.Write(append(b, '\n'))
}
