package web

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/vidseg/vidseg/mask"
	"github.com/vidseg/vidseg/prompt"
	"github.com/vidseg/vidseg/session"
	"github.com/vidseg/vidseg/source"
	"github.com/vidseg/vidseg/stream"
)

// SourceRequest is the JSON body that creates a session from a server-side
// source: a file path, an http(s):// or rtsp:// URL, or a /dev/videoN webcam.
type SourceRequest struct {
	Source string `json:"source"`
	// Loop replays a file from the start at its end (default true).
	Loop *bool `json:"loop,omitempty"`
	// Mode "edit" opens a file to scrub and track like the SAM 2 demo
	// (paused, seek, prompts on any frame, tracking passes, downloads);
	// "" or "live" tracks the latest frame as it plays.
	Mode string `json:"mode,omitempty"`
	// Camera names the source in analytics events (default: the session ID).
	Camera string `json:"camera,omitempty"`
}

// PromptRequest is the JSON body of POST /api/sessions/{id}/prompts. Object
// 0 starts a new object. Coordinates are source-frame pixels.
// Points and Box may be combined; Mask stands alone.
type PromptRequest struct {
	Object int            `json:"object"`
	Points []prompt.Point `json:"points"`
	Box    *mask.Box      `json:"box,omitempty"`
	// Mask is a COCO RLE of the whole frame; it stands alone, without
	// points or box.
	Mask *mask.RLE `json:"mask,omitempty"`
	// Frame is the frame the prompt is on, for edit sessions (the frame
	// the page shows); live sessions use the model's latest frame.
	Frame *int `json:"frame,omitempty"`
	// Candidate picks one of the candidates (by token) that the answer to
	// the object's last click or box listed: it becomes the object's
	// output on that frame, what memory is encoded from (a live session,
	// past that frame, takes the candidate's mask as a mask prompt on its
	// latest frame). It stands alone, without points, box or mask.
	Candidate *int `json:"candidate,omitempty"`
}

// PromptResponse answers a prompt with the object id and its first result.
type PromptResponse = session.PromptResult

func (s *Server) withSession(h func(http.ResponseWriter, *http.Request, *session.Session)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		id := r.PathValue("id")
		ss, ok := s.m.Get(id)
		if !ok {
			writeError(w, http.StatusNotFound, fmt.Errorf("unknown session %q", id))
			return
		}
		h(w, r, ss)
	}
}

func (s *Server) handleList(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, s.Sessions())
}

func (s *Server) handleGet(w http.ResponseWriter, r *http.Request, ss *session.Session) {
	writeJSON(w, http.StatusOK, ss.Status())
}

func (s *Server) handleCreate(w http.ResponseWriter, r *http.Request) {
	ct, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	var (
		ss  *session.Session
		err error
	)
	switch ct {
	case "multipart/form-data":
		// A session slot is taken once the upload is stored: a slow or
		// stalled upload holds only an upload slot of its client, and
		// only while it keeps the minimum rate.
		release, rerr := s.limits.uploads.take(r)
		if rerr != nil {
			writeError(w, statusOf(rerr), rerr)
			return
		}
		done := withMinRate(w, r, s.cfg.BodyGrace, s.cfg.BodyMinRate)
		ss, err = s.createFromUpload(w, r)
		release()
		if err != nil {
			// The rest of the body is not wanted: close rather than read
			// it for the next request.
			w.Header().Set("Connection", "close")
		} else {
			done()
		}
	case "application/json", "":
		var req SourceRequest
		dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, 64<<10))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&req); err != nil {
			writeError(w, http.StatusBadRequest, fmt.Errorf("session request: want JSON {\"source\": path, URL or /dev/videoN}: %w", err))
			return
		}
		if strings.TrimSpace(req.Source) == "" {
			writeError(w, http.StatusBadRequest, errors.New("session request: empty \"source\""))
			return
		}
		edit, merr := session.ParseMode(req.Mode)
		if merr != nil {
			writeError(w, http.StatusBadRequest, merr)
			return
		}
		loop := req.Loop == nil || *req.Loop
		ss, err = s.m.Open(r.Context(), req.Source, session.Options{Loop: loop, Edit: edit, Camera: req.Camera})
	default:
		writeError(w, http.StatusUnsupportedMediaType, fmt.Errorf("content type %q: want multipart/form-data (upload) or application/json (source)", ct))
		return
	}
	if err != nil {
		writeError(w, statusOf(err), err)
		return
	}
	w.Header().Set("Location", "/api/sessions/"+ss.ID)
	writeJSON(w, http.StatusCreated, ss.Status())
}

