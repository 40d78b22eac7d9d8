// Command subscriber is an example consumer of the geminihooks results
// topic: for every job a results event announces, it reads the stored
// results with package results, counts a batch's succeeded and failed
// requests (or a report's citations, a job's videos), and writes one
// summary object per job, <SUMMARY_PREFIX>/<kind>/<id>.json.
//
// It pulls a subscription with exactly-once delivery, acknowledges a
// message only once the summary is durable, and nacks it when anything
// fails, so that Pub/Sub redelivers it (and, after the subscription's
// maximum delivery attempts, moves it to the dead-letter topic).
// Duplicates are harmless: event ids handled by this process are
// remembered, and a summary, named after its job, is written once.
//
// Configuration, from the environment:
//
//	GOOGLE_CLOUD_PROJECT   the project (required)
//	RESULTS_BUCKET         the results bucket (required)
//	RESULTS_SUBSCRIPTION   subscription id or full name (default geminihooks-results-consumer)
//	RESULTS_DIR            read and write the local runner's data directory instead of Cloud Storage
//	SUMMARY_BUCKET         bucket for the summaries (default RESULTS_BUCKET)
//	SUMMARY_PREFIX         folder of the summaries (default summaries)
//	MAX_OUTSTANDING        messages handled at once (default 4)
//	RESULTS_TOPIC          with the Pub/Sub emulator only: the topic to create the subscription on
//	                       (default geminihooks-results)
//	LOG_LEVEL              debug, info, warning or error (default info)
//
// With PUBSUB_EMULATOR_HOST set, it creates the topic and subscription if
// they are missing, as Terraform does in a project. See README.md for a run
// against the local runner.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"cloud.google.com/go/pubsub/v2"
	"cloud.google.com/go/pubsub/v2/apiv1/pubsubpb"
	"cloud.google.com/go/storage"
	"github.com/sethvargo/go-envconfig"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/geminihooks/geminihooks/pkg/blob"
	"github.com/geminihooks/geminihooks/pkg/cleanup"
	"github.com/geminihooks/geminihooks/pkg/logging"
	"github.com/geminihooks/geminihooks/pkg/results"
)

// Config is the subscriber's configuration, read from the environment.
type Config struct {
	// ProjectID is the project of the subscription.
	ProjectID string `env:"GOOGLE_CLOUD_PROJECT, required"`
	// ResultsBucket is the bucket the results events name.
	ResultsBucket string `env:"RESULTS_BUCKET, required"`
	// Subscription is the pull subscription to the results topic, an id
	// or a full name.
	Subscription string `env:"RESULTS_SUBSCRIPTION, default=geminihooks-results-consumer"`
	// ResultsDir, when set, is the local runner's data directory: results
	// are read from it, and summaries written to it, instead of Cloud
	// Storage.
	ResultsDir string `env:"RESULTS_DIR"`
	// SummaryBucket receives the summaries; empty means ResultsBucket.
	SummaryBucket string `env:"SUMMARY_BUCKET"`
	// SummaryPrefix is the folder of the summaries.
	SummaryPrefix string `env:"SUMMARY_PREFIX, default=summaries"`
	// MaxOutstanding bounds the messages handled at once.
	MaxOutstanding int `env:"MAX_OUTSTANDING, default=4"`
	// ResultsTopic is the topic the subscription is created on, with the
	// Pub/Sub emulator only.
	ResultsTopic string `env:"RESULTS_TOPIC, default=geminihooks-results"`
	// LogLevel is debug, info, warning or error.
	LogLevel string `env:"LOG_LEVEL, default=info"`
	// EmulatorHost is read only to decide whether to create the
	// subscription; the client library finds the emulator by itself.
	EmulatorHost string `env:"PUBSUB_EMULATOR_HOST"`
}

// LoadConfig reads the configuration from l.
func LoadConfig(ctx context.Context, l envconfig.Lookuper) (*Config, error) {
	var c Config
	if err := envconfig.ProcessWith(ctx, &envconfig.Config{Target: &c, Lookuper: l}); err != nil {
		return nil, err
	}
	if c.SummaryBucket == "" {
		c.SummaryBucket = c.ResultsBucket
	}
	if c.MaxOutstanding < 1 {
		return nil, fmt.Errorf("MAX_OUTSTANDING must be at least 1, not %d", c.MaxOutstanding)
	}
	return &c, nil
}

// SubscriptionName returns the subscription's full name.
func (c *Config) SubscriptionName() string {
	return fullName(c.ProjectID, "subscriptions", c.Subscription)
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, envconfig.OsLookuper(), os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "subscriber:", err)
		os.Exit(1)
	}
}

