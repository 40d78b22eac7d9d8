package cli_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/geminihooks/geminihooks/pkg/cli"
)

// TestUsageHints: a bad flag value or an unknown flag says what was meant.
func TestUsageHints(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"duration_without_unit", []string{"send", "batch.succeeded", "--url", "http://127.0.0.1:1/", "--timestamp-offset", "10"},
			`--timestamp-offset "10": want a Go duration with its unit, such as 10s, -10m or 1h30m`},
		{"url_for_uri", []string{"webhooks", "create", "--url", "https://example.com/hook", "--events", "batch.succeeded"},
			"unknown flag --url; did you mean --uri?"},
		{"uri_for_url", []string{"send", "batch.succeeded", "--uri", "http://127.0.0.1:1/"},
			"unknown flag --uri; did you mean --url?"},
		{"nothing_near", []string{"status", "batches/x", "--frobnicate"}, "unknown flag --frobnicate\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r := runCLI(t, nil, tt.args...)
			if r.code != 2 {
				t.Errorf("exit code %d, want 2", r.code)
			}
			if !strings.Contains(r.stderr, tt.want) {
				t.Errorf("stderr lacks %q", tt.want)
			}
		})
	}
}

// TestKeysHelpListsFlags: keys --help lists every subcommand's flags.
func TestKeysHelpListsFlags(t *testing.T) {
	t.Parallel()
	r := runCLI(t, nil, "keys", "--help")
	if r.code != 0 {
		t.Fatalf("exit code %d, want 0", r.code)
	}
	for _, want := range []string{"Flags of keys hmac: none", "Flags of keys rsa:", "-out DIR", "-force", "Flags of keys serve-jwks:", "-key FILE", "-addr string"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("help lacks %q", want)
		}
	}
	if strings.Contains(r.stdout, "Flags: none") {
		t.Error(`help still says "Flags: none"`)
	}
}

// TestParseOnlyRunsNothing: with Env.ParseOnly a command stops once its
// command line parsed: nothing is written or sent, and bad flags still fail.
func TestParseOnlyRunsNothing(t *testing.T) {
	t.Parallel()
	var requests atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { requests.Add(1) }))
	t.Cleanup(srv.Close)
	out := filepath.Join(t.TempDir(), "keys")
	parse := func(args ...string) int {
		return cli.Main(t.Context(), &cli.Env{Stdout: io.Discard, Stderr: io.Discard, Lookup: mapLookup(nil), ParseOnly: true}, args)
	}
	if code := parse("keys", "rsa", "--out", out); code != cli.ExitOK {
		t.Errorf("keys rsa: exit %d, want 0", code)
	}
	if code := parse("send", "batch.succeeded", "--url", srv.URL, "--secret", newSecret(t)); code != cli.ExitOK {
		t.Errorf("send: exit %d, want 0", code)
	}
	if code := parse("send", "batch.succeeded", "--url", srv.URL, "--timestamp-offset", "10"); code != cli.ExitUsage {
		t.Errorf("send with a bad duration: exit %d, want 2", code)
	}
	if _, err := os.Stat(out); !os.IsNotExist(err) {
		t.Errorf("keys rsa wrote %s", out)
	}
	if n := requests.Load(); n != 0 {
		t.Errorf("send made %d request(s)", n)
	}
}
