package geminihooks_test

import (
	"os/exec"
	"slices"
	"strings"
	"testing"
)

const module = "github.com/geminihooks/geminihooks"

// testOnly are the packages that exist for tests, benchmarks and the local
// runner: the Gemini API simulator, the emulator helpers and the discarding
// Cloud Storage stand-in.
var testOnly = []string{
	module + "/internal/geminisim",
	module + "/internal/testenv",
	module + "/internal/gcsdiscard",
}

// TestShippedCode_linksNoTestCode: neither the deployed functions (the root
// package the buildpack compiles, and each function) nor the operator tool
// depend on a test-only package.
func TestShippedCode_linksNoTestCode(t *testing.T) {
	t.Parallel()
	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Fatalf("go is not on PATH: %v", err)
	}
	shipped := []string{".", "./functions/receiver", "./functions/materializer", "./functions/reconciler", "./functions/cmd/geminihooks"}
	args := append([]string{"list", "-f", "{{.ImportPath}} {{join .Deps \" \"}}"}, shipped...)
	out, err := exec.CommandContext(t.Context(), goBin, args...).Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	if len(lines) != len(shipped) {
		t.Fatalf("go list listed %d packages, want %d:\n%s", len(lines), len(shipped), out)
	}
	for _, line := range lines {
		deps := strings.Fields(line)
		for _, dep := range deps[1:] {
			if slices.Contains(testOnly, dep) {
				t.Errorf("%s depends on the test-only package %s", deps[0], dep)
			}
		}
	}
}

// TestExamples_importOnlyPublicPackages: the examples are what consumers
// copy, so of this module they may use only pkg/* (whose own dependencies
// are checked above to include no test-only package).
func TestExamples_importOnlyPublicPackages(t *testing.T) {
	t.Parallel()
	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Fatalf("go is not on PATH: %v", err)
	}
	out, err := exec.CommandContext(t.Context(), goBin, "list", "-f", "{{.ImportPath}} {{join .Deps \" \"}}", "./examples/...").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	if len(lines) == 0 || lines[0] == "" {
		t.Fatal("go list found no examples; the check would pass vacuously")
	}
	for _, line := range lines {
		deps := strings.Fields(line)
		for _, dep := range deps[1:] {
			if strings.HasPrefix(dep, module+"/") && !strings.HasPrefix(dep, module+"/pkg/") {
				t.Errorf("%s depends on %s; examples may use only %s/pkg/...", deps[0], dep, module)
			}
		}
	}
}
