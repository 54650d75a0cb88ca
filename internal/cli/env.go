// Package cli is the command-line plumbing of vidseg: settings from
// flags, environment and config file, flag parsing with help texts, exit
// codes and progress output.
package cli

import (
	"encoding/json"
	"io"
)

// Env bundles what a command may touch of the outside world, so tests and
// main share one entry point.
type Env struct {
	Stdout, Stderr io.Writer
	Getenv         func(string) string
}

// ExitCodesHelp lists the exit codes, for help texts.
const ExitCodesHelp = `Exit codes:
  0  success
  1  runtime failure (decoding, inference, writing outputs, a failed doctor check)
  2  usage error (unknown command or flag, bad prompt syntax, bad config file)
  3  input not found or unreadable (video, mask, prediction or ground-truth folder)
  4  model missing or invalid (no model directory, bad manifest or checksum)
  130 interrupted (Ctrl-C or SIGTERM)`

// WriteJSON writes v to w as indented JSON (the commands' --json output).
func WriteJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}
