// Command vidseg segments and tracks objects in video with SAM 2 /
// SAMURAI models exported to ONNX, and serves the result over WebRTC.
//
// Run `vidseg help` for the commands; docs/cli.md is the full reference.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime/debug"
	"syscall"

	"github.com/asticode/go-astiav"
	"github.com/vidseg/vidseg/internal/cli"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

type command struct {
	name    string
	summary string
	run     func(ctx context.Context, e *cli.Env, args []string) error
}

func commands() []command {
	return []command{
		{"track", "segment and track objects in a video file", runTrack},
		{"segment", "find every object on one frame (segment everything)", runSegment},
		{"eval", "score predicted masks against ground truth (J, F, J&F)", runEval},
		{"bench", "time each model stage on a clip", runBench},
		{"serve", "run the web app (click to track, WebRTC overlay)", runServe},
		{"worker", "track cameras for a cluster of serve front ends (NATS JetStream)", runWorker},
		{"sessions", "list, export or import stored sessions of `serve`", runSessions},
		{"doctor", "check FFmpeg, ONNX Runtime, the model and Chromium", runDoctor},
		{"version", "print the version", runVersion},
	}
}

func usage(w io.Writer) {
	fmt.Fprintf(w, `vidseg segments and tracks objects in video (SAM 2 / SAMURAI, ONNX Runtime, FFmpeg).

Usage:
  vidseg [--config FILE] COMMAND [flags] [args]

Commands:
`)
	for _, c := range commands() {
		fmt.Fprintf(w, "  %-9s %s\n", c.name, c.summary)
	}
	fmt.Fprintf(w, `  help      show help for a command

Examples:
  vidseg doctor
  vidseg track clip.mp4 --point 320,240 --out out/clip
  vidseg track clip.mp4 --box 100,80,300,260@0#1 --point 500,200#2 --mode sam2 --out out/clip
  vidseg eval out/clip/masks testdata/videos/clip/masks
  vidseg serve --addr :8080 --store sessions.db

Settings come from flags, then environment variables (VIDSEG_MODEL,
VIDSEG_ORT_LIB, VIDSEG_PROVIDER, ...), then a config file
(~/.config/vidseg/config.json, or --config FILE / VIDSEG_CONFIG), then
defaults. Run "vidseg help config" for the keys.

%s

Run "vidseg COMMAND --help" for a command's flags.
`, cli.ExitCodesHelp)
}

func main() {
	useHugePages()
	// FFmpeg's own log (x264 statistics, probing notes, a damaged file's
	// per-packet complaints) would drown the progress output, and vidseg's
	// errors say what failed in words. VIDSEG_FFMPEG_LOG=1 keeps it all.
	if os.Getenv("VIDSEG_FFMPEG_LOG") == "" {
		astiav.SetLogLevel(astiav.LogLevelFatal)
	}
	// A frame's features are large pointer-free buffers that die within a
	// frame or two; at Go's default GOGC=100 the heap grows to twice its
	// live set (~170 MB) on top of ONNX Runtime's peak. 10 costs a few cheap
	// collections per frame (the live set is mostly pointer-free) for
	// ~140 MB less peak RSS on the full-size tiny model
	// (docs/benchmarks.md). GOGC in the environment still wins.
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(10)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	e := &cli.Env{Stdout: os.Stdout, Stderr: os.Stderr, Getenv: os.Getenv}
	code := run(ctx, e, os.Args[1:])
	stop()
	os.Exit(code)
}

// run executes one command line and returns the process exit code.
func run(ctx context.Context, e *cli.Env, args []string) int {
	err := dispatch(ctx, e, args)
	if err == nil || errors.Is(err, cli.ErrHelp) {
		return cli.ExitOK
	}
	if ctx.Err() != nil && errors.Is(err, context.Canceled) {
		// The error says what was kept and where (track's partial results).
		fmt.Fprintf(e.Stderr, "vidseg: interrupted: %v\n", err)
		return cli.ExitInterrupted
	}
	fmt.Fprintf(e.Stderr, "vidseg: %v\n", err)
	return cli.ExitCode(err)
}

func dispatch(ctx context.Context, e *cli.Env, args []string) error {
	// --config may come before the command; it is also accepted after it.
	var global []string
	for len(args) > 0 && len(args[0]) > 1 && args[0][0] == '-' {
		a := args[0]
		switch {
		case a == "-h" || a == "--help" || a == "-help":
			usage(e.Stdout)
			return cli.ErrHelp
		case a == "--version" || a == "-version":
			return runVersion(ctx, e, nil)
		case a == "--config" || a == "-config":
			if len(args) < 2 {
				return cli.Usagef("--config needs a file")
			}
			global = append(global, a, args[1])
			args = args[2:]
		case hasPrefix(a, "--config=") || hasPrefix(a, "-config="):
			global = append(global, a)
			args = args[1:]
		default:
			return cli.Usagef("unknown flag %s before the command (run `vidseg help`)", a)
		}
	}
	if len(args) == 0 {
		usage(e.Stderr)
		return cli.Usagef("no command given")
	}
	name, rest := args[0], append(global, args[1:]...)
	if name == "help" {
		return runHelp(ctx, e, args[1:])
	}
	for _, c := range commands() {
		if c.name == name {
			return c.run(ctx, e, rest)
		}
	}
	return cli.Usagef("unknown command %q%s (run `vidseg help`)", name, cli.DidYouMean(name, commandNames()))
}

// commandNames are the words `vidseg COMMAND` and `vidseg help COMMAND` take.
func commandNames() []string {
	names := []string{"help"}
	for _, c := range commands() {
		names = append(names, c.name)
	}
	return names
}

func runHelp(ctx context.Context, e *cli.Env, args []string) error {
	if len(args) == 0 || args[0] == "help" || args[0] == "--help" || args[0] == "-h" {
		usage(e.Stdout)
		return nil
	}
	if args[0] == "config" {
		fmt.Fprint(e.Stdout, cli.ConfigHelp)
		return nil
	}
	for _, c := range commands() {
		if c.name == args[0] {
			return c.run(ctx, e, []string{"--help"})
		}
	}
	return cli.Usagef("no help for %q: not a command%s (run `vidseg help`)", args[0], cli.DidYouMean(args[0], append(commandNames(), "config")))
}

func runVersion(_ context.Context, e *cli.Env, args []string) error {
	fs := cli.NewFlags(e, "version", "vidseg version", "Prints the version of this build.", "")
	pos, err := fs.ParseArgs(args)
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		return cli.Usagef("version takes no arguments")
	}
	fmt.Fprintf(e.Stdout, "vidseg %s\n", version)
	return nil
}

func hasPrefix(s, p string) bool { return len(s) >= len(p) && s[:len(p)] == p }
