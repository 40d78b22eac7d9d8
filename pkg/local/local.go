// Package local runs the whole geminihooks pipeline on one machine with no
// cloud account: the receiver on loopback; in-memory idempotency and an
// in-process Pub/Sub, or the Firestore and Pub/Sub emulators when
// FIRESTORE_EMULATOR_HOST / PUBSUB_EMULATOR_HOST are set; the materializer,
// fed by a subscription the way a push subscription feeds it; a Cloud
// Storage stand-in whose objects are plain files under a data directory; and
// the Gemini API simulator, or the real Gemini API when Options.RealGemini
// says so (never because GEMINI_API_KEY happens to be set).
//
// The in-process Pub/Sub (internal/minipubsub) bounds what it holds: the
// materializer's subscription paces the receiver, whose publishes wait
// while it holds PubSubBacklog events, so the stack keeps a steady rate
// under sustained load instead of piling up events the materializer has
// not reached.
// Both functions are built with the same receiver.Build and
// materializer.Build as when deployed.
package local

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"cloud.google.com/go/firestore"
	"cloud.google.com/go/pubsub/v2"
	"github.com/sethvargo/go-envconfig"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"google.golang.org/api/option"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

	"github.com/geminihooks/geminihooks/internal/geminisim"
	"github.com/geminihooks/geminihooks/internal/minipubsub"
	"github.com/geminihooks/geminihooks/pkg/blob"
	"github.com/geminihooks/geminihooks/pkg/cleanup"
	"github.com/geminihooks/geminihooks/pkg/config"
	"github.com/geminihooks/geminihooks/pkg/event"
	"github.com/geminihooks/geminihooks/pkg/idempotency"
	"github.com/geminihooks/geminihooks/pkg/materializer"
	"github.com/geminihooks/geminihooks/pkg/receiver"
	"github.com/geminihooks/geminihooks/pkg/registry"
	"github.com/geminihooks/geminihooks/pkg/secret"
	"github.com/geminihooks/geminihooks/pkg/signature"
)

// PubSubBacklog bounds the events the in-process Pub/Sub holds for the
// materializer: past it the receiver's publishes wait (up to
// PUBLISH_TIMEOUT, then 503 and Gemini retries). A few seconds of the
// materializer's work keeps bursts fast and the wait short.
const PubSubBacklog = 256

// DefaultProject is the project id used when GOOGLE_CLOUD_PROJECT is unset.
const DefaultProject = "geminihooks-local"

// Options configures a Stack.
type Options struct {
	// Addr is the receiver's listen address, e.g. "127.0.0.1:8080".
	Addr string
	// Lookuper reads the configuration (default: the environment).
	Lookuper envconfig.Lookuper
	// Logger receives the stack's logs.
	Logger *slog.Logger
	// DataDir holds the stored results as plain files (default
	// ./.geminihooks).
	DataDir string
	// ReconcileInterval runs a reconcile pass this often, as Cloud
	// Scheduler does deployed; 0 runs none.
	ReconcileInterval time.Duration
	// SimAddr is where the Gemini API simulator listens (default: a free
	// loopback port). A fixed one lets the operator tool keep pointing at
	// it across restarts.
	SimAddr string
	// RealGemini uses the Gemini API itself, with GEMINI_API_KEY, instead
	// of the simulator.
	RealGemini bool
	// Observer, when set, watches the stack (the inspector page).
	Observer Observer
	// Spans, when set, receives every span of the stack's functions, one
	// line each (the local runner's --trace=stdout).
	Spans io.Writer
}

// Observer watches a stack at work: the inspector page (inspect.Log) is
// one. Its methods are called from the stack's goroutines and must return
// quickly.
type Observer interface {
	// Wrap wraps the receiver's handler, to see each delivery.
	Wrap(http.Handler) http.Handler
	// Published sees each completion event published, besides Received,
	// whose reader it does not compete with.
	Published(*event.Event)
	// Announced sees each results event, besides Results.
	Announced(*event.Results)
	// Materialized sees the materializer's steps for a job (the job
	// fetched, each object stored) once its push has ended.
	Materialized(resource string, steps []Step)
}

