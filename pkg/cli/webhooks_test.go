package cli_test

import (
	"errors"
	"maps"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/geminihooks/geminihooks/internal/geminisim"
	"github.com/geminihooks/geminihooks/pkg/cli"
	"github.com/geminihooks/geminihooks/pkg/signature"
)

func TestWebhooksCreate_storesSecretAndReceiverAccepts(t *testing.T) {
	t.Parallel()
	st := newWebhooksStack(t)
	res := runCLI(t, st.env(), "webhooks", "create", "--uri", st.receiver.URL,
		"--events", "batch.succeeded, batch.failed", "--name", "prod", "--secret-name", webhooksSecretName)
	if res.code != cli.ExitOK {
		t.Fatalf("exit code %d; want 0", res.code)
	}
	id := createdID(t, res.stdout)
	info := st.webhook(t, id)
	if diff := cmp.Diff([]string{"batch.succeeded", "batch.failed"}, info.Events); diff != "" || info.Name != "prod" || info.URI != st.receiver.URL {
		t.Errorf("registered webhook %+v; want name prod, the receiver's URI and events (-want +got):\n%s", info, diff)
	}
	stored, _ := st.sm.stored()
	if !cmp.Equal(info.Secrets, stored) {
		t.Fatalf("Secret Manager holds %d versions; want exactly the secret Gemini issued", len(stored))
	}
	for _, want := range []string{webhooksSecretName + "/versions/1", "State", "enabled"} {
		if !strings.Contains(res.stdout, want) {
			t.Errorf("output lacks %q", want)
		}
	}

	if a := st.receiver.deliver(t, info.Secrets[0]); a.Status != http.StatusOK || a.Result != "accepted" {
		t.Errorf("delivery signed with the stored secret: %d %+v; want 200 accepted", a.Status, a)
	}
	other, err := signature.GenerateSecret()
	if err != nil {
		t.Fatal(err)
	}
	if a := st.receiver.deliver(t, other); a.Status != http.StatusUnauthorized || a.Error.Code != "signature_mismatch" {
		t.Errorf("delivery signed with another secret: %d %+v; want 401 signature_mismatch", a.Status, a)
	}
	assertNoSecret(t, res, info.Secrets, st.receiver.logs.String())
}

func TestWebhooksCreate_json(t *testing.T) {
	t.Parallel()
	st := newWebhooksStack(t)
	env := st.env()
	env["WEBHOOK_SIGNING_SECRET"] = webhooksSecretName // the receiver's variable is the default
	res := runCLI(t, env, "webhooks", "create", "--uri", "https://hooks.example/gemini", "--events", "video.generated", "--json")
	if res.code != cli.ExitOK {
		t.Fatalf("exit code %d; want 0", res.code)
	}
	out := jsonOut[struct {
		Webhook       map[string]any `json:"webhook"`
		SecretVersion string         `json:"secret_version"`
	}](t, res.stdout)
	id, _ := out.Webhook["id"].(string)
	info := st.webhook(t, id)
	if out.SecretVersion != webhooksSecretName+"/versions/1" || out.Webhook["uri"] != "https://hooks.example/gemini" || out.Webhook["state"] != "enabled" {
		t.Errorf("JSON output %+v; want the webhook and version 1", out)
	}
	if _, ok := out.Webhook["new_signing_secret"]; ok {
		t.Error("JSON output has new_signing_secret")
	}
	assertNoSecret(t, res, info.Secrets)
}

func TestWebhooksCreate_printSecret(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		store     bool
		wantNotes []string
	}{
		{name: "stored_and_printed", store: true, wantNotes: []string{"Stored its signing secret as " + webhooksSecretName + "/versions/1"}},
		{name: "printed_only", store: false, wantNotes: []string{"not stored in Secret Manager", "only one"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			st := newWebhooksStack(t)
			args := []string{"webhooks", "create", "--uri", st.receiver.URL, "--events", "batch.succeeded", "--print-secret"}
			if tt.store {
				args = append(args, "--secret-name", webhooksSecretName)
			}
			res := runCLI(t, st.env(), args...)
			if res.code != cli.ExitOK {
				t.Fatalf("exit code %d; want 0", res.code)
			}
			info := st.webhook(t, createdID(t, res.stderr))
			if res.stdout != info.Secrets[0]+"\n" {
				t.Errorf("stdout is not exactly the secret and a newline (%d bytes)", len(res.stdout))
			}
			if strings.Contains(res.stderr, strings.TrimPrefix(info.Secrets[0], signature.SecretPrefix)) {
				t.Error("the secret also appears on stderr")
			}
			for _, n := range tt.wantNotes {
				if !strings.Contains(res.stderr, n) {
					t.Errorf("stderr lacks %q", n)
				}
			}
			stored, _ := st.sm.stored()
			if tt.store != (len(stored) == 1) {
				t.Errorf("Secret Manager holds %d versions; want 1 only with --secret-name", len(stored))
			}
		})
	}
}

