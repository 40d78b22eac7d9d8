package gemini_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/geminihooks/geminihooks/internal/geminisim"
	"github.com/geminihooks/geminihooks/pkg/gemini"
)

func TestIsTransient(t *testing.T) {
	t.Parallel()
	api := func(status int) error { return &gemini.APIError{Status: status} }
	cases := []struct {
		name string
		err  error
		want bool
	}{
		{"nil", nil, false},
		{"too_many_requests", api(429), true},
		{"internal", api(500), true},
		{"bad_gateway", api(502), true},
		{"unavailable", api(503), true},
		{"request_timeout", api(408), true},
		{"bad_request", api(400), false},
		{"unauthenticated", api(401), false},
		{"permission_denied", api(403), false},
		{"not_found", api(404), false},
		{"wrapped_unavailable", fmt.Errorf("failed to get batches/1: %w", api(503)), true},
		{"invalid_id", fmt.Errorf("x: %w", gemini.ErrInvalidID), false},
		{"foreign_host", fmt.Errorf("x: %w", gemini.ErrForeignHost), false},
		{"unexpected_response", fmt.Errorf("x: %w", gemini.ErrUnexpectedResponse), false},
		{"incomplete", fmt.Errorf("x: %w", gemini.ErrIncomplete), true},
		{"incomplete_file_gone", fmt.Errorf("%w: %w", gemini.ErrIncomplete, api(404)), false},
		{"incomplete_unavailable", fmt.Errorf("%w: %w", gemini.ErrIncomplete, api(503)), true},
		{"deadline", fmt.Errorf("x: %w", context.DeadlineExceeded), true},
		{"canceled", context.Canceled, true},
		{"unexpected_eof", fmt.Errorf("read: %w", io.ErrUnexpectedEOF), true},
		{"connection_reset", &net.OpError{Op: "read", Net: "tcp", Err: os.NewSyscallError("read", syscall.ECONNRESET)}, true},
		{"connection_refused", fmt.Errorf("dial: %w", syscall.ECONNREFUSED), true},
		{"url_error", &url.Error{Op: "Get", URL: "https://x", Err: errors.New("tls: handshake failure")}, true},
		{"redirect_refused", &url.Error{Op: "Get", URL: "https://x", Err: fmt.Errorf("%w: to y", gemini.ErrForeignHost)}, false},
		{"unknown", errors.New("something else"), false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			if got := gemini.IsTransient(tc.err); got != tc.want {
				t.Errorf("IsTransient(%v) = %v, want %v", tc.err, got, tc.want)
			}
		})
	}
}

// job names the three kinds of job a test can fetch, so that error
// handling is checked on the REST paths (batches, interactions) and the SDK
// path (video operations) alike.
type job struct {
	name  string
	route geminisim.Route
	// create makes a job on sim and returns its reference.
	create func(t *testing.T, sim *geminisim.Server) string
	// get fetches it.
	get func(ctx context.Context, c *gemini.Client, ref string) error
}

var jobs = []job{
	{
		name: "batch", route: geminisim.RouteBatches,
		create: func(t *testing.T, sim *geminisim.Server) string {
			t.Helper()
			name, err := sim.CreateBatch(geminisim.BatchSpec{})
			if err != nil {
				t.Fatal(err)
			}
			return name
		},
		get: func(ctx context.Context, c *gemini.Client, ref string) error {
			_, err := c.GetBatch(ctx, ref)
			return err
		},
	},
	{
		name: "interaction", route: geminisim.RouteInteractions,
		create: func(t *testing.T, sim *geminisim.Server) string {
			t.Helper()
			id, err := sim.CreateInteraction(geminisim.InteractionSpec{})
			if err != nil {
				t.Fatal(err)
			}
			return id
		},
		get: func(ctx context.Context, c *gemini.Client, ref string) error {
			_, err := c.GetInteraction(ctx, ref)
			return err
		},
	},
	{
		name: "video", route: geminisim.RouteOperations,
		create: func(t *testing.T, sim *geminisim.Server) string {
			t.Helper()
			name, err := sim.CreateVideo(geminisim.VideoSpec{})
			if err != nil {
				t.Fatal(err)
			}
			return name
		},
		get: func(ctx context.Context, c *gemini.Client, ref string) error {
			_, err := c.GetVideoOperation(ctx, ref)
			return err
		},
	},
}

