// Package materializer registers the MaterializeResults HTTP function, the
// push endpoint of the events topic's subscription. It only wires:
// configuration comes from the environment and the work is done by
// pkg/materializer.
package materializer

import (
	"context"
	"log/slog"
	"net/http"
	"os"

	"github.com/sethvargo/go-envconfig"

	"github.com/geminihooks/geminihooks/pkg/entrypoint"
	"github.com/geminihooks/geminihooks/pkg/logging"
	"github.com/geminihooks/geminihooks/pkg/materializer"
)

// EntryPoint is the function's registered name; Terraform's entry_point and
// Cloud Functions' FUNCTION_TARGET must match it.
const EntryPoint = "MaterializeResults"

func init() { entrypoint.Register(EntryPoint, build) }

func build(ctx context.Context) (http.Handler, error) {
	cfg, err := materializer.LoadConfig(ctx, envconfig.OsLookuper())
	if err != nil {
		return nil, err
	}
	level, _ := logging.ParseLevel(cfg.LogLevel) // validated by LoadConfig
	logger := logging.New(os.Stdout, level)
	h, _, err := materializer.Build(ctx, cfg, logger)
	if err != nil {
		return nil, err
	}
	logger.InfoContext(ctx, "materializer ready", slog.Any("config", cfg))
	return h, nil
}
