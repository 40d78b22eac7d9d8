// Package receiver registers the ReceiveWebhook HTTP function. It only wires:
// configuration comes from the environment and the work is done by
// pkg/receiver.
package receiver

import (
	"context"
	"log/slog"
	"net/http"
	"os"

	"github.com/sethvargo/go-envconfig"

	"github.com/geminihooks/geminihooks/pkg/entrypoint"
	"github.com/geminihooks/geminihooks/pkg/logging"
	"github.com/geminihooks/geminihooks/pkg/receiver"
)

// EntryPoint is the function's registered name; Terraform's entry_point and
// Cloud Functions' FUNCTION_TARGET must match it.
const EntryPoint = "ReceiveWebhook"

func init() { entrypoint.Register(EntryPoint, build) }

func build(ctx context.Context) (http.Handler, error) {
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
}
