package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"time"

	"google.golang.org/genai"
	"google.golang.org/genai/interactions"
	"google.golang.org/genai/interactions/models/operations"
	"google.golang.org/genai/interactions/models/webhooks"
	"google.golang.org/genai/interactions/retry"

	"github.com/geminihooks/geminihooks/pkg/config"
	"github.com/geminihooks/geminihooks/pkg/event"
	"github.com/geminihooks/geminihooks/pkg/secret"
)

// Gemini API defaults.
const (
	geminiTimeout = 30 * time.Second
)

// Revocation behaviours of a rotation, as the API spells them.
const (
	revokeAfter24h    = string(webhooks.RevocationBehaviorRevokePreviousSecretsAfterH24)
	revokeImmediately = string(webhooks.RevocationBehaviorRevokePreviousSecretsImmediately)
)

// secretGracePeriod is how long the previous secrets keep signing after a
// rotation with revoke_previous_secrets_after_h24.
const secretGracePeriod = 24 * time.Hour

// webhookEvents are the events a webhook can subscribe to.
var webhookEvents = event.SubscribableTypes()

// secretNamePattern matches projects/PROJECT/secrets/SECRET, as the
// receiver's WEBHOOK_SIGNING_SECRET does.
var secretNamePattern = regexp.MustCompile(`^projects/[^/]+/secrets/[A-Za-z0-9_-]+$`)

// noRetries is for the calls that must not be repeated blindly: a retried
// create can register a second webhook whose secret nobody sees, and a
// retried rotation issues a secret that is never stored.
var noRetries = operations.WithRetries(retry.Config{Strategy: "none"})

// webhooksSubs are the subcommands of "webhooks", in help order.
var webhooksSubs = []*Command{
	{
		Name:  "webhooks create",
		Usage: "webhooks create --uri URL --events EVENT[,EVENT…] (--secret-name projects/P/secrets/S | --secret-file FILE) [--name NAME] [--print-secret] [--json]",
		Short: "register a project-level webhook and store its signing secret in Secret Manager (or the local runner's file)",
		Long:  helpText("webhooks-create", "{{events}}", strings.Join(webhookEvents, ", ")),
		Run:   runWebhooksCreate,
	},
	{
		Name:  "webhooks list",
		Usage: "webhooks list [--page-size N] [--json]",
		Short: "list the project's webhooks",
		Long:  helpText("webhooks-list"),
		Run:   runWebhooksList,
	},
	{
		Name:  "webhooks get",
		Usage: "webhooks get ID [--json]",
		Short: "show a webhook, its state and its signing secrets (truncated)",
		Long:  helpText("webhooks-get"),
		Run:   runWebhooksGet,
	},
	{
		Name:  "webhooks update",
		Usage: "webhooks update ID [--uri URL] [--events EVENT[,EVENT…]] [--state enabled|disabled] [--name NAME] [--json]",
		Short: "change a webhook's URI, events, state or name",
		Long:  helpText("webhooks-update"),
		Run:   runWebhooksUpdate,
	},
	{
		Name:  "webhooks delete",
		Usage: "webhooks delete ID",
		Short: "delete a webhook",
		Long:  helpText("webhooks-delete"),
		Run:   runWebhooksDelete,
	},
	{
		Name:  "webhooks ping",
		Usage: "webhooks ping ID",
		Short: "ask Gemini to send a signed ping to the webhook",
		Long:  helpText("webhooks-ping"),
		Run:   runWebhooksPing,
	},
	{
		Name:  "webhooks rotate",
		Usage: "webhooks rotate ID (--secret-name projects/P/secrets/S | --secret-file FILE) [--revoke-immediately] [--print-secret] [--json]",
		Short: "rotate a webhook's signing secret with zero downtime",
		Long:  helpText("webhooks-rotate"),
		Run:   runWebhooksRotate,
	},
}

// webhooksCmd dispatches to its subcommands.
var webhooksCmd = &Command{
	Name:  "webhooks",
	Usage: "webhooks create|list|get|update|delete|ping|rotate [flags]",
	Short: "manage Gemini webhooks and store their signing secrets in Secret Manager",
	Long:  helpText("webhooks", "{{subcommands}}\n", subList("webhooks", webhooksSubs, 17)),
	Run:   runWebhooks,
}

