package cli

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
)

// Flags is a command's flag set plus the help text around it.
type Flags struct {
	*flag.FlagSet
	usage    string // "vidseg track INPUT [flags]"
	about    string // what the command does
	examples string
	env      *Env
}

// NewFlags returns the flag set of command name; usage, about and
// examples make its help text.
func NewFlags(e *Env, name, usage, about, examples string) *Flags {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(io.Discard) // errors are reported once, by run
	return &Flags{FlagSet: fs, usage: usage, about: about, examples: examples, env: e}
}

func (f *Flags) printHelp(w io.Writer) {
	fmt.Fprintf(w, "Usage:\n  %s\n\n%s\n", f.usage, strings.TrimSpace(f.about))
	fmt.Fprintf(w, "\nFlags:\n")
	f.SetOutput(w)
	f.PrintDefaults()
	f.SetOutput(io.Discard)
	if f.examples != "" {
		fmt.Fprintf(w, "\nExamples:\n%s\n", strings.TrimRight(f.examples, "\n"))
	}
	fmt.Fprintf(w, "\n%s\n", ExitCodesHelp)
}

// ParseArgs parses args, allowing flags and positional arguments in any
// order ("--" ends the flags). It prints help and returns ErrHelp on
// -h/--help, and turns flag errors into usage errors.
func (f *Flags) ParseArgs(args []string) ([]string, error) {
	var pos []string
	for {
		err := f.Parse(args)
		if errors.Is(err, flag.ErrHelp) {
			f.printHelp(f.env.Stdout)
			return nil, ErrHelp
		}
		if err != nil {
			return nil, Usagef("%s: %v (run `vidseg %s --help`)", f.Name(), err, f.Name())
		}
		rest := f.Args()
		if len(rest) == 0 {
			return pos, nil
		}
		if consumed := args[:len(args)-len(rest)]; len(consumed) > 0 && consumed[len(consumed)-1] == "--" {
			return append(pos, rest...), nil
		}
		pos = append(pos, rest[0])
		args = rest[1:]
	}
}

// List collects every use of a repeatable flag.
type List []string

func (l *List) String() string     { return strings.Join(*l, " ") }
func (l *List) Set(s string) error { *l = append(*l, s); return nil }
