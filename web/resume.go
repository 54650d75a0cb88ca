package web

import (
	"context"

	"github.com/vidseg/vidseg/session"
)

// ResumeEdit reopens the file src as an edit session for the stored
// session id, with its prompts and tracked frames
// (session.Manager.ResumeEdit).
func (s *Server) ResumeEdit(ctx context.Context, id, src string) (*session.Session, error) {
	return s.m.ResumeEdit(ctx, id, src)
}
