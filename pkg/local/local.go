// Package local runs geminihooks on one machine with no cloud account: the
// receiver on loopback, backed by in-memory idempotency and an in-process
// Pub/Sub (pstest), or by the Firestore and Pub/Sub emulators when
// FIRESTORE_EMULATOR_HOST / PUBSUB_EMULATOR_HOST are set.
package local

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"

	"cloud.google.com/go/firestore"
	"cloud.google.com/go/pubsub/v2"
	"cloud.google.com/go/pubsub/v2/apiv1/pubsubpb"
	"cloud.google.com/go/pubsub/v2/pstest"
	"github.com/sethvargo/go-envconfig"
	"google.golang.org/api/option"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

	"github.com/geminihooks/geminihooks/pkg/event"
	"github.com/geminihooks/geminihooks/pkg/idempotency"
	"github.com/geminihooks/geminihooks/pkg/publish"
	"github.com/geminihooks/geminihooks/pkg/receiver"
	"github.com/geminihooks/geminihooks/pkg/signature"
)

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
}

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

	// Received carries every event published, as the tail subscription
	// sees it (buffered; events are dropped when nobody reads).
	Received <-chan *event.Event

	server  *http.Server
	closers []func() error
	wg      sync.WaitGroup
}

// Start starts the stack; Close stops it.
func Start(ctx context.Context, opts Options) (s *Stack, err error) {
	if opts.Logger == nil {
		return nil, errors.New("local: missing logger")
	}
	lookuper := opts.Lookuper
	if lookuper == nil {
		lookuper = envconfig.OsLookuper()
	}
	s = &Stack{}
	defer func() {
		if err != nil {
			err = errors.Join(err, s.Close())
		}
	}()

	secret, generated, err := devSecret(lookuper)
	if err != nil {
		return nil, err
	}
	s.Secret, s.Generated = secret, generated
	cfg, err := receiver.LoadConfig(ctx, envconfig.MultiLookuper(
		envconfig.MapLookuper(map[string]string{"WEBHOOK_SIGNING_SECRETS": secret}), lookuper))
	if err != nil {
		return nil, err
	}
	if cfg.ProjectID == "" {
		cfg.ProjectID = DefaultProject
	}

	secrets, err := cfg.Secrets()
	if err != nil {
		return nil, err
	}
	verifier, err := receiver.NewVerifier(cfg, signature.StaticSecrets(secrets), opts.Logger)
	if err != nil {
		return nil, err
	}
	ledger, ledgerName, err := s.ledger(ctx, lookuper, cfg)
	if err != nil {
		return nil, err
	}
	ps, psName, err := s.pubsub(ctx, lookuper, cfg.ProjectID)
	if err != nil {
		return nil, err
	}
	s.Backends = ledgerName + ", " + psName
	topic := "projects/" + cfg.ProjectID + "/topics/" + cfg.EventsTopic
	tailSub := "projects/" + cfg.ProjectID + "/subscriptions/" + cfg.EventsTopic + "-local-tail"
	if err := s.tail(ctx, ps, topic, tailSub, opts.Logger); err != nil {
		return nil, err
	}
	pub, err := publish.NewPubSub(ps, topic, receiver.PublishOptions(cfg))
	if err != nil {
		return nil, err
	}
	s.closers = append(s.closers, func() error { pub.Stop(); return nil })
	s.Events = topic

	h, err := receiver.New(verifier, ledger, pub, opts.Logger, receiver.HandlerOptions(cfg))
	if err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", opts.Addr)
	if err != nil {
		return nil, fmt.Errorf("failed to listen on %s: %w", opts.Addr, err)
	}
	s.URL = "http://" + ln.Addr().String() + "/"
	s.server = &http.Server{Handler: h, ReadHeaderTimeout: 5 * time.Second}
	s.wg.Go(func() {
		if err := s.server.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			opts.Logger.Error("receiver stopped", slog.String("error", err.Error()))
		}
	})
	return s, nil
}

// Close stops the server and releases every backend.
func (s *Stack) Close() error {
	var errs []error
	if s.server != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		errs = append(errs, s.server.Shutdown(ctx))
	}
	for i := len(s.closers) - 1; i >= 0; i-- {
		errs = append(errs, s.closers[i]())
	}
	s.closers = nil
	s.wg.Wait()
	return errors.Join(errs...)
}