func runWebhooks(ctx context.Context, env *Env, c *Command, args []string) error {
	return dispatch(ctx, env, c, webhooksSubs, args)
}

// newWebhooksClient returns the Gemini WebhookService client configured by
// GEMINI_API_KEY and GEMINI_BASE_URL.
func newWebhooksClient(ctx context.Context, env *Env) (*interactions.Webhooks, error) {
	c, err := newGeminiClient(ctx, env)
	if err != nil {
		return nil, err
	}
	return c.Webhooks, nil
}

// parseEvents splits a comma-separated event list and checks each name.
func parseEvents(list string) ([]string, error) {
	var out []string
	for _, e := range strings.Split(list, ",") {
		e = strings.TrimSpace(e)
		if e == "" {
			continue
		}
		if !slices.Contains(webhookEvents, e) {
			return nil, usageErrorf("unknown event %q; one of %s", e, strings.Join(webhookEvents, ", "))
		}
		if !slices.Contains(out, e) {
			out = append(out, e)
		}
	}
	if len(out) == 0 {
		return nil, usageErrorf("--events needs at least one event: %s", strings.Join(webhookEvents, ", "))
	}
	return out, nil
}

// parseNoArgs parses the flags of a subcommand that takes no positional
// arguments.
func parseNoArgs(env *Env, c *Command, fs *flag.FlagSet, args []string) error {
	pos, err := parseFlags(env, c, fs, args)
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		return usageErrorf("%s takes no arguments, got %q", c.Name, pos)
	}
	return nil
}

// parseID parses the flags of a subcommand that takes one webhook id and
// returns the id, its only positional argument.
func parseID(env *Env, c *Command, fs *flag.FlagSet, args []string) (string, error) {
	pos, err := parseFlags(env, c, fs, args)
	if err != nil {
		return "", err
	}
	if len(pos) != 1 || pos[0] == "" {
		return "", usageErrorf("%s wants exactly one webhook ID, got %d arguments", c.Name, len(pos))
	}
	return pos[0], nil
}

// secretIssue is what create and rotate, which receive a new signing secret
// from Gemini, hold before they call the API.
type secretIssue struct {
	target string             // where the secret goes; "" when it is only printed
	store  signingSecretStore // nil when the secret is only printed
	api    *interactions.Webhooks
	info   io.Writer // the report: standard error when standard output holds the secret or JSON
}

// openSecretIssue checks the output flags, then checks that the secret can
// be stored and connects to the Gemini API. The caller closes it.
func openSecretIssue(ctx context.Context, env *Env, secretName, secretFile string, printSecret, asJSON bool) (*secretIssue, error) {
	if printSecret && asJSON {
		return nil, usageErrorf("--print-secret and --json both want standard output; pick one")
	}
	store, err := openSecretStore(ctx, env, secretName, secretFile, printSecret)
	if err != nil {
		return nil, err
	}
	si := &secretIssue{store: store, info: env.Stdout}
	if store != nil {
		si.target = store.target()
	}
	if si.api, err = newWebhooksClient(ctx, env); err != nil {
		si.close()
		return nil, err
	}
	if printSecret || asJSON {
		si.info = env.Stderr
	}
	return si, nil
}

func (si *secretIssue) close() {
	if si.store != nil {
		si.store.close()
	}
}

