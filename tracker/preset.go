package tracker

// streamMaxCondFrames caps the prompted frames an object attends to on a
// stream: a session may take prompts for hours, and each one would
// otherwise stay in every frame's attention.
const streamMaxCondFrames = 4

// correctionsAsCond is vidseg's default for Config.CorrectionsAsCond: a
// correction sticks. The official predictor's default (false) lets the
// next propagation recompute a corrected frame from memory and drop the
// correction, which a user who clicked to fix a frame does not expect;
// the official fine-tuning config and most applications built on the
// predictor set it. false reproduces the official default.
const correctionsAsCond = true

// FilePreset is the configuration for tracking a video file (vidseg track
// and bench): every prompted frame is attended to, as the reference does.
// The caller adds the file's NumFrames and Source, and KeepAll for a
// backward pass after a forward one.
func FilePreset(mode Mode) Config {
	return Config{Mode: mode, CorrectionsAsCond: correctionsAsCond, FillHoleArea: DefaultFillHoleArea}
}

// StreamPreset is the configuration for a live or looping stream (vidseg
// serve): no frame source, no known length, memory bounded to what
// attention can still read, and at most a few prompted frames per object.
func StreamPreset(mode Mode) Config {
	return Config{Mode: mode, MaxCondFrames: streamMaxCondFrames,
		CorrectionsAsCond: correctionsAsCond, FillHoleArea: DefaultFillHoleArea}
}
