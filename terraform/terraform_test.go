// Package terraform_test checks the Terraform configuration in this directory
// against the code it deploys. Providers cannot be installed offline, so
// terraform validate and plan cannot run; these tests read the HCL instead
// and fail on the mistakes that only show in production: an environment
// variable the code reads but the function lacks, an entry point that is not
// registered, a TTL policy on the wrong field, a dead-letter topic nobody can
// publish to, a role granted on the whole project, a second public endpoint.
// build_test.go builds and starts the functions the way Cloud Functions does.
package terraform_test

import (
	"fmt"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/zclconf/go-cty/cty"
	"github.com/zclconf/go-cty/cty/convert"

	materializerfn "github.com/geminihooks/geminihooks/functions/materializer"
	receiverfn "github.com/geminihooks/geminihooks/functions/receiver"
	reconcilerfn "github.com/geminihooks/geminihooks/functions/reconciler"
	"github.com/geminihooks/geminihooks/pkg/idempotency"
	"github.com/geminihooks/geminihooks/pkg/materializer"
	"github.com/geminihooks/geminihooks/pkg/receiver"
	"github.com/geminihooks/geminihooks/pkg/reconciler"
	"github.com/geminihooks/geminihooks/pkg/registry"
)

// deployedFunction is a function the configuration must deploy: its
// registered entry point, the configuration its code reads, and the
// variables that must come from Secret Manager rather than plain values.
type deployedFunction struct {
	name       string
	entryPoint string
	config     any
	secretEnv  []string
}

var deployedFunctions = []deployedFunction{
	{name: "receive_webhook", entryPoint: receiverfn.EntryPoint, config: receiver.Config{}},
	{name: "materialize_results", entryPoint: materializerfn.EntryPoint, config: materializer.Config{}, secretEnv: []string{"GEMINI_API_KEY"}},
	{name: "reconcile_jobs", entryPoint: reconcilerfn.EntryPoint, config: reconciler.Config{}, secretEnv: []string{"GEMINI_API_KEY"}},
}

// localOnlyEnv are variables the code (or its client libraries) reads that a
// deployment must not set, and why.
var localOnlyEnv = map[string]string{
	"WEBHOOK_SIGNING_SECRETS": "plain-text secrets are for local runs; deployed, they come from Secret Manager (WEBHOOK_SIGNING_SECRET)",
	"FIRESTORE_EMULATOR_HOST": "emulators are for tests and local runs",
	"PUBSUB_EMULATOR_HOST":    "emulators are for tests and local runs",
	"STORAGE_EMULATOR_HOST":   "emulators are for tests and local runs",
}

// platformEnv are set by Cloud Functions itself; setting them is an error.
var platformEnv = []string{"PORT", "FUNCTION_TARGET", "K_SERVICE", "K_REVISION", "K_CONFIGURATION"}

// projectRoles are the only roles that may be granted on the whole project,
// each because it cannot be granted on anything narrower.
var projectRoles = map[string]string{
	"roles/datastore.user":    "Firestore roles exist only at project level; the grant must carry a condition naming the ledger's database",
	"roles/logging.logWriter": "log writing (the build's) cannot be scoped below the project",
	"roles/cloudtrace.agent":  "span writing (the functions' traces) cannot be scoped below the project",
}

// codeEnvVar is an environment variable a configuration struct reads.
type codeEnvVar struct {
	name       string
	def        string
	hasDefault bool
	kind       reflect.Type
}

// codeEnv returns the environment variables cfg's type reads, from its env
// struct tags (go-envconfig syntax), without the local-only and platform
// ones.
func codeEnv(t testing.TB, cfg any) map[string]codeEnvVar {
	t.Helper()
	out := map[string]codeEnvVar{}
	collectEnv(t, reflect.TypeOf(cfg), "", out)
	if len(out) == 0 {
		t.Fatalf("%T has no env tags; the check would pass vacuously", cfg)
	}
	for name := range out {
		if _, ok := localOnlyEnv[name]; ok || slices.Contains(platformEnv, name) {
			delete(out, name)
		}
	}
	return out
}

