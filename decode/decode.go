// Package decode turns a video source (file, HTTP, RTSP, V4L2 device) into
// RGB frames through FFmpeg (go-astiav), optionally with a second copy resized
// for the model.
package decode

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"

	"github.com/asticode/go-astiav"

	"github.com/vidseg/vidseg/video"
)

// Options configure Open.
type Options struct {
	Format    string        // force the input format, e.g. "v4l2"; "" = probe
	ModelSize int           // >0: each Frame also carries Model, RGB24 ModelSize x ModelSize (aspect not kept, SWS_BICUBIC from the decoded frame)
	Loop      bool          // restart at EOF (endless stream from a file)
	Realtime  bool          // pace frames at the source rate (a file served as if live)
	Timeout   time.Duration // open/read timeout for network sources; default 10s

	// Formats and Protocols, when set, are FFmpeg's format_whitelist and
	// protocol_whitelist (see VideoFormats, RTSPProtocols in options.go).
	Formats, Protocols string
	// Input, when set, is read instead of opening src (src only names it
	// in errors); an io.Seeker is seekable. Close closes an io.Closer.
	Input io.Reader
	// ProbeDuration, when > 0, bounds how much of a network stream Open
	// reads to learn its parameters (FFmpeg's analyzeduration; its default
	// is seconds). Reopening a known live source uses a short one.
	ProbeDuration time.Duration
	// RTSPTCP forces RTSP's RTP into the RTSP connection (interleaved
	// TCP): no UDP socket is opened, so a SETUP reply cannot send the
	// media to another address.
	RTSPTCP bool
	// LazyModel, with ModelSize, leaves each frame's Model copy to
	// video.Frame.LoadModel, made then from the decoded picture (same
	// bytes): for consumers that take few frames, such as a live session's
	// model, which skips the frames that arrive while it works.
	LazyModel bool
}

// Info describes the video stream.
type Info struct {
	Width, Height int // as displayed: the container's rotation/flip is applied
	FPS           float64
	Duration      time.Duration // 0 when unknown (live)
	Codec         string
	Frames        int  // frame count from the container, or estimated from duration; 0 when unknown
	Live          bool // network stream or capture device: no duration, no Seek
	Rotation      int  // clockwise degrees the display matrix turns coded frames (0, 90, 180, 270)
}

// DefaultTimeout bounds opening and each read of a network source.
const DefaultTimeout = 10 * time.Second

// Decoder reads frames from one source. It is not safe for concurrent use;
// the Frames it returns are.
type Decoder struct {
	url  string
	opts Options
	info Info

	fc     *astiav.FormatContext
	intr   astiav.IOInterrupter // kept: FFmpeg points at its memory
	ioc    *astiav.IOContext    // Options.Input's context; freed by Close
	cc     *astiav.CodecContext
	codec  *astiav.Codec
	stream *astiav.Stream
	pkt    *astiav.Packet
	frame  *astiav.Frame

	network  bool
	timedOut atomic.Bool

	rgbScaler, modelScaler *scaler
	lazy                   *modelConverter // Options.LazyModel
	pool                   video.Pool
	orient                 orientation // display matrix, applied to every frame

	tb        astiav.Rational
	startTS   int64         // stream start in tb (0 when unknown)
	frameDur  time.Duration // nominal frame duration
	next      int           // Index of the next frame to emit
	passStart int           // frames emitted in the current Loop pass
	lastRel   time.Duration // PTS (before loop offset) of the last emitted frame
	loopOff   time.Duration // added to PTS after each Loop restart
	seekTS    int64         // after Seek: drop frames before this timestamp
	seeking   bool
	ptsTable  []int64 // sorted packet timestamps, built on first Seek

	demuxEOF   bool
	packets    int   // video packets read in this pass
	badPackets int   // packets the decoder rejected as invalid
	demuxErr   error // invalid data from the demuxer (reported at the end)
	readErr    error // a network read failed: reported once the frames already read are out

	clockStart time.Time // Realtime pacing origin (wall clock)
	clockPTS   time.Duration

	err    error // sticky: io.EOF or a terminal error
	closed bool
}

