package cli

import (
	"bufio"
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/textproto"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/sethvargo/go-envconfig"

	"github.com/geminihooks/geminihooks/pkg/config"
	"github.com/geminihooks/geminihooks/pkg/event"
	"github.com/geminihooks/geminihooks/pkg/receiver"
	"github.com/geminihooks/geminihooks/pkg/secret"
	"github.com/geminihooks/geminihooks/pkg/signature"
)

var verifyCmd = &Command{
	Name:  "verify",
	Usage: "verify --headers FILE --body FILE [flags]",
	Short: "check a captured delivery offline with the receiver's verifier and say why it fails",
	Long:  helpText("verify"),
	Run:   runVerify,
}

// verifyReport is verify's --json output: the receiver's answer and the
// signature.Report behind it, with a hint. It holds labels, key ids and
// timings, never secret material.
type verifyReport struct {
	// Verified says whether the signature verified; HTTPStatus and Answer
	// are what the receiver would answer, which also depends on the event.
	Verified        bool           `json:"verified"`
	HTTPStatus      int            `json:"http_status"`
	Answer          string         `json:"answer"`
	Code            string         `json:"code,omitempty"`
	Error           string         `json:"error,omitempty"`
	Hint            string         `json:"hint,omitempty"`
	EventType       string         `json:"event_type,omitempty"`
	Resource        string         `json:"resource,omitempty"`
	Scheme          string         `json:"scheme,omitempty"`
	WebhookID       string         `json:"webhook_id,omitempty"`
	Timestamp       *time.Time     `json:"timestamp,omitempty"`
	SkewSeconds     float64        `json:"skew_seconds"`
	Tolerance       string         `json:"tolerance"`
	Signatures      int            `json:"signatures"`
	OtherSignatures int            `json:"other_signatures"`
	SecretsTried    []string       `json:"secrets_tried"`
	MatchedSecret   string         `json:"matched_secret,omitempty"`
	Algorithm       string         `json:"alg,omitempty"`
	KeyID           string         `json:"kid,omitempty"`
	Claims          map[string]any `json:"claims,omitempty"`
}

// verifyOptions are verify's flags.
type verifyOptions struct {
	headers, body, secretName, secretFile, jwks, audience, issuer, at string
	secrets                                                           stringList
	tolerance                                                         time.Duration
	json                                                              bool
}

// judgeFlags defines the flags that configure the receiver's checks, for
// verify and listen.
func judgeFlags(fs *flag.FlagSet, o *verifyOptions) {
	fs.Var(&o.secrets, "secret", "signing secret `whsec_…` to try (repeatable; default $WEBHOOK_SIGNING_SECRETS)")
	fs.StringVar(&o.secretName, "secret-name", "", "also try every enabled version of Secret Manager secret `projects/P/secrets/S` (default $WEBHOOK_SIGNING_SECRET)")
	fs.StringVar(&o.secretFile, "secret-file", "", "also try every version in the local runner's secret `FILE` (default $WEBHOOK_SIGNING_SECRET_FILE)")
	fs.StringVar(&o.jwks, "jwks", "", "JWKS `FILE or URL` for JWT deliveries (default $WEBHOOK_JWKS_URL, else Gemini's)")
	fs.DurationVar(&o.tolerance, "tolerance", 0, "allowed |now - webhook-timestamp| (default $WEBHOOK_TIMESTAMP_TOLERANCE, 5m)")
	fs.StringVar(&o.audience, "audience", "", "required JWT aud (default $WEBHOOK_JWT_AUDIENCE)")
	fs.StringVar(&o.issuer, "issuer", "", "required JWT iss (default $WEBHOOK_JWT_ISSUER)")
}

func runVerify(ctx context.Context, env *Env, c *Command, args []string) error {
	fs := newFlagSet(env, c)
	var o verifyOptions
	fs.StringVar(&o.headers, "headers", "", "`FILE` of captured request headers (required)")
	fs.StringVar(&o.body, "body", "", "`FILE` of the captured raw body (required; '-' for stdin)")
	judgeFlags(fs, &o)
	fs.StringVar(&o.at, "at", "", "judge the delivery as of `TIME` (RFC 3339 or Unix seconds) instead of now")
	fs.BoolVar(&o.json, "json", false, "print the report as JSON")
	pos, err := parseFlags(env, c, fs, args)
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		return usageErrorf("unexpected arguments %q", pos)
	}
	if o.headers == "" || o.body == "" {
		return usageErrorf("--headers and --body are required")
	}
	rawHeaders, err := readInput(env, o.headers)
	if err != nil {
		return err
	}
	header, err := parseHeaders(rawHeaders)
	if err != nil {
		return usageErrorf("--headers %s: %v", o.headers, err)
	}
	body, err := readInput(env, o.body)
	if err != nil {
		return err
	}
	j, err := newJudge(ctx, env, o)
	if err != nil {
		return err
	}
	out, rep := j.judge(ctx, header, body)
	if o.json {
		if err := writeJSON(env.Stdout, out); err != nil {
			return err
		}
	} else {
		printVerifyReport(env.Stdout, out, rep)
	}
	if out.Code != "" {
		return &ExitError{Code: ExitFailure} // the report says why
	}
	return nil
}

