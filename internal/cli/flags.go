package cli

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"regexp"
	"strconv"
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
	f.printFlags(w)
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
			return nil, Usagef("%s: %s (run `vidseg %s --help`)", f.Name(), f.explain(err), f.Name())
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

// Dashed is a flag's name as the docs write it: --name, or -v for a
// one-letter flag.
func Dashed(name string) string {
	if len(name) == 1 {
		return "-" + name
	}
	return "--" + name
}

// Go's flag errors name flags with one dash ("-poitn"); these patterns
// find the name so that it can be written as the docs write it.
var flagErrorName = regexp.MustCompile(`^(flag provided but not defined: |flag needs an argument: |invalid (?:boolean )?value "(?:[^"\\]|\\.)*" for (?:flag )?)-([^\s:]+)(.*)$`)

// explain rewrites a flag error with "--" names and, for an unknown
// flag, the closest known one.
func (f *Flags) explain(err error) string {
	msg := err.Error()
	m := flagErrorName.FindStringSubmatch(msg)
	if m == nil {
		return msg
	}
	name := m[2]
	msg = m[1] + Dashed(name) + m[3]
	if strings.HasPrefix(m[1], "flag provided but not defined") {
		var names []string
		f.VisitAll(func(fl *flag.Flag) { names = append(names, fl.Name) })
		if c := Suggest(name, names); c != "" {
			msg += " (did you mean " + Dashed(c) + "?)"
		}
	}
	return msg
}

// printFlags lists the flags as flag.PrintDefaults does, with the "--"
// names the docs use.
func (f *Flags) printFlags(w io.Writer) {
	f.VisitAll(func(fl *flag.Flag) {
		var b strings.Builder
		fmt.Fprintf(&b, "  %s", Dashed(fl.Name))
		placeholder, usage := flag.UnquoteUsage(fl)
		if placeholder != "" {
			b.WriteString(" " + placeholder)
		}
		if b.Len() <= 4 { // "  -v": the usage fits on the same line
			b.WriteString("\t")
		} else {
			b.WriteString("\n    \t")
		}
		b.WriteString(strings.ReplaceAll(usage, "\n", "\n    \t"))
		if d := fl.DefValue; d != "" && d != "false" && d != "0" {
			if g, ok := fl.Value.(flag.Getter); ok {
				if _, isString := g.Get().(string); isString {
					d = strconv.Quote(d)
				}
			}
			fmt.Fprintf(&b, " (default %s)", d)
		}
		fmt.Fprintln(w, b.String())
	})
}
