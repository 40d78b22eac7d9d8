package terraform_test

import (
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/geminihooks/geminihooks/pkg/cli"
)

// invocation is one geminihooks command line found in a document.
type invocation struct {
	where string // file:line
	args  []string
}

// TestRunbookCommandsParse runs every geminihooks command line of the
// runbooks and of the tool's help examples through the tool's real flag
// parsing (cli.Env.ParseOnly): a flag that does not exist, a value of the
// wrong form or an unknown subcommand fails here rather than mid-incident.
// Shell variables and command substitutions stand for a plain value.
func TestRunbookCommandsParse(t *testing.T) {
	t.Parallel()
	m := loadModule(t)
	var all []invocation
	for _, doc := range runbooks {
		text, err := os.ReadFile(filepath.Join(m.dir, doc))
		if err != nil {
			t.Fatalf("failed to read %s: %v", doc, err)
		}
		all = append(all, markdownInvocations(doc, string(text))...)
	}
	helps, err := filepath.Glob(filepath.Join(m.dir, "..", "pkg", "cli", "help", "*.txt"))
	if err != nil || len(helps) == 0 {
		t.Fatalf("no help texts found (%v)", err)
	}
	for _, path := range helps {
		text, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		all = append(all, helpInvocations("pkg/cli/help/"+filepath.Base(path), string(text))...)
	}
	t.Logf("%d geminihooks command lines", len(all))
	if len(all) < 50 {
		t.Fatalf("found only %d geminihooks command lines; the extraction is broken", len(all))
	}
	noEnv := func(string) (string, bool) { return "", false }
	for _, inv := range all {
		var stderr strings.Builder
		if code := cli.Main(t.Context(), &cli.Env{Stdout: io.Discard, Stderr: &stderr, Lookup: noEnv, ParseOnly: true}, inv.args); code != cli.ExitOK {
			t.Errorf("%s: geminihooks %s\n\texit %d: %s", inv.where, strings.Join(inv.args, " "), code, strings.TrimSpace(stderr.String()))
		}
	}
}

// TestShellWords checks the small shell reader the runbook check relies on.
func TestShellWords(t *testing.T) {
	t.Parallel()
	tests := []struct {
		line string
		want [][]string
	}{
		{`geminihooks send batch.succeeded --url "$URL" --id "recover-${job##*/}"`, [][]string{{"send", "batch.succeeded", "--url", "VALUE", "--id", "recover-VALUE"}}},
		{`WEBHOOK_SIGNING_SECRETS=$(geminihooks keys hmac) geminihooks send ping --url x | jq .`, [][]string{{"keys", "hmac"}, {"send", "ping", "--url", "x"}}},
		{`  do geminihooks status 'a b' # a comment`, [][]string{{"status", "a b"}}},
		{`go run ./functions/cmd/geminihooks tail --topic t & geminihooks tail --topic r &`, [][]string{{"tail", "--topic", "t"}, {"tail", "--topic", "r"}}},
		{`terraform output -raw webhook_url && echo geminihooks`, nil},
	}
	for _, tt := range tests {
		got := commandLines(tt.line)
		if len(got) != len(tt.want) {
			t.Errorf("%q: got %q, want %q", tt.line, got, tt.want)
			continue
		}
		for i := range got {
			if strings.Join(got[i], "\x00") != strings.Join(tt.want[i], "\x00") {
				t.Errorf("%q: command %d = %q, want %q", tt.line, i, got[i], tt.want[i])
			}
		}
	}
}

