package encode

/*
#cgo pkg-config: libswscale libavutil
#include <libswscale/swscale.h>
#include <libavutil/frame.h>

// vs_yuv_scaler converts packed RGB24 to the encoder's pixel format (BT.601
// limited range, what players assume for untagged SD/HD streams).
static struct SwsContext *vs_yuv_scaler(int w, int h, int dstFmt) {
	return sws_getContext(w, h, AV_PIX_FMT_RGB24, w, h, dstFmt, SWS_BICUBIC, NULL, NULL, NULL);
}

// vs_fill gets fresh buffers for f (the encoder may still reference the old
// ones) and converts rgb into them.
static int vs_fill(struct SwsContext *s, AVFrame *f, const uint8_t *rgb, int stride) {
	int w = f->width, h = f->height, fmt = f->format;
	av_frame_unref(f);
	f->width = w; f->height = h; f->format = fmt;
	int ret = av_frame_get_buffer(f, 0);
	if (ret < 0) return ret;
	const uint8_t *src[4] = {rgb, NULL, NULL, NULL};
	int ls[4] = {stride, 0, 0, 0};
	return sws_scale(s, src, ls, 0, h, f->data, f->linesize);
}
*/
import "C"

import (
	"fmt"
	"unsafe"
)

type rgbConverter struct {
	c    *C.struct_SwsContext
	w, h int
}

func newRGBConverter(w, h, dstFmt int) (*rgbConverter, error) {
	c := C.vs_yuv_scaler(C.int(w), C.int(h), C.int(dstFmt))
	if c == nil {
		return nil, fmt.Errorf("swscale: cannot convert rgb24 %dx%d to pixel format %d", w, h, dstFmt)
	}
	return &rgbConverter{c: c, w: w, h: h}, nil
}

// fill converts rgb (packed, stride w*3) into frame, whose width, height and
// format are already set.
func (r *rgbConverter) fill(frame unsafe.Pointer, rgb []byte) error {
	n := C.vs_fill(r.c, (*C.AVFrame)(frame), (*C.uint8_t)(unsafe.Pointer(&rgb[0])), C.int(r.w*3))
	if n < 0 {
		return fmt.Errorf("allocating frame buffer: error %d", int(n))
	}
	if int(n) != r.h {
		return fmt.Errorf("swscale: wrote %d of %d rows", int(n), r.h)
	}
	return nil
}

func (r *rgbConverter) close() {
	if r != nil && r.c != nil {
		C.sws_freeContext(r.c)
		r.c = nil
	}
}
