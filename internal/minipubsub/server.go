// Package minipubsub is a small in-process Pub/Sub server for the local
// runner: the Pub/Sub gRPC API subset that the Go client's publisher and
// subscriber, and the operator tool's tail and redrive, use.
//
// Unlike pstest, the client library's fake, it keeps a message only while a
// subscription holds it, delivers in batches as soon as a consumer has room
// (pstest hands each stream about one message per 10 ms tick and rescans
// every held message on each tick, under one lock that publishes wait on),
// and bounds what it holds: a subscription holds at most Options.MaxBacklog
// messages. For a paced subscription (Server.Pace: the one whose consumer
// does the real work) a publish to its topic waits for room, so that a slow
// consumer slows the publisher down rather than the whole process; any other
// subscription keeps only its newest MaxBacklog messages, as retention
// would, so that a reader that stalls or went away never holds up the rest.
//
// What it serves: topics (create, get, delete), subscriptions (create, get,
// delete; message ordering, with one message of a key out at a time, and ack
// deadlines; no filters, dead-letter policies or seek), Publish,
// StreamingPull, Pull, Acknowledge and ModifyAckDeadline.
package minipubsub

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	pb "cloud.google.com/go/pubsub/v2/apiv1/pubsubpb"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/emptypb"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// Defaults of Options.
const (
	// DefaultMaxBacklog bounds the messages one subscription holds.
	DefaultMaxBacklog = 1000
	// defaultAckDeadline is a subscription's when it names none, as
	// Pub/Sub's.
	defaultAckDeadline = 10 * time.Second
	// defaultMaxOutstanding bounds a stream whose client names no bound.
	defaultMaxOutstanding = 1000
	// maxBatch bounds one StreamingPull response.
	maxBatch = 100
	// sweepInterval is how often expired leases are looked for.
	sweepInterval = 250 * time.Millisecond
	// pullWait is how long a Pull waits for a message before it answers
	// with none.
	pullWait = 5 * time.Second
)

// Options configures a Server.
type Options struct {
	// Addr is the listen address (default "127.0.0.1:0").
	Addr string
	// MaxBacklog bounds the messages one subscription holds, delivered or
	// not (default DefaultMaxBacklog).
	MaxBacklog int
}

// Server is a running in-process Pub/Sub. Close stops it.
type Server struct {
	pb.UnimplementedPublisherServer
	pb.UnimplementedSubscriberServer

	addr       string
	grpc       *grpc.Server
	maxBacklog int
	stop       chan struct{}
	wg         sync.WaitGroup

	mu     sync.Mutex
	topics map[string]*topic
	subs   map[string]*subscription
	nextID uint64
	// room is closed (and replaced) whenever a subscription lets go of
	// messages, waking publishes that wait for room.
	room    chan struct{}
	dropped int
}

var (
	_ pb.PublisherServer  = (*Server)(nil)
	_ pb.SubscriberServer = (*Server)(nil)
)

type topic struct {
	proto *pb.Topic
	subs  map[string]*subscription
}

// entry is one message held by one subscription.
type entry struct {
	msg *pb.PubsubMessage // shared by every subscription: never modified
	seq uint64            // publish order
	key string            // ordering key, "" when the subscription is unordered
	// attempts counts deliveries; ackID names the current one.
	attempts int
	ackID    string
	deadline time.Time
	stream   *stream // the stream it was delivered on, nil for Pull
}

type subscription struct {
	proto       *pb.Subscription
	topic       *topic
	ackDeadline time.Duration
	// queue holds the entries waiting for delivery, oldest first, from
	// head on; leased holds those delivered and not yet acknowledged.
	queue  []*entry
	head   int
	leased map[string]*entry // by ack id
	// busy are the ordering keys with an entry leased: a key's next entry
	// waits for the previous one's acknowledgement.
	busy map[string]bool
	// paced makes publishes wait while it is full (Server.Pace).
	paced bool
	// wake is closed (and replaced) whenever there may be something to
	// deliver.
	wake chan struct{}
}

// stream is one StreamingPull call.
type stream struct {
	max         int // outstanding messages the client accepts
	outstanding int
	ackDeadline time.Duration
}