// DefaultDataDir is where results land unless Options.DataDir says otherwise.
const DefaultDataDir = ".geminihooks"

// Stack is a running local receiver.
type Stack struct {
	// URL is the receiver's endpoint.
	URL string
	// Secret is the project-level signing secret deliveries must use
	// ("whsec_…"): WEBHOOK_SIGNING_SECRETS' first, or one generated for
	// this run.
	Secret string
	// Generated reports whether Secret was generated for this run.
	Generated bool
	// Backends says what stands in for Firestore and Pub/Sub.
	Backends string
	// Events is the topic the receiver publishes to.
	Events string
	// ResultsTopic is the topic the materializer announces results on.
	ResultsTopic string
	// Gemini describes the Gemini API in use.
	Gemini string
	// GeminiKeyIgnored reports that GEMINI_API_KEY is set but the
	// simulator is used (Options.RealGemini is false).
	GeminiKeyIgnored bool
	// Sim is the Gemini API simulator, or nil when the real API is used.
	Sim *geminisim.Server
	// Store holds the results; its files are under DataDir.
	Store *blob.Dir
	// DataDir is the absolute directory holding the results.
	DataDir string
	// Bucket is the bucket name the results events report.
	Bucket string
	// SecretFile stands in for the signing secret's Secret Manager secret:
	// the receiver accepts every version in it, besides Secret, and the
	// operator tool's webhooks create and rotate add to it
	// (WEBHOOK_SIGNING_SECRET_FILE).
	SecretFile *secret.File
	// Project is the Google Cloud project the topics are in.
	Project string
	// PubSubAddr is the Pub/Sub endpoint (host:port), in-process or the
	// emulator, for PUBSUB_EMULATOR_HOST.
	PubSubAddr string
	// JWKSURL is the key set per-request (JWT) deliveries verify against.
	JWKSURL string

	// Received carries every completion event published, as the tail
	// subscription sees it (buffered; dropped when nobody reads).
	Received <-chan *event.Event
	// Results carries every results event the materializer announces
	// (buffered; dropped when nobody reads).
	Results <-chan *event.Results

	simKey string // the simulator's API key
	// inProcess is the in-process Pub/Sub, nil with the emulator.
	inProcess *minipubsub.Server
	server    *http.Server
	// reconcile is the reconciler's handler.
	reconcile http.Handler
	res       cleanup.Stack
	wg        sync.WaitGroup
	// topology holds the topics and subscriptions, to create again when
	// the Pub/Sub emulator loses them.
	topology resources
	// env is the configuration every function of the stack reads.
	env envconfig.Lookuper
	// observer is Options.Observer.
	observer Observer
	// tracer records every function's spans, and journeys keeps them for
	// the demo's timelines.
	tracer   *sdktrace.TracerProvider
	journeys *journeys
}

// Start starts the stack; Close stops it.
func Start(ctx context.Context, opts Options) (_ *Stack, err error) {
	if opts.Logger == nil {
		return nil, errors.New("local: missing logger")
	}
	lookuper := opts.Lookuper
	if lookuper == nil {
		lookuper = envconfig.OsLookuper()
	}
	s := &Stack{observer: opts.Observer}
	defer func() {
		// s, not the result: a failed start returns nil.
		if err != nil {
			err = errors.Join(err, s.Close())
		}
	}()
	var onStored func(string, []Step)
	if opts.Observer != nil {
		onStored = opts.Observer.Materialized
	}
	s.journeys = newJourneys(onStored)
	s.tracer = newTracerProvider(s.journeys, opts.Spans)
	s.res.Push(func() error { return s.tracer.Shutdown(context.Background()) })
	rcfg, mcfg, err := s.configure(ctx, lookuper, opts)
	if err != nil {
		return nil, err
	}
	rb, err := s.connect(ctx, lookuper, rcfg)
	if err != nil {
		return nil, err
	}
	if err := s.createTopics(ctx, rb.PubSub, rcfg, mcfg, opts.Logger); err != nil {
		return nil, err
	}
	if err := s.openStore(opts.DataDir, mcfg); err != nil {
		return nil, err
	}
	push, err := s.startMaterializer(ctx, mcfg, rb, opts.Logger)
	if err != nil {
		return nil, err
	}
	if err := s.startReconciler(ctx, rb, opts.ReconcileInterval, opts.Logger); err != nil {
		return nil, err
	}
	if err := s.subscribeAll(ctx, push, opts.Logger); err != nil {
		return nil, err
	}
	// Captures go to the data directory's captures/ folder, as they would
	// to the results bucket's.
	rb.Captures = s.Store
	if s.SecretFile, err = secret.NewFile(filepath.Join(s.DataDir, SecretFileName)); err != nil {
		return nil, err
	}
	rb.Secrets = s.SecretFile
	if err := s.serve(ctx, rcfg, rb, opts); err != nil {
		return nil, err
	}
	return s, nil
}

