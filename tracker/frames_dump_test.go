package tracker

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/vidseg/vidseg/video"
)

// envFrameDump names a folder of decoded frames: written by the FFmpeg
// build of these tests, read by the one built with -tags noffmpeg.
const envFrameDump = "VIDSEG_FRAME_DUMP"

// frameDumpHeader is the first line of a dump; the model-size RGB of each
// frame follows. The source-size RGB is not kept (the tracker reads only
// its size).
type frameDumpHeader struct {
	Width, Height, ModelSize int
	PTS                      []time.Duration
}

// dumpPath names a video's dump by its folder and file name (the clips are
// all called video.mp4 in folders of their own).
func dumpPath(dir, video string) string {
	return filepath.Join(dir, filepath.Base(filepath.Dir(video))+"_"+filepath.Base(video)+".frames")
}

// writeFrameDump keeps the longest dump of each video.
func writeFrameDump(dir, path string, frames []*video.Frame) error {
	if len(frames) == 0 {
		return nil
	}
	p := dumpPath(dir, path)
	if h, err := readFrameDumpHeader(p); err == nil && len(h.PTS) >= len(frames) {
		return nil
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	h := frameDumpHeader{Width: frames[0].Width, Height: frames[0].Height, ModelSize: 1024}
	for _, f := range frames {
		h.PTS = append(h.PTS, f.PTS)
	}
	hdr, err := json.Marshal(h)
	if err != nil {
		return err
	}
	var buf []byte
	buf = append(append(buf, hdr...), '\n')
	for _, f := range frames {
		buf = append(buf, f.Model...)
	}
	return os.WriteFile(p, buf, 0o644)
}

func readFrameDumpHeader(p string) (frameDumpHeader, error) {
	var h frameDumpHeader
	f, err := os.Open(p)
	if err != nil {
		return h, err
	}
	defer f.Close()
	line, err := bufio.NewReader(f).ReadBytes('\n')
	if err != nil {
		return h, err
	}
	return h, json.Unmarshal(line, &h)
}

// readFrameDump reads the first n frames of video's dump in dir.
func readFrameDump(dir, path string, n int) (sliceSource, error) {
	f, err := os.Open(dumpPath(dir, path))
	if err != nil {
		return nil, fmt.Errorf("frame dump of %s: %w (write it with the FFmpeg build of these tests and %s set)", filepath.Base(path), err, envFrameDump)
	}
	defer f.Close()
	r := bufio.NewReader(f)
	line, err := r.ReadBytes('\n')
	if err != nil {
		return nil, err
	}
	var h frameDumpHeader
	if err := json.Unmarshal(line, &h); err != nil {
		return nil, err
	}
	var out sliceSource
	for i := 0; i < min(n, len(h.PTS)); i++ {
		fr := &video.Frame{Index: i, PTS: h.PTS[i], Width: h.Width, Height: h.Height,
			RGB: make([]byte, h.Width*h.Height*3), Model: make([]byte, h.ModelSize*h.ModelSize*3)}
		if _, err := io.ReadFull(r, fr.Model); err != nil {
			return nil, fmt.Errorf("frame dump of %s, frame %d: %w", filepath.Base(path), i, err)
		}
		out = append(out, fr)
	}
	return out, nil
}
