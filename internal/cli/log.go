package cli

import (
	"io"
	"log/slog"
)

// NewLogger logs warnings and errors to w, and with verbose (-v) what the
// model, tracker and sessions do as well.
func NewLogger(w io.Writer, verbose bool) *slog.Logger {
	level := slog.LevelWarn
	if verbose {
		level = slog.LevelInfo
	}
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: level}))
}