func TestWebhooksCreate_storeFailure(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name        string
		addErrs     []error
		printSecret bool
		wantCode    int
		wantAdds    int
		wantStderr  []string
	}{
		{
			name: "permission_denied", addErrs: []error{status.Error(codes.PermissionDenied, "Permission 'secretmanager.versions.add' denied")},
			wantCode: cli.ExitFailure, wantAdds: 1,
			wantStderr: []string{"could NOT be stored", "LOST", "secretVersionAdder", "geminihooks webhooks rotate %ID% --revoke-immediately --secret-name " + webhooksSecretName},
		},
		{
			name: "permission_denied_secret_printed", addErrs: []error{status.Error(codes.PermissionDenied, "denied")}, printSecret: true,
			wantCode: cli.ExitFailure, wantAdds: 1,
			wantStderr: []string{"could NOT be stored", "only copy", "gcloud secrets versions add webhook-signing --project=geminihooks-test --data-file=FILE"},
		},
		{
			name: "unavailable_until_the_last_attempt", addErrs: []error{status.Error(codes.Unavailable, "down"), status.Error(codes.Unavailable, "down"), status.Error(codes.Unavailable, "down")},
			wantCode: cli.ExitFailure, wantAdds: 3,
			wantStderr: []string{"could NOT be stored", "after 3 attempts", "LOST"},
		},
		{
			name: "unavailable_once_is_retried", addErrs: []error{status.Error(codes.Unavailable, "blip")},
			wantCode: cli.ExitOK, wantAdds: 2,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			st := newWebhooksStack(t)
			st.sm.failAdds(tt.addErrs...)
			args := []string{"webhooks", "create", "--uri", st.receiver.URL, "--events", "batch.succeeded", "--secret-name", webhooksSecretName}
			if tt.printSecret {
				args = append(args, "--print-secret")
			}
			res := runCLI(t, st.env(), args...)
			if res.code != tt.wantCode {
				t.Fatalf("exit code %d; want %d", res.code, tt.wantCode)
			}
			info := st.webhook(t, createdIDFromAny(t, st, res))
			stored, adds := st.sm.stored()
			if adds != tt.wantAdds {
				t.Errorf("AddSecretVersion called %d times; want %d", adds, tt.wantAdds)
			}
			if wantStored := tt.wantCode == cli.ExitOK; wantStored != cmp.Equal(info.Secrets, stored) {
				t.Errorf("stored %d versions; want the secret stored: %v", len(stored), wantStored)
			}
			for _, want := range tt.wantStderr {
				want = strings.ReplaceAll(want, "%ID%", info.ID)
				if !strings.Contains(res.stderr, want) {
					t.Errorf("stderr lacks %q", want)
				}
			}
			if tt.printSecret {
				if res.stdout != info.Secrets[0]+"\n" {
					t.Error("with --print-secret the secret must be on stdout even when storing fails")
				}
				return
			}
			assertNoSecret(t, res, info.Secrets)
		})
	}
}

// createdIDFromAny finds the id of the only webhook in the simulator: a
// failed create does not print the readable summary.
func createdIDFromAny(t *testing.T, st *webhooksStack, res cliResult) string {
	t.Helper()
	list := runCLI(t, st.env(), "webhooks", "list", "--json")
	out := jsonOut[struct {
		Webhooks []struct {
			ID string `json:"id"`
		} `json:"webhooks"`
	}](t, list.stdout)
	if len(out.Webhooks) != 1 {
		t.Fatalf("simulator has %d webhooks; want 1", len(out.Webhooks))
	}
	return out.Webhooks[0].ID
}

