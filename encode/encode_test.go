package encode_test

import (
	"context"
	"errors"
	"io"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/vidseg/vidseg/decode"
	"github.com/vidseg/vidseg/encode"
)

const w, h, n = 160, 120, 30

// scene draws a textured frame with a moving square: smooth enough for a
// realtime encoder to reach a meaningful PSNR, busy enough to need bits.
func scene(i int) []byte {
	rgb := make([]byte, w*h*3)
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			o := (y*w + x) * 3
			r, g, b := 40+x, 60+y, 120+(x^y)&31
			if x >= 20+i*3 && x < 50+i*3 && y >= 40 && y < 70 {
				r, g, b = 230, 200, 40
			}
			rgb[o], rgb[o+1], rgb[o+2] = byte(r), byte(g), byte(b)
		}
	}
	return rgb
}

func psnr(a, b []byte) float64 {
	var se float64
	for i := range a {
		d := float64(a[i]) - float64(b[i])
		se += d * d
	}
	mse := se / float64(len(a))
	if mse == 0 {
		return math.Inf(1)
	}
	return 10 * math.Log10(255*255/mse)
}

// TestFileRoundTrip writes MP4/H.264 and WebM/VP8, decodes them with package
// decode and requires PSNR >= 30 dB per frame (8-bit RGB, through 4:2:0).
func TestFileRoundTrip(t *testing.T) {
	for _, c := range []struct {
		file  string
		codec string
		min   float64
	}{
		{"out.mp4", "h264", 30},
		{"out.webm", "vp8", 30},
	} {
		t.Run(c.file, func(t *testing.T) {
			p := filepath.Join(t.TempDir(), c.file)
			fw, err := encode.Create(p, encode.Options{Width: w, Height: h, FPS: 25, Bitrate: 1_000_000})
			if err != nil {
				t.Fatal(err)
			}
			for i := 0; i < n; i++ {
				if err := fw.WriteFrame(scene(i)); err != nil {
					t.Fatal(err)
				}
			}
			if err := fw.Close(); err != nil {
				t.Fatal(err)
			}
			d, err := decode.Open(context.Background(), p, decode.Options{})
			if err != nil {
				t.Fatal(err)
			}
			defer d.Close()
			info := d.Info()
			if info.Codec != c.codec || info.Width != w || info.Height != h || info.FPS != 25 {
				t.Errorf("Info = %+v", info)
			}
			worst := math.Inf(1)
			for i := 0; ; i++ {
				f, err := d.Next(context.Background())
				if errors.Is(err, io.EOF) {
					if i != n {
						t.Errorf("decoded %d frames, wrote %d", i, n)
					}
					break
				}
				if err != nil {
					t.Fatal(err)
				}
				if want := time.Duration(i) * time.Second / 25; f.PTS != want {
					t.Errorf("frame %d PTS %v, want %v", i, f.PTS, want)
				}
				worst = min(worst, psnr(f.RGB, scene(i)))
			}
			t.Logf("%s: worst frame PSNR %.1f dB", c.file, worst)
			if worst < c.min {
				t.Errorf("worst PSNR %.1f dB < %.0f dB", worst, c.min)
			}
		})
	}
}

