package terraform_test

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/zclconf/go-cty/cty"

	receiverfn "github.com/geminihooks/geminihooks/functions/receiver"
	reconcilerfn "github.com/geminihooks/geminihooks/functions/reconciler"
	"github.com/geminihooks/geminihooks/pkg/reconciler"
)

// TestReconcilerSharesTheReceiversLedger: the reconciler publishes a job's
// completion event only through the claim the receiver makes for its
// webhook. Were they set apart (another collection, database, TTL or
// lease), a job could get two events; so each setting must be the same
// expression in both functions.
func TestReconcilerSharesTheReceiversLedger(t *testing.T) {
	t.Parallel()
	m := loadModule(t)
	rec, recon := m.plainEnv(t, m.function(t, receiverfn.EntryPoint)), m.plainEnv(t, m.function(t, reconcilerfn.EntryPoint))
	for _, name := range []string{
		"FIRESTORE_DATABASE", "IDEMPOTENCY_COLLECTION", "IDEMPOTENCY_TTL", "IDEMPOTENCY_LEASE",
		"JOBS_COLLECTION", "JOBS_TTL", "EVENTS_TOPIC", "PUBSUB_ORDERING", "PUBLISH_TIMEOUT", "LEDGER_TIMEOUT",
	} {
		a, b := rec[name], recon[name]
		if a == nil || b == nil {
			t.Errorf("%s: set by the receiver %v, by the reconciler %v; want both", name, a != nil, b != nil)
			continue
		}
		if m.text(a) != m.text(b) {
			t.Errorf("%s is %q for the receiver but %q for the reconciler; they must claim jobs in one ledger", name, m.text(a), m.text(b))
		}
	}
}

// schedulerJob returns the one Cloud Scheduler job, which must call the
// reconciler.
func schedulerJob(t testing.TB, m *module) *hclsyntax.Block {
	t.Helper()
	jobs := m.resources("google_cloud_scheduler_job")
	if len(jobs) != 1 {
		t.Fatalf("want one google_cloud_scheduler_job (the reconcile schedule), found %d", len(jobs))
	}
	return jobs[0]
}

// TestSchedulerCallsReconciler: Cloud Scheduler POSTs to the reconciler's
// URL with an OIDC token of an identity of its own, which may invoke the
// reconciler and nothing else; the schedule defaults to every 10 minutes,
// its deadline leaves a pass its time, and the API is enabled.
func TestSchedulerCallsReconciler(t *testing.T) {
	t.Parallel()
	m := loadModule(t)
	ctx := m.evalContext(t)
	job := schedulerJob(t, m)
	fn := m.function(t, reconcilerfn.EntryPoint)
	target := firstNested(job.Body, "http_target")
	if target == nil {
		t.Fatalf("%s has no http_target", fnRef(job))
	}
	if method, _ := literal(attr(target.Body, "http_method")); method != "POST" {
		t.Errorf("%s: http_method %q; the reconciler accepts POST only", fnRef(job), method)
	}
	if !refersTo(attr(target.Body, "uri"), fnRef(fn)) {
		t.Errorf("%s: uri must be %s's URL", fnRef(job), fnRef(fn))
	}
	var identity ref
	if oidc := firstNested(target.Body, "oidc_token"); oidc != nil {
		for _, r := range resourceRefs(attr(oidc.Body, "service_account_email")) {
			if r.typ == "google_service_account" && m.resource(r.typ, r.name) != nil {
				identity = r
			}
		}
	}
	if identity == (ref{}) {
		t.Fatalf("%s calls without an OIDC token of a service account declared here; the reconciler would have to be public", fnRef(job))
	}
	if sa := resourceRefs(attr(serviceConfig(t, fn), "service_account_email")); slices.Contains(sa, identity) {
		t.Errorf("the scheduler identity %s is the reconciler's own account; give each its own", identity)
	}
	invokes := 0
	for _, b := range m.allResources() {
		if !strings.HasSuffix(b.Labels[0], "_iam_member") || !refersTo(attr(b.Body, "member"), identity) {
			continue
		}
		role, _ := literal(attr(b.Body, "role"))
		if target, ok := iamTargets[b.Labels[0]]; ok && role == "roles/run.invoker" && refersTo(attr(b.Body, target), fnRef(fn)) {
			invokes++
			continue
		}
		t.Errorf("%s grants the scheduler identity %s %s; it may only invoke %s", fnRef(b), identity, role, fnRef(fn))
	}
	if invokes != 1 {
		t.Errorf("the scheduler identity has %d invoker grants on %s, want 1", invokes, fnRef(fn))
	}

	if v, diags := attr(job.Body, "schedule").Value(ctx); diags.HasErrors() || !v.IsKnown() || v.AsString() != "*/10 * * * *" {
		t.Errorf("%s: schedule defaults to %#v, want every 10 minutes", fnRef(job), v)
	}
	deadline := evalDuration(t, attr(job.Body, "attempt_deadline"), ctx)
	timeout := time.Duration(evalNumber(t, ctx, attr(serviceConfig(t, fn), "timeout_seconds"), "the reconciler's timeout_seconds")) * time.Second
	pass := evalDuration(t, m.plainEnv(t, fn)["RECONCILE_TIMEOUT"], ctx)
	if pass >= timeout || pass >= deadline {
		t.Errorf("a pass may take %s, but the function times out after %s and the scheduler gives up after %s", pass, timeout, deadline)
	}

	// local.apis is core_apis plus what optional features add.
	if apis := m.locals()["core_apis"]; apis == nil || !strings.Contains(m.text(apis), `"cloudscheduler.googleapis.com"`) {
		t.Error("cloudscheduler.googleapis.com is not in local.core_apis: the scheduler job cannot be created")
	}
}

