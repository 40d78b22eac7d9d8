package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"

	"cloud.google.com/go/pubsub/v2"
	"cloud.google.com/go/pubsub/v2/apiv1/pubsubpb"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/geminihooks/geminihooks/pkg/config"
	"github.com/geminihooks/geminihooks/pkg/event"
)

// tailSubscriptionTTL expires a temporary tail subscription that was not
// deleted (the process was killed); 24h is Pub/Sub's minimum.
const tailSubscriptionTTL = 24 * time.Hour

var tailCmd = &Command{
	Name:  "tail",
	Usage: "tail (--subscription SUB | --topic TOPIC [--job JOB]) [--json] [--max N] [--timeout D]",
	Short: "print events from the events or results topic as they arrive",
	Long:  helpText("tail"),
	Run:   runTail,
}

// tailLine is tail's --json output, one per message.
type tailLine struct {
	MessageID       string            `json:"message_id"`
	PublishTime     time.Time         `json:"publish_time"`
	OrderingKey     string            `json:"ordering_key,omitempty"`
	DeliveryAttempt *int              `json:"delivery_attempt,omitempty"`
	Attributes      map[string]string `json:"attributes,omitempty"`
	Data            json.RawMessage   `json:"data,omitempty"`
	DataBase64      []byte            `json:"data_base64,omitempty"`
}

func runTail(ctx context.Context, env *Env, c *Command, args []string) error {
	fs := newFlagSet(env, c)
	sub := fs.String("subscription", "", "`SUBSCRIPTION` to read (id or projects/P/subscriptions/S)")
	topic := fs.String("topic", "", "`TOPIC` to read through a temporary subscription")
	project := fs.String("project", "", "project of short ids (default $GOOGLE_CLOUD_PROJECT)")
	asJSON := fs.Bool("json", false, "print one JSON object per message")
	job := fs.String("job", "", "show only the events of `JOB` (batches/ID, interactions/ID, models/M/operations/ID or a bare id); needs --topic")
	maxMsgs := fs.Int("max", 0, "stop after `N` messages (0: no limit)")
	timeout := fs.Duration("timeout", 0, "stop after this long (0: until interrupted)")
	pos, err := parseFlags(env, c, fs, args)
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		return usageErrorf("unexpected arguments %q", pos)
	}
	if (*sub == "") == (*topic == "") {
		return usageErrorf("give exactly one of --subscription and --topic")
	}
	if *maxMsgs < 0 || *timeout < 0 {
		return usageErrorf("--max and --timeout must not be negative")
	}
	var keep func(*pubsub.Message) bool
	if *job != "" {
		if *sub != "" {
			// Messages of other jobs would have to be acknowledged unseen
			// or handed back again and again.
			return usageErrorf("--job needs --topic (a subscription of tail's own); for --subscription, give the subscription a filter: "+
				"gcloud pubsub subscriptions create SUB --topic TOPIC --message-filter='attributes.%s = \"%s\"'", event.AttrResource, *job)
		}
		if keep, err = jobFilter(*job); err != nil {
			return err
		}
	}
	name := *sub
	if name == "" {
		name = *topic
	}
	proj := projectOf(name)
	if proj == "" {
		if proj, err = projectID(env, *project); err != nil {
			return err
		}
	}
	client, err := newPubSubClient(ctx, env, proj)
	if err != nil {
		return err
	}
	defer client.Close()

	if *timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, *timeout)
		defer cancel()
	}
	subName := config.ResourceName(proj, "subscriptions", *sub)
	if *topic != "" {
		var remove func()
		if subName, remove, err = tempSubscription(ctx, env, client, proj, *topic); err != nil {
			return err
		}
		defer remove()
	}
	seen, err := receive(ctx, env, client, subName, *maxMsgs, *asJSON, keep)
	if err != nil {
		return err
	}
	// A script waiting with --max and --timeout must tell "arrived" from
	// "timed out"; an interrupt (context.Canceled) is the operator's choice.
	if *maxMsgs > 0 && seen < *maxMsgs && errors.Is(ctx.Err(), context.DeadlineExceeded) {
		return &ExitError{Code: ExitFailure, Err: fmt.Errorf("timed out after %s with %d of --max %d message(s)", *timeout, seen, *maxMsgs)}
	}
	return nil
}