// New starts a Server.
func New(opts Options) (*Server, error) {
	if opts.MaxBacklog < 0 {
		return nil, fmt.Errorf("minipubsub: negative MaxBacklog %d", opts.MaxBacklog)
	}
	if opts.MaxBacklog == 0 {
		opts.MaxBacklog = DefaultMaxBacklog
	}
	if opts.Addr == "" {
		opts.Addr = "127.0.0.1:0"
	}
	ln, err := net.Listen("tcp", opts.Addr)
	if err != nil {
		return nil, fmt.Errorf("minipubsub: failed to listen on %s: %w", opts.Addr, err)
	}
	s := &Server{
		addr: ln.Addr().String(), grpc: grpc.NewServer(), maxBacklog: opts.MaxBacklog, stop: make(chan struct{}),
		topics: map[string]*topic{}, subs: map[string]*subscription{}, room: make(chan struct{}),
	}
	pb.RegisterPublisherServer(s.grpc, s)
	pb.RegisterSubscriberServer(s.grpc, s)
	s.wg.Go(func() { _ = s.grpc.Serve(ln) })
	s.wg.Go(s.sweep)
	return s, nil
}

// Addr returns the host:port the server listens on.
func (s *Server) Addr() string { return s.addr }

// Close stops the server, ending every call in progress.
func (s *Server) Close() error {
	close(s.stop)
	s.grpc.Stop()
	s.wg.Wait()
	return nil
}

// Held returns how many messages the subscriptions hold, counting each
// subscription's copy: what the server retains.
func (s *Server) Held() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, sub := range s.subs {
		n += sub.held()
	}
	return n
}

// Dropped returns how many messages subscriptions that are not paced let
// go of to stay within MaxBacklog.
func (s *Server) Dropped() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.dropped
}

// CreateTopic implements pb.PublisherServer.
func (s *Server) CreateTopic(_ context.Context, t *pb.Topic) (*pb.Topic, error) {
	if err := checkName(t.GetName(), "topics"); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.topics[t.GetName()]; ok {
		return nil, status.Errorf(codes.AlreadyExists, "Topic already exists: %s", t.GetName())
	}
	s.topics[t.GetName()] = &topic{proto: &pb.Topic{Name: t.GetName(), Labels: t.GetLabels()}, subs: map[string]*subscription{}}
	return s.topics[t.GetName()].proto, nil
}

// GetTopic implements pb.PublisherServer.
func (s *Server) GetTopic(_ context.Context, req *pb.GetTopicRequest) (*pb.Topic, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	t, ok := s.topics[req.GetTopic()]
	if !ok {
		return nil, status.Errorf(codes.NotFound, "Topic not found: %s", req.GetTopic())
	}
	return t.proto, nil
}

// DeleteTopic implements pb.PublisherServer. Its subscriptions stay, as in
// Pub/Sub, but receive nothing more.
func (s *Server) DeleteTopic(_ context.Context, req *pb.DeleteTopicRequest) (*emptypb.Empty, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	t, ok := s.topics[req.GetTopic()]
	if !ok {
		return nil, status.Errorf(codes.NotFound, "Topic not found: %s", req.GetTopic())
	}
	for _, sub := range t.subs {
		sub.proto.Topic = "_deleted-topic_"
	}
	delete(s.topics, req.GetTopic())
	return &emptypb.Empty{}, nil
}

// Pace makes the subscription's backlog pace the publishers of its topic:
// while it holds MaxBacklog messages, a publish waits for room (until the
// publish's deadline) instead of the oldest message being dropped.
func (s *Server) Pace(subscription string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	sub, err := s.subscription(subscription)
	if err != nil {
		return err
	}
	sub.paced = true
	return nil
}

