package local

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/geminihooks/geminihooks/internal/testenv"
)

// stop is one return of Receive before the stack closes: after running for
// ran, with err.
type stop struct {
	ran time.Duration
	err error
}

func TestSupervise(t *testing.T) {
	t.Parallel()
	notFound := status.Error(codes.NotFound, "Subscription does not exist (resource=events-local-tail)")
	unavailable := status.Error(codes.Unavailable, "connection refused")
	cases := []struct {
		name        string
		stops       []stop
		recreateErr error
		// waits are the pauses between one Receive's return and the next.
		waits     []time.Duration
		recreates int
		logs      []string
	}{
		{
			name: "error_is_logged_and_receiving_resumes", stops: []stop{{err: unavailable}},
			waits: []time.Duration{100 * time.Millisecond},
			logs:  []string{`"level":"WARN","msg":"subscription stopped; receiving again","subscription":"projects/p/subscriptions/s","error":"rpc error: code = Unavailable desc = connection refused"`},
		},
		{
			name: "return_without_error_is_logged_and_receiving_resumes", stops: []stop{{ran: time.Minute}},
			waits: []time.Duration{100 * time.Millisecond},
			logs:  []string{`"subscription":"projects/p/subscriptions/s","error":"receiving ended without an error"`},
		},
		{
			name: "lost_subscription_is_recreated", stops: []stop{{err: notFound}},
			waits: []time.Duration{100 * time.Millisecond}, recreates: 1,
			logs: []string{`"error":"rpc error: code = NotFound`},
		},
		{
			name: "failed_recreation_is_logged_and_tried_again", stops: []stop{{err: notFound}, {err: notFound}},
			recreateErr: status.Error(codes.Unavailable, "emulator down"),
			waits:       []time.Duration{100 * time.Millisecond, 200 * time.Millisecond}, recreates: 2,
			logs: []string{`"level":"ERROR","msg":"failed to recreate Pub/Sub resources; trying again after the next stop","subscription":"projects/p/subscriptions/s","error":"rpc error: code = Unavailable desc = emulator down"`},
		},
		{
			name:  "backoff_doubles_up_to_its_bound",
			stops: []stop{{err: unavailable}, {err: unavailable}, {err: unavailable}, {err: unavailable}, {err: unavailable}, {err: unavailable}, {err: unavailable}, {err: unavailable}},
			waits: []time.Duration{100 * time.Millisecond, 200 * time.Millisecond, 400 * time.Millisecond, 800 * time.Millisecond,
				1600 * time.Millisecond, 3200 * time.Millisecond, 5 * time.Second, 5 * time.Second},
		},
		{
			name:  "backoff_starts_over_after_a_long_run",
			stops: []stop{{err: unavailable}, {err: unavailable}, {ran: time.Minute, err: unavailable}},
			waits: []time.Duration{100 * time.Millisecond, 200 * time.Millisecond, 100 * time.Millisecond},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			synctest.Test(t, func(t *testing.T) {
				var logs testenv.SyncBuffer
				ctx, cancel := context.WithCancel(t.Context())
				var (
					calls     []time.Time // when each Receive started
					recreates int
				)
				receive := func(ctx context.Context) error {
					calls = append(calls, time.Now())
					if len(calls) > len(tc.stops) {
						<-ctx.Done()
						return ctx.Err()
					}
					s := tc.stops[len(calls)-1]
					time.Sleep(s.ran)
					return s.err
				}
				recreate := func(context.Context) error { recreates++; return tc.recreateErr }
				done := make(chan struct{})
				go func() {
					defer close(done)
					supervise(ctx, slog.New(slog.NewJSONHandler(&logs, nil)), "projects/p/subscriptions/s", receive, recreate)
				}()
				// Far past every stop and wait: the fake clock jumps there
				// once everything else is blocked.
				time.Sleep(time.Hour)
				synctest.Wait()
				if len(calls) != len(tc.stops)+1 {
					t.Fatalf("Receive called %d times after %d stops; want %d", len(calls), len(tc.stops), len(tc.stops)+1)
				}
				for i, want := range tc.waits {
					if got := calls[i+1].Sub(calls[i]) - tc.stops[i].ran; got != want {
						t.Errorf("wait after stop %d: %v; want %v", i+1, got, want)
					}
				}
				if recreates != tc.recreates {
					t.Errorf("recreated %d times; want %d", recreates, tc.recreates)
				}
				out := logs.String()
				if n := strings.Count(out, `"msg":"subscription stopped; receiving again"`); n != len(tc.stops) {
					t.Errorf("%d stops logged; want %d:\n%s", n, len(tc.stops), out)
				}
				for _, want := range tc.logs {
					if !strings.Contains(out, want) {
						t.Errorf("logs lack %s:\n%s", want, out)
					}
				}
				cancel()
				synctest.Wait()
				select {
				case <-done:
				default:
					t.Fatal("supervise still running after its context ended")
				}
			})
		})
	}
}

// TestSupervise_stopsDuringBackoff closes the stack while a stopped
// subscription waits to receive again: supervise returns at once, without
// receiving again or logging the closing as a fault.
func TestSupervise_stopsDuringBackoff(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		var logs testenv.SyncBuffer
		ctx, cancel := context.WithCancel(t.Context())
		calls := 0
		receive := func(context.Context) error { calls++; return errors.New("stream broken") }
		done := make(chan struct{})
		go func() {
			defer close(done)
			supervise(ctx, slog.New(slog.NewJSONHandler(&logs, nil)), "s", receive, func(context.Context) error { return nil })
		}()
		time.Sleep(50 * time.Millisecond) // inside the first 100ms backoff
		cancel()
		synctest.Wait()
		select {
		case <-done:
		default:
			t.Fatal("supervise still running after its context ended")
		}
		if calls != 1 || strings.Count(logs.String(), "subscription stopped") != 1 {
			t.Errorf("%d receives, logs:\n%s; want 1 receive and 1 stop logged", calls, logs.String())
		}
	})
}
