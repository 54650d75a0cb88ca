package session

import (
	"context"
	"fmt"

	"github.com/vidseg/vidseg/mask"
	"github.com/vidseg/vidseg/prompt"
	"github.com/vidseg/vidseg/tracker"
)

// Candidate is one of the mask decoder's answers to a click or box: SAM
// returns several for an ambiguous prompt (whole, part, sub-part), the
// tracker keeps one, and the user may pick another (PickCandidate).
type Candidate struct {
	Token  int      `json:"token"` // decoder token: 0 single-mask, 1..3 multimask
	IoU    float32  `json:"iou"`   // the decoder's predicted IoU
	Area   int      `json:"area"`  // foreground pixels
	Chosen bool     `json:"chosen"`
	Mask   mask.RLE `json:"mask"` // COCO RLE of the whole frame
}

// candidateSet is the candidates of an object's last point or box prompt.
type candidateSet struct {
	frame int
	masks []tracker.Candidate
}

// keepCandidates remembers the candidates of obj's prompt in res, if it
// has any, and returns them for the answer (chosen: the tracker's pick).
func (s *Session) keepCandidates(obj int, res *tracker.FrameResult) []Candidate {
	for _, r := range res.Objects {
		if r.Object != obj || len(r.Candidates) == 0 {
			continue
		}
		s.mu.Lock()
		if s.cands == nil {
			s.cands = make(map[int]candidateSet)
		}
		s.cands[obj] = candidateSet{frame: res.Frame, masks: r.Candidates}
		s.mu.Unlock()
		return answerCandidates(r.Candidates, r.Candidate)
	}
	return nil
}

func answerCandidates(cs []tracker.Candidate, chosen int) []Candidate {
	out := make([]Candidate, len(cs))
	for i, c := range cs {
		out[i] = Candidate{Token: c.Token, IoU: c.IoU, Area: c.RLE.Area(), Chosen: c.Token == chosen, Mask: c.RLE}
	}
	return out
}

// pickLive keeps candidate token of object obj's last click in a live
// session. The session has moved past the click's frame (its features
// are gone), so the pick becomes a mask prompt with the candidate's mask
// on the latest frame, as every live prompt goes there.
func (s *Session) pickLive(ctx context.Context, obj, token int) (*PromptResult, error) {
	s.mu.Lock()
	set, ok := s.cands[obj]
	s.mu.Unlock()
	if !ok {
		return nil, &kindError{ErrNotFound, fmt.Errorf("object %d has no click or box whose candidates could be picked in session %s", obj, s.ID)}
	}
	c := set.masks[token]
	if c.RLE.Area() == 0 {
		return nil, &kindError{ErrInvalid, fmt.Errorf("candidate %d of object %d is empty; pick another", token, obj)}
	}
	rle := c.RLE
	o, res, err := s.Prompt(ctx, prompt.Prompt{Object: obj, Mask: &rle})
	if err != nil {
		return nil, err
	}
	resp := &PromptResult{Object: o, Frame: res.Frame, Candidates: answerCandidates(set.masks, token)}
	s.mu.Lock()
	if ov := s.overlay; ov != nil {
		resp.Objects = ov.objects
	}
	s.mu.Unlock()
	return resp, nil
}

// dropCandidates forgets a removed object's candidates.
func (s *Session) dropCandidates(obj int) {
	s.mu.Lock()
	delete(s.cands, obj)
	s.mu.Unlock()
}
