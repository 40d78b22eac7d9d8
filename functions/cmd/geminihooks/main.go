// Command geminihooks is the operator tool of geminihooks: it sends signed
// test webhooks, generates keys, verifies captured deliveries, manages Gemini
// webhooks and their secrets, redrives dead letters, tails the topics, finds
// a job's results and pulls the receiver's captured deliveries into test
// fixtures. The commands live in pkg/cli; see README.md in this directory.
//
//	go run ./functions/cmd/geminihooks --help
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/geminihooks/geminihooks/pkg/cli"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := cli.Main(ctx, &cli.Env{
		Stdout: os.Stdout,
		Stderr: os.Stderr,
		Stdin:  os.Stdin,
		Lookup: os.LookupEnv,
	}, os.Args[1:])
	stop()
	os.Exit(code)
}
