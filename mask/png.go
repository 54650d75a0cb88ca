package mask

import (
	"bufio"
	"errors"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"io"
	"os"
)

// Palette is the DAVIS (PASCAL VOC) label palette: index 0 black, 1
// (128,0,0), 2 (0,128,0), 3 (128,128,0), 4 (0,0,128), ..., 255
// (224,224,192). Bits 0, 1, 2 of the index go to the top bits of red,
// green and blue, bits 3, 4, 5 to the next ones, and so on.
func Palette() color.Palette {
	p := make(color.Palette, 256)
	for i := range p {
		var r, g, b uint8
		c := i
		for j := 0; j < 8; j++ {
			r |= uint8(c&1) << (7 - j)
			g |= uint8(c>>1&1) << (7 - j)
			b |= uint8(c>>2&1) << (7 - j)
			c >>= 3
		}
		p[i] = color.RGBA{R: r, G: g, B: b, A: 0xff}
	}
	return p
}

// EncodePNG writes the row-major label map (0 background, 1..n objects) as
// an 8-bit indexed PNG with the DAVIS palette, the format of DAVIS
// annotations and results.
func EncodePNG(w io.Writer, labels []byte, width, height int) error {
	if err := checkSize(len(labels), width, height); err != nil {
		return err
	}
	if width == 0 || height == 0 {
		return fmt.Errorf("mask: cannot write a %dx%d png", width, height)
	}
	img := &image.Paletted{
		Pix:     labels,
		Stride:  width,
		Rect:    image.Rect(0, 0, width, height),
		Palette: Palette(),
	}
	if err := png.Encode(w, img); err != nil {
		return fmt.Errorf("mask: encode png: %w", err)
	}
	return nil
}

// DecodePNG reads a label map from an indexed PNG (the palette indices, as
// PIL's np.array(Image.open(f)) gives them) or an 8-bit grey one (the grey
// values). An RGB or RGBA PNG (what image editors save) is read as colours:
// when every colour is a DAVIS palette colour (an indexed mask saved as
// RGB) each pixel gets that colour's index, otherwise every pixel that is
// not black or fully transparent is 1 (one object). 16-bit grey is refused.
func DecodePNG(r io.Reader) (labels []byte, width, height int, err error) {
	img, err := png.Decode(r)
	if err != nil {
		return nil, 0, 0, fmt.Errorf("mask: decode png: %w", err)
	}
	var pix []byte
	var stride int
	switch m := img.(type) {
	case *image.Paletted:
		pix, stride = m.Pix, m.Stride
	case *image.Gray:
		pix, stride = m.Pix, m.Stride
	case *image.RGBA, *image.NRGBA, *image.RGBA64, *image.NRGBA64:
		labels, width, height = colourLabels(img)
		return labels, width, height, nil
	default:
		return nil, 0, 0, errors.New("mask: png is 16-bit grey; want an indexed, 8-bit grey, RGB or RGBA mask")
	}
	b := img.Bounds()
	width, height = b.Dx(), b.Dy()
	labels = make([]byte, width*height)
	for y := 0; y < height; y++ {
		copy(labels[y*width:(y+1)*width], pix[y*stride:y*stride+width])
	}
	return labels, width, height, nil
}

// colourLabels maps an RGB(A) mask to labels (see DecodePNG).
func colourLabels(img image.Image) (labels []byte, width, height int) {
	b := img.Bounds()
	width, height = b.Dx(), b.Dy()
	binary := make([]byte, width*height)
	davis := make([]byte, width*height) // palette indices while every colour is one
	index := map[color.RGBA]byte{}
	for i, c := range Palette() {
		index[c.(color.RGBA)] = byte(i)
	}
	isDAVIS := true
	for y := range height {
		for x := range width {
			r, g, bl, a := img.At(b.Min.X+x, b.Min.Y+y).RGBA()
			i := y*width + x
			if a != 0 && r|g|bl != 0 {
				binary[i] = 1
			}
			if isDAVIS {
				l, ok := index[color.RGBA{R: uint8(r >> 8), G: uint8(g >> 8), B: uint8(bl >> 8), A: 0xff}]
				isDAVIS = ok && a == 0xffff
				davis[i] = l
			}
		}
	}
	if isDAVIS {
		return davis, width, height
	}
	return binary, width, height
}

// ReadPNG reads the label map of the PNG file at path (see DecodePNG).
// Opening errors are returned as os.Open gives them (*fs.PathError); a
// decoding error names the path.
func ReadPNG(path string) (labels []byte, width, height int, err error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, 0, 0, err
	}
	defer f.Close()
	labels, width, height, err = DecodePNG(bufio.NewReader(f))
	if err != nil {
		return nil, 0, 0, fmt.Errorf("%s: %w", path, err)
	}
	return labels, width, height, nil
}
