package decode_test

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/vidseg/vidseg/decode"
)

// FuzzDecode writes arbitrary bytes to a file and decodes it: Open and Next
// must return errors, never panic or hang. Seeds live in
// testdata/fuzz/FuzzDecode (tiny valid MP4/WebM clips and damaged copies).
func FuzzDecode(f *testing.F) {
	f.Add([]byte{})
	f.Add([]byte("not a video"))
	f.Add(avs2Stream)
	f.Add(wavFile()[:200])
	f.Fuzz(func(t *testing.T, data []byte) {
		p := filepath.Join(t.TempDir(), "in")
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		d, err := decode.Open(ctx, p, decode.Options{ModelSize: 16})
		if err != nil {
			return
		}
		defer d.Close()
		info := d.Info()
		if info.Width <= 0 || info.Height <= 0 {
			t.Fatalf("opened with size %dx%d", info.Width, info.Height)
		}
		for i := 0; i < 50; i++ {
			fr, err := d.Next(ctx)
			if err != nil {
				break
			}
			if len(fr.RGB) != fr.Width*fr.Height*3 || len(fr.Model) != 16*16*3 {
				t.Fatalf("frame %d: %d RGB bytes for %dx%d, %d model bytes", i, len(fr.RGB), fr.Width, fr.Height, len(fr.Model))
			}
			fr.Release()
		}
		_ = d.Seek(ctx, 1)
	})
}
