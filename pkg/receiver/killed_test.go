package receiver

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sethvargo/go-envconfig"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/geminihooks/geminihooks/internal/testenv"
	"github.com/geminihooks/geminihooks/pkg/config"
	"github.com/geminihooks/geminihooks/pkg/event"
	"github.com/geminihooks/geminihooks/pkg/idempotency"
	"github.com/geminihooks/geminihooks/pkg/logging"
	"github.com/geminihooks/geminihooks/pkg/tracing"
)

// killedChildEnv, when set, makes the test binary a deployed receiver
// instead of running tests: configured from the environment like the
// Cloud Function, serving on loopback and printing its address.
const killedChildEnv = "GEMINIHOOKS_TEST_RECEIVER_CHILD"

// Configuration of the receiver that is killed: a short lease keeps the
// test at a few seconds, with the publish timeout as long as the lease
// allows, so that its claims are still held (the publish still stalled)
// when it dies.
const (
	killedLease          = 3 * time.Second
	killedLedgerTimeout  = 500 * time.Millisecond
	killedPublishTimeout = 1900 * time.Millisecond
	// killedMargin is the time a claim must have left before its publish
	// gives up for the test to kill the child holding it: enough for the
	// kill to land on a loaded machine.
	killedMargin = 600 * time.Millisecond
	// killedRetryEvery paces the retries of the test's Gemini.
	killedRetryEvery = 100 * time.Millisecond
	// killedSlack bounds the takeover after the lease ends. Each retry is a
	// Firestore transaction on an emulator shared with the rest of the
	// suite under the race detector, so it is looser than faultSlack; it is
	// still nothing next to Gemini's own retry spacing. Unloaded, the
	// takeover comes about 130 ms after the lease.
	killedSlack = 5 * time.Second
)

func TestMain(m *testing.M) {
	if os.Getenv(killedChildEnv) != "" {
		if err := serveChild(); err != nil {
			fmt.Fprintln(os.Stderr, "receiver child:", err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// serveChild runs the receiver as a deployment does (LoadConfig,
// CloudBackends, Build) until it is killed, or for a minute at most should
// the test that started it die first.
func serveChild() error {
	ctx := context.Background()
	cfg, err := LoadConfig(ctx, envconfig.OsLookuper())
	if err != nil {
		return err
	}
	b, closeBackends, err := CloudBackends(ctx, cfg)
	if err != nil {
		return err
	}
	defer func() { _ = closeBackends() }()
	h, stop, err := Build(ctx, cfg, b, logging.New(os.Stderr, cfg.Level()))
	if err != nil {
		return err
	}
	defer func() { _ = stop() }()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	fmt.Println(ln.Addr().String())
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 5 * time.Second}
	time.AfterFunc(time.Minute, func() { _ = srv.Close() })
	if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// killedChild is a receiver process started by startKilledChild.
type killedChild struct {
	cmd    *exec.Cmd
	url    string
	stderr *testenv.SyncBuffer
	exited chan struct{}
}

// startKilledChild starts the test binary as a receiver on s's
// collection, topic and first signing secret, publishing through
// pubsubAddr, and kills it when the test ends.
func startKilledChild(t *testing.T, s *faultStack, pubsubAddr string) *killedChild {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(),
		killedChildEnv+"=1",
		config.EnvGoogleCloudProject+"="+testenv.Project(),
		config.EnvPubSubEmulatorHost+"="+pubsubAddr,
		config.EnvSigningSecrets+"="+s.raw[0],
		"IDEMPOTENCY_COLLECTION="+s.collection,
		"EVENTS_TOPIC="+s.topic,
		"IDEMPOTENCY_LEASE="+killedLease.String(),
		"LEDGER_TIMEOUT="+killedLedgerTimeout.String(),
		"PUBLISH_TIMEOUT="+killedPublishTimeout.String(),
		"LOG_LEVEL=debug",
		// No credentials here to export spans with.
		config.EnvTracesExporter+"="+tracing.ExporterNone,
	)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	c := &killedChild{cmd: cmd, stderr: &testenv.SyncBuffer{}, exited: make(chan struct{})}
	cmd.Stderr = c.stderr
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting the receiver child: %v", err)
	}
	go func() { _ = cmd.Wait(); close(c.exited) }()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-c.exited
		if t.Failed() {
			t.Logf("receiver child's log:\n%s", c.stderr.String())
		}
	})
	addr := make(chan string, 1)
	go func() {
		line, _ := bufio.NewReader(stdout).ReadString('\n')
		addr <- strings.TrimSpace(line)
		_, _ = io.Copy(io.Discard, stdout)
	}()
	select {
	case a := <-addr:
		if a == "" {
			t.Fatalf("receiver child exited before serving:\n%s", c.stderr.String())
		}
		c.url = "http://" + a
	case <-time.After(30 * time.Second):
		t.Fatalf("receiver child not serving within 30s:\n%s", c.stderr.String())
	}
	return c
}

// holdClaims sends the delivery of each id to the child until the child
// holds a claim on it: an answer means it does not (a cold first claim may
// exceed its ledger bound), so the delivery is sent again; a request left
// hanging is a held claim, its publish stalled. They end when ctx ends or
// the child dies.
func (c *killedChild) holdClaims(ctx context.Context, s *faultStack, ids []string) *sync.WaitGroup {
	var wg sync.WaitGroup
	for _, id := range ids {
		wg.Go(func() {
			for ctx.Err() == nil {
				r := s.hmacRequest(id, time.Now(), body("batch.succeeded", "batches/"+id), 0)
				req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.url, r.Body)
				if err != nil {
					return
				}
				req.Header = r.Header
				res, err := http.DefaultClient.Do(req)
				if err != nil {
					return // the child died, or the test moved on
				}
				_ = res.Body.Close()
			}
		})
	}
	return &wg
}

