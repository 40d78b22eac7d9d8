// Package cli is the geminihooks command-line tool: it sends signed test
// webhooks, generates keys, verifies captured deliveries, manages Gemini
// webhooks, redrives dead letters, tails the topics, finds a job's results,
// pulls the receiver's captures into test fixtures, and submits or watches
// Gemini jobs, registering them in the job registry.
//
// Each subcommand lives in its own file, its long help in help/<name>.txt
// (embedded); the static commands table lists them and Main dispatches to
// them. Commands take everything they touch from Env (output streams,
// environment, HTTP client), so tests run them in-process exactly as the
// binary does. Variable names come from pkg/config.
package cli

import (
	"context"
	"embed"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"strings"
	"time"
)

// Exit codes returned by Main.
const (
	ExitOK       = 0 // success
	ExitFailure  = 1 // the operation ran and failed (delivery rejected, verification failed, …)
	ExitUsage    = 2 // bad command line
	ExitNotFound = 3 // the thing asked for does not exist
)

// Env is what a command may touch outside its arguments. Main builds it from
// the process; tests build it from buffers and a map.
type Env struct {
	Stdout, Stderr io.Writer
	Stdin          io.Reader
	Lookup         func(key string) (string, bool) // environment (os.LookupEnv in main; a map in tests)
	HTTPClient     *http.Client                    // nil = default
	// ParseOnly stops each command once its command line has parsed,
	// before it reads or changes anything: a documented invocation can
	// then be checked against the command's real flags (Main exits 0).
	ParseOnly bool
}

// Getenv returns the environment variable key, or "" when unset.
func (e *Env) Getenv(key string) string {
	if e == nil || e.Lookup == nil {
		return ""
	}
	v, _ := e.Lookup(key)
	return v
}

// HTTP returns the HTTP client commands use: Env.HTTPClient or http.DefaultClient.
func (e *Env) HTTP() *http.Client {
	if e != nil && e.HTTPClient != nil {
		return e.HTTPClient
	}
	return http.DefaultClient
}

// Command is one subcommand of the tool.
type Command struct {
	Name  string // "send"
	Usage string // "send <event-type> --url URL [flags]"
	Short string // one line for the command list
	Long  string // help text with examples, from help/<name>.txt
	Run   func(ctx context.Context, env *Env, c *Command, args []string) error
}

// ExitError is returned by a command to choose Main's exit code. Err is
// printed unless it is nil (the command already said what went wrong).
type ExitError struct {
	Code int
	Err  error
}

func (e *ExitError) Error() string {
	if e.Err == nil {
		return fmt.Sprintf("exit status %d", e.Code)
	}
	return e.Err.Error()
}

func (e *ExitError) Unwrap() error { return e.Err }

// ErrUsage marks a bad command line; Main exits with ExitUsage for any error
// wrapping it.
var ErrUsage = errors.New("usage error")

// ErrNotFound marks a missing resource; Main exits with ExitNotFound for any
// error wrapping it.
var ErrNotFound = errors.New("not found")

// errParsed ends a command run with Env.ParseOnly once its flags parsed.
var errParsed = errors.New("command line parsed")

// usageErrorf returns an error wrapping ErrUsage.
func usageErrorf(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrUsage, fmt.Sprintf(format, args...))
}

// commands are the tool's commands, sorted by name for the help.
var commands = []*Command{capturesCmd, keysCmd, listenCmd, redriveCmd, sendCmd, statusCmd, submitCmd, tailCmd, verifyCmd, watchCmd, webhooksCmd}

// lookup returns the command name, or nil.
func lookup(name string) *Command {
	for _, c := range commands {
		if c.Name == name {
			return c
		}
	}
	return nil
}

//go:embed help/*.txt
var helpFiles embed.FS

