package cli

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/geminihooks/geminihooks/pkg/config"
	"github.com/geminihooks/geminihooks/pkg/event"
	"github.com/geminihooks/geminihooks/pkg/gemini"
	"github.com/geminihooks/geminihooks/pkg/signature"
)

// eventPing is the type send gives a ping. Undocumented: the type of
// Gemini's ping event; the receiver acknowledges this one (and an empty
// body) without publishing.
const eventPing = "ping"

// sendEventTypes lists the events send can build, in catalog order.
var sendEventTypes = append(event.SubscribableTypes(), eventPing)

var sendCmd = &Command{
	Name:  "send",
	Usage: "send <event-type> --url URL [flags] | send [<event-type>] --payload FILE --url URL [flags]",
	Short: "send a realistic, correctly signed Gemini webhook to an endpoint",
	Long:  helpText("send"),
	Run:   runSend,
}

// sendResult is send's --json output.
type sendResult struct {
	URL        string          `json:"url"`
	EventType  string          `json:"event_type"`
	Resource   string          `json:"resource,omitempty"` // the job the event names (data.id)
	WebhookID  string          `json:"webhook_id"`
	Scheme     string          `json:"scheme"`
	KeyID      string          `json:"kid,omitempty"`
	Signatures int             `json:"signatures"`
	Timestamp  int64           `json:"timestamp"`
	Status     int             `json:"status"`
	Body       json.RawMessage `json:"body,omitempty"`
	BodyText   string          `json:"body_text,omitempty"`
	DurationMS float64         `json:"duration_ms"`
	Error      string          `json:"error,omitempty"` // why no answer came
}

// sendOptions are send's flags.
type sendOptions struct {
	url, keyFile, audience, issuer, id, resource, payload string
	secrets, metadata                                     stringList
	jwt, json                                             bool
	offset, timeout                                       time.Duration
}

func runSend(ctx context.Context, env *Env, c *Command, args []string) error {
	fs := newFlagSet(env, c)
	var o sendOptions
	fs.StringVar(&o.url, "url", "", "endpoint to POST to (required)")
	fs.Var(&o.secrets, "secret", "signing secret `whsec_…` (repeatable or comma-separated; default $WEBHOOK_SIGNING_SECRETS)")
	fs.BoolVar(&o.jwt, "jwt", false, "sign as a per-request webhook (RS256 JWT) instead of HMAC")
	fs.StringVar(&o.keyFile, "key", "", "private key `FILE` for --jwt, as written by 'keys rsa'")
	fs.StringVar(&o.audience, "audience", "", "JWT aud claim (default: the --url)")
	fs.StringVar(&o.issuer, "issuer", gemini.WebhookIssuer, "JWT iss claim")
	fs.StringVar(&o.id, "id", "", "webhook-id to send (default: a new msg_… id); repeat one to test de-duplication")
	fs.DurationVar(&o.offset, "timestamp-offset", 0, "shift webhook-timestamp (and the JWT times) by `DURATION`, e.g. -10m for a stale delivery")
	fs.StringVar(&o.resource, "resource", "", "job `ID` in data.id (default: a new one of the event's kind)")
	fs.Var(&o.metadata, "user-metadata", "user_metadata entry `key=value` (repeatable)")
	fs.StringVar(&o.payload, "payload", "", "send the body in `FILE` ('-' for stdin) instead of building one")
	fs.BoolVar(&o.json, "json", false, "print the result as JSON")
	fs.DurationVar(&o.timeout, "timeout", 30*time.Second, "bound on the request")
	pos, err := parseFlags(env, c, fs, args)
	if err != nil {
		return err
	}
	eventType := ""
	switch {
	case len(pos) == 1:
		eventType = pos[0]
	case len(pos) > 1 || o.payload == "":
		return usageErrorf("want exactly one event type, got %d arguments", len(pos))
	}
	if o.url == "" {
		return usageErrorf("--url is required")
	}
	if o.payload == "" && !slices.Contains(sendEventTypes, eventType) {
		return usageErrorf("unknown event type %q; one of %s", eventType, strings.Join(sendEventTypes, ", "))
	}
	if o.payload != "" && (o.resource != "" || len(o.metadata) > 0) {
		return usageErrorf("--resource and --user-metadata shape a built payload; edit the --payload file instead")
	}

	req, res, err := newSendRequest(ctx, env, eventType, o)
	if err != nil {
		return err
	}
	client := *env.HTTP()
	client.Timeout = o.timeout
	start := time.Now()
	resp, err := client.Do(req)
	if err != nil {
		err = fmt.Errorf("failed to POST %s: %w", o.url, err)
		if o.json {
			// A script reads standard output; tell it there was no answer.
			res.Error = err.Error()
			return errors.Join(&ExitError{Code: ExitFailure, Err: err}, writeJSON(env.Stdout, res))
		}
		return err
	}
	defer resp.Body.Close()
	answer, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return fmt.Errorf("failed to read the answer of %s: %w", o.url, err)
	}
	res.DurationMS = float64(time.Since(start).Microseconds()) / 1000
	res.Status = resp.StatusCode
	if answer = bytes.TrimSpace(answer); len(answer) > 0 && json.Valid(answer) {
		res.Body = answer
	} else {
		res.BodyText = string(answer)
	}

	if o.json {
		if err := writeJSON(env.Stdout, res); err != nil {
			return err
		}
	} else {
		detail := fmt.Sprintf("%d signature(s)", res.Signatures)
		if res.KeyID != "" {
			detail = "kid " + res.KeyID
		}
		job := ""
		if res.Resource != "" {
			job = "  job " + res.Resource
		}
		fmt.Fprintf(env.Stdout, "POST %s  %s%s  webhook-id %s  %s, %s\n", o.url, res.EventType, job, res.WebhookID, res.Scheme, detail)
		fmt.Fprintf(env.Stdout, "%s  %.1fms\n", resp.Status, res.DurationMS)
		if len(answer) > 0 {
			fmt.Fprintf(env.Stdout, "%s\n", answer)
		}
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return &ExitError{Code: ExitFailure, Err: fmt.Errorf("the endpoint answered %s", resp.Status)}
	}
	return nil
}