// leaseEnds returns the lease end of each id's claim, as read from
// Firestore, or ok false while some id has no claim.
func leaseEnds(ctx context.Context, s *faultStack, ids []string) (map[string]time.Time, bool, error) {
	ends := map[string]time.Time{}
	for _, id := range ids {
		snap, err := s.fs.Collection(s.collection).Doc(idempotency.DocID(jobKey(event.KindBatch, id))).Get(ctx)
		if status.Code(err) == codes.NotFound {
			return nil, false, nil
		}
		if err != nil {
			return nil, false, err
		}
		end, isTime := snap.Data()["lease_expires_at"].(time.Time)
		if snap.Data()["state"] != "received" || !isTime {
			return nil, false, fmt.Errorf("record of %s: %v; want a claim (state received with a lease)", id, snap.Data())
		}
		ends[id] = end
	}
	return ends, true, nil
}

// oldestClaimAge is the age at now of the oldest of claims whose leases
// end at ends, each lease being killedLease long.
func oldestClaimAge(ends map[string]time.Time, now time.Time) time.Duration {
	var oldest time.Duration
	for _, end := range ends {
		oldest = max(oldest, killedLease-end.Sub(now))
	}
	return oldest
}

// A receiver process claims several ids, its publishes stalled, and is
// SIGKILLed: it neither publishes nor releases. Gemini's retries, at
// another receiver, get 503 delivery_in_progress while the dead process's
// lease lasts and are accepted right after it ends, one event per id.
func TestFault_receiverKilledHoldingClaims(t *testing.T) {
	t.Parallel()
	s := newFaultStack(t, faultStackOptions{wallClock: true, lease: killedLease, ledgerTimeout: 2 * time.Second})
	ids := faultIDs("killed", 4)

	// The child publishes through a proxy that never passes a byte.
	psProxy := testenv.NewFaultProxy(t, strings.TrimPrefix(os.Getenv(config.EnvPubSubEmulatorHost), "http://"))
	psProxy.Stall()
	child := startKilledChild(t, s, psProxy.Addr())

	ctx, cancel := context.WithCancel(context.Background())
	senders := child.holdClaims(ctx, s, ids)
	t.Cleanup(func() { cancel(); senders.Wait() })
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	// Kill while every claim is young enough that none of its stalled
	// publishes gives up, and releases it, before the kill lands: under
	// load the claims are taken at staggered times, and the oldest may be
	// about to be released when the last is taken. Its sender then claims
	// it afresh.
	for deadline := time.Now().Add(20 * time.Second); ; {
		ends, held, err := leaseEnds(ctx, s, ids)
		if err != nil {
			t.Fatal(err)
		}
		if held && oldestClaimAge(ends, time.Now()) < killedPublishTimeout-killedMargin {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the child did not hold a young claim on every id at once within 20s:\n%s", child.stderr.String())
		}
		<-tick.C
	}
	if err := child.cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	<-child.exited
	killed := time.Now()
	// What the stalled connections held is lost with the process.
	psProxy.Drop()

	// The claims outlive the process: nothing released them.
	ends, held, err := leaseEnds(ctx, s, ids)
	if err != nil || !held {
		t.Fatalf("claims after the kill: %v, %v; want every id still claimed (the child released some before it died)", ends, err)
	}

	var wg sync.WaitGroup
	for _, id := range ids {
		wg.Go(func() {
			retry := time.NewTicker(killedRetryEvery)
			defer retry.Stop()
			for attempt := 1; ; attempt++ {
				res, _ := s.deliver(id)
				at := time.Now()
				if res.Status == http.StatusOK && res.Body["status"] == StatusAccepted {
					afterLease, afterKill := at.Sub(ends[id]), at.Sub(killed)
					t.Logf("%s taken over %s after the lease ended, %s after the kill (%d attempts)", id, afterLease, afterKill, attempt)
					if attempt == 1 {
						t.Errorf("%s accepted at the first retry, while its lease was fresh", id)
					}
					if afterLease > killedRetryEvery+killedSlack || afterKill > killedLease+killedSlack {
						t.Errorf("%s taken over %s after the lease ended, %s after the kill; want at most %s and %s",
							id, afterLease, afterKill, killedRetryEvery+killedSlack, killedLease+killedSlack)
					}
					return
				}
				// delivery_in_progress while the lease lasts; on an emulator
				// loaded by the rest of the suite a takeover transaction can
				// also overrun the ledger bound (idempotency_unavailable),
				// which is a retry-later answer too.
				if res.Status != http.StatusServiceUnavailable || res.Header.Get("Retry-After") == "" ||
					(res.errCode() != "delivery_in_progress" && res.errCode() != "idempotency_unavailable") {
					t.Errorf("retry %d of %s: %d %s; want 503 delivery_in_progress with Retry-After until the lease ends", attempt, id, res.Status, res.Raw)
					return
				}
				if at.After(ends[id].Add(killedSlack)) {
					t.Errorf("%s still in progress %s after its lease ended", id, at.Sub(ends[id]))
					return
				}
				<-retry.C
			}
		})
	}
	wg.Wait()
	s.expectEvents(ids)
	for _, id := range ids {
		if res, _ := s.deliver(id); res.Body["status"] != StatusDuplicate {
			t.Errorf("later retry of %s: %d %s; want duplicate", id, res.Status, res.Raw)
		}
	}
}