// Open opens a local path, http(s)://, rtsp:// URL or /dev/videoN device.
// The returned Decoder must be closed.
func Open(ctx context.Context, src string, opts Options) (*Decoder, error) {
	if src == "" {
		return nil, fmt.Errorf("decode: %w: empty source name", ErrNotFound)
	}
	if opts.ModelSize < 0 {
		return nil, fmt.Errorf("decode: %s: negative ModelSize %d", src, opts.ModelSize)
	}
	if opts.Timeout <= 0 {
		opts.Timeout = DefaultTimeout
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("decode: open %s: %w", src, err)
	}
	d := &Decoder{url: src, opts: opts}
	if opts.LazyModel && opts.ModelSize > 0 {
		d.lazy = &modelConverter{size: opts.ModelSize, pool: &d.pool}
	}
	scheme := sourceScheme(src)
	d.network = scheme != "" && scheme != "file"
	device := strings.HasPrefix(src, "/dev/video") || opts.Format == "v4l2"
	if !d.network && !device && opts.Input == nil {
		path := strings.TrimPrefix(src, "file:")
		st, err := os.Stat(path)
		switch {
		case errors.Is(err, fs.ErrNotExist):
			return nil, fmt.Errorf("decode: %w: %s: %w", ErrNotFound, src, err)
		case err != nil:
			return nil, fmt.Errorf("decode: open %s: %w", src, err)
		case st.IsDir():
			return nil, fmt.Errorf("decode: %w: %s is a directory", ErrNotVideo, src)
		case st.Size() == 0 && st.Mode().IsRegular():
			return nil, fmt.Errorf("decode: %w: %s is an empty file", ErrNotVideo, src)
		}
	}
	if err := d.open(ctx, device); err != nil {
		d.Close()
		return nil, err
	}
	return d, nil
}

func sourceScheme(src string) string {
	u, err := url.Parse(src)
	if err != nil || len(u.Scheme) < 2 { // "C:" style or no scheme
		return ""
	}
	return strings.ToLower(u.Scheme)
}

func (d *Decoder) open(ctx context.Context, device bool) error {
	d.fc = astiav.AllocFormatContext()
	if d.fc == nil {
		return fmt.Errorf("decode: %s: cannot allocate format context", d.url)
	}
	d.intr = d.fc.SetInterruptCallback()
	if d.opts.Input != nil {
		if err := d.customIO(); err != nil {
			return err
		}
	}

	var ifmt *astiav.InputFormat
	if device {
		astiav.RegisterAllDevices() // idempotent; devices are not registered by default
	}
	name := d.opts.Format
	if name == "" && device {
		name = "v4l2"
	}
	if name != "" {
		if ifmt = astiav.FindInputFormat(name); ifmt == nil {
			return fmt.Errorf("decode: %s: unknown input format %q", d.url, name)
		}
	}

	dict := astiav.NewDictionary()
	defer dict.Free()
	d.setPolicy(dict)
	if d.network {
		us := strconv.FormatInt(d.opts.Timeout.Microseconds(), 10)
		_ = dict.Set("rw_timeout", us, 0) // socket-level read/write timeout for every protocol
		if strings.HasPrefix(strings.ToLower(d.url), "rtsp") {
			_ = dict.Set("timeout", us, 0) // RTSP's own socket timeout
			if d.opts.RTSPTCP {
				_ = dict.Set("rtsp_transport", "tcp", 0)
			}
		}
		if p := d.opts.ProbeDuration; p > 0 {
			_ = dict.Set("analyzeduration", strconv.FormatInt(p.Microseconds(), 10), 0)
		}
	}

	// Open and probe under ctx, bounded by Timeout for network sources.
	octx := ctx
	if d.network {
		var cancel context.CancelFunc
		octx, cancel = context.WithTimeout(ctx, d.opts.Timeout)
		defer cancel()
	}
	stop := context.AfterFunc(octx, d.intr.Interrupt)
	defer stop()

	err := d.fc.OpenInput(d.url, ifmt, dict)
	if err != nil {
		if d.fc != nil {
			d.fc.Free() // avformat_open_input already freed the context; Free(NULL) is a no-op
			d.fc = nil
		}
		return d.openError(ctx, octx, "open", err)
	}
	if err := d.fc.FindStreamInfo(nil); err != nil {
		if d.noSeekIndexAtEnd() {
			return fmt.Errorf("decode: %w: %s: the server does not support seeking and the file's index is at its end "+
				"(serve it with Range support, or move the index to the front: ffmpeg -i IN -c copy -movflags +faststart OUT)", ErrNotSeekable, d.url)
		}
		return d.openError(ctx, octx, "probe", err)
	}
	if err := d.pickStream(); err != nil {
		return err
	}
	if err := d.openCodec(); err != nil {
		return err
	}
	d.pkt = astiav.AllocPacket()
	d.frame = astiav.AllocFrame()
	if d.pkt == nil || d.frame == nil {
		return fmt.Errorf("decode: %s: cannot allocate packet/frame", d.url)
	}
	return nil
}