// Publish implements pb.PublisherServer. While a paced subscription of the
// topic holds MaxBacklog messages, it waits for room, until its context
// ends.
func (s *Server) Publish(ctx context.Context, req *pb.PublishRequest) (*pb.PublishResponse, error) {
	if len(req.GetMessages()) == 0 {
		return nil, status.Error(codes.InvalidArgument, "no messages to publish")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for {
		t, ok := s.topics[req.GetTopic()]
		if !ok {
			return nil, status.Errorf(codes.NotFound, "Topic not found: %s", req.GetTopic())
		}
		if s.hasRoom(t, len(req.GetMessages())) {
			return s.publishLocked(t, req.GetMessages()), nil
		}
		room := s.room
		s.mu.Unlock()
		select {
		case <-room:
		case <-ctx.Done():
			s.mu.Lock()
			return nil, status.FromContextError(ctx.Err()).Err()
		case <-s.stop:
			s.mu.Lock()
			return nil, status.Error(codes.Unavailable, "server stopped")
		}
		s.mu.Lock()
	}
}

// hasRoom reports whether every paced subscription of t can take n more
// messages (one batch always fits an empty subscription).
func (s *Server) hasRoom(t *topic, n int) bool {
	for _, sub := range t.subs {
		if held := sub.held(); sub.paced && held > 0 && held+n > s.maxBacklog {
			return false
		}
	}
	return true
}

func (s *Server) publishLocked(t *topic, msgs []*pb.PubsubMessage) *pb.PublishResponse {
	now := timestamppb.Now()
	resp := &pb.PublishResponse{MessageIds: make([]string, len(msgs))}
	for i, m := range msgs {
		s.nextID++
		id := strconv.FormatUint(s.nextID, 10)
		stored := &pb.PubsubMessage{Data: m.GetData(), Attributes: m.GetAttributes(), MessageId: id, PublishTime: now, OrderingKey: m.GetOrderingKey()}
		resp.MessageIds[i] = id
		for _, sub := range t.subs {
			e := &entry{msg: stored, seq: s.nextID}
			if sub.proto.GetEnableMessageOrdering() {
				e.key = stored.GetOrderingKey()
			}
			sub.queue = append(sub.queue, e)
			for !sub.paced && sub.held() > s.maxBacklog && sub.head < len(sub.queue) {
				// Keep the newest, as retention would.
				sub.queue[sub.head] = nil
				sub.head++
				s.dropped++
			}
			sub.notify()
		}
	}
	return resp
}

// CreateSubscription implements pb.SubscriberServer.
func (s *Server) CreateSubscription(_ context.Context, p *pb.Subscription) (*pb.Subscription, error) {
	if err := checkName(p.GetName(), "subscriptions"); err != nil {
		return nil, err
	}
	switch {
	case p.GetFilter() != "":
		return nil, status.Error(codes.Unimplemented, "the local runner's Pub/Sub does not filter: use the Pub/Sub emulator (PUBSUB_EMULATOR_HOST)")
	case p.GetDeadLetterPolicy() != nil:
		return nil, status.Error(codes.Unimplemented, "the local runner's Pub/Sub has no dead-letter topics")
	case p.GetAckDeadlineSeconds() < 0 || p.GetAckDeadlineSeconds() > 600:
		return nil, status.Errorf(codes.InvalidArgument, "ack_deadline_seconds %d is not within [0, 600]", p.GetAckDeadlineSeconds())
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	t, ok := s.topics[p.GetTopic()]
	if !ok {
		return nil, status.Errorf(codes.NotFound, "Topic not found: %s", p.GetTopic())
	}
	if _, ok := s.subs[p.GetName()]; ok {
		return nil, status.Errorf(codes.AlreadyExists, "Subscription already exists: %s", p.GetName())
	}
	proto := &pb.Subscription{
		Name: p.GetName(), Topic: p.GetTopic(), AckDeadlineSeconds: p.GetAckDeadlineSeconds(),
		EnableMessageOrdering: p.GetEnableMessageOrdering(), ExpirationPolicy: p.GetExpirationPolicy(),
		MessageRetentionDuration: p.GetMessageRetentionDuration(), Labels: p.GetLabels(), State: pb.Subscription_ACTIVE,
	}
	if proto.AckDeadlineSeconds == 0 {
		proto.AckDeadlineSeconds = int32(defaultAckDeadline / time.Second)
	}
	sub := &subscription{
		proto: proto, topic: t, ackDeadline: time.Duration(proto.AckDeadlineSeconds) * time.Second,
		leased: map[string]*entry{}, busy: map[string]bool{}, wake: make(chan struct{}),
	}
	s.subs[p.GetName()] = sub
	t.subs[p.GetName()] = sub
	return proto, nil
}

// GetSubscription implements pb.SubscriberServer.
func (s *Server) GetSubscription(_ context.Context, req *pb.GetSubscriptionRequest) (*pb.Subscription, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	sub, err := s.subscription(req.GetSubscription())
	if err != nil {
		return nil, err
	}
	return sub.proto, nil
}

// DeleteSubscription implements pb.SubscriberServer; what it held is gone.
func (s *Server) DeleteSubscription(_ context.Context, req *pb.DeleteSubscriptionRequest) (*emptypb.Empty, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	sub, err := s.subscription(req.GetSubscription())
	if err != nil {
		return nil, err
	}
	delete(s.subs, req.GetSubscription())
	delete(sub.topic.subs, req.GetSubscription())
	sub.queue, sub.head, sub.leased = nil, 0, map[string]*entry{}
	sub.notify() // ends its streams
	s.freed()
	return &emptypb.Empty{}, nil
}

// Acknowledge implements pb.SubscriberServer. Unknown and outdated ack ids
// are ignored, as Pub/Sub does.
func (s *Server) Acknowledge(_ context.Context, req *pb.AcknowledgeRequest) (*emptypb.Empty, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	sub, err := s.subscription(req.GetSubscription())
	if err != nil {
		return nil, err
	}
	s.ackLocked(sub, req.GetAckIds())
	return &emptypb.Empty{}, nil
}

// ModifyAckDeadline implements pb.SubscriberServer: 0 hands the messages
// back for redelivery (a nack), anything else extends their leases.
func (s *Server) ModifyAckDeadline(_ context.Context, req *pb.ModifyAckDeadlineRequest) (*emptypb.Empty, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	sub, err := s.subscription(req.GetSubscription())
	if err != nil {
		return nil, err
	}
	s.modifyLocked(sub, req.GetAckIds(), req.GetAckDeadlineSeconds())
	return &emptypb.Empty{}, nil
}

// Pull implements pb.SubscriberServer. It waits a few seconds for a
// message before it answers with none (return_immediately, deprecated, is
// not honoured).
func (s *Server) Pull(ctx context.Context, req *pb.PullRequest) (*pb.PullResponse, error) {
	if req.GetMaxMessages() <= 0 {
		return nil, status.Error(codes.InvalidArgument, "max_messages must be positive")
	}
	timer := time.NewTimer(pullWait)
	defer timer.Stop()
	s.mu.Lock()
	defer s.mu.Unlock()
	for {
		sub, err := s.subscription(req.GetSubscription())
		if err != nil {
			return nil, err
		}
		if got := s.takeLocked(sub, int(req.GetMaxMessages()), nil, sub.ackDeadline); len(got) > 0 {
			return &pb.PullResponse{ReceivedMessages: got}, nil
		}
		wake := sub.wake
		s.mu.Unlock()
		select {
		case <-wake:
		case <-timer.C:
			s.mu.Lock()
			return &pb.PullResponse{}, nil
		case <-ctx.Done():
			s.mu.Lock()
			return nil, status.FromContextError(ctx.Err()).Err()
		case <-s.stop:
			s.mu.Lock()
			return nil, status.Error(codes.Unavailable, "server stopped")
		}
		s.mu.Lock()
	}
}

// StreamingPull implements pb.SubscriberServer: it sends messages in
// batches while the client has room for them, and handles the acks,
// deadline changes and keep-alive pings the client sends on the stream.
func (s *Server) StreamingPull(gs pb.Subscriber_StreamingPullServer) error {
	first, err := gs.Recv()
	if err != nil {
		return err
	}
	st := &stream{max: int(first.GetMaxOutstandingMessages()), ackDeadline: time.Duration(first.GetStreamAckDeadlineSeconds()) * time.Second}
	if st.max <= 0 {
		st.max = defaultMaxOutstanding
	}
	s.mu.Lock()
	sub, err := s.subscription(first.GetSubscription())
	if err != nil {
		s.mu.Unlock()
		return err
	}
	if st.ackDeadline <= 0 {
		st.ackDeadline = sub.ackDeadline
	}
	s.handleStreamRequest(sub, st, first)
	s.mu.Unlock()

	ctx, cancel := context.WithCancel(gs.Context())
	defer cancel()
	// One goroutine sends; requests ask it to answer pings.
	pings := make(chan struct{}, 1)
	recvErr := make(chan error, 1)
	go func() {
		defer cancel()
		for {
			req, err := gs.Recv()
			if err != nil {
				recvErr <- err
				return
			}
			s.mu.Lock()
			ping := s.handleStreamRequest(sub, st, req)
			s.mu.Unlock()
			if ping {
				select {
				case pings <- struct{}{}:
				default:
				}
			}
		}
	}()
	props := &pb.StreamingPullResponse_SubscriptionProperties{MessageOrderingEnabled: sub.proto.GetEnableMessageOrdering()}
	for {
		s.mu.Lock()
		if _, ok := s.subs[sub.proto.GetName()]; !ok || s.subs[sub.proto.GetName()] != sub {
			s.mu.Unlock()
			return status.Errorf(codes.NotFound, "Subscription does not exist: %s", sub.proto.GetName())
		}
		batch := s.takeLocked(sub, min(st.max-st.outstanding, maxBatch), st, st.ackDeadline)
		wake := sub.wake
		s.mu.Unlock()
		if len(batch) > 0 {
			if err := gs.Send(&pb.StreamingPullResponse{ReceivedMessages: batch, SubscriptionProperties: props}); err != nil {
				return err
			}
			continue
		}
		select {
		case <-wake:
		case <-pings:
			if err := gs.Send(&pb.StreamingPullResponse{SubscriptionProperties: props}); err != nil {
				return err
			}
		case <-ctx.Done():
			select {
			case err := <-recvErr:
				// A client that half-closes (io.EOF) or goes away has
				// ended the stream; answering with its Recv error would
				// reach a client that is still draining as status
				// Unknown "EOF".
				if errors.Is(err, io.EOF) || errors.Is(err, context.Canceled) || status.Code(err) == codes.Canceled {
					return nil
				}
				return err
			default:
				return nil
			}
		case <-s.stop:
			return status.Error(codes.Unavailable, "server stopped")
		}
	}
}

// handleStreamRequest applies a request received on a stream and reports
// whether it was a keep-alive ping, which is answered.
func (s *Server) handleStreamRequest(sub *subscription, st *stream, req *pb.StreamingPullRequest) bool {
	s.ackLocked(sub, req.GetAckIds())
	for i, id := range req.GetModifyDeadlineAckIds() {
		if i < len(req.GetModifyDeadlineSeconds()) {
			s.modifyLocked(sub, []string{id}, req.GetModifyDeadlineSeconds()[i])
		}
	}
	if d := req.GetStreamAckDeadlineSeconds(); d > 0 {
		st.ackDeadline = time.Duration(d) * time.Second
	}
	return len(req.GetAckIds()) == 0 && len(req.GetModifyDeadlineAckIds()) == 0 && req.GetSubscription() == ""
}

// takeLocked leases up to n entries of sub, oldest first, skipping those
// whose ordering key has one leased already.
func (s *Server) takeLocked(sub *subscription, n int, st *stream, deadline time.Duration) []*pb.ReceivedMessage {
	if n <= 0 {
		return nil
	}
	var out []*pb.ReceivedMessage
	var skipped []*entry
	now := time.Now()
	i := sub.head
	for ; i < len(sub.queue) && len(out) < n; i++ {
		e := sub.queue[i]
		if e.key != "" && sub.busy[e.key] {
			skipped = append(skipped, e)
			continue
		}
		e.attempts++
		e.ackID = e.msg.GetMessageId() + "-" + strconv.Itoa(e.attempts)
		e.deadline, e.stream = now.Add(deadline), st
		sub.leased[e.ackID] = e
		if e.key != "" {
			sub.busy[e.key] = true
		}
		if st != nil {
			st.outstanding++
		}
		// DeliveryAttempt stays 0: Pub/Sub sets it only with a dead-letter
		// policy, which this server does not have.
		out = append(out, &pb.ReceivedMessage{AckId: e.ackID, Message: e.msg})
	}
	if len(out) == 0 {
		return nil
	}
	// The entries skipped for their key stay first, in order.
	clear(sub.queue[sub.head:i])
	sub.head = i - len(skipped)
	copy(sub.queue[sub.head:i], skipped)
	sub.compact()
	return out
}

// ackLocked removes the acknowledged entries.
func (s *Server) ackLocked(sub *subscription, ids []string) {
	freed := false
	for _, id := range ids {
		if e, ok := sub.leased[id]; ok {
			sub.release(e)
			freed = true
		}
	}
	if freed {
		sub.notify()
		s.freed()
	}
}

// modifyLocked extends leases, or with 0 seconds hands them back.
func (s *Server) modifyLocked(sub *subscription, ids []string, seconds int32) {
	now := time.Now()
	var back []*entry
	for _, id := range ids {
		e, ok := sub.leased[id]
		if !ok {
			continue
		}
		if seconds > 0 {
			e.deadline = now.Add(time.Duration(seconds) * time.Second)
			continue
		}
		sub.release(e)
		back = append(back, e)
	}
	if len(back) > 0 {
		sub.requeue(back)
		sub.notify()
	}
}

// sweep hands back the entries whose lease expired.
func (s *Server) sweep() {
	t := time.NewTicker(sweepInterval)
	defer t.Stop()
	for {
		select {
		case <-s.stop:
			return
		case <-t.C:
		}
		now := time.Now()
		s.mu.Lock()
		for _, sub := range s.subs {
			var back []*entry
			for _, e := range sub.leased {
				if now.After(e.deadline) {
					back = append(back, e)
				}
			}
			for _, e := range back {
				sub.release(e)
			}
			if len(back) > 0 {
				sub.requeue(back)
				sub.notify()
			}
		}
		s.mu.Unlock()
	}
}

// freed wakes the publishes waiting for room.
func (s *Server) freed() {
	close(s.room)
	s.room = make(chan struct{})
}

func (s *Server) subscription(name string) (*subscription, error) {
	sub, ok := s.subs[name]
	if !ok {
		return nil, status.Errorf(codes.NotFound, "Subscription does not exist: %s", name)
	}
	return sub, nil
}

// held counts the entries waiting and leased.
func (sub *subscription) held() int { return len(sub.queue) - sub.head + len(sub.leased) }

// release ends e's lease.
func (sub *subscription) release(e *entry) {
	delete(sub.leased, e.ackID)
	if e.key != "" {
		delete(sub.busy, e.key)
	}
	if e.stream != nil {
		e.stream.outstanding--
		e.stream = nil
	}
}

// requeue puts entries handed back before those waiting, oldest first, so
// that an ordering key's next entry cannot overtake them.
func (sub *subscription) requeue(back []*entry) {
	slices.SortFunc(back, func(a, b *entry) int { return cmp.Compare(a.seq, b.seq) })
	if sub.head >= len(back) {
		sub.head -= len(back)
		copy(sub.queue[sub.head:], back)
		return
	}
	sub.queue = append(append(make([]*entry, 0, len(back)+len(sub.queue)-sub.head), back...), sub.queue[sub.head:]...)
	sub.head = 0
}

// compact drops the consumed prefix once it is most of the queue.
func (sub *subscription) compact() {
	if sub.head > 0 && sub.head >= len(sub.queue)/2 {
		n := copy(sub.queue, sub.queue[sub.head:])
		clear(sub.queue[n:])
		sub.queue, sub.head = sub.queue[:n], 0
	}
}

// notify wakes the subscription's readers.
func (sub *subscription) notify() {
	close(sub.wake)
	sub.wake = make(chan struct{})
}

// checkName checks a full resource name: projects/P/<collection>/ID.
func checkName(name, collection string) error {
	parts := strings.Split(name, "/")
	if len(parts) != 4 || parts[0] != "projects" || parts[2] != collection || parts[1] == "" || parts[3] == "" {
		return status.Errorf(codes.InvalidArgument, "invalid resource name %q: want projects/P/%s/ID", name, collection)
	}
	return nil
}
