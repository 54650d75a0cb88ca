// Package encode compresses RGB24 frames to VP8 (libvpx) or H.264 (libx264)
// with realtime settings, as packets for streaming or into a file.
package encode

import (
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/asticode/go-astiav"
)

// Codec names accepted in Options.Codec.
const (
	VP8  = "vp8"
	H264 = "h264"
)

// Options configure an Encoder or FileWriter.
type Options struct {
	Codec            string  // "vp8" or "h264"
	Width, Height    int     // frame size; an odd size is coded one column/row larger (see padded)
	FPS              float64 // nominal frame rate (rate control; the time base unless Timescale)
	Timescale        int     // PTS ticks per second; 0: FPS. Set it (e.g. 90000) to keep the spacing of frames given their own timestamps
	Bitrate          int     // bits per second; 0: x264 CRF 23, VP8 ~0.1 bit per pixel
	KeyframeInterval int     // frames between keyframes; 0: every 2 seconds
	Threads          int     // encoder threads; 0: auto. Set 1 for output independent of the machine.
}

// Packet is one compressed frame. H.264 packets are Annex B with SPS/PPS
// repeated before every keyframe (what RTP packetizers want); VP8 packets
// are raw frames.
type Packet struct {
	Data     []byte
	PTS      time.Duration
	Keyframe bool
}

// ErrClosed is returned when an Encoder or FileWriter is used after Close (or
// an Encoder after Flush).
var ErrClosed = errors.New("encoder closed")

// Encoder is a realtime video encoder: VP8 with deadline realtime and
// cpu-used 8, or x264 ultrafast/zerolatency baseline. Every input frame
// yields its packet at once (no lookahead). Not safe for concurrent use.
type Encoder struct {
	opts    Options
	cc      *astiav.CodecContext
	frame   *astiav.Frame
	pkt     *astiav.Packet
	conv    *rgbConverter
	cw, ch  int             // coded size: Width, Height rounded up to even
	pad     []byte          // cw x ch rgb24 staging buffer for odd sizes, else nil
	tb      astiav.Rational // 1/framerate or 1/Timescale
	lastPTS int64
	forceKF bool
	done    bool // flushed or closed
}

// NewEncoder opens an encoder for packets (see Packet for the bitstream form).
func NewEncoder(opts Options) (*Encoder, error) {
	return newEncoder(opts, false)
}

func (o *Options) check() error {
	switch o.Codec {
	case VP8, H264:
	case "":
		return errors.New("encode: no codec (want \"vp8\" or \"h264\")")
	default:
		return fmt.Errorf("encode: unsupported codec %q (want \"vp8\" or \"h264\")", o.Codec)
	}
	if o.Width <= 0 || o.Height <= 0 || o.Width > 16384 || o.Height > 16384 {
		return fmt.Errorf("encode: bad frame size %dx%d (want positive, at most 16384)", o.Width, o.Height)
	}
	if !(o.FPS > 0 && o.FPS <= 1000) {
		return fmt.Errorf("encode: bad frame rate %v (want 0 < fps <= 1000)", o.FPS)
	}
	if o.Bitrate < 0 || o.KeyframeInterval < 0 || o.Threads < 0 || o.Timescale < 0 {
		return fmt.Errorf("encode: negative Bitrate, KeyframeInterval, Threads or Timescale (%d, %d, %d, %d)", o.Bitrate, o.KeyframeInterval, o.Threads, o.Timescale)
	}
	return nil
}

// frameRate turns fps into a rational, exact for the NTSC family (N*1000/1001).
func frameRate(fps float64) astiav.Rational {
	if r := math.Round(fps); math.Abs(fps-r) < 1e-6 {
		return astiav.NewRational(int(r), 1)
	}
	if n := math.Round(fps * 1001); math.Abs(n/1001-fps) < 1e-6 {
		return astiav.NewRational(int(n), 1001)
	}
	return astiav.NewRational(int(math.Round(fps*1000)), 1000)
}