func TestWebhooksCreate_geminiFailureIsNotRetried(t *testing.T) {
	t.Parallel()
	st := newWebhooksStack(t)
	if err := st.sim.FailNext(geminisim.RouteWebhooks, 1, http.StatusServiceUnavailable); err != nil {
		t.Fatal(err)
	}
	before := st.sim.Requests(geminisim.RouteWebhooks)
	res := runCLI(t, st.env(), "webhooks", "create", "--uri", st.receiver.URL, "--events", "batch.succeeded", "--secret-name", webhooksSecretName)
	if res.code != cli.ExitFailure || !strings.Contains(res.stderr, "UNAVAILABLE (HTTP 503)") {
		t.Errorf("exit code %d, stderr %q; want 1 naming UNAVAILABLE", res.code, res.stderr)
	}
	if n := st.sim.Requests(geminisim.RouteWebhooks) - before; n != 1 {
		t.Errorf("create sent %d requests; want 1 (a retried create may register a second webhook)", n)
	}
	if stored, adds := st.sm.stored(); len(stored) != 0 || adds != 0 {
		t.Errorf("Secret Manager got %d adds after a failed create; want none", adds)
	}
}

func TestWebhooksRotate_keepsOldAndNewValid(t *testing.T) {
	t.Parallel()
	st := newWebhooksStack(t)
	res := runCLI(t, st.env(), "webhooks", "create", "--uri", st.receiver.URL, "--events", "batch.succeeded", "--secret-name", webhooksSecretName)
	if res.code != cli.ExitOK {
		t.Fatalf("create: exit code %d", res.code)
	}
	id := createdID(t, res.stdout)
	old := st.webhook(t, id).Secrets[0]
	// The receiver loads (and caches) the versions it finds now: only the old one.
	if a := st.receiver.deliver(t, old); a.Status != http.StatusOK {
		t.Fatalf("delivery before the rotation: %d %+v", a.Status, a)
	}

	rot := runCLI(t, st.env(), "webhooks", "rotate", id, "--secret-name", webhooksSecretName)
	if rot.code != cli.ExitOK {
		t.Fatalf("rotate: exit code %d", rot.code)
	}
	info := st.webhook(t, id)
	if len(info.Secrets) != 2 || info.Secrets[1] != old {
		t.Fatalf("Gemini signs with %d secrets after the rotation; want the new and the old one", len(info.Secrets))
	}
	newSecret := info.Secrets[0]
	stored, _ := st.sm.stored()
	if diff := cmp.Diff([]string{old, newSecret}, stored); diff != "" {
		t.Errorf("Secret Manager versions are not [old, new]")
	}
	for _, want := range []string{
		"revoke_previous_secrets_after_h24", webhooksSecretName + "/versions/2", "24 hours", "both the new and the\nprevious secret",
		"every 5 minutes", "most every 30 s", webhooksSecretName + "/versions/1",
		"gcloud secrets versions disable 1 --secret=webhook-signing --project=geminihooks-test",
	} {
		if !strings.Contains(rot.stdout, want) {
			t.Errorf("rotate output lacks %q", want)
		}
	}
	if m := regexp.MustCompile(`After (\S+) the previous secret no longer signs`).FindStringSubmatch(rot.stdout); m == nil {
		t.Error("rotate output does not say when the previous secret stops signing")
	} else if at, err := time.Parse(time.RFC3339, m[1]); err != nil || time.Until(at) < 23*time.Hour || time.Until(at) > 24*time.Hour {
		t.Errorf("the previous secret stops signing at %s (%v); want in about 24h", m[1], err)
	}
	if strings.Contains(rot.stderr, "warning") {
		t.Errorf("rotation with the 24 h overlap warns: %q", rot.stderr)
	}

	// Whatever Gemini signs with during the overlap verifies: the new secret
	// alone (after the receiver's refresh on the miss), the old one alone,
	// and both.
	for name, secrets := range map[string][]string{"new": {newSecret}, "old": {old}, "both": {newSecret, old}} {
		if a := st.receiver.deliver(t, secrets...); a.Status != http.StatusOK || a.Result != "accepted" {
			t.Errorf("delivery signed with the %s secret(s): %d %+v; want 200 accepted", name, a.Status, a)
		}
	}
	assertNoSecret(t, res, info.Secrets, st.receiver.logs.String())
	assertNoSecret(t, rot, info.Secrets)
}

