package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"cloud.google.com/go/pubsub/v2"
	"cloud.google.com/go/pubsub/v2/apiv1/pubsubpb"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/geminihooks/geminihooks/pkg/config"
)

// Redrive batching. A Publish request may carry at most 1000 messages and
// 10 MB; staying well under keeps one request per pulled batch in practice.
const (
	redrivePullSize     = 100
	redriveMaxBatchSize = 8 << 20
	// redriveAckExtension is the ack deadline set on pulled messages, so
	// that a slow publish does not let them be redelivered meanwhile.
	redriveAckExtension = 120
)

var redriveCmd = &Command{
	Name:  "redrive",
	Usage: "redrive --from SUBSCRIPTION --to TOPIC [--max N] [--dry-run]",
	Short: "move dead-lettered messages back to a topic, acknowledging each only once republished",
	Long:  helpText("redrive"),
	Run:   runRedrive,
}

// redriveSummary is redrive's --json output.
type redriveSummary struct {
	From   string `json:"from"`
	To     string `json:"to"`
	DryRun bool   `json:"dry_run"`
	Moved  int    `json:"moved"`
	Failed int    `json:"failed"`
	Left   int    `json:"left"`
	Seen   int    `json:"seen,omitempty"` // dry run: messages that would move
	Error  string `json:"error,omitempty"`
}

// pullAPI is the part of the subscriber RPC client redrive uses.
type pullAPI interface {
	Pull(ctx context.Context, req *pubsubpb.PullRequest) (*pubsubpb.PullResponse, error)
	Acknowledge(ctx context.Context, req *pubsubpb.AcknowledgeRequest) error
	ModifyAckDeadline(ctx context.Context, req *pubsubpb.ModifyAckDeadlineRequest) error
}

// publishFunc publishes msgs to topic and returns only once Pub/Sub has
// confirmed every one of them (or with an error).
type publishFunc func(ctx context.Context, topic string, msgs []*pubsubpb.PubsubMessage) error

// redriver moves messages from a subscription to a topic.
type redriver struct {
	subs     pullAPI
	publish  publishFunc
	from     string // full subscription name
	to       string // full topic name
	max      int    // 0: no limit
	pullSize int    // messages per pull
	wait     time.Duration
	dryRun   bool

	progress  io.Writer
	terminal  bool
	onMessage func(*pubsubpb.ReceivedMessage) // dry run: print one message
}

func runRedrive(ctx context.Context, env *Env, c *Command, args []string) error {
	fs := newFlagSet(env, c)
	from := fs.String("from", "", "`SUBSCRIPTION` holding the dead letters (required)")
	to := fs.String("to", "", "`TOPIC` to republish to (required)")
	project := fs.String("project", "", "project of short ids (default $GOOGLE_CLOUD_PROJECT)")
	maxMsgs := fs.Int("max", 0, "move at most `N` messages (0: all)")
	dryRun := fs.Bool("dry-run", false, "print what would move and return every message to --from")
	wait := fs.Duration("wait", 5*time.Second, "stop when --from yields nothing for this long")
	asJSON := fs.Bool("json", false, "print the summary as JSON")
	pos, err := parseFlags(env, c, fs, args)
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		return usageErrorf("unexpected arguments %q", pos)
	}
	if *from == "" || *to == "" {
		return usageErrorf("--from and --to are required")
	}
	if *maxMsgs < 0 || *wait <= 0 {
		return usageErrorf("--max must not be negative and --wait must be positive")
	}
	proj := projectOf(*from)
	if proj == "" {
		proj = projectOf(*to)
	}
	if proj == "" || !strings.HasPrefix(*from, "projects/") || !strings.HasPrefix(*to, "projects/") {
		if proj, err = projectID(env, *project); err != nil {
			return err
		}
	}
	client, err := newPubSubClient(ctx, env, proj)
	if err != nil {
		return err
	}
	defer client.Close()

	r := &redriver{
		subs:     subscriberRPC{client},
		publish:  topicPublish(client),
		from:     config.ResourceName(proj, "subscriptions", *from),
		to:       config.ResourceName(proj, "topics", *to),
		max:      *maxMsgs,
		pullSize: redrivePullSize,
		wait:     *wait,
		dryRun:   *dryRun,
		progress: env.Stderr,
		terminal: isTerminal(env.Stderr),
	}
	if *dryRun && !*asJSON {
		r.onMessage = func(m *pubsubpb.ReceivedMessage) {
			fmt.Fprintln(env.Stdout, describeMessage(toMessage(m)))
		}
	}
	sum, runErr := r.run(ctx)
	if runErr != nil {
		sum.Error = runErr.Error()
	}
	if *asJSON {
		if err := writeJSON(env.Stdout, sum); err != nil {
			return err
		}
	} else {
		printRedriveSummary(env.Stdout, sum)
	}
	if runErr != nil {
		code := ExitFailure
		if errors.Is(runErr, ErrNotFound) {
			code = ExitNotFound
		}
		return &ExitError{Code: code, Err: runErr}
	}
	return nil
}