// devSecret returns the first configured signing secret, or a new one.
func devSecret(l envconfig.Lookuper) (string, bool, error) {
	if v, ok := l.Lookup("WEBHOOK_SIGNING_SECRETS"); ok && v != "" {
		secrets, err := signature.ParseSecretList("WEBHOOK_SIGNING_SECRETS", v)
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

func (s *Stack) ledger(ctx context.Context, l envconfig.Lookuper, cfg *receiver.Config) (receiver.Ledger, string, error) {
	if host, ok := l.Lookup("FIRESTORE_EMULATOR_HOST"); ok && host != "" {
		c, err := firestore.NewClientWithDatabase(ctx, cfg.ProjectID, cfg.FirestoreDatabase)
		if err != nil {
			return nil, "", fmt.Errorf("failed to connect to the Firestore emulator at %s: %w", host, err)
		}
		s.closers = append(s.closers, c.Close)
		ledger, err := idempotency.NewFirestore(c, receiver.LedgerOptions(cfg))
		return ledger, "Firestore emulator at " + host, err
	}
	ledger, err := idempotency.NewMemory(receiver.LedgerOptions(cfg))
	return ledger, "in-memory idempotency", err
}

func (s *Stack) pubsub(ctx context.Context, l envconfig.Lookuper, project string) (*pubsub.Client, string, error) {
	if host, ok := l.Lookup("PUBSUB_EMULATOR_HOST"); ok && host != "" {
		c, err := pubsub.NewClient(ctx, project)
		if err != nil {
			return nil, "", fmt.Errorf("failed to connect to the Pub/Sub emulator at %s: %w", host, err)
		}
		s.closers = append(s.closers, c.Close)
		return c, "Pub/Sub emulator at " + host, nil
	}
	srv := pstest.NewServer()
	s.closers = append(s.closers, srv.Close)
	conn, err := grpc.NewClient(srv.Addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		return nil, "", fmt.Errorf("failed to dial in-process Pub/Sub: %w", err)
	}
	c, err := pubsub.NewClient(ctx, project, option.WithGRPCConn(conn))
	if err != nil {
		return nil, "", errors.Join(fmt.Errorf("failed to create in-process Pub/Sub client: %w", err), conn.Close())
	}
	s.closers = append(s.closers, func() error {
		// The client may have closed the connection it was handed already.
		if err := conn.Close(); status.Code(err) != codes.Canceled {
			return err
		}
		return nil
	}, c.Close)
	return c, "in-process Pub/Sub", nil
}

// tail creates the events topic and a subscription that logs every event,
// the way a downstream subscriber would see it.
func (s *Stack) tail(ctx context.Context, c *pubsub.Client, topic, subName string, logger *slog.Logger) error {
	if _, err := c.TopicAdminClient.CreateTopic(ctx, &pubsubpb.Topic{Name: topic}); err != nil && status.Code(err) != codes.AlreadyExists {
		return fmt.Errorf("failed to create topic %s: %w", topic, err)
	}
	if _, err := c.SubscriptionAdminClient.CreateSubscription(ctx, &pubsubpb.Subscription{
		Name: subName, Topic: topic, EnableMessageOrdering: true,
	}); err != nil && status.Code(err) != codes.AlreadyExists {
		return fmt.Errorf("failed to create subscription %s: %w", subName, err)
	}
	received := make(chan *event.Event, 64)
	s.Received = received
	rctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	s.closers = append(s.closers, func() error { cancel(); return nil })
	s.wg.Go(func() {
		defer close(received)
		err := c.Subscriber(subName).Receive(rctx, func(ctx context.Context, m *pubsub.Message) {
			m.Ack()
			ev, err := event.Decode(m.Data)
			if err != nil {
				logger.WarnContext(ctx, "undecodable event on the events topic", slog.String("error", err.Error()))
				return
			}
			logger.InfoContext(ctx, "event published",
				slog.String("id", ev.ID), slog.String("type", ev.Type), slog.String("subject", ev.Subject),
				slog.String("state", string(ev.Data.State)), slog.Any("attributes", m.Attributes))
			select {
			case received <- ev:
			default:
			}
		})
		if err != nil && rctx.Err() == nil {
			logger.Error("event tail stopped", slog.String("error", err.Error()))
		}
	})
	return nil
}