// tempSubscription creates a subscription to topic that expires on its own
// if tail is killed; remove deletes it.
func tempSubscription(ctx context.Context, env *Env, client *pubsub.Client, proj, topic string) (subName string, remove func(), err error) {
	subName = config.ResourceName(proj, "subscriptions", "geminihooks-tail-"+randomID(10))
	if _, err := client.SubscriptionAdminClient.CreateSubscription(ctx, &pubsubpb.Subscription{
		Name:                     subName,
		Topic:                    config.ResourceName(proj, "topics", topic),
		AckDeadlineSeconds:       60,
		ExpirationPolicy:         &pubsubpb.ExpirationPolicy{Ttl: durationpb.New(tailSubscriptionTTL)},
		MessageRetentionDuration: durationpb.New(10 * time.Minute),
	}); err != nil {
		if status.Code(err) == codes.NotFound {
			return "", nil, fmt.Errorf("%w: topic %s does not exist", ErrNotFound, config.ResourceName(proj, "topics", topic))
		}
		return "", nil, fmt.Errorf("failed to create a temporary subscription to %s: %w", topic, err)
	}
	fmt.Fprintf(env.Stderr, "tailing %s through %s; Ctrl-C to stop\n", topic, subName)
	return subName, func() {
		dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		defer cancel()
		if err := client.SubscriptionAdminClient.DeleteSubscription(dctx, &pubsubpb.DeleteSubscriptionRequest{Subscription: subName}); err != nil {
			fmt.Fprintf(env.Stderr, "warning: failed to delete the temporary subscription %s: %v\n", subName, err)
		}
	}, nil
}

// receive prints and acknowledges the messages of subName until ctx ends
// or, when maxMsgs is above 0, maxMsgs were printed, and returns how many it
// printed.
// Messages keep refuses (keep nil accepts all) are acknowledged without
// being shown or counted.
func receive(ctx context.Context, env *Env, client *pubsub.Client, subName string, maxMsgs int, asJSON bool, keep func(*pubsub.Message) bool) (int, error) {
	rctx, stop := context.WithCancel(ctx)
	defer stop()
	s := client.Subscriber(subName)
	// One message at a time, so --max is exact and lines come in arrival order.
	s.ReceiveSettings.MaxOutstandingMessages = 1
	s.ReceiveSettings.NumGoroutines = 1
	var (
		mu    sync.Mutex
		seen  int
		wrErr error
	)
	err := s.Receive(rctx, func(_ context.Context, m *pubsub.Message) {
		mu.Lock()
		defer mu.Unlock()
		if (maxMsgs > 0 && seen >= maxMsgs) || wrErr != nil {
			m.Nack() // not shown: leave it for the next reader
			return
		}
		if keep != nil && !keep(m) {
			m.Ack()
			return
		}
		if asJSON {
			wrErr = writeTailJSON(env.Stdout, m)
		} else {
			_, wrErr = fmt.Fprintln(env.Stdout, describeMessage(m))
		}
		if wrErr != nil {
			m.Nack()
			stop()
			return
		}
		m.Ack()
		seen++
		if maxMsgs > 0 && seen >= maxMsgs {
			stop()
		}
	})
	if err != nil && !errors.Is(err, context.Canceled) && !errors.Is(err, context.DeadlineExceeded) {
		if status.Code(err) == codes.NotFound {
			return seen, fmt.Errorf("%w: subscription %s (or its project) does not exist", ErrNotFound, subName)
		}
		return seen, fmt.Errorf("failed to receive from %s: %w", subName, err)
	}
	if wrErr != nil {
		return seen, fmt.Errorf("failed to write: %w", wrErr)
	}
	return seen, nil
}

func writeTailJSON(w io.Writer, m *pubsub.Message) error {
	line := tailLine{
		MessageID: m.ID, PublishTime: m.PublishTime.UTC(), OrderingKey: m.OrderingKey,
		DeliveryAttempt: m.DeliveryAttempt, Attributes: m.Attributes,
	}
	if json.Valid(m.Data) {
		line.Data = m.Data
	} else {
		line.DataBase64 = m.Data
	}
	b, err := json.Marshal(line)
	if err != nil {
		return err
	}
	_, err = fmt.Fprintf(w, "%s\n", b)
	return err
}

