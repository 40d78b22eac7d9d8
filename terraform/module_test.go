package terraform_test

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/ext/typeexpr"
	"github.com/hashicorp/hcl/v2/hclparse"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/zclconf/go-cty/cty"
	"github.com/zclconf/go-cty/cty/convert"
)

// module is the root module in this directory, parsed but not evaluated:
// providers cannot be installed here, so terraform validate cannot run, and
// the checks read the configuration itself.
type module struct {
	dir    string
	files  map[string][]byte
	blocks []*hclsyntax.Block
}

// loadModule parses every .tf file of the module.
func loadModule(t testing.TB) *module {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatalf("failed to find the module directory: %v", err)
	}
	names, err := filepath.Glob(filepath.Join(dir, "*.tf"))
	if err != nil || len(names) == 0 {
		t.Fatalf("no .tf files in %s (err %v)", dir, err)
	}
	m := &module{dir: dir, files: map[string][]byte{}}
	parser := hclparse.NewParser()
	for _, name := range names {
		f, diags := parser.ParseHCLFile(name)
		if diags.HasErrors() {
			t.Fatalf("failed to parse %s: %s", name, diags.Error())
		}
		m.files[name] = f.Bytes
		m.blocks = append(m.blocks, f.Body.(*hclsyntax.Body).Blocks...)
	}
	return m
}

// resources returns the resource blocks of type typ.
func (m *module) resources(typ string) []*hclsyntax.Block {
	return m.labelled("resource", typ)
}

// resource returns resource typ.name, or nil.
func (m *module) resource(typ, name string) *hclsyntax.Block {
	for _, b := range m.resources(typ) {
		if b.Labels[1] == name {
			return b
		}
	}
	return nil
}

func (m *module) labelled(kind, typ string) []*hclsyntax.Block {
	var out []*hclsyntax.Block
	for _, b := range m.blocks {
		if b.Type == kind && len(b.Labels) == 2 && b.Labels[0] == typ {
			out = append(out, b)
		}
	}
	return out
}

// allResources returns every resource block.
func (m *module) allResources() []*hclsyntax.Block {
	var out []*hclsyntax.Block
	for _, b := range m.blocks {
		if b.Type == "resource" {
			out = append(out, b)
		}
	}
	return out
}

// locals returns every local value's expression by name.
func (m *module) locals() map[string]hclsyntax.Expression {
	out := map[string]hclsyntax.Expression{}
	for _, b := range m.blocks {
		if b.Type == "locals" {
			for name, attr := range b.Body.Attributes {
				out[name] = attr.Expr
			}
		}
	}
	return out
}

// variables returns the variable blocks by name.
func (m *module) variables() map[string]*hclsyntax.Block {
	out := map[string]*hclsyntax.Block{}
	for _, b := range m.blocks {
		if b.Type == "variable" && len(b.Labels) == 1 {
			out[b.Labels[0]] = b
		}
	}
	return out
}

// text returns the source text of expr, for comparing two expressions.
func (m *module) text(expr hcl.Expression) string {
	rng := expr.Range()
	return string(rng.SliceBytes(m.files[rng.Filename]))
}

// evalContext evaluates expressions as a plan with every variable left at its
// default would: var holds the defaults (with optional attributes filled in),
// path the module's paths, and everything Terraform only knows while
// planning (resources, data sources, locals, variables without a default) is
// unknown. No functions are defined, so a function call fails to evaluate.
func (m *module) evalContext(t testing.TB) *hcl.EvalContext {
	t.Helper()
	return m.evalContextWith(t, nil)
}