func (d *Decoder) openError(ctx, octx context.Context, op string, err error) error {
	if perr := d.policyError(err); perr != nil && ctx.Err() == nil && octx.Err() == nil {
		return perr
	}
	switch {
	case ctx.Err() != nil:
		return fmt.Errorf("decode: %s %s: %w", op, d.url, ctx.Err())
	case octx.Err() != nil:
		return fmt.Errorf("decode: %w: %s %s: no answer within %v", ErrUnreachable, op, d.url, d.opts.Timeout)
	case d.network:
		return fmt.Errorf("decode: %w: %s %s: %w", ErrUnreachable, op, d.url, err)
	case (errors.Is(err, astiav.ErrInvaliddata) || errors.Is(err, astiav.ErrEof)) && isMP4Head(d.url):
		// An MP4/MOV whose index (moov) comes last, cut before it: the
		// frames are there but cannot be found.
		return fmt.Errorf("decode: %w: %s: an MP4/MOV file without its index (moov): cut short (an interrupted download or recording?) or damaged; "+
			"nothing can be read from it: %w", ErrTruncated, d.url, err)
	case errors.Is(err, astiav.ErrInvaliddata), errors.Is(err, astiav.ErrEof):
		return fmt.Errorf("decode: %w: %s: not a recognized media file: %w", ErrNotVideo, d.url, err)
	case errors.Is(err, astiav.ErrDecoderNotFound):
		return fmt.Errorf("decode: %w: %s: %w", ErrUnsupportedCodec, d.url, err)
	case errors.Is(err, astiav.ErrPatchwelcome):
		// A container feature this FFmpeg does not implement: the file's
		// doing, not the server's.
		return fmt.Errorf("decode: %w: %s: uses a feature FFmpeg cannot read: %w", ErrNotVideo, d.url, err)
	}
	return fmt.Errorf("decode: %s %s: %w", op, d.url, err)
}

