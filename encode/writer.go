package encode

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/asticode/go-astiav"
)

// FileWriter encodes frames into a file: MP4 (H.264) or WebM (VP8), chosen
// by the path's extension. MP4 files get their index at the front
// (faststart), so they play while downloading and a cut-off copy still
// yields its first frames. Output is reproducible: the same frames and
// Options (with Threads 1) give the same bytes.
type FileWriter struct {
	path   string
	enc    *Encoder
	fc     *astiav.FormatContext
	pb     *astiav.IOContext
	stream *astiav.Stream
	n      int
	err    error
	closed bool
}

// Create opens path for writing. Options.Codec may be empty: ".mp4"/".mov"
// mean H.264, ".webm"/".mkv" VP8.
func Create(path string, opts Options) (*FileWriter, error) {
	ext := strings.ToLower(filepath.Ext(path))
	var muxer string
	switch ext {
	case ".mp4", ".mov":
		muxer = map[string]string{".mp4": "mp4", ".mov": "mov"}[ext]
		if opts.Codec == "" {
			opts.Codec = H264
		}
		if opts.Codec != H264 {
			return nil, fmt.Errorf("encode: %s: codec %q cannot go in %s (use h264, or a .webm path)", path, opts.Codec, ext)
		}
	case ".webm", ".mkv":
		muxer = map[string]string{".webm": "webm", ".mkv": "matroska"}[ext]
		if opts.Codec == "" {
			opts.Codec = VP8
		}
		if ext == ".webm" && opts.Codec != VP8 {
			return nil, fmt.Errorf("encode: %s: codec %q cannot go in WebM (use vp8, or an .mp4 path)", path, opts.Codec)
		}
	default:
		return nil, fmt.Errorf("encode: %s: unknown container extension %q (want .mp4, .mov, .webm or .mkv)", path, ext)
	}
	if err := opts.check(); err != nil {
		return nil, fmt.Errorf("%w (%s)", err, path)
	}
	w := &FileWriter{path: path}
	if err := w.open(muxer, opts); err != nil {
		w.free()
		os.Remove(path)
		return nil, err
	}
	return w, nil
}

func (w *FileWriter) open(muxer string, opts Options) error {
	var err error
	w.fc, err = astiav.AllocOutputFormatContext(nil, muxer, w.path)
	if err != nil {
		return fmt.Errorf("encode: %s: output context: %w", w.path, err)
	}
	global := w.fc.OutputFormat().Flags().Has(astiav.IOFormatFlagGlobalheader)
	if w.enc, err = newEncoder(opts, global); err != nil {
		return fmt.Errorf("%w (%s)", err, w.path)
	}
	w.fc.SetFlags(w.fc.Flags().Add(astiav.FormatContextFlagBitexact))
	if w.stream = w.fc.NewStream(nil); w.stream == nil {
		return fmt.Errorf("encode: %s: cannot add stream", w.path)
	}
	if err := w.stream.CodecParameters().FromCodecContext(w.enc.cc); err != nil {
		return fmt.Errorf("encode: %s: stream parameters: %w", w.path, err)
	}
	w.stream.SetTimeBase(w.enc.tb)
	w.stream.SetAvgFrameRate(w.enc.cc.Framerate())
	if w.pb, err = astiav.OpenIOContext(w.path, astiav.NewIOContextFlags(astiav.IOContextFlagWrite)); err != nil {
		return fmt.Errorf("encode: create %s: %w", w.path, err)
	}
	w.fc.SetPb(w.pb)
	d := astiav.NewDictionary()
	defer d.Free()
	if muxer == "mp4" || muxer == "mov" {
		_ = d.Set("movflags", "+faststart", 0)
	}
	if err := w.fc.WriteHeader(d); err != nil {
		return fmt.Errorf("encode: %s: writing header: %w", w.path, err)
	}
	return nil
}

// WriteFrame encodes one packed RGB24 frame (Width*Height*3 bytes); frames
// are spaced 1/FPS apart.
func (w *FileWriter) WriteFrame(rgb []byte) error {
	return w.WriteFrameAt(rgb, time.Duration(float64(w.n)/w.enc.opts.FPS*float64(time.Second)))
}

// WriteFrameAt encodes one packed RGB24 frame shown at pts (from the
// start of the file), so variable frame spacing survives; pts must
// increase. The file keeps pts to within one tick of Options.Timescale
// (of 1/FPS when Timescale is 0: set it for variable-rate sources).
func (w *FileWriter) WriteFrameAt(rgb []byte, pts time.Duration) error {
	if w.closed {
		return ErrClosed
	}
	if w.err != nil {
		return w.err
	}
	if err := w.enc.encode(rgb, pts, w.writePacket); err != nil {
		w.err = fmt.Errorf("%w (%s frame %d)", err, w.path, w.n)
		return w.err
	}
	w.n++
	return nil
}

func (w *FileWriter) writePacket(p *astiav.Packet) error {
	p.SetStreamIndex(w.stream.Index())
	p.RescaleTs(w.enc.tb, w.stream.TimeBase())
	if err := w.fc.WriteInterleavedFrame(p); err != nil {
		return fmt.Errorf("encode: %s: writing packet: %w", w.path, err)
	}
	return nil
}

// Close flushes the encoder, finishes the file and frees everything. The
// file is complete only if Close returns nil.
func (w *FileWriter) Close() error {
	if w.closed {
		return nil
	}
	w.closed = true
	err := w.err
	if err == nil {
		err = w.enc.flush(w.writePacket)
		if err == nil && w.n == 0 {
			err = fmt.Errorf("encode: %s: no frames written", w.path)
		}
		if err == nil {
			if terr := w.fc.WriteTrailer(); terr != nil {
				err = fmt.Errorf("encode: %s: writing trailer: %w", w.path, terr)
			}
		}
	}
	if cerr := w.free(); err == nil {
		err = cerr
	}
	return err
}

func (w *FileWriter) free() error {
	var err error
	if w.enc != nil {
		w.enc.Close()
		w.enc = nil
	}
	if w.pb != nil {
		if cerr := w.pb.Close(); cerr != nil {
			err = errors.Join(err, fmt.Errorf("encode: closing %s: %w", w.path, cerr))
		}
		w.pb = nil
	}
	if w.fc != nil {
		w.fc.Free()
		w.fc = nil
	}
	return err
}
