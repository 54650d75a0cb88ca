package sam

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
)

// FuzzManifestValidate: any manifest.json content is either refused with an
// error or accepted with constants that can be sliced without overflow.
func FuzzManifestValidate(f *testing.F) {
	f.Add([]byte(`{"format":"vidseg-sam2/1","image_size":1024,"mask_size":256,"feature_size":64,"hidden_dim":256,"mem_dim":64,"num_maskmem":7,"max_obj_ptrs_in_encoder":16,"image_std":[1,1,1],"graphs":{"image_encoder":"a","mask_decoder":"a","memory_encoder":"a","memory_attention":"a"},"files":{"a":"` + zeroSHA + `","constants.bin":"` + zeroSHA + `"},"constants":{"x":{"offset":9223372036854775807,"shape":[2]}}}`))
	if b, err := os.ReadFile(filepath.Join("..", "testdata", "model", "sam2.1_hiera_t_random", manifestName)); err == nil {
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		var m Manifest
		if json.Unmarshal(b, &m) != nil {
			return
		}
		if m.validate() != nil {
			return
		}
		for _, c := range m.Constants {
			if end := c.Offset + c.Len(); end < c.Offset || end > 2*maxConstant {
				t.Fatalf("accepted constant %+v", c)
			}
		}
	})
}

const zeroSHA = "0000000000000000000000000000000000000000000000000000000000000000"

// FuzzValueInfo: the ONNX protobuf reader never panics on garbage.
func FuzzValueInfo(f *testing.F) {
	// name "x", tensor float [1, N]
	f.Add([]byte("\x0a\x01x\x12\x0e\x0a\x0c\x08\x01\x12\x08\x0a\x02\x08\x01\x0a\x02\x12\x00"))
	f.Add([]byte{0x12, 0xff, 0xff, 0xff, 0xff, 0x0f})
	f.Fuzz(func(t *testing.T, b []byte) {
		info, _, err := valueInfo(b)
		if err == nil && len(info.Dimensions) > len(b) {
			t.Fatalf("%d dimensions from %d bytes", len(info.Dimensions), len(b))
		}
	})
}