// createFromUpload streams the "file" part to disk, refusing more than the
// upload limit, and opens a session on it once it is stored, if a session
// slot is free.
func (s *Server) createFromUpload(w http.ResponseWriter, r *http.Request) (*session.Session, error) {
	limit := s.cfg.UploadLimit
	tooBig := &statusError{http.StatusRequestEntityTooLarge,
		fmt.Errorf("upload larger than the limit of %d bytes (%s); raise it with --upload-limit or VIDSEG_UPLOAD_LIMIT", limit, humanBytes(limit))}
	if r.ContentLength > limit+1<<20 {
		return nil, tooBig
	}
	// Headroom for the multipart framing around the file.
	r.Body = http.MaxBytesReader(w, r.Body, limit+1<<20)
	edit := false
	mr, err := r.MultipartReader()
	if err != nil {
		return nil, &statusError{http.StatusBadRequest, fmt.Errorf("upload: %w", err)}
	}
	for {
		part, err := mr.NextPart()
		if err != nil {
			var mbe *http.MaxBytesError
			if errors.As(err, &mbe) {
				return nil, tooBig
			}
			if errors.Is(err, io.EOF) {
				return nil, &statusError{http.StatusBadRequest, errors.New("upload: no \"file\" field in the form")}
			}
			return nil, s.uploadErr(err)
		}
		if part.FormName() == "mode" {
			// Sent before "file", as the page does.
			b, err := io.ReadAll(io.LimitReader(part, 16))
			part.Close()
			if err != nil {
				return nil, &statusError{http.StatusBadRequest, fmt.Errorf("upload: %w", err)}
			}
			if edit, err = session.ParseMode(string(b)); err != nil {
				return nil, &statusError{http.StatusBadRequest, err}
			}
			continue
		}
		if part.FormName() != "file" {
			part.Close()
			continue
		}
		name := source.UploadName(part.FileName())
		f, err := os.CreateTemp(s.cfg.UploadDir, "vidseg-upload-*"+safeExt(name))
		if err != nil {
			s.cfg.Logger.Info("upload failed", "err", err)
			return nil, errors.New("upload: the server cannot store files now")
		}
		remove := func() { _ = os.Remove(f.Name()) }
		n, err := io.Copy(f, io.LimitReader(part, limit+1))
		cerr := f.Close()
		if err != nil {
			remove()
			var mbe *http.MaxBytesError
			if errors.As(err, &mbe) {
				return nil, tooBig
			}
			return nil, s.uploadErr(err)
		}
		if n > limit {
			remove()
			return nil, tooBig
		}
		if cerr != nil {
			remove()
			s.cfg.Logger.Info("upload failed", "err", cerr)
			return nil, errors.New("upload: the server cannot store files now")
		}
		if n == 0 {
			remove()
			return nil, &statusError{http.StatusBadRequest, errors.New("upload: the file is empty")}
		}
		release, err := s.m.Reserve()
		if err != nil {
			remove()
			return nil, err
		}
		ss, err := s.m.OpenUpload(r.Context(), session.Upload{Path: f.Name(), Name: name, Edit: edit, Cleanup: remove})
		release()
		if err != nil {
			// The user knows their file by its name, not our temporary path.
			return nil, &renamedError{err: err, from: f.Name(), to: name}
		}
		return ss, nil
	}
}

// uploadErr says why an upload's body ended early.
func (s *Server) uploadErr(err error) error {
	if errors.Is(err, os.ErrDeadlineExceeded) {
		return &statusError{http.StatusRequestTimeout, fmt.Errorf("upload slower than %s a second: sent too slowly or stalled", humanBytes(s.cfg.BodyMinRate))}
	}
	return &statusError{http.StatusBadRequest, fmt.Errorf("upload interrupted: %w", err)}
}

func safeExt(name string) string {
	ext := filepath.Ext(name)
	if len(ext) > 8 || strings.ContainsAny(ext, "/\\ *") {
		return ""
	}
	return ext
}

// renamedError shows the user's name for a file where the error has the
// server's path for it.
type renamedError struct {
	err      error
	from, to string
}

func (e *renamedError) Error() string { return strings.ReplaceAll(e.err.Error(), e.from, e.to) }
func (e *renamedError) Unwrap() error { return e.err }

func (s *Server) handleDelete(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	keep := r.URL.Query().Get("keep")
	if keep != "" && keep != "store" {
		writeError(w, http.StatusBadRequest, fmt.Errorf("keep=%q: want keep=store (keep the session's record for vidseg sessions export) or nothing", keep))
		return
	}
	ss, ok := s.m.Get(id)
	if !ok || !s.m.Remove(id) {
		writeError(w, http.StatusNotFound, fmt.Errorf("unknown session %q", id))
		return
	}
	// A configured camera's record is its journal across restarts.
	if s.cfg.Forget != nil && keep == "" && !ss.Configured() {
		if err := s.cfg.Forget(id); err != nil {
			s.cfg.Logger.Warn("deleted session's record not removed", "session", id, "err", err)
			writeError(w, http.StatusInternalServerError, fmt.Errorf("session %s ended, but its record could not be removed from the store", id))
			return
		}
	}
	w.WriteHeader(http.StatusNoContent)
}

