package terraform_test

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/geminihooks/geminihooks/internal/geminisim"
	"github.com/geminihooks/geminihooks/internal/testenv"
	"github.com/geminihooks/geminihooks/pkg/blob"
	"github.com/geminihooks/geminihooks/pkg/event"
	"github.com/geminihooks/geminihooks/pkg/gemini"
	"github.com/geminihooks/geminihooks/pkg/idempotency"
	"github.com/geminihooks/geminihooks/pkg/logging"
	"github.com/geminihooks/geminihooks/pkg/materializer"
	"github.com/geminihooks/geminihooks/pkg/publish"
	"github.com/geminihooks/geminihooks/pkg/receiver"
	"github.com/geminihooks/geminihooks/pkg/registry"
	"github.com/geminihooks/geminihooks/pkg/signature"
)

// TestLogMetricsMatchTheLogLines runs the receiver and the materializer on
// in-memory backends and the simulator, through the outcomes the metrics
// count, and checks every log-based metric on their lines: its filter
// matches some line the function writes, and every field it extracts is on
// a matching line (a distribution's value a number on each).
func TestLogMetricsMatchTheLogLines(t *testing.T) {
	t.Parallel()
	m := loadModule(t)
	ctx, _, _ := dashboardContext(t, m)
	lines := map[string][]map[string]any{} // function resource name → lines
	fnName := func(res string) string {
		return ctx.Variables["google_cloudfunctions2_function"].GetAttr(res).GetAttr("name").AsString()
	}
	lines[fnName("receiver")] = receiverLines(t)
	lines[fnName("materializer")] = materializerLines(t)

	term := regexp.MustCompile(`^jsonPayload\.([a-z_]+)(:\*|=(.+))$`)
	extract := regexp.MustCompile(`^EXTRACT\(jsonPayload\.([a-z_]+)\)$`)
	checked := 0
	for _, b := range m.resources("google_logging_metric") {
		name := b.Labels[1]
		fv, diags := attr(b.Body, "filter").Value(ctx)
		if diags.HasErrors() || !fv.IsWhollyKnown() {
			t.Fatalf("google_logging_metric.%s: filter does not evaluate: %s", name, diags.Error())
		}
		var service string
		var conds []func(map[string]any) bool
		for part := range strings.SplitSeq(fv.AsString(), " AND ") {
			part = strings.TrimSpace(part)
			switch {
			case strings.HasPrefix(part, "resource.labels.service_name="):
				service, _ = strconv.Unquote(strings.TrimPrefix(part, "resource.labels.service_name="))
			case strings.HasPrefix(part, "resource.type="):
			case strings.HasPrefix(part, "severity="):
				want := strings.TrimPrefix(part, "severity=")
				conds = append(conds, func(l map[string]any) bool { return l["severity"] == want })
			default:
				mt := term.FindStringSubmatch(part)
				if mt == nil {
					t.Fatalf("google_logging_metric.%s: filter term %q is not one this test reads", name, part)
				}
				field, value := mt[1], mt[3]
				if mt[2] == ":*" {
					conds = append(conds, func(l map[string]any) bool { _, ok := l[field]; return ok })
					continue
				}
				if s, err := strconv.Unquote(value); err == nil {
					value = s
				}
				conds = append(conds, func(l map[string]any) bool { return fmt.Sprint(l[field]) == value })
			}
		}
		fnLines, ok := lines[service]
		if !ok {
			continue // the reconciler's: reconciler_test.go checks its messages
		}
		var matching []map[string]any
		for _, l := range fnLines {
			all := true
			for _, c := range conds {
				all = all && c(l)
			}
			if all {
				matching = append(matching, l)
			}
		}
		if len(matching) == 0 {
			t.Errorf("google_logging_metric.%s: its filter matches none of %s's lines", name, service)
			continue
		}
		checked++
		if ve := attr(b.Body, "value_extractor"); ve != nil {
			v, _ := ve.Value(ctx)
			mt := extract.FindStringSubmatch(v.AsString())
			if mt == nil {
				t.Fatalf("google_logging_metric.%s: value_extractor %q is not EXTRACT(jsonPayload.F)", name, v.AsString())
			}
			for _, l := range matching {
				if _, ok := l[mt[1]].(float64); !ok {
					t.Errorf("google_logging_metric.%s: a matching line's %s is %#v, not a number: %v", name, mt[1], l[mt[1]], l["message"])
				}
			}
		}
		if le := attr(b.Body, "label_extractors"); le != nil {
			v, _ := le.Value(ctx)
			for label, ex := range v.AsValueMap() {
				mt := extract.FindStringSubmatch(ex.AsString())
				if mt == nil {
					t.Fatalf("google_logging_metric.%s: label %s's extractor %q is not EXTRACT(jsonPayload.F)", name, label, ex.AsString())
				}
				found := false
				for _, l := range matching {
					_, has := l[mt[1]]
					found = found || has
				}
				if !found {
					t.Errorf("google_logging_metric.%s: label %s extracts %s, which no matching line carries", name, label, mt[1])
				}
			}
		}
	}
	if checked < 7 {
		t.Errorf("checked %d log-based metrics of the receiver and the materializer, want every one (at least 7)", checked)
	}
}