// newSendRequest builds the signed POST of one delivery and the result
// fields known before it is sent.
func newSendRequest(ctx context.Context, env *Env, eventType string, o sendOptions) (*http.Request, sendResult, error) {
	var body []byte
	var resource string
	if o.payload != "" {
		b, err := readInput(env, o.payload)
		if err != nil {
			return nil, sendResult{}, err
		}
		body = b
		if eventType, resource, err = checkPayload(o.payload, body, eventType); err != nil {
			return nil, sendResult{}, err
		}
	} else {
		metadata, err := parseMetadata(o.metadata)
		if err != nil {
			return nil, sendResult{}, err
		}
		n := buildNotification(eventType, o.resource, metadata, time.Now())
		resource = n.Data.ID
		if body, err = json.Marshal(n); err != nil {
			return nil, sendResult{}, fmt.Errorf("failed to encode the notification: %w", err)
		}
	}
	webhookID := o.id
	if webhookID == "" {
		webhookID = "msg_" + randomID(27)
	}
	ts := time.Now().Add(o.offset)
	res := sendResult{URL: o.url, EventType: eventType, Resource: resource, WebhookID: webhookID, Timestamp: ts.Unix()}

	var sig string
	if o.jwt {
		if o.keyFile == "" {
			return nil, res, usageErrorf("--jwt needs --key FILE (create one with 'geminihooks keys rsa')")
		}
		signer, err := loadSigner(o.keyFile)
		if err != nil {
			return nil, res, err
		}
		aud := o.audience
		if aud == "" {
			aud = o.url
		}
		if sig, err = signer.Sign(signature.WebhookClaims(body, o.issuer, aud, webhookID, ts)); err != nil {
			return nil, res, err
		}
		res.Scheme, res.KeyID, res.Signatures = string(signature.SchemeJWT), signer.KeyID(), 1
	} else {
		secrets, err := signingSecrets(env, o.secrets)
		if err != nil {
			return nil, res, err
		}
		sigs := make([]string, len(secrets))
		for i, s := range secrets {
			sigs[i] = signature.SignHMAC(s, webhookID, ts, body)
		}
		sig = strings.Join(sigs, " ")
		res.Scheme, res.Signatures = string(signature.SchemeHMAC), len(sigs)
	}

	req, err := http.NewRequestWithContext(ctx, http.MethodPost, o.url, bytes.NewReader(body))
	if err != nil {
		return nil, res, usageErrorf("invalid --url: %v", err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "geminihooks-cli")
	req.Header.Set(signature.HeaderID, webhookID)
	req.Header.Set(signature.HeaderTimestamp, strconv.FormatInt(ts.Unix(), 10))
	req.Header.Set(signature.HeaderSignature, sig)
	return req, res, nil
}

// buildNotification returns the payload Gemini sends for eventType, shaped
// as the simulator shapes it (which follows the documented examples):
// batches and videos carry resource names, interactions bare ids, results
// pointers and errors where Gemini puts them.
func buildNotification(eventType, resource string, metadata map[string]any, now time.Time) event.Payload {
	n := event.Payload{Type: eventType, Version: event.PayloadVersion, Timestamp: now.UTC().Truncate(time.Second)}
	if eventType == eventPing {
		return n
	}
	id := resource
	if id == "" {
		switch n.Kind() {
		case event.KindBatch:
			id = "batches/" + randomID(16)
		case event.KindInteraction:
			id = randomID(16)
		case event.KindVideo:
			id = "models/" + gemini.DefaultVideoModel + "/operations/" + randomID(16)
		}
	}
	n.Data = event.PayloadData{ID: id, UserMetadata: metadata}
	switch eventType {
	case event.TypeBatchSucceeded:
		n.Data.OutputFileURI = "files/" + randomID(16)
	case event.TypeBatchFailed:
		// A google.rpc.Code number, as the simulator sends for batches.
		n.Data.ErrorCode, n.Data.ErrorMessage = 13, "Internal error encountered while processing the batch."
	case event.TypeInteractionFailed:
		n.Data.ErrorCode, n.Data.ErrorMessage = "RESOURCE_EXHAUSTED", "Quota exceeded for deep research requests."
	case event.TypeVideoGenerated:
		file := randomID(16)
		n.Data.OutputFileURI = gemini.DefaultBaseURL + "/" + gemini.APIVersion + "/files/" + file + ":download?alt=media"
		n.Data.FileName = "files/" + file
	}
	return n
}

// checkPayload reads the type and job of a --payload body. An event type
// given on the command line must be the payload's: a body that says
// otherwise is a mistake, not a test. Without one the body goes as it is,
// whatever it holds (a malformed body is a negative test).
func checkPayload(file string, body []byte, eventType string) (typ, resource string, err error) {
	var p struct {
		Type json.RawMessage `json:"type"`
		Data struct {
			ID any `json:"id"`
		} `json:"data"`
	}
	isObject := json.Unmarshal(body, &p) == nil
	var payloadType string
	hasType := isObject && json.Unmarshal(p.Type, &payloadType) == nil
	if id, ok := p.Data.ID.(string); ok {
		resource = id
	}
	switch {
	case eventType == "" && hasType:
		return payloadType, resource, nil
	case eventType == "":
		return "(as in " + file + ")", resource, nil
	case !hasType:
		return "", "", usageErrorf("--payload %s has no string \"type\" to match %q: leave the event type out to send the file as it is", file, eventType)
	case payloadType != eventType:
		return "", "", usageErrorf("--payload %s holds a %q event, but the command says %q: fix one, or leave the event type out", file, payloadType, eventType)
	}
	return eventType, resource, nil
}

// signingSecrets parses the --secret values, or WEBHOOK_SIGNING_SECRETS when
// there are none. Errors name the flag or variable, never the value.
func signingSecrets(env *Env, flagValues []string) ([]signature.Secret, error) {
	name, list := "--secret", strings.Join(flagValues, ",")
	if len(flagValues) == 0 {
		name, list = config.EnvSigningSecrets, env.Getenv(config.EnvSigningSecrets)
	}
	secrets, err := signature.ParseSecretList(name, list)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrUsage, err)
	}
	if len(secrets) == 0 {
		return nil, usageErrorf("no signing secret: pass --secret or set %s (or use --jwt)", config.EnvSigningSecrets)
	}
	return secrets, nil
}

