package terraform_test

import (
	"slices"
	"strings"
	"testing"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/zclconf/go-cty/cty"

	materializerfn "github.com/geminihooks/geminihooks/functions/materializer"
)

// resultsTopic returns the topic resource the materializer announces on.
func resultsTopic(t testing.TB, m *module) ref {
	t.Helper()
	for _, r := range resourceRefs(m.plainEnv(t, m.function(t, materializerfn.EntryPoint))["RESULTS_TOPIC"]) {
		if r.typ == "google_pubsub_topic" {
			return r
		}
	}
	t.Fatal("the materializer's RESULTS_TOPIC refers to no google_pubsub_topic")
	return ref{}
}

// instances returns how many instances of b the plan would create in ctx:
// its count, or the size of its for_each; 1 when it has neither.
func instances(t testing.TB, ctx *hcl.EvalContext, b *hclsyntax.Block) int {
	t.Helper()
	for _, meta := range []string{"count", "for_each"} {
		expr := attr(b.Body, meta)
		if expr == nil {
			continue
		}
		v, diags := expr.Value(ctx)
		if diags.HasErrors() || !v.IsKnown() || v.IsNull() {
			t.Fatalf("%s: %s (%s) cannot be evaluated from the variables: %s", fnRef(b), meta, expr.Range(), diags.Error())
		}
		if meta == "count" {
			n, _ := v.AsBigFloat().Int64()
			return int(n)
		}
		return v.LengthInt()
	}
	return 1
}

// checkGated checks that each of blocks is created only when variable's
// enabled attribute is true: none with the defaults, at least one each
// when enabled (with the attributes in extra set as well).
func checkGated(t *testing.T, m *module, variable string, blocks []*hclsyntax.Block, extra map[string]cty.Value) {
	t.Helper()
	enabled := map[string]cty.Value{"enabled": cty.True}
	for k, v := range extra {
		enabled[k] = v
	}
	off, on := m.evalContext(t), m.evalContextWith(t, map[string]map[string]cty.Value{variable: enabled})
	for _, b := range blocks {
		if n := instances(t, off, b); n != 0 {
			t.Errorf("%s: %d instances with the defaults, want none: it belongs behind var.%s.enabled", fnRef(b), n, variable)
		}
		if n := instances(t, on, b); n == 0 {
			t.Errorf("%s: no instance with var.%s.enabled = true", fnRef(b), variable)
		}
	}
}

// consumerSubscription returns the pull subscription to the results topic.
func consumerSubscription(t testing.TB, m *module) *hclsyntax.Block {
	t.Helper()
	results := resultsTopic(t, m)
	var found []*hclsyntax.Block
	for _, s := range m.resources("google_pubsub_subscription") {
		if refersTo(attr(s.Body, "topic"), results) && firstNested(s.Body, "push_config") == nil && firstNested(s.Body, "bigquery_config") == nil {
			found = append(found, s)
		}
	}
	if len(found) != 1 {
		t.Fatalf("want one pull subscription to %s, found %d", results, len(found))
	}
	return found[0]
}

