package tracker

import (
	"context"

	"github.com/vidseg/vidseg/prompt"
)

// A PromptError is a prompt Run could not apply.
type PromptError struct{ Err error }

func (e *PromptError) Error() string { return e.Err.Error() }
func (e *PromptError) Unwrap() error { return e.Err }

// Run tracks a file as `vidseg track` and `vidseg bench` do: the prompts
// in order, then each propagation pass, fn receiving every frame's
// results. A reverse pass from frame 0 is skipped (nothing lies before
// it). A prompt the tracker refuses ends Run with a *PromptError.
func (t *Tracker) Run(ctx context.Context, prompts []prompt.Prompt, passes []PropagateOptions, fn func(*FrameResult) error) error {
	for _, p := range prompts {
		if _, err := t.Prompt(ctx, p); err != nil {
			return &PromptError{err}
		}
	}
	for _, ps := range passes {
		if ps.Reverse && ps.Start == 0 {
			continue
		}
		if err := t.Propagate(ctx, ps, fn); err != nil {
			return err
		}
	}
	return nil
}
