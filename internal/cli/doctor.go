package cli

import (
	"context"
	"fmt"
	"strings"

	"github.com/vidseg/vidseg/internal/doctor"
)

// Doctor runs doctor's checks (FFmpeg, ONNX Runtime, the model, Chromium)
// and prints them; it fails when a required one fails.
func Doctor(ctx context.Context, e *Env, s *Settings, asJSON bool) error {
	var checks []doctor.Check
	add := func(c doctor.Check) { checks = append(checks, c) }
	doctor.FFmpeg(add)
	rt := doctor.Runtime(s.Get("ort_lib"), s.Source("ort_lib"), add)
	if choice, err := FindModel(s); err != nil {
		add(doctor.Check{Name: "model", Status: "fail", Required: true, Detail: "no model directory found",
			Fix: strings.TrimPrefix(err.Error(), "no model configured. ")})
	} else {
		doctor.Model(choice, rt, s.Get("provider"), strings.TrimPrefix(ExportHowTo(s), "no model configured. "), add)
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
	if asJSON {
		if err := WriteJSON(e.Stdout, struct {
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
