package decode

/*
#cgo pkg-config: libavcodec libavformat libavutil libswscale
#include <libavcodec/avcodec.h>
#include <libavformat/avformat.h>
#include <libavutil/avutil.h>
#include <libswscale/swscale.h>
*/
import "C"

import "fmt"

// Versions reports the versions of the FFmpeg libraries linked at run
// time (go-astiav has no accessor for them).
func Versions() (release string, libs []string) {
	v := func(name string, n C.uint) string {
		return fmt.Sprintf("%s %d.%d.%d", name, n>>16, (n>>8)&0xff, n&0xff)
	}
	libs = []string{
		v("libavcodec", C.avcodec_version()),
		v("libavformat", C.avformat_version()),
		v("libavutil", C.avutil_version()),
		v("libswscale", C.swscale_version()),
	}
	return C.GoString(C.av_version_info()), libs
}