// helpText returns the long help in help/<name>.txt, with each placeholder
// of oldnew (pairs of placeholder and value) filled in.
func helpText(name string, oldnew ...string) string {
	b, err := helpFiles.ReadFile("help/" + name + ".txt")
	if err != nil {
		panic("cli: no help for " + name) // the files are embedded at build time
	}
	return strings.NewReplacer(oldnew...).Replace(string(b))
}

// Main runs the command named by args[0] and returns the process exit code:
// 0 ok, 1 failure, 2 usage error, 3 not found.
func Main(ctx context.Context, env *Env, args []string) int {
	e := Env{}
	if env != nil {
		e = *env
	}
	if e.Stdout == nil {
		e.Stdout = io.Discard
	}
	if e.Stderr == nil {
		e.Stderr = io.Discard
	}
	env = &e
	if len(args) == 0 {
		printTopUsage(env.Stderr)
		return ExitUsage
	}
	name := args[0]
	switch name {
	case "-h", "-help", "--help", "help":
		if name == "help" && len(args) > 1 {
			if c := lookup(args[1]); c != nil {
				printCommandHelp(env.Stdout, c)
				return ExitOK
			}
			fmt.Fprintf(env.Stderr, "geminihooks: unknown command %q\n\n", args[1])
			printTopUsage(env.Stderr)
			return ExitUsage
		}
		printTopUsage(env.Stdout)
		return ExitOK
	}
	c := lookup(name)
	if c == nil {
		fmt.Fprintf(env.Stderr, "geminihooks: unknown command %q\n\n", name)
		printTopUsage(env.Stderr)
		return ExitUsage
	}
	err := c.Run(ctx, env, c, args[1:])
	if err == nil {
		return ExitOK
	}
	if errors.Is(err, flag.ErrHelp) || errors.Is(err, errParsed) {
		// The FlagSet's usage function already printed the help.
		return ExitOK
	}
	code := ExitFailure
	var ee *ExitError
	switch {
	case errors.As(err, &ee):
		code = ee.Code
		if ee.Err == nil {
			return code
		}
	case errors.Is(err, ErrUsage):
		code = ExitUsage
	case errors.Is(err, ErrNotFound):
		code = ExitNotFound
	}
	fmt.Fprintf(env.Stderr, "geminihooks %s: %v\n", c.Name, err)
	if code == ExitUsage {
		fmt.Fprintf(env.Stderr, "usage: geminihooks %s\nRun 'geminihooks %s --help' for details.\n", c.Usage, c.Name)
	}
	return code
}

func printTopUsage(w io.Writer) {
	fmt.Fprint(w, "geminihooks: operate Gemini API webhooks on Google Cloud.\n\nUsage:\n  geminihooks <command> [flags]\n\nCommands:\n")
	width := 0
	for _, c := range commands {
		width = max(width, len(c.Name))
	}
	for _, c := range commands {
		fmt.Fprintf(w, "  %-*s  %s\n", width, c.Name, c.Short)
	}
	fmt.Fprint(w, "\nRun 'geminihooks <command> --help' for a command's flags and examples.\n",
		"Exit codes: 0 ok, 1 failure, 2 usage error, 3 not found.\n")
}

func printCommandHelp(w io.Writer, c *Command) {
	fmt.Fprintf(w, "usage: geminihooks %s\n\n%s\n", c.Usage, c.Short)
	if c.Long != "" {
		fmt.Fprintf(w, "\n%s\n", strings.TrimRight(c.Long, "\n"))
	}
}

// newFlagSet returns a silent FlagSet for c, to be parsed with parseFlags.
func newFlagSet(env *Env, c *Command) *flag.FlagSet {
	fs := flag.NewFlagSet(c.Name, flag.ContinueOnError)
	fs.SetOutput(env.Stderr)
	// parseFlags prints the help itself on --help, and Main a short pointer
	// to it after a parse error, so the FlagSet prints nothing.
	fs.Usage = func() {}
	return fs
}