func TestGet_errors(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name      string
		failures  int // injected on the job's route
		status    int
		apiKey    string // client key; empty means the right one
		unknown   bool   // ask for a job that does not exist
		wantErr   bool
		transient bool
		wantHTTP  int
		wantCode  string
		wantCalls int64
	}{
		{name: "rate_limited_then_ok", failures: 2, status: 429, wantCalls: 3},
		{name: "unavailable_then_ok", failures: 3, status: 503, wantCalls: 4},
		{name: "unavailable_forever", failures: 100, status: 503, wantErr: true, transient: true,
			wantHTTP: 503, wantCode: "UNAVAILABLE", wantCalls: int64(fastRetry.Attempts)},
		{name: "internal_forever", failures: 100, status: 500, wantErr: true, transient: true,
			wantHTTP: 500, wantCode: "INTERNAL", wantCalls: int64(fastRetry.Attempts)},
		{name: "not_found", unknown: true, wantErr: true, wantHTTP: 404, wantCode: "NOT_FOUND", wantCalls: 1},
		{name: "forbidden", failures: 1, status: 403, wantErr: true, wantHTTP: 403, wantCode: "PERMISSION_DENIED", wantCalls: 1},
		{name: "wrong_api_key", apiKey: "AIzaSyWRONG-key", wantErr: true, wantHTTP: 400, wantCode: "INVALID_ARGUMENT", wantCalls: 1},
	}
	for _, j := range jobs {
		for _, tc := range cases {
			t.Run(j.name+"/"+tc.name, func(t *testing.T) {
				t.Parallel()
				e := newEnv(t, envConfig{client: gemini.Options{APIKey: tc.apiKey}})
				ref := j.create(t, e.sim)
				if tc.unknown {
					ref = ref[:strings.LastIndex(ref, "/")+1] + "doesnotexist"
				}
				if tc.failures > 0 {
					if err := e.sim.FailNext(j.route, tc.failures, tc.status); err != nil {
						t.Fatal(err)
					}
				}
				err := j.get(testContext(t), e.client, ref)
				if got := e.sim.Requests(j.route); got != tc.wantCalls {
					t.Errorf("requests = %d, want %d", got, tc.wantCalls)
				}
				if !tc.wantErr {
					if err != nil {
						t.Fatalf("error %v, want success after retries", err)
					}
					return
				}
				if err == nil {
					t.Fatal("no error")
				}
				assertNoSecret(t, err)
				if got := gemini.IsTransient(err); got != tc.transient {
					t.Errorf("IsTransient(%v) = %v, want %v", err, got, tc.transient)
				}
				apiErr := wantAPIError(t, err, tc.wantHTTP, tc.wantCode)
				if tc.apiKey != "" && apiErr.Reason != "API_KEY_INVALID" {
					t.Errorf("reason = %q, want API_KEY_INVALID", apiErr.Reason)
				}
			})
		}
	}
}

