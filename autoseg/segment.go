package autoseg

import (
	"context"
	"fmt"
	"time"

	"github.com/vidseg/vidseg/sam"
	"github.com/vidseg/vidseg/video"
)

// Encoder is a Model that also runs the image encoder (a *sam.Model).
type Encoder interface {
	Model
	EncodeImage(ctx context.Context, image []float32) (*sam.Features, error)
}

// Segment runs the image encoder once on f (its model-size RGB) and
// generates the frame's masks at f's source size. encoder is the image
// encoder's time; Stats has the rest.
func Segment(ctx context.Context, m Encoder, f *video.Frame, p Params) (masks []Mask, st Stats, encoder time.Duration, err error) {
	if err := p.Validate(); err != nil {
		return nil, st, 0, err
	}
	man := m.Manifest()
	if err := f.LoadModel(); err != nil {
		return nil, st, 0, fmt.Errorf("autoseg: model input: %w", err)
	}
	if f == nil || len(f.Model) != 3*man.ImageSize*man.ImageSize {
		return nil, st, 0, fmt.Errorf("autoseg: the frame has no %dx%d model input", man.ImageSize, man.ImageSize)
	}
	input := make([]float32, len(f.Model))
	video.Normalize(f.Model, input, man.Mean(), man.Std())
	begin := time.Now()
	feats, err := m.EncodeImage(ctx, input)
	encoder = time.Since(begin)
	if err != nil {
		return nil, st, encoder, fmt.Errorf("autoseg: frame %d: %w", f.Index, err)
	}
	defer feats.Close()
	masks, st, err = Generate(ctx, m, feats, f.Width, f.Height, p)
	return masks, st, encoder, err
}