func collectEnv(t testing.TB, typ reflect.Type, prefix string, out map[string]codeEnvVar) {
	t.Helper()
	for i := range typ.NumField() {
		f := typ.Field(i)
		tag, ok := f.Tag.Lookup("env")
		parts := strings.Split(tag, ",")
		name := strings.TrimSpace(parts[0])
		v := codeEnvVar{name: prefix + name, kind: f.Type}
		for _, opt := range parts[1:] {
			opt = strings.TrimSpace(opt)
			if d, found := strings.CutPrefix(opt, "default="); found {
				v.def, v.hasDefault = d, true
			}
			if p, found := strings.CutPrefix(opt, "prefix="); found && f.Type.Kind() == reflect.Struct {
				collectEnv(t, f.Type, prefix+p, out)
			}
		}
		switch {
		case ok && name != "":
			out[v.name] = v
		case f.Type.Kind() == reflect.Struct && f.Type != reflect.TypeFor[time.Time]() && !strings.Contains(tag, "prefix="):
			collectEnv(t, f.Type, prefix, out)
		}
	}
}

// function returns the google_cloudfunctions2_function deploying entryPoint.
func (m *module) function(t testing.TB, entryPoint string) *hclsyntax.Block {
	t.Helper()
	var found []*hclsyntax.Block
	for _, b := range m.resources("google_cloudfunctions2_function") {
		if bc := firstNested(b.Body, "build_config"); bc != nil {
			if ep, ok := literal(attr(bc.Body, "entry_point")); ok && ep == entryPoint {
				found = append(found, b)
			}
		}
	}
	if len(found) != 1 {
		t.Fatalf("want one google_cloudfunctions2_function with entry_point %q, found %d", entryPoint, len(found))
	}
	return found[0]
}

// serviceConfig returns the function's service_config body.
func serviceConfig(t testing.TB, fn *hclsyntax.Block) *hclsyntax.Body {
	t.Helper()
	sc := firstNested(fn.Body, "service_config")
	if sc == nil {
		t.Fatalf("%s has no service_config", fnRef(fn))
	}
	return sc.Body
}

// plainEnv returns the function's environment_variables.
func (m *module) plainEnv(t testing.TB, fn *hclsyntax.Block) map[string]hclsyntax.Expression {
	t.Helper()
	expr := attr(serviceConfig(t, fn), "environment_variables")
	if expr == nil {
		return map[string]hclsyntax.Expression{}
	}
	return m.envMap(t, expr)
}

// secretEnv returns the function's secret_environment_variables by key.
func secretEnv(t testing.TB, fn *hclsyntax.Block) map[string]*hclsyntax.Block {
	t.Helper()
	out := map[string]*hclsyntax.Block{}
	for _, b := range nested(serviceConfig(t, fn), "secret_environment_variables") {
		key, ok := literal(attr(b.Body, "key"))
		if !ok {
			t.Fatalf("secret_environment_variables at %s: key must be a constant", b.Range())
		}
		out[key] = b
	}
	return out
}

func fnRef(b *hclsyntax.Block) ref { return ref{typ: b.Labels[0], name: b.Labels[1]} }

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

func TestEnvironmentMatchesCode(t *testing.T) {
	t.Parallel()
	m := loadModule(t)
	for _, df := range deployedFunctions {
		t.Run(df.name, func(t *testing.T) {
			t.Parallel()
			fn := m.function(t, df.entryPoint)
			code := codeEnv(t, df.config)
			plain, secrets := m.plainEnv(t, fn), secretEnv(t, fn)

			var wantPlain, wantSecret []string
			for name := range code {
				if slices.Contains(df.secretEnv, name) {
					wantSecret = append(wantSecret, name)
				} else {
					wantPlain = append(wantPlain, name)
				}
			}
			slices.Sort(wantPlain)
			slices.Sort(wantSecret)
			if diff := cmp.Diff(wantPlain, sortedKeys(plain), cmpopts.EquateEmpty()); diff != "" {
				t.Errorf("%s environment_variables differ from what %T reads (-code +terraform):\n%s", fnRef(fn), df.config, diff)
			}
			if diff := cmp.Diff(wantSecret, sortedKeys(secrets), cmpopts.EquateEmpty()); diff != "" {
				t.Errorf("%s secret_environment_variables differ from the secrets %T reads (-code +terraform):\n%s", fnRef(fn), df.config, diff)
			}
			for name := range plain {
				if why, ok := localOnlyEnv[name]; ok {
					t.Errorf("%s sets %s: %s", fnRef(fn), name, why)
				}
				if slices.Contains(platformEnv, name) {
					t.Errorf("%s sets %s, which Cloud Functions sets itself", fnRef(fn), name)
				}
			}
		})
	}
}

