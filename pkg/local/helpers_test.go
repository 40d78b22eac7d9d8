package local

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"testing"
	"time"

	"github.com/sethvargo/go-envconfig"

	"github.com/geminihooks/geminihooks/pkg/logging"
	"github.com/geminihooks/geminihooks/pkg/signature"
)

// startDrained starts an embedded stack whose Received and Results
// channels nobody else reads, so their subscriptions never wait, and
// returns it with its signing secret.
func startDrained(tb testing.TB) (*Stack, signature.Secret) {
	tb.Helper()
	stack, err := Start(context.Background(), Options{
		Addr: "127.0.0.1:0", Lookuper: envconfig.MapLookuper(map[string]string{}),
		Logger: logging.New(io.Discard, slog.LevelError), DataDir: tb.TempDir(),
	})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { _ = stack.Close() })
	go func() {
		for range stack.Received {
		}
	}()
	go func() {
		for range stack.Results {
		}
	}()
	return stack, stackSecret(tb, stack)
}

// stackSecret returns the stack's signing secret.
func stackSecret(tb testing.TB, stack *Stack) signature.Secret {
	tb.Helper()
	secret, err := signature.ParseSecret("dev", stack.Secret)
	if err != nil {
		tb.Fatal(err)
	}
	return secret
}

// signedRequest is a delivery of body under webhook-id id to the stack,
// HMAC-signed now with secret, as a project-level webhook sends it.
func signedRequest(ctx context.Context, stack *Stack, secret signature.Secret, id string, body []byte) *http.Request {
	now := time.Now()
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, stack.URL, bytes.NewReader(body))
	req.Header.Set("webhook-id", id)
	req.Header.Set("webhook-timestamp", strconv.FormatInt(now.Unix(), 10))
	req.Header.Set("webhook-signature", signature.SignHMAC(secret, id, now, body))
	return req
}