// receiverLines returns the lines of an accepted, a duplicate and a forged
// delivery.
func receiverLines(t *testing.T) []map[string]any {
	t.Helper()
	logs := &testenv.SyncBuffer{}
	raw, _ := signature.GenerateSecret()
	secret, _ := signature.ParseSecret("test", raw)
	v, err := signature.NewVerifier(signature.Options{Secrets: signature.StaticSecrets{secret}})
	if err != nil {
		t.Fatal(err)
	}
	ledger, _ := idempotency.NewMemory(idempotency.Options{})
	jobs, _ := registry.NewMemory(registry.Options{})
	h, err := receiver.New(v, ledger, &publish.Memory{}, jobs, logging.New(logs, slog.LevelInfo), receiver.Options{ProjectID: "p"})
	if err != nil {
		t.Fatal(err)
	}
	body := []byte(`{"type":"batch.succeeded","version":"v1","data":{"id":"batches/metrics-1"}}`)
	now := time.Now()
	for _, sig := range []string{signature.SignHMAC(secret, "msg_m", now, body), signature.SignHMAC(secret, "msg_m", now, body),
		"v1," + base64.StdEncoding.EncodeToString(make([]byte, 32))} {
		r := httptest.NewRequest(http.MethodPost, "/", bytes.NewReader(body))
		r.Header.Set("webhook-id", "msg_m")
		r.Header.Set("webhook-timestamp", strconv.FormatInt(now.Unix(), 10))
		r.Header.Set("webhook-signature", sig)
		h.ServeHTTP(httptest.NewRecorder(), r)
	}
	return jsonLines(t, logs.String())
}

// materializerLines returns the lines of a stored and a failed batch, and
// of a request that is not an event.
func materializerLines(t *testing.T) []map[string]any {
	t.Helper()
	sim, err := geminisim.New(geminisim.Options{APIKey: "metrics-key"})
	if err != nil {
		t.Fatal(err)
	}
	if err := sim.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = sim.Close() })
	api, err := gemini.New(t.Context(), gemini.Options{BaseURL: sim.URL(), APIKey: "metrics-key",
		DownloadHosts: []string{strings.TrimPrefix(sim.DownloadURL(), "http://")}})
	if err != nil {
		t.Fatal(err)
	}
	jobs, _ := registry.NewMemory(registry.Options{})
	logs := &testenv.SyncBuffer{}
	logger := logging.New(logs, slog.LevelInfo)
	mat, err := materializer.New(api, blob.NewMemory(), &publish.Memory{}, jobs, logger, materializer.Options{Bucket: "geminihooks-metrics-test"})
	if err != nil {
		t.Fatal(err)
	}
	h, err := materializer.NewHandler(mat, logger, materializer.HandlerOptions{ProjectID: "p"})
	if err != nil {
		t.Fatal(err)
	}
	push := func(data []byte) {
		b, _ := json.Marshal(map[string]any{"message": map[string]any{"data": base64.StdEncoding.EncodeToString(data), "messageId": "1"}})
		h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(http.MethodPost, "/", bytes.NewReader(b)))
	}
	for _, fail := range []bool{false, true} {
		name, err := sim.CreateBatch(geminisim.BatchSpec{Results: geminisim.ResultsFile{Size: 4 << 10}})
		if err != nil {
			t.Fatal(err)
		}
		var n event.Payload
		if fail {
			n, err = sim.FailBatch(name, geminisim.JobError{Code: 3, Message: "bad input"})
		} else {
			n, err = sim.CompleteBatch(name)
		}
		if err != nil {
			t.Fatal(err)
		}
		body, _ := json.Marshal(n)
		parsed, err := event.Parse(body)
		if err != nil {
			t.Fatal(err)
		}
		ev, err := event.Normalize(parsed, event.Meta{WebhookID: "msg_" + strconv.FormatBool(fail), Scheme: event.SchemeHMAC, ReceivedAt: time.Now()})
		if err != nil {
			t.Fatal(err)
		}
		data, _ := ev.MarshalJSON()
		push(data)
	}
	push([]byte(`{"not":"an event"}`))
	return jsonLines(t, logs.String())
}

func jsonLines(t *testing.T, s string) []map[string]any {
	t.Helper()
	var out []map[string]any
	for l := range strings.SplitSeq(strings.TrimSpace(s), "\n") {
		var m map[string]any
		if err := json.Unmarshal([]byte(l), &m); err != nil {
			t.Fatalf("log line is not JSON: %q", l)
		}
		out = append(out, m)
	}
	return out
}
