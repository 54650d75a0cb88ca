package web

import (
	"fmt"
	"net/http"
	"strconv"

	"github.com/vidseg/vidseg/session"
)

// undoRoutes adds undo and redo of an edit session's prompts and
// clearing one object's prompts ("start over"). Each answers the session
// info, whose edit.undo and edit.redo say what undo and redo would do
// next; 409 when there is nothing to undo or redo.
func (s *Server) undoRoutes() {
	step := func(f func(*session.Session, *http.Request) error) http.HandlerFunc {
		return s.withEditor(func(w http.ResponseWriter, r *http.Request, ss *session.Session) {
			if err := f(ss, r); err != nil {
				writeError(w, statusOf(err), err)
				return
			}
			writeJSON(w, http.StatusOK, ss.Status())
		})
	}
	s.mux.HandleFunc("POST /api/sessions/{id}/undo", step(func(ss *session.Session, r *http.Request) error { return ss.Undo(r.Context()) }))
	s.mux.HandleFunc("POST /api/sessions/{id}/redo", step(func(ss *session.Session, r *http.Request) error { return ss.Redo(r.Context()) }))
	s.mux.HandleFunc("POST /api/sessions/{id}/objects/{obj}/clear", step(func(ss *session.Session, r *http.Request) error {
		raw := r.PathValue("obj")
		id, err := strconv.Atoi(raw)
		if err != nil || id <= 0 {
			return fmt.Errorf("%w: object id %q is not a positive integer", session.ErrInvalid, raw)
		}
		return ss.ClearObject(r.Context(), id)
	}))
}
