// Package receiver registers the ReceiveWebhook HTTP function. It only wires:
// configuration comes from the environment and the work is done by
// pkg/receiver.
package receiver

import (
	"context"
	"log/slog"
	"net/http"
	"os"
	"sync"

	"github.com/GoogleCloudPlatform/functions-framework-go/functions"
	"github.com/sethvargo/go-envconfig"

	"github.com/geminihooks/geminihooks/pkg/logging"
	"github.com/geminihooks/geminihooks/pkg/receiver"
)

// EntryPoint is the function's registered name; Terraform's entry_point and
// Cloud Functions' FUNCTION_TARGET must match it.
const EntryPoint = "ReceiveWebhook"

// handler is built once per instance, on first use, so importing this package
// (tests, the local runner, the buildpack's generated main) creates no
// clients. sync.OnceValues is the one package-level value: the functions
// framework offers no other place to keep per-instance state.
var handler = sync.OnceValues(func() (http.Handler, error) {
	ctx := context.Background()
	cfg, err := receiver.LoadConfig(ctx, envconfig.OsLookuper())
	if err != nil {
		return nil, err
	}
	level, _ := logging.ParseLevel(cfg.LogLevel) // validated by LoadConfig
	logger := logging.New(os.Stdout, level)
	h, _, err := receiver.Build(ctx, cfg, logger)
	if err != nil {
		return nil, err
	}
	logger.InfoContext(ctx, "receiver ready", slog.Any("config", cfg))
	return h, nil
})

func init() {
	functions.HTTP(EntryPoint, serve)
	// Deployed, this instance exists to serve this function: build now so a
	// bad configuration (a malformed signing secret, say) stops start-up with
	// a clear message instead of failing every delivery.
	if os.Getenv("FUNCTION_TARGET") == EntryPoint {
		if _, err := handler(); err != nil {
			slog.New(slog.NewJSONHandler(os.Stderr, nil)).Error("receiver configuration is invalid", slog.String("error", err.Error()))
			os.Exit(1)
		}
	}
}

func serve(w http.ResponseWriter, r *http.Request) {
	h, err := handler()
	if err != nil {
		// Configuration errors carry no secrets (see receiver.Config.Validate).
		slog.ErrorContext(r.Context(), "receiver is not configured", slog.String("error", err.Error()))
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusInternalServerError)
		_, _ = w.Write([]byte(`{"error":{"code":"not_configured","message":"the receiver is misconfigured; see its logs"}}` + "\n"))
		return
	}
	h.ServeHTTP(w, r)
}