func TestEnvironmentDefaultsMatchCode(t *testing.T) {
	t.Parallel()
	m := loadModule(t)
	ctx := m.evalContext(t)
	for _, df := range deployedFunctions {
		t.Run(df.name, func(t *testing.T) {
			t.Parallel()
			fn := m.function(t, df.entryPoint)
			plain := m.plainEnv(t, fn)
			checked := 0
			for name, v := range codeEnv(t, df.config) {
				expr, ok := plain[name]
				if !v.hasDefault || !ok {
					continue
				}
				got, diags := expr.Value(ctx)
				if diags.HasErrors() || !got.IsWhollyKnown() || got.IsNull() {
					continue // set from a resource or computed: nothing to compare
				}
				s, err := convert.Convert(got, cty.String)
				if err != nil {
					t.Errorf("%s: %s is not a string: %v", fnRef(fn), name, err)
					continue
				}
				checked++
				if !sameSetting(t, v.kind, v.def, s.AsString()) {
					t.Errorf("%s sets %s to %q by default, but the code's default is %q; a deployment would silently differ from the documented behaviour", fnRef(fn), name, s.AsString(), v.def)
				}
			}
			if checked == 0 {
				t.Errorf("%s: no default could be compared; the check is not reading the configuration", fnRef(fn))
			}
		})
	}
}

// TestReceiverStepsFitItsTimeout keeps a stalled Firestore or Pub/Sub
// answered with 503 and Retry-After: the longest a delivery's steps may take
// (claim, publish, release or mark) must stay well inside the function's
// request timeout, or Gemini sees a timeout instead.
func TestReceiverStepsFitItsTimeout(t *testing.T) {
	t.Parallel()
	m := loadModule(t)
	ctx := m.evalContext(t)
	fn := m.function(t, receiverfn.EntryPoint)
	env := m.plainEnv(t, fn)
	duration := func(name string) time.Duration {
		t.Helper()
		expr, ok := env[name]
		if !ok {
			t.Fatalf("%s does not set %s", fnRef(fn), name)
		}
		v, diags := expr.Value(ctx)
		if diags.HasErrors() || !v.IsWhollyKnown() || v.Type() != cty.String {
			t.Fatalf("%s: %s does not evaluate to a string with the defaults: %s", fnRef(fn), name, diags.Error())
		}
		d, err := time.ParseDuration(v.AsString())
		if err != nil {
			t.Fatalf("%s: %s: %v", fnRef(fn), name, err)
		}
		return d
	}
	budget := 2*duration("LEDGER_TIMEOUT") + duration("PUBLISH_TIMEOUT")
	timeout := time.Duration(evalNumber(t, ctx, attr(serviceConfig(t, fn), "timeout_seconds"), "the receiver's timeout_seconds")) * time.Second
	if 2*budget > timeout {
		t.Errorf("%s: its steps may take %s, more than half its %s timeout", fnRef(fn), budget, timeout)
	}
}

// sameSetting compares two spellings of one setting by the type the code
// parses it into ("5m" equals "300s").
func sameSetting(t testing.TB, kind reflect.Type, a, b string) bool {
	t.Helper()
	switch {
	case kind == reflect.TypeFor[time.Duration]():
		da, errA := time.ParseDuration(a)
		db, errB := time.ParseDuration(b)
		return errA == nil && errB == nil && da == db
	case kind.Kind() == reflect.Bool:
		ba, errA := strconv.ParseBool(a)
		bb, errB := strconv.ParseBool(b)
		return errA == nil && errB == nil && ba == bb
	case kind.Kind() == reflect.Float64:
		fa, errA := strconv.ParseFloat(a, 64)
		fb, errB := strconv.ParseFloat(b, 64)
		return errA == nil && errB == nil && fa == fb
	case kind.Kind() >= reflect.Int && kind.Kind() <= reflect.Int64:
		ia, errA := strconv.ParseInt(a, 10, 64)
		ib, errB := strconv.ParseInt(b, 10, 64)
		return errA == nil && errB == nil && ia == ib
	default:
		return a == b
	}
}