func (d *Decoder) pickStream() error {
	var audioOnly bool
	for _, s := range d.fc.Streams() {
		cp := s.CodecParameters()
		switch cp.MediaType() {
		case astiav.MediaTypeVideo:
			if d.stream == nil {
				d.stream = s
			}
		case astiav.MediaTypeAudio:
			audioOnly = true
		}
	}
	if d.stream == nil {
		what := "no streams"
		if audioOnly {
			what = "audio only"
		} else if d.fc.NbStreams() > 0 {
			what = "no video stream"
		}
		return fmt.Errorf("decode: %w: %s: %s", ErrNotVideo, d.url, what)
	}
	cp := d.stream.CodecParameters()
	id := cp.CodecID()
	if d.codec = astiav.FindDecoder(id); d.codec == nil {
		return fmt.Errorf("decode: %w: %s: no decoder for %q in this FFmpeg build", ErrUnsupportedCodec, d.url, id.Name())
	}
	if cp.Width() <= 0 || cp.Height() <= 0 {
		return fmt.Errorf("decode: %w: %s: video stream has no frame size (%dx%d)", ErrCorrupt, d.url, cp.Width(), cp.Height())
	}

	d.tb = d.stream.TimeBase()
	if st := d.stream.StartTime(); st != astiav.NoPtsValue {
		d.startTS = st
	}
	fps := d.stream.AvgFrameRate().Float64()
	if fps <= 0 || math.IsNaN(fps) || math.IsInf(fps, 0) || fps > 1000 {
		fps = d.stream.RFrameRate().Float64()
	}
	if fps <= 0 || math.IsNaN(fps) || math.IsInf(fps, 0) || fps > 1000 {
		fps = 0
	}
	var dur time.Duration
	if sd := d.stream.Duration(); sd > 0 && sd != astiav.NoPtsValue {
		dur = d.toDuration(sd)
	} else if fd := d.fc.Duration(); fd > 0 && fd != astiav.NoPtsValue {
		dur = time.Duration(fd) * time.Microsecond // AV_TIME_BASE
	}
	frames := int(d.stream.NbFrames())
	if frames <= 0 && fps > 0 && dur > 0 {
		frames = int(math.Round(dur.Seconds() * fps))
	}
	live := d.network && (dur == 0 || strings.HasPrefix(strings.ToLower(d.url), "rtsp")) ||
		d.opts.Format == "v4l2" || strings.HasPrefix(d.url, "/dev/video")
	if frames <= 0 && !live && !d.network {
		// A still image (png_pipe) or a raw stream says nothing: count.
		frames = d.countPackets()
	}
	if o, ok := orientationOf(d.stream.SideData(astiav.PacketSideDataTypeDisplaymatrix)); ok {
		d.orient = o
	}
	w, h := d.orient.size(cp.Width(), cp.Height())
	d.info = Info{
		Width: w, Height: h, FPS: fps, Duration: dur,
		Codec: d.codec.Name(), Frames: frames, Live: live, Rotation: d.orient.degrees(),
	}
	if fps > 0 {
		d.frameDur = time.Duration(float64(time.Second) / fps)
	}
	return nil
}

// countPackets counts the video stream's packets in a second, demux-only
// pass over a local file; 0 when that fails.
func (d *Decoder) countPackets() int {
	fc := astiav.AllocFormatContext()
	if fc == nil {
		return 0
	}
	defer fc.Free()
	var ifmt *astiav.InputFormat
	if d.opts.Format != "" {
		ifmt = astiav.FindInputFormat(d.opts.Format)
	}
	if err := fc.OpenInput(d.url, ifmt, nil); err != nil {
		return 0
	}
	defer fc.CloseInput()
	pkt := astiav.AllocPacket()
	if pkt == nil {
		return 0
	}
	defer pkt.Free()
	n := 0
	for fc.ReadFrame(pkt) == nil {
		if pkt.StreamIndex() == d.stream.Index() {
			n++
		}
		pkt.Unref()
	}
	return n
}

// openCodec (re)creates the codec context: a fresh context is how we flush
// after a seek, since go-astiav v0.16 has no avcodec_flush_buffers.
func (d *Decoder) openCodec() error {
	if d.cc != nil {
		d.cc.Free()
		d.cc = nil
	}
	cc := astiav.AllocCodecContext(d.codec)
	if cc == nil {
		return fmt.Errorf("decode: %s: cannot allocate %s decoder", d.url, d.codec.Name())
	}
	if err := d.stream.CodecParameters().ToCodecContext(cc); err != nil {
		cc.Free()
		return fmt.Errorf("decode: %s: codec parameters: %w", d.url, err)
	}
	cc.SetTimeBase(d.tb)
	cc.SetThreadCount(0) // auto, like the ffmpeg CLI
	cc.SetThreadType(astiav.ThreadTypeFrame | astiav.ThreadTypeSlice)
	if err := cc.Open(d.codec, nil); err != nil {
		cc.Free()
		return fmt.Errorf("decode: %w: %s: opening %s decoder: %w", ErrUnsupportedCodec, d.url, d.codec.Name(), err)
	}
	d.cc = cc
	return nil
}

func (d *Decoder) toDuration(ts int64) time.Duration {
	num, den := int64(d.tb.Num()), int64(d.tb.Den())
	if den == 0 {
		return 0
	}
	// ts*num/den seconds, in float to avoid overflow on long streams.
	return time.Duration(math.Round(float64(ts) * float64(num) / float64(den) * float64(time.Second)))
}

// Info describes the stream as the container reported it at Open.
func (d *Decoder) Info() Info { return d.info }

