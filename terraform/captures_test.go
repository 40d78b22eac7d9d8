package terraform_test

import (
	"slices"
	"strings"
	"testing"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/zclconf/go-cty/cty"

	receiverfn "github.com/geminihooks/geminihooks/functions/receiver"
	"github.com/geminihooks/geminihooks/pkg/capture"
)

// receiverIdentity returns the service account the receiver runs as.
func receiverIdentity(t testing.TB, m *module) ref {
	t.Helper()
	fn := m.function(t, receiverfn.EntryPoint)
	for _, r := range resourceRefs(attr(serviceConfig(t, fn), "service_account_email")) {
		if r.typ == "google_service_account" {
			return r
		}
	}
	t.Fatalf("%s runs as no service account declared here", fnRef(fn))
	return ref{}
}

// resolvedText returns the source of expr, or of the local it names
// (local.x.y resolves to local x's whole expression).
func (m *module) resolvedText(expr hcl.Expression) string {
	text := m.text(expr)
	for _, tr := range expr.Variables() {
		if l, ok := m.localOf(tr); ok {
			text += "\n" + m.text(l)
		}
	}
	return text
}

// TestReceiverCaptureGrants checks that the receiver's access to the results
// bucket is what capturing needs and no more: objects under captures/ only,
// create and get only, and only when WEBHOOK_CAPTURE_LIMIT is above 0.
func TestReceiverCaptureGrants(t *testing.T) {
	t.Parallel()
	m := loadModule(t)
	ctx := m.evalContext(t)
	receiver := receiverIdentity(t, m)
	env := m.plainEnv(t, m.function(t, receiverfn.EntryPoint))
	limitExpr, bucketExpr := env["WEBHOOK_CAPTURE_LIMIT"], env["RESULTS_BUCKET"]
	if limitExpr == nil || bucketExpr == nil {
		t.Fatal("the receiver does not set WEBHOOK_CAPTURE_LIMIT and RESULTS_BUCKET")
	}
	var bucket ref
	for _, r := range resourceRefs(bucketExpr) {
		if r.typ == "google_storage_bucket" {
			bucket = r
		}
	}
	wantPrefix := "/objects/" + capture.Prefix

	var roles []string
	for _, typ := range []string{"google_storage_bucket_iam_member", "google_storage_bucket_iam_binding", "google_storage_bucket_iam_policy"} {
		for _, b := range m.resources(typ) {
			if !refersTo(attr(b.Body, "member"), receiver) && !refersTo(attr(b.Body, "members"), receiver) && !refersTo(attr(b.Body, "policy_data"), receiver) {
				continue
			}
			if typ != "google_storage_bucket_iam_member" {
				t.Errorf("%s: grant the receiver with additive google_storage_bucket_iam_member only", fnRef(b))
				continue
			}
			role, _ := literal(attr(b.Body, "role"))
			roles = append(roles, role)
			if role != "roles/storage.objectCreator" && role != "roles/storage.objectViewer" {
				t.Errorf("%s grants the receiver %s; capturing needs objectCreator and objectViewer only (no delete, no overwrite)", fnRef(b), role)
			}
			if !refersTo(attr(b.Body, "bucket"), bucket) {
				t.Errorf("%s: bucket must be the receiver's RESULTS_BUCKET (%s)", fnRef(b), bucket)
			}
			cond := firstNested(b.Body, "condition")
			if cond == nil || !strings.Contains(m.resolvedText(attr(cond.Body, "expression")), "startsWith(") ||
				!strings.Contains(m.resolvedText(attr(cond.Body, "expression")), wantPrefix) {
				t.Errorf("%s: the grant must carry a condition resource.name.startsWith(\"projects/_/buckets/B%s\")", fnRef(b), wantPrefix)
			}
			count := attr(b.Body, "count")
			if count == nil || !sameVariables(count, limitExpr) {
				t.Errorf("%s: count must depend on the variable behind WEBHOOK_CAPTURE_LIMIT (%s), so capture-off deployments get no grant", fnRef(b), m.text(limitExpr))
				continue
			}
			if v, diags := count.Value(ctx); diags.HasErrors() || !v.IsKnown() || !v.Equals(cty.NumberIntVal(0)).True() {
				t.Errorf("%s: count is %#v with the defaults, want 0 (capturing is off by default)", fnRef(b), v)
			}
		}
	}
	slices.Sort(roles)
	if want := []string{"roles/storage.objectCreator", "roles/storage.objectViewer"}; !slices.Equal(roles, want) {
		t.Errorf("the receiver's grants on the results bucket are %q, want %q: the store looks a slot up, then creates it", roles, want)
	}
}

// sameVariables reports whether a refers to every variable b refers to.
func sameVariables(a, b hclsyntax.Expression) bool {
	names := func(e hclsyntax.Expression) []string {
		var out []string
		for _, tr := range e.Variables() {
			if tr.RootName() == "var" && len(tr) >= 2 {
				if a, ok := tr[1].(hcl.TraverseAttr); ok {
					out = append(out, a.Name)
				}
			}
		}
		return out
	}
	want := names(b)
	if len(want) == 0 {
		return false
	}
	have := names(a)
	for _, n := range want {
		if !slices.Contains(have, n) {
			return false
		}
	}
	return true
}
