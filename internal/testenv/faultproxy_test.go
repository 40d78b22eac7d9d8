package testenv

import (
	"bufio"
	"errors"
	"io"
	"net"
	"testing"
	"time"
)

// echoServer answers every line with the same line until the client
// closes.
func echoServer(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				_, _ = io.Copy(c, c)
			}()
		}
	}()
	return ln.Addr().String()
}

func dial(t *testing.T, addr string) (net.Conn, *bufio.Reader) {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c, bufio.NewReader(c)
}

// roundTrip sends line and reads the answer, giving up after wait.
func roundTrip(c net.Conn, r *bufio.Reader, line string, wait time.Duration) (string, error) {
	if _, err := io.WriteString(c, line+"\n"); err != nil {
		return "", err
	}
	return readLine(c, r, wait)
}

func readLine(c net.Conn, r *bufio.Reader, wait time.Duration) (string, error) {
	_ = c.SetReadDeadline(time.Now().Add(wait))
	s, err := r.ReadString('\n')
	return s, err
}

func TestFaultProxy(t *testing.T) {
	t.Parallel()
	// A stalled answer is one that has not come within this; the positive
	// cases wait far longer, so a slow machine cannot fail them.
	const silence, patience = 100 * time.Millisecond, 10 * time.Second
	isTimeout := func(err error) bool {
		var ne net.Error
		return errors.As(err, &ne) && ne.Timeout()
	}

	t.Run("pass", func(t *testing.T) {
		t.Parallel()
		p := NewFaultProxy(t, echoServer(t))
		c, r := dial(t, p.Addr())
		if got, err := roundTrip(c, r, "hello", patience); got != "hello\n" || err != nil {
			t.Fatalf("got %q, %v; want the echo", got, err)
		}
	})

	t.Run("stall_holds_bytes_and_resume_delivers_them", func(t *testing.T) {
		t.Parallel()
		p := NewFaultProxy(t, echoServer(t))
		c, r := dial(t, p.Addr())
		p.Stall()
		if got, err := roundTrip(c, r, "held", silence); !isTimeout(err) {
			t.Fatalf("stalled: got %q, %v; want nothing", got, err)
		}
		// A connection opened during the stall is accepted but stalls too.
		c2, r2 := dial(t, p.Addr())
		if got, err := roundTrip(c2, r2, "new", silence); !isTimeout(err) {
			t.Fatalf("stalled, new connection: got %q, %v; want nothing", got, err)
		}
		p.Resume()
		if got, err := readLine(c, r, patience); got != "held\n" || err != nil {
			t.Fatalf("after resume: got %q, %v; want the held bytes", got, err)
		}
		if got, err := readLine(c2, r2, patience); got != "new\n" || err != nil {
			t.Fatalf("after resume, new connection: got %q, %v; want the held bytes", got, err)
		}
	})

	t.Run("drop_closes_connections_until_resume", func(t *testing.T) {
		t.Parallel()
		p := NewFaultProxy(t, echoServer(t))
		c, r := dial(t, p.Addr())
		p.Stall()
		if _, err := io.WriteString(c, "lost\n"); err != nil {
			t.Fatal(err)
		}
		p.Drop()
		if got, err := readLine(c, r, patience); err == nil || isTimeout(err) {
			t.Fatalf("dropped: got %q, %v; want the connection closed", got, err)
		}
		c2, r2 := dial(t, p.Addr())
		if got, err := readLine(c2, r2, patience); err == nil || isTimeout(err) {
			t.Fatalf("dropping, new connection: got %q, %v; want it closed", got, err)
		}
		p.Resume()
		c3, r3 := dial(t, p.Addr())
		if got, err := roundTrip(c3, r3, "back", patience); got != "back\n" || err != nil {
			t.Fatalf("after resume: got %q, %v; want the echo (and not the dropped bytes)", got, err)
		}
	})

	t.Run("close_ends_connections", func(t *testing.T) {
		t.Parallel()
		p := NewFaultProxy(t, echoServer(t))
		c, r := dial(t, p.Addr())
		p.Stall()
		p.Close()
		if got, err := readLine(c, r, patience); err == nil || isTimeout(err) {
			t.Fatalf("closed: got %q, %v; want the connection closed", got, err)
		}
	})
}