// Next returns the next frame, or io.EOF after the last one. With Loop it
// never returns io.EOF. A truncated or damaged file yields every frame before
// the damage and then an error wrapping ErrTruncated or ErrCorrupt.
func (d *Decoder) Next(ctx context.Context) (*video.Frame, error) {
	if d.closed {
		return nil, ErrClosed
	}
	if d.err != nil {
		return nil, d.err
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	d.intr.Resume()
	stop := context.AfterFunc(ctx, d.intr.Interrupt)
	defer stop()

	for {
		err := d.cc.ReceiveFrame(d.frame)
		switch {
		case err == nil:
			f, err := d.emit(ctx)
			if err != nil {
				return nil, err
			}
			if f != nil {
				return f, nil
			}
		case errors.Is(err, astiav.ErrEagain):
			if err := d.feed(ctx); err != nil {
				return nil, err
			}
		case errors.Is(err, astiav.ErrEof):
			if d.opts.Loop && d.passStart < d.next && d.demuxErr == nil && d.readErr == nil {
				if err := d.restart(); err != nil {
					return nil, err
				}
				continue
			}
			d.err = d.endError()
			return nil, d.err
		case errors.Is(err, astiav.ErrInvaliddata):
			// A damaged packet (frame threads report it here, not at
			// SendPacket): skip it like the ffmpeg CLI; the end reports it.
			d.badPackets++
		default:
			d.err = fmt.Errorf("decode: %w: %s: decoding frame %d: %w", ErrCorrupt, d.url, d.next, err)
			return nil, d.err
		}
	}
}

// feed sends the next video packet to the decoder, or the drain signal at the end.
func (d *Decoder) feed(ctx context.Context) error {
	for {
		d.pkt.Unref()
		err := d.readPacket()
		if err != nil {
			switch {
			case ctx.Err() != nil:
				return fmt.Errorf("decode: %s: %w", d.url, ctx.Err())
			case d.timedOut.Load():
				// Frames whose packets arrived are still in the decoder:
				// drain them, then report.
				d.readErr = fmt.Errorf("no data within %v", d.opts.Timeout)
			case errors.Is(err, astiav.ErrEof):
			case errors.Is(err, astiav.ErrInvaliddata):
				d.demuxErr = err
			case d.network:
				d.readErr = fmt.Errorf("reading: %w", err)
			default:
				d.demuxErr = err
			}
			// End of input (or unreadable rest): drain the decoder.
			d.demuxEOF = true
			if err := d.cc.SendPacket(nil); err != nil && !errors.Is(err, astiav.ErrEof) {
				// The decoder refuses to drain what it was given: the
				// data ended or broke inside a frame.
				if d.err = d.endError(); errors.Is(d.err, io.EOF) {
					d.err = fmt.Errorf("decode: %w: %s: after frame %d: %w", ErrCorrupt, d.url, d.next-1, err)
				}
				return d.err
			}
			return nil
		}
		if d.pkt.StreamIndex() != d.stream.Index() {
			continue
		}
		d.packets++
		err = d.cc.SendPacket(d.pkt)
		switch {
		case err == nil:
			return nil
		case errors.Is(err, astiav.ErrInvaliddata):
			d.badPackets++ // skip it, as the ffmpeg CLI does; reported at the end
			continue
		default:
			d.err = fmt.Errorf("decode: %w: %s: packet %d: %w", ErrCorrupt, d.url, d.packets, err)
			return d.err
		}
	}
}

// readPacket reads one packet; on network sources a read that stalls longer
// than Timeout is interrupted.
func (d *Decoder) readPacket() error {
	if !d.network {
		return d.fc.ReadFrame(d.pkt)
	}
	t := time.AfterFunc(d.opts.Timeout, func() {
		d.timedOut.Store(true)
		d.intr.Interrupt()
	})
	err := d.fc.ReadFrame(d.pkt)
	t.Stop()
	return err
}

// endError is the error Next reports once the decoder is drained.
func (d *Decoder) endError() error {
	if d.next == d.passStart && d.noSeekIndexAtEnd() {
		return fmt.Errorf("decode: %w: %s: the server does not support seeking and the file's index is at its end "+
			"(serve it with Range support, or move the index to the front: ffmpeg -i IN -c copy -movflags +faststart OUT)", ErrNotSeekable, d.url)
	}
	if d.readErr != nil {
		return fmt.Errorf("decode: %w: %s: %w (stopped after frame %d)", ErrUnreachable, d.url, d.readErr, d.next-1)
	}
	if n := d.info.Frames; !d.network && d.stream.NbFrames() > 0 && d.packets < n && d.next-d.passStart < n && !d.seekedThisPass() {
		return fmt.Errorf("decode: %w: %s: data ends after %d of %d packets", ErrTruncated, d.url, d.packets, n)
	}
	if d.demuxErr != nil {
		return fmt.Errorf("decode: %w: %s: after frame %d: %w", ErrCorrupt, d.url, d.next-1, d.demuxErr)
	}
	if d.badPackets > 0 {
		return fmt.Errorf("decode: %w: %s: %d undecodable packets (last good frame %d)", ErrCorrupt, d.url, d.badPackets, d.next-1)
	}
	return io.EOF
}

// noSeekIndexAtEnd reports whether d is an MP4/MOV over the network that
// cannot seek: its index (moov) came after the media data, so reading the
// samples needs a seek back, which a server that ignores Range cannot
// serve (FFmpeg refuses the seek, or reads the wrong bytes when the server
// claims Range support). Only asked once reading has failed. It reads bytes
// 8..24, moves 256 KiB on (past FFmpeg's buffer) and reads 16..24 again.
func (d *Decoder) noSeekIndexAtEnd() bool {
	if !d.network || d.fc == nil || d.fc.InputFormat() == nil || !strings.Contains(d.fc.InputFormat().Name(), "mp4") {
		return false
	}
	pb := d.fc.Pb()
	if pb == nil {
		return false
	}
	read := func(off int64, b []byte) bool {
		if _, err := pb.Seek(off, io.SeekStart); err != nil {
			return false
		}
		_, err := io.ReadFull(ioReader{pb}, b)
		return err == nil
	}
	var first [16]byte
	var again [8]byte
	if !read(8, first[:]) {
		return true // the seek back is refused
	}
	if _, err := pb.Seek(256<<10, io.SeekStart); err != nil {
		return false // a small file: FFmpeg's buffer would have covered it
	}
	return !read(16, again[:]) || string(again[:]) != string(first[8:])
}

// ioReader adapts an astiav.IOContext to io.Reader (its Read may return
// less than asked).
type ioReader struct{ pb *astiav.IOContext }

func (r ioReader) Read(b []byte) (int, error) { return r.pb.Read(b) }

// seekedThisPass reports whether the pass started at a Seek (packet counts
// then do not start at frame 0).
func (d *Decoder) seekedThisPass() bool { return d.ptsTable != nil && d.passStart > 0 && !d.opts.Loop }

// emit converts the decoded frame; it returns nil, nil for a frame dropped
// while seeking.
func (d *Decoder) emit(ctx context.Context) (*video.Frame, error) {
	defer d.frame.Unref()
	fp := d.frame.UnsafePointer()
	ts := bestEffortTimestamp(fp)
	if d.seeking {
		if ts != astiav.NoPtsValue && ts < d.seekTS {
			return nil, nil
		}
		d.seeking = false
	}
	var rel time.Duration
	if ts != astiav.NoPtsValue {
		rel = d.toDuration(ts - d.startTS)
	} else {
		rel = time.Duration(d.next-d.passStart) * d.frameDur
	}

	w, h := d.frame.Width(), d.frame.Height()
	eager := d.opts.ModelSize
	if d.opts.LazyModel {
		eager = 0
	}
	if err := ensureScalers(&d.rgbScaler, &d.modelScaler, fp, w, h, eager); err != nil {
		return nil, fmt.Errorf("decode: %s: %w", d.url, err)
	}
	dw, dh := d.orient.size(w, h)
	f := d.pool.NewFrame(d.next, rel+d.loopOff, dw, dh, eager)
	if err := d.convert(d.rgbScaler, fp, f.RGB, w, h); err != nil {
		f.Release()
		return nil, fmt.Errorf("decode: %s: frame %d: %w", d.url, d.next, err)
	}
	if m := d.opts.ModelSize; m > 0 && d.opts.LazyModel {
		if err := d.deferModel(f, m); err != nil {
			f.Release()
			return nil, fmt.Errorf("decode: %s: frame %d: %w", d.url, d.next, err)
		}
	} else if m > 0 {
		if err := d.convert(d.modelScaler, fp, f.Model, m, m); err != nil {
			f.Release()
			return nil, fmt.Errorf("decode: %s: frame %d: %w", d.url, d.next, err)
		}
	}
	d.next++
	d.lastRel = rel
	if d.opts.Realtime && !d.info.Live {
		if err := d.pace(ctx, f.PTS); err != nil {
			f.Release()
			return nil, err
		}
	}
	return f, nil
}

// convert scales the frame into dst (w x h as coded) and turns it as the
// display matrix says. The model copy is turned after scaling, which only
// moves pixels, so an unturned video's frames stay bit-identical to the
// ffmpeg CLI's.
func (d *Decoder) convert(s *scaler, fp unsafe.Pointer, dst []byte, w, h int) error {
	return convertTurned(s, d.orient, &d.pool, fp, dst, w, h)
}

func convertTurned(s *scaler, o orientation, pool *video.Pool, fp unsafe.Pointer, dst []byte, w, h int) error {
	if o.identity() {
		return s.scale(fp, dst)
	}
	tmp := pool.Get(len(dst))
	defer pool.Put(tmp)
	if err := s.scale(fp, tmp); err != nil {
		return err
	}
	o.apply(dst, tmp, w, h)
	return nil
}

// deferModel keeps a reference to the decoded picture (its buffers are
// reference-counted: no copy) for f's Model copy, made by LoadModel.
func (d *Decoder) deferModel(f *video.Frame, size int) error {
	ref := astiav.AllocFrame()
	if err := ref.Ref(d.frame); err != nil {
		ref.Free()
		return fmt.Errorf("keep the picture for the model: %w", err)
	}
	c, o := d.lazy, d.orient
	c.pending.Add(1)
	f.DeferModel(size, func(dst []byte) error {
		return c.convert(ref.UnsafePointer(), o, dst)
	}, func() {
		ref.Free()
		c.pending.Add(-1)
	})
	return nil
}

// DeferredModelCopies is how many frames of this decoder (Options.LazyModel)
// still hold a decoded picture for a model copy not made or dropped yet.
func (d *Decoder) DeferredModelCopies() int {
	if d.lazy == nil {
		return 0
	}
	return int(d.lazy.pending.Load())
}

// modelConverter makes deferred Model copies on the consumer's goroutine,
// with a scaler of its own (the decoder's goroutine keeps converting RGB
// meanwhile). Frames may outlive the decoder: after Close each conversion
// makes a scaler for itself.
type modelConverter struct {
	mu     sync.Mutex
	s      *scaler
	closed bool
	size   int
	pool   *video.Pool
	// pending counts the pictures frames still hold (DeferredModelCopies).
	pending atomic.Int64
}

func (c *modelConverter) convert(fp unsafe.Pointer, o orientation, dst []byte) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	s := c.s
	if c.closed || !s.fits(fp) {
		ns, err := newScaler(fp, c.size, c.size)
		if err != nil {
			return err
		}
		if c.closed {
			defer ns.close()
		} else {
			c.s.close()
			c.s = ns
		}
		s = ns
	}
	return convertTurned(s, o, c.pool, fp, dst, c.size, c.size)
}

