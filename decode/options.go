package decode

import (
	"errors"
	"fmt"
	"io"

	"github.com/asticode/go-astiav"
)

// Whitelists for Options.Formats and Options.Protocols. They keep FFmpeg to
// what a camera or a video file uses: no text or tty demuxers that draw a
// file into a picture, no concat or playlists that open other files, no
// image-sequence patterns.
const (
	// VideoFormats are the demuxers of video containers and elementary
	// streams (FFmpeg short names).
	VideoFormats = "mov,mp4,matroska,webm,avi,flv,mpegts,mpeg,mpegvideo,h264,hevc,m4v,ivf,obu,mjpeg,mpjpeg,asf,nut,ogg,yuv4mpegpipe,dv"
	// DeviceFormats is the V4L2 capture demuxer.
	DeviceFormats = "video4linux2,v4l2"
	// RTSPFormats is the RTSP demuxer (it parses RTP payloads itself).
	RTSPFormats = "rtsp"
	// RTSPProtocols are what an RTSP session connects with.
	RTSPProtocols = "rtsp,rtp,udp,tcp"
	// RTSPTCPProtocols are what an RTSP session interleaved over TCP
	// connects with (Options.RTSPTCP): no UDP.
	RTSPTCPProtocols = "rtsp,tcp"
	// NoProtocols lets FFmpeg open nothing by itself: for Options.Input,
	// where Go hands it the bytes.
	NoProtocols = "none"
)

// setPolicy passes the whitelists to avformat_open_input.
func (d *Decoder) setPolicy(dict *astiav.Dictionary) {
	if d.opts.Formats != "" {
		_ = dict.Set("format_whitelist", d.opts.Formats, 0)
	}
	switch {
	case d.opts.Protocols != "":
		_ = dict.Set("protocol_whitelist", d.opts.Protocols, 0)
	case d.opts.Input != nil:
		_ = dict.Set("protocol_whitelist", NoProtocols, 0)
	}
}

// policyError maps FFmpeg's answer when the probed format is not
// allowed (AVERROR(EINVAL) from avformat_open_input).
func (d *Decoder) policyError(err error) error {
	const einval = astiav.Error(-22) // AVERROR(EINVAL): "Format not on whitelist"
	if d.opts.Formats != "" && (errors.Is(err, einval) || errors.Is(err, astiav.ErrInvaliddata)) {
		return fmt.Errorf("decode: %w: %s: not a video format this server accepts", ErrNotVideo, d.url)
	}
	return nil
}

// customIO feeds FFmpeg from Options.Input through an AVIOContext, so Go
// decides what is read (a file opened inside a root, an HTTP body fetched
// by a checked dialer) and FFmpeg opens nothing by itself.
func (d *Decoder) customIO() error {
	r := d.opts.Input
	read := func(b []byte) (int, error) {
		for range 100 { // a Reader may return 0, nil now and then, not forever
			n, err := r.Read(b)
			switch {
			case n > 0:
				return n, nil
			case errors.Is(err, io.EOF):
				return 0, astiav.ErrEof
			case err != nil:
				return 0, astiav.ErrEio
			}
		}
		return 0, astiav.ErrEio
	}
	var seek astiav.IOContextSeekFunc
	if s, ok := r.(io.Seeker); ok {
		seek = func(offset int64, whence int) (int64, error) {
			const avseekSize = 0x10000
			if whence&avseekSize != 0 {
				if sz, ok := r.(interface{ Size() int64 }); ok {
					if n := sz.Size(); n >= 0 {
						return n, nil
					}
				}
				return 0, astiav.ErrEio
			}
			n, err := s.Seek(offset, whence&3)
			if err != nil {
				return 0, astiav.ErrEio
			}
			return n, nil
		}
	}
	ioc, err := astiav.AllocIOContext(64<<10, false, read, seek, nil)
	if err != nil {
		return fmt.Errorf("decode: %s: %w", d.url, err)
	}
	d.ioc = ioc
	d.fc.SetPb(ioc)
	return nil
}

// freeIO frees the custom AVIOContext after the format context is closed
// (FFmpeg does not free a context it did not open).
func (d *Decoder) freeIO() {
	if d.ioc != nil {
		d.ioc.Free()
		d.ioc = nil
	}
	if c, ok := d.opts.Input.(io.Closer); ok {
		_ = c.Close()
	}
}
