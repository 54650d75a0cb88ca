package eval

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/vidseg/vidseg/mask"
)

// voidLabel marks pixels DAVIS annotations leave unlabelled.
const voidLabel = 255

// Report is the result of Evaluate. Means over objects follow the
// official table: every object of every sequence counts once.
type Report struct {
	// JF is the J&F-Mean: (J.Mean + F.Mean) / 2.
	JF        float64    `json:"jf_mean"`
	J         Stats      `json:"j"` // per-object statistics averaged over objects
	F         Stats      `json:"f"`
	Objects   int        `json:"objects"`
	Sequences []Sequence `json:"sequences"`
}

// Sequence holds one sequence's scores.
type Sequence struct {
	Name string `json:"name"`
	// Frames are the ids of the evaluated frames: all annotated frames but
	// the first and the last.
	Frames []string `json:"frames"`
	// JF, J and F are means over the sequence's objects.
	JF      float64  `json:"jf_mean"`
	J       float64  `json:"j_mean"`
	F       float64  `json:"f_mean"`
	Objects []Object `json:"objects"`
}

// Object holds one object's scores; the official per-sequence table lists
// it as <sequence>_<ID>.
type Object struct {
	ID     int       `json:"id"`
	J      Stats     `json:"j"`
	F      Stats     `json:"f"`
	FrameJ []float64 `json:"frame_j"`
	FrameF []float64 `json:"frame_f"`
}

// Evaluate scores the predictions under predDir against the ground truth
// under gtDir, both in DAVIS layout: one folder per sequence holding one
// indexed PNG per frame (<seq>/00000.png, ...). Every folder of gtDir is a
// sequence. As in the semi-supervised task, the objects are the labels
// 1..max of the first ground-truth frame (255 is void and read as
// background), and the first and last frames are not scored. Each scored
// frame must have a prediction of the same size whose labels do not
// exceed the number of objects. Ground truth whose first frames hold no
// object gives a report of 0 objects, whose means are 0.
func Evaluate(ctx context.Context, predDir, gtDir string) (*Report, error) {
	entries, err := os.ReadDir(gtDir)
	if err != nil {
		return nil, fmt.Errorf("eval: ground truth: %w", err)
	}
	rep := &Report{}
	var jm, jr, jd, fm, fr, fd float64
	for _, e := range entries {
		// Stat, not e.IsDir, so that linked sequence folders count.
		if info, err := os.Stat(filepath.Join(gtDir, e.Name())); err != nil || !info.IsDir() {
			continue
		}
		seq, err := evaluateSequence(ctx, e.Name(), filepath.Join(predDir, e.Name()), filepath.Join(gtDir, e.Name()))
		if err != nil {
			return nil, err
		}
		var sj, sf float64
		for _, o := range seq.Objects {
			jm, jr, jd = jm+o.J.Mean, jr+o.J.Recall, jd+o.J.Decay
			fm, fr, fd = fm+o.F.Mean, fr+o.F.Recall, fd+o.F.Decay
			sj, sf = sj+o.J.Mean, sf+o.F.Mean
		}
		if n := float64(len(seq.Objects)); n > 0 {
			seq.J, seq.F = sj/n, sf/n
			seq.JF = (seq.J + seq.F) / 2
		}
		rep.Objects += len(seq.Objects)
		rep.Sequences = append(rep.Sequences, *seq)
	}
	if len(rep.Sequences) == 0 {
		return nil, fmt.Errorf("eval: no annotated sequences under %s", gtDir)
	}
	if rep.Objects == 0 {
		// Nothing to score: the report says so (Print), the means stay 0.
		return rep, nil
	}
	n := float64(rep.Objects)
	rep.J = Stats{Mean: jm / n, Recall: jr / n, Decay: jd / n}
	rep.F = Stats{Mean: fm / n, Recall: fr / n, Decay: fd / n}
	rep.JF = (rep.J.Mean + rep.F.Mean) / 2
	return rep, nil
}

func evaluateSequence(ctx context.Context, name, predDir, gtDir string) (*Sequence, error) {
	ids, err := frameIDs(gtDir)
	if err != nil {
		return nil, err
	}
	if len(ids) < 3 {
		return nil, fmt.Errorf("eval: sequence %s has %d annotated frames; the first and last are not scored, so at least 3 are needed", name, len(ids))
	}
	first, w, h, err := readLabels(filepath.Join(gtDir, ids[0]+".png"))
	if err != nil {
		return nil, err
	}
	nobj := 0
	for _, v := range first {
		if v != voidLabel {
			nobj = max(nobj, int(v))
		}
	}
	seq := &Sequence{Name: name, Frames: ids[1 : len(ids)-1]}
	if nobj == 0 {
		return seq, nil // nothing to score, whatever was predicted
	}
	seq.Objects = make([]Object, nobj)
	for k := range seq.Objects {
		seq.Objects[k].ID = k + 1
	}
	gtObj := make([]byte, w*h)
	predObj := make([]byte, w*h)
	for _, id := range seq.Frames {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		gtPath := filepath.Join(gtDir, id+".png")
		gt, gw, gh, err := readLabels(gtPath)
		if err != nil {
			return nil, err
		}
		if gw != w || gh != h {
			return nil, fmt.Errorf("eval: %s is %dx%d, the sequence's first frame %dx%d", gtPath, gw, gh, w, h)
		}
		predPath := filepath.Join(predDir, id+".png")
		pred, pw, ph, err := readLabels(predPath)
		if errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("eval: sequence %s frame %s has no prediction: %w", name, id, err)
		}
		if err != nil {
			return nil, err
		}
		if pw != w || ph != h {
			return nil, fmt.Errorf("eval: %s is %dx%d, ground truth %dx%d", predPath, pw, ph, w, h)
		}
		for i, v := range pred {
			if int(v) > nobj {
				return nil, fmt.Errorf("eval: %s has label %d at pixel (%d,%d) but the sequence has %d objects", predPath, v, i%w, i/w, nobj)
			}
		}
		for k := range seq.Objects {
			label := byte(k + 1)
			for i := range gt {
				gtObj[i] = b2u(gt[i] == label)
				predObj[i] = b2u(pred[i] == label)
			}
			j, err := Jaccard(gtObj, predObj)
			if err != nil {
				return nil, err
			}
			f, err := BoundaryF(gtObj, predObj, w, h)
			if err != nil {
				return nil, err
			}
			o := &seq.Objects[k]
			o.FrameJ = append(o.FrameJ, j)
			o.FrameF = append(o.FrameF, f)
		}
	}
	for k := range seq.Objects {
		o := &seq.Objects[k]
		o.J, o.F = statistics(o.FrameJ), statistics(o.FrameF)
	}
	return seq, nil
}

// frameIDs are the names, without .png, of the PNG files in dir, in the
// order of their file names (np.sort of the glob).
func frameIDs(dir string) ([]string, error) {
	entries, err := os.ReadDir(dir) // sorted by file name
	if err != nil {
		return nil, fmt.Errorf("eval: %w", err)
	}
	var ids []string
	for _, e := range entries {
		if n := e.Name(); !e.IsDir() && strings.HasSuffix(n, ".png") {
			ids = append(ids, strings.TrimSuffix(n, ".png"))
		}
	}
	return ids, nil
}

func readLabels(path string) ([]byte, int, int, error) {
	labels, w, h, err := mask.ReadPNG(path)
	if err != nil {
		return nil, 0, 0, fmt.Errorf("eval: %w", err)
	}
	return labels, w, h, nil
}

func b2u(b bool) byte {
	if b {
		return 1
	}
	return 0
}