// parseFlags parses args with fs, printing the full help on --help (then
// returning flag.ErrHelp) and wrapping other errors in ErrUsage. Flags and
// positional arguments may be interleaved: "send batch.succeeded --url U"
// works as well as "send --url U batch.succeeded".
func parseFlags(env *Env, c *Command, fs *flag.FlagSet, args []string) ([]string, error) {
	var positional []string
	for {
		fs.SetOutput(io.Discard)
		err := fs.Parse(args)
		fs.SetOutput(env.Stderr)
		if errors.Is(err, flag.ErrHelp) {
			printCommandHelp(env.Stdout, c)
			hasFlags := false
			fs.VisitAll(func(*flag.Flag) { hasFlags = true })
			if !hasFlags {
				fmt.Fprintln(env.Stdout, "\nFlags: none")
				return nil, flag.ErrHelp
			}
			fmt.Fprintln(env.Stdout, "\nFlags:")
			fs.SetOutput(env.Stdout)
			fs.PrintDefaults()
			fs.SetOutput(env.Stderr)
			return nil, flag.ErrHelp
		}
		if err != nil {
			return nil, fmt.Errorf("%w: %w", ErrUsage, explainFlagError(fs, err))
		}
		rest := fs.Args()
		if len(rest) == 0 {
			return parsed(env, positional)
		}
		if consumed := len(args) - len(rest); consumed > 0 && args[consumed-1] == "--" {
			// After the terminator everything is positional.
			return parsed(env, append(positional, rest...))
		}
		positional = append(positional, rest[0])
		args = rest[1:]
	}
}

// parsed returns the positional arguments of a command line that parsed, or
// errParsed when only parsing was asked for.
func parsed(env *Env, positional []string) ([]string, error) {
	if env.ParseOnly {
		return nil, errParsed
	}
	return positional, nil
}

// Parts of the flag package's error messages, which explainFlagError
// rewrites: they name neither the expected form nor the flag meant.
var (
	flagValueError = regexp.MustCompile(`^invalid value "(.*)" for flag -([\w-]+): `)
	flagUndefined  = regexp.MustCompile(`^flag provided but not defined: -+([\w-]+)$`)
)

// explainFlagError says what a flag's value should look like, and which
// flag an unknown one may have meant.
func explainFlagError(fs *flag.FlagSet, err error) error {
	if m := flagValueError.FindStringSubmatch(err.Error()); m != nil {
		if f := fs.Lookup(m[2]); f != nil {
			if g, ok := f.Value.(flag.Getter); ok {
				if _, isDuration := g.Get().(time.Duration); isDuration {
					return fmt.Errorf("--%s %q: want a Go duration with its unit, such as 10s, -10m or 1h30m", m[2], m[1])
				}
			}
		}
		return err
	}
	if m := flagUndefined.FindStringSubmatch(err.Error()); m != nil {
		if near := nearestFlag(fs, m[1]); near != "" {
			return fmt.Errorf("unknown flag --%s; did you mean --%s?", m[1], near)
		}
		return fmt.Errorf("unknown flag --%s", m[1])
	}
	return err
}

// nearestFlag returns the flag of fs whose name is one edit (a letter
// changed, added, dropped or two swapped) from name, such as --uri for
// --url, or "".
func nearestFlag(fs *flag.FlagSet, name string) string {
	near := ""
	fs.VisitAll(func(f *flag.Flag) {
		if near == "" && oneEdit(f.Name, name) {
			near = f.Name
		}
	})
	return near
}

// oneEdit reports whether a and b differ by exactly one edit.
func oneEdit(a, b string) bool {
	if a == b {
		return false
	}
	if len(a) > len(b) {
		a, b = b, a
	}
	if len(b)-len(a) > 1 {
		return false
	}
	i := 0
	for i < len(a) && a[i] == b[i] {
		i++
	}
	if len(a) == len(b) {
		if a[i+1:] == b[i+1:] {
			return true // one changed
		}
		return i+1 < len(a) && a[i] == b[i+1] && a[i+1] == b[i] && a[i+2:] == b[i+2:] // two swapped
	}
	return a[i:] == b[i+1:] // one added
}
