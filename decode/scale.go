package decode

/*
#cgo pkg-config: libswscale libavutil
#include <libswscale/swscale.h>
#include <libavutil/frame.h>

// vs_rgb_scaler converts the frame's pixel format to packed RGB24 at dw x dh.
// Colorspace and range come from the frame, as the ffmpeg CLI's scale filter
// does (in_color_matrix=auto), so our pixels match `ffmpeg -pix_fmt rgb24`.
static struct SwsContext *vs_rgb_scaler(const AVFrame *f, int dw, int dh, int flags) {
	struct SwsContext *s = sws_getContext(f->width, f->height, f->format,
		dw, dh, AV_PIX_FMT_RGB24, flags, NULL, NULL, NULL);
	if (!s) return NULL;
	int *inv, *tab, srcFull, dstFull, bri, con, sat;
	if (sws_getColorspaceDetails(s, &inv, &srcFull, &tab, &dstFull, &bri, &con, &sat) >= 0) {
		const int *coef = sws_getCoefficients(f->colorspace);
		if (f->color_range != AVCOL_RANGE_UNSPECIFIED) srcFull = f->color_range == AVCOL_RANGE_JPEG;
		sws_setColorspaceDetails(s, coef, srcFull, coef, dstFull, bri, con, sat);
	}
	return s;
}

// vs_scale writes the whole frame into dst (one packed plane, given stride).
static int vs_scale(struct SwsContext *s, const AVFrame *f, uint8_t *dst, int stride) {
	uint8_t *d[4] = {dst, NULL, NULL, NULL};
	int ls[4] = {stride, 0, 0, 0};
	return sws_scale(s, (const uint8_t *const *)f->data, f->linesize, 0, f->height, d, ls);
}

static int64_t vs_best_effort_ts(const AVFrame *f) { return f->best_effort_timestamp; }
static int vs_frame_corrupt(const AVFrame *f) { return (f->flags & AV_FRAME_FLAG_CORRUPT) != 0; }
*/
import "C"

import (
	"errors"
	"fmt"
	"unsafe"
)

// swsBicubic is SWS_BICUBIC: the flag the ffmpeg CLI uses by default and the
// one the brief fixes for the model input.
const swsBicubic = C.SWS_BICUBIC

// scaler converts decoded frames of one geometry/format to RGB24 of one size.
type scaler struct {
	c                *C.struct_SwsContext
	srcW, srcH, srcF int
	dstW, dstH       int
}

func newScaler(frame unsafe.Pointer, dstW, dstH int) (*scaler, error) {
	f := (*C.AVFrame)(frame)
	c := C.vs_rgb_scaler(f, C.int(dstW), C.int(dstH), swsBicubic)
	if c == nil {
		return nil, fmt.Errorf("swscale: cannot convert %dx%d pixel format %d to rgb24 %dx%d",
			int(f.width), int(f.height), int(f.format), dstW, dstH)
	}
	return &scaler{c: c, srcW: int(f.width), srcH: int(f.height), srcF: int(f.format), dstW: dstW, dstH: dstH}, nil
}

// fits reports whether s can convert frame (geometry can change mid-stream).
func (s *scaler) fits(frame unsafe.Pointer) bool {
	f := (*C.AVFrame)(frame)
	return s != nil && int(f.width) == s.srcW && int(f.height) == s.srcH && int(f.format) == s.srcF
}

// scale writes the frame into dst, which must hold dstW*dstH*3 bytes.
// swscale writes straight into the Go slice: no intermediate AVFrame, no copy.
func (s *scaler) scale(frame unsafe.Pointer, dst []byte) error {
	if len(dst) < s.dstW*s.dstH*3 {
		return errors.New("swscale: destination buffer too small")
	}
	n := C.vs_scale(s.c, (*C.AVFrame)(frame), (*C.uint8_t)(unsafe.Pointer(&dst[0])), C.int(s.dstW*3))
	if int(n) != s.dstH {
		return fmt.Errorf("swscale: wrote %d of %d rows", int(n), s.dstH)
	}
	return nil
}

func (s *scaler) close() {
	if s != nil && s.c != nil {
		C.sws_freeContext(s.c)
		s.c = nil
	}
}

func bestEffortTimestamp(frame unsafe.Pointer) int64 {
	return int64(C.vs_best_effort_ts((*C.AVFrame)(frame)))
}

func frameCorrupt(frame unsafe.Pointer) bool {
	return C.vs_frame_corrupt((*C.AVFrame)(frame)) != 0
}

// ensureScalers keeps *rgb (to w x h) and *model (to modelSize square,
// none when 0) fitting frame, rebuilding both when its format or size
// changed.
func ensureScalers(rgb, model **scaler, frame unsafe.Pointer, w, h, modelSize int) error {
	if (*rgb).fits(frame) {
		return nil
	}
	(*rgb).close()
	(*model).close()
	*rgb, *model = nil, nil
	s, err := newScaler(frame, w, h)
	if err != nil {
		return err
	}
	*rgb = s
	if modelSize > 0 {
		if *model, err = newScaler(frame, modelSize, modelSize); err != nil {
			return err
		}
	}
	return nil
}