func TestWebhooksRotate_revokeImmediately(t *testing.T) {
	t.Parallel()
	st := newWebhooksStack(t)
	id := st.createWebhook(t, "prod")
	old := st.webhook(t, id).Secrets
	rot := runCLI(t, st.env(), "webhooks", "rotate", id, "--revoke-immediately", "--secret-name", webhooksSecretName)
	if rot.code != cli.ExitOK {
		t.Fatalf("rotate: exit code %d", rot.code)
	}
	info := st.webhook(t, id)
	if len(info.Secrets) != 1 || info.Secrets[0] == old[0] {
		t.Fatalf("Gemini signs with %d secrets after an immediate revocation; want only a new one", len(info.Secrets))
	}
	if stored, _ := st.sm.stored(); !cmp.Equal(stored, info.Secrets) {
		t.Error("Secret Manager does not hold exactly the new secret")
	}
	for _, want := range []string{"warning: --revoke-immediately", "in flight fail verification", "retries"} {
		if !strings.Contains(rot.stderr, want) {
			t.Errorf("stderr lacks %q", want)
		}
	}
	if !strings.Contains(rot.stdout, "revoke_previous_secrets_immediately") || !strings.Contains(rot.stdout, "no longer signs") {
		t.Errorf("output does not explain the immediate revocation:\n%s", rot.stdout)
	}
	if a := st.receiver.deliver(t, info.Secrets[0]); a.Status != http.StatusOK {
		t.Errorf("delivery signed with the new secret: %d %+v", a.Status, a)
	}
	assertNoSecret(t, rot, append(old, info.Secrets...))
}

func TestWebhooksRotate_json(t *testing.T) {
	t.Parallel()
	st := newWebhooksStack(t)
	id := st.createWebhook(t, "prod")
	first := runCLI(t, st.env(), "webhooks", "rotate", id, "--secret-name", webhooksSecretName, "--json")
	if first.code != cli.ExitOK {
		t.Fatalf("rotate: exit code %d", first.code)
	}
	out := jsonOut[struct {
		WebhookID          string    `json:"webhook_id"`
		RevocationBehavior string    `json:"revocation_behavior"`
		SecretVersion      string    `json:"secret_version"`
		PreviousVersions   []string  `json:"previous_versions"`
		PreviousExpireTime time.Time `json:"previous_secrets_expire_time"`
	}](t, first.stdout)
	// The secret made at create time never reached Secret Manager, so no
	// previous version is listed yet; a second rotation lists the first.
	if out.WebhookID != id || out.RevocationBehavior != "revoke_previous_secrets_after_h24" || out.SecretVersion != webhooksSecretName+"/versions/1" || len(out.PreviousVersions) != 0 {
		t.Errorf("JSON output %+v", out)
	}
	if d := time.Until(out.PreviousExpireTime); d < 23*time.Hour || d > 25*time.Hour {
		t.Errorf("previous secrets expire in %s; want about 24h", d)
	}
	second := runCLI(t, st.env(), "webhooks", "rotate", id, "--secret-name", webhooksSecretName, "--json")
	out2 := jsonOut[map[string]any](t, second.stdout)
	if diff := cmp.Diff([]any{webhooksSecretName + "/versions/1"}, out2["previous_versions"]); diff != "" {
		t.Errorf("previous_versions after a second rotation (-want +got):\n%s", diff)
	}
	assertNoSecret(t, first, st.webhook(t, id).Secrets)
}

func TestWebhooksRotate_versionsNotListable(t *testing.T) {
	t.Parallel()
	st := newWebhooksStack(t)
	id := st.createWebhook(t, "prod")
	// The version-adder role cannot list versions: the advice gets generic.
	st.sm.failLists(status.Error(codes.PermissionDenied, "Permission 'secretmanager.versions.list' denied"))
	res := runCLI(t, st.env(), "webhooks", "rotate", id, "--secret-name", webhooksSecretName)
	if res.code != cli.ExitOK {
		t.Fatalf("exit code %d; want 0 (listing is best effort)", res.code)
	}
	for _, want := range []string{
		"Stored the new secret as " + webhooksSecretName + "/versions/1",
		"older than version 1",
		"gcloud secrets versions list webhook-signing --project=geminihooks-test --filter=state:enabled",
	} {
		if !strings.Contains(res.stdout, want) {
			t.Errorf("output lacks %q", want)
		}
	}
}