func TestEntryPointsAreRegistered(t *testing.T) {
	t.Parallel()
	m := loadModule(t)
	registered := map[string]int{}
	for _, df := range deployedFunctions {
		registered[df.entryPoint] = 0
	}
	for _, fn := range m.resources("google_cloudfunctions2_function") {
		bc := firstNested(fn.Body, "build_config")
		if bc == nil {
			t.Errorf("%s has no build_config", fnRef(fn))
			continue
		}
		ep, ok := literal(attr(bc.Body, "entry_point"))
		if !ok {
			t.Errorf("%s: entry_point must be a constant naming a registered function", fnRef(fn))
			continue
		}
		if _, ok := registered[ep]; !ok {
			t.Errorf("%s: entry_point %q is not a registered function (registered: %v)", fnRef(fn), ep, sortedKeys(registered))
			continue
		}
		registered[ep]++
	}
	for ep, n := range registered {
		if n != 1 {
			t.Errorf("entry point %q is deployed %d times, want once", ep, n)
		}
	}
}

func TestTTLPoliciesMatchTheCode(t *testing.T) {
	t.Parallel()
	m := loadModule(t)
	ctx := m.evalContext(t)
	env := m.plainEnv(t, m.function(t, receiverfn.EntryPoint))

	// One policy per collection the receiver writes, on the field its code
	// writes the expiry to, defaulting to the code's collection.
	want := []struct {
		collectionEnv, field, defaultCollection string
	}{
		{"IDEMPOTENCY_COLLECTION", idempotency.ExpiryField, idempotency.DefaultCollection},
		{"JOBS_COLLECTION", registry.ExpiryField, registry.DefaultCollection},
	}
	var policies []*hclsyntax.Block
	for _, f := range m.resources("google_firestore_field") {
		if firstNested(f.Body, "ttl_config") != nil {
			policies = append(policies, f)
		}
	}
	if len(policies) != len(want) {
		t.Fatalf("want %d google_firestore_field with a ttl_config (the ledger's and the registry's expiry), found %d", len(want), len(policies))
	}
	for _, w := range want {
		var p *hclsyntax.Block
		for _, c := range policies {
			if got := attr(c.Body, "collection"); got != nil && env[w.collectionEnv] != nil && m.text(got) == m.text(env[w.collectionEnv]) {
				p = c
			}
		}
		if p == nil {
			t.Errorf("no TTL policy on the receiver's %s (same expression)", w.collectionEnv)
			continue
		}
		if field, ok := literal(attr(p.Body, "field")); !ok || field != w.field {
			t.Errorf("%s: TTL field is %q, but the code writes its expiry to %q", fnRef(p), field, w.field)
		}
		if got, want := attr(p.Body, "database"), env["FIRESTORE_DATABASE"]; got == nil || want == nil || m.text(got) != m.text(want) {
			t.Errorf("%s: database must be the receiver's FIRESTORE_DATABASE (same expression)", fnRef(p))
		}
		if v, diags := attr(p.Body, "collection").Value(ctx); diags.HasErrors() || !v.IsKnown() || v.AsString() != w.defaultCollection {
			t.Errorf("%s: collection defaults to %#v, want the code's default %q", fnRef(p), v, w.defaultCollection)
		}
	}
}

func TestRegistryIndexMatchesTheQuery(t *testing.T) {
	t.Parallel()
	m := loadModule(t)
	env := m.plainEnv(t, m.function(t, receiverfn.EntryPoint))
	indexes := m.resources("google_firestore_index")
	if len(indexes) != 1 {
		t.Fatalf("want one google_firestore_index (the registry's overdue query), found %d", len(indexes))
	}
	ix := indexes[0]
	if got, want := attr(ix.Body, "collection"), env["JOBS_COLLECTION"]; got == nil || want == nil || m.text(got) != m.text(want) {
		t.Errorf("%s: collection must be the receiver's JOBS_COLLECTION (same expression)", fnRef(ix))
	}
	var fields []string
	for _, b := range ix.Body.Blocks {
		if b.Type != "fields" {
			continue
		}
		path, _ := literal(attr(b.Body, "field_path"))
		order, _ := literal(attr(b.Body, "order"))
		if order != "ASCENDING" {
			t.Errorf("%s: field %s is ordered %q; the query orders ascending", fnRef(ix), path, order)
		}
		fields = append(fields, path)
	}
	if !slices.Equal(fields, registry.IndexFields) {
		t.Errorf("%s: index fields %v, want the query's %v", fnRef(ix), fields, registry.IndexFields)
	}
}

