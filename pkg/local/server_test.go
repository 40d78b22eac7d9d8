package local

import (
	"io"
	"net"
	"net/http"
	"testing"
	"testing/synctest"
	"time"
)

// pipeListener hands the server the far ends of in-memory connections, so
// that the server runs on synctest's fake clock.
type pipeListener struct {
	conns  chan net.Conn
	closed chan struct{}
}

func (l *pipeListener) Accept() (net.Conn, error) {
	select {
	case c := <-l.conns:
		return c, nil
	case <-l.closed:
		return nil, net.ErrClosed
	}
}

func (l *pipeListener) Close() error   { close(l.closed); return nil }
func (l *pipeListener) Addr() net.Addr { return &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1)} }

// dial connects a client to the server listening on l.
func (l *pipeListener) dial() net.Conn {
	client, server := net.Pipe()
	l.conns <- server
	return client
}

// TestServer_cutsOffSlowClients drives the receiver's server with clients
// that trickle their request or leave a connection idle, and checks that
// the server hangs up on each after the bound that applies to it.
func TestServer_cutsOffSlowClients(t *testing.T) {
	t.Parallel()
	const request = "POST / HTTP/1.1\r\nHost: localhost\r\nContent-Length: 2\r\n\r\n{}"
	cases := []struct {
		name string
		// client sends its request (or part of it) on c.
		client func(c net.Conn)
		want   time.Duration
	}{
		{name: "headers_sent_byte_by_byte", want: readHeaderTimeout, client: func(c net.Conn) {
			for i := range len(request) {
				if _, err := c.Write([]byte{request[i]}); err != nil {
					return
				}
				time.Sleep(time.Second)
			}
		}},
		{name: "body_sent_byte_by_byte", want: readTimeout, client: func(c net.Conn) {
			head := "POST / HTTP/1.1\r\nHost: localhost\r\nContent-Length: 1000\r\n\r\n"
			if _, err := io.WriteString(c, head); err != nil {
				return
			}
			for range 10 * time.Minute / time.Second {
				time.Sleep(time.Second)
				if _, err := c.Write([]byte{' '}); err != nil {
					return
				}
			}
		}},
		{name: "kept_alive_connection_left_idle", want: idleTimeout, client: func(c net.Conn) {
			if _, err := io.WriteString(c, request); err != nil {
				return
			}
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			synctest.Test(t, func(t *testing.T) {
				ln := &pipeListener{conns: make(chan net.Conn), closed: make(chan struct{})}
				srv := newServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
					if _, err := io.ReadAll(r.Body); err != nil {
						return
					}
					w.WriteHeader(http.StatusAccepted)
				}))
				go func() { _ = srv.Serve(ln) }()
				defer srv.Close()
				c := ln.dial()
				defer c.Close()
				start := time.Now()
				sent := make(chan struct{})
				go func() { defer close(sent); tc.client(c) }()
				// Read until the server hangs up, discarding what it answers
				// on the way (a 400 for cut headers, the handler's answer).
				if _, err := io.Copy(io.Discard, c); err != nil {
					t.Fatalf("reading from the server: %v", err)
				}
				if got := time.Since(start); got < tc.want || got > tc.want+time.Second {
					t.Errorf("server hung up after %v; want %v", got, tc.want)
				}
				c.Close()
				<-sent
			})
		})
	}
}

// TestServer_cutsOffClientThatDoesNotRead sends a request and never reads
// the answer: the server gives up writing it after writeTimeout.
func TestServer_cutsOffClientThatDoesNotRead(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		ln := &pipeListener{conns: make(chan net.Conn), closed: make(chan struct{})}
		failed := make(chan time.Duration, 1)
		var start time.Time
		srv := newServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			// More than the server buffers, so the write reaches the client.
			if _, err := w.Write(make([]byte, 1<<20)); err != nil {
				failed <- time.Since(start)
			}
		}))
		go func() { _ = srv.Serve(ln) }()
		defer srv.Close()
		c := ln.dial()
		defer c.Close()
		start = time.Now()
		if _, err := io.WriteString(c, "GET / HTTP/1.1\r\nHost: localhost\r\n\r\n"); err != nil {
			t.Fatal(err)
		}
		select {
		case got := <-failed:
			if got < writeTimeout || got > writeTimeout+time.Second {
				t.Errorf("write failed after %v; want %v", got, writeTimeout)
			}
		case <-time.After(10 * time.Minute):
			t.Fatal("the server still writes to a client that does not read")
		}
	})
}