// evalContextWith is evalContext with some variables set: each value of set
// is merged into the variable's default (for an object, attribute by
// attribute), as a tfvars file setting those attributes would.
func (m *module) evalContextWith(t testing.TB, set map[string]map[string]cty.Value) *hcl.EvalContext {
	t.Helper()
	vars := map[string]cty.Value{}
	for name, b := range m.variables() {
		vars[name] = variableDefault(t, name, b)
		if attrs, ok := set[name]; ok {
			merged := vars[name].AsValueMap()
			for k, v := range attrs {
				if _, known := merged[k]; !known {
					t.Fatalf("variable %q has no attribute %q", name, k)
				}
				merged[k] = v
			}
			vars[name] = cty.ObjectVal(merged)
		}
	}
	ctx := &hcl.EvalContext{Variables: map[string]cty.Value{
		"var": cty.ObjectVal(vars),
		"path": cty.ObjectVal(map[string]cty.Value{
			"module": cty.StringVal(m.dir),
			"root":   cty.StringVal(m.dir),
			"cwd":    cty.StringVal(m.dir),
		}),
	}}
	m.walkExpressions(func(a *hclsyntax.Attribute, _ []string) {
		for _, tr := range a.Expr.Variables() {
			if _, known := ctx.Variables[tr.RootName()]; !known {
				ctx.Variables[tr.RootName()] = cty.DynamicVal
			}
		}
	})
	// Locals may refer to each other; a few passes settle every local that
	// can be known without a plan.
	locals := m.locals()
	for range 3 {
		values := map[string]cty.Value{}
		for name, expr := range locals {
			v, diags := expr.Value(ctx)
			if diags.HasErrors() {
				v = cty.DynamicVal
			}
			values[name] = v
		}
		ctx.Variables["local"] = cty.ObjectVal(values)
	}
	return ctx
}

// walkExpressions calls fn for every attribute of the module whose value is
// an expression (a variable's type is a type constraint, and ignore_changes
// lists attribute names).
func (m *module) walkExpressions(fn func(a *hclsyntax.Attribute, bound []string)) {
	for _, b := range m.blocks {
		walk(b.Body, nil, func(a *hclsyntax.Attribute, bound []string) {
			if (b.Type == "variable" && b.Body.Attributes["type"] == a) || a.Name == "ignore_changes" {
				return
			}
			fn(a, bound)
		})
	}
}

// walk calls fn for every attribute of body and of its nested blocks, with
// the iterator names that enclosing dynamic blocks bind (lifecycle_rule in
// lifecycle_rule.value).
func walk(body *hclsyntax.Body, bound []string, fn func(a *hclsyntax.Attribute, bound []string)) {
	for _, a := range body.Attributes {
		fn(a, bound)
	}
	for _, b := range body.Blocks {
		if b.Type == "dynamic" && len(b.Labels) == 1 {
			iterator := b.Labels[0]
			if name, ok := literalTraversal(attr(b.Body, "iterator")); ok {
				iterator = name
			}
			for _, a := range b.Body.Attributes {
				fn(a, bound)
			}
			for _, c := range b.Body.Blocks {
				walk(c.Body, append(slices.Clone(bound), iterator), fn)
			}
			continue
		}
		walk(b.Body, bound, fn)
	}
}

// literalTraversal returns the name of a bare identifier such as iterator's.
func literalTraversal(expr hclsyntax.Expression) (string, bool) {
	tr, ok := expr.(*hclsyntax.ScopeTraversalExpr)
	if !ok || len(tr.Traversal) != 1 {
		return "", false
	}
	return tr.Traversal.RootName(), true
}

// variableDefault is the value var.name has when nothing sets it, as
// Terraform computes it: optional attributes' defaults applied, then
// converted to the declared type. It is unknown when there is no default.
func variableDefault(t testing.TB, name string, b *hclsyntax.Block) cty.Value {
	t.Helper()
	def, ok := b.Body.Attributes["default"]
	if !ok {
		return cty.DynamicVal
	}
	val, diags := def.Expr.Value(nil)
	if diags.HasErrors() {
		t.Fatalf("variable %q: default is not a constant: %s", name, diags.Error())
	}
	typeAttr, ok := b.Body.Attributes["type"]
	if !ok {
		return val
	}
	ty, defaults, diags := typeexpr.TypeConstraintWithDefaults(typeAttr.Expr)
	if diags.HasErrors() {
		t.Fatalf("variable %q: bad type: %s", name, diags.Error())
	}
	if defaults != nil {
		val = defaults.Apply(val)
	}
	val, err := convert.Convert(val, ty)
	if err != nil {
		t.Fatalf("variable %q: default does not fit its type: %v", name, err)
	}
	return val
}