func runWebhooksCreate(ctx context.Context, env *Env, c *Command, args []string) error {
	fs := newFlagSet(env, c)
	uri := fs.String("uri", "", "`URL` Gemini delivers to: the receiver's (required)")
	events := fs.String("events", "", "comma-separated `EVENTS` to subscribe to (required)")
	name := fs.String("name", "", "display `NAME` of the webhook")
	secretName := fs.String("secret-name", "", "Secret Manager secret `projects/P/secrets/S` to add the signing secret to (default $"+config.EnvSigningSecret+")")
	secretFile := fs.String("secret-file", "", "or the local runner's `FILE` standing in for it (default $"+config.EnvSigningSecretFile+")")
	printSecret := fs.Bool("print-secret", false, "print the signing secret, alone, on standard output (everything else goes to standard error)")
	asJSON := fs.Bool("json", false, "print the result as JSON")
	if err := parseNoArgs(env, c, fs, args); err != nil {
		return err
	}
	if *uri == "" {
		return usageErrorf("--uri is required")
	}
	if u, err := url.Parse(*uri); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return usageErrorf("--uri %q must be an absolute URL such as https://example.com/hook", *uri)
	}
	subscribed, err := parseEvents(*events)
	if err != nil {
		return err
	}
	si, err := openSecretIssue(ctx, env, *secretName, *secretFile, *printSecret, *asJSON)
	if err != nil {
		return err
	}
	defer si.close()

	in := webhooks.WebhookInput{URI: *uri}
	if *name != "" {
		in.Name = name
	}
	for _, e := range subscribed {
		in.SubscribedEvents = append(in.SubscribedEvents, webhooks.WebhookSubscribedEvent(e))
	}
	res, err := si.api.Create(ctx, operations.CreateWebhookRequest{Body: in}, noRetries)
	if err != nil {
		return geminiError("create the webhook", err)
	}
	wh := res.GetWebhook()
	if wh == nil {
		return errors.New("failed to create the webhook: the Gemini API answered without one; run 'geminihooks webhooks list' before trying again")
	}
	id := deref(wh.GetID())
	newSecret := deref(wh.GetNewSigningSecret())
	wh.NewSigningSecret = nil // from here on, wh may be printed

	if *printSecret && newSecret != "" {
		// First, so that nothing that follows can lose it.
		fmt.Fprintln(env.Stdout, newSecret)
	}
	if newSecret == "" {
		return fmt.Errorf("webhook %s was created but Gemini returned no signing secret; issue one with: geminihooks webhooks rotate %s --revoke-immediately %s",
			id, id, si.flag())
	}

	version := ""
	if si.store != nil {
		version, err = si.store.add(ctx, newSecret)
		if err != nil {
			printCreateStoreFailure(env.Stderr, id, wh.GetURI(), si.store, err, *printSecret)
			return &ExitError{Code: ExitFailure, Err: fmt.Errorf("webhook %s created, signing secret not stored", id)}
		}
	}

	if *asJSON {
		return writeJSON(env.Stdout, struct {
			Webhook       webhookJSON `json:"webhook"`
			SecretVersion string      `json:"secret_version,omitempty"`
		}{toWebhookJSON(wh), version})
	}
	fmt.Fprintf(si.info, "Created webhook %s.\n", id)
	printWebhook(si.info, wh, time.Now())
	fmt.Fprintln(si.info)
	if version == "" {
		fmt.Fprintln(si.info, "The signing secret was not stored in Secret Manager (no --secret-name): the copy printed on standard output is the only one.")
		return nil
	}
	fmt.Fprintf(si.info, "Stored its signing secret as %s.\n", version)
	fmt.Fprintln(si.info, si.store.pickup())
	return nil
}

// flag names the store in advice: the flag that selects it again.
func (si *secretIssue) flag() string {
	if si.store == nil {
		return "--secret-name projects/P/secrets/S"
	}
	return si.store.flag()
}

// printCreateStoreFailure explains how to recover a webhook whose new
// secret could not be stored. It never prints the secret.
func printCreateStoreFailure(w io.Writer, id, uri string, store signingSecretStore, cause error, printed bool) {
	lines := []string{
		fmt.Sprintf("Webhook %s was created, but its signing secret could NOT be stored in %s:", id, store.target()),
		"  " + cause.Error(),
	}
	if printed {
		lines = append(lines, store.byHand()...)
	} else {
		lines = append(lines,
			"Gemini shows a signing secret only once and it was not printed, so it is LOST. Deliveries to",
			uri+" will fail verification until the receiver has a valid secret.",
			"Fix the cause (does the secret exist? do you hold roles/secretmanager.secretVersionAdder on it?),",
			"then issue and store a new secret:",
			fmt.Sprintf("  geminihooks webhooks rotate %s --revoke-immediately %s", id, store.flag()))
	}
	printLoud(w, lines)
}