func TestExampleConsumerSubscription(t *testing.T) {
	t.Parallel()
	m := loadModule(t)
	sub := consumerSubscription(t, m)

	if v, ok := attr(sub.Body, "enable_exactly_once_delivery").(*hclsyntax.LiteralValueExpr); !ok || !v.Val.True() {
		t.Errorf("%s: enable_exactly_once_delivery must be true", fnRef(sub))
	}
	for _, block := range []string{"retry_policy", "dead_letter_policy", "expiration_policy"} {
		if firstNested(sub.Body, block) == nil {
			t.Errorf("%s has no %s", fnRef(sub), block)
		}
	}
	if ttl, ok := literal(attrOf(firstNested(sub.Body, "expiration_policy"), "ttl")); !ok || ttl != "" {
		t.Errorf("%s: set expiration_policy { ttl = \"\" }; an idle consumer's subscription otherwise expires after 31 days", fnRef(sub))
	}
	if rp := firstNested(sub.Body, "retry_policy"); rp != nil && (attr(rp.Body, "minimum_backoff") == nil || attr(rp.Body, "maximum_backoff") == nil) {
		t.Errorf("%s: retry_policy needs minimum_backoff and maximum_backoff, or nacked messages come back at once", fnRef(sub))
	}
	ctx := m.evalContext(t)
	if dl := firstNested(sub.Body, "dead_letter_policy"); dl != nil {
		if n := evalNumber(t, ctx, attr(dl.Body, "max_delivery_attempts"), "max_delivery_attempts"); n < 5 || n > 100 {
			t.Errorf("%s: max_delivery_attempts %d is outside Pub/Sub's 5 to 100", fnRef(sub), n)
		}
	}
	if ack := evalNumber(t, ctx, attr(sub.Body, "ack_deadline_seconds"), "ack_deadline_seconds"); ack < 10 || ack > 600 {
		t.Errorf("%s: ack_deadline_seconds %d is outside 10 to 600", fnRef(sub), ack)
	}
	// TestDeadLetterQueues checks the dead-letter topic, its subscription
	// and the service agent's grants of every subscription with a policy.

	// The consumer's members: subscriber on this subscription, and
	// objectViewer on the results bucket's results prefix only.
	var grants []*hclsyntax.Block
	for _, b := range m.resources("google_pubsub_subscription_iam_member") {
		if refersTo(attr(b.Body, "subscription"), fnRef(sub)) && !m.isPubSubServiceAgent(attr(b.Body, "member")) {
			grants = append(grants, b)
			if role, _ := literal(attr(b.Body, "role")); role != "roles/pubsub.subscriber" {
				t.Errorf("%s grants %s; a consumer needs roles/pubsub.subscriber only", fnRef(b), role)
			}
		}
	}
	bucket := ref{typ: "google_storage_bucket", name: "results"}
	for _, b := range m.resources("google_storage_bucket_iam_member") {
		if fe := attr(b.Body, "for_each"); fe == nil || !strings.Contains(m.text(fe), "example_consumer.members") {
			continue
		}
		grants = append(grants, b)
		role, _ := literal(attr(b.Body, "role"))
		cond := firstNested(b.Body, "condition")
		if role != "roles/storage.objectViewer" || !refersTo(attr(b.Body, "bucket"), bucket) || cond == nil ||
			!strings.Contains(m.text(attr(cond.Body, "expression")), "startsWith(") || !strings.Contains(m.text(attr(cond.Body, "expression")), "results_prefix") {
			t.Errorf("%s: a consumer may read the results prefix of %s (objectViewer with a startsWith condition) and nothing else", fnRef(b), bucket)
		}
	}
	if len(grants) != 2 {
		t.Errorf("found %d grants to example_consumer.members, want 2 (pull the subscription, read the results)", len(grants))
	}

	blocks := []*hclsyntax.Block{sub}
	for _, typ := range []string{"google_pubsub_topic", "google_pubsub_subscription", "google_pubsub_topic_iam_member", "google_pubsub_subscription_iam_member", "google_storage_bucket_iam_member"} {
		for _, b := range m.resources(typ) {
			if b != sub && strings.HasPrefix(b.Labels[1], "consumer") {
				blocks = append(blocks, b)
			}
		}
	}
	if len(blocks) != 7 {
		t.Errorf("found %d consumer resources, want 7 (subscription, dead-letter topic and subscription, two agent grants, two member grants)", len(blocks))
	}
	checkGated(t, m, "example_consumer", blocks, map[string]cty.Value{
		"members": cty.ListVal([]cty.Value{cty.StringVal("serviceAccount:consumer@p.iam.gserviceaccount.com")}),
	})
}

// auditColumns are the columns a BigQuery subscription with write_metadata
// writes when it uses neither the topic's schema nor the table's, and the
// types each may have.
var auditColumns = map[string][]string{
	"subscription_name": {"STRING"},
	"message_id":        {"STRING"},
	"publish_time":      {"TIMESTAMP"},
	"data":              {"STRING", "BYTES", "JSON"},
	"attributes":        {"STRING", "JSON"},
}