// SecretFileName is the file in the data directory that stands in for the
// signing secret's Secret Manager secret.
const SecretFileName = "signing-secret.json"

// configure reads both functions' configurations from l, with what a run on
// this machine needs on top: the simulator unless opts asks for the real
// Gemini API, a signing secret, a project and a bucket name.
func (s *Stack) configure(ctx context.Context, l envconfig.Lookuper, opts Options) (*receiver.Config, *materializer.Config, error) {
	overrides := map[string]string{
		// Secrets come from WEBHOOK_SIGNING_SECRETS and the data
		// directory's stand-in file: there is no Secret Manager here.
		config.EnvSigningSecret: "",
	}
	key, _ := l.Lookup(config.EnvGeminiAPIKey)
	if opts.RealGemini {
		if key == "" {
			return nil, nil, fmt.Errorf("the real Gemini API needs %s", config.EnvGeminiAPIKey)
		}
		s.Gemini = "Gemini API"
	} else {
		s.GeminiKeyIgnored = key != ""
		if err := s.startSimulator(overrides, opts.SimAddr); err != nil {
			return nil, nil, err
		}
		if v, ok := l.Lookup(config.EnvJWKSURL); !ok || v == "" {
			overrides[config.EnvJWKSURL] = s.Sim.URL() + "/.well-known/jwks.json"
		}
	}
	secret, generated, err := devSecret(l)
	if err != nil {
		return nil, nil, err
	}
	s.Secret, s.Generated = secret, generated
	overrides[config.EnvSigningSecrets] = secret
	for name, value := range map[string]string{config.EnvResultsBucket: "geminihooks-local", config.EnvGoogleCloudProject: DefaultProject} {
		if v, ok := l.Lookup(name); !ok || v == "" {
			overrides[name] = value
		}
	}
	env := envconfig.MultiLookuper(envconfig.MapLookuper(overrides), l)
	s.env = env
	rcfg, err := receiver.LoadConfig(ctx, env)
	if err != nil {
		return nil, nil, err
	}
	s.Project, s.JWKSURL = rcfg.ProjectID, rcfg.JWKSURL
	mcfg, err := materializer.LoadConfig(ctx, env)
	if err != nil {
		return nil, nil, err
	}
	return rcfg, mcfg, nil
}

// connect returns the receiver's backends: the Firestore and Pub/Sub
// emulators when their hosts are set, else in-memory idempotency and an
// in-process Pub/Sub.
func (s *Stack) connect(ctx context.Context, l envconfig.Lookuper, cfg *receiver.Config) (receiver.Backends, error) {
	var b receiver.Backends
	ledgerName := "in-memory idempotency"
	if host, ok := l.Lookup(config.EnvFirestoreEmulatorHost); ok && host != "" {
		c, err := firestore.NewClientWithDatabase(ctx, cfg.ProjectID, cfg.FirestoreDatabase)
		if err != nil {
			return b, fmt.Errorf("failed to connect to the Firestore emulator at %s: %w", host, err)
		}
		s.res.Push(c.Close)
		b.Firestore, ledgerName = c, "Firestore emulator at "+host
	} else {
		// One ledger and one job registry for the whole stack, as one
		// Firestore database is deployed.
		var err error
		if b.Ledger, err = idempotency.NewMemory(idempotency.Options{Collection: cfg.IdempotencyCollection, TTL: cfg.IdempotencyTTL, Lease: cfg.IdempotencyLease}); err != nil {
			return b, err
		}
		if b.Jobs, err = registry.NewMemory(cfg.Jobs.Options()); err != nil {
			return b, err
		}
	}
	ps, psName, err := s.pubsub(ctx, l, cfg.ProjectID)
	if err != nil {
		return b, err
	}
	b.PubSub = ps
	if s.inProcess != nil {
		// The receiver's publishes, one per delivery, skip gRPC; the
		// rest of the stack (and every CLI command) uses the server's
		// address like any Pub/Sub's.
		b.InProcessPubSub = s.inProcess
	}
	b.Tracer = s.tracer
	s.Backends = ledgerName + ", " + psName
	return b, nil
}