// printLoud prints lines in a block that stands out in a terminal log.
func printLoud(w io.Writer, lines []string) {
	fmt.Fprintln(w, "!!!")
	for _, l := range lines {
		fmt.Fprintln(w, "!!! "+l)
	}
	fmt.Fprintln(w, "!!!")
}

func runWebhooksList(ctx context.Context, env *Env, c *Command, args []string) error {
	fs := newFlagSet(env, c)
	pageSize := fs.Int("page-size", 0, "webhooks per API request (0: the API's default, 50; at most 1000)")
	asJSON := fs.Bool("json", false, "print the webhooks as JSON")
	if err := parseNoArgs(env, c, fs, args); err != nil {
		return err
	}
	if *pageSize < 0 || *pageSize > 1000 {
		return usageErrorf("--page-size %d must be between 0 and 1000", *pageSize)
	}
	api, err := newWebhooksClient(ctx, env)
	if err != nil {
		return err
	}
	var all []webhooks.Webhook
	req := operations.ListWebhooksRequest{}
	if *pageSize > 0 {
		req.PageSize = pageSize
	}
	for {
		res, err := api.List(ctx, req)
		if err != nil {
			return geminiError("list the webhooks", err)
		}
		page := res.GetWebhookListResponse()
		all = append(all, page.GetWebhooks()...)
		next := deref(page.GetNextPageToken())
		if next == "" {
			break
		}
		if req.PageToken != nil && *req.PageToken == next {
			return errors.New("failed to list the webhooks: the API returned the same page token twice")
		}
		req.PageToken = &next
	}

	if *asJSON {
		out := struct {
			Webhooks []webhookJSON `json:"webhooks"`
		}{Webhooks: []webhookJSON{}}
		for i := range all {
			out.Webhooks = append(out.Webhooks, toWebhookJSON(&all[i]))
		}
		return writeJSON(env.Stdout, out)
	}
	if len(all) == 0 {
		fmt.Fprintln(env.Stdout, "No webhooks.")
		return nil
	}
	printWebhookList(env.Stdout, all)
	return nil
}

func runWebhooksGet(ctx context.Context, env *Env, c *Command, args []string) error {
	fs := newFlagSet(env, c)
	asJSON := fs.Bool("json", false, "print the webhook as JSON")
	id, err := parseID(env, c, fs, args)
	if err != nil {
		return err
	}
	api, err := newWebhooksClient(ctx, env)
	if err != nil {
		return err
	}
	res, err := api.Get(ctx, operations.GetWebhookRequest{ID: id})
	if err != nil {
		return geminiError("get webhook "+id, err)
	}
	wh := res.GetWebhook()
	if *asJSON {
		return writeJSON(env.Stdout, toWebhookJSON(wh))
	}
	printWebhook(env.Stdout, wh, time.Now())
	return nil
}

func runWebhooksUpdate(ctx context.Context, env *Env, c *Command, args []string) error {
	fs := newFlagSet(env, c)
	uri := fs.String("uri", "", "new `URL` Gemini delivers to")
	events := fs.String("events", "", "new comma-separated `EVENTS` (replaces the list)")
	st := fs.String("state", "", "new `STATE`: enabled or disabled")
	name := fs.String("name", "", "new display `NAME` (\"\" clears it)")
	asJSON := fs.Bool("json", false, "print the updated webhook as JSON")
	id, err := parseID(env, c, fs, args)
	if err != nil {
		return err
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })

	// The mask names the fields in the API's spelling, in a fixed order.
	var body webhooks.WebhookUpdate
	var mask []string
	if set["name"] {
		body.Name = name
		mask = append(mask, "name")
	}
	if set["uri"] {
		if u, err := url.Parse(*uri); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
			return usageErrorf("--uri %q must be an absolute URL such as https://example.com/hook", *uri)
		}
		body.URI = uri
		mask = append(mask, "uri")
	}
	if set["events"] {
		list, err := parseEvents(*events)
		if err != nil {
			return err
		}
		for _, e := range list {
			body.SubscribedEvents = append(body.SubscribedEvents, webhooks.WebhookUpdateSubscribedEvent(e))
		}
		mask = append(mask, "subscribed_events")
	}
	if set["state"] {
		switch *st {
		case string(webhooks.WebhookUpdateStateEnabled), string(webhooks.WebhookUpdateStateDisabled):
		case string(webhooks.WebhookUpdateStateDisabledDueToFailedDeliveries):
			return usageErrorf("--state %s is set by Gemini only; use enabled or disabled", *st)
		default:
			return usageErrorf("--state %q must be enabled or disabled", *st)
		}
		body.State = webhooks.WebhookUpdateState(*st).ToPointer()
		mask = append(mask, "state")
	}
	if len(mask) == 0 {
		return usageErrorf("nothing to update: give at least one of --uri, --events, --state, --name")
	}

	api, err := newWebhooksClient(ctx, env)
	if err != nil {
		return err
	}
	res, err := api.Update(ctx, operations.UpdateWebhookRequest{ID: id, UpdateMask: genai.Ptr(strings.Join(mask, ",")), Body: body})
	if err != nil {
		return geminiError("update webhook "+id, err)
	}
	wh := res.GetWebhook()
	if *asJSON {
		return writeJSON(env.Stdout, toWebhookJSON(wh))
	}
	fmt.Fprintf(env.Stdout, "Updated webhook %s (%s).\n", id, strings.Join(mask, ", "))
	printWebhook(env.Stdout, wh, time.Now())
	return nil
}