func TestCodeDependenciesAreProvisioned(t *testing.T) {
	t.Parallel()
	m := loadModule(t)
	tests := []struct {
		name       string
		entryPoint string
		env        string
		wantType   string
	}{
		{name: "events_topic", entryPoint: receiverfn.EntryPoint, env: "EVENTS_TOPIC", wantType: "google_pubsub_topic"},
		{name: "signing_secret", entryPoint: receiverfn.EntryPoint, env: "WEBHOOK_SIGNING_SECRET", wantType: "google_secret_manager_secret"},
		{name: "results_topic", entryPoint: materializerfn.EntryPoint, env: "RESULTS_TOPIC", wantType: "google_pubsub_topic"},
		{name: "results_bucket", entryPoint: materializerfn.EntryPoint, env: "RESULTS_BUCKET", wantType: "google_storage_bucket"},
		{name: "capture_bucket", entryPoint: receiverfn.EntryPoint, env: "RESULTS_BUCKET", wantType: "google_storage_bucket"},
		{name: "gemini_api_key", entryPoint: materializerfn.EntryPoint, env: "GEMINI_API_KEY", wantType: "google_secret_manager_secret"},
		{name: "reconciler_events_topic", entryPoint: reconcilerfn.EntryPoint, env: "EVENTS_TOPIC", wantType: "google_pubsub_topic"},
		{name: "reconciler_gemini_api_key", entryPoint: reconcilerfn.EntryPoint, env: "GEMINI_API_KEY", wantType: "google_secret_manager_secret"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			fn := m.function(t, tc.entryPoint)
			expr, ok := m.plainEnv(t, fn)[tc.env]
			if !ok {
				if s, isSecret := secretEnv(t, fn)[tc.env]; isSecret {
					expr, ok = attr(s.Body, "secret"), true
				}
			}
			if !ok || expr == nil {
				t.Fatalf("%s does not set %s", fnRef(fn), tc.env)
			}
			var refs []ref
			for _, r := range resourceRefs(expr) {
				if r.typ == tc.wantType {
					refs = append(refs, r)
				}
			}
			if len(refs) != 1 {
				t.Fatalf("%s: %s must refer to the %s provisioned here, got %q", fnRef(fn), tc.env, tc.wantType, m.text(expr))
			}
			if m.resource(refs[0].typ, refs[0].name) == nil {
				t.Errorf("%s: %s refers to %s, which is not declared", fnRef(fn), tc.env, refs[0])
			}
		})
	}
}

// eventsTopic returns the topic resource the receiver publishes to.
func eventsTopic(t testing.TB, m *module) ref {
	t.Helper()
	env := m.plainEnv(t, m.function(t, receiverfn.EntryPoint))
	for _, r := range resourceRefs(env["EVENTS_TOPIC"]) {
		if r.typ == "google_pubsub_topic" {
			return r
		}
	}
	t.Fatalf("the receiver's EVENTS_TOPIC refers to no google_pubsub_topic")
	return ref{}
}

// pushSubscription returns the subscription that pushes the events topic to
// the materializer.
func pushSubscription(t testing.TB, m *module) *hclsyntax.Block {
	t.Helper()
	events := eventsTopic(t, m)
	materializer := fnRef(m.function(t, materializerfn.EntryPoint))
	var found []*hclsyntax.Block
	for _, s := range m.resources("google_pubsub_subscription") {
		pc := firstNested(s.Body, "push_config")
		if refersTo(attr(s.Body, "topic"), events) && pc != nil && refersTo(attr(pc.Body, "push_endpoint"), materializer) {
			found = append(found, s)
		}
	}
	if len(found) != 1 {
		t.Fatalf("want one push subscription from %s to %s, found %d", events, materializer, len(found))
	}
	return found[0]
}

// pushIdentity returns the service account the push subscription's OIDC
// tokens are minted for.
func pushIdentity(t testing.TB, m *module) ref {
	t.Helper()
	sub := pushSubscription(t, m)
	if oidc := firstNested(firstNested(sub.Body, "push_config").Body, "oidc_token"); oidc != nil {
		for _, r := range resourceRefs(attr(oidc.Body, "service_account_email")) {
			if r.typ == "google_service_account" {
				return r
			}
		}
	}
	t.Fatalf("%s pushes without an OIDC token of a service account declared here; the materializer would have to be public", fnRef(sub))
	return ref{}
}

