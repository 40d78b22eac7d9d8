package inspect

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/geminihooks/geminihooks/pkg/config"
)

// DefaultPort is the inspector's port unless INSPECT_PORT says otherwise:
// ngrok's inspector port, where developers look for one.
const DefaultPort = "4040"

// Server is a running inspector.
type Server struct {
	// URL is the page's address.
	URL    string
	server *http.Server
	done   chan struct{}
}

// Serve serves h on addr, which must be a loopback address: the page shows
// request bodies and can send signed deliveries.
func Serve(ctx context.Context, addr string, h http.Handler, logger *slog.Logger) (*Server, error) {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, fmt.Errorf("inspector address %q: %w", addr, err)
	}
	if !config.IsLoopback(host) {
		return nil, fmt.Errorf("the inspector listens on loopback only, not %q", host)
	}
	ln, err := (&net.ListenConfig{}).Listen(ctx, "tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("failed to listen on %s for the inspector (set "+config.EnvInspectPort+"): %w", addr, err)
	}
	// No write timeout: the live updates are one long answer.
	s := &Server{URL: "http://" + ln.Addr().String() + "/", done: make(chan struct{}),
		server: &http.Server{Handler: h, ReadHeaderTimeout: 5 * time.Second, ReadTimeout: 30 * time.Second, IdleTimeout: 60 * time.Second}}
	go func() {
		defer close(s.done)
		if err := s.server.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			logger.Error("inspector stopped", slog.String("error", err.Error()))
		}
	}()
	return s, nil
}

// Close stops the server, cutting the live updates.
func (s *Server) Close() error {
	err := s.server.Close()
	<-s.done
	return err
}
