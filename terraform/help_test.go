package terraform_test

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// TestRedriveHelpNamesModuleResources checks that the resource names in
// `geminihooks redrive --help` are the ones this module creates (with the
// default name_prefix): an operator copies them mid-incident.
func TestRedriveHelpNamesModuleResources(t *testing.T) {
	t.Parallel()
	m := loadModule(t)
	ctx := m.evalContext(t)
	name := func(typ, res string) string {
		t.Helper()
		b := m.resource(typ, res)
		if b == nil {
			t.Fatalf("resource %s.%s not found", typ, res)
		}
		v, diags := attr(b.Body, "name").Value(ctx)
		if diags.HasErrors() || !v.IsWhollyKnown() {
			t.Fatalf("%s.%s: name cannot be evaluated: %s", typ, res, diags.Error())
		}
		return v.AsString()
	}
	want := map[string]string{
		"--from": name("google_pubsub_subscription", "dead_letter"),
		"--to":   name("google_pubsub_topic", "events"),
	}

	help, err := os.ReadFile(filepath.Join(m.dir, "..", "pkg", "cli", "help", "redrive.txt"))
	if err != nil {
		t.Fatalf("failed to read the redrive help: %v", err)
	}
	flag := regexp.MustCompile(`(--from|--to) (\S+)`)
	checked := 0
	for _, line := range strings.Split(string(help), "\n") {
		if !strings.Contains(line, "geminihooks redrive ") {
			continue
		}
		for _, f := range flag.FindAllStringSubmatch(line, -1) {
			got := f[2]
			// A full resource name ends in the short id.
			if i := strings.LastIndex(got, "/"); i >= 0 {
				got = got[i+1:]
			}
			if got != want[f[1]] {
				t.Errorf("redrive help: %s %s, but the module creates %q\n\t%s", f[1], f[2], want[f[1]], strings.TrimSpace(line))
			}
			checked++
		}
	}
	if checked == 0 {
		t.Fatal("no --from/--to in the redrive help examples")
	}
}