// webhookByID parses the arguments of a subcommand that takes one webhook id
// and no flags, and connects to the Gemini API.
func webhookByID(ctx context.Context, env *Env, c *Command, args []string) (string, *interactions.Webhooks, error) {
	id, err := parseID(env, c, newFlagSet(env, c), args)
	if err != nil {
		return "", nil, err
	}
	api, err := newWebhooksClient(ctx, env)
	if err != nil {
		return "", nil, err
	}
	return id, api, nil
}

func runWebhooksDelete(ctx context.Context, env *Env, c *Command, args []string) error {
	id, api, err := webhookByID(ctx, env, c, args)
	if err != nil {
		return err
	}
	if _, err := api.Delete(ctx, operations.DeleteWebhookRequest{ID: id}); err != nil {
		return geminiError("delete webhook "+id, err)
	}
	fmt.Fprintf(env.Stdout, "Deleted webhook %s. Gemini no longer delivers to it.\n", id)
	return nil
}

func runWebhooksPing(ctx context.Context, env *Env, c *Command, args []string) error {
	id, api, err := webhookByID(ctx, env, c, args)
	if err != nil {
		return err
	}
	got, err := api.Get(ctx, operations.GetWebhookRequest{ID: id})
	if err != nil {
		return geminiError("get webhook "+id, err)
	}
	if _, err := api.Ping(ctx, operations.PingWebhookRequest{ID: id}); err != nil {
		return geminiError("ping webhook "+id, err)
	}
	wh := got.GetWebhook()
	// Gemini delivers the ping on its own and reports nothing back, so say
	// only that it was requested; the answer is in the receiver's logs.
	fmt.Fprintf(env.Stdout, "Gemini accepted the request to send a signed ping to %s (webhook %s).\n", wh.GetURI(), id)
	fmt.Fprintln(env.Stdout, `This command cannot see the receiver's answer: read it in the receiver's logs (a verified ping is answered 200 "ignored"; any other answer names its cause in "code").`)
	if s := state(wh); s != string(webhooks.WebhookStateEnabled) {
		fmt.Fprintf(env.Stdout, "Note: the webhook is %s, so Gemini delivers no events to it; re-enable it with:\n  geminihooks webhooks update %s --state enabled\n", s, id)
	}
	return nil
}

// rotateResult is rotate's --json output.
type rotateResult struct {
	WebhookID          string     `json:"webhook_id"`
	RevocationBehavior string     `json:"revocation_behavior"`
	SecretVersion      string     `json:"secret_version,omitempty"`
	PreviousVersions   []string   `json:"previous_versions,omitempty"`
	PreviousExpireTime *time.Time `json:"previous_secrets_expire_time,omitempty"`
}