func newEncoder(opts Options, globalHeader bool) (*Encoder, error) {
	if err := opts.check(); err != nil {
		return nil, err
	}
	name := "libx264"
	if opts.Codec == VP8 {
		name = "libvpx"
	}
	codec := astiav.FindEncoderByName(name)
	if codec == nil {
		return nil, fmt.Errorf("encode: %s encoder %s not in this FFmpeg build", opts.Codec, name)
	}
	e := &Encoder{opts: opts, lastPTS: math.MinInt64}
	if err := e.open(codec, globalHeader); err != nil {
		e.Close()
		return nil, err
	}
	return e, nil
}

func (e *Encoder) open(codec *astiav.Codec, globalHeader bool) error {
	o := e.opts
	e.cc = astiav.AllocCodecContext(codec)
	if e.cc == nil {
		return fmt.Errorf("encode: cannot allocate %s context", codec.Name())
	}
	fr := frameRate(o.FPS)
	e.tb = astiav.NewRational(fr.Den(), fr.Num())
	if o.Timescale > 0 {
		e.tb = astiav.NewRational(1, o.Timescale)
	}
	// 4:2:0 needs even sizes: an odd one is coded with its last column or
	// row repeated, so the picture keeps its pixel positions.
	e.cw, e.ch = o.Width+o.Width%2, o.Height+o.Height%2
	if e.cw != o.Width || e.ch != o.Height {
		e.pad = make([]byte, e.cw*e.ch*3)
	}
	e.cc.SetWidth(e.cw)
	e.cc.SetHeight(e.ch)
	e.cc.SetPixelFormat(astiav.PixelFormatYuv420P)
	e.cc.SetTimeBase(e.tb)
	e.cc.SetFramerate(fr)
	e.cc.SetSampleAspectRatio(astiav.NewRational(1, 1))
	gop := o.KeyframeInterval
	if gop == 0 {
		gop = int(math.Max(1, math.Round(2*o.FPS)))
	}
	e.cc.SetGopSize(gop)
	e.cc.SetThreadCount(o.Threads)
	flags := e.cc.Flags().Add(astiav.CodecContextFlagBitexact) // no version strings: reproducible files
	if globalHeader {
		flags = flags.Add(astiav.CodecContextFlagGlobalHeader)
	}
	e.cc.SetFlags(flags)

	d := astiav.NewDictionary()
	defer d.Free()
	set := func(k, v string) { _ = d.Set(k, v, 0) }
	switch o.Codec {
	case H264:
		set("preset", "ultrafast")
		set("tune", "zerolatency")
		set("profile", "baseline") // constrained baseline: what every WebRTC peer decodes
		if o.Bitrate == 0 {
			set("crf", "23")
		}
		if o.Threads == 1 {
			set("threads", "1")
		}
	case VP8:
		set("deadline", "realtime")
		set("cpu-used", "8")
		set("lag-in-frames", "0")
		set("auto-alt-ref", "0")
		if o.Bitrate == 0 {
			o.Bitrate = int(math.Max(100e3, 0.1*float64(o.Width*o.Height)*o.FPS))
		}
	}
	if o.Bitrate > 0 {
		e.cc.SetBitRate(int64(o.Bitrate))
	}
	if err := e.cc.Open(codec, d); err != nil {
		return fmt.Errorf("encode: opening %s %dx%d@%v: %w", codec.Name(), o.Width, o.Height, o.FPS, err)
	}
	e.frame = astiav.AllocFrame()
	e.pkt = astiav.AllocPacket()
	if e.frame == nil || e.pkt == nil {
		return errors.New("encode: cannot allocate frame/packet")
	}
	e.frame.SetWidth(e.cw)
	e.frame.SetHeight(e.ch)
	e.frame.SetPixelFormat(astiav.PixelFormatYuv420P)
	var err error
	e.conv, err = newRGBConverter(e.cw, e.ch, int(astiav.PixelFormatYuv420P))
	if err != nil {
		return fmt.Errorf("encode: %w", err)
	}
	return nil
}

// ForceKeyframe makes the next encoded frame a keyframe (e.g. on an RTCP PLI).
func (e *Encoder) ForceKeyframe() { e.forceKF = true }

