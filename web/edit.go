package web

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/vidseg/vidseg/overlay"
	"github.com/vidseg/vidseg/results"
	"github.com/vidseg/vidseg/session"
)

// PlayerRequest is the body of POST /api/sessions/{id}/player.
type PlayerRequest = session.PlayerRequest

// TrackRequest is the body of POST /api/sessions/{id}/track.
type TrackRequest = session.TrackRequest

// editRoutes adds the player, tracking and results endpoints of edit
// sessions.
func (s *Server) editRoutes() {
	s.mux.HandleFunc("POST /api/sessions/{id}/player", s.withEditor(func(w http.ResponseWriter, r *http.Request, ss *session.Session) {
		var req PlayerRequest
		if err := decodeJSON(w, r, &req); err != nil {
			writeError(w, http.StatusBadRequest, fmt.Errorf("player: want JSON {action: play|pause|seek, frame}: %w", err))
			return
		}
		if err := ss.Control(req); err != nil {
			writeError(w, statusOf(err), err)
			return
		}
		writeJSON(w, http.StatusOK, ss.Status())
	}))
	s.mux.HandleFunc("POST /api/sessions/{id}/track", s.withEditor(func(w http.ResponseWriter, r *http.Request, ss *session.Session) {
		var req TrackRequest
		if err := decodeJSON(w, r, &req); err != nil {
			writeError(w, http.StatusBadRequest, fmt.Errorf("track: want JSON {direction: forward|backward|both}: %w", err))
			return
		}
		if err := ss.Track(req.Direction); err != nil {
			writeError(w, statusOf(err), err)
			return
		}
		writeJSON(w, http.StatusAccepted, ss.Status())
	}))
	s.mux.HandleFunc("DELETE /api/sessions/{id}/track", s.withEditor(func(w http.ResponseWriter, r *http.Request, ss *session.Session) {
		if err := ss.StopTrack(); err != nil {
			writeError(w, statusOf(err), err)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	}))
	s.mux.HandleFunc("GET /api/sessions/{id}/results/{name}", s.withEditor(s.handleResults))
	s.mux.HandleFunc("GET /api/sessions/{id}/thumbnails.jpg", s.withEditor(func(w http.ResponseWriter, r *http.Request, ss *session.Session) {
		th, err := ss.Thumbnails(r.Context())
		if err != nil {
			writeError(w, statusOf(err), err)
			return
		}
		// The page places each thumbnail over its run of frames.
		w.Header().Set("Content-Type", "image/jpeg")
		w.Header().Set("Cache-Control", "private, max-age=3600")
		w.Header().Set("X-Vidseg-Thumbnails", fmt.Sprintf("%d %dx%d", th.Count, th.Width, th.Height))
		_, _ = w.Write(th.JPEG)
	}))
	s.undoRoutes()
	s.mux.HandleFunc("GET /favicon.ico", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "image/svg+xml")
		w.Header().Set("Cache-Control", "max-age=86400")
		_, _ = w.Write([]byte(favicon))
	})
}

// favicon is a green dot on a dark square (browsers take SVG here).
const favicon = `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 16 16"><rect width="16" height="16" rx="3" fill="#1b1b1b"/><circle cx="8" cy="8" r="4" fill="#3c3"/></svg>`

func (s *Server) withEditor(h func(http.ResponseWriter, *http.Request, *session.Session)) http.HandlerFunc {
	return s.withSession(func(w http.ResponseWriter, r *http.Request, ss *session.Session) {
		if !ss.Edit() {
			writeError(w, http.StatusConflict, fmt.Errorf("session %s plays live; open a file with mode \"edit\" to scrub and track it", ss.ID))
			return
		}
		h(w, r, ss)
	})
}

func decodeJSON(w http.ResponseWriter, r *http.Request, v any) error {
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, 64<<10))
	dec.DisallowUnknownFields()
	return dec.Decode(v)
}