func runWebhooksRotate(ctx context.Context, env *Env, c *Command, args []string) error {
	fs := newFlagSet(env, c)
	immediately := fs.Bool("revoke-immediately", false, "stop signing with the previous secret now instead of in 24 hours")
	secretName := fs.String("secret-name", "", "Secret Manager secret `projects/P/secrets/S` to add the new secret to (default $"+config.EnvSigningSecret+")")
	secretFile := fs.String("secret-file", "", "or the local runner's `FILE` standing in for it (default $"+config.EnvSigningSecretFile+")")
	printSecret := fs.Bool("print-secret", false, "print the new signing secret, alone, on standard output (everything else goes to standard error)")
	asJSON := fs.Bool("json", false, "print the result as JSON")
	id, err := parseID(env, c, fs, args)
	if err != nil {
		return err
	}
	behavior := revokeAfter24h
	if *immediately {
		behavior = revokeImmediately
	}
	si, err := openSecretIssue(ctx, env, *secretName, *secretFile, *printSecret, *asJSON)
	if err != nil {
		return err
	}
	defer si.close()

	if *immediately {
		warnRevokeImmediately(env.Stderr, si.target)
	}
	rotatedAt := time.Now()
	newSecret, err := rotateSecret(ctx, si.api, id, behavior)
	if err != nil {
		return err
	}
	if *printSecret {
		fmt.Fprintln(env.Stdout, newSecret)
	}

	out := rotateResult{WebhookID: id, RevocationBehavior: behavior}
	previousKnown := false
	if si.store != nil {
		out.SecretVersion, err = si.store.add(ctx, newSecret)
		if err != nil {
			printRotateStoreFailure(env.Stderr, id, si.store, behavior, rotatedAt.Add(secretGracePeriod), err, *printSecret)
			return &ExitError{Code: ExitFailure, Err: fmt.Errorf("signing secret of webhook %s rotated but not stored", id)}
		}
		// Best effort: listing needs more than the version-adder role, and
		// only sharpens the advice below.
		prev, err := si.store.enabledVersionsExcept(ctx, out.SecretVersion)
		out.PreviousVersions, previousKnown = prev, err == nil
	}
	out.PreviousExpireTime = previousExpiry(ctx, si.api, id, behavior, rotatedAt)

	if *asJSON {
		return writeJSON(env.Stdout, out)
	}
	printRotated(si.info, out, si.store, previousKnown)
	return nil
}

// warnRevokeImmediately says what revoking the previous secret at once
// costs.
func warnRevokeImmediately(w io.Writer, target string) {
	fmt.Fprintf(w, "warning: --revoke-immediately: Gemini stops signing with the previous secret now.\n"+
		"  Deliveries signed with it that are in flight fail verification, and until the receiver\n"+
		"  reloads %s (at once on a signature it cannot match, at most every %s)\n"+
		"  new deliveries may be rejected too. Gemini retries rejected deliveries for 24 hours,\n"+
		"  so they arrive late rather than never.\n", orPlaceholder(target, "its secrets"), secret.DefaultMinRefreshInterval)
}

// rotateSecret asks Gemini for a new signing secret of webhook id, once.
func rotateSecret(ctx context.Context, api *interactions.Webhooks, id, behavior string) (string, error) {
	res, err := api.RotateSigningSecret(ctx, operations.RotateSigningSecretRequest{
		ID: id, Body: webhooks.RotateSigningSecretRequest{RevocationBehavior: webhooks.RevocationBehavior(behavior).ToPointer()},
	}, noRetries)
	if err != nil {
		return "", geminiError("rotate the signing secret of webhook "+id, err)
	}
	newSecret := deref(res.GetWebhookRotateSigningSecretResponse().GetSecret())
	if newSecret == "" {
		return "", fmt.Errorf("gemini rotated the signing secret of webhook %s but returned none; rotate again", id)
	}
	return newSecret, nil
}