// parseMetadata turns key=value pairs into user_metadata.
func parseMetadata(pairs []string) (map[string]any, error) {
	if len(pairs) == 0 {
		return nil, nil
	}
	m := make(map[string]any, len(pairs))
	for _, p := range pairs {
		k, v, ok := strings.Cut(p, "=")
		if !ok || k == "" {
			return nil, usageErrorf("--user-metadata wants key=value, got %q", p)
		}
		m[k] = v
	}
	return m, nil
}

// readInput reads a file, or standard input for "-".
func readInput(env *Env, path string) ([]byte, error) {
	if path == "-" {
		if env.Stdin == nil {
			return nil, usageErrorf("no standard input")
		}
		b, err := io.ReadAll(env.Stdin)
		if err != nil {
			return nil, fmt.Errorf("failed to read standard input: %w", err)
		}
		return b, nil
	}
	b, err := os.ReadFile(path)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, usageErrorf("%v", err)
		}
		return nil, fmt.Errorf("failed to read %s: %w", path, err)
	}
	return b, nil
}

// randomID returns n random lower-case base32 characters, the shape of the
// ids Gemini hands out.
func randomID(n int) string {
	var sb strings.Builder
	for sb.Len() < n {
		sb.WriteString(strings.ToLower(rand.Text()))
	}
	return sb.String()[:n]
}

// stringList is a repeatable string flag.
type stringList []string

var _ flag.Value = (*stringList)(nil)

func (l *stringList) String() string { return "" } // never echo values: they may be secrets

func (l *stringList) Set(v string) error {
	*l = append(*l, v)
	return nil
}