func printRedriveSummary(w io.Writer, s redriveSummary) {
	if s.DryRun {
		fmt.Fprintf(w, "dry run: %d message(s) would move from %s to %s; all returned to %s\n", s.Seen, s.From, s.To, s.From)
		return
	}
	fmt.Fprintf(w, "moved %d, failed %d, left %d (from %s to %s)\n", s.Moved, s.Failed, s.Left, s.From, s.To)
	if s.Failed+s.Left > 0 {
		fmt.Fprintf(w, "the %d message(s) not moved are back on %s\n", s.Failed+s.Left, s.From)
	}
}

// run moves messages until the subscription is drained (nothing for
// r.wait), r.max were moved, a publish fails or ctx ends.
func (r *redriver) run(ctx context.Context) (redriveSummary, error) {
	sum := redriveSummary{From: r.from, To: r.to, DryRun: r.dryRun}
	// Held messages are returned to the subscription on the way out; in a
	// dry run that is all of them, held until the end so that none is pulled
	// twice.
	var held []string
	seen := map[string]bool{}
	defer func() { r.release(ctx, held) }()
	defer r.endProgress()

	idleSince := time.Now()
	for {
		done := sum.Moved
		if r.dryRun {
			done = sum.Seen
		}
		if r.max > 0 && done >= r.max {
			return sum, nil
		}
		if err := ctx.Err(); err != nil {
			return sum, err
		}
		want := r.pullSize
		if r.max > 0 {
			want = min(want, r.max-done)
		}
		msgs, err := r.pull(ctx, want, r.wait-time.Since(idleSince))
		if err != nil {
			return sum, err
		}
		if len(msgs) == 0 {
			if time.Since(idleSince) >= r.wait {
				return sum, nil
			}
			continue
		}
		idleSince = time.Now()
		r.extend(ctx, msgs)

		if r.dryRun {
			held = append(held, ackIDs(msgs)...)
			r.scan(msgs, &sum, seen)
			continue
		}
		if err := r.move(ctx, msgs, &sum, &held); err != nil {
			return sum, err
		}
	}
}

// scan counts and shows the messages a dry run pulled; seen holds the ids
// counted already.
func (r *redriver) scan(msgs []*pubsubpb.ReceivedMessage, sum *redriveSummary, seen map[string]bool) {
	for _, m := range msgs {
		id := m.GetMessage().GetMessageId()
		if seen[id] {
			continue // redelivered: its deadline ran out during the scan
		}
		seen[id] = true
		sum.Seen++
		if r.onMessage != nil {
			r.onMessage(m)
		}
	}
	r.showProgress(sum.Seen, "seen")
}

// move republishes msgs batch by batch, acknowledging each batch once
// Pub/Sub confirmed it. When it stops short, the messages it did not move
// are added to held, to be returned to --from.
func (r *redriver) move(ctx context.Context, msgs []*pubsubpb.ReceivedMessage, sum *redriveSummary, held *[]string) error {
	for start := 0; start < len(msgs); {
		end := batchEnd(msgs, start)
		batch := msgs[start:end]
		out := make([]*pubsubpb.PubsubMessage, len(batch))
		for i, m := range batch {
			pm := m.GetMessage()
			out[i] = &pubsubpb.PubsubMessage{Data: pm.GetData(), Attributes: pm.GetAttributes(), OrderingKey: pm.GetOrderingKey()}
		}
		if err := r.publish(ctx, r.to, out); err != nil {
			sum.Failed += len(batch)
			sum.Left += len(msgs) - end
			*held = append(*held, ackIDs(msgs[start:])...)
			return fmt.Errorf("failed to publish to %s (%d message(s) returned to %s): %w", r.to, len(msgs)-start, r.from, err)
		}
		if err := r.subs.Acknowledge(ctx, &pubsubpb.AcknowledgeRequest{Subscription: r.from, AckIds: ackIDs(batch)}); err != nil {
			// Published but not acknowledged: they will be redelivered to
			// --from and moved again, a duplicate but no loss.
			sum.Moved += len(batch)
			sum.Left += len(msgs) - end
			*held = append(*held, ackIDs(msgs[end:])...)
			return fmt.Errorf("failed to acknowledge %d republished message(s) on %s (they will be delivered again, as duplicates): %w", len(batch), r.from, err)
		}
		sum.Moved += len(batch)
		start = end
		r.showProgress(sum.Moved, "moved")
	}
	return nil
}

// release returns the held messages to --from, even once ctx has ended.
func (r *redriver) release(ctx context.Context, held []string) {
	if len(held) == 0 {
		return
	}
	nctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	if err := r.nack(nctx, held); err != nil {
		fmt.Fprintf(r.progress, "warning: %v; the messages return to %s when their ack deadline passes\n", err, r.from)
	}
}