func TestPushSubscription(t *testing.T) {
	t.Parallel()
	m := loadModule(t)
	ctx := m.evalContext(t)
	sub := pushSubscription(t, m)
	pushIdentity(t, m)

	for _, block := range []string{"retry_policy", "dead_letter_policy", "expiration_policy"} {
		if firstNested(sub.Body, block) == nil {
			t.Errorf("%s has no %s", fnRef(sub), block)
		}
	}
	if rp := firstNested(sub.Body, "retry_policy"); rp != nil {
		for _, a := range []string{"minimum_backoff", "maximum_backoff"} {
			if attr(rp.Body, a) == nil {
				t.Errorf("%s: retry_policy has no %s, so redeliveries are immediate", fnRef(sub), a)
			}
		}
	}
	if dl := firstNested(sub.Body, "dead_letter_policy"); dl != nil && attr(dl.Body, "max_delivery_attempts") == nil {
		t.Errorf("%s: dead_letter_policy has no max_delivery_attempts", fnRef(sub))
	}

	ack := evalNumber(t, ctx, attr(sub.Body, "ack_deadline_seconds"), "ack_deadline_seconds")
	timeout := evalNumber(t, ctx, attr(serviceConfig(t, m.function(t, materializerfn.EntryPoint)), "timeout_seconds"), "the materializer's timeout_seconds")
	if ack < timeout {
		t.Errorf("%s: ack deadline %ds is shorter than the materializer's %ds timeout; Pub/Sub would redeliver events still being processed", fnRef(sub), ack, timeout)
	}
}

func evalNumber(t testing.TB, ctx *hcl.EvalContext, expr hcl.Expression, what string) int64 {
	t.Helper()
	if expr == nil {
		t.Fatalf("%s is not set", what)
	}
	v, diags := expr.Value(ctx)
	if diags.HasErrors() || !v.IsKnown() || v.IsNull() || v.Type() != cty.Number {
		t.Fatalf("%s (%s) does not evaluate to a number with the defaults: %s", what, expr.Range(), diags.Error())
	}
	n, _ := v.AsBigFloat().Int64()
	return n
}

// isPubSubServiceAgent reports whether a member expression names the Pub/Sub
// service agent, directly or through a local.
func (m *module) isPubSubServiceAgent(expr hcl.Expression) bool {
	const agent = "@gcp-sa-pubsub.iam.gserviceaccount.com"
	if expr == nil {
		return false
	}
	if strings.Contains(m.text(expr), agent) {
		return true
	}
	locals := m.locals()
	for _, tr := range expr.Variables() {
		if tr.RootName() == "local" && len(tr) == 2 {
			if l, ok := locals[tr[1].(hcl.TraverseAttr).Name]; ok && strings.Contains(m.text(l), agent) {
				return true
			}
		}
	}
	return false
}

func TestDeadLetterQueues(t *testing.T) {
	t.Parallel()
	m := loadModule(t)
	checked := 0
	for _, sub := range m.resources("google_pubsub_subscription") {
		dl := firstNested(sub.Body, "dead_letter_policy")
		if dl == nil {
			continue
		}
		checked++
		var dlt ref
		for _, r := range resourceRefs(attr(dl.Body, "dead_letter_topic")) {
			if r.typ == "google_pubsub_topic" && m.resource(r.typ, r.name) != nil {
				dlt = r
			}
		}
		if dlt == (ref{}) {
			t.Errorf("%s: dead_letter_topic must refer to a topic declared here", fnRef(sub))
			continue
		}

		var dlSubs []*hclsyntax.Block
		for _, s := range m.resources("google_pubsub_subscription") {
			if refersTo(attr(s.Body, "topic"), dlt) {
				dlSubs = append(dlSubs, s)
			}
		}
		if len(dlSubs) == 0 {
			t.Errorf("%s has no subscription: dead-lettered messages would be dropped", dlt)
		}
		for _, s := range dlSubs {
			ep := firstNested(s.Body, "expiration_policy")
			if ttl, ok := literal(attrOf(ep, "ttl")); !ok || ttl != "" {
				t.Errorf("%s: set expiration_policy { ttl = \"\" }; an idle dead-letter subscription otherwise expires after 31 days", fnRef(s))
			}
		}

		grants := []struct {
			typ, target, role string
			on                ref
		}{
			{typ: "google_pubsub_topic_iam_member", target: "topic", role: "roles/pubsub.publisher", on: dlt},
			{typ: "google_pubsub_subscription_iam_member", target: "subscription", role: "roles/pubsub.subscriber", on: fnRef(sub)},
		}
		for _, g := range grants {
			found := false
			for _, b := range m.resources(g.typ) {
				role, _ := literal(attr(b.Body, "role"))
				if role == g.role && refersTo(attr(b.Body, g.target), g.on) && m.isPubSubServiceAgent(attr(b.Body, "member")) {
					found = true
				}
			}
			if !found {
				t.Errorf("the Pub/Sub service agent lacks %s on %s (%s); dead lettering %s would fail and messages would be redelivered forever", g.role, g.on, g.typ, fnRef(sub))
			}
		}
	}
	if checked == 0 {
		t.Error("no subscription has a dead_letter_policy")
	}
}