// judge reaches the receiver's verdict on a delivery: the receiver's own
// Checker (body limit, signature, event parse and normalization, event
// size) with the receiver's verifier, which records how it decided.
type judge struct {
	// mu makes judge safe for concurrent use: explain holds one report.
	mu       sync.Mutex
	verifier *signature.Verifier
	checker  *receiver.Checker
	explain  *explainingVerifier
	maxBody  int64
	// wallClock tells a delivery's real age, whatever --at says.
	wallClock func() time.Time
}

// newJudge builds the receiver's Checker from the receiver's configuration
// (LoadConfig, NewVerifier) read from the same variables, flags on top.
func newJudge(ctx context.Context, env *Env, o verifyOptions) (*judge, error) {
	now := time.Now
	if o.at != "" {
		t, err := parseTime(o.at)
		if err != nil {
			return nil, usageErrorf("--at: %v", err)
		}
		now = func() time.Time { return t }
	}
	cfg, v, err := newVerifier(ctx, env, o, now)
	if err != nil {
		return nil, err
	}
	ex := &explainingVerifier{v: v}
	checker, err := receiver.NewChecker(ex, receiver.Options{MaxBodyBytes: cfg.MaxBodyBytes, Now: now})
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrUsage, err)
	}
	return &judge{verifier: v, checker: checker, explain: ex, maxBody: cfg.MaxBodyBytes, wallClock: time.Now}, nil
}

// judge checks one delivery and returns the report and, when the signature
// was checked, how.
func (j *judge) judge(ctx context.Context, header http.Header, body []byte) (verifyReport, *signature.Report) {
	j.mu.Lock()
	defer j.mu.Unlock()
	j.explain.report = nil
	in := j.checker.Check(ctx, header, bytes.NewReader(body))
	rep := j.explain.report
	out := verifyReport{HTTPStatus: in.Verdict.HTTPStatus, Answer: in.Verdict.Status, Code: in.Verdict.Code, EventType: in.EventType}
	if out.HTTPStatus == 0 {
		// Past every check: the ledger decides between accepted and
		// duplicate.
		out.HTTPStatus, out.Answer = http.StatusOK, receiver.StatusAccepted
	}
	if out.Code != "" {
		out.Answer, out.Error = out.Code, in.Verdict.Message
	}
	if in.Event != nil {
		out.Resource = in.Event.Subject
	}
	if rep != nil {
		fillSignatureReport(&out, *rep)
	}
	out.Hint = j.hint(ctx, in, rep, header, body)
	return out, rep
}

// explainingVerifier verifies with the receiver's verifier and keeps the
// report of how it decided.
type explainingVerifier struct {
	v      *signature.Verifier
	report *signature.Report
}

var _ receiver.Verifier = (*explainingVerifier)(nil)

// Verify implements receiver.Verifier with signature.Verifier.Explain,
// which returns what Verify would.
func (e *explainingVerifier) Verify(ctx context.Context, h http.Header, body []byte) (*signature.Delivery, error) {
	rep := e.v.Explain(ctx, h, body)
	e.report = &rep
	if rep.Err != nil {
		return nil, rep.Err
	}
	return rep.Delivery, nil
}

