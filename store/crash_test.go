package store

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/vidseg/vidseg/prompt"
)

// The child half of TestKillMidWrite: it runs only when re-executed with
// this variable set, writing prompts and frames until it is killed, and
// printing "ack" lines after each write returned.
const crashChildEnv = "VIDSEG_STORE_CRASH_CHILD"

func TestCrashChild(t *testing.T) {
	spec := os.Getenv(crashChildEnv)
	if spec == "" {
		t.Skip("child process of TestKillMidWrite")
	}
	// spec = path|round
	path, roundStr, _ := strings.Cut(spec, "|")
	round, _ := strconv.Atoi(roundStr)
	if err := crashChild(path, round); err != nil {
		fmt.Printf("error %v\n", err)
		os.Exit(1)
	}
}

func crashChild(path string, round int) error {
	s, err := OpenWith(path, Options{LockTimeout: 10 * time.Second})
	if err != nil {
		return err
	}
	if round == 0 {
		if _, err := s.CreateSession(Info{ID: "crash", Source: "child"}); err != nil {
			return err
		}
	}
	out := bufio.NewWriter(os.Stdout)
	for i := round * 100000; ; i++ {
		seq, err := s.AddPrompt("crash", crashPrompt(i))
		if err != nil {
			return err
		}
		fmt.Fprintf(out, "ack prompt %d %d\n", seq, i)
		out.Flush()
		if err := s.PutFrame("crash", crashFrame(i)); err != nil {
			return err
		}
		fmt.Fprintf(out, "ack frame %d\n", i)
		out.Flush()
	}
}

func crashPrompt(i int) Prompt {
	return Prompt{Prompt: prompt.Prompt{Frame: i, Object: i%3 + 1, Points: []prompt.Point{{X: float32(i), Y: float32(i % 7), Positive: i%2 == 0}}}}
}

// crashFrame is big enough (a few KiB) that writes span several pages.
func crashFrame(i int) Frame {
	f := Frame{Index: i}
	for o := 1; o <= 3; o++ {
		f.Objects = append(f.Objects, FrameObject{
			Object: o,
			Mask:   stripes(1280, 720, (i+o)%7+2),
			IoU:    float32(o) / 4, ObjectScore: float32(i), Present: true,
		})
	}
	return f
}

// TestKillMidWrite starts a child process that writes prompts and frames
// as fast as it can, SIGKILLs it mid-way, reopens the store and checks
// that every write the child saw acknowledged is there and the file is
// consistent. It repeats on the same file, so recovery after a crash is
// itself crashed into.
func TestKillMidWrite(t *testing.T) {
	if os.Getenv(crashChildEnv) != "" {
		t.Skip("in the child")
	}
	path := filepath.Join(t.TempDir(), "crash.db")
	prompts := map[uint64]int{} // seq -> i, acknowledged
	var frames []int
	const rounds = 3
	for round := range rounds {
		cmd := exec.Command(os.Args[0], "-test.run=^TestCrashChild$", "-test.count=1")
		cmd.Env = append(os.Environ(), crashChildEnv+"="+path+"|"+strconv.Itoa(round))
		cmd.Stderr = os.Stderr
		stdout, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		// Kill after a varying number of acknowledged frames, without
		// waiting for the next write: the child is always mid-write.
		killAfter := 40 + 37*round
		sc := bufio.NewScanner(stdout)
		roundFrames, killed := 0, false
		deadline := time.AfterFunc(60*time.Second, func() { cmd.Process.Kill() })
		for sc.Scan() {
			line := sc.Text()
			var seq uint64
			var i int
			switch {
			case strings.HasPrefix(line, "ack prompt "):
				if _, err := fmt.Sscanf(line, "ack prompt %d %d", &seq, &i); err != nil {
					t.Fatalf("child said %q", line)
				}
				prompts[seq] = i
			case strings.HasPrefix(line, "ack frame "):
				if _, err := fmt.Sscanf(line, "ack frame %d", &i); err != nil {
					t.Fatalf("child said %q", line)
				}
				frames = append(frames, i)
				roundFrames++
				if roundFrames == killAfter && !killed {
					if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
						t.Fatal(err)
					}
					killed = true
				}
			case strings.HasPrefix(line, "error "):
				t.Fatalf("child round %d: %s", round, line)
			}
		}
		deadline.Stop()
		err = cmd.Wait()
		if !killed {
			t.Fatalf("round %d: child ended after %d frames before being killed: %v", round, roundFrames, err)
		}
		ws, ok := cmd.ProcessState.Sys().(syscall.WaitStatus)
		if !ok || !ws.Signaled() || ws.Signal() != syscall.SIGKILL {
			t.Fatalf("round %d: child not killed by SIGKILL: %v", round, cmd.ProcessState)
		}

		s, err := Open(path)
		if err != nil {
			t.Fatalf("round %d: reopen after SIGKILL: %v", round, err)
		}
		if err := s.Check(); err != nil {
			s.Close()
			t.Fatalf("round %d: %v", round, err)
		}
		sess, err := s.Session("crash")
		if err != nil {
			s.Close()
			t.Fatalf("round %d: %v", round, err)
		}
		stored := map[uint64]Prompt{}
		for _, p := range sess.Prompts {
			stored[p.Seq] = p
		}
		for seq, i := range prompts {
			p, ok := stored[seq]
			want := crashPrompt(i)
			if !ok {
				t.Errorf("round %d: acknowledged prompt %d (i=%d) lost", round, seq, i)
			} else if p.Frame != want.Frame || p.Object != want.Object || len(p.Points) != 1 || p.Points[0] != want.Points[0] {
				t.Errorf("round %d: prompt %d = %+v, want %+v", round, seq, p, want)
			}
		}
		for _, i := range frames {
			f, err := s.Frame("crash", i)
			if err != nil {
				t.Errorf("round %d: acknowledged frame %d lost: %v", round, i, err)
				continue
			}
			want := crashFrame(i)
			if len(f.Objects) != 3 || f.Objects[2].Mask.String() != want.Objects[2].Mask.String() {
				t.Errorf("round %d: frame %d corrupted", round, i)
			}
		}
		t.Logf("round %d: killed after %d acknowledged frames; store has %d prompts, %d frames (%d acknowledged in all)",
			round, roundFrames, len(sess.Prompts), sess.FrameCount, len(frames))
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
		if t.Failed() {
			return
		}
	}
}
