// Command dumpframes writes the first N decoded frames as raw RGB24,
// concatenated, exactly as package decode hands them to the model:
//
//	go run ./tools/dumpframes -in FILE -n N -size 1024 -out frames.rgb   // Model buffers, size x size
//	go run ./tools/dumpframes -in FILE -n N -src -out frames.rgb         // source-size RGB
//
// The Python trace script feeds these exact pixels to the PyTorch reference.
package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"

	"github.com/vidseg/vidseg/decode"
)

func main() {
	in := flag.String("in", "", "input video (path or URL)")
	n := flag.Int("n", 0, "number of frames (0 = all)")
	size := flag.Int("size", 1024, "model input size (square)")
	src := flag.Bool("src", false, "write source-size RGB instead of the model buffers")
	out := flag.String("out", "", "output file (raw rgb24 frames concatenated)")
	flag.Parse()
	if *in == "" || *out == "" || *n < 0 || (!*src && *size <= 0) {
		fmt.Fprintln(os.Stderr, "usage: dumpframes -in FILE -out FILE [-n N] [-size 1024 | -src]")
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if err := run(ctx, *in, *out, *n, *size, *src); err != nil {
		fmt.Fprintln(os.Stderr, "dumpframes:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, in, out string, n, size int, src bool) (err error) {
	opts := decode.Options{}
	if !src {
		opts.ModelSize = size
	}
	d, err := decode.Open(ctx, in, opts)
	if err != nil {
		return err
	}
	defer d.Close()

	f, err := os.Create(out)
	if err != nil {
		return err
	}
	defer func() {
		if cerr := f.Close(); err == nil {
			err = cerr
		}
	}()
	w := bufio.NewWriterSize(f, 1<<20)
	count := 0
	var width, height int
	for n == 0 || count < n {
		fr, err := d.Next(ctx)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return fmt.Errorf("after %d frames: %w", count, err)
		}
		buf := fr.Model
		width, height = size, size
		if src {
			buf, width, height = fr.RGB, fr.Width, fr.Height
		}
		if _, err := w.Write(buf); err != nil {
			return err
		}
		fr.Release()
		count++
	}
	if err := w.Flush(); err != nil {
		return err
	}
	if n > 0 && count < n {
		fmt.Fprintf(os.Stderr, "dumpframes: %s has only %d frames\n", in, count)
	}
	fmt.Fprintf(os.Stderr, "dumpframes: wrote %d frames of %dx%d rgb24 to %s\n", count, width, height, out)
	return nil
}
