package web

import (
	"fmt"
	"net/http"

	"github.com/vidseg/vidseg/source"
)

// MediaList is the body of GET /api/media: the videos under the media
// root, and whether there were more than listed.
type MediaList struct {
	Files     []source.MediaFile `json:"files"`
	Truncated bool               `json:"truncated"`
}

// mediaRoutes adds the media root's gallery: GET /api/media lists its
// videos (404 without a media root), GET /api/media/thumbnail?name=
// answers a JPEG of one's first frame (the same policy as opening it).
func (s *Server) mediaRoutes() {
	s.mux.HandleFunc("GET /api/media", func(w http.ResponseWriter, r *http.Request) {
		files, more, err := s.m.Media()
		if err != nil {
			writeError(w, statusOf(err), err)
			return
		}
		writeJSON(w, http.StatusOK, MediaList{Files: files, Truncated: more})
	})
	s.mux.HandleFunc("GET /api/media/thumbnail", func(w http.ResponseWriter, r *http.Request) {
		name := r.URL.Query().Get("name")
		if name == "" {
			writeError(w, http.StatusBadRequest, fmt.Errorf("thumbnail: want ?name= a file of GET /api/media"))
			return
		}
		jpg, err := s.m.MediaThumbnail(r.Context(), name)
		if err != nil {
			writeError(w, statusOf(err), fmt.Errorf("thumbnail: %w", err))
			return
		}
		w.Header().Set("Content-Type", "image/jpeg")
		w.Header().Set("Cache-Control", "private, max-age=300")
		_, _ = w.Write(jpg)
	})
}