// describeMessage renders one message as a readable line.
func describeMessage(m *pubsub.Message) string {
	if strings.HasPrefix(m.Attributes[event.AttrEventType], "results.") {
		if r, err := event.DecodeResults(m.Data); err == nil {
			return describeResults(r)
		}
	}
	if ev, err := event.Decode(m.Data); err == nil {
		return describeEvent(ev, m.Attributes)
	}
	if r, err := event.DecodeResults(m.Data); err == nil {
		return describeResults(r)
	}
	return fmt.Sprintf("%s  %-27s  message %s  %d bytes, not a geminihooks event  %s",
		m.PublishTime.UTC().Format(time.RFC3339), "?", m.ID, len(m.Data), formatAttrs(m.Attributes, nil))
}

func describeEvent(ev *event.Event, attrs map[string]string) string {
	d := ev.Data
	parts := []string{
		ev.Time.UTC().Format(time.RFC3339),
		fmt.Sprintf("%-27s", orNone(d.GeminiEventType)),
		orNone(ev.Subject),
		string(d.State),
	}
	if d.Error != nil {
		parts = append(parts, fmt.Sprintf("error=%s:%q", d.Error.Code, d.Error.Message))
	}
	if d.Files != nil {
		b, _ := json.Marshal(d.Files)
		parts = append(parts, "files="+string(b))
	}
	parts = append(parts, "id="+ev.ID, formatAttrs(attrs, map[string]bool{
		event.AttrEventType: true, event.AttrResource: true, event.AttrState: true,
		event.AttrEventID: true, event.AttrSchemaVersion: true, event.AttrCEType: true,
	}))
	return strings.TrimRight(strings.Join(parts, "  "), " ")
}

func describeResults(r *event.Results) string {
	d := r.Data
	parts := []string{
		r.Time.UTC().Format(time.RFC3339),
		fmt.Sprintf("%-27s", resultsEventType(r.Type)),
		r.Subject,
		string(d.State),
	}
	if d.Prefix != "" {
		parts = append(parts, d.Prefix)
	}
	objs := make([]string, 0, len(d.Objects))
	for _, o := range d.Objects {
		name := strings.TrimPrefix(o.Name, strings.TrimPrefix(d.Prefix, "gs://"+d.Bucket+"/"))
		objs = append(objs, fmt.Sprintf("%s (%s)", name, humanBytes(o.Size)))
	}
	if len(objs) > 0 {
		parts = append(parts, strings.Join(objs, ", "))
	}
	if d.Error != nil {
		parts = append(parts, fmt.Sprintf("error=%s:%q", d.Error.Code, d.Error.Message))
	}
	return strings.Join(parts, "  ")
}

// formatAttrs prints attributes as sorted key=value pairs, leaving out skip.
func formatAttrs(attrs map[string]string, skip map[string]bool) string {
	keys := slices.Sorted(maps.Keys(attrs))
	var parts []string
	for _, k := range keys {
		if !skip[k] {
			parts = append(parts, k+"="+attrs[k])
		}
	}
	return strings.Join(parts, " ")
}

// resultsEventType shortens a results event's CloudEvents type to its
// event_type attribute ("results.stored").
func resultsEventType(ceType string) string {
	switch ceType {
	case event.ResultsTypeStored:
		return event.ResultsEventStored
	case event.ResultsTypeFailed:
		return event.ResultsEventFailed
	}
	return ceType
}

// jobFilter returns a test of whether a message is about job: a resource
// name matches the resource attribute exactly, a bare id its last segment
// (of any kind, or of --kind's).
func jobFilter(job string) (func(*pubsub.Message) bool, error) {
	folders, err := jobFolders(job, "")
	if err != nil {
		return nil, err
	}
	name := strings.Trim(strings.TrimSpace(job), "/")
	return func(m *pubsub.Message) bool {
		res := m.Attributes[event.AttrResource]
		if res == "" {
			return false
		}
		if res == name {
			return true
		}
		id := res[strings.LastIndexByte(res, '/')+1:]
		for _, f := range folders {
			if f.id == id && (len(folders) > 1 || string(f.kind) == m.Attributes[event.AttrKind]) {
				return true
			}
		}
		return false
	}, nil
}