// TestEncoderPackets: realtime settings give one packet per frame at once,
// a keyframe first and on ForceKeyframe, H.264 in Annex B with SPS/PPS.
func TestEncoderPackets(t *testing.T) {
	for _, codec := range []string{encode.VP8, encode.H264} {
		t.Run(codec, func(t *testing.T) {
			e, err := encode.NewEncoder(encode.Options{Codec: codec, Width: w, Height: h, FPS: 30, KeyframeInterval: 1000})
			if err != nil {
				t.Fatal(err)
			}
			defer e.Close()
			var pkts []encode.Packet
			for i := 0; i < 10; i++ {
				if i == 6 {
					e.ForceKeyframe()
				}
				pts := time.Duration(i) * time.Second / 30
				ps, err := e.Encode(scene(i), pts)
				if err != nil {
					t.Fatal(err)
				}
				if len(ps) != 1 {
					t.Fatalf("frame %d: %d packets, want 1 (no encoder delay)", i, len(ps))
				}
				if ps[0].PTS != pts.Round(time.Microsecond) && (ps[0].PTS-pts).Abs() > time.Millisecond {
					t.Errorf("frame %d: packet PTS %v, want %v", i, ps[0].PTS, pts)
				}
				pkts = append(pkts, ps...)
			}
			rest, err := e.Flush()
			if err != nil || len(rest) != 0 {
				t.Errorf("Flush: %d packets, %v", len(rest), err)
			}
			for i, p := range pkts {
				wantKey := i == 0 || i == 6
				if p.Keyframe != wantKey {
					t.Errorf("packet %d: Keyframe %v, want %v", i, p.Keyframe, wantKey)
				}
			}
			if codec == encode.H264 {
				d := pkts[0].Data
				if len(d) < 5 || d[0] != 0 || d[1] != 0 || !(d[2] == 1 || d[2] == 0 && d[3] == 1) {
					t.Fatalf("H.264 keyframe does not start with an Annex B start code: % x", d[:min(8, len(d))])
				}
				nal := d[4] & 0x1f
				if d[2] == 1 {
					nal = d[3] & 0x1f
				}
				if nal != 7 && nal != 9 && nal != 6 { // SPS, AUD or SEI first
					t.Errorf("H.264 keyframe starts with NAL type %d, want SPS before the IDR", nal)
				}
			}
			if _, err := e.Encode(scene(0), time.Second); !errors.Is(err, encode.ErrClosed) {
				t.Errorf("Encode after Flush = %v, want ErrClosed", err)
			}
		})
	}
}

func TestBadOptions(t *testing.T) {
	dir := t.TempDir()
	good := encode.Options{Codec: "h264", Width: 64, Height: 48, FPS: 30}
	for _, c := range []struct {
		name string
		mod  func(*encode.Options)
		msg  string
	}{
		{"no codec", func(o *encode.Options) { o.Codec = "" }, "no codec"},
		{"unknown codec", func(o *encode.Options) { o.Codec = "mpeg2" }, "mpeg2"},
		{"too wide", func(o *encode.Options) { o.Width = 16385 }, "16385x48"},
		{"zero height", func(o *encode.Options) { o.Height = 0 }, "64x0"},
		{"zero fps", func(o *encode.Options) { o.FPS = 0 }, "frame rate"},
		{"NaN fps", func(o *encode.Options) { o.FPS = math.NaN() }, "frame rate"},
		{"negative bitrate", func(o *encode.Options) { o.Bitrate = -1 }, "negative"},
	} {
		o := good
		c.mod(&o)
		if _, err := encode.NewEncoder(o); err == nil || !strings.Contains(err.Error(), c.msg) {
			t.Errorf("%s: NewEncoder error %v, want mention of %q", c.name, err, c.msg)
		}
	}
	e, err := encode.NewEncoder(good)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.Encode(make([]byte, 10), 0); err == nil || !strings.Contains(err.Error(), "10 bytes") {
		t.Errorf("short frame: %v", err)
	}
	e.Close()

	if _, err := encode.Create(filepath.Join(dir, "x.avi"), good); err == nil || !strings.Contains(err.Error(), ".avi") {
		t.Errorf("unknown extension: %v", err)
	}
	vp8 := good
	vp8.Codec = "vp8"
	if _, err := encode.Create(filepath.Join(dir, "x.mp4"), vp8); err == nil {
		t.Error("VP8 in MP4 accepted")
	}
	if _, err := encode.Create(filepath.Join(dir, "no", "such", "dir.mp4"), good); err == nil || !strings.Contains(err.Error(), "dir.mp4") {
		t.Errorf("unwritable path: %v", err)
	}
	fw, err := encode.Create(filepath.Join(dir, "empty.mp4"), good)
	if err != nil {
		t.Fatal(err)
	}
	if err := fw.WriteFrame(make([]byte, 3)); err == nil {
		t.Error("short frame accepted by FileWriter")
	}
	if err := fw.Close(); err == nil {
		t.Error("Close after a failed write reported success")
	}
	if _, err := os.Stat(filepath.Join(dir, "x.avi")); err == nil {
		t.Error("failed Create left a file")
	}
}