func TestGet_retryAfter(t *testing.T) {
	t.Parallel()
	for _, j := range jobs {
		t.Run(j.name+"/honoured", func(t *testing.T) {
			t.Parallel()
			e := newEnv(t, envConfig{
				sim:    geminisim.Options{RetryAfter: time.Second},
				client: gemini.Options{Retry: gemini.RetryPolicy{Attempts: 2, Base: time.Millisecond, Max: 5 * time.Second}},
			})
			ref := j.create(t, e.sim)
			if err := e.sim.FailNext(j.route, 1, http.StatusTooManyRequests); err != nil {
				t.Fatal(err)
			}
			start := time.Now()
			if err := j.get(testContext(t), e.client, ref); err != nil {
				t.Fatal(err)
			}
			if elapsed := time.Since(start); elapsed < time.Second {
				t.Errorf("retried after %v, before the 1s Retry-After", elapsed)
			}
		})
		t.Run(j.name+"/capped", func(t *testing.T) {
			t.Parallel()
			e := newEnv(t, envConfig{sim: geminisim.Options{RetryAfter: time.Hour}})
			ref := j.create(t, e.sim)
			if err := e.sim.FailNext(j.route, 100, http.StatusTooManyRequests); err != nil {
				t.Fatal(err)
			}
			start := time.Now()
			err := j.get(testContext(t), e.client, ref)
			if elapsed := time.Since(start); elapsed > 10*time.Second {
				t.Errorf("took %v: Retry-After was not capped", elapsed)
			}
			if !gemini.IsTransient(err) {
				t.Fatalf("error %v, want transient", err)
			}
			if apiErr := wantAPIError(t, err, 429, "RESOURCE_EXHAUSTED"); apiErr.RetryAfter != time.Hour {
				t.Errorf("RetryAfter = %v, want 1h", apiErr.RetryAfter)
			}
			if got := e.sim.Requests(j.route); got != int64(fastRetry.Attempts) {
				t.Errorf("requests = %d, want %d", got, fastRetry.Attempts)
			}
		})
	}
}

func TestGet_timeout(t *testing.T) {
	t.Parallel()
	for _, j := range jobs {
		t.Run(j.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t, envConfig{client: gemini.Options{Timeout: 50 * time.Millisecond}})
			ref := j.create(t, e.sim)
			if err := e.sim.SetDelay(j.route, 5*time.Second); err != nil {
				t.Fatal(err)
			}
			start := time.Now()
			err := j.get(testContext(t), e.client, ref)
			if !gemini.IsTransient(err) || !errors.Is(err, context.DeadlineExceeded) {
				t.Errorf("error %v, want a transient deadline error", err)
			}
			if elapsed := time.Since(start); elapsed > 3*time.Second {
				t.Errorf("took %v despite the 50ms timeout", elapsed)
			}
			if got := e.sim.Requests(j.route); got != int64(fastRetry.Attempts) {
				t.Errorf("requests = %d, want %d", got, fastRetry.Attempts)
			}
			assertNoSecret(t, err)
		})
	}
}

func TestGet_contextDeadlineStopsRetries(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envConfig{client: gemini.Options{Retry: gemini.RetryPolicy{Attempts: 10, Base: 10 * time.Second, Max: 10 * time.Second}}})
	name := jobs[0].create(t, e.sim)
	if err := e.sim.FailNext(geminisim.RouteBatches, 100, 503); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 3*time.Second)
	defer cancel()
	start := time.Now()
	_, err := e.client.GetBatch(ctx, name)
	if elapsed := time.Since(start); elapsed > 2*time.Second {
		t.Errorf("took %v: waited for a retry that could not happen before the deadline", elapsed)
	}
	wantAPIError(t, err, 503, "UNAVAILABLE")
	if got := e.sim.Requests(geminisim.RouteBatches); got != 1 {
		t.Errorf("requests = %d, want 1", got)
	}
}

func TestGet_connectionRefused(t *testing.T) {
	t.Parallel()
	// A port that was just freed: nothing listens there.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	base := "http://" + ln.Addr().String()
	ln.Close()
	c, err := gemini.New(t.Context(), gemini.Options{BaseURL: base, APIKey: testAPIKey, Retry: fastRetry})
	if err != nil {
		t.Fatal(err)
	}
	ctx := testContext(t)
	for _, j := range jobs {
		err := j.get(ctx, c, map[string]string{"batch": "batches/1", "interaction": "abc", "video": "models/veo-3.0-generate-001/operations/x"}[j.name])
		if err == nil || !gemini.IsTransient(err) {
			t.Errorf("%s: error %v, want a transient connection error", j.name, err)
		}
		assertNoSecret(t, err)
	}
	d, err := c.Download(ctx, "files/abc")
	if err == nil {
		d.Body.Close()
	}
	if !gemini.IsTransient(err) {
		t.Errorf("download: error %v, want a transient connection error", err)
	}
	assertNoSecret(t, err)
}