// markdownInvocations reads the command lines of a Markdown document: every
// line of a sh code block, "$ " lines of other code blocks (the rest is
// output or a synopsis), and inline code spans that start with
// "geminihooks " and hold no synopsis notation.
func markdownInvocations(doc, text string) []invocation {
	var out []invocation
	lines := strings.Split(text, "\n")
	inBlock, shBlock := false, false
	span := regexp.MustCompile("`(geminihooks [^`]+)`")
	for i := 0; i < len(lines); i++ {
		line := lines[i]
		trimmed := strings.TrimSpace(line)
		if strings.HasPrefix(trimmed, "```") {
			if !inBlock {
				lang := strings.TrimPrefix(trimmed, "```")
				inBlock, shBlock = true, lang == "sh" || lang == "bash" || lang == "shell"
			} else {
				inBlock = false
			}
			continue
		}
		start := i
		if inBlock {
			cmd := trimmed
			if !shBlock {
				var ok bool
				if cmd, ok = strings.CutPrefix(trimmed, "$ "); !ok {
					continue
				}
			}
			for strings.HasSuffix(cmd, `\`) && i+1 < len(lines) {
				i++
				cmd = strings.TrimSuffix(cmd, `\`) + " " + strings.TrimSpace(lines[i])
			}
			for _, args := range commandLines(cmd) {
				out = append(out, invocation{where: doc + ":" + strconv.Itoa(start+1), args: args})
			}
			continue
		}
		for _, m := range span.FindAllStringSubmatch(line, -1) {
			if strings.ContainsAny(m[1], "[]<>|…") || strings.Contains(m[1], "...") {
				continue // a synopsis, not a command line
			}
			for _, args := range commandLines(m[1]) {
				if len(args) < 2 {
					continue // names a command in prose: "`geminihooks webhooks` manages …"
				}
				out = append(out, invocation{where: doc + ":" + strconv.Itoa(i+1), args: args})
			}
		}
	}
	return out
}

// helpInvocations reads the indented command lines under "Examples:" in a
// help text.
func helpInvocations(doc, text string) []invocation {
	_, examples, ok := strings.Cut(text, "\nExamples:\n")
	if !ok {
		return nil
	}
	offset := strings.Count(text, "\n") - strings.Count(examples, "\n")
	var out []invocation
	lines := strings.Split(examples, "\n")
	for i := 0; i < len(lines); i++ {
		start := i
		cmd := strings.TrimSpace(lines[i])
		if cmd == "" || strings.HasPrefix(cmd, "#") {
			continue
		}
		for strings.HasSuffix(cmd, `\`) && i+1 < len(lines) {
			i++
			cmd = strings.TrimSuffix(cmd, `\`) + " " + strings.TrimSpace(lines[i])
		}
		for _, args := range commandLines(cmd) {
			out = append(out, invocation{where: doc + ":" + strconv.Itoa(offset+start+1), args: args})
		}
	}
	return out
}

// commandLines returns the arguments of every geminihooks command in a
// shell line (its own and those in command substitutions), after the
// command name. It reads quotes, comments, the separators ; & && || |,
// leading assignments and keywords, and replaces variables and
// substitutions by the word VALUE.
func commandLines(line string) [][]string {
	var cmds [][]string
	var words []string
	var word strings.Builder
	inWord := false
	flushWord := func() {
		if inWord {
			words = append(words, word.String())
		}
		word.Reset()
		inWord = false
	}
	flushCmd := func() {
		flushWord()
		if args, ok := geminihooksArgs(words); ok {
			cmds = append(cmds, args)
		}
		words = nil
	}
	// substitution reads $(…) or ${…} from s[i:], returning its inside
	// and the index after it.
	substitution := func(s string, i int) (string, int) {
		open, closer := s[i+1], byte(')')
		if open == '{' {
			closer = '}'
		}
		depth := 0
		for j := i + 1; j < len(s); j++ {
			switch s[j] {
			case open:
				depth++
			case closer:
				depth--
				if depth == 0 {
					return s[i+2 : j], j + 1
				}
			}
		}
		return s[i+2:], len(s)
	}
	variable := regexp.MustCompile(`^\$[A-Za-z_][A-Za-z0-9_]*|^\$[0-9#?@*$!-]`)
	quote := byte(0)
	for i := 0; i < len(line); {
		c := line[i]
		switch {
		case quote == '\'':
			if c == '\'' {
				quote = 0
			} else {
				word.WriteByte(c)
			}
			i++
		case c == '$' && quote != '\'' && i+1 < len(line) && (line[i+1] == '(' || line[i+1] == '{'):
			inner, next := substitution(line, i)
			if line[i+1] == '(' {
				cmds = append(cmds, commandLines(inner)...)
			}
			word.WriteString("VALUE")
			inWord, i = true, next
		case c == '$' && variable.MatchString(line[i:]):
			word.WriteString("VALUE")
			inWord, i = true, i+len(variable.FindString(line[i:]))
		case quote == '"':
			if c == '"' {
				quote = 0
			} else {
				word.WriteByte(c)
			}
			i++
		case c == '\'' || c == '"':
			quote, inWord = c, true
			i++
		case c == ' ' || c == '\t':
			flushWord()
			i++
		case c == '#' && !inWord:
			i = len(line)
		case c == ';' || c == '&' || c == '|':
			flushCmd()
			for i < len(line) && (line[i] == '&' || line[i] == '|' || line[i] == ';') {
				i++
			}
		default:
			word.WriteByte(c)
			inWord = true
			i++
		}
	}
	flushCmd()
	return cmds
}

// assignment matches a leading VAR=value word.
var assignment = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*=`)

// geminihooksArgs returns the arguments of a simple command that runs the
// tool (geminihooks, or go run of its package), skipping assignments and
// shell keywords before it.
func geminihooksArgs(words []string) ([]string, bool) {
	for len(words) > 0 && (assignment.MatchString(words[0]) || words[0] == "do" || words[0] == "then" || words[0] == "else" || words[0] == "exec" || words[0] == "time") {
		words = words[1:]
	}
	switch {
	case len(words) > 0 && words[0] == "geminihooks":
		return words[1:], true
	case len(words) > 2 && words[0] == "go" && words[1] == "run" && strings.HasSuffix(words[2], "functions/cmd/geminihooks"):
		return words[3:], true
	}
	return nil, false
}
