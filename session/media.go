package session

import (
	"bytes"
	"context"
	"fmt"
	"image"
	"image/jpeg"
	"io"
	"strings"
	"sync"

	"github.com/vidseg/vidseg/decode"
	"github.com/vidseg/vidseg/source"
)

// The media root's gallery: its videos, and a thumbnail of each (the
// first frame), for the page to show and open with a click.

const (
	// MaxMedia bounds a media listing.
	MaxMedia = 500
	// mediaThumbW and mediaThumbH bound a gallery thumbnail.
	mediaThumbW, mediaThumbH = 160, 90
	// maxMediaThumbs bounds the thumbnails kept in memory.
	maxMediaThumbs = 256
	// mediaThumbSlots bounds the thumbnails decoded at once.
	mediaThumbSlots = 2
)

// mediaThumbs caches gallery thumbnails by file and size, and bounds the
// decodes running at once.
type mediaThumbs struct {
	slots chan struct{}
	mu    sync.Mutex
	cache map[string][]byte
}

func newMediaThumbs() *mediaThumbs {
	return &mediaThumbs{slots: make(chan struct{}, mediaThumbSlots), cache: map[string][]byte{}}
}

// Media lists the videos under the media root (at most MaxMedia) and
// whether there were more.
func (m *Manager) Media() ([]source.MediaFile, bool, error) {
	return m.sources.List(MaxMedia)
}

// MediaThumbnail returns a JPEG of the first frame of the media root's
// file name (at most 160x90), under the same policy as opening it.
func (m *Manager) MediaThumbnail(ctx context.Context, name string) ([]byte, error) {
	if strings.Contains(name, "://") || strings.HasPrefix(name, "/dev/") {
		return nil, fmt.Errorf("%w: thumbnails are of files in the media directory", ErrInvalid)
	}
	in, err := m.sources.Resolve(ctx, name)
	if err != nil {
		return nil, err
	}
	closeInput := func() {
		if c, ok := in.Opts.Input.(io.Closer); ok {
			_ = c.Close()
		}
	}
	key := in.Name
	if sz, ok := in.Opts.Input.(interface{ Size() int64 }); ok {
		key = fmt.Sprintf("%s\x00%d", in.Name, sz.Size()) // a replaced file gets a new one
	}
	t := m.thumbs
	t.mu.Lock()
	jpg, ok := t.cache[key]
	t.mu.Unlock()
	if ok {
		closeInput()
		return jpg, nil
	}
	select {
	case t.slots <- struct{}{}:
		defer func() { <-t.slots }()
	case <-ctx.Done():
		closeInput()
		return nil, ctx.Err()
	}
	dec, err := decode.Open(ctx, in.Target, in.Opts)
	if err != nil {
		closeInput()
		return nil, fmt.Errorf("open %s: %w", in.Name, err)
	}
	defer dec.Close()
	f, err := dec.Next(ctx)
	if err != nil {
		return nil, fmt.Errorf("%s: first frame: %w", in.Name, err)
	}
	defer f.Release()
	w, h := mediaThumbW, mediaThumbW*f.Height/max(1, f.Width)
	if h > mediaThumbH {
		w, h = mediaThumbH*f.Width/max(1, f.Height), mediaThumbH
	}
	w, h = max(w, 1), max(h, 1)
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	shrink(img, 0, f.RGB, f.Width, f.Height, w, h)
	var buf bytes.Buffer
	if err := jpeg.Encode(&buf, img, &jpeg.Options{Quality: 75}); err != nil {
		return nil, err
	}
	jpg = buf.Bytes()
	t.mu.Lock()
	if len(t.cache) >= maxMediaThumbs {
		clear(t.cache) // simplest bound: start over
	}
	t.cache[key] = jpg
	t.mu.Unlock()
	return jpg, nil
}