func (c *modelConverter) close() {
	if c == nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.s.close()
	c.s, c.closed = nil, true
}

// pace sleeps until the frame's presentation time on the wall clock.
func (d *Decoder) pace(ctx context.Context, pts time.Duration) error {
	now := time.Now()
	if d.clockStart.IsZero() {
		d.clockStart, d.clockPTS = now, pts
		return nil
	}
	wait := d.clockStart.Add(pts - d.clockPTS).Sub(now)
	if wait <= 0 {
		return nil
	}
	t := time.NewTimer(wait)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("decode: %s: %w", d.url, ctx.Err())
	}
}

// restart rewinds to the first frame for Loop; PTS keeps increasing.
func (d *Decoder) restart() error {
	d.loopOff += d.lastRel + d.frameDur
	if err := d.rewind(d.startTS); err != nil {
		return err
	}
	d.passStart = d.next
	return nil
}

// rewind seeks the demuxer to the keyframe at or before ts and resets the decoder.
func (d *Decoder) rewind(ts int64) error {
	if err := d.fc.SeekFrame(d.stream.Index(), ts, astiav.NewSeekFlags(astiav.SeekFlagBackward)); err != nil {
		d.err = fmt.Errorf("decode: %w: %s: seek: %w", ErrNotSeekable, d.url, err)
		return d.err
	}
	if err := d.openCodec(); err != nil {
		d.err = err
		return err
	}
	d.demuxEOF, d.packets, d.badPackets, d.demuxErr = false, 0, 0, nil
	return nil
}

