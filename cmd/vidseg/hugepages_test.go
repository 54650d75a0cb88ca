package main

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"syscall"
	"testing"
)

func TestHugePageEnv(t *testing.T) {
	for _, tc := range []struct {
		name string
		in   []string
		want []string // nil: no re-exec
	}{
		{"added", []string{"PATH=/bin", "HOME=/root"},
			[]string{"PATH=/bin", "HOME=/root", "GLIBC_TUNABLES=glibc.malloc.hugetlb=1", "VIDSEG_REEXEC=1"}},
		{"joined to the user's tunables", []string{"GLIBC_TUNABLES=glibc.malloc.arena_max=2", "PATH=/bin"},
			[]string{"PATH=/bin", "GLIBC_TUNABLES=glibc.malloc.arena_max=2:glibc.malloc.hugetlb=1", "VIDSEG_REEXEC=1"}},
		{"the user's choice stands", []string{"GLIBC_TUNABLES=glibc.malloc.hugetlb=0"}, nil},
		{"already re-executed", []string{"VIDSEG_REEXEC=1", "PATH=/bin"}, nil},
	} {
		got, ok := hugePageEnv(tc.in)
		if ok != (tc.want != nil) || !slices.Equal(got, tc.want) {
			t.Errorf("%s: hugePageEnv(%q) = %q, %v; want %q", tc.name, tc.in, got, ok, tc.want)
		}
	}
}

// TestServeRunsWithHugePages: the real binary re-executes itself in place
// (same process) with the tunable, and leaves a user's own choice alone.
func TestServeRunsWithHugePages(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("reads /proc")
	}
	environ := func(p *serveProc) []string {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/environ", p.cmd.Process.Pid))
		if err != nil {
			t.Fatal(err)
		}
		return strings.Split(string(b), "\x00")
	}
	for _, tc := range []struct {
		extra []string
		want  string
		mark  bool
	}{
		{nil, "GLIBC_TUNABLES=glibc.malloc.hugetlb=1", true},
		{[]string{"GLIBC_TUNABLES=glibc.malloc.hugetlb=0"}, "GLIBC_TUNABLES=glibc.malloc.hugetlb=0", false},
	} {
		db := filepath.Join(t.TempDir(), "sessions.db")
		srv := startServe(t, append([]string{"VIDSEG_STORE=" + db}, tc.extra...), "--nats", "none")
		env := environ(srv) // the started process, now serving: the same pid after an exec
		srv.kill(t, syscall.SIGTERM)
		if !slices.Contains(env, tc.want) || slices.Contains(env, reexecMark+"=1") != tc.mark {
			t.Errorf("with %q the serving process has environment %q, want %s (re-executed: %v)", tc.extra, env, tc.want, tc.mark)
		}
	}
}