func (s *Server) handleWHEP(w http.ResponseWriter, r *http.Request, ss *session.Session) {
	b := ss.Burned()
	switch {
	case r.Method == http.MethodPost && r.URL.Query().Get("overlay") == "none":
		b = ss.Clean() // the page draws the masks itself
	case r.Method == http.MethodDelete:
		if err := ss.Clean().RemoveViewer(r.PathValue("viewer")); err == nil {
			w.WriteHeader(http.StatusOK)
			return
		}
	}
	if r.Method == http.MethodPost {
		done, err := s.takeViewer(ss.ID)
		if err != nil {
			writeError(w, statusOf(err), err)
			return
		}
		defer done()
	}
	stream.WHEP{B: b}.ServeHTTP(w, r)
}

// takeViewer checks the viewer caps, per session and in all, counting
// offers being answered; done ends the offer's count (a viewer it added
// is counted by its session from then on).
func (s *Server) takeViewer(id string) (done func(), err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	pending, inSession := 0, 0
	for _, n := range s.offers {
		pending += n
	}
	total := pending
	for _, st := range s.m.List() {
		total += st.Viewers
		if st.ID == id {
			inSession = st.Viewers + s.offers[id]
		}
	}
	if max := s.cfg.ViewersPerSession; max > 0 && inSession >= max {
		return nil, &statusError{http.StatusTooManyRequests, fmt.Errorf("session %s has %d viewers, the most it takes; try again when one leaves", id, max)}
	}
	if max := s.cfg.Viewers; max > 0 && total >= max {
		return nil, &statusError{http.StatusTooManyRequests, fmt.Errorf("this server has %d viewers, the most it takes; try again when one leaves", max)}
	}
	if s.offers == nil {
		s.offers = make(map[string]int)
	}
	s.offers[id]++
	return func() {
		s.mu.Lock()
		defer s.mu.Unlock()
		if s.offers[id]--; s.offers[id] <= 0 {
			delete(s.offers, id)
		}
	}, nil
}

func (s *Server) handlePrompt(w http.ResponseWriter, r *http.Request, ss *session.Session) {
	if !ss.Model() {
		writeError(w, http.StatusConflict, session.ErrNoModel)
		return
	}
	var req PromptRequest
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, 1<<20))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		writeError(w, http.StatusBadRequest, fmt.Errorf("prompt: want JSON {object, points:[{x,y,positive}], box:{x0,y0,x1,y1}}: %w", err))
		return
	}
	p := prompt.Prompt{Object: req.Object, Points: req.Points, Box: req.Box, Mask: req.Mask, Candidate: req.Candidate}
	resp, err := ss.Apply(r.Context(), p, req.Frame)
	if err != nil {
		writeError(w, statusOf(err), err)
		return
	}
	writeJSON(w, http.StatusOK, resp)
}

// EverythingRequest is the body of POST /api/sessions/{id}/everything.
type EverythingRequest = session.EverythingRequest

// EverythingResponse answers it: the objects added.
type EverythingResponse = session.EverythingResult

func (s *Server) handleEverything(w http.ResponseWriter, r *http.Request, ss *session.Session) {
	if !ss.Model() {
		writeError(w, http.StatusConflict, session.ErrNoModel)
		return
	}
	var req EverythingRequest
	if err := decodeJSON(w, r, &req); err != nil {
		writeError(w, http.StatusBadRequest, fmt.Errorf("everything: want JSON {frame, pointsPerSide, predIouThresh, stabilityScoreThresh, stabilityScoreOffset, boxNmsThresh, maxObjects, overlap}: %w", err))
		return
	}
	resp, err := ss.Everything(r.Context(), req)
	if err != nil {
		writeError(w, statusOf(err), err)
		return
	}
	writeJSON(w, http.StatusOK, resp)
}

func (s *Server) handleRemoveObject(w http.ResponseWriter, r *http.Request, ss *session.Session) {
	raw := r.PathValue("obj")
	id, err := strconv.Atoi(raw)
	if err != nil || id <= 0 {
		writeError(w, http.StatusBadRequest, fmt.Errorf("object id %q is not a positive integer", raw))
		return
	}
	if err := ss.RemoveObject(r.Context(), id); err != nil {
		writeError(w, statusOf(err), err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}