// createTopics creates the events and results topics.
func (s *Stack) createTopics(ctx context.Context, ps *pubsub.Client, rcfg *receiver.Config, mcfg *materializer.Config, logger *slog.Logger) error {
	s.Events = config.ResourceName(rcfg.ProjectID, "topics", rcfg.EventsTopic)
	s.ResultsTopic = config.ResourceName(rcfg.ProjectID, "topics", mcfg.ResultsTopic)
	s.topology = resources{client: ps, logger: logger, topics: []string{s.Events, s.ResultsTopic}}
	_, err := s.topology.create(ctx)
	return err
}

// openStore keeps the results as plain files under dataDir.
func (s *Stack) openStore(dataDir string, cfg *materializer.Config) (err error) {
	if dataDir == "" {
		dataDir = DefaultDataDir
	}
	if s.DataDir, err = filepath.Abs(dataDir); err != nil {
		return err
	}
	s.Store, err = blob.NewDir(s.DataDir)
	s.Bucket = cfg.ResultsBucket
	return err
}

// startMaterializer builds the materializer on the store and returns its
// push handler.
func (s *Stack) startMaterializer(ctx context.Context, cfg *materializer.Config, rb receiver.Backends, logger *slog.Logger) (http.Handler, error) {
	push, stop, err := materializer.Build(ctx, cfg, materializer.Backends{Store: s.Store, PubSub: rb.PubSub, Firestore: rb.Firestore, Jobs: rb.Jobs, Tracer: rb.Tracer}, logger)
	if err != nil {
		return nil, err
	}
	s.res.Push(stop)
	return push, nil
}

// subscribeAll subscribes what a downstream team, the materializer's push
// subscription and a results consumer would each see.
func (s *Stack) subscribeAll(ctx context.Context, push http.Handler, logger *slog.Logger) error {
	received := make(chan *event.Event, 64)
	results := make(chan *event.Results, 64)
	s.Received, s.Results = received, results
	subs := []struct {
		topic, suffix string
		handle        func(context.Context, *pubsub.Message) bool
		done          func()
	}{
		{s.Events, "local-tail", func(ctx context.Context, m *pubsub.Message) bool {
			ev, err := event.Decode(m.Data)
			if err != nil {
				logger.WarnContext(ctx, "undecodable event on the events topic", slog.String("error", err.Error()))
				return true
			}
			logger.InfoContext(ctx, "event published", slog.String("id", ev.ID), slog.String("type", ev.Type),
				slog.String("subject", ev.Subject), slog.String("state", string(ev.Data.State)))
			if s.observer != nil {
				s.observer.Published(ev)
			}
			offer(received, ev)
			return true
		}, func() { close(received) }},
		{s.Events, "materializer", func(ctx context.Context, m *pubsub.Message) bool {
			return deliverPush(ctx, push, m)
		}, nil},
		{s.ResultsTopic, "local-tail", func(ctx context.Context, m *pubsub.Message) bool {
			r, err := event.DecodeResults(m.Data)
			if err != nil {
				logger.WarnContext(ctx, "undecodable event on the results topic", slog.String("error", err.Error()))
				return true
			}
			logger.InfoContext(ctx, "results announced", slog.String("type", r.Type), slog.String("subject", r.Subject),
				slog.String("folder", r.Data.Prefix))
			if s.observer != nil {
				s.observer.Announced(r)
			}
			offer(results, r)
			return true
		}, func() { close(results) }},
	}
	names := make([]string, len(subs))
	for i, sub := range subs {
		names[i] = s.topology.add(sub.topic, sub.suffix)
	}
	if _, err := s.topology.create(ctx); err != nil {
		return err
	}
	if s.inProcess != nil {
		// The materializer does the real work: its backlog paces the
		// receiver.
		if err := s.inProcess.Pace(names[1]); err != nil {
			return err
		}
	}
	rctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	s.res.Push(func() error { cancel(); return nil })
	for i, sub := range subs {
		s.wg.Go(func() {
			if sub.done != nil {
				defer sub.done()
			}
			s.topology.receive(rctx, names[i], sub.handle)
		})
	}
	return nil
}

