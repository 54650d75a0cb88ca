package cli

import (
	"errors"
	"fmt"
)

// Exit codes, documented in docs/cli.md and `vidseg help`.
const (
	ExitOK          = 0
	ExitFailure     = 1
	ExitUsage       = 2
	ExitInput       = 3
	ExitModel       = 4
	ExitInterrupted = 130
)

// ErrHelp ends a command that printed its help on request (exit 0).
var ErrHelp = errors.New("help requested")

// codedError carries the exit code an error maps to.
type codedError struct {
	code int
	err  error
}

func (e *codedError) Error() string { return e.err.Error() }
func (e *codedError) Unwrap() error { return e.err }

// WithCode marks err to end the process with code.
func WithCode(code int, err error) error {
	if err == nil {
		return nil
	}
	return &codedError{code: code, err: err}
}

// Usagef is a usage error (exit 2).
func Usagef(format string, args ...any) error {
	return WithCode(ExitUsage, fmt.Errorf(format, args...))
}

// InputErr marks an input that is missing or unreadable (exit 3).
func InputErr(err error) error { return WithCode(ExitInput, err) }

// ModelErr marks a missing or invalid model (exit 4).
func ModelErr(err error) error { return WithCode(ExitModel, err) }

// ExitCode maps err to the process exit code: the outermost codedError
// wins, anything else is a runtime failure.
func ExitCode(err error) int {
	var ce *codedError
	if errors.As(err, &ce) {
		return ce.code
	}
	return ExitFailure
}