func TestWebhooksRotate_storeFailure(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name       string
		args       []string
		wantStderr []string
	}{
		{
			name:       "after_24h",
			wantStderr: []string{"could NOT be stored", "LOST", "keeps signing until", "geminihooks webhooks rotate %ID% --secret-name " + webhooksSecretName},
		},
		{
			name: "immediately", args: []string{"--revoke-immediately"},
			wantStderr: []string{"could NOT be stored", "LOST", "FAIL verification now", "geminihooks webhooks rotate %ID% --secret-name " + webhooksSecretName},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			st := newWebhooksStack(t)
			id := st.createWebhook(t, "prod")
			st.sm.failAdds(status.Error(codes.NotFound, "Secret [projects/geminihooks-test/secrets/webhook-signing] not found"))
			args := append([]string{"webhooks", "rotate", id, "--secret-name", webhooksSecretName}, tt.args...)
			res := runCLI(t, st.env(), args...)
			if res.code != cli.ExitFailure {
				t.Fatalf("exit code %d; want 1", res.code)
			}
			for _, want := range tt.wantStderr {
				want = strings.ReplaceAll(want, "%ID%", id)
				if !strings.Contains(res.stderr, want) {
					t.Errorf("stderr lacks %q", want)
				}
			}
			assertNoSecret(t, res, st.webhook(t, id).Secrets)
		})
	}
}

func TestWebhooksList_pagination(t *testing.T) {
	t.Parallel()
	st := newWebhooksStack(t)
	if res := runCLI(t, st.env(), "webhooks", "list"); res.code != cli.ExitOK || !strings.Contains(res.stdout, "No webhooks.") {
		t.Errorf("empty list: exit %d, stdout %q", res.code, res.stdout)
	}
	var want []string
	for i := range 5 {
		want = append(want, st.createWebhook(t, "hook-"+string(rune('a'+i))))
	}

	before := st.sim.Requests(geminisim.RouteWebhooks)
	res := runCLI(t, st.env(), "webhooks", "list", "--page-size", "2", "--json")
	if res.code != cli.ExitOK {
		t.Fatalf("exit code %d", res.code)
	}
	if n := st.sim.Requests(geminisim.RouteWebhooks) - before; n != 3 {
		t.Errorf("listing 5 webhooks by 2 took %d requests; want 3", n)
	}
	out := jsonOut[struct {
		Webhooks []struct {
			ID               string   `json:"id"`
			Name             string   `json:"name"`
			URI              string   `json:"uri"`
			SubscribedEvents []string `json:"subscribed_events"`
			State            string   `json:"state"`
			SigningSecrets   []struct {
				TruncatedSecret string `json:"truncated_secret"`
			} `json:"signing_secrets"`
			CreateTime time.Time `json:"create_time"`
			UpdateTime time.Time `json:"update_time"`
		} `json:"webhooks"`
	}](t, res.stdout)
	var got []string
	for _, w := range out.Webhooks {
		got = append(got, w.ID)
		if w.State != "enabled" || len(w.SigningSecrets) != 1 || !strings.HasPrefix(w.SigningSecrets[0].TruncatedSecret, "whsec_...") {
			t.Errorf("webhook %s: %+v", w.ID, w)
		}
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("listed ids (-want +got):\n%s", diff)
	}

	table := runCLI(t, st.env(), "webhooks", "list", "--page-size", "2")
	lines := strings.Split(strings.TrimSpace(table.stdout), "\n")
	if len(lines) != 6 || !strings.HasPrefix(lines[0], "ID") {
		t.Fatalf("table has %d lines; want a header and 5 rows:\n%s", len(lines), table.stdout)
	}
	for i, id := range want {
		if f := strings.Fields(lines[i+1]); len(f) != 5 || f[0] != id || f[2] != "enabled" || f[3] != "batch.succeeded" || f[4] != st.receiver.URL {
			t.Errorf("row %d = %q", i, lines[i+1])
		}
	}

	if res := runCLI(t, st.env(), "webhooks", "list", "--page-size", "1001"); res.code != cli.ExitUsage {
		t.Errorf("--page-size 1001: exit %d; want 2", res.code)
	}
}