// serve builds the receiver on b and serves it on opts.Addr.
func (s *Stack) serve(ctx context.Context, cfg *receiver.Config, b receiver.Backends, opts Options) error {
	h, stop, err := receiver.Build(ctx, cfg, b, opts.Logger)
	if err != nil {
		return err
	}
	s.res.Push(stop)
	var handler http.Handler = h
	if opts.Observer != nil {
		handler = opts.Observer.Wrap(h)
	}
	ln, err := (&net.ListenConfig{}).Listen(ctx, "tcp", opts.Addr)
	if err != nil {
		return fmt.Errorf("failed to listen on %s: %w", opts.Addr, err)
	}
	s.URL = "http://" + ln.Addr().String() + "/"
	s.server = newServer(handler)
	s.wg.Go(func() {
		if err := s.server.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			opts.Logger.Error("receiver stopped", slog.String("error", err.Error()))
		}
	})
	return nil
}

// startSimulator starts the Gemini API simulator on addr (a free loopback
// port when empty) and points the materializer at it.
func (s *Stack) startSimulator(overrides map[string]string, addr string) error {
	key, err := signature.GenerateSecret() // any unguessable string will do
	if err != nil {
		return err
	}
	key = "sim-" + strings.TrimPrefix(key, signature.SecretPrefix)
	sim, err := geminisim.New(geminisim.Options{APIKey: key, Addr: addr})
	if err != nil {
		return err
	}
	if err := sim.Start(); err != nil {
		return err
	}
	s.res.Push(sim.Close)
	s.Sim, s.simKey = sim, key
	s.Gemini = "Gemini API simulator at " + sim.URL()
	overrides[config.EnvGeminiAPIKey] = key
	overrides[config.EnvGeminiBaseURL] = sim.URL()
	// Downloads redirect to the simulator's download host, on loopback.
	overrides[config.EnvGeminiDownloadHosts] = strings.TrimPrefix(sim.DownloadURL(), "http://")
	return nil
}

// Close stops the server and releases every backend.
func (s *Stack) Close() error {
	var errs []error
	if s.server != nil {
		ctx, cancel := context.WithTimeout(context.Background(), shutdownTimeout)
		defer cancel()
		err := s.server.Shutdown(ctx)
		if errors.Is(err, context.DeadlineExceeded) {
			// Shutdown also waits for connections a client opened but has
			// not used yet (Go's transport dials ahead of need and keeps
			// the spare), which need not ever send a request: cut what is
			// left rather than fail.
			err = s.server.Close()
		}
		errs = append(errs, err)
	}
	errs = append(errs, s.res.Close())
	s.wg.Wait()
	return errors.Join(errs...)
}

// devSecret returns the first configured signing secret, or a new one.
func devSecret(l envconfig.Lookuper) (string, bool, error) {
	if v, ok := l.Lookup(config.EnvSigningSecrets); ok && v != "" {
		secrets, err := signature.ParseSecretList(config.EnvSigningSecrets, v)
		if err != nil {
			return "", false, err
		}
		if len(secrets) > 0 {
			return v, false, nil
		}
	}
	s, err := signature.GenerateSecret()
	return s, true, err
}

