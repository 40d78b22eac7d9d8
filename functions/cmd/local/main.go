// Command local runs the whole geminihooks pipeline on this machine with no
// cloud account: the receiver on http://127.0.0.1:$PORT/ (default 8080),
// in-memory idempotency and an in-process Pub/Sub (or the emulators when
// FIRESTORE_EMULATOR_HOST / PUBSUB_EMULATOR_HOST are set), the materializer,
// results as plain files under --data, the reconciler every
// --reconcile-interval (30s; 0 disables), and the Gemini API simulator
// unless GEMINI_API_KEY is set.
//
//	go run ./functions/cmd/local                  # serve until Ctrl-C
//	go run ./functions/cmd/local --demo           # drive five jobs end to end, then exit
//	go run ./functions/cmd/local --trace=stdout   # also print every span, one line each
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"syscall"

	"github.com/geminihooks/geminihooks/pkg/config"
	"github.com/geminihooks/geminihooks/pkg/local"
	"github.com/geminihooks/geminihooks/pkg/logging"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "geminihooks local:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("local", flag.ContinueOnError)
	fs.SetOutput(stderr)
	port := os.Getenv("PORT")
	if port == "" {
		port = "8080"
	}
	addr := fs.String("addr", net.JoinHostPort("127.0.0.1", port), "listen address (default from PORT)")
	data := fs.String("data", local.DefaultDataDir, "directory receiving the results as plain files")
	reconcile := fs.Duration("reconcile-interval", local.DefaultReconcileInterval, "run a reconcile pass (ReconcileJobs) this often against the simulator or GEMINI_API_KEY's API; 0 disables")
	demo := fs.Bool("demo", false, "drive a batch, an inlined batch, a Deep Research interaction, a video and a failed batch\nthrough the simulator, check their artifacts, print where they landed, and exit")
	traceTo := fs.String("trace", "off", "off, or stdout to print every span of the functions, one line each")
	if err := fs.Parse(args); err != nil {
		return err
	}
	var spans io.Writer
	switch *traceTo {
	case "off":
	case "stdout":
		spans = stdout
	default:
		return fmt.Errorf("--trace must be off or stdout, got %q", *traceTo)
	}
	level, err := logging.ParseLevel(os.Getenv(config.EnvLogLevel))
	if err != nil {
		return err
	}
	logger := logging.New(stderr, level)

	if *demo && os.Getenv(config.EnvLogLevel) == "" {
		// The demo's table is the output; keep the logs to problems.
		logger = logging.New(stderr, slog.LevelWarn)
	}
	stack, err := local.Start(ctx, local.Options{Addr: *addr, Logger: logger, DataDir: *data, ReconcileInterval: *reconcile, Spans: spans})
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "geminihooks receiver listening on %s\n", stack.URL)
	fmt.Fprintf(stdout, "  backends:       %s\n", stack.Backends)
	fmt.Fprintf(stdout, "  gemini:         %s\n", stack.Gemini)
	fmt.Fprintf(stdout, "  events topic:   %s\n", stack.Events)
	fmt.Fprintf(stdout, "  results topic:  %s\n", stack.ResultsTopic)
	fmt.Fprintf(stdout, "  results:        %s (bucket %q as plain files)\n", stack.DataDir, stack.Bucket)
	if *reconcile > 0 {
		fmt.Fprintf(stdout, "  reconciler:     a pass every %s\n", *reconcile)
	}
	if stack.Generated {
		// A throwaway secret for this run only; printing it is the point.
		fmt.Fprintf(stdout, "  signing secret: %s  (generated for this run; set WEBHOOK_SIGNING_SECRETS to choose one)\n", stack.Secret)
	} else {
		fmt.Fprintf(stdout, "  signing secret: from WEBHOOK_SIGNING_SECRETS\n")
	}
	if *demo {
		fmt.Fprintln(stdout)
		_, err := stack.Demo(ctx, stdout)
		return errors.Join(err, stack.Close())
	}
	fmt.Fprintln(stdout, "Press Ctrl-C to stop.")
	<-ctx.Done()
	return stack.Close()
}