// handleResults downloads an edit session's tracked frames in the formats
// of `vidseg track` (docs/cli.md), written by package results:
// masks.json (COCO RLE, format vidseg-masks/1), tracks.jsonl, the DAVIS
// indexed PNGs (masks/00000.png, pixel = object id) as masks.zip, and
// overlay.mp4 (H.264; ?effect= and ?hide= as overlayOptions).
func (s *Server) handleResults(w http.ResponseWriter, r *http.Request, ss *session.Session) {
	name := r.PathValue("name")
	res, err := ss.Results()
	if err != nil {
		writeError(w, statusOf(err), err)
		return
	}
	doc := res.Doc
	base := strings.TrimSuffix(filepath.Base(ss.Name), filepath.Ext(ss.Name))
	attach := func(ctype, file string) {
		w.Header().Set("Content-Type", ctype)
		w.Header().Set("Content-Disposition", fmt.Sprintf("attachment; filename=%q", base+"-"+file))
	}
	switch name {
	case "masks.json":
		attach("application/json", name)
		_ = json.NewEncoder(w).Encode(doc)
	case "tracks.jsonl":
		attach("application/x-ndjson", name)
		_ = results.WriteTracks(w, doc.Results)
	case "masks.zip":
		attach("application/zip", name)
		if err := res.WritePNGZip(w); err != nil {
			s.cfg.Logger.Info("masks.zip failed", "session", ss.ID, "err", err)
		}
	case "overlay.mp4":
		opts, err := overlayOptions(r)
		if err != nil {
			writeError(w, http.StatusBadRequest, fmt.Errorf("overlay.mp4: %w", err))
			return
		}
		p, err := res.RenderOverlay(r.Context(), s.cfg.UploadDir, opts)
		if err != nil {
			writeError(w, statusOf(err), fmt.Errorf("overlay.mp4: %w", err))
			return
		}
		defer os.Remove(p)
		f, err := os.Open(p)
		if err != nil {
			writeError(w, http.StatusInternalServerError, errors.New("overlay.mp4: the rendered file is gone"))
			return
		}
		defer f.Close()
		attach("video/mp4", name)
		_, _ = io.Copy(w, f)
	default:
		writeError(w, http.StatusNotFound, fmt.Errorf("no result %q: want masks.json, tracks.jsonl, masks.zip or overlay.mp4", name))
	}
}

// maxHidden bounds the objects ?hide= lists.
const maxHidden = 256

// overlayOptions reads how overlay.mp4 draws, so that it is what the
// page shows: ?effect= (the page's effects; highlight by default),
// ?hide= (comma-separated object ids the page hides) and ?style=
// (comma-separated ID:RRGGBB:OPACITY:OUTLINE, e.g. 1:ff4040:0.5:1).
func overlayOptions(r *http.Request) (session.OverlayOptions, error) {
	q := r.URL.Query()
	e, err := overlay.ParseEffect(q.Get("effect"))
	if err != nil {
		return session.OverlayOptions{}, err
	}
	opts := session.OverlayOptions{Effect: e}
	if h := q.Get("hide"); h != "" {
		ids := strings.Split(h, ",")
		if len(ids) > maxHidden {
			return opts, fmt.Errorf("hide: %d objects, at most %d", len(ids), maxHidden)
		}
		for _, v := range ids {
			id, err := strconv.Atoi(v)
			if err != nil {
				return opts, fmt.Errorf("hide: %q is not an object id", v)
			}
			opts.Hide = append(opts.Hide, id)
		}
	}
	if v := q.Get("style"); v != "" {
		styles := strings.Split(v, ",")
		if len(styles) > maxHidden {
			return opts, fmt.Errorf("style: %d objects, at most %d", len(styles), maxHidden)
		}
		opts.Styles = map[int]overlay.Style{}
		for _, sv := range styles {
			id, st, err := parseStyle(sv)
			if err != nil {
				return opts, fmt.Errorf("style %q: %w", sv, err)
			}
			opts.Styles[id] = st
		}
	}
	return opts, nil
}

// parseStyle reads ID:RRGGBB:OPACITY:OUTLINE (opacity 0..1, outline 0 or 1).
func parseStyle(v string) (int, overlay.Style, error) {
	var st overlay.Style
	f := strings.Split(v, ":")
	if len(f) != 4 {
		return 0, st, errors.New("want ID:RRGGBB:OPACITY:OUTLINE")
	}
	id, err := strconv.Atoi(f[0])
	if err != nil {
		return 0, st, fmt.Errorf("object id %q", f[0])
	}
	c, err := strconv.ParseUint(f[1], 16, 32)
	if err != nil || len(f[1]) != 6 {
		return 0, st, fmt.Errorf("colour %q: want six hex digits", f[1])
	}
	st.Color = [3]uint8{uint8(c >> 16), uint8(c >> 8), uint8(c)}
	op, err := strconv.ParseFloat(f[2], 64)
	if err != nil || !(op >= 0 && op <= 1) {
		return 0, st, fmt.Errorf("opacity %q: want 0 to 1", f[2])
	}
	st.Alpha = int(op*256 + 0.5)
	switch f[3] {
	case "0":
	case "1":
		st.Outline = true
	default:
		return 0, st, fmt.Errorf("outline %q: want 0 or 1", f[3])
	}
	return id, st, nil
}