// newVerifier builds the verifier the receiver would use, with the
// receiver's own LoadConfig and NewVerifier, from the same variables with the
// flags on top.
func newVerifier(ctx context.Context, env *Env, o verifyOptions, now func() time.Time) (*receiver.Config, *signature.Verifier, error) {
	jwksIsURL := strings.HasPrefix(o.jwks, "http://") || strings.HasPrefix(o.jwks, "https://")
	overrides := map[string]string{}
	for name, value := range map[string]string{
		config.EnvJWTAudience:   o.audience,
		config.EnvJWTIssuer:     o.issuer,
		config.EnvSigningSecret: o.secretName,
	} {
		if value != "" {
			overrides[name] = value
		}
	}
	if o.tolerance != 0 {
		overrides[config.EnvTimestampTolerance] = o.tolerance.String()
	}
	if jwksIsURL {
		overrides[config.EnvJWKSURL] = o.jwks
	}
	if len(o.secrets) > 0 {
		// Flag secrets replace the variable's; they get their own labels.
		overrides[config.EnvSigningSecrets] = ""
	}
	cfg, err := receiver.LoadConfig(ctx, envconfig.MultiLookuper(envconfig.MapLookuper(overrides), envLookuper{env}))
	if err != nil {
		return nil, nil, fmt.Errorf("%w: %w", ErrUsage, err)
	}

	var secrets []signature.Secret
	if len(o.secrets) > 0 {
		if secrets, err = signingSecrets(env, o.secrets); err != nil {
			return nil, nil, err
		}
	} else if secrets, err = cfg.Secrets(); err != nil {
		return nil, nil, fmt.Errorf("%w: %s: %w", ErrUsage, config.EnvSigningSecrets, err)
	}
	if cfg.SigningSecretName != "" {
		versions, err := secretVersions(ctx, env, cfg.SigningSecretName)
		if err != nil {
			return nil, nil, err
		}
		secrets = append(secrets, versions...)
	}
	if file := cmp.Or(o.secretFile, env.Getenv(config.EnvSigningSecretFile)); file != "" {
		f, err := secret.NewFile(file)
		if err != nil {
			return nil, nil, usageErrorf("--secret-file: %v", err)
		}
		versions, err := f.Secrets(ctx)
		if err != nil {
			return nil, nil, err
		}
		secrets = append(secrets, versions...)
	}

	var keys signature.KeySource // nil: the receiver's, from WEBHOOK_JWKS_URL
	if o.jwks != "" && !jwksIsURL {
		doc, err := readInput(env, o.jwks)
		if err != nil {
			return nil, nil, err
		}
		if keys, err = signature.ParseStaticKeys(doc); err != nil {
			return nil, nil, fmt.Errorf("failed to read the JWKS in %s: %w", o.jwks, err)
		}
	}
	// The receiver's logger would only report a failed JWKS fetch, which
	// the report shows as keys_unavailable.
	v, err := receiver.NewVerifier(cfg, signature.Options{Secrets: signature.StaticSecrets(secrets), Keys: keys, Now: now}, slog.New(slog.DiscardHandler))
	if err != nil {
		return nil, nil, fmt.Errorf("%w: %w", ErrUsage, err)
	}
	return cfg, v, nil
}

// secretVersions reads every enabled version of a Secret Manager secret,
// labelled by version name, through the receiver's own loader.
func secretVersions(ctx context.Context, env *Env, name string) ([]signature.Secret, error) {
	client, err := newSecretManagerClient(ctx, env)
	if err != nil {
		return nil, err
	}
	defer client.Close()
	var skipped []string
	m, err := secret.NewManager(client, name, secret.Options{OnError: func(_ context.Context, err error) {
		skipped = append(skipped, err.Error()) // labels only, never values
	}})
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrUsage, err)
	}
	list, err := m.Secrets(ctx)
	for _, s := range skipped {
		fmt.Fprintf(env.Stderr, "warning: %s\n", s)
	}
	if err != nil {
		return nil, fmt.Errorf("failed to read the versions of %s: %w", name, err)
	}
	return list, nil
}

// fillSignatureReport copies how the signature was judged into out.
func fillSignatureReport(out *verifyReport, rep signature.Report) {
	out.Verified, out.Scheme, out.WebhookID = rep.Err == nil, string(rep.Scheme), rep.ID
	out.SkewSeconds, out.Tolerance = rep.Skew.Seconds(), rep.Tolerance.String()
	out.Signatures, out.OtherSignatures = rep.Signatures, rep.OtherSignatures
	out.SecretsTried, out.MatchedSecret = append([]string{}, rep.SecretsTried...), rep.MatchedSecret
	out.Algorithm, out.KeyID, out.Claims = rep.Algorithm, rep.KeyID, rep.Claims
	if !rep.Timestamp.IsZero() {
		ts := rep.Timestamp.UTC()
		out.Timestamp = &ts
	}
}

