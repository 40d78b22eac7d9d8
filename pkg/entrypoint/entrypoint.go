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
	"sync"

	"github.com/GoogleCloudPlatform/functions-framework-go/functions"
	"github.com/sethvargo/go-envconfig"

	"github.com/geminihooks/geminihooks/pkg/logging"
)

// BuildFunc builds a function's handler from its configuration.
type BuildFunc func(ctx context.Context) (http.Handler, error)

// Register registers build's handler as the HTTP function name.
//
// The handler is built on first use, so importing a function package (tests,
// the local runner, the buildpack's generated main) creates no clients. When
// FUNCTION_TARGET names this function, as it does on the deployed instance,
// it is built at once instead, and a bad configuration (a malformed signing
// secret, say) stops start-up with a clear message rather than failing every
// request.
func Register(name string, build BuildFunc) {
	handler := sync.OnceValues(func() (http.Handler, error) { return build(context.Background()) })
	functions.HTTP(name, Serve(handler))
	if os.Getenv("FUNCTION_TARGET") == name {
		if _, err := handler(); err != nil {
			slog.New(slog.NewJSONHandler(os.Stderr, nil)).Error(name+": configuration is invalid", slog.String("error", err.Error()))
			os.Exit(1)
		}
	}
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
// backends the configuration names and builds the handler on them with
// build, logging the (redacted) configuration once ready. The handler lives
// as long as the instance, so its clients are released only on failure.
func FromEnv[C Config, B any, H http.Handler](
	load func(context.Context, envconfig.Lookuper) (C, error),
	backends func(context.Context, C) (B, func() error, error),
	build func(context.Context, C, B, *slog.Logger) (H, func() error, error),
) BuildFunc {
	return func(ctx context.Context) (http.Handler, error) {
		cfg, err := load(ctx, envconfig.OsLookuper())
		if err != nil {
			return nil, err
		}
		logger := logging.New(os.Stdout, cfg.Level())
		b, closeBackends, err := backends(ctx, cfg)
		if err != nil {
			return nil, err
		}
		h, _, err := build(ctx, cfg, b, logger)
		if err != nil {
			return nil, errors.Join(err, closeBackends())
		}
		logger.InfoContext(ctx, "function ready", slog.Any("config", cfg))
		return h, nil
	}
}
