package cli

import (
	"fmt"
	"io"
	"os"
	"strings"
	"time"
)

// Progress reports frames done, frames/s and time left: a redrawn bar on
// a terminal, a plain line every few seconds otherwise (logs, pipes).
type Progress struct {
	w      io.Writer
	tty    bool
	label  string
	total  int // 0 when unknown
	done   int
	start  time.Time
	last   time.Time
	every  time.Duration
	now    func() time.Time
	width  int // bar width in cells
	closed bool
}

// NewProgress starts reporting on w; a nil *Progress reports nothing.
func NewProgress(w io.Writer, label string, total int) *Progress {
	p := &Progress{w: w, tty: isTerminal(w), label: label, total: total, now: time.Now, width: 30}
	p.every = 5 * time.Second
	if p.tty {
		p.every = 100 * time.Millisecond
	}
	p.start = p.now()
	return p
}

// isTerminal reports whether w is a character device (a terminal).
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}

// Add counts n more frames done and redraws when due.
func (p *Progress) Add(n int) {
	if p == nil {
		return
	}
	p.done += n
	now := p.now()
	if now.Sub(p.last) < p.every && p.done != p.total {
		return
	}
	p.last = now
	p.draw(now)
}

func (p *Progress) draw(now time.Time) {
	elapsed := now.Sub(p.start)
	rate := 0.0
	if s := elapsed.Seconds(); s > 0 {
		rate = float64(p.done) / s
	}
	left := "?"
	if p.total > 0 && rate > 0 {
		left = fmtDuration(time.Duration(float64(p.total-p.done) / rate * float64(time.Second)))
	}
	count := fmt.Sprintf("%d", p.done)
	if p.total > 0 {
		count = fmt.Sprintf("%d/%d", p.done, p.total)
	}
	if !p.tty {
		fmt.Fprintf(p.w, "%s: %s frames, %.2f frames/s, %s left\n", p.label, count, rate, left)
		return
	}
	bar := ""
	if p.total > 0 {
		fill := min(p.width*p.done/p.total, p.width)
		bar = "[" + strings.Repeat("=", fill) + strings.Repeat(" ", p.width-fill) + "] "
	}
	// \r and erase-line redraw in place.
	fmt.Fprintf(p.w, "\r\x1b[K%s %s%s frames  %.2f frames/s  %s left", p.label, bar, count, rate, left)
}

// Done prints the final line.
func (p *Progress) Done() {
	if p == nil || p.closed {
		return
	}
	p.closed = true
	elapsed := p.now().Sub(p.start)
	rate := 0.0
	if s := elapsed.Seconds(); s > 0 {
		rate = float64(p.done) / s
	}
	if p.tty {
		fmt.Fprint(p.w, "\r\x1b[K")
	}
	fmt.Fprintf(p.w, "%s: %d frames in %s (%.2f frames/s)\n", p.label, p.done, fmtDuration(elapsed), rate)
}

func fmtDuration(d time.Duration) string {
	d = d.Round(time.Second)
	h, m, s := int(d.Hours()), int(d.Minutes())%60, int(d.Seconds())%60
	if h > 0 {
		return fmt.Sprintf("%d:%02d:%02d", h, m, s)
	}
	return fmt.Sprintf("%d:%02d", m, s)
}
