package main

import (
	"slices"
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
