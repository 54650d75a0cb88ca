package tracker

// CondFrames reports, per object, how many prompted (conditioning) frames
// its memory holds: Config.MaxCondFrames bounds it on an endless stream.
func (t *Tracker) CondFrames() map[int]int {
	out := map[int]int{}
	for _, o := range t.objects {
		out[o.id] = len(o.bank.CondFrames())
	}
	return out
}
