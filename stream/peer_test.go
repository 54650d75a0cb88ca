package stream

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/vidseg/vidseg/internal/testutil"
)

// decodeFirst decodes the first frame v received with the ffmpeg CLI and
// returns it as RGB24.
func decodeFirst(t testing.TB, v *testutil.Viewer, codec string, w, h int) []byte {
	t.Helper()
	frames := v.Frames()
	if len(frames) == 0 {
		t.Fatal("no frames to decode")
	}
	dir := t.TempDir()
	var buf bytes.Buffer
	format := "h264"
	if codec == H264 {
		for _, f := range frames {
			buf.Write(f)
		}
	} else {
		format = "ivf"
		writeIVF(&buf, frames, w, h)
	}
	in := filepath.Join(dir, "in."+format)
	if err := os.WriteFile(in, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command("ffmpeg", "-v", "error", "-f", format, "-i", in, "-frames:v", "1",
		"-f", "rawvideo", "-pix_fmt", "rgb24", "-").Output()
	if err != nil {
		t.Fatalf("ffmpeg decode of received %s frames: %v", codec, err)
	}
	if len(out) != w*h*3 {
		t.Fatalf("decoded %d bytes, want %d", len(out), w*h*3)
	}
	return out
}

func writeIVF(w io.Writer, frames [][]byte, width, height int) {
	hdr := make([]byte, 32)
	copy(hdr, "DKIF")
	binary.LittleEndian.PutUint16(hdr[6:], 32)
	copy(hdr[8:], "VP80")
	binary.LittleEndian.PutUint16(hdr[12:], uint16(width))
	binary.LittleEndian.PutUint16(hdr[14:], uint16(height))
	binary.LittleEndian.PutUint32(hdr[16:], 30)
	binary.LittleEndian.PutUint32(hdr[20:], 1)
	binary.LittleEndian.PutUint32(hdr[24:], uint32(len(frames)))
	w.Write(hdr)
	for i, f := range frames {
		fh := make([]byte, 12)
		binary.LittleEndian.PutUint32(fh, uint32(len(f)))
		binary.LittleEndian.PutUint64(fh[4:], uint64(i))
		w.Write(fh)
		w.Write(f)
	}
}

// ffmpegEncode compresses RGB24 frames with the ffmpeg CLI (libvpx or
// libx264) and splits the result into per-frame packets.
func ffmpegEncode(t testing.TB, codec string, frames [][]byte, w, h int) []Packet {
	t.Helper()
	if _, err := exec.LookPath("ffmpeg"); err != nil {
		t.Skip("ffmpeg CLI not installed (apt-get install ffmpeg)")
	}
	var in bytes.Buffer
	for _, f := range frames {
		in.Write(f)
	}
	args := []string{"-v", "error", "-f", "rawvideo", "-pix_fmt", "rgb24", "-s", fmt.Sprintf("%dx%d", w, h), "-r", "30", "-i", "-"}
	if codec == H264 {
		args = append(args, "-c:v", "libx264", "-preset", "ultrafast", "-tune", "zerolatency", "-g", "10", "-pix_fmt", "yuv420p", "-bsf:v", "h264_mp4toannexb", "-f", "h264", "-")
	} else {
		args = append(args, "-c:v", "libvpx", "-deadline", "realtime", "-cpu-used", "8", "-g", "10", "-b:v", "1M", "-f", "ivf", "-")
	}
	cmd := exec.CommandContext(context.Background(), "ffmpeg", args...)
	cmd.Stdin = &in
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("ffmpeg encode: %v", err)
	}
	frameDur := time.Second / 30
	var pkts []Packet
	if codec == H264 {
		for i, au := range splitAccessUnits(out) {
			pkts = append(pkts, Packet{Data: au, PTS: time.Duration(i) * frameDur, Keyframe: testutil.IsKeyframe(au, H264)})
		}
		return pkts
	}
	r := out[32:]
	for i := 0; len(r) >= 12; i++ {
		n := int(binary.LittleEndian.Uint32(r))
		f := r[12 : 12+n]
		pkts = append(pkts, Packet{Data: f, PTS: time.Duration(i) * frameDur, Keyframe: testutil.IsKeyframe(f, VP8)})
		r = r[12+n:]
	}
	return pkts
}

// splitAccessUnits cuts an Annex B stream before every access unit
// delimiter or, lacking those, before each slice that starts a picture.
func splitAccessUnits(b []byte) [][]byte {
	var starts []int
	seenSlice := false
	for i := 0; i+3 < len(b); i++ {
		if b[i] != 0 || b[i+1] != 0 || b[i+2] != 1 {
			continue
		}
		s := i
		if s > 0 && b[s-1] == 0 {
			s--
		}
		switch typ := b[i+3] & 0x1f; {
		case typ == 7 || typ == 9: // SPS or AUD opens an access unit
			if seenSlice {
				starts = append(starts, s)
				seenSlice = false
			}
		case typ == 1 || typ == 5:
			// first_mb_in_slice == 0 (ue(v) leading bit 1) starts a picture.
			if b[i+4]&0x80 != 0 && seenSlice {
				starts = append(starts, s)
			}
			seenSlice = true
		}
	}
	var aus [][]byte
	prev := 0
	for _, s := range starts {
		aus = append(aus, b[prev:s])
		prev = s
	}
	return append(aus, b[prev:])
}
