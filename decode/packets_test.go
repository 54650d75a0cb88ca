package decode_test

import (
	"errors"
	"testing"
	"time"

	"github.com/vidseg/vidseg/decode"
	"github.com/vidseg/vidseg/encode"
	"github.com/vidseg/vidseg/video"
)

// A WebRTC sender may change resolution mid-stream: with SetOutputSize
// every picture comes out at the size the consumer was set up for.
func TestPacketDecoderResolutionChange(t *testing.T) {
	for _, codec := range []string{"vp8", "h264"} {
		t.Run(codec, func(t *testing.T) {
			dec, err := decode.NewPacketDecoder(codec, 32)
			if err != nil {
				t.Fatal(err)
			}
			defer dec.Close()
			var got []*video.Frame
			for _, size := range [][2]int{{320, 240}, {160, 120}} {
				enc, err := encode.NewEncoder(encode.Options{Codec: codec, Width: size[0], Height: size[1], FPS: 30, Threads: 1})
				if err != nil {
					t.Fatal(err)
				}
				rgb := make([]byte, size[0]*size[1]*3)
				for i := range rgb {
					rgb[i] = byte(i * 7)
				}
				for i := range 3 {
					pkts, err := enc.Encode(rgb, time.Duration(i)*time.Second/30)
					if err != nil {
						t.Fatal(err)
					}
					for _, p := range pkts {
						fs, err := dec.Decode(p.Data, p.PTS)
						if err != nil {
							t.Fatal(err)
						}
						for _, f := range fs {
							if len(got) == 0 {
								dec.SetOutputSize(f.Width, f.Height)
							}
							got = append(got, f)
						}
					}
				}
				enc.Close()
			}
			if len(got) != 6 {
				t.Fatalf("%d frames decoded, want 6", len(got))
			}
			for i, f := range got {
				if f.Index != i || f.Width != 320 || f.Height != 240 || len(f.RGB) != 320*240*3 || len(f.Model) != 32*32*3 {
					t.Errorf("frame %d: index %d %dx%d rgb %d model %d", i, f.Index, f.Width, f.Height, len(f.RGB), len(f.Model))
				}
			}
		})
	}
	if _, err := decode.NewPacketDecoder("mpeg2", 0); !errors.Is(err, decode.ErrUnsupportedCodec) {
		t.Errorf("unknown codec: %v", err)
	}
}
