package decode

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/asticode/go-astiav"
	"github.com/vidseg/vidseg/video"
)

// PacketDecoder decodes a bare video bitstream handed over one access unit
// at a time (H.264 Annex B or VP8 frames, as WebRTC carries them) into
// RGB frames like Decoder's. Not safe for concurrent use.
type PacketDecoder struct {
	name      string
	modelSize int

	cc    *astiav.CodecContext
	pkt   *astiav.Packet
	frame *astiav.Frame

	rgbScaler, modelScaler *scaler
	pool                   video.Pool
	next                   int
	outW, outH             int // 0: the decoded size
}

// SetOutputSize makes every frame width x height whatever size the stream
// has (WebRTC senders change resolution with bandwidth and CPU), so the
// consumer sees one size; 0, 0 keeps the decoded size.
func (d *PacketDecoder) SetOutputSize(width, height int) {
	if width != d.outW || height != d.outH {
		d.rgbScaler.close()
		d.rgbScaler = nil
	}
	d.outW, d.outH = max(width, 0), max(height, 0)
}

// NewPacketDecoder opens an FFmpeg decoder for codec ("h264" or "vp8").
// With modelSize > 0 each frame also carries Model, as with Options.ModelSize.
func NewPacketDecoder(codec string, modelSize int) (*PacketDecoder, error) {
	var id astiav.CodecID
	switch strings.ToLower(codec) {
	case "h264":
		id = astiav.CodecIDH264
	case "vp8":
		id = astiav.CodecIDVp8
	default:
		return nil, fmt.Errorf("decode: %w: %q (want h264 or vp8)", ErrUnsupportedCodec, codec)
	}
	c := astiav.FindDecoder(id)
	if c == nil {
		return nil, fmt.Errorf("decode: %w: no %s decoder in this FFmpeg build", ErrUnsupportedCodec, codec)
	}
	d := &PacketDecoder{name: codec, modelSize: max(modelSize, 0)}
	if d.cc = astiav.AllocCodecContext(c); d.cc == nil {
		return nil, fmt.Errorf("decode: cannot allocate %s decoder", codec)
	}
	// One thread and no frame threading: a live picture must come out as
	// soon as its packet is in, not a few frames later.
	d.cc.SetThreadCount(1)
	if err := d.cc.Open(c, nil); err != nil {
		d.Close()
		return nil, fmt.Errorf("decode: %w: opening %s decoder: %w", ErrUnsupportedCodec, codec, err)
	}
	d.pkt, d.frame = astiav.AllocPacket(), astiav.AllocFrame()
	if d.pkt == nil || d.frame == nil {
		d.Close()
		return nil, fmt.Errorf("decode: cannot allocate %s packet/frame", codec)
	}
	return d, nil
}

// Decode feeds one access unit with its presentation time and returns the
// frames it completed (usually one). A damaged unit is an error wrapping
// ErrCorrupt; the decoder stays usable and recovers at the next keyframe.
func (d *PacketDecoder) Decode(data []byte, pts time.Duration) ([]*video.Frame, error) {
	if d.cc == nil {
		return nil, ErrClosed
	}
	if len(data) == 0 {
		return nil, nil
	}
	d.pkt.Unref()
	if err := d.pkt.FromData(data); err != nil {
		return nil, fmt.Errorf("decode: %s packet: %w", d.name, err)
	}
	d.pkt.SetPts(pts.Microseconds())
	if err := d.cc.SendPacket(d.pkt); err != nil && !errors.Is(err, astiav.ErrEagain) {
		return nil, fmt.Errorf("decode: %w: %s packet of %d bytes: %w", ErrCorrupt, d.name, len(data), err)
	}
	var out []*video.Frame
	for {
		err := d.cc.ReceiveFrame(d.frame)
		if errors.Is(err, astiav.ErrEagain) || errors.Is(err, astiav.ErrEof) {
			return out, nil
		}
		if err != nil {
			return out, fmt.Errorf("decode: %w: %s: %w", ErrCorrupt, d.name, err)
		}
		f, err := d.emit(time.Duration(d.frame.Pts()) * time.Microsecond)
		d.frame.Unref()
		if err != nil {
			return out, err
		}
		out = append(out, f)
	}
}

func (d *PacketDecoder) emit(pts time.Duration) (*video.Frame, error) {
	fp := d.frame.UnsafePointer()
	w, h := d.frame.Width(), d.frame.Height()
	if d.outW > 0 && d.outH > 0 {
		w, h = d.outW, d.outH
	}
	if err := ensureScalers(&d.rgbScaler, &d.modelScaler, fp, w, h, d.modelSize); err != nil {
		return nil, fmt.Errorf("decode: %s: %w", d.name, err)
	}
	f := d.pool.NewFrame(d.next, pts, w, h, d.modelSize)
	if err := d.rgbScaler.scale(fp, f.RGB); err != nil {
		f.Release()
		return nil, fmt.Errorf("decode: %s: frame %d: %w", d.name, d.next, err)
	}
	if m := d.modelSize; m > 0 {
		if err := d.modelScaler.scale(fp, f.Model); err != nil {
			f.Release()
			return nil, fmt.Errorf("decode: %s: frame %d: %w", d.name, d.next, err)
		}
	}
	d.next++
	return f, nil
}

// Close frees the decoder. Frames already returned stay valid.
func (d *PacketDecoder) Close() error {
	d.rgbScaler.close()
	d.modelScaler.close()
	d.rgbScaler, d.modelScaler = nil, nil
	if d.frame != nil {
		d.frame.Free()
		d.frame = nil
	}
	if d.pkt != nil {
		d.pkt.Free()
		d.pkt = nil
	}
	if d.cc != nil {
		d.cc.Free()
		d.cc = nil
	}
	return nil
}
