package main

import (
	"context"

	"github.com/vidseg/vidseg/internal/cli"
)

func runDoctor(ctx context.Context, e *cli.Env, args []string) error {
	s, err := cli.LoadSettings(e, args)
	if err != nil {
		return err
	}
	fs := cli.NewFlags(e, "doctor", "vidseg doctor [--json] [--model DIR] [--ort-lib FILE]",
		`Checks what vidseg needs and says how to fix what is missing: the FFmpeg
libraries (versions, H.264 decoder, x264 and VP8 encoders), the ONNX Runtime
library (where it was found, whether it loads, its version), the execution
providers (CPU; CUDA when its provider library is present), the model
directory (manifest and SHA-256 of every file; it is opened as a last test)
and Chromium (used by the browser tests).

Exits 1 when a required check fails; warnings (no real model, no Chromium,
no CUDA) do not change the exit code.`,
		"  vidseg doctor\n  vidseg doctor --json | jq .\n  VIDSEG_MODEL=models/sam2.1_hiera_t vidseg doctor")
	cli.ConfigFlag(fs)
	s.Flag(fs, "model", "ort_lib", "provider")
	asJSON := fs.Bool("json", false, "print the checks as JSON")
	pos, err := fs.ParseArgs(args)
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		return cli.Usagef("doctor takes no arguments, got %q", pos)
	}

	return cli.Doctor(ctx, e, s, *asJSON)
}
