package terraform_test

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// runbooks are the documents whose shell commands operators copy.
var runbooks = []string{"README.md", "../README.md", "../functions/cmd/geminihooks/README.md"}

// TestRunbookSecretFlagsTakeShortIDs checks the runbooks' gcloud secrets
// commands against the form of the module's secret outputs: they are full
// names (projects/P/secrets/S), and gcloud reads --secret= as a short id, so
// a full name there fails ("Failed to find attribute [project]") or doubles
// the path. A full name goes into the positional argument instead
// ("$SECRET/versions/latest").
func TestRunbookSecretFlagsTakeShortIDs(t *testing.T) {
	t.Parallel()
	m := loadModule(t)

	// Outputs that hold a secret's full name, and the shell variables the
	// runbooks set from them.
	secretID := regexp.MustCompile(`^google_secret_manager_secret\.\w+\.id$`)
	var fullOutputs []string
	for _, b := range m.blocks {
		if b.Type == "output" && len(b.Labels) == 1 && secretID.MatchString(strings.TrimSpace(m.text(attr(b.Body, "value")))) {
			fullOutputs = append(fullOutputs, b.Labels[0])
		}
	}
	if len(fullOutputs) == 0 {
		t.Fatal("no output holds a secret's id; the check would pass vacuously")
	}
	outputRef := `\$\(terraform output -raw (?:` + strings.Join(fullOutputs, "|") + `)\)`
	assign := regexp.MustCompile(`(?:export )?([A-Z_][A-Z0-9_]*)="?` + outputRef)

	secretFlag := regexp.MustCompile(`--secret[= ]("[^"]*"|\S+)`)
	checked := 0
	for _, doc := range runbooks {
		text, err := os.ReadFile(filepath.Join(m.dir, doc))
		if err != nil {
			t.Fatalf("failed to read %s: %v", doc, err)
		}
		full := []string{outputRef}
		for _, a := range assign.FindAllStringSubmatch(string(text), -1) {
			full = append(full, `\$\{?`+a[1]+`\b\}?`)
		}
		fullName := regexp.MustCompile(`projects/|` + strings.Join(full, "|"))
		for i, line := range strings.Split(string(text), "\n") {
			if !strings.Contains(line, "gcloud secrets") {
				continue
			}
			checked++
			for _, f := range secretFlag.FindAllStringSubmatch(line, -1) {
				if fullName.MatchString(f[1]) {
					t.Errorf("%s:%d: --secret=%s is a full secret name, which gcloud reads as a short id; pass \"<full name>/versions/V\" as the positional argument\n\t%s", doc, i+1, f[1], strings.TrimSpace(line))
				}
			}
		}
	}
	if checked == 0 {
		t.Fatal("no gcloud secrets command in the runbooks; the check would pass vacuously")
	}
}
