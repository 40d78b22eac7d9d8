package cli

import (
	"slices"
	"strings"
	"testing"
)

// TestCommandTables checks that every command and webhooks subcommand is
// listed once, with its help, and that the command list is sorted for the
// help.
func TestCommandTables(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name   string
		cmds   []*Command
		sorted bool
	}{
		{name: "commands", cmds: commands, sorted: true},
		{name: "webhooks_subcommands", cmds: webhooksSubs},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			seen := map[string]bool{}
			for _, c := range tc.cmds {
				if c.Name == "" || c.Usage == "" || c.Short == "" || c.Run == nil || strings.TrimSpace(c.Long) == "" {
					t.Errorf("command %q lacks a name, usage, summary, help or Run", c.Name)
				}
				if strings.Contains(c.Long, "{{") {
					t.Errorf("command %q: help has an unfilled placeholder", c.Name)
				}
				if seen[c.Name] {
					t.Errorf("command %q is listed twice", c.Name)
				}
				seen[c.Name] = true
			}
			if tc.sorted && !slices.IsSortedFunc(tc.cmds, func(a, b *Command) int { return strings.Compare(a.Name, b.Name) }) {
				t.Error("commands are not sorted by name")
			}
		})
	}
}
