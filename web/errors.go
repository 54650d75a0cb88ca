package web

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"

	"github.com/vidseg/vidseg/decode"
	"github.com/vidseg/vidseg/prompt"
	"github.com/vidseg/vidseg/session"
	"github.com/vidseg/vidseg/source"
	"github.com/vidseg/vidseg/stream"
	"github.com/vidseg/vidseg/tracker"
)

// statusError carries its HTTP status.
type statusError struct {
	status int
	err    error
}

func (e *statusError) Error() string { return e.err.Error() }
func (e *statusError) Unwrap() error { return e.err }

// statusOf maps the errors of the session, source, decode and tracker
// packages to HTTP statuses.
func statusOf(err error) int {
	var se *statusError
	switch {
	case errors.Is(err, source.ErrNotAllowed), errors.Is(err, source.ErrPrivateAddr):
		return http.StatusForbidden
	case errors.As(err, &se):
		return se.status
	case errors.Is(err, session.ErrTooMany):
		return http.StatusTooManyRequests
	case errors.Is(err, session.ErrConflict):
		return http.StatusConflict
	case errors.Is(err, session.ErrNotFound), errors.Is(err, tracker.ErrUnknownObject), errors.Is(err, decode.ErrNotFound):
		return http.StatusNotFound
	case errors.Is(err, session.ErrInvalid), errors.Is(err, prompt.ErrInvalid), errors.Is(err, tracker.ErrPromptOutside), errors.Is(err, tracker.ErrEmptyPrompt),
		errors.Is(err, decode.ErrNotVideo), errors.Is(err, decode.ErrUnsupportedCodec), errors.Is(err, decode.ErrCorrupt),
		errors.Is(err, decode.ErrTruncated):
		return http.StatusBadRequest
	case errors.Is(err, decode.ErrUnreachable):
		return http.StatusBadGateway
	case errors.Is(err, session.ErrNotReady), errors.Is(err, tracker.ErrFrameNotCached), errors.Is(err, session.ErrNoModel):
		return http.StatusConflict
	case errors.Is(err, session.ErrEnded):
		return http.StatusGone
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, context.Canceled):
		return http.StatusServiceUnavailable
	}
	return stream.StatusOf(err)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func writeError(w http.ResponseWriter, status int, err error) {
	stream.WriteError(w, status, err)
}

func humanBytes(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}