func attrOf(b *hclsyntax.Block, name string) hclsyntax.Expression {
	if b == nil {
		return nil
	}
	return attr(b.Body, name)
}

func TestProjectLevelRolesAreAllowListed(t *testing.T) {
	t.Parallel()
	m := loadModule(t)
	for _, b := range m.allResources() {
		typ := b.Labels[0]
		if !strings.HasPrefix(typ, "google_project_iam_") && !strings.HasPrefix(typ, "google_folder_iam_") && !strings.HasPrefix(typ, "google_organization_iam_") {
			continue
		}
		if typ == "google_project_iam_custom_role" {
			continue
		}
		if typ != "google_project_iam_member" {
			t.Errorf("%s: only additive google_project_iam_member grants are allowed; %s would manage (and clobber) grants outside geminihooks", fnRef(b), typ)
			continue
		}
		role, ok := literal(attr(b.Body, "role"))
		if !ok {
			t.Errorf("%s: role must be a constant so it can be checked", fnRef(b))
			continue
		}
		if _, allowed := projectRoles[role]; !allowed {
			t.Errorf("%s grants %s on the whole project; grant it on the single resource instead (allowed at project level: %v)", fnRef(b), role, sortedKeys(projectRoles))
		}
		if role == "roles/datastore.user" {
			cond := firstNested(b.Body, "condition")
			if cond == nil || !strings.Contains(m.text(attr(cond.Body, "expression")), "/databases/") {
				t.Errorf("%s: %s must carry a condition on the ledger's database (resource.name == \"projects/P/databases/D\")", fnRef(b), role)
			}
		}
	}
}

// iamTargets names, for each IAM member resource type that can grant
// invocation, the attribute naming the service or function.
var iamTargets = map[string]string{
	"google_cloud_run_v2_service_iam_member":      "name",
	"google_cloud_run_v2_service_iam_binding":     "name",
	"google_cloud_run_service_iam_member":         "service",
	"google_cloud_run_service_iam_binding":        "service",
	"google_cloudfunctions2_function_iam_member":  "cloud_function",
	"google_cloudfunctions2_function_iam_binding": "cloud_function",
}

func TestOnlyReceiverIsPublic(t *testing.T) {
	t.Parallel()
	m := loadModule(t)
	receiverFn := fnRef(m.function(t, receiverfn.EntryPoint))
	public := 0
	for _, b := range m.allResources() {
		for _, a := range []string{"member", "members"} {
			expr := attr(b.Body, a)
			if expr == nil {
				continue
			}
			text := m.text(expr)
			if !strings.Contains(text, "allUsers") && !strings.Contains(text, "allAuthenticatedUsers") {
				continue
			}
			role, _ := literal(attr(b.Body, "role"))
			target, invocable := iamTargets[b.Labels[0]]
			if !invocable || role != "roles/run.invoker" || !refersTo(attr(b.Body, target), receiverFn) || strings.Contains(text, "allAuthenticatedUsers") {
				t.Errorf("%s opens %s (%s) to everyone; only the receiver may be public, and only to invoke it", fnRef(b), b.Labels[0], role)
				continue
			}
			public++
		}
	}
	if public != 1 {
		t.Errorf("found %d public invoker grants on %s, want 1: Gemini cannot authenticate to Cloud Run, so without it every webhook is refused", public, receiverFn)
	}
}

func TestPushIdentityInvokesOnlyMaterializer(t *testing.T) {
	t.Parallel()
	m := loadModule(t)
	push := pushIdentity(t, m)
	materializerFn := fnRef(m.function(t, materializerfn.EntryPoint))
	invokes := 0
	for _, b := range m.allResources() {
		if !strings.HasSuffix(b.Labels[0], "_iam_member") || !refersTo(attr(b.Body, "member"), push) {
			continue
		}
		role, _ := literal(attr(b.Body, "role"))
		target, invocable := iamTargets[b.Labels[0]]
		if invocable && role == "roles/run.invoker" && refersTo(attr(b.Body, target), materializerFn) {
			invokes++
			continue
		}
		t.Errorf("%s grants the push identity %s %s; it may only invoke %s", fnRef(b), push, role, materializerFn)
	}
	if invokes != 1 {
		t.Errorf("the push identity %s has %d invoker grants on %s, want 1: without it every push is refused with 403", push, invokes, materializerFn)
	}
}

