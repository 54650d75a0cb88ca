package stream

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"
)

// maxOfferBytes bounds an SDP offer; real ones are a few kilobytes.
const maxOfferBytes = 64 << 10

// WHEP serves a Broadcaster to WHEP players (draft-ietf-wish-whep):
// POST with an application/sdp offer answers 201 Created, the SDP answer and
// a Location naming the viewer resource; DELETE on that resource ends it.
// Mount it on a prefix with http.StripPrefix; Location is built from the
// request path as the client sent it.
type WHEP struct {
	B *Broadcaster
	// Timeout bounds ICE gathering for one offer (default 10 s).
	Timeout time.Duration
}

func (h WHEP) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	// No CORS headers here: whoever mounts the handler decides which
	// origins may call it (web.Config.AllowOrigins).
	switch r.Method {
	case http.MethodOptions:
		w.WriteHeader(http.StatusNoContent)
	case http.MethodPost:
		h.post(w, r)
	case http.MethodDelete:
		id := strings.Trim(r.URL.Path, "/")
		if i := strings.LastIndexByte(id, '/'); i >= 0 {
			id = id[i+1:]
		}
		if id == "" {
			WriteError(w, http.StatusBadRequest, errors.New("DELETE needs the viewer resource from Location"))
			return
		}
		if err := h.B.RemoveViewer(id); err != nil {
			WriteError(w, StatusOf(err), err)
			return
		}
		w.WriteHeader(http.StatusOK)
	default:
		w.Header().Set("Allow", "POST, DELETE, OPTIONS")
		WriteError(w, http.StatusMethodNotAllowed, fmt.Errorf("method %s not allowed on a WHEP endpoint", r.Method))
	}
}

func (h WHEP) post(w http.ResponseWriter, r *http.Request) {
	if ct := r.Header.Get("Content-Type"); ct != "" && !strings.HasPrefix(ct, "application/sdp") {
		WriteError(w, http.StatusUnsupportedMediaType, fmt.Errorf("content type %q: want application/sdp", ct))
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxOfferBytes))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			WriteError(w, http.StatusRequestEntityTooLarge, fmt.Errorf("SDP offer larger than %d bytes", maxOfferBytes))
			return
		}
		WriteError(w, http.StatusBadRequest, fmt.Errorf("read SDP offer: %w", err))
		return
	}
	timeout := h.Timeout
	if timeout <= 0 {
		timeout = 10 * time.Second
	}
	ctx, cancel := context.WithTimeout(r.Context(), timeout)
	defer cancel()
	id, answer, err := h.B.AddViewer(ctx, string(body))
	if err != nil {
		WriteError(w, StatusOf(err), err)
		return
	}
	base := r.URL.Path
	if r.RequestURI != "" {
		base, _, _ = strings.Cut(r.RequestURI, "?")
	}
	w.Header().Set("Location", strings.TrimSuffix(base, "/")+"/"+id)
	w.Header().Set("Content-Type", "application/sdp")
	w.WriteHeader(http.StatusCreated)
	_, _ = io.WriteString(w, answer)
}

// StatusOf maps this package's errors to HTTP status codes.
func StatusOf(err error) int {
	switch {
	case errors.Is(err, ErrBadOffer):
		return http.StatusBadRequest
	case errors.Is(err, ErrUnknownViewer):
		return http.StatusNotFound
	case errors.Is(err, ErrClosed):
		return http.StatusGone
	case errors.Is(err, context.DeadlineExceeded):
		return http.StatusGatewayTimeout
	}
	return http.StatusInternalServerError
}

// WriteError writes {"error": "..."} with the given status.
func WriteError(w http.ResponseWriter, status int, err error) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Del("Location")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(struct {
		Error string `json:"error"`
	}{err.Error()})
}