func TestWebhooksUpdate_mask(t *testing.T) {
	t.Parallel()
	const newURI = "https://hooks.example/new"
	tests := []struct {
		name     string
		args     []string
		before   geminisim.WebhookState
		wantMask string
		// want returns the expected webhook given the one before.
		want func(w geminisim.WebhookInfo) geminisim.WebhookInfo
	}{
		{
			name: "disable", args: []string{"--state", "disabled"}, wantMask: "update_mask=state",
			want: func(w geminisim.WebhookInfo) geminisim.WebhookInfo { w.State = geminisim.WebhookDisabled; return w },
		},
		{
			name: "reenable_after_failed_deliveries", args: []string{"--state", "enabled"}, before: geminisim.WebhookDisabledDueToFailedDeliveries,
			wantMask: "update_mask=state",
			want:     func(w geminisim.WebhookInfo) geminisim.WebhookInfo { w.State = geminisim.WebhookEnabled; return w },
		},
		{
			name: "uri_and_events", args: []string{"--events", "batch.failed,video.generated", "--uri", newURI},
			wantMask: "update_mask=uri%2Csubscribed_events",
			want: func(w geminisim.WebhookInfo) geminisim.WebhookInfo {
				w.URI, w.Events = newURI, []string{"batch.failed", "video.generated"}
				return w
			},
		},
		{
			name: "clear_name", args: []string{"--name", ""}, wantMask: "update_mask=name",
			want: func(w geminisim.WebhookInfo) geminisim.WebhookInfo { w.Name = ""; return w },
		},
		{
			name: "everything", args: []string{"--state", "disabled", "--uri", newURI, "--name", "eu", "--events", "interaction.completed"},
			wantMask: "update_mask=name%2Curi%2Csubscribed_events%2Cstate",
			want: func(w geminisim.WebhookInfo) geminisim.WebhookInfo {
				w.Name, w.URI, w.Events, w.State = "eu", newURI, []string{"interaction.completed"}, geminisim.WebhookDisabled
				return w
			},
		},
	}
	ignore := cmp.FilterPath(func(p cmp.Path) bool {
		switch p.Last().String() {
		case ".Updated", ".Secrets", ".Pings":
			return true
		}
		return false
	}, cmp.Ignore())
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			st := newWebhooksStack(t)
			id := st.createWebhook(t, "prod")
			if tt.before != "" {
				if err := st.sim.SetWebhookState(id, tt.before); err != nil {
					t.Fatal(err)
				}
			}
			before := st.webhook(t, id)
			res := runCLI(t, st.env(), append([]string{"webhooks", "update", id}, tt.args...)...)
			if res.code != cli.ExitOK {
				t.Fatalf("exit code %d", res.code)
			}
			if diff := cmp.Diff([]string{tt.wantMask}, st.patches.all()); diff != "" {
				t.Errorf("PATCH query (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tt.want(before), st.webhook(t, id), ignore); diff != "" {
				t.Errorf("webhook after the update (-want +got):\n%s", diff)
			}
			if !strings.Contains(res.stdout, "Updated webhook "+id) {
				t.Errorf("output lacks the confirmation:\n%s", res.stdout)
			}
		})
	}
}

