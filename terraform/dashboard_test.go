package terraform_test

import (
	"encoding/json"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/hashicorp/hcl/v2"
	"github.com/zclconf/go-cty/cty"
	"github.com/zclconf/go-cty/cty/function"
	"github.com/zclconf/go-cty/cty/function/stdlib"
)

// builtinMetrics are the Cloud Monitoring metric types the dashboard may
// chart besides the module's log-based metrics: each is a built-in metric
// of Pub/Sub or Cloud Run (cloud.google.com/monitoring/api/metrics_gcp).
var builtinMetrics = map[string]string{
	"pubsub.googleapis.com/subscription/num_undelivered_messages":   "the dead-letter queue's depth",
	"pubsub.googleapis.com/subscription/oldest_unacked_message_age": "how far the push subscription (and the dead-letter queue) lag",
	"pubsub.googleapis.com/subscription/dead_letter_message_count":  "events moved to the dead-letter topic",
	"run.googleapis.com/request_latencies":                          "the receiver's answer time as Cloud Run measures it",
}

// TestDashboardChartsOnlyDefinedMetrics evaluates the dashboard's JSON as a
// plan with the variables' defaults would, checks that it parses into a
// mosaic layout whose tiles fit, and that every metric it charts is a
// log-based metric of this module or an allow-listed built-in metric; that
// every log-based metric and every alert policy of the module is on it.
func TestDashboardChartsOnlyDefinedMetrics(t *testing.T) {
	t.Parallel()
	m := loadModule(t)
	dash := m.resource("google_monitoring_dashboard", "journey")
	if dash == nil {
		t.Fatal("no google_monitoring_dashboard.journey")
	}
	ctx, logMetrics, alerts := dashboardContext(t, m)
	v, diags := attr(dash.Body, "dashboard_json").Value(ctx)
	if diags.HasErrors() || !v.IsWhollyKnown() || v.Type() != cty.String {
		t.Fatalf("dashboard_json does not evaluate to a known string: %s", diags.Error())
	}
	var d struct {
		DisplayName  string `json:"displayName"`
		MosaicLayout struct {
			Columns int `json:"columns"`
			Tiles   []struct {
				XPos, YPos, Width, Height int
				Widget                    map[string]any
			} `json:"tiles"`
		} `json:"mosaicLayout"`
	}
	if err := json.Unmarshal([]byte(v.AsString()), &d); err != nil {
		t.Fatalf("dashboard_json is not the dashboard's JSON: %v", err)
	}
	if d.DisplayName == "" || d.MosaicLayout.Columns != 48 || len(d.MosaicLayout.Tiles) == 0 {
		t.Fatalf("dashboard %q has %d columns and %d tiles; want a name, 48 columns and tiles", d.DisplayName, d.MosaicLayout.Columns, len(d.MosaicLayout.Tiles))
	}
	type cell struct{ x, y int }
	used := map[cell]string{}
	for _, tile := range d.MosaicLayout.Tiles {
		title, _ := tile.Widget["title"].(string)
		if title == "" || tile.Width <= 0 || tile.Height <= 0 || tile.XPos < 0 || tile.XPos+tile.Width > d.MosaicLayout.Columns {
			t.Errorf("tile %q at (%d,%d) %dx%d does not fit %d columns or has no title", title, tile.XPos, tile.YPos, tile.Width, tile.Height, d.MosaicLayout.Columns)
		}
		for x := tile.XPos; x < tile.XPos+tile.Width; x++ {
			for y := tile.YPos; y < tile.YPos+tile.Height; y++ {
				if other, ok := used[cell{x, y}]; ok {
					t.Fatalf("tiles %q and %q overlap at (%d,%d)", other, title, x, y)
				}
				used[cell{x, y}] = title
			}
		}
	}

	charted := map[string]bool{}
	var alertCharts []string
	metricType := regexp.MustCompile(`metric\.type="([^"]+)"`)
	promName := regexp.MustCompile(`\blogging_googleapis_com:user_[A-Za-z0-9_]+`)
	var walk func(key string, v any)
	walk = func(key string, v any) {
		switch v := v.(type) {
		case map[string]any:
			if af, ok := v["alertChart"].(map[string]any); ok {
				alertCharts = append(alertCharts, af["name"].(string))
			}
			for k, x := range v {
				walk(k, x)
			}
		case []any:
			for _, x := range v {
				walk(key, x)
			}
		case string:
			switch key {
			case "filter":
				for _, m := range metricType.FindAllStringSubmatch(v, -1) {
					charted[m[1]] = true
				}
			case "prometheusQuery":
				found := promName.FindAllString(v, -1)
				if len(found) == 0 {
					t.Errorf("PromQL query %q charts no log-based metric", v)
				}
				for _, name := range found {
					charted["promql:"+name] = true
				}
			}
		}
	}
	for _, tile := range d.MosaicLayout.Tiles {
		walk("", tile.Widget)
	}

	defined := map[string]string{} // charted name → metric resource
	for res, name := range logMetrics {
		defined["logging.googleapis.com/user/"+name] = res
		prom := "logging_googleapis_com:user_" + regexp.MustCompile(`[^a-zA-Z0-9_]`).ReplaceAllString(name, "_")
		for _, suffix := range []string{"", "_sum", "_count", "_bucket"} {
			defined["promql:"+prom+suffix] = res
		}
	}
	onDashboard := map[string]bool{}
	for name := range charted {
		if res, ok := defined[name]; ok {
			onDashboard[res] = true
			continue
		}
		if _, ok := builtinMetrics[name]; !ok {
			t.Errorf("the dashboard charts %s, which is neither a log-based metric of this module nor an allow-listed built-in metric", name)
		}
	}
	for res := range logMetrics {
		if !onDashboard[res] {
			t.Errorf("google_logging_metric.%s is on no chart of the dashboard", res)
		}
	}
	for name := range builtinMetrics {
		if !charted[name] {
			t.Errorf("allow-listed built-in metric %s is charted nowhere; drop it from the list", name)
		}
	}
	slices.Sort(alertCharts)
	if !slices.Equal(alertCharts, alerts) {
		t.Errorf("the dashboard's alert charts show %v; want every alert policy of the module, %v", alertCharts, alerts)
	}
}