// previousExpiry returns when the previous secrets stop signing: the latest
// expiry the webhook lists or, failing that, the grace period after the
// rotation. It is nil when they stopped at once.
func previousExpiry(ctx context.Context, api *interactions.Webhooks, id, behavior string, rotatedAt time.Time) *time.Time {
	var latest *time.Time
	if got, err := api.Get(ctx, operations.GetWebhookRequest{ID: id}); err == nil {
		for _, s := range got.GetWebhook().GetSigningSecrets() {
			if t := s.GetExpireTime(); t != nil && (latest == nil || t.After(*latest)) {
				latest = t
			}
		}
	}
	if latest == nil && behavior == revokeAfter24h {
		latest = genai.Ptr(rotatedAt.Add(secretGracePeriod).UTC().Truncate(time.Second))
	}
	return latest
}

// printRotated reports a rotation in words.
func printRotated(w io.Writer, out rotateResult, store signingSecretStore, previousKnown bool) {
	fmt.Fprintf(w, "Rotated the signing secret of webhook %s (%s).\n", out.WebhookID, out.RevocationBehavior)
	if out.SecretVersion == "" {
		fmt.Fprintln(w, "The new secret was not stored in Secret Manager (no --secret-name): the copy printed on standard output is the only one.")
	} else {
		fmt.Fprintf(w, "Stored the new secret as %s.\n", out.SecretVersion)
	}
	fmt.Fprintln(w)
	if out.RevocationBehavior == revokeAfter24h {
		fmt.Fprintf(w, "For the next 24 hours Gemini signs every delivery with both the new and the\n"+
			"previous secret, so deliveries keep verifying while the receiver picks up the new\n"+
			"version: it re-reads the secret's enabled versions every %s, and at once (at\n"+
			"most every %s) when a delivery matches none of the secrets it holds.\n\n",
			humanDuration(secret.DefaultTTL), humanDuration(secret.DefaultMinRefreshInterval))
		fmt.Fprintf(w, "After %s the previous secret no longer signs.\n", out.PreviousExpireTime.UTC().Format(time.RFC3339))
	} else {
		fmt.Fprintln(w, "The previous secret no longer signs.")
	}
	if store == nil {
		fmt.Fprintln(w, "Retire the previous secret wherever you keep it.")
		return
	}
	store.retire(w, out.SecretVersion, out.PreviousVersions, previousKnown)
}

// retire names the Secret Manager versions that stop mattering once the
// previous secrets stop signing. previousKnown says whether previous is the
// complete list (listing versions may not be allowed).
func (s *smSecretStore) retire(w io.Writer, newVersion string, previous []string, previousKnown bool) {
	target := s.name
	switch {
	case !previousKnown:
		fmt.Fprintf(w, "You may then disable the versions of %s older than version %s:\n", target, versionID(newVersion))
		fmt.Fprintf(w, "  gcloud secrets versions list %s --project=%s --filter=state:enabled\n", secretID(target), projectOf(target))
		fmt.Fprintf(w, "  gcloud secrets versions disable VERSION --secret=%s --project=%s\n", secretID(target), projectOf(target))
	case len(previous) == 0:
		fmt.Fprintf(w, "%s holds no other enabled version: nothing to disable.\n", target)
	default:
		fmt.Fprintf(w, "You may then disable the previous version(s), unless another webhook's secret is among them:\n")
		for _, v := range previous {
			fmt.Fprintf(w, "  gcloud secrets versions disable %s --secret=%s --project=%s   # %s\n", versionID(v), secretID(target), projectOf(v), v)
		}
	}
}

// humanDuration spells a whole number of minutes or seconds for prose.
func humanDuration(d time.Duration) string {
	if d >= time.Minute && d%time.Minute == 0 {
		return fmt.Sprintf("%d minutes", d/time.Minute)
	}
	return fmt.Sprintf("%d s", d/time.Second)
}

