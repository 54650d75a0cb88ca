package main

import (
	"os"
	"strings"
	"syscall"
)

// hugePageTunable asks glibc's malloc (2.35 and later) to back the blocks it
// maps with transparent huge pages (madvise MADV_HUGEPAGE).
const hugePageTunable = "glibc.malloc.hugetlb=1"

// reexecMark is set in the environment of the re-executed process, so that
// a loader that drops GLIBC_TUNABLES cannot make it loop.
const reexecMark = "VIDSEG_REEXEC"

// useHugePages re-executes the program once with hugePageTunable added to
// GLIBC_TUNABLES, which glibc reads only at process start. ONNX Runtime
// allocates each graph run's activations with malloc, and with the mmap
// threshold package sam sets they are fresh mappings every run: faulting
// them in 4 KiB at a time took 1.2 s of a 3.2 s image-encoder call and
// 0.8 s of a 3.5 s memory-attention call on the full-size model; with
// 2 MiB pages the calls take 2.1 and 2.7 s, at the same peak RSS
// (docs/runtime.md). A failed exec leaves the program running as it is.
func useHugePages() {
	env, ok := hugePageEnv(os.Environ())
	if !ok {
		return
	}
	exe, err := os.Executable()
	if err != nil {
		return
	}
	_ = syscall.Exec(exe, os.Args, env) // returns only when it failed
}

// hugePageEnv returns the environment to re-execute with, or false when
// there is nothing to do: GLIBC_TUNABLES already names glibc.malloc.hugetlb
// (=0 turns it off), or this is the re-executed process.
func hugePageEnv(environ []string) ([]string, bool) {
	tunables := ""
	rest := make([]string, 0, len(environ)+2)
	for _, kv := range environ {
		k, v, _ := strings.Cut(kv, "=")
		switch k {
		case reexecMark:
			return nil, false
		case "GLIBC_TUNABLES":
			if strings.Contains(v, "glibc.malloc.hugetlb") {
				return nil, false
			}
			tunables = v
			continue
		}
		rest = append(rest, kv)
	}
	if tunables != "" {
		tunables += ":"
	}
	return append(rest, "GLIBC_TUNABLES="+tunables+hugePageTunable, reexecMark+"=1"), true
}