// attr returns the attribute name of body, or nil.
func attr(body *hclsyntax.Body, name string) hclsyntax.Expression {
	if a, ok := body.Attributes[name]; ok {
		return a.Expr
	}
	return nil
}

// nested returns the blocks of body of the given type.
func nested(body *hclsyntax.Body, typ string) []*hclsyntax.Block {
	var out []*hclsyntax.Block
	for _, b := range body.Blocks {
		if b.Type == typ {
			out = append(out, b)
		}
	}
	return out
}

// firstNested returns the first block of body of the given type, or nil.
func firstNested(body *hclsyntax.Body, typ string) *hclsyntax.Block {
	if bs := nested(body, typ); len(bs) > 0 {
		return bs[0]
	}
	return nil
}

// literal returns expr's value when it is a constant string.
func literal(expr hcl.Expression) (string, bool) {
	if expr == nil || len(expr.Variables()) > 0 {
		return "", false
	}
	v, diags := expr.Value(nil)
	if diags.HasErrors() || !v.IsKnown() || v.IsNull() || v.Type() != cty.String {
		return "", false
	}
	return v.AsString(), true
}

// ref is a reference to a managed resource: type and name.
type ref struct{ typ, name string }

func (r ref) String() string { return r.typ + "." + r.name }

// resourceRefs returns the managed resources expr refers to. Roots that are
// not resource types (var, local, data, path, ...) are left out.
func resourceRefs(expr hcl.Expression) []ref {
	var out []ref
	if expr == nil {
		return nil
	}
	for _, tr := range expr.Variables() {
		if r, ok := asResourceRef(tr); ok && !slices.Contains(out, r) {
			out = append(out, r)
		}
	}
	return out
}

func asResourceRef(tr hcl.Traversal) (ref, bool) {
	root := tr.RootName()
	if !strings.Contains(root, "_") || len(tr) < 2 {
		return ref{}, false
	}
	step, ok := tr[1].(hcl.TraverseAttr)
	if !ok {
		return ref{}, false
	}
	return ref{typ: root, name: step.Name}, true
}

// refersTo reports whether expr refers to resource r.
func refersTo(expr hcl.Expression, r ref) bool {
	return slices.Contains(resourceRefs(expr), r)
}

// envMap returns the keys of an environment_variables attribute and their
// value expressions. The attribute must be a literal object, or a merge of
// literal objects and locals that are literal objects, so that its keys can
// be checked without evaluating anything; a key set twice is an error.
func (m *module) envMap(t testing.TB, expr hclsyntax.Expression) map[string]hclsyntax.Expression {
	t.Helper()
	parts := []hclsyntax.Expression{expr}
	if call, ok := expr.(*hclsyntax.FunctionCallExpr); ok && call.Name == "merge" {
		parts = call.Args
	}
	out := map[string]hclsyntax.Expression{}
	for _, part := range parts {
		if sc, ok := part.(*hclsyntax.ScopeTraversalExpr); ok && len(sc.Traversal) == 2 {
			if l, ok := m.localOf(sc.Traversal); ok {
				part = l
			}
		}
		obj, ok := part.(*hclsyntax.ObjectConsExpr)
		if !ok {
			t.Fatalf("environment_variables at %s must be a literal map, or a merge of literal maps and locals that are, so its keys can be checked", part.Range())
		}
		for _, item := range obj.Items {
			k, diags := item.KeyExpr.Value(nil)
			if diags.HasErrors() || k.Type() != cty.String {
				t.Fatalf("environment variable name at %s is not a constant string", item.KeyExpr.Range())
			}
			if _, dup := out[k.AsString()]; dup {
				t.Fatalf("environment variable %s at %s is set twice", k.AsString(), item.KeyExpr.Range())
			}
			out[k.AsString()] = item.ValueExpr
		}
	}
	return out
}

// localOf returns the expression of the local value a traversal starts
// from (local.x and local.x.y both give local x's whole expression).
func (m *module) localOf(tr hcl.Traversal) (hclsyntax.Expression, bool) {
	if tr.RootName() != "local" || len(tr) < 2 {
		return nil, false
	}
	step, ok := tr[1].(hcl.TraverseAttr)
	if !ok {
		return nil, false
	}
	l, ok := m.locals()[step.Name]
	return l, ok
}
