package main

// Scenes are drawn with integer arithmetic only (fixed point, 1/16 pixel) so
// that every machine and Go version renders the same pixels.

const sub = 16 // fixed-point subpixels per pixel

// object is one tracked object on one frame.
type object struct {
	id     uint8 // palette index in the mask
	shape  shape
	cx, cy int // centre, in 1/16 pixel
	rx, ry int // half extents, in 1/16 pixel
	color  [3]uint8
}

type shape int

const (
	ellipse shape = iota
	rect
)

// contains reports whether the pixel centre (px, py), in 1/16 pixel, is inside o.
func (o *object) contains(px, py int) bool {
	dx, dy := int64(px-o.cx), int64(py-o.cy)
	rx, ry := int64(o.rx), int64(o.ry)
	switch o.shape {
	case rect:
		return dx >= -rx && dx < rx && dy >= -ry && dy < ry
	default:
		return dx*dx*ry*ry+dy*dy*rx*rx <= rx*rx*ry*ry
	}
}

// hash2 is a small integer hash (lowbias32 style) of a lattice point.
func hash2(x, y, seed int) uint32 {
	h := uint32(x)*0x27d4eb2d ^ uint32(y)*0x165667b1 ^ uint32(seed)*0x9e3779b9
	h ^= h >> 16
	h *= 0x7feb352d
	h ^= h >> 15
	h *= 0x846ca68b
	h ^= h >> 16
	return h
}

// valueNoise is bilinear value noise with the given cell size (pixels), 0..255.
func valueNoise(x, y, cell, seed int) int {
	gx, gy := floorDiv(x, cell), floorDiv(y, cell)
	fx, fy := x-gx*cell, y-gy*cell
	v00 := int(hash2(gx, gy, seed) & 255)
	v10 := int(hash2(gx+1, gy, seed) & 255)
	v01 := int(hash2(gx, gy+1, seed) & 255)
	v11 := int(hash2(gx+1, gy+1, seed) & 255)
	top := v00*(cell-fx) + v10*fx
	bot := v01*(cell-fx) + v11*fx
	return (top*(cell-fy) + bot*fy) / (cell * cell)
}

func floorDiv(a, b int) int {
	q := a / b
	if (a%b != 0) && ((a < 0) != (b < 0)) {
		q--
	}
	return q
}

func clamp8(v int) uint8 {
	if v < 0 {
		return 0
	}
	if v > 255 {
		return 255
	}
	return uint8(v)
}

// background is a textured field (grass/earth-like tones) seen through a
// camera that drifts by (camX, camY) pixels.
func background(x, y, camX, camY, seed int) [3]uint8 {
	wx, wy := x+camX, y+camY
	n := valueNoise(wx, wy, 48, seed)*4 + valueNoise(wx, wy, 12, seed+1)*3 + valueNoise(wx, wy, 3, seed+2)*2
	n /= 9 // 0..255
	return [3]uint8{clamp8(60 + n*70/255), clamp8(90 + n*90/255), clamp8(40 + n*50/255)}
}

// objectColor shades an object's base color with its own texture (stripes
// plus fine noise) in object coordinates, so the texture moves with it.
func objectColor(o *object, x, y, seed int) [3]uint8 {
	ox, oy := x-o.cx/sub, y-o.cy/sub
	stripe := 0
	if floorDiv(ox+oy, 6)%2 == 0 {
		stripe = 28
	}
	n := valueNoise(ox+500, oy+500, 4, seed) - 128
	var c [3]uint8
	for i := range c {
		c[i] = clamp8(int(o.color[i]) - stripe + n/6)
	}
	return c
}

// occluder is a static textured pillar (not an object: it is never in a mask).
type occluder struct{ x0, x1 int } // columns [x0, x1), full height

func (p occluder) color(x, y int) [3]uint8 {
	brick := 0
	if floorDiv(y, 10)%2 == 0 && (x-p.x0)%25 < 2 || y%10 < 1 {
		brick = -40
	}
	n := valueNoise(x, y, 5, 77) - 128
	v := 150 + brick + n/5
	return [3]uint8{clamp8(v), clamp8(v - 8), clamp8(v - 20)}
}
