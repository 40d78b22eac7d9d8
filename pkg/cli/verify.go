package cli

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/textproto"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/sethvargo/go-envconfig"

	"github.com/geminihooks/geminihooks/pkg/config"
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

// verifyReport is verify's --json output: the signature.Report in JSON, with
// a hint. It holds labels, key ids and timings, never secret material.
type verifyReport struct {
	Verified        bool           `json:"verified"`
	Code            string         `json:"code,omitempty"`
	Error           string         `json:"error,omitempty"`
	Hint            string         `json:"hint,omitempty"`
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
	headers, body, secretName, jwks, audience, issuer, at string
	secrets                                               stringList
	tolerance                                             time.Duration
	json                                                  bool
}

func runVerify(ctx context.Context, env *Env, c *Command, args []string) error {
	fs := newFlagSet(env, c)
	var o verifyOptions
	fs.StringVar(&o.headers, "headers", "", "`FILE` of captured request headers (required)")
	fs.StringVar(&o.body, "body", "", "`FILE` of the captured raw body (required; '-' for stdin)")
	fs.Var(&o.secrets, "secret", "signing secret `whsec_…` to try (repeatable; default $WEBHOOK_SIGNING_SECRETS)")
	fs.StringVar(&o.secretName, "secret-name", "", "also try every enabled version of Secret Manager secret `projects/P/secrets/S` (default $WEBHOOK_SIGNING_SECRET)")
	fs.StringVar(&o.jwks, "jwks", "", "JWKS `FILE or URL` for JWT deliveries (default $WEBHOOK_JWKS_URL, else Gemini's)")
	fs.DurationVar(&o.tolerance, "tolerance", 0, "allowed |now - webhook-timestamp| (default $WEBHOOK_TIMESTAMP_TOLERANCE, 5m)")
	fs.StringVar(&o.audience, "audience", "", "required JWT aud (default $WEBHOOK_JWT_AUDIENCE)")
	fs.StringVar(&o.issuer, "issuer", "", "required JWT iss (default $WEBHOOK_JWT_ISSUER)")
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
	v, err := newVerifier(ctx, env, o)
	if err != nil {
		return err
	}

	rep := v.Explain(ctx, header, body)
	hint := explainHint(rep)
	if errors.Is(rep.Err, signature.ErrSignatureMismatch) && bytes.HasSuffix(body, []byte("\n")) {
		// Editors and shell redirections add a final newline; say so when
		// that is the whole difference.
		if alt := v.Explain(ctx, header, bytes.TrimRight(body, "\r\n")); alt.Err == nil || alt.MatchedSecret != "" {
			hint = "The signature matches the body WITHOUT its trailing newline: the body file was altered after capture (an editor or echo added a newline). Save the exact bytes received."
		}
	}
	out := toVerifyReport(rep, hint)
	if o.json {
		if err := writeJSON(env.Stdout, out); err != nil {
			return err
		}
	} else {
		printVerifyReport(env.Stdout, out, rep)
	}
	if rep.Err != nil {
		return &ExitError{Code: ExitFailure} // the report says why
	}
	return nil
}

// newVerifier builds the verifier the receiver would use, with the
// receiver's own LoadConfig and NewVerifier, from the same variables with the
// flags on top.
func newVerifier(ctx context.Context, env *Env, o verifyOptions) (*signature.Verifier, error) {
	now := time.Now
	if o.at != "" {
		t, err := parseTime(o.at)
		if err != nil {
			return nil, usageErrorf("--at: %v", err)
		}
		now = func() time.Time { return t }
	}
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
		return nil, fmt.Errorf("%w: %w", ErrUsage, err)
	}

	var secrets []signature.Secret
	if len(o.secrets) > 0 {
		if secrets, err = signingSecrets(env, o.secrets); err != nil {
			return nil, err
		}
	} else if secrets, err = cfg.Secrets(); err != nil {
		return nil, fmt.Errorf("%w: %s: %w", ErrUsage, config.EnvSigningSecrets, err)
	}
	if cfg.SigningSecretName != "" {
		versions, err := secretVersions(ctx, env, cfg.SigningSecretName)
		if err != nil {
			return nil, err
		}
		secrets = append(secrets, versions...)
	}

	var keys signature.KeySource // nil: the receiver's, from WEBHOOK_JWKS_URL
	if o.jwks != "" && !jwksIsURL {
		doc, err := readInput(env, o.jwks)
		if err != nil {
			return nil, err
		}
		if keys, err = signature.ParseStaticKeys(doc); err != nil {
			return nil, fmt.Errorf("failed to read the JWKS in %s: %w", o.jwks, err)
		}
	}
	// The receiver's logger would only report a failed JWKS fetch, which
	// the report shows as keys_unavailable.
	v, err := receiver.NewVerifier(cfg, signature.Options{Secrets: signature.StaticSecrets(secrets), Keys: keys, Now: now}, slog.New(slog.DiscardHandler))
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrUsage, err)
	}
	return v, nil
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

func toVerifyReport(rep signature.Report, hint string) verifyReport {
	out := verifyReport{
		Verified: rep.Err == nil, Hint: hint, Scheme: string(rep.Scheme), WebhookID: rep.ID,
		SkewSeconds: rep.Skew.Seconds(), Tolerance: rep.Tolerance.String(),
		Signatures: rep.Signatures, OtherSignatures: rep.OtherSignatures,
		SecretsTried: append([]string{}, rep.SecretsTried...), MatchedSecret: rep.MatchedSecret,
		Algorithm: rep.Algorithm, KeyID: rep.KeyID, Claims: rep.Claims,
	}
	if !rep.Timestamp.IsZero() {
		ts := rep.Timestamp.UTC()
		out.Timestamp = &ts
	}
	if rep.Err != nil {
		out.Error = rep.Err.Error()
		var se *signature.Error
		if errors.As(rep.Err, &se) {
			out.Code = se.Code
		}
	}
	return out
}

func printVerifyReport(w io.Writer, out verifyReport, rep signature.Report) {
	tw := newTable(w)
	if out.Verified {
		tw.row("verdict", "OK: the delivery verifies")
	} else {
		tw.row("verdict", "FAILED: "+out.Error)
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
	case "signature_mismatch":
		return fmt.Sprintf("None of the %d signature(s) was made with any of the %d secret(s) tried. Either the delivery was signed with a secret not listed (another webhook's, or one rotated out and disabled), or the body, webhook-id or webhook-timestamp differ from what was signed.", rep.Signatures, len(rep.SecretsTried))
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
