package sam

import (
	"context"
	"sync"
)

// Shared lets several goroutines (the sessions of a server) use one
// Model: a Model is not safe for concurrent use, and its outputs are fresh
// slices, so serializing the calls is enough. The owner closes the Model.
type Shared struct {
	mu sync.Mutex
	m  *Model
}

// NewShared wraps m for concurrent use.
func NewShared(m *Model) *Shared { return &Shared{m: m} }

// Manifest is the model's manifest.
func (l *Shared) Manifest() *Manifest { return l.m.Manifest() }

// EncodeImage is Model.EncodeImage, serialized.
func (l *Shared) EncodeImage(ctx context.Context, image []float32) (*Features, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.m.EncodeImage(ctx, image)
}

// DecodeMasks is Model.DecodeMasks, serialized.
func (l *Shared) DecodeMasks(ctx context.Context, embed []float32, f *Features, p Prompt) (*Candidates, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.m.DecodeMasks(ctx, embed, f, p)
}

// AttendMemory is Model.AttendMemory, serialized.
func (l *Shared) AttendMemory(ctx context.Context, f *Features, frames []MemoryFrame, ptrs []Pointer) ([]float32, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.m.AttendMemory(ctx, f, frames, ptrs)
}

// EncodeMemory is Model.EncodeMemory, serialized.
func (l *Shared) EncodeMemory(ctx context.Context, pixFeat, maskHighRes []float32, binarize bool, objectScore float32) ([]float32, []float32, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.m.EncodeMemory(ctx, pixFeat, maskHighRes, binarize, objectScore)
}

// Constant is Model.Constant, serialized.
func (l *Shared) Constant(name string) ([]float32, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.m.Constant(name)
}
