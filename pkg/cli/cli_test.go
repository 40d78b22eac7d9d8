package cli_test

import (
	"strings"
	"testing"

	"github.com/geminihooks/geminihooks/pkg/cli"
)

// listedCommands returns the command names the top-level help lists.
func listedCommands(t *testing.T, help string) []string {
	t.Helper()
	_, list, ok := strings.Cut(help, "Commands:\n")
	if !ok {
		t.Fatalf("help has no command list:\n%s", help)
	}
	list, _, _ = strings.Cut(list, "\n\n")
	var names []string
	for _, line := range strings.Split(list, "\n") {
		if f := strings.Fields(line); len(f) > 0 {
			names = append(names, f[0])
		}
	}
	return names
}

func TestMainUsage(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name       string
		args       []string
		wantCode   int
		wantStdout string
		wantStderr string
	}{
		{"no_arguments", nil, 2, "", "Commands:"},
		{"unknown_command", []string{"frobnicate"}, 2, "", `unknown command "frobnicate"`},
		{"help_flag", []string{"--help"}, 0, "Commands:", ""},
		{"help_command", []string{"help"}, 0, "Commands:", ""},
		{"help_for_command", []string{"help", "status"}, 0, "usage: geminihooks status", ""},
		{"help_for_unknown_command", []string{"help", "frobnicate"}, 2, "", `unknown command "frobnicate"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r := runCLI(t, nil, tt.args...)
			if r.code != tt.wantCode {
				t.Errorf("exit code %d, want %d", r.code, tt.wantCode)
			}
			if !strings.Contains(r.stdout, tt.wantStdout) || !strings.Contains(r.stderr, tt.wantStderr) {
				t.Errorf("stdout lacks %q or stderr lacks %q", tt.wantStdout, tt.wantStderr)
			}
		})
	}
	t.Run("unknown_command_lists_commands", func(t *testing.T) {
		t.Parallel()
		r := runCLI(t, nil, "frobnicate")
		got := listedCommands(t, r.stderr)
		for _, want := range []string{"keys", "redrive", "send", "status", "tail", "verify"} {
			if !strings.Contains(" "+strings.Join(got, " ")+" ", " "+want+" ") {
				t.Errorf("command list %q lacks %s", got, want)
			}
		}
	})
}

func TestEveryCommandHasHelpWithExamples(t *testing.T) {
	t.Parallel()
	top := runCLI(t, nil, "--help")
	for _, name := range listedCommands(t, top.stdout) {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			for _, flag := range []string{"--help", "-h"} {
				r := runCLI(t, nil, name, flag)
				if r.code != 0 {
					t.Errorf("%s %s: exit code %d, want 0", name, flag, r.code)
				}
				for _, want := range []string{"usage: geminihooks " + name, "Examples:", "geminihooks " + name + " "} {
					if !strings.Contains(r.stdout, want) {
						t.Errorf("%s %s: help lacks %q", name, flag, want)
					}
				}
			}
		})
	}
}

func TestExitErrorUnwraps(t *testing.T) {
	t.Parallel()
	inner := cli.ErrNotFound
	err := &cli.ExitError{Code: 3, Err: inner}
	if err.Error() != inner.Error() || err.Unwrap() != inner {
		t.Errorf("ExitError hides its cause: %q", err.Error())
	}
	if got := (&cli.ExitError{Code: 1}).Error(); got != "exit status 1" {
		t.Errorf("ExitError without cause says %q", got)
	}
}