func evalDuration(t testing.TB, expr hclsyntax.Expression, ctx *hcl.EvalContext) time.Duration {
	t.Helper()
	if expr == nil {
		t.Fatal("duration is not set")
	}
	v, diags := expr.Value(ctx)
	if diags.HasErrors() || !v.IsKnown() || v.Type() != cty.String {
		t.Fatalf("%s does not evaluate to a string with the defaults: %s", expr.Range(), diags.Error())
	}
	d, err := time.ParseDuration(v.AsString())
	if err != nil {
		t.Fatalf("%s: %v", expr.Range(), err)
	}
	return d
}

// TestLogMetricsMatchTheReconciler: the "webhook disabled" and "gaps filled"
// metrics match the reconciler's log messages exactly and only its
// function's logs, and every alert on a log-based metric names a metric
// declared here.
func TestLogMetricsMatchTheReconciler(t *testing.T) {
	t.Parallel()
	m := loadModule(t)
	fn := fnRef(m.function(t, reconcilerfn.EntryPoint))
	metrics := map[string]*hclsyntax.Block{}
	for _, b := range m.resources("google_logging_metric") {
		metrics[b.Labels[1]] = b
	}
	for _, want := range []struct{ metric, message string }{
		{"webhooks_disabled", reconciler.MsgWebhookDisabled},
		{"gaps_filled", reconciler.MsgGapFilled},
	} {
		b := metrics[want.metric]
		if b == nil {
			t.Errorf("no google_logging_metric.%s", want.metric)
			continue
		}
		filter := attr(b.Body, "filter")
		if !strings.Contains(m.text(filter), `jsonPayload.message=\"`+want.message+`\"`) {
			t.Errorf("%s: filter %s does not match the reconciler's message %q", fnRef(b), m.text(filter), want.message)
		}
		if !refersTo(filter, fn) {
			t.Errorf("%s: filter must name %s's service", fnRef(b), fn)
		}
	}

	alerted := map[string]bool{}
	for _, p := range m.resources("google_monitoring_alert_policy") {
		for _, c := range nested(p.Body, "conditions") {
			ct := firstNested(c.Body, "condition_threshold")
			if ct == nil || !strings.Contains(m.text(attr(ct.Body, "filter")), "logging.googleapis.com/user/") {
				continue
			}
			var named []ref
			for _, r := range resourceRefs(attr(ct.Body, "filter")) {
				if r.typ == "google_logging_metric" && metrics[r.name] != nil {
					named = append(named, r)
					alerted[r.name] = true
				}
			}
			if len(named) != 1 {
				t.Errorf("%s: a condition on a log-based metric must name one google_logging_metric declared here, got %q", fnRef(p), m.text(attr(ct.Body, "filter")))
			}
		}
	}
	for _, name := range []string{"webhooks_disabled", "gaps_filled"} {
		if !alerted[name] {
			t.Errorf("no alert policy on google_logging_metric.%s", name)
		}
	}
}