// pubsub connects to the Pub/Sub emulator when the configuration names one,
// else to an in-process Pub/Sub. The address is dialled here rather than
// left to the client, which would read the process environment instead of
// the stack's configuration.
func (s *Stack) pubsub(ctx context.Context, l envconfig.Lookuper, project string) (*pubsub.Client, string, error) {
	addr, name := "", "in-process Pub/Sub"
	if host, ok := l.Lookup(config.EnvPubSubEmulatorHost); ok && host != "" {
		addr, name = host, "Pub/Sub emulator at "+host
	} else {
		srv, err := minipubsub.New(minipubsub.Options{MaxBacklog: PubSubBacklog})
		if err != nil {
			return nil, "", err
		}
		s.res.Push(srv.Close)
		addr, s.inProcess = srv.Addr(), srv
	}
	s.PubSubAddr = addr
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		return nil, "", fmt.Errorf("failed to dial %s: %w", name, err)
	}
	c, err := pubsub.NewClient(ctx, project, option.WithGRPCConn(conn))
	if err != nil {
		return nil, "", errors.Join(fmt.Errorf("failed to connect to %s: %w", name, err), conn.Close())
	}
	s.res.Push(func() error {
		// The client may have closed the connection it was handed already.
		if err := conn.Close(); status.Code(err) != codes.Canceled {
			return err
		}
		return nil
	})
	s.res.Push(c.Close)
	return c, name, nil
}

// deliverPush hands m to the materializer as a push subscription would: a
// POST of the push envelope, acked when the answer is 2xx.
func deliverPush(ctx context.Context, h http.Handler, m *pubsub.Message) bool {
	// Like a push request, the work outlives the subscriber's shutdown for a
	// while, so stopping the stack does not cut a write short.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), pushTimeout)
	defer cancel()
	env := materializer.PushEnvelope{
		Message: materializer.PushMessage{Data: m.Data, Attributes: m.Attributes, MessageID: m.ID,
			PublishTime: m.PublishTime, OrderingKey: m.OrderingKey},
	}
	if m.DeliveryAttempt != nil {
		env.DeliveryAttempt = *m.DeliveryAttempt
	}
	body, err := json.Marshal(env)
	if err != nil {
		return false
	}
	req := httptest.NewRequestWithContext(ctx, http.MethodPost, "/", bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec.Code >= 200 && rec.Code < 300
}

// Bounds on each connection to the receiver, so that a slow or silent
// client cannot hold one forever. Deployed, Cloud Run's front end plays
// this part.
const (
	// readHeaderTimeout: headers are a few kilobytes.
	readHeaderTimeout = 5 * time.Second
	// readTimeout: a body is at most WEBHOOK_MAX_BODY_BYTES (1 MiB by
	// default), seconds even on a slow link.
	readTimeout = 30 * time.Second
	// writeTimeout runs from the end of the headers to the end of the
	// answer, so it covers the body and the handler: the deployed
	// receiver's request timeout (receiver_timeout_seconds, 60 by default).
	writeTimeout = 60 * time.Second
	// idleTimeout frees a kept-alive connection nobody uses.
	idleTimeout = 60 * time.Second
)

// newServer returns the receiver's server, with the bounds above.
func newServer(h http.Handler) *http.Server {
	return &http.Server{
		Handler: h, ReadHeaderTimeout: readHeaderTimeout, ReadTimeout: readTimeout,
		WriteTimeout: writeTimeout, IdleTimeout: idleTimeout,
	}
}

// shutdownTimeout bounds the wait for requests in progress when the stack
// stops.
const shutdownTimeout = 5 * time.Second

// pushTimeout bounds one push delivery, like a push subscription's ack
// deadline.
const pushTimeout = 2 * time.Minute

// offer sends v unless the channel is full: nobody may be reading.
func offer[T any](ch chan<- T, v T) {
	select {
	case ch <- v:
	default:
	}
}

// splitName splits projects/P/topics/T into P and T.
func splitName(name string) (project, id string) {
	parts := strings.Split(name, "/")
	return parts[1], parts[len(parts)-1]
}
