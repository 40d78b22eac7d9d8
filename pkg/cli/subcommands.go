package cli

import (
	"context"
	"flag"
	"fmt"
	"slices"
	"strings"
)

// subList lists the subcommands of parent for its help, one a line, the
// short names padded to width.
func subList(parent string, subs []*Command, width int) string {
	var sb strings.Builder
	for _, s := range subs {
		fmt.Fprintf(&sb, "  %-*s%s\n", width, strings.TrimPrefix(s.Name, parent+" ")+" ", s.Short)
	}
	return sb.String()
}

// dispatch runs the subcommand of c that args[0] names, prints c's help
// for a help flag, and otherwise says which subcommands there are.
func dispatch(ctx context.Context, env *Env, c *Command, subs []*Command, args []string) error {
	if len(args) > 0 {
		for _, s := range subs {
			if s.Name == c.Name+" "+args[0] {
				return s.Run(ctx, env, s, args[1:])
			}
		}
	}
	if len(args) > 0 && slices.Contains([]string{"-h", "-help", "--help", "help"}, args[0]) {
		fmt.Fprintf(env.Stdout, "usage: geminihooks %s\n\n%s\n\n%s", c.Usage, c.Short, c.Long)
		return flag.ErrHelp
	}
	names := make([]string, len(subs))
	for i, s := range subs {
		names[i] = strings.TrimPrefix(s.Name, c.Name+" ")
	}
	want := strings.Join(names[:len(names)-1], ", ") + " or " + names[len(names)-1]
	switch {
	case len(args) == 0:
		return usageErrorf("missing subcommand: %s", want)
	case strings.HasPrefix(args[0], "-"):
		return usageErrorf("flag %s before the subcommand: want %s first", args[0], want)
	default:
		return usageErrorf("unknown subcommand %q: want %s", args[0], want)
	}
}