// dashboardContext returns an evaluation context for the dashboard: the
// variables' defaults (with a project id), Terraform's functions the
// dashboard uses, and the resources it refers to, each with the attributes
// the dashboard reads (a log-based metric's, subscription's or function's
// configured name; an alert policy's display name and a stand-in for its
// server-assigned name). It also returns the log-based metrics' names by
// resource name, and the alert policies' stand-in names, sorted.
func dashboardContext(t *testing.T, m *module) (*hcl.EvalContext, map[string]string, []string) {
	t.Helper()
	ctx := m.evalContext(t)
	vars := ctx.Variables["var"].AsValueMap()
	vars["project_id"] = cty.StringVal("test-project")
	ctx.Variables["var"] = cty.ObjectVal(vars)
	ctx.Functions = map[string]function.Function{
		"jsonencode": stdlib.JSONEncodeFunc,
		"join":       stdlib.JoinFunc,
		"concat":     stdlib.ConcatFunc,
		"floor":      stdlib.FloorFunc,
		"ceil":       stdlib.CeilFunc,
		"length":     stdlib.LengthFunc,
		// Terraform's replace: a pattern in slashes is a regular expression.
		"replace": function.New(&function.Spec{
			Params: []function.Parameter{{Name: "str", Type: cty.String}, {Name: "substr", Type: cty.String}, {Name: "replace", Type: cty.String}},
			Type:   function.StaticReturnType(cty.String),
			Impl: func(args []cty.Value, _ cty.Type) (cty.Value, error) {
				if p := args[1].AsString(); len(p) > 1 && strings.HasPrefix(p, "/") && strings.HasSuffix(p, "/") {
					return stdlib.RegexReplace(args[0], cty.StringVal(p[1:len(p)-1]), args[2])
				}
				return stdlib.Replace(args[0], args[1], args[2])
			},
		}),
	}
	named := func(typ string) map[string]cty.Value {
		out := map[string]cty.Value{}
		for _, b := range m.resources(typ) {
			attrs := map[string]cty.Value{}
			for _, a := range []string{"name", "display_name"} {
				if expr := attr(b.Body, a); expr != nil {
					// Left out when unknown (count, for_each): the dashboard
					// then fails to evaluate if it refers to it.
					if v, diags := expr.Value(ctx); !diags.HasErrors() && v.IsWhollyKnown() {
						attrs[a] = v
					}
				}
			}
			out[b.Labels[1]] = cty.ObjectVal(attrs)
		}
		return out
	}
	logMetrics := map[string]string{}
	for res, v := range named("google_logging_metric") {
		if !v.Type().HasAttribute("name") {
			t.Fatalf("google_logging_metric.%s's name does not evaluate with the defaults", res)
		}
		logMetrics[res] = v.GetAttr("name").AsString()
	}
	ctx.Variables["google_logging_metric"] = cty.ObjectVal(named("google_logging_metric"))
	ctx.Variables["google_pubsub_subscription"] = cty.ObjectVal(named("google_pubsub_subscription"))
	ctx.Variables["google_cloudfunctions2_function"] = cty.ObjectVal(named("google_cloudfunctions2_function"))
	alertPolicies := map[string]cty.Value{}
	var alerts []string
	for res, v := range named("google_monitoring_alert_policy") {
		name := "projects/test-project/alertPolicies/" + res
		alerts = append(alerts, name)
		alertPolicies[res] = cty.ObjectVal(map[string]cty.Value{"display_name": v.GetAttr("display_name"), "name": cty.StringVal(name)})
	}
	slices.Sort(alerts)
	ctx.Variables["google_monitoring_alert_policy"] = cty.ObjectVal(alertPolicies)
	// The locals again, now that functions and resources are known.
	for range 3 {
		values := map[string]cty.Value{}
		for name, expr := range m.locals() {
			v, diags := expr.Value(ctx)
			if diags.HasErrors() {
				v = cty.DynamicVal
			}
			values[name] = v
		}
		ctx.Variables["local"] = cty.ObjectVal(values)
	}
	return ctx, logMetrics, alerts
}
