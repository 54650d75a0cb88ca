package tracker

// streamMaxCondFrames caps the prompted frames an object attends to on a
// stream: a session may take prompts for hours, and each one would
// otherwise stay in every frame's attention.
const streamMaxCondFrames = 4

// FilePreset is the configuration for tracking a video file (vidseg track
// and bench): every prompted frame is attended to, as the reference does.
// The caller adds the file's NumFrames and Source, and KeepAll for a
// backward pass after a forward one.
func FilePreset(mode Mode) Config {
	return Config{Mode: mode}
}

// StreamPreset is the configuration for a live or looping stream (vidseg
// serve): no frame source, no known length, memory bounded to what
// attention can still read, and at most a few prompted frames per object.
func StreamPreset(mode Mode) Config {
	return Config{Mode: mode, MaxCondFrames: streamMaxCondFrames}
}
