// Command local runs the whole geminihooks pipeline on this machine with no
// cloud account: the receiver on http://127.0.0.1:$PORT/ (default 8080),
// in-memory idempotency and an in-process Pub/Sub (or the emulators when
// FIRESTORE_EMULATOR_HOST / PUBSUB_EMULATOR_HOST are set), the materializer,
// results as plain files under --data, the reconciler every
// --reconcile-interval (30s; 0 disables), and the Gemini API simulator on
// --sim-port (8081), or the real Gemini API with --real-gemini. It prints
// the export block that points the operator tool at it. Unless --demo, an
// inspector page on http://127.0.0.1:$INSPECT_PORT/ (default 4040) shows the
// deliveries, jobs and artifacts live and can replay a delivery, send a test
// event and run a reconcile pass.
//
//	go run ./functions/cmd/local                  # serve until Ctrl-C
//	go run ./functions/cmd/local --demo           # drive seven jobs end to end, then exit
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
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/geminihooks/geminihooks/pkg/config"
	"github.com/geminihooks/geminihooks/pkg/inspect"
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
	simPort := fs.Int("sim-port", defaultSimPort, "loopback port of the Gemini API simulator (0: any free port)")
	realGemini := fs.Bool("real-gemini", false, "use the real Gemini API with GEMINI_API_KEY instead of the simulator")
	reconcile := fs.Duration("reconcile-interval", local.DefaultReconcileInterval, "run a reconcile pass (ReconcileJobs) this often against the simulator or, with --real-gemini, the real API; 0 disables")
	demo := fs.Bool("demo", false, "drive a batch, an inlined batch, a Deep Research interaction, a video, a batch delivered twice,\na batch whose webhook is lost and a failed batch through the simulator, check their artifacts,\nprint where they landed, and exit")
	keep := fs.Int("inspect-keep", inspect.DefaultKeep, "how many deliveries (and jobs) the inspector page keeps")
	traceTo := fs.String("trace", "off", "off, or stdout to print every span of the functions, one line each")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *demo && *realGemini {
		return errors.New("--demo drives the simulator; it cannot run with --real-gemini")
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
	opts := local.Options{Addr: *addr, Logger: logger, DataDir: *data,
		SimAddr: net.JoinHostPort("127.0.0.1", strconv.Itoa(*simPort)), RealGemini: *realGemini, ReconcileInterval: *reconcile, Spans: spans}
	var log *inspect.Log
	if !*demo {
		if log, err = inspect.NewLog(inspect.LogOptions{Keep: *keep}); err != nil {
			return err
		}
		opts.Observer = log
	}
	stack, err := local.Start(ctx, opts)
	if err != nil {
		return err
	}
	printBanner(stdout, stack, *reconcile, !*demo)
	if *demo {
		fmt.Fprintln(stdout)
		_, err := stack.Demo(ctx, stdout)
		return errors.Join(err, stack.Close())
	}
	inspector, err := serveInspector(ctx, stack, log, logger)
	if err != nil {
		return errors.Join(err, stack.Close())
	}
	fmt.Fprintf(stdout, "  inspector:      %s\n", inspector.URL)
	fmt.Fprintln(stdout, "Press Ctrl-C to stop.")
	<-ctx.Done()
	return errors.Join(inspector.Close(), stack.Close())
}

// The local stack runs the inspector's actions, and the inspector's log
// watches the stack.
var (
	_ inspect.Actions = (*local.Stack)(nil)
	_ local.Observer  = (*inspect.Log)(nil)
)

// serveInspector serves the inspector page for stack on loopback, port
// INSPECT_PORT.
func serveInspector(ctx context.Context, stack *local.Stack, log *inspect.Log, logger *slog.Logger) (*inspect.Server, error) {
	port := os.Getenv(config.EnvInspectPort)
	if port == "" {
		port = inspect.DefaultPort
	}
	verifier, err := stack.Verifier(ctx)
	if err != nil {
		return nil, err
	}
	log.Explain(verifier)
	h, err := inspect.NewHandler(inspect.Options{Log: log, DataDir: stack.DataDir, Actions: stack, Logger: logger})
	if err != nil {
		return nil, err
	}
	return inspect.Serve(ctx, net.JoinHostPort("127.0.0.1", port), h, logger)
}

// defaultSimPort is the simulator's port unless --sim-port says otherwise:
// fixed, so that the exported GEMINI_BASE_URL stays right across restarts.
const defaultSimPort = 8081

// printBanner says what runs where and, when the stack keeps serving
// (exports), prints the variables that point the operator tool at it.
func printBanner(w io.Writer, stack *local.Stack, reconcile time.Duration, exports bool) {
	fmt.Fprintf(w, "geminihooks receiver listening on %s\n", stack.URL)
	fmt.Fprintf(w, "  backends:       %s\n", stack.Backends)
	switch {
	case stack.Sim == nil:
		fmt.Fprintf(w, "  gemini:         the real %s, with GEMINI_API_KEY (--real-gemini)\n", stack.Gemini)
	case stack.GeminiKeyIgnored:
		fmt.Fprintf(w, "  gemini:         %s; GEMINI_API_KEY is set but NOT used: pass --real-gemini for the real API\n", stack.Gemini)
	default:
		fmt.Fprintf(w, "  gemini:         %s (--real-gemini for the real API)\n", stack.Gemini)
	}
	fmt.Fprintf(w, "  events topic:   %s\n", stack.Events)
	fmt.Fprintf(w, "  results topic:  %s\n", stack.ResultsTopic)
	fmt.Fprintf(w, "  results:        %s (bucket %q as plain files)\n", stack.DataDir, stack.Bucket)
	if reconcile > 0 {
		fmt.Fprintf(w, "  reconciler:     a pass every %s\n", reconcile)
	}
	if stack.Generated {
		fmt.Fprintf(w, "  signing secret: generated for this run (set WEBHOOK_SIGNING_SECRETS to choose one)\n")
	} else {
		fmt.Fprintf(w, "  signing secret: from WEBHOOK_SIGNING_SECRETS\n")
	}
	fmt.Fprintf(w, "  secret store:   %s (stands in for Secret Manager: webhooks create/rotate add to it)\n", stack.SecretFile.Path())
	if !exports {
		return
	}
	// A throwaway secret and the simulator's key, for this machine only;
	// printing them is the point.
	fmt.Fprintln(w, "\nPoint geminihooks (the operator tool) at this stack:")
	for _, v := range stack.Environment() {
		fmt.Fprintf(w, "export %s=%s\n", v.Name, shellQuote(v.Value))
	}
	fmt.Fprintf(w, "# then: geminihooks send batch.succeeded --url %s · geminihooks tail --topic %s\n", stack.URL, shortName(stack.Events))
	fmt.Fprintf(w, "#       geminihooks webhooks create --uri %s --events batch.succeeded · geminihooks status JOB --data %s\n", stack.URL, stack.DataDir)
}

// shellQuote quotes s for a POSIX shell when it needs quoting.
func shellQuote(s string) string {
	if s != "" && strings.Trim(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_./:,+=@") == "" {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// shortName returns the last segment of a resource name.
func shortName(name string) string {
	return name[strings.LastIndexByte(name, '/')+1:]
}