// pull returns up to n messages, or none once wait has passed.
func (r *redriver) pull(ctx context.Context, n int, wait time.Duration) ([]*pubsubpb.ReceivedMessage, error) {
	if wait <= 0 {
		return nil, nil
	}
	pctx, cancel := context.WithTimeout(ctx, wait)
	defer cancel()
	resp, err := r.subs.Pull(pctx, &pubsubpb.PullRequest{Subscription: r.from, MaxMessages: int32(n)})
	if err != nil {
		if ctx.Err() == nil && (pctx.Err() != nil || status.Code(err) == codes.DeadlineExceeded) {
			return nil, nil // nothing arrived in time
		}
		if status.Code(err) == codes.NotFound {
			return nil, fmt.Errorf("%w: subscription %s (or its project) does not exist", ErrNotFound, r.from)
		}
		return nil, fmt.Errorf("failed to pull from %s: %w", r.from, err)
	}
	return resp.GetReceivedMessages(), nil
}

// extend lengthens the ack deadline of freshly pulled messages. A failure
// is harmless: at worst a message is redelivered while being moved, and
// moved twice.
func (r *redriver) extend(ctx context.Context, msgs []*pubsubpb.ReceivedMessage) {
	_ = r.subs.ModifyAckDeadline(ctx, &pubsubpb.ModifyAckDeadlineRequest{
		Subscription: r.from, AckIds: ackIDs(msgs), AckDeadlineSeconds: redriveAckExtension,
	})
}

// nack returns messages to the subscription at once.
func (r *redriver) nack(ctx context.Context, ids []string) error {
	for len(ids) > 0 {
		n := min(len(ids), 1000)
		if err := r.subs.ModifyAckDeadline(ctx, &pubsubpb.ModifyAckDeadlineRequest{
			Subscription: r.from, AckIds: ids[:n], AckDeadlineSeconds: 0,
		}); err != nil {
			return fmt.Errorf("failed to return %d message(s) to %s: %w", len(ids), r.from, err)
		}
		ids = ids[n:]
	}
	return nil
}

func (r *redriver) showProgress(n int, verb string) {
	total := ""
	if r.max > 0 {
		total = fmt.Sprintf("/%d", r.max)
	}
	if !r.terminal {
		fmt.Fprintf(r.progress, "redrive: %s %d%s\n", verb, n, total)
		return
	}
	bar := ""
	if r.max > 0 {
		const width = 30
		filled := min(width, n*width/r.max)
		bar = "[" + strings.Repeat("#", filled) + strings.Repeat(".", width-filled) + "] "
	}
	fmt.Fprintf(r.progress, "\rredrive: %s%s %d%s", bar, verb, n, total)
}

func (r *redriver) endProgress() {
	if r.terminal {
		fmt.Fprintln(r.progress)
	}
}

// batchEnd returns the end of the publish batch starting at start: as many
// messages as fit in redriveMaxBatchSize, at least one.
func batchEnd(msgs []*pubsubpb.ReceivedMessage, start int) int {
	size := 0
	for i := start; i < len(msgs); i++ {
		m := msgs[i].GetMessage()
		n := len(m.GetData()) + len(m.GetOrderingKey())
		for k, v := range m.GetAttributes() {
			n += len(k) + len(v)
		}
		if i > start && size+n > redriveMaxBatchSize {
			return i
		}
		size += n
	}
	return len(msgs)
}

func ackIDs(msgs []*pubsubpb.ReceivedMessage) []string {
	ids := make([]string, len(msgs))
	for i, m := range msgs {
		ids[i] = m.GetAckId()
	}
	return ids
}

// toMessage converts a pulled message for describeMessage.
func toMessage(m *pubsubpb.ReceivedMessage) *pubsub.Message {
	pm := m.GetMessage()
	out := &pubsub.Message{ID: pm.GetMessageId(), Data: pm.GetData(), Attributes: pm.GetAttributes(), OrderingKey: pm.GetOrderingKey()}
	if ts := pm.GetPublishTime(); ts != nil {
		out.PublishTime = ts.AsTime()
	}
	return out
}

// subscriberRPC adapts the client's generated subscriber to pullAPI.
type subscriberRPC struct{ c *pubsub.Client }

func (s subscriberRPC) Pull(ctx context.Context, req *pubsubpb.PullRequest) (*pubsubpb.PullResponse, error) {
	return s.c.SubscriptionAdminClient.Pull(ctx, req)
}

func (s subscriberRPC) Acknowledge(ctx context.Context, req *pubsubpb.AcknowledgeRequest) error {
	return s.c.SubscriptionAdminClient.Acknowledge(ctx, req)
}

func (s subscriberRPC) ModifyAckDeadline(ctx context.Context, req *pubsubpb.ModifyAckDeadlineRequest) error {
	return s.c.SubscriptionAdminClient.ModifyAckDeadline(ctx, req)
}

// topicPublish publishes with the Publish RPC: one request per batch, which
// Pub/Sub accepts or refuses as a whole and answers with a message id per
// message, so success means every message is stored on the topic.
func topicPublish(c *pubsub.Client) publishFunc {
	return func(ctx context.Context, topic string, msgs []*pubsubpb.PubsubMessage) error {
		resp, err := c.TopicAdminClient.Publish(ctx, &pubsubpb.PublishRequest{Topic: topic, Messages: msgs})
		if err != nil {
			return err
		}
		if got := len(resp.GetMessageIds()); got != len(msgs) {
			return fmt.Errorf("publish confirmed %d of %d messages", got, len(msgs))
		}
		return nil
	}
}
