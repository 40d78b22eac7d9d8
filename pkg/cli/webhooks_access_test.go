package cli_test

import (
	"strings"
	"testing"

	"github.com/geminihooks/geminihooks/pkg/cli"
)

// TestWebhooksCheckSecretAccessFirst: without the grant to add versions,
// or with a secret that does not exist, create and rotate stop before they
// ask Gemini for a secret that could not be kept.
func TestWebhooksCheckSecretAccessFirst(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name       string
		args       func(st *webhooksStack, id string) []string
		deny       bool
		wantStderr string
	}{
		{"create_without_grant", func(st *webhooksStack, _ string) []string {
			return []string{"webhooks", "create", "--uri", st.receiver.URL, "--events", "batch.succeeded", "--secret-name", webhooksSecretName}
		}, true, "secretmanager.versions.add is missing"},
		{"create_missing_secret", func(st *webhooksStack, _ string) []string {
			return []string{"webhooks", "create", "--uri", st.receiver.URL, "--events", "batch.succeeded", "--secret-name", "projects/geminihooks-test/secrets/absent"}
		}, false, "does not exist"},
		{"rotate_without_grant", func(_ *webhooksStack, id string) []string {
			return []string{"webhooks", "rotate", id, "--secret-name", webhooksSecretName}
		}, true, "secretmanager.versions.add is missing"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			st := newWebhooksStack(t)
			existing := ""
			if strings.HasPrefix(tt.name, "rotate") {
				existing = st.createWebhook(t, "existing")
			}
			var before []string
			if existing != "" {
				before = st.webhook(t, existing).Secrets
			}
			if tt.deny {
				st.sm.deny()
			}
			res := runCLI(t, st.env(), tt.args(st, existing)...)
			if res.code != cli.ExitFailure || !strings.Contains(res.stderr, tt.wantStderr) || !strings.Contains(res.stderr, "nothing was asked of Gemini") {
				t.Errorf("exit code %d, stderr %q; want 1 saying %q and that Gemini was not asked", res.code, res.stderr, tt.wantStderr)
			}
			list := runCLI(t, st.env(), "webhooks", "list", "--json")
			if n := strings.Count(list.stdout, `"id":`); (existing == "" && n != 0) || (existing != "" && n != 1) {
				t.Errorf("the simulator holds %d webhook(s) after the refusal", n)
			}
			if existing != "" {
				if after := st.webhook(t, existing).Secrets; len(after) != len(before) || after[0] != before[0] {
					t.Error("the webhook's secret was rotated although it could not be stored")
				}
			}
			if _, adds := st.sm.stored(); adds != 0 {
				t.Errorf("%d AddSecretVersion call(s); want none", adds)
			}
		})
	}
}