func TestWebhooks_usageErrors(t *testing.T) {
	t.Parallel()
	st := newWebhooksStack(t)
	id := st.createWebhook(t, "prod")
	noKey := st.env()
	delete(noKey, "GEMINI_API_KEY")
	plainHTTP := st.env()
	plainHTTP["GEMINI_BASE_URL"] = "http://generativelanguage.example.com"
	withCredentials := st.env()
	withCredentials["GEMINI_BASE_URL"] = "https://user:hunter2@generativelanguage.example.com/v1beta"
	tests := []struct {
		name string
		env  map[string]string
		args []string
	}{
		{name: "no_subcommand", args: []string{"webhooks"}},
		{name: "unknown_subcommand", args: []string{"webhooks", "destroy"}},
		{name: "flag_before_subcommand", args: []string{"webhooks", "--json", "list"}},
		{name: "create_without_uri", args: []string{"webhooks", "create", "--events", "batch.succeeded", "--secret-name", webhooksSecretName}},
		{name: "create_without_events", args: []string{"webhooks", "create", "--uri", "https://x.example", "--secret-name", webhooksSecretName}},
		{name: "create_unknown_event", args: []string{"webhooks", "create", "--uri", "https://x.example", "--events", "batch.done", "--secret-name", webhooksSecretName}},
		{name: "create_relative_uri", args: []string{"webhooks", "create", "--uri", "/hook", "--events", "batch.succeeded", "--secret-name", webhooksSecretName}},
		{name: "create_without_secret_name", args: []string{"webhooks", "create", "--uri", "https://x.example", "--events", "batch.succeeded"}},
		{name: "create_bad_secret_name", args: []string{"webhooks", "create", "--uri", "https://x.example", "--events", "batch.succeeded", "--secret-name", "webhook-signing"}},
		{name: "create_print_secret_and_json", args: []string{"webhooks", "create", "--uri", "https://x.example", "--events", "batch.succeeded", "--print-secret", "--json"}},
		{name: "no_api_key", env: noKey, args: []string{"webhooks", "list"}},
		{name: "plain_http_base_url", env: plainHTTP, args: []string{"webhooks", "list"}},
		{name: "base_url_with_credentials_and_path", env: withCredentials, args: []string{"webhooks", "list"}},
		{name: "get_without_id", args: []string{"webhooks", "get"}},
		{name: "get_two_ids", args: []string{"webhooks", "get", id, id}},
		{name: "update_nothing", args: []string{"webhooks", "update", id}},
		{name: "update_service_state", args: []string{"webhooks", "update", id, "--state", "disabled_due_to_failed_deliveries"}},
		{name: "update_unknown_state", args: []string{"webhooks", "update", id, "--state", "paused"}},
		{name: "update_no_events", args: []string{"webhooks", "update", id, "--events", ","}},
		{name: "rotate_without_secret_name", args: []string{"webhooks", "rotate", id}},
		{name: "unknown_flag", args: []string{"webhooks", "delete", id, "--force"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			env := tt.env
			if env == nil {
				env = st.env()
			}
			res := runCLI(t, env, tt.args...)
			if res.code != cli.ExitUsage {
				t.Errorf("exit code %d; want %d", res.code, cli.ExitUsage)
			}
			if !strings.Contains(res.stderr, "usage:") {
				t.Errorf("stderr has no usage line: %q", res.stderr)
			}
			if strings.Contains(res.stderr, "hunter2") {
				t.Errorf("stderr shows a credential: %q", res.stderr)
			}
		})
	}
	// None of them reached the webhook or Secret Manager.
	if info := st.webhook(t, id); info.State != geminisim.WebhookEnabled || len(info.Secrets) != 1 {
		t.Errorf("a refused command changed the webhook: %+v", info)
	}
	if stored, adds := st.sm.stored(); adds != 0 || len(stored) != 0 {
		t.Errorf("a refused command stored %d secrets", adds)
	}
}

func TestWebhooksGet(t *testing.T) {
	t.Parallel()
	st := newWebhooksStack(t)
	id := st.createWebhook(t, "prod")
	if res := runCLI(t, st.env(), "webhooks", "rotate", id, "--secret-name", webhooksSecretName); res.code != cli.ExitOK {
		t.Fatalf("rotate: exit code %d", res.code)
	}
	if err := st.sim.SetWebhookState(id, geminisim.WebhookDisabledDueToFailedDeliveries); err != nil {
		t.Fatal(err)
	}
	info := st.webhook(t, id)

	res := runCLI(t, st.env(), "webhooks", "get", id)
	if res.code != cli.ExitOK {
		t.Fatalf("exit code %d", res.code)
	}
	for _, want := range []string{
		"ID", id, "Name", "prod", st.receiver.URL, "disabled_due_to_failed_deliveries", "batch.succeeded",
		"whsec_..." + info.Secrets[0][len(info.Secrets[0])-4:] + "  no expiry",
		"whsec_..." + info.Secrets[1][len(info.Secrets[1])-4:] + "  stops signing at",
		"geminihooks webhooks update " + id + " --state enabled",
	} {
		if !strings.Contains(res.stdout, want) {
			t.Errorf("get output lacks %q", want)
		}
	}
	assertNoSecret(t, res, info.Secrets)

	js := runCLI(t, st.env(), "webhooks", "get", id, "--json")
	out := jsonOut[map[string]any](t, js.stdout)
	wantKeys := []string{"create_time", "id", "name", "signing_secrets", "state", "subscribed_events", "update_time", "uri"}
	if diff := cmp.Diff(wantKeys, sortedKeys(out)); diff != "" || out["state"] != "disabled_due_to_failed_deliveries" {
		t.Errorf("get --json keys (-want +got):\n%s\nstate %v", diff, out["state"])
	}

	missing := runCLI(t, st.env(), "webhooks", "get", "missing")
	if missing.code != cli.ExitNotFound || !strings.Contains(missing.stderr, "NOT_FOUND (HTTP 404)") {
		t.Errorf("get missing: exit %d, stderr %q; want 3 and NOT_FOUND", missing.code, missing.stderr)
	}
}

