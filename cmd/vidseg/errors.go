package main

import (
	"errors"
	"fmt"
)

// Exit codes, documented in docs/cli.md and `vidseg help`.
const (
	exitOK          = 0
	exitFailure     = 1
	exitUsage       = 2
	exitInput       = 3
	exitModel       = 4
	exitInterrupted = 130
)

// errHelp ends a command that printed its help on request (exit 0).
var errHelp = errors.New("help requested")

// codedError carries the exit code an error maps to.
type codedError struct {
	code int
	err  error
}

func (e *codedError) Error() string { return e.err.Error() }
func (e *codedError) Unwrap() error { return e.err }

func withCode(code int, err error) error {
	if err == nil {
		return nil
	}
	return &codedError{code: code, err: err}
}

func usagef(format string, args ...any) error {
	return withCode(exitUsage, fmt.Errorf(format, args...))
}

func inputErr(err error) error { return withCode(exitInput, err) }

func modelErr(err error) error { return withCode(exitModel, err) }

// exitCode maps err to the process exit code: the outermost codedError
// wins, anything else is a runtime failure.
func exitCode(err error) int {
	var ce *codedError
	if errors.As(err, &ce) {
		return ce.code
	}
	return exitFailure
}