// Seek positions the decoder so that the next call to Next returns frame
// index (counting from 0 in presentation order). It decodes from the
// preceding keyframe, so it is exact but costs up to one GOP of decoding.
// The first Seek reads the container's packet timestamps once.
func (d *Decoder) Seek(ctx context.Context, index int) error {
	if d.closed {
		return ErrClosed
	}
	if d.info.Live {
		return fmt.Errorf("decode: %w: %s is live", ErrNotSeekable, d.url)
	}
	if index < 0 {
		return fmt.Errorf("decode: %w: %s: negative frame index %d", ErrNotSeekable, d.url, index)
	}
	d.intr.Resume()
	stop := context.AfterFunc(ctx, d.intr.Interrupt)
	defer stop()
	if d.ptsTable == nil {
		if err := d.buildPTSTable(ctx); err != nil {
			return err
		}
	}
	if index >= len(d.ptsTable) {
		return fmt.Errorf("decode: %w: %s: frame %d past the end (%d frames)", ErrNotSeekable, d.url, index, len(d.ptsTable))
	}
	target := d.ptsTable[index]
	d.err = nil
	if err := d.rewind(target); err != nil {
		return err
	}
	d.seekTS, d.seeking = target, true
	d.next, d.passStart = index, index
	d.clockStart = time.Time{}
	return nil
}

