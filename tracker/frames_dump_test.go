package tracker

import (
	"path/filepath"
	"time"
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