func TestSecretValuesStayOutOfState(t *testing.T) {
	t.Parallel()
	m := loadModule(t)
	for _, b := range m.blocks {
		if len(b.Labels) == 2 && (b.Type == "resource" || b.Type == "data") && strings.HasPrefix(b.Labels[0], "google_secret_manager_") && strings.Contains(b.Labels[0], "version") {
			t.Errorf("%s %s.%s would put a secret value into the Terraform state; add versions with gcloud (README.md)", b.Type, b.Labels[0], b.Labels[1])
		}
	}
	if len(m.resources("google_secret_manager_secret")) == 0 {
		t.Error("no google_secret_manager_secret is declared; the check would pass vacuously")
	}
}

func TestFunctionsHaveOwnIdentityAndLimits(t *testing.T) {
	t.Parallel()
	m := loadModule(t)
	identities := map[ref]string{}
	for _, df := range deployedFunctions {
		fn := m.function(t, df.entryPoint)
		sc := serviceConfig(t, fn)
		var sa []ref
		for _, r := range resourceRefs(attr(sc, "service_account_email")) {
			if r.typ == "google_service_account" {
				sa = append(sa, r)
			}
		}
		if len(sa) != 1 {
			t.Errorf("%s must run as a service account of its own, declared here (not the default compute account)", fnRef(fn))
			continue
		}
		if other, dup := identities[sa[0]]; dup {
			t.Errorf("%s and %s share %s; each function gets its own account so a grant to one is not a grant to both", other, df.entryPoint, sa[0])
		}
		identities[sa[0]] = df.entryPoint
		if attr(sc, "max_instance_count") == nil {
			t.Errorf("%s has no max_instance_count: nothing bounds what a burst (or an attack) costs", fnRef(fn))
		}
	}
}

// TestReferencesResolve stands in for the part of terraform validate that
// needs no provider schema: every var, local, data source and resource that
// is referred to is declared.
func TestReferencesResolve(t *testing.T) {
	t.Parallel()
	m := loadModule(t)
	declared := map[string]bool{}
	for _, b := range m.blocks {
		switch b.Type {
		case "variable":
			declared["var."+b.Labels[0]] = true
		case "resource":
			declared[b.Labels[0]+"."+b.Labels[1]] = true
		case "data":
			declared["data."+b.Labels[0]+"."+b.Labels[1]] = true
		}
	}
	for name := range m.locals() {
		declared["local."+name] = true
	}
	builtin := []string{"path", "terraform", "each", "count", "self"}

	checked := 0
	m.walkExpressions(func(a *hclsyntax.Attribute, bound []string) {
		for _, tr := range a.Expr.Variables() {
			checked++
			root := tr.RootName()
			if slices.Contains(builtin, root) || slices.Contains(bound, root) {
				continue
			}
			key, err := referenceKey(tr)
			if err != nil {
				t.Errorf("%s: %v", tr.SourceRange(), err)
				continue
			}
			if !declared[key] {
				t.Errorf("%s: %s is not declared", tr.SourceRange(), key)
			}
		}
	})
	if checked == 0 {
		t.Error("no references were found; the check is not reading the configuration")
	}
}

// referenceKey names what a traversal refers to: var.x, local.x, data.t.n or
// t.n.
func referenceKey(tr hcl.Traversal) (string, error) {
	names := []string{tr.RootName()}
	for _, step := range tr[1:] {
		a, ok := step.(hcl.TraverseAttr)
		if !ok {
			break
		}
		names = append(names, a.Name)
	}
	want := 2
	switch names[0] {
	case "var", "local":
	case "data":
		want = 3
	default:
		if !strings.Contains(names[0], "_") {
			return "", fmt.Errorf("%q is neither a resource type nor a known object", names[0])
		}
	}
	if len(names) < want {
		return "", fmt.Errorf("incomplete reference %s", strings.Join(names, "."))
	}
	return strings.Join(names[:want], "."), nil
}
