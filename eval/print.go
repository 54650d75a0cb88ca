package eval

import (
	"fmt"
	"io"
	"text/tabwriter"
)

// Print writes rep as a table: one row per sequence, then the means.
func Print(w io.Writer, rep *Report) {
	if rep.Objects == 0 {
		fmt.Fprintf(w, "no object to score: the first ground-truth frame of each of the %d sequence(s) holds no object label\n", len(rep.Sequences))
		return
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "sequence\tobjects\tframes\tJ&F\tJ\tF\t")
	for _, s := range rep.Sequences {
		fmt.Fprintf(tw, "%s\t%d\t%d\t%.3f\t%.3f\t%.3f\t\n", s.Name, len(s.Objects), len(s.Frames), s.JF, s.J, s.F)
	}
	fmt.Fprintf(tw, "mean\t%d\t\t%.3f\t%.3f\t%.3f\t\n", rep.Objects, rep.JF, rep.J.Mean, rep.F.Mean)
	tw.Flush()
	fmt.Fprintf(w, "\nJ recall %.3f decay %.3f, F recall %.3f decay %.3f (means over %d objects)\n",
		rep.J.Recall, rep.J.Decay, rep.F.Recall, rep.F.Decay, rep.Objects)
}