func printVerifyReport(w io.Writer, out verifyReport, rep *signature.Report) {
	tw := newTable(w)
	switch {
	case out.Code != "":
		tw.row("verdict", fmt.Sprintf("FAILED: %d %s: %s", out.HTTPStatus, out.Code, out.Error))
	case out.Answer == receiver.StatusIgnored:
		tw.row("verdict", fmt.Sprintf("OK: %d %s (a ping: acknowledged, nothing published)", out.HTTPStatus, out.Answer))
	default:
		tw.row("verdict", fmt.Sprintf("OK: %d %s (or %s if the receiver already published webhook-id %q)",
			out.HTTPStatus, out.Answer, receiver.StatusDuplicate, out.WebhookID))
	}
	if out.EventType != "" {
		tw.row("event", strings.TrimSpace(out.EventType+" "+out.Resource))
	}
	if rep == nil {
		// Refused before the signature was checked.
		if out.Hint != "" {
			tw.row("why", out.Hint)
		}
		tw.flush()
		return
	}
	tw.row("scheme", orNone(out.Scheme))
	tw.row("webhook-id", strconv.Quote(out.WebhookID))
	if out.Timestamp != nil {
		state := "within"
		if rep.Skew > rep.Tolerance || -rep.Skew > rep.Tolerance {
			state = "OUTSIDE"
		}
		tw.row("timestamp", fmt.Sprintf("%s (%s; %s the tolerance of ±%s)", out.Timestamp.Format(time.RFC3339), describeSkew(rep.Skew), state, rep.Tolerance))
	} else {
		tw.row("timestamp", "none")
	}
	switch rep.Scheme {
	case signature.SchemeJWT:
		tw.row("alg", orNone(out.Algorithm))
		tw.row("kid", orNone(out.KeyID))
		if len(out.Claims) > 0 {
			tw.row("claims", describeClaims(out.Claims))
		}
	default:
		sigs := fmt.Sprintf("%d v1", out.Signatures)
		if out.OtherSignatures > 0 {
			sigs += fmt.Sprintf(" (+%d of other versions, skipped)", out.OtherSignatures)
		}
		tw.row("signatures", sigs)
		tried := fmt.Sprintf("%d: %s", len(out.SecretsTried), strings.Join(out.SecretsTried, ", "))
		if len(out.SecretsTried) == 0 {
			tried = "none"
		}
		tw.row("secrets tried", tried)
		tw.row("matched", orNone(out.MatchedSecret))
	}
	if out.Hint != "" {
		tw.row("why", out.Hint)
	}
	tw.flush()
}

// hint says in words what an operator should look at.
func (j *judge) hint(ctx context.Context, in receiver.Inspection, rep *signature.Report, header http.Header, body []byte) string {
	switch in.Verdict.Code {
	case "":
		return ""
	case "body_too_large":
		return fmt.Sprintf("The body is %d bytes; the receiver reads at most %d (WEBHOOK_MAX_BODY_BYTES) and answers 413 before it checks the signature.", len(body), j.maxBody)
	case event.CodeBodyClaimsMismatch:
		return "The token verifies, but the body contradicts its claims (compare them above): the receiver publishes the claims' event and refuses a body that disagrees with them. The body was altered, or belongs to another delivery."
	case "event_too_large":
		return "The delivery verifies, but the event built from it is over Pub/Sub's message size limit: no retry can succeed."
	}
	if rep != nil && rep.Err == nil {
		return "The delivery verifies, but its payload is refused by the receiver's event parser (pkg/event): " + in.Verdict.Message + "."
	}
	if rep == nil {
		return ""
	}
	if errors.Is(rep.Err, signature.ErrSignatureMismatch) {
		return j.diagnoseMismatch(ctx, *rep, header, body)
	}
	hint := explainHint(*rep)
	if isClockError(rep.Err) && rep.Scheme == signature.SchemeHMAC && rep.MatchedSecret == "" && len(rep.SecretsTried) > 0 {
		hint += " " + j.diagnoseMismatch(ctx, *rep, header, body)
	}
	return hint
}

// isClockError reports whether err is a webhook-timestamp outside the
// tolerance, after which Explain still checks the signature.
func isClockError(err error) bool {
	return errors.Is(err, signature.ErrTimestampTooOld) || errors.Is(err, signature.ErrTimestampTooNew)
}

// bodyVariant is a way a body may have been re-formatted after it was
// signed: by an editor, a shell redirection, a proxy or a capture tool.
type bodyVariant struct {
	what  string // what the signed body was, relative to the captured one
	cause string
	apply func([]byte) []byte
}

