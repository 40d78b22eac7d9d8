// Package entrypoint registers Cloud Functions entry points whose handler is
// built from the environment once per instance.
//
// [FromEnv] is the one wiring path of both functions: it loads the
// function's Config, connects its CloudBackends and calls its Build, the
// same Build the local runner calls on other backends.
package entrypoint

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"os"
	"os/signal"
	"sync"
	"syscall"

	"github.com/GoogleCloudPlatform/functions-framework-go/functions"
	"github.com/sethvargo/go-envconfig"

	"github.com/geminihooks/geminihooks/pkg/logging"
)

// BuildFunc builds a function's handler from its configuration, and returns
// the function that releases what the handler holds.
type BuildFunc func(ctx context.Context) (http.Handler, func() error, error)

// Register registers build's handler as the HTTP function name.
//
// The handler is built on first use, so importing a function package (tests,
// the local runner, the buildpack's generated main) creates no clients. When
// FUNCTION_TARGET names this function, as it does on the deployed instance,
// it is built at once instead, and a bad configuration (a malformed signing
// secret, say) stops start-up with a clear message rather than failing every
// request. There it also stops the handler when Cloud Run stops the instance
// (SIGTERM), so that the spans still queued are exported.
func Register(name string, build BuildFunc) {
	var stop func() error
	handler := sync.OnceValues(func() (http.Handler, error) {
		h, release, err := build(context.Background())
		stop = release
		return h, err
	})
	functions.HTTP(name, Serve(handler))
	if os.Getenv("FUNCTION_TARGET") == name {
		logger := slog.New(slog.NewJSONHandler(os.Stderr, nil))
		if _, err := handler(); err != nil {
			logger.Error(name+": configuration is invalid", slog.String("error", err.Error()))
			os.Exit(1)
		}
		sig := make(chan os.Signal, 1)
		signal.Notify(sig, syscall.SIGTERM)
		go stopOn(sig, stop, logger, os.Exit)
	}
}

// stopOn waits for a signal on sig, calls stop and exits through exit. The
// functions framework handles no signal itself: without this, SIGTERM ends
// the process at once, and the spans its batch processor holds with it.
// Cloud Run waits 10 seconds after SIGTERM; stop takes at most the trace
// flush's 5.
func stopOn(sig <-chan os.Signal, stop func() error, logger *slog.Logger, exit func(int)) {
	<-sig
	if stop != nil {
		if err := stop(); err != nil {
			logger.Warn("stopping on SIGTERM failed", slog.String("error", err.Error()))
		}
	}
	exit(0)
}

// Serve returns an http.HandlerFunc that serves handler's result, or a JSON
// 500 when it could not be built: the sender (Gemini, or Pub/Sub push)
// retries, and the log says why. Configuration errors carry no secrets.
func Serve(handler func() (http.Handler, error)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		h, err := handler()
		if err != nil {
			slog.ErrorContext(r.Context(), "function is not configured", slog.String("error", err.Error()))
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusInternalServerError)
			_, _ = w.Write([]byte(`{"error":{"code":"not_configured","message":"the function is misconfigured; see its logs"}}` + "\n"))
			return
		}
		h.ServeHTTP(w, r)
	}
}

// Config is what a function's configuration offers its entry point.
type Config interface {
	slog.LogValuer
	// Level is the configured log level.
	Level() slog.Level
}

// FromEnv returns a BuildFunc that loads the configuration from the
// environment, builds a JSON logger at its level on stdout, connects to the
// backends the configuration names (the tracer provider among them) and
// builds the handler on them with build, logging the (redacted)
// configuration once ready. Its release function stops the handler, then
// closes the backends, flushing the spans last.
func FromEnv[C Config, B any, H http.Handler](
	load func(context.Context, envconfig.Lookuper) (C, error),
	backends func(context.Context, C) (B, func() error, error),
	build func(context.Context, C, B, *slog.Logger) (H, func() error, error),
) BuildFunc {
	return func(ctx context.Context) (http.Handler, func() error, error) {
		cfg, err := load(ctx, envconfig.OsLookuper())
		if err != nil {
			return nil, nil, err
		}
		logger := logging.New(os.Stdout, cfg.Level())
		b, closeBackends, err := backends(ctx, cfg)
		if err != nil {
			return nil, nil, err
		}
		h, stop, err := build(ctx, cfg, b, logger)
		if err != nil {
			return nil, nil, errors.Join(err, closeBackends())
		}
		logger.InfoContext(ctx, "function ready", slog.Any("config", cfg))
		return h, func() error { return errors.Join(stop(), closeBackends()) }, nil
	}
}
