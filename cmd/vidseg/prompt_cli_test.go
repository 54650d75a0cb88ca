package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/vidseg/vidseg/internal/cli"
	"github.com/vidseg/vidseg/internal/testutil"
	"github.com/vidseg/vidseg/mask"
)

// TestPromptSyntaxRefused covers prompts refused while parsing, before
// any input is opened: exit 2 with the reason.
func TestPromptSyntaxRefused(t *testing.T) {
	dir := t.TempDir()
	cases := []struct {
		name string
		args []string
		msg  string
	}{
		{"object over 255", []string{"--point", "1,2#300"}, "not an object id (1..255)"},
		{"box object over 255", []string{"--box", "1,2,5,6#256"}, "not an object id (1..255)"},
		{"two frames", []string{"--point", "640,360@1@2"}, "more than one '@' suffix"},
		{"two objects", []string{"--point", "1,2#1#2"}, "more than one '#' suffix"},
		{"two objects around a frame", []string{"--box", "1,2,5,6#1@3#2"}, "more than one '#' suffix"},
		{"negative threads", []string{"--point", "1,2", "--threads", "-3"}, "threads -3"},
		{"mask name with @", []string{"--mask", "img@2x.png"}, `quote it: --mask '"img@2x.png"@0#1'`},
		{"unclosed quote", []string{"--mask", `"img@2x.png`}, "no closing"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			args := append([]string{"track", "in.mp4", "--out", "o"}, c.args...)
			expect(t, vidseg(t, dir, nil, args...), cli.ExitUsage, c.msg)
		})
	}
}

// TestPromptsFitTheFrame checks the prompts against a real clip (320x240)
// before the model loads: a model directory without a manifest then
// stops the run with exit 4, which shows the prompts were accepted.
func TestPromptsFitTheFrame(t *testing.T) {
	clip := testutil.Clip(t, "crossing")
	dir := t.TempDir()
	noModel := []string{"VIDSEG_MODEL=" + dir}
	track := func(args ...string) result {
		return vidseg(t, dir, noModel, append([]string{"track", clip, "--out", filepath.Join(dir, "out")}, args...)...)
	}

	// A box dragged past the edges is clipped, with a note.
	r := track("--box", "-20,200,400,300")
	expect(t, r, cli.ExitModel, "box (-20,200)-(400,300) clipped to the 320x240 frame: (0,200)-(320,240)")
	// Nothing inside: refused.
	r = track("--box", "330,10,400,50")
	expect(t, r, cli.ExitUsage, "entirely outside the 320x240 frame")

	// Only negative clicks for a new object: accepted, with a warning;
	// a later negative click on a known object is no news.
	r = track("--point", "10,10,neg#2", "--point", "40,110@0#1", "--point", "50,50,neg@1#1")
	expect(t, r, cli.ExitModel, "object 2 starts on frame 0 with only negative clicks")
	if strings.Contains(r.stderr, "object 1 starts") {
		t.Errorf("warned about object 1, which starts with a positive click:\n%s", r.stderr)
	}

	// A mask file whose name has '@' in it, quoted.
	labels := make([]byte, 320*240)
	for i := 100 * 320; i < 120*320; i++ {
		labels[i] = 1
	}
	f, err := os.Create(filepath.Join(dir, "img@2x.png"))
	if err != nil {
		t.Fatal(err)
	}
	if err := mask.EncodePNG(f, labels, 320, 240); err != nil {
		t.Fatal(err)
	}
	f.Close()
	r = track("--mask", `"img@2x.png"@0#3`)
	expect(t, r, cli.ExitModel, "manifest.json")
	r = track("--mask", `"img@2x.png"`)
	expect(t, r, cli.ExitModel, "manifest.json")
}