var bodyVariants = []bodyVariant{
	{"WITHOUT its trailing newline", "an editor or echo added a newline after capture", func(b []byte) []byte { return bytes.TrimRight(b, "\r\n") }},
	{"as compact JSON (without the whitespace between tokens)", "a proxy or the capture tool re-formatted the JSON", func(b []byte) []byte {
		var buf bytes.Buffer
		if json.Compact(&buf, b) != nil {
			return b
		}
		return buf.Bytes()
	}},
}

// diagnoseMismatch says which cause a signature_mismatch fits. A body
// re-formatted after signing shows itself: one of bodyVariants matches. A
// wrong secret and a change of content look the same to HMAC, so for those
// it says what the delivery's age and signature count suggest, and that
// the two cannot be told apart for certain.
func (j *judge) diagnoseMismatch(ctx context.Context, rep signature.Report, header http.Header, body []byte) string {
	for _, bv := range bodyVariants {
		alt := bv.apply(body)
		if bytes.Equal(alt, body) {
			continue
		}
		if m := j.verifier.Explain(ctx, header, alt).MatchedSecret; m != "" {
			return fmt.Sprintf("The signature matches the body %s (secret %s): the secret is right, and the body file is not the exact bytes received (%s). Save the exact bytes.", bv.what, m, bv.cause)
		}
	}
	parts := []string{fmt.Sprintf("None of the %d signature(s) was made with any of the %d secret(s) tried over this webhook-id, webhook-timestamp and body. "+
		"HMAC cannot tell a wrong secret from changed content: both are only a mismatch.", rep.Signatures, len(rep.SecretsTried)),
		"Re-formatting is ruled out (the body without a trailing newline and as compact JSON match no secret either), so a proxy re-encoding the JSON is unlikely; a change of content or headers is not ruled out."}
	if rep.Signatures > 1 {
		parts = append(parts, fmt.Sprintf("Gemini signed with %d secrets, so a rotation was under way: a version you disabled or never stored may be among them.", rep.Signatures))
	}
	// The delivery's real age, not its skew against --at: a secret rotated
	// since the capture was made fits a wrong secret.
	switch age := j.wallClock().Sub(rep.Timestamp); {
	case rep.Timestamp.IsZero():
	case age > secretGracePeriod:
		parts = append(parts, fmt.Sprintf("The delivery is %s old: if the secret was rotated since, it was signed with an older secret (disabled versions are not tried): a wrong secret fits best. Try that version with --secret.", describeDuration(age)))
	default:
		parts = append(parts, fmt.Sprintf("The delivery was sent %s ago, so the webhook's current secret signed it: if a secret tried is surely that one, changed content fits best; if not, the stored secret is not the webhook's (rotate to get one you know).", describeDuration(age)))
	}
	return strings.Join(parts, " ")
}

// explainHint says in words what an operator should look at.
func explainHint(rep signature.Report) string {
	var se *signature.Error
	if rep.Err == nil || !errors.As(rep.Err, &se) {
		return ""
	}
	switch se.Code {
	case "timestamp_too_old", "timestamp_too_new":
		dir := "old"
		if se.Code == "timestamp_too_new" {
			dir = "in the future"
		}
		s := fmt.Sprintf("webhook-timestamp is %s %s, beyond the tolerance of ±%s.", describeDuration(rep.Skew), dir, rep.Tolerance)
		if rep.MatchedSecret != "" {
			s += fmt.Sprintf(" The signature itself is right (secret %s): this is a replay, a capture judged too late (try --at %d), or a clock problem.", rep.MatchedSecret, rep.Timestamp.Unix())
		} else if rep.Scheme == signature.SchemeHMAC {
			s += " The signature did not match any secret either."
		}
		return s
	case "no_signing_secrets":
		return "This is an HMAC delivery and no secret was given: pass --secret, set WEBHOOK_SIGNING_SECRETS, or --secret-name."
	case "jwt_unknown_kid":
		return fmt.Sprintf("The key set has no key %q: the JWT was signed by another issuer, or the JWKS is stale (--jwks).", rep.KeyID)
	case "jwt_invalid_signature":
		return "The token's signature does not verify with the key of its kid: the token was altered."
	case "jwt_expired", "jwt_not_yet_valid", "jwt_issued_in_future":
		return "The token's exp/nbf/iat disagree with the clock; judge it at its delivery time with --at."
	case "jwt_invalid_audience":
		return "The token's aud is not WEBHOOK_JWT_AUDIENCE (--audience): the delivery was meant for another URL."
	case "jwt_invalid_issuer":
		return "The token's iss is not WEBHOOK_JWT_ISSUER (--issuer)."
	case "keys_unavailable":
		return "The JWKS could not be fetched; pass --jwks FILE to verify offline."
	case "unsupported_signature_scheme", "malformed_signature", "malformed_jwt":
		return "webhook-signature is not a Standard Webhooks v1 list nor a compact JWT: check the headers file holds the request's headers."
	case "missing_webhook_id", "missing_webhook_timestamp", "missing_webhook_signature":
		return "A Standard Webhooks header is missing from the headers file."
	}
	return ""
}

