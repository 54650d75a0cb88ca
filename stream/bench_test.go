package stream

import (
	"context"
	"errors"
	"fmt"
	"io"
	"testing"
	"time"

	"github.com/vidseg/vidseg/decode"
	"github.com/vidseg/vidseg/encode"
	"github.com/vidseg/vidseg/internal/testutil"
	"github.com/vidseg/vidseg/overlay"
)

// dogFrames decodes the first n frames of the 720p sample clip.
func dogFrames(b *testing.B, n int) (frames [][]byte, w, h int) {
	b.Helper()
	p := testutil.SharedVideo(b, "01_dog.mp4")
	d, err := decode.Open(context.Background(), p, decode.Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer d.Close()
	for len(frames) < n {
		f, err := d.Next(context.Background())
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			b.Fatal(err)
		}
		frames = append(frames, f.RGB)
		w, h = f.Width, f.Height
	}
	return frames, w, h
}

// ellipseMasks makes two object masks for compositing benchmarks.
func ellipseMasks(w, h int) []overlay.ObjectMask {
	var ms []overlay.ObjectMask
	for id, c := range [][3]float64{{0.35, 0.5, 0.15}, {0.7, 0.4, 0.1}} {
		m := make([]byte, w*h)
		cx, cy, r := c[0]*float64(w), c[1]*float64(h), c[2]*float64(w)
		for y := 0; y < h; y++ {
			for x := 0; x < w; x++ {
				dx, dy := float64(x)-cx, float64(y)-cy
				if dx*dx+dy*dy*2 < r*r {
					m[y*w+x] = 1
				}
			}
		}
		ms = append(ms, overlay.ObjectMask{ID: id + 1, Mask: m})
	}
	return ms
}

// BenchmarkEncode720p is the cost of encoding one 720p frame, once per
// session whatever the number of viewers.
func BenchmarkEncode720p(b *testing.B) {
	frames, w, h := dogFrames(b, 30)
	for _, codec := range []string{encode.VP8, encode.H264} {
		b.Run(codec, func(b *testing.B) {
			enc, err := NewVideoEncoder(encode.Options{Codec: codec, Width: w, Height: h, FPS: 30})
			if err != nil {
				b.Fatal(err)
			}
			defer enc.Close()
			b.SetBytes(int64(w * h * 3))
			var out int
			i := 0
			for b.Loop() {
				ps, err := enc.Encode(frames[i%len(frames)], time.Duration(i)*time.Second/30)
				if err != nil {
					b.Fatal(err)
				}
				for _, p := range ps {
					out += len(p.Data)
				}
				i++
			}
			b.ReportMetric(float64(b.Elapsed().Microseconds())/1000/float64(i), "ms/frame")
			b.ReportMetric(float64(out)*8*30/float64(i)/1e6, "Mbit/s@30fps")
		})
	}
}

// BenchmarkComposite720p blends two objects' masks into a 720p frame.
func BenchmarkComposite720p(b *testing.B) {
	frames, w, h := dogFrames(b, 1)
	masks := ellipseMasks(w, h)
	out := make([]byte, len(frames[0]))
	for b.Loop() {
		copy(out, frames[0])
		if err := overlay.Composite(out, w, h, masks); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkDecodedToSent is the per-frame path after decode: copy,
// composite two objects, encode, packetize and queue to one viewer.
func BenchmarkDecodedToSent(b *testing.B) {
	frames, w, h := dogFrames(b, 30)
	masks := ellipseMasks(w, h)
	for _, codec := range []string{VP8, H264} {
		b.Run(codec, func(b *testing.B) {
			enc, err := NewVideoEncoder(encode.Options{Codec: codec, Width: w, Height: h, FPS: 30})
			if err != nil {
				b.Fatal(err)
			}
			defer enc.Close()
			br, srv := newTestServer(b, Options{Codec: codec, Encoder: enc})
			v := testutil.DialWHEP(b, srv.URL+"/whep")
			out := make([]byte, w*h*3)
			i := 0
			for b.Loop() {
				copy(out, frames[i%len(frames)])
				if err := overlay.Composite(out, w, h, masks); err != nil {
					b.Fatal(err)
				}
				if err := br.WriteFrame(out, time.Duration(i)*time.Second/30); err != nil {
					b.Fatal(err)
				}
				i++
			}
			b.ReportMetric(float64(b.Elapsed().Microseconds())/1000/float64(i), "ms/frame")
			_ = v
		})
	}
}

// BenchmarkViewers720p streams 90 live-encoded 720p frames at 30 fps to
// N loopback pion viewers (on this same machine, so viewers' receive work
// competes for the CPU) and reports the share each one received.
func BenchmarkViewers720p(b *testing.B) {
	frames, w, h := dogFrames(b, 30)
	masks := ellipseMasks(w, h)
	const total = 90
	type run struct {
		codec string
		n     int
	}
	runs := []run{{VP8, 1}, {VP8, 8}, {H264, 1}, {H264, 8}, {H264, 16}, {H264, 32}, {H264, 64}}
	for _, r := range runs {
		codec, n := r.codec, r.n
		b.Run(fmt.Sprintf("%s/viewers=%d", codec, n), func(b *testing.B) {
			for b.Loop() {
				enc, err := NewVideoEncoder(encode.Options{Codec: codec, Width: w, Height: h, FPS: 30, KeyframeInterval: 60})
				if err != nil {
					b.Fatal(err)
				}
				br, srv := newTestServer(b, Options{Codec: codec, Encoder: enc})
				peers := make([]*testutil.Viewer, n)
				for i := range peers {
					peers[i] = testutil.DialWHEP(b, srv.URL+"/whep")
				}
				// Wait for every peer's DTLS/SRTP to come up before frame 0.
				for deadline := time.Now().Add(20 * time.Second); ; {
					st := 0
					for _, p := range peers {
						if p.PeerConnection().ConnectionState().String() == "connected" {
							st++
						}
					}
					if st == n || time.Now().After(deadline) {
						break
					}
					time.Sleep(20 * time.Millisecond)
				}
				out := make([]byte, w*h*3)
				start := time.Now()
				var late int
				for i := 0; i < total; i++ {
					due := start.Add(time.Duration(i) * time.Second / 30)
					if d := time.Until(due); d > 0 {
						time.Sleep(d)
					} else if d < -time.Second/30 {
						late++
					}
					copy(out, frames[i%len(frames)])
					if err := overlay.Composite(out, w, h, masks); err != nil {
						b.Fatal(err)
					}
					if err := br.WriteFrame(out, time.Duration(i)*time.Second/30); err != nil {
						b.Fatal(err)
					}
				}
				elapsed := time.Since(start)
				// One more frame pushes the last counted one out of the
				// receivers' sample builders.
				copy(out, frames[0])
				if err := br.WriteFrame(out, time.Duration(total)*time.Second/30); err != nil {
					b.Fatal(err)
				}
				time.Sleep(time.Second)
				minGot, sum := total, 0
				for _, p := range peers {
					got, _ := p.Counts()
					got = min(got, total)
					sum += got
					minGot = min(minGot, got)
				}
				st := br.Stats()
				b.ReportMetric(100*float64(minGot)/total, "min%received")
				b.ReportMetric(100*float64(sum)/float64(n*total), "mean%received")
				b.ReportMetric(float64(st.DroppedFrames), "server-drops")
				b.ReportMetric(float64(late), "late-frames")
				b.ReportMetric(total/elapsed.Seconds(), "send-fps")
				srv.Close()
				_ = br.Close()
				_ = enc.Close()
				for _, p := range peers {
					p.Close()
				}
			}
		})
	}
}