// printRotateStoreFailure explains how to recover from a rotation whose
// new secret could not be stored. It never prints the secret.
func printRotateStoreFailure(w io.Writer, id string, store signingSecretStore, behavior string, until time.Time, cause error, printed bool) {
	lines := []string{
		fmt.Sprintf("The signing secret of webhook %s was rotated, but the new secret could NOT be stored in %s:", id, store.target()),
		"  " + cause.Error(),
	}
	if printed {
		lines = append(lines, store.byHand()...)
	} else {
		lines = append(lines, "It was not printed, so it is LOST.")
	}
	if behavior == revokeImmediately {
		lines = append(lines,
			"Gemini now signs only with the new secret, so deliveries FAIL verification now (Gemini retries",
			"them for 24 hours). Fix the cause and act right away.")
	} else {
		lines = append(lines, fmt.Sprintf("The previous secret keeps signing until about %s, so deliveries still verify until then.",
			until.UTC().Truncate(time.Second).Format(time.RFC3339)))
	}
	if !printed {
		lines = append(lines,
			"Fix the cause (does the secret exist? do you hold roles/secretmanager.secretVersionAdder on it?),",
			"then rotate again:",
			fmt.Sprintf("  geminihooks webhooks rotate %s %s", id, store.flag()))
	}
	printLoud(w, lines)
}

// webhookJSON is the --json form of a webhook: the API's field names,
// never a secret.
type webhookJSON struct {
	ID               string              `json:"id"`
	Name             string              `json:"name,omitempty"`
	URI              string              `json:"uri"`
	SubscribedEvents []string            `json:"subscribed_events"`
	State            string              `json:"state"`
	SigningSecrets   []signingSecretJSON `json:"signing_secrets"`
	CreateTime       *time.Time          `json:"create_time,omitempty"`
	UpdateTime       *time.Time          `json:"update_time,omitempty"`
}

type signingSecretJSON struct {
	TruncatedSecret string     `json:"truncated_secret"`
	ExpireTime      *time.Time `json:"expire_time,omitempty"`
}

func toWebhookJSON(w *webhooks.Webhook) webhookJSON {
	out := webhookJSON{
		ID: deref(w.GetID()), Name: deref(w.GetName()), URI: w.GetURI(), SubscribedEvents: eventNames(w),
		State: state(w), SigningSecrets: []signingSecretJSON{}, CreateTime: w.GetCreateTime(), UpdateTime: w.GetUpdateTime(),
	}
	for _, s := range w.GetSigningSecrets() {
		out.SigningSecrets = append(out.SigningSecrets, signingSecretJSON{TruncatedSecret: deref(s.GetTruncatedSecret()), ExpireTime: s.GetExpireTime()})
	}
	return out
}

// printWebhook writes a webhook as aligned "label  value" lines.
func printWebhook(w io.Writer, wh *webhooks.Webhook, now time.Time) {
	t := newTable(w)
	t.row("ID", deref(wh.GetID()))
	if n := deref(wh.GetName()); n != "" {
		t.row("Name", n)
	}
	t.row("URI", wh.GetURI())
	t.row("State", state(wh))
	t.row("Events", strings.Join(eventNames(wh), ", "))
	if ct := wh.GetCreateTime(); ct != nil {
		t.row("Created", ct.UTC().Format(time.RFC3339))
	}
	if ut := wh.GetUpdateTime(); ut != nil {
		t.row("Updated", ut.UTC().Format(time.RFC3339))
	}
	for i, s := range wh.GetSigningSecrets() {
		label := ""
		if i == 0 {
			label = "Signing secrets"
		}
		desc := "no expiry"
		if e := s.GetExpireTime(); e != nil {
			desc = fmt.Sprintf("stops signing at %s (in %s)", e.UTC().Format(time.RFC3339), e.Sub(now).Round(time.Minute))
		}
		t.row(label, deref(s.GetTruncatedSecret())+"  "+desc)
	}
	t.flush()
	if state(wh) == string(webhooks.WebhookStateDisabledDueToFailedDeliveries) {
		id := deref(wh.GetID())
		fmt.Fprintf(w, "\nGemini disabled this webhook after repeated failed deliveries. Fix the endpoint,\n"+
			"check it with 'geminihooks webhooks ping %s', then re-enable it:\n"+
			"  geminihooks webhooks update %s --state enabled\n", id, id)
	}
}

func state(w *webhooks.Webhook) string {
	if s := w.GetState(); s != nil {
		return string(*s)
	}
	return "unknown"
}

func eventNames(w *webhooks.Webhook) []string {
	out := []string{}
	for _, e := range w.GetSubscribedEvents() {
		out = append(out, string(e))
	}
	return out
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

func orPlaceholder(s, placeholder string) string {
	if s == "" {
		return placeholder
	}
	return s
}
