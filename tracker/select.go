package tracker

import (
	"github.com/vidseg/vidseg/kalman"
	"github.com/vidseg/vidseg/memory"
	"github.com/vidseg/vidseg/sam"
)

// noObjectLogit is what the reference writes over the masks of an absent
// object (NO_OBJ_SCORE).
const noObjectLogit = -1024

// choose picks one of the decoder's candidates the way SAM 2 (or SAMURAI)
// does and returns the frame's entry without memory features.
func (t *Tracker) choose(o *object, c *sam.Candidates, multimask bool, frame int) *memory.Entry {
	man := t.man
	present := !man.PredObjScores || c.ObjectScore > t.presenceThreshold()
	masks := c.Masks
	if !present {
		// Every candidate becomes "no object", as _forward_sam_heads does
		// before choosing (SAMURAI's boxes then come out empty).
		n := len(masks[0])
		absent := make([]float32, n)
		for i := range absent {
			absent[i] = noObjectLogit
		}
		for i := range masks {
			masks[i] = absent
		}
	}
	e := &memory.Entry{Frame: frame, ObjectScore: c.ObjectScore}
	ptrToken := 0
	switch {
	case multimask && t.cfg.Mode == SAMURAI:
		best, kscore, hasK := t.samuraiChoose(o, masks, c.IoU)
		e.Candidate = best
		e.KalmanScore, e.HasKalman = float32(kscore), hasK
		ptrToken = best
	case multimask:
		e.Candidate = argmax3(c.IoU)
		ptrToken = e.Candidate
	default:
		e.Candidate = 0
		if man.DynamicMultimaskViaStability && sam.StabilityScore(c.Masks[0], float32(man.DynamicMultimaskStabilityDelta)) < float32(man.DynamicMultimaskStabilityThresh) {
			// Unstable single mask: fall back to the best multimask output;
			// the pointer still comes from the single-mask token.
			e.Candidate = argmax3(c.IoU)
		}
	}
	if !man.UseMultimaskTokenForObjPtr {
		ptrToken = 0
	}
	e.IoU = c.IoU[e.Candidate]
	e.Logits = append([]float32(nil), masks[e.Candidate]...)
	if present {
		e.Ptr = append([]float32(nil), c.ObjPtr[ptrToken]...)
	} else {
		e.Ptr = append([]float32(nil), t.noObjPtr...)
	}
	return e
}

// entryOf is the frame's entry with candidate token of c, as choose
// builds it for its own pick.
func (t *Tracker) entryOf(c *sam.Candidates, token, frame int) *memory.Entry {
	e := &memory.Entry{Frame: frame, ObjectScore: c.ObjectScore, Candidate: token, IoU: c.IoU[token]}
	if t.man.PredObjScores && !(c.ObjectScore > t.presenceThreshold()) {
		e.Logits = make([]float32, len(c.Masks[token]))
		for i := range e.Logits {
			e.Logits[i] = noObjectLogit
		}
		e.Ptr = append([]float32(nil), t.noObjPtr...)
		return e
	}
	ptr := 0
	if t.man.UseMultimaskTokenForObjPtr {
		ptr = token
	}
	e.Logits = append([]float32(nil), c.Masks[token]...)
	e.Ptr = append([]float32(nil), c.ObjPtr[ptr]...)
	return e
}

// argmax3 returns the best multimask token (1..3), first on ties as
// torch.argmax.
func argmax3(iou [4]float32) int {
	best := 1
	for i := 2; i < 4; i++ {
		if iou[i] > iou[best] {
			best = i
		}
	}
	return best
}

// samuraiChoose is SAMURAI's motion-aware choice among the 3 multimask
// candidates, per object. It returns the token, the Kalman IoU of the
// choice, and whether the filter was consulted.
func (t *Tracker) samuraiChoose(o *object, masks [4][]float32, iou [4]float32) (int, float64, bool) {
	s := t.man.Samurai
	stableIoU := float32(s.StableIoUsThreshold)
	switch {
	case o.kf == nil || o.stable == 0:
		best := argmax3(iou)
		o.kf = kalman.New(t.highResBox(masks[best]))
		o.stable++
		return best, 0, false
	case o.stable < s.StableFramesThreshold:
		o.kf.Predict()
		best := argmax3(iou)
		if iou[best] > stableIoU {
			o.kf.Update(t.highResBox(masks[best]))
			o.stable++
		} else {
			o.stable = 0
		}
		return best, 0, false
	}
	o.kf.Predict()
	pred := o.kf.Box()
	var boxes [4]kalman.Box
	var kious [4]float64
	best := 1
	bestScore := -1.0
	w := s.KFScoreWeight
	for i := 1; i < 4; i++ {
		boxes[i] = t.highResBox(masks[i])
		kious[i] = kalman.IoU(pred, boxes[i])
		score := w*kious[i] + (1-w)*float64(iou[i])
		if score > bestScore {
			best, bestScore = i, score
		}
	}
	if iou[best] < stableIoU {
		o.stable = 0
	} else {
		o.kf.Update(boxes[best])
	}
	return best, kious[best], true
}

// highResBox is the box of the mask upsampled to the model's image size,
// in its pixel coordinates ([0 0 0 0] when empty), as SAMURAI measures it.
func (t *Tracker) highResBox(logits []float32) kalman.Box {
	size := t.man.ImageSize
	if len(t.highRes) != size*size {
		t.highRes = make([]float32, size*size)
	}
	sam.UpsampleBilinear(logits, t.man.MaskSize, t.man.MaskSize, t.highRes, size, size)
	return kalman.MaskBox(t.highRes, size, size)
}

// applyNonOverlap keeps, at each pixel, only the highest-scoring object's
// logit; the others are capped at -10 (_apply_non_overlapping_constraints).
func applyNonOverlap(objs []ObjectResult) {
	n := len(objs[0].logits)
	out := make([][]float32, len(objs))
	for i := range objs {
		out[i] = append([]float32(nil), objs[i].logits...)
	}
	for p := 0; p < n; p++ {
		best := 0
		for i := 1; i < len(objs); i++ {
			if objs[i].logits[p] > objs[best].logits[p] {
				best = i
			}
		}
		for i := range objs {
			if i != best && out[i][p] > -10 {
				out[i][p] = -10
			}
		}
	}
	for i := range objs {
		objs[i].logits = out[i]
	}
}
