package main

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/vidseg/vidseg/internal/cli"
	"github.com/vidseg/vidseg/internal/doctor"
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

	var checks []doctor.Check
	add := func(c doctor.Check) { checks = append(checks, c) }
	doctor.FFmpeg(add)
	rt := doctor.Runtime(s.Get("ort_lib"), s.Source("ort_lib"), add)
	if choice, err := findModel(s); err != nil {
		add(doctor.Check{Name: "model", Status: "fail", Required: true, Detail: "no model directory found",
			Fix: strings.TrimPrefix(err.Error(), "no model configured. ")})
	} else {
		doctor.Model(choice, rt, s.Get("provider"), strings.TrimPrefix(exportHowTo, "no model configured. "), add)
	}
	if rt != nil {
		rt.Close()
	}
	doctor.Chromium(ctx, add)

	failed := 0
	for _, c := range checks {
		if c.Status == "fail" && c.Required {
			failed++
		}
	}
	if *asJSON {
		enc := json.NewEncoder(e.Stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(struct {
			OK     bool           `json:"ok"`
			Checks []doctor.Check `json:"checks"`
		}{failed == 0, checks}); err != nil {
			return err
		}
	} else {
		doctor.Print(e.Stdout, checks)
	}
	if failed > 0 {
		return fmt.Errorf("doctor: %d required check(s) failed", failed)
	}
	return nil
}
