// Package kalman is SAMURAI's per-object box Kalman filter (DeepSORT style,
// sam2/utils/kalman_filter.py) and the box helpers SAMURAI scores its mask
// candidates with.
//
// The state is (cx, cy, a, h, vx, vy, va, vh): box centre, aspect ratio
// w/h, height and their velocities, under a constant-velocity model with
// noise proportional to the height. The arithmetic follows the reference
// operation by operation in float64; predict and project reproduce it to
// the bit, update differs from SciPy's Cholesky solve only in rounding.
package kalman

import (
	"math"

	"github.com/go-gl/mathgl/mgl64"
)

// Noise weights relative to the box height (kalman_filter.py).
const (
	stdWeightPosition = 1.0 / 20
	stdWeightVelocity = 1.0 / 160
)

// Filter tracks one object's box. The zero value is not usable; create one
// with New.
type Filter struct {
	mean *mgl64.VecN   // 8
	cov  *mgl64.MatMxN // 8x8

	motion, motionT *mgl64.MatMxN // F (8x8) and its transpose
	update, updateT *mgl64.MatMxN // H (4x8) and its transpose
}

// New starts a track at box, as KalmanFilter.initiate on xyxy_to_xyah(box):
// zero velocities, and standard deviations 2/20 h for the position and
// height, 1e-2 for the ratio, 10/160 h for their velocities, 1e-5 for the
// ratio's.
func New(box Box) *Filter {
	m := box.ToXYAH()
	f := &Filter{
		mean:    mgl64.NewVecNFromData([]float64{m.CX, m.CY, m.A, m.H, 0, 0, 0, 0}),
		motion:  mgl64.IdentN(nil, 8),
		update:  mgl64.NewMatrix(4, 8),
		motionT: mgl64.NewMatrix(8, 8),
		updateT: mgl64.NewMatrix(8, 4),
	}
	f.update.Zero(4, 8) // pooled memory may be dirty
	for i := 0; i < 4; i++ {
		f.motion.Set(i, 4+i, 1) // dt = 1 frame
		f.update.Set(i, i, 1)
	}
	f.motion.Transpose(f.motionT)
	f.update.Transpose(f.updateT)

	f.cov = stateNoise(2, 10, m.H)
	return f
}

// stateNoise is the squared diagonal of DeepSORT's state noise: position
// and height terms pos * 1/20 * h, velocity terms vel * 1/160 * h, fixed
// small terms for the aspect ratio and its velocity.
func stateNoise(pos, vel, h float64) *mgl64.MatMxN {
	p, v := mul(pos, stdWeightPosition, h), mul(vel, stdWeightVelocity, h)
	return diagSquare([]float64{p, p, 1e-2, p, v, v, 1e-5, v})
}

// Predict advances the state by one frame (KalmanFilter.predict): the mean
// moves by its velocity and the covariance grows by F P F^T + Q, Q taken
// from the height before the step.
func (f *Filter) Predict() {
	q := stateNoise(1, 1, f.mean.Get(3))
	f.mean = f.motion.MulNx1(nil, f.mean)
	// numpy's multi_dot evaluates F (P F^T) for equal sizes; same order here.
	pft := f.cov.MulMxN(nil, f.motionT)
	f.cov = f.motion.MulMxN(nil, pft).Add(nil, q)
}

// Project is the state in measurement space (KalmanFilter.project): the
// (cx, cy, a, h) part of the mean, and H P H^T plus the measurement noise
// (1/20 h for position and height, 1e-1 for the ratio).
func (f *Filter) Project() (mean [4]float64, cov [4][4]float64) {
	s := f.projectedCov()
	for i := 0; i < 4; i++ {
		mean[i] = f.mean.Get(i)
		for j := 0; j < 4; j++ {
			cov[i][j] = s.At(i, j)
		}
	}
	return mean, cov
}

func (f *Filter) projectedCov() *mgl64.MatMxN {
	h := f.mean.Get(3)
	r := diagSquare([]float64{
		mul(1, stdWeightPosition, h),
		mul(1, stdWeightPosition, h),
		1e-1,
		mul(1, stdWeightPosition, h),
	})
	pht := f.cov.MulMxN(nil, f.updateT)
	return f.update.MulMxN(nil, pht).Add(nil, r)
}

// Update corrects the state with a measured box (KalmanFilter.update on
// xyxy_to_xyah(box)). The gain P H^T S^-1 uses the inverse of the 4x4
// innovation covariance S where the reference solves through Cholesky.
func (f *Filter) Update(box Box) {
	z := box.ToXYAH()
	s := f.projectedCov()
	sInv := invert4(s)

	k := f.cov.MulMxN(nil, f.updateT).MulMxN(nil, sInv) // 8x4
	innov := mgl64.NewVecNFromData([]float64{
		z.CX - f.mean.Get(0),
		z.CY - f.mean.Get(1),
		z.A - f.mean.Get(2),
		z.H - f.mean.Get(3),
	})
	f.mean = f.mean.Add(nil, k.MulNx1(nil, innov))
	// multi_dot((K, S, K^T)) is evaluated K (S K^T) for these shapes.
	kt := k.Transpose(nil)
	f.cov = f.cov.Sub(nil, k.MulMxN(nil, s.MulMxN(nil, kt)))
}

// Box is the box of the current mean (xyah_to_xyxy(mean[:4])): after
// Predict, the box SAMURAI scores the candidates against.
func (f *Filter) Box() Box {
	return XYAH{CX: f.mean.Get(0), CY: f.mean.Get(1), A: f.mean.Get(2), H: f.mean.Get(3)}.Box()
}

// State returns a copy of the mean and covariance.
func (f *Filter) State() (mean [8]float64, cov [8][8]float64) {
	for i := 0; i < 8; i++ {
		mean[i] = f.mean.Get(i)
		for j := 0; j < 8; j++ {
			cov[i][j] = f.cov.At(i, j)
		}
	}
	return mean, cov
}

// invert4 inverts a 4x4 MatMxN through mgl64.Mat4.Inv. Mat4.Inv gives up
// (returns zero) when the determinant is below 1e-20, which the innovation
// covariance of a box a few pixels tall reaches; then S is equilibrated to
// a unit diagonal, D S D with D = diag(1/sqrt(S_ii)), inverted, and scaled
// back: S^-1 = D (D S D)^-1 D.
func invert4(s *mgl64.MatMxN) *mgl64.MatMxN {
	var m mgl64.Mat4
	copy(m[:], s.Raw()) // both column-major
	inv := m.Inv()
	if inv == (mgl64.Mat4{}) {
		var d [4]float64
		for i := range d {
			d[i] = 1 / math.Sqrt(m.At(i, i))
		}
		var e mgl64.Mat4
		for i := range 4 {
			for j := range 4 {
				e.Set(i, j, d[i]*m.At(i, j)*d[j])
			}
		}
		ei := e.Inv()
		for i := range 4 {
			for j := range 4 {
				inv.Set(i, j, d[i]*ei.At(i, j)*d[j])
			}
		}
	}
	return mgl64.NewMatrixFromData(inv[:], 4, 4)
}

// diagSquare is np.diag(np.square(std)).
func diagSquare(std []float64) *mgl64.MatMxN {
	sq := make([]float64, len(std))
	for i, v := range std {
		sq[i] = v * v
	}
	return mgl64.DiagN(nil, mgl64.NewVecNFromData(sq))
}

// mul is a*b*c evaluated left to right in float64, as Python does; it keeps
// Go from folding the weights into one exact constant.
func mul(a, b, c float64) float64 { return a * b * c }