// Encode compresses one packed RGB24 frame (stride Width*3) shown at pts and
// returns the packets ready so far (with these realtime settings: this
// frame's). pts must increase; a pts that rounds onto the previous frame's
// tick is moved one tick later.
func (e *Encoder) Encode(rgb []byte, pts time.Duration) ([]Packet, error) {
	var out []Packet
	err := e.encode(rgb, pts, func(p *astiav.Packet) error {
		out = append(out, e.goPacket(p))
		return nil
	})
	return out, err
}

// Flush drains the encoder; the Encoder accepts no frames afterwards.
func (e *Encoder) Flush() ([]Packet, error) {
	var out []Packet
	err := e.flush(func(p *astiav.Packet) error {
		out = append(out, e.goPacket(p))
		return nil
	})
	return out, err
}

func (e *Encoder) goPacket(p *astiav.Packet) Packet {
	return Packet{
		Data:     p.Data(), // a copy: the AVPacket is reused
		PTS:      e.toDuration(p.Pts()),
		Keyframe: p.Flags().Has(astiav.PacketFlagKey),
	}
}

func (e *Encoder) toDuration(ts int64) time.Duration {
	return time.Duration(math.Round(float64(ts) * float64(e.tb.Num()) / float64(e.tb.Den()) * float64(time.Second)))
}

func (e *Encoder) toTicks(d time.Duration) int64 {
	return int64(math.Round(d.Seconds() * float64(e.tb.Den()) / float64(e.tb.Num())))
}

func (e *Encoder) encode(rgb []byte, pts time.Duration, emit func(*astiav.Packet) error) error {
	if e.done {
		return ErrClosed
	}
	if want := e.opts.Width * e.opts.Height * 3; len(rgb) != want {
		return fmt.Errorf("encode: frame has %d bytes, want %d (%dx%d rgb24)", len(rgb), want, e.opts.Width, e.opts.Height)
	}
	if e.pad != nil {
		rgb = padRGB(e.pad, rgb, e.opts.Width, e.opts.Height, e.cw, e.ch)
	}
	if err := e.conv.fill(e.frame.UnsafePointer(), rgb); err != nil {
		return fmt.Errorf("encode: %w", err)
	}
	ts := e.toTicks(pts)
	if ts <= e.lastPTS {
		ts = e.lastPTS + 1
	}
	e.lastPTS = ts
	e.frame.SetPts(ts)
	if e.forceKF {
		e.frame.SetPictureType(astiav.PictureTypeI)
		e.forceKF = false
	}
	if err := e.cc.SendFrame(e.frame); err != nil {
		return fmt.Errorf("encode: sending frame: %w", err)
	}
	return e.drain(emit)
}

// padRGB copies the w x h picture into dst (cw x ch, cw >= w, ch >= h),
// repeating its last column and row.
func padRGB(dst, rgb []byte, w, h, cw, ch int) []byte {
	for y := range ch {
		sy := min(y, h-1)
		row := dst[y*cw*3 : (y+1)*cw*3]
		copy(row, rgb[sy*w*3:(sy+1)*w*3])
		for x := w; x < cw; x++ {
			copy(row[x*3:x*3+3], row[(w-1)*3:w*3])
		}
	}
	return dst
}

func (e *Encoder) flush(emit func(*astiav.Packet) error) error {
	if e.done {
		return ErrClosed
	}
	e.done = true
	if err := e.cc.SendFrame(nil); err != nil {
		return fmt.Errorf("encode: flushing: %w", err)
	}
	return e.drain(emit)
}

func (e *Encoder) drain(emit func(*astiav.Packet) error) error {
	for {
		err := e.cc.ReceivePacket(e.pkt)
		if errors.Is(err, astiav.ErrEagain) || errors.Is(err, astiav.ErrEof) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("encode: receiving packet: %w", err)
		}
		err = emit(e.pkt)
		e.pkt.Unref()
		if err != nil {
			return err
		}
	}
}

// Close frees the encoder. Packets not yet flushed are dropped.
func (e *Encoder) Close() error {
	e.done = true
	e.conv.close()
	e.conv = nil
	if e.frame != nil {
		e.frame.Free()
		e.frame = nil
	}
	if e.pkt != nil {
		e.pkt.Free()
		e.pkt = nil
	}
	if e.cc != nil {
		e.cc.Free()
		e.cc = nil
	}
	return nil
}
