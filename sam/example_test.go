package sam_test

import (
	"context"
	"log"

	"github.com/vidseg/vidseg/sam"
)

// Segment one frame with one click, as on the first prompted frame of a
// video: no memory yet, so no_mem_embed is added to the raw features.
func Example() {
	rt, err := sam.NewRuntime("") // "" = sam.FindRuntimeLibrary("")
	if err != nil {
		log.Fatal(err)
	}
	defer rt.Close()
	m, err := sam.Open(rt, "models/sam2.1_hiera_t", sam.Options{Provider: sam.ProviderAuto})
	if err != nil {
		log.Fatal(err)
	}
	defer m.Close()

	ctx := context.Background()
	image := make([]float32, 3*1024*1024) // video.Normalize'd frame
	f, err := m.EncodeImage(ctx, image)
	if err != nil {
		log.Fatal(err)
	}
	noMem, err := m.Constant("no_mem_embed")
	if err != nil {
		log.Fatal(err)
	}
	embed := append([]float32(nil), f.VisionFeat...)
	hw := len(embed) / len(noMem)
	for c, v := range noMem {
		for i := range hw {
			embed[c*hw+i] += v
		}
	}
	c, err := m.DecodeMasks(ctx, embed, f, sam.Prompt{Coords: [][2]float32{{512, 384}}, Labels: []float32{1}})
	if err != nil {
		log.Fatal(err)
	}
	mask := make([]byte, 1280*720)
	sam.MaskToSource(c.Masks[1], 256, 1280, 720, mask)
}
