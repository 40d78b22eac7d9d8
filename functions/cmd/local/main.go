// Command local runs geminihooks on this machine with no cloud account: the
// receiver on http://127.0.0.1:$PORT/ (default 8080) backed by in-memory
// idempotency and an in-process Pub/Sub, or by the Firestore and Pub/Sub
// emulators when FIRESTORE_EMULATOR_HOST / PUBSUB_EMULATOR_HOST are set.
//
//	go run ./functions/cmd/local
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"os/signal"
	"syscall"

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
	if err := fs.Parse(args); err != nil {
		return err
	}
	level, err := logging.ParseLevel(os.Getenv("LOG_LEVEL"))
	if err != nil {
		return err
	}
	logger := logging.New(stderr, level)

	stack, err := local.Start(ctx, local.Options{Addr: *addr, Logger: logger})
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "geminihooks receiver listening on %s\n", stack.URL)
	fmt.Fprintf(stdout, "  backends:       %s\n", stack.Backends)
	fmt.Fprintf(stdout, "  events topic:   %s\n", stack.Events)
	if stack.Generated {
		// A throwaway secret for this run only; printing it is the point.
		fmt.Fprintf(stdout, "  signing secret: %s  (generated for this run; set WEBHOOK_SIGNING_SECRETS to choose one)\n", stack.Secret)
	} else {
		fmt.Fprintf(stdout, "  signing secret: from WEBHOOK_SIGNING_SECRETS\n")
	}
	fmt.Fprintln(stdout, "Press Ctrl-C to stop.")
	<-ctx.Done()
	return stack.Close()
}
