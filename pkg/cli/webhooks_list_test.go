package cli_test

import (
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/geminihooks/geminihooks/pkg/cli"
)

// TestWebhooksListFitsWidth: with every event subscribed, a long name and a
// long URI, each row of the table stays within 100 columns.
func TestWebhooksListFitsWidth(t *testing.T) {
	t.Parallel()
	st := newWebhooksStack(t)
	allEvents := "batch.succeeded,batch.failed,batch.expired,batch.cancelled,interaction.completed,interaction.failed,interaction.cancelled,interaction.requires_action,video.generated"
	longURI := "https://geminihooks-receiver-0123456789-uc.a.run.app/some/long/path/to/the/receiver/endpoint?tenant=acme-production"
	for _, args := range [][]string{
		{"--uri", longURI, "--events", allEvents, "--name", "production webhook for every job kind"},
		{"--uri", st.receiver.URL, "--events", "batch.succeeded,video.generated"},
	} {
		if r := runCLI(t, st.env(), append([]string{"webhooks", "create", "--print-secret"}, args...)...); r.code != cli.ExitOK {
			t.Fatalf("create: exit code %d", r.code)
		}
	}
	r := runCLI(t, st.env(), "webhooks", "list")
	if r.code != cli.ExitOK {
		t.Fatalf("exit code %d", r.code)
	}
	lines := strings.Split(strings.TrimRight(r.stdout, "\n"), "\n")
	if len(lines) != 3 {
		t.Fatalf("%d lines, want a header and 2 rows", len(lines))
	}
	for _, line := range lines {
		if n := utf8.RuneCountInString(line); n > 100 {
			t.Errorf("line is %d columns wide:\n%s", n, line)
		}
	}
	for _, want := range []string{"  all  ", "2 events", "https://geminihooks-", "acme-production", "…"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("table lacks %q", want)
		}
	}
}
