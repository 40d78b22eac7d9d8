package testenv

import (
	"context"
	"errors"
	"net"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"cloud.google.com/go/firestore"
	"cloud.google.com/go/pubsub/v2"
	"google.golang.org/api/option"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/geminihooks/geminihooks/pkg/config"
)

// FaultProxy is a loopback TCP proxy that injects network faults between a
// client under test and a server (an emulator): it passes bytes through,
// stalls them (connections are accepted and their bytes read, but nothing
// is forwarded, as when packets are held up), or drops connections (as when
// a peer or the path resets them). It starts passing.
type FaultProxy struct {
	ln       net.Listener
	upstream string
	done     chan struct{} // closed by Close

	mu    sync.Mutex
	drop  bool
	gate  chan struct{} // closed while passing; open (blocking) while stalled
	conns map[*proxyConn]struct{}
	wg    sync.WaitGroup
}

// proxyConn is one client connection and its upstream connection.
type proxyConn struct {
	client, server net.Conn
	closed         chan struct{}
	once           sync.Once
}

func (c *proxyConn) close() {
	c.once.Do(func() {
		close(c.closed)
		_ = c.client.Close()
		_ = c.server.Close()
	})
}

// NewFaultProxy starts a proxy on 127.0.0.1 forwarding to upstream
// (host:port) and closes it when the test ends.
func NewFaultProxy(t testing.TB, upstream string) *FaultProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("fault proxy: %v", err)
	}
	gate := make(chan struct{})
	close(gate)
	p := &FaultProxy{ln: ln, upstream: upstream, done: make(chan struct{}), gate: gate, conns: map[*proxyConn]struct{}{}}
	p.wg.Add(1)
	go p.accept()
	t.Cleanup(p.Close)
	return p
}

// Addr is the proxy's host:port, to give the client under test.
func (p *FaultProxy) Addr() string { return p.ln.Addr().String() }

// Stall holds every byte in both directions, on open connections and on
// those accepted from now on, until Resume or Drop.
func (p *FaultProxy) Stall() {
	p.mu.Lock()
	defer p.mu.Unlock()
	select {
	case <-p.gate:
		p.gate = make(chan struct{})
	default: // already stalled
	}
}

// Drop closes every open connection, discarding the bytes a stall held, and
// closes connections accepted from now on at once, until Resume.
func (p *FaultProxy) Drop() {
	p.mu.Lock()
	p.drop = true
	conns := p.conns
	p.conns = map[*proxyConn]struct{}{}
	p.mu.Unlock()
	for c := range conns {
		c.close()
	}
}

// Resume passes bytes again; what a stall held is forwarded now, late, as a
// network that was only slow would deliver it.
func (p *FaultProxy) Resume() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.drop = false
	select {
	case <-p.gate:
	default:
		close(p.gate)
	}
}

// Close stops the proxy and closes its connections.
func (p *FaultProxy) Close() {
	select {
	case <-p.done:
		return
	default:
	}
	close(p.done)
	_ = p.ln.Close()
	p.Drop()
	p.wg.Wait()
}

func (p *FaultProxy) accept() {
	defer p.wg.Done()
	for {
		client, err := p.ln.Accept()
		if err != nil {
			return // closed
		}
		p.mu.Lock()
		drop := p.drop
		p.mu.Unlock()
		if drop {
			_ = client.Close()
			continue
		}
		server, err := net.DialTimeout("tcp", p.upstream, 5*time.Second)
		if err != nil {
			_ = client.Close()
			continue
		}
		c := &proxyConn{client: client, server: server, closed: make(chan struct{})}
		p.mu.Lock()
		if p.drop {
			p.mu.Unlock()
			c.close()
			continue
		}
		p.conns[c] = struct{}{}
		p.mu.Unlock()
		p.wg.Add(2)
		go p.pipe(c, c.server, c.client)
		go p.pipe(c, c.client, c.server)
	}
}

// pipe copies src to dst, holding each chunk read while the proxy stalls.
func (p *FaultProxy) pipe(c *proxyConn, dst, src net.Conn) {
	defer p.wg.Done()
	defer func() {
		c.close()
		p.mu.Lock()
		delete(p.conns, c)
		p.mu.Unlock()
	}()
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if n > 0 {
			p.mu.Lock()
			gate := p.gate
			p.mu.Unlock()
			select {
			case <-gate:
			case <-c.closed:
				return
			}
			if _, werr := dst.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			return
		}
	}
}

// emulatorAddr is the emulator address in env, without the scheme the
// client libraries tolerate.
func emulatorAddr(t testing.TB, env string) string {
	t.Helper()
	requireEmulator(t, env)
	return strings.TrimPrefix(os.Getenv(env), "http://")
}

// dialProxy opens a plaintext gRPC connection to p, closed when the test
// ends.
func dialProxy(t testing.TB, p *FaultProxy, extra ...grpc.DialOption) *grpc.ClientConn {
	t.Helper()
	opts := append([]grpc.DialOption{grpc.WithTransportCredentials(insecure.NewCredentials())}, extra...)
	conn, err := grpc.NewClient("passthrough:///"+p.Addr(), opts...)
	if err != nil {
		t.Fatalf("failed to dial the fault proxy: %v", err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	return conn
}

// FirestoreBehind returns a Firestore emulator client whose every call runs
// through a new FaultProxy, and the proxy. It skips or fails the test like
// Firestore when the emulator is not configured.
func FirestoreBehind(t testing.TB) (*firestore.Client, *FaultProxy) {
	t.Helper()
	p := NewFaultProxy(t, emulatorAddr(t, config.EnvFirestoreEmulatorHost))
	// The emulator's admin credentials, as the client library sends them.
	conn := dialProxy(t, p, grpc.WithPerRPCCredentials(emulatorOwner{}))
	// With FIRESTORE_EMULATOR_HOST set the library also dials the emulator
	// directly; the connection given here replaces that one.
	c, err := firestore.NewClient(context.Background(), Project(), option.WithGRPCConn(conn))
	if err != nil {
		t.Fatalf("failed to create Firestore client behind the fault proxy: %v", err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c, p
}

// PubSubBehind returns a Pub/Sub emulator client whose every call runs
// through a new FaultProxy, and the proxy. It skips or fails the test like
// PubSub when the emulator is not configured.
func PubSubBehind(t testing.TB) (*pubsub.Client, *FaultProxy) {
	t.Helper()
	p := NewFaultProxy(t, emulatorAddr(t, config.EnvPubSubEmulatorHost))
	conn := dialProxy(t, p)
	c, err := pubsub.NewClient(context.Background(), Project(), option.WithGRPCConn(conn))
	if err != nil {
		t.Fatalf("failed to create Pub/Sub client behind the fault proxy: %v", err)
	}
	t.Cleanup(func() {
		// The connection is ours and closed by its own cleanup; the
		// client's error for closing it twice says nothing.
		if err := c.Close(); err != nil && !errors.Is(err, context.Canceled) {
			t.Logf("closing Pub/Sub client behind the fault proxy: %v", err)
		}
	})
	return c, p
}

// emulatorOwner is the Firestore emulator's admin credential.
type emulatorOwner struct{}

func (emulatorOwner) GetRequestMetadata(context.Context, ...string) (map[string]string, error) {
	return map[string]string{"authorization": "Bearer owner"}, nil
}

func (emulatorOwner) RequireTransportSecurity() bool { return false }
