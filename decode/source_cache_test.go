package decode_test

import (
	"bytes"
	"context"
	"testing"

	"github.com/vidseg/vidseg/decode"
	"github.com/vidseg/vidseg/internal/testutil"
)

func TestSourceCache(t *testing.T) {
	ctx := context.Background()
	path := testutil.Clip(t, "crossing")
	ref, err := decode.Open(ctx, path, decode.Options{})
	if err != nil {
		t.Fatal(err)
	}
	all, err := readAll(t, ref)
	ref.Close()
	if err != nil || len(all) != 64 {
		t.Fatalf("read %d frames, err %v", len(all), err)
	}
	d, err := decode.Open(ctx, path, decode.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	c := decode.NewSource(d, 50, 2)
	// Sequential reads, a revisit (cached), a jump back and one forward.
	for _, idx := range []int{0, 1, 2, 1, 2, 3, 30, 5, 6} {
		f, err := c.Frame(ctx, idx)
		if err != nil {
			t.Fatalf("Frame(%d): %v", idx, err)
		}
		if f.Index != idx || !bytes.Equal(f.RGB, all[idx].RGB) {
			t.Fatalf("Frame(%d) returned frame %d (same pixels %v)", idx, f.Index, bytes.Equal(f.RGB, all[idx].RGB))
		}
	}
	if st := c.Stats(); st.Reads != 7 || st.Seeks != 2 {
		t.Errorf("stats %+v, want 7 reads (1 and 2 revisited from the cache) and 2 seeks", st)
	}
	for _, bad := range []int{-1, 50} {
		if _, err := c.Frame(ctx, bad); err == nil {
			t.Errorf("Frame(%d) past the limit accepted", bad)
		}
	}
}
