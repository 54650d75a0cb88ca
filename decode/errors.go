package decode

import "errors"

// Sentinel errors. Errors returned by this package wrap one of these (and
// name the source), so callers can branch with errors.Is.
var (
	// ErrNotFound: the local path does not exist.
	ErrNotFound = errors.New("video source not found")
	// ErrNotVideo: the source opened but holds no decodable video stream
	// (not a media file, an empty file, audio only).
	ErrNotVideo = errors.New("not a video")
	// ErrUnsupportedCodec: the video stream uses a codec this FFmpeg build cannot decode.
	ErrUnsupportedCodec = errors.New("unsupported video codec")
	// ErrTruncated: the file ends before the container said it would.
	ErrTruncated = errors.New("video truncated")
	// ErrCorrupt: the demuxer or decoder found invalid data.
	ErrCorrupt = errors.New("video data corrupt")
	// ErrUnreachable: a network source could not be reached or stopped answering.
	ErrUnreachable = errors.New("video source unreachable")
	// ErrNotSeekable: Seek on a live source, or past the end.
	ErrNotSeekable = errors.New("video source not seekable")
	// ErrClosed: the Decoder was used after Close.
	ErrClosed = errors.New("decoder closed")
)