// run receives until ctx is done.
func run(ctx context.Context, l envconfig.Lookuper, logs io.Writer) (err error) {
	cfg, err := LoadConfig(ctx, l)
	if err != nil {
		return err
	}
	level, err := logging.ParseLevel(cfg.LogLevel)
	if err != nil {
		return err
	}
	logger := logging.New(logs, level)

	var res cleanup.Stack
	defer func() { err = errors.Join(err, res.Close()) }()
	reader, summaries, err := stores(ctx, cfg, &res)
	if err != nil {
		return err
	}
	sub, err := NewSubscriber(reader, summaries, cfg.SummaryPrefix, logger)
	if err != nil {
		return err
	}
	ps, err := pubsub.NewClient(ctx, cfg.ProjectID)
	if err != nil {
		return fmt.Errorf("failed to create Pub/Sub client: %w", err)
	}
	res.Push(ps.Close)
	if cfg.EmulatorHost != "" {
		if err := ensureSubscription(ctx, ps, fullName(cfg.ProjectID, "topics", cfg.ResultsTopic), cfg.SubscriptionName()); err != nil {
			return err
		}
	}
	logger.InfoContext(ctx, "receiving results events", slog.String("subscription", cfg.SubscriptionName()))
	err = receive(ctx, ps, cfg, sub)
	st := sub.Stats()
	logger.InfoContext(ctx, "stopped", slog.Int64("summaries_written", st.Written), slog.Int64("duplicates", st.Duplicates),
		slog.Int64("retried", st.Retried))
	return err
}

// receive hands every message of the subscription to sub until ctx is done.
func receive(ctx context.Context, ps *pubsub.Client, cfg *Config, sub *Subscriber) error {
	s := ps.Subscriber(cfg.SubscriptionName())
	// Each message in flight may stream a multi-gigabyte result; the
	// reader's memory is constant per message, so this bounds the total.
	s.ReceiveSettings.MaxOutstandingMessages = cfg.MaxOutstanding
	err := s.Receive(ctx, func(ctx context.Context, m *pubsub.Message) { sub.Handle(ctx, m) })
	if err != nil && ctx.Err() == nil {
		return fmt.Errorf("receiving from %s: %w", cfg.SubscriptionName(), err)
	}
	return nil
}

// stores returns the results reader and the summary store: the local
// runner's data directory, or Cloud Storage.
func stores(ctx context.Context, cfg *Config, res *cleanup.Stack) (*results.Reader, Summaries, error) {
	if cfg.ResultsDir != "" {
		dir, err := blob.NewDir(cfg.ResultsDir)
		if err != nil {
			return nil, nil, err
		}
		reader, err := results.New(dir, cfg.ResultsBucket, results.Options{})
		return reader, dir, err
	}
	gcs, err := storage.NewClient(ctx)
	if err != nil {
		return nil, nil, fmt.Errorf("failed to create Cloud Storage client: %w", err)
	}
	res.Push(gcs.Close)
	bucket, err := blob.NewGCS(gcs, cfg.ResultsBucket, blob.GCSOptions{})
	if err != nil {
		return nil, nil, err
	}
	summaries, err := blob.NewGCS(gcs, cfg.SummaryBucket, blob.GCSOptions{})
	if err != nil {
		return nil, nil, err
	}
	reader, err := results.New(bucket, cfg.ResultsBucket, results.Options{})
	return reader, summaries, err
}

// ensureSubscription creates topic and the subscription to it if they do
// not exist, as Terraform's example subscription is configured: pull, with
// exactly-once delivery (which the emulator accepts but does not provide).
func ensureSubscription(ctx context.Context, ps *pubsub.Client, topic, sub string) error {
	if _, err := ps.TopicAdminClient.CreateTopic(ctx, &pubsubpb.Topic{Name: topic}); err != nil && status.Code(err) != codes.AlreadyExists {
		return fmt.Errorf("failed to create topic %s: %w", topic, err)
	}
	_, err := ps.SubscriptionAdminClient.CreateSubscription(ctx, &pubsubpb.Subscription{
		Name: sub, Topic: topic, AckDeadlineSeconds: 60, EnableExactlyOnceDelivery: true,
	})
	if err != nil && status.Code(err) != codes.AlreadyExists {
		return fmt.Errorf("failed to create subscription %s: %w", sub, err)
	}
	return nil
}

// fullName returns projects/<project>/<collection>/<id>, or id when it is
// a full name already.
func fullName(project, collection, id string) string {
	if strings.HasPrefix(id, "projects/") {
		return id
	}
	return "projects/" + project + "/" + collection + "/" + id
}