// parseHeaders reads "Name: value" lines (curl -D style; status and request
// lines and blank lines are skipped, a new status line starts over) or a
// JSON object of strings or string arrays.
func parseHeaders(raw []byte) (http.Header, error) {
	trimmed := bytes.TrimSpace(raw)
	h := http.Header{}
	if bytes.HasPrefix(trimmed, []byte("{")) {
		var m map[string]any
		if err := json.Unmarshal(trimmed, &m); err != nil {
			return nil, fmt.Errorf("not a JSON object of headers: %w", err)
		}
		for k, v := range m {
			switch v := v.(type) {
			case string:
				h.Add(k, v)
			case []any:
				for _, e := range v {
					s, ok := e.(string)
					if !ok {
						return nil, fmt.Errorf("header %q: values must be strings", k)
					}
					h.Add(k, s)
				}
			default:
				return nil, fmt.Errorf("header %q: value must be a string or an array of strings", k)
			}
		}
		return h, nil
	}
	sc := bufio.NewScanner(bytes.NewReader(raw))
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	for sc.Scan() {
		line := strings.TrimRight(sc.Text(), "\r")
		if strings.TrimSpace(line) == "" {
			continue
		}
		if strings.HasPrefix(line, "HTTP/") || isRequestLine(line) {
			h = http.Header{} // a new message: keep the last one's headers
			continue
		}
		name, value, ok := strings.Cut(line, ":")
		if !ok || strings.TrimSpace(name) == "" || strings.ContainsAny(name, " \t") {
			return nil, fmt.Errorf("not a header line: %q", truncate(line, 60))
		}
		h.Add(textproto.CanonicalMIMEHeaderKey(name), strings.TrimSpace(value))
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	if len(h) == 0 {
		return nil, errors.New("no headers found")
	}
	return h, nil
}

// isRequestLine reports whether line looks like "POST /path HTTP/1.1".
func isRequestLine(line string) bool {
	f := strings.Fields(line)
	return len(f) == 3 && strings.HasPrefix(f[2], "HTTP/")
}

// parseTime reads RFC 3339 or Unix seconds.
func parseTime(s string) (time.Time, error) {
	if n, err := strconv.ParseInt(s, 10, 64); err == nil {
		return time.Unix(n, 0), nil
	}
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		return time.Time{}, fmt.Errorf("want RFC 3339 or Unix seconds, got %q", s)
	}
	return t, nil
}

// describeSkew says how a timestamp relates to the verifier's clock.
func describeSkew(skew time.Duration) string {
	switch skew = skew.Round(time.Second); {
	case skew > 0:
		return describeDuration(skew) + " old"
	case skew < 0:
		return describeDuration(skew) + " in the future"
	default:
		return "no skew"
	}
}

// describeDuration prints |d| rounded to the second.
func describeDuration(d time.Duration) string {
	return d.Abs().Round(time.Second).String()
}

// describeClaims lists claims as key=value, sorted, times readable.
func describeClaims(claims map[string]any) string {
	keys := make([]string, 0, len(claims))
	for k := range claims {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, 0, len(keys))
	for _, k := range keys {
		v := claims[k]
		if f, ok := v.(float64); ok && (k == "exp" || k == "iat" || k == "nbf") {
			parts = append(parts, k+"="+time.Unix(int64(f), 0).UTC().Format(time.RFC3339))
			continue
		}
		b, _ := json.Marshal(v)
		parts = append(parts, k+"="+truncate(string(b), 80))
	}
	return strings.Join(parts, " ")
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

func orNone(s string) string {
	if s == "" {
		return "none"
	}
	return s
}

// envLookuper reads the command's environment for envconfig.
type envLookuper struct{ env *Env }

var _ envconfig.Lookuper = envLookuper{}

func (l envLookuper) Lookup(key string) (string, bool) {
	if l.env == nil || l.env.Lookup == nil {
		return "", false
	}
	return l.env.Lookup(key)
}
