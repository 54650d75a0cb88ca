package decode_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"os"
	"path/filepath"
	"testing"

	"github.com/vidseg/vidseg/decode"
	"github.com/vidseg/vidseg/internal/testutil"
)

// setTrackMatrix rewrites the video track's display matrix (the second
// identity matrix in the file: the first is the movie header's) to a, b,
// c, d (in units of 1.0), for the transforms the ffmpeg CLI cannot write.
func setTrackMatrix(t *testing.T, path string, a, b, c, d int32) {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	be := func(v ...uint32) []byte {
		var out []byte
		for _, x := range v {
			out = binary.BigEndian.AppendUint32(out, x)
		}
		return out
	}
	identity := be(0x10000, 0, 0, 0, 0x10000, 0, 0, 0, 0x40000000)
	first := bytes.Index(data, identity)
	second := bytes.Index(data[first+1:], identity)
	if first < 0 || second < 0 {
		t.Fatalf("%s: no track matrix found", path)
	}
	at := first + 1 + second
	fx := func(v int32) uint32 { return uint32(v << 16) }
	copy(data[at:], be(fx(a), fx(b), 0, fx(c), fx(d), 0, 0, 0, 0x40000000))
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
}

// Every right-angle display matrix is applied to the frames and the size:
// the pixels equal the ffmpeg CLI's conversion followed by the transform
// its autorotation applies (checked against the autorotated output), and
// the model copy is the CLI's bicubic scale followed by that transform.
func TestDisplayMatrix(t *testing.T) {
	src := testutil.Clip(t, "moving_shape") // 320x240
	const n, ms = 3, 64
	cases := []struct {
		name      string
		rotate    string // -metadata:s:v rotate=
		matrix    []int32
		filter    string
		w, h, rot int
	}{
		// FFmpeg reads the rotate=90 tag it writes as a quarter turn
		// counterclockwise (its autorotation applies transpose=cclock).
		{"rotate90", "90", nil, "transpose=cclock", 240, 320, 270},
		{"rotate180", "180", nil, "hflip,vflip", 320, 240, 180},
		{"rotate270", "270", nil, "transpose=clock", 240, 320, 90},
		{"hflip", "", []int32{-1, 0, 0, 1}, "hflip", 320, 240, 0},
		{"vflip", "", []int32{1, 0, 0, -1}, "vflip", 320, 240, 0},
		{"transpose", "", []int32{0, 1, 1, 0}, "transpose=cclock_flip", 240, 320, 0},
		{"antitranspose", "", []int32{0, -1, -1, 0}, "transpose=clock_flip", 240, 320, 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "v.mp4")
			args := []string{"-i", src, "-frames:v", "3", "-c", "copy"}
			if tc.rotate != "" {
				args = append(args, "-metadata:s:v", "rotate="+tc.rotate)
			}
			testutil.FFmpeg(t, append(args, path)...)
			if tc.matrix != nil {
				setTrackMatrix(t, path, tc.matrix[0], tc.matrix[1], tc.matrix[2], tc.matrix[3])
			}
			d, err := decode.Open(context.Background(), path, decode.Options{ModelSize: ms})
			if err != nil {
				t.Fatal(err)
			}
			defer d.Close()
			info := d.Info()
			if info.Width != tc.w || info.Height != tc.h || info.Rotation != tc.rot {
				t.Errorf("Info %dx%d rotation %d, want %dx%d rotation %d", info.Width, info.Height, info.Rotation, tc.w, tc.h, tc.rot)
			}
			frames, err := readAll(t, d)
			if err != nil {
				t.Fatal(err)
			}
			if len(frames) != n {
				t.Fatalf("decoded %d frames, want %d", len(frames), n)
			}
			auto := ffmpegRaw(t, "-i", path)
			rgb := ffmpegRaw(t, "-noautorotate", "-i", path, "-vf", "format=rgb24,"+tc.filter)
			model := ffmpegRaw(t, "-noautorotate", "-i", path, "-vf", "scale=64:64:flags=bicubic,format=rgb24,"+tc.filter)
			fs := tc.w * tc.h * 3
			if !bytes.Equal(auto, rgb) {
				t.Fatalf("the CLI's own autorotation is not -vf %s (%d bytes, want %d frames of %dx%d)", tc.filter, len(auto), n, tc.w, tc.h)
			}
			for i, f := range frames {
				if f.Width != tc.w || f.Height != tc.h {
					t.Fatalf("frame %d is %dx%d, want %dx%d", i, f.Width, f.Height, tc.w, tc.h)
				}
				if !bytes.Equal(f.RGB, rgb[i*fs:(i+1)*fs]) {
					t.Errorf("frame %d: RGB differs from ffmpeg -vf format=rgb24,%s", i, tc.filter)
				}
				if !bytes.Equal(f.Model, model[i*ms*ms*3:(i+1)*ms*ms*3]) {
					t.Errorf("frame %d: Model differs from ffmpeg -vf scale=64:64,%s", i, tc.filter)
				}
			}
		})
	}
}