func TestAuditTrail(t *testing.T) {
	t.Parallel()
	m := loadModule(t)
	subs := []*hclsyntax.Block{}
	for _, s := range m.resources("google_pubsub_subscription") {
		if firstNested(s.Body, "bigquery_config") != nil {
			subs = append(subs, s)
		}
	}
	if len(subs) == 0 {
		t.Fatal("no BigQuery subscription is declared")
	}

	// Every completion and results event: both topics, through the
	// subscriptions' topic or the for_each it iterates.
	var topics []ref
	for _, s := range subs {
		exprs := []hclsyntax.Expression{attr(s.Body, "topic"), attr(s.Body, "for_each")}
		for _, e := range exprs {
			if e == nil {
				continue
			}
			topics = append(topics, resourceRefs(e)...)
			for _, tr := range e.Variables() {
				if l, ok := m.localOf(tr); ok {
					topics = append(topics, resourceRefs(l)...)
				}
			}
		}
	}
	for _, want := range []ref{eventsTopic(t, m), resultsTopic(t, m)} {
		if !slices.Contains(topics, want) {
			t.Errorf("no BigQuery subscription reads %s; the audit trail must hold every completion and results event", want)
		}
	}

	var tables []ref
	for _, s := range subs {
		bq := firstNested(s.Body, "bigquery_config")
		if v, ok := attr(bq.Body, "write_metadata").(*hclsyntax.LiteralValueExpr); !ok || !v.Val.True() {
			t.Errorf("%s: write_metadata must be true, or the rows lack attributes and publish time", fnRef(s))
		}
		for _, a := range []string{"use_topic_schema", "use_table_schema"} {
			if v, ok := attr(bq.Body, a).(*hclsyntax.LiteralValueExpr); ok && v.Val.True() {
				t.Errorf("%s: %s would map the event's fields to columns; the table keeps the event whole in data", fnRef(s), a)
			}
		}
		if ttl, ok := literal(attrOf(firstNested(s.Body, "expiration_policy"), "ttl")); !ok || ttl != "" {
			t.Errorf("%s: set expiration_policy { ttl = \"\" }; a quiet week would otherwise end the audit trail", fnRef(s))
		}
		for _, r := range resourceRefs(attr(bq.Body, "table")) {
			if r.typ == "google_bigquery_table" && !slices.Contains(tables, r) {
				tables = append(tables, r)
			}
		}
	}
	if len(tables) != 1 {
		t.Fatalf("the BigQuery subscriptions write to %v, want one table declared here", tables)
	}
	table := m.resource(tables[0].typ, tables[0].name)
	if table == nil {
		t.Fatalf("%s is not declared", tables[0])
	}

	// The schema: exactly the columns write_metadata fills.
	call, ok := attr(table.Body, "schema").(*hclsyntax.FunctionCallExpr)
	if !ok || call.Name != "jsonencode" || len(call.Args) != 1 {
		t.Fatalf("%s: schema must be jsonencode([...]) so it can be checked", fnRef(table))
	}
	cols, diags := call.Args[0].Value(nil)
	if diags.HasErrors() {
		t.Fatalf("%s: schema is not a constant: %s", fnRef(table), diags.Error())
	}
	got := map[string]string{}
	for it := cols.ElementIterator(); it.Next(); {
		_, col := it.Element()
		got[col.GetAttr("name").AsString()] = col.GetAttr("type").AsString()
		if mode := col.GetAttr("mode").AsString(); mode == "REQUIRED" || mode == "REPEATED" {
			t.Errorf("%s: column %s is %s; Pub/Sub writes single, possibly empty, values", fnRef(table), col.GetAttr("name").AsString(), mode)
		}
	}
	for name, types := range auditColumns {
		if !slices.Contains(types, got[name]) {
			t.Errorf("%s: column %s has type %q, want one of %v", fnRef(table), name, got[name], types)
		}
	}
	for name := range got {
		if _, ok := auditColumns[name]; !ok {
			t.Errorf("%s: column %s is not one a BigQuery subscription writes", fnRef(table), name)
		}
	}

	// The service agent may write this table, and nothing else in BigQuery.
	var grant *hclsyntax.Block
	for _, typ := range []string{"google_bigquery_dataset_iam_member", "google_bigquery_dataset_iam_binding", "google_bigquery_table_iam_binding", "google_bigquery_table_iam_policy"} {
		for _, b := range m.resources(typ) {
			t.Errorf("%s: grant BigQuery access with google_bigquery_table_iam_member on the audit table only", fnRef(b))
		}
	}
	for _, b := range m.resources("google_bigquery_table_iam_member") {
		role, _ := literal(attr(b.Body, "role"))
		if role == "roles/bigquery.dataEditor" && refersTo(attr(b.Body, "table_id"), fnRef(table)) && m.isPubSubServiceAgent(attr(b.Body, "member")) {
			grant = b
		} else {
			t.Errorf("%s grants %s; only the Pub/Sub service agent's roles/bigquery.dataEditor on %s is expected", fnRef(b), role, fnRef(table))
		}
	}
	if grant == nil {
		t.Fatalf("the Pub/Sub service agent lacks roles/bigquery.dataEditor on %s; the subscriptions could not write", fnRef(table))
	}
	for _, s := range subs {
		if !refersTo(attr(s.Body, "depends_on"), fnRef(grant)) {
			t.Errorf("%s must depend on %s: creating it checks that the service agent can write the table", fnRef(s), fnRef(grant))
		}
	}

	blocks := append(slices.Clone(subs), table, grant)
	blocks = append(blocks, m.resources("google_bigquery_dataset")...)
	checkGated(t, m, "audit_trail", blocks, nil)
	if apis := m.locals()["apis"]; apis == nil || !strings.Contains(m.text(apis), "bigquery.googleapis.com") || !strings.Contains(m.text(apis), "var.audit_trail") {
		t.Error("local.apis must enable bigquery.googleapis.com when the audit trail is")
	}
}