func (d *Decoder) buildPTSTable(ctx context.Context) error {
	if err := d.fc.SeekFrame(d.stream.Index(), d.startTS, astiav.NewSeekFlags(astiav.SeekFlagBackward)); err != nil {
		return fmt.Errorf("decode: %w: %s: seek: %w", ErrNotSeekable, d.url, err)
	}
	var table []int64
	for {
		d.pkt.Unref()
		err := d.fc.ReadFrame(d.pkt)
		if err != nil {
			if ctx.Err() != nil {
				return fmt.Errorf("decode: %s: %w", d.url, ctx.Err())
			}
			break // end (or damage): the table covers what is readable
		}
		if d.pkt.StreamIndex() != d.stream.Index() {
			continue
		}
		ts := d.pkt.Pts()
		if ts == astiav.NoPtsValue {
			ts = d.pkt.Dts()
		}
		if ts != astiav.NoPtsValue {
			table = append(table, ts)
		}
	}
	d.pkt.Unref()
	slices.Sort(table)
	if table == nil {
		table = []int64{}
	}
	d.ptsTable = table
	return nil
}

// Close frees every FFmpeg object. Frames already returned stay valid.
func (d *Decoder) Close() error {
	if d.closed {
		return nil
	}
	d.closed = true
	d.rgbScaler.close()
	d.modelScaler.close()
	d.lazy.close()
	if d.frame != nil {
		d.frame.Free()
	}
	if d.pkt != nil {
		d.pkt.Free()
	}
	if d.cc != nil {
		d.cc.Free()
	}
	if d.fc != nil {
		d.fc.CloseInput()
		d.fc.Free()
	}
	d.freeIO()
	return nil
}

// isMP4Head reports whether path is a local file that begins like an
// MP4/MOV/3GP (an ftyp box, or a moov-less mdat/free/wide box first).
func isMP4Head(path string) bool {
	f, err := os.Open(path)
	if err != nil {
		return false
	}
	defer f.Close()
	var head [8]byte
	if _, err := io.ReadFull(f, head[:]); err != nil {
		return false
	}
	switch string(head[4:8]) {
	case "ftyp", "mdat", "wide", "free", "skip":
		return true
	}
	return false
}
