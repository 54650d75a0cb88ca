package journal

import (
	"context"
	"testing"

	"github.com/vidseg/vidseg/prompt"
	"github.com/vidseg/vidseg/session"
	"github.com/vidseg/vidseg/tracker"
	"github.com/vidseg/vidseg/video"
)

// closeCounter is a session.Tracker that counts its Close calls.
type closeCounter struct{ closed int }

func (c *closeCounter) Track(context.Context, *video.Frame) (*tracker.FrameResult, error) {
	return &tracker.FrameResult{}, nil
}
func (c *closeCounter) Prompt(context.Context, prompt.Prompt) (*tracker.FrameResult, error) {
	return &tracker.FrameResult{}, nil
}
func (c *closeCounter) RemoveObject(int) error { return nil }
func (c *closeCounter) Close() error           { c.closed++; return nil }

// A journaled session's tracker is closed with the session (the tracker
// releases the image features it holds): the wrappers forward Close.
func TestWrappersCloseTracker(t *testing.T) {
	inner := &closeCounter{}
	if err := session.CloseTracker(newJournaled(inner, nil, "s", nil, nil)); err != nil {
		t.Fatal(err)
	}
	if inner.closed != 1 {
		t.Errorf("inner tracker closed %d times through the journal", inner.closed)
	}
}