func sortedKeys(m map[string]any) []string { return slices.Sorted(maps.Keys(m)) }

func TestWebhooksDelete(t *testing.T) {
	t.Parallel()
	st := newWebhooksStack(t)
	id := st.createWebhook(t, "prod")
	keep := st.createWebhook(t, "other")
	res := runCLI(t, st.env(), "webhooks", "delete", id)
	if res.code != cli.ExitOK || !strings.Contains(res.stdout, "Deleted webhook "+id) {
		t.Fatalf("delete: exit %d, stdout %q", res.code, res.stdout)
	}
	if _, err := st.sim.Webhook(id); !errors.Is(err, geminisim.ErrNotFound) {
		t.Errorf("the webhook still exists: %v", err)
	}
	if _, err := st.sim.Webhook(keep); err != nil {
		t.Errorf("delete removed another webhook: %v", err)
	}
	again := runCLI(t, st.env(), "webhooks", "delete", id)
	if again.code != cli.ExitNotFound {
		t.Errorf("deleting it again: exit %d; want 3", again.code)
	}
}

func TestWebhooksPing(t *testing.T) {
	t.Parallel()
	st := newWebhooksStack(t)
	res := runCLI(t, st.env(), "webhooks", "create", "--uri", st.receiver.URL, "--events", "batch.succeeded", "--secret-name", webhooksSecretName)
	if res.code != cli.ExitOK {
		t.Fatalf("create: exit code %d", res.code)
	}
	id := createdID(t, res.stdout)

	ping := runCLI(t, st.env(), "webhooks", "ping", id)
	if ping.code != cli.ExitOK || !strings.Contains(ping.stdout, "signed ping to "+st.receiver.URL) {
		t.Fatalf("ping: exit %d, stdout %q", ping.code, ping.stdout)
	}
	// Gemini does not report the receiver's answer, so the output must not
	// claim one; it points at where the answer can be read.
	if strings.Contains(ping.stdout, "receiver answers") || !strings.Contains(ping.stdout, "cannot see the receiver's answer") || !strings.Contains(ping.stdout, "receiver's logs") {
		t.Errorf("ping stdout %q; want it to say the answer is only in the receiver's logs", ping.stdout)
	}
	// The receiver verified the ping with the secret in Secret Manager.
	if a := st.receiver.lastAnswer(t); a.Status != http.StatusOK || a.Result != "ignored" {
		t.Errorf("receiver answered the ping %d %+v; want 200 ignored", a.Status, a)
	}
	if info := st.webhook(t, id); len(info.Pings) != 1 || !info.Pings[0].Delivered {
		t.Errorf("simulator reports pings %+v; want one delivered", info.Pings)
	}

	if err := st.sim.SetWebhookState(id, geminisim.WebhookDisabled); err != nil {
		t.Fatal(err)
	}
	disabled := runCLI(t, st.env(), "webhooks", "ping", id)
	if disabled.code != cli.ExitOK || !strings.Contains(disabled.stdout, "webhooks update "+id+" --state enabled") {
		t.Errorf("ping of a disabled webhook: exit %d, stdout %q; want a hint to re-enable it", disabled.code, disabled.stdout)
	}
	if missing := runCLI(t, st.env(), "webhooks", "ping", "missing"); missing.code != cli.ExitNotFound {
		t.Errorf("ping missing: exit %d; want 3", missing.code)
	}
}

func TestWebhooks_help(t *testing.T) {
	t.Parallel()
	subs := []string{"create", "list", "get", "update", "delete", "ping", "rotate"}
	top := runCLI(t, nil, "webhooks", "--help")
	if top.code != cli.ExitOK {
		t.Fatalf("webhooks --help: exit %d", top.code)
	}
	for _, s := range subs {
		if !strings.Contains(top.stdout, "  "+s+" ") {
			t.Errorf("webhooks --help does not list %q", s)
		}
		res := runCLI(t, nil, "webhooks", s, "--help")
		if res.code != cli.ExitOK {
			t.Errorf("webhooks %s --help: exit %d", s, res.code)
		}
		for _, want := range []string{"usage: geminihooks webhooks " + s, "Examples:", "geminihooks webhooks " + s, "Flags:"} {
			if !strings.Contains(res.stdout, want) {
				t.Errorf("webhooks %s --help lacks %q", s, want)
			}
		}
	}
}
