package main

import (
	"bytes"
	"log/slog"
	"strings"
	"testing"

	"github.com/sethvargo/go-envconfig"

	"github.com/geminihooks/geminihooks/pkg/local"
	"github.com/geminihooks/geminihooks/pkg/logging"
)

// TestBanner: the banner says that a GEMINI_API_KEY in the environment is
// not used, and prints an export block of every variable the operator
// tool needs, the simulator's key among them.
func TestBanner(t *testing.T) {
	t.Parallel()
	stack, err := local.Start(t.Context(), local.Options{
		Addr: "127.0.0.1:0", Lookuper: envconfig.MapLookuper(map[string]string{"GEMINI_API_KEY": "real-key"}),
		Logger: logging.New(&bytes.Buffer{}, slog.LevelError), DataDir: t.TempDir(),
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = stack.Close() })
	var out bytes.Buffer
	printBanner(&out, stack, 0, true)
	banner := out.String()
	for _, want := range []string{
		"GEMINI_API_KEY is set but NOT used: pass --real-gemini",
		"export GEMINI_BASE_URL=" + stack.Sim.URL() + "\n",
		"export GEMINI_API_KEY=",
		"export WEBHOOK_SIGNING_SECRETS=",
		"export WEBHOOK_SIGNING_SECRET_FILE=" + stack.SecretFile.Path() + "\n",
		"export PUBSUB_EMULATOR_HOST=" + stack.PubSubAddr + "\n",
		"export GOOGLE_CLOUD_PROJECT=geminihooks-local\n",
		"export WEBHOOK_JWKS_URL=" + stack.Sim.URL() + "/.well-known/jwks.json\n",
	} {
		if !strings.Contains(banner, want) {
			t.Errorf("banner lacks %q:\n%s", want, banner)
		}
	}
	if strings.Contains(banner, "real-key") {
		t.Error("the banner exports the environment's key, not the simulator's")
	}
}

func TestShellQuote(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		"whsec_ab+/c=": "whsec_ab+/c=",
		"a b":          "'a b'",
		"it's":         `'it'\''s'`,
		"":             "''",
	} {
		if got := shellQuote(in); got != want {
			t.Errorf("shellQuote(%q) = %s, want %s", in, got, want)
		}
	}
}
