//go:build unix

package engine

import (
	"os"
	"path/filepath"
	"slices"
	"syscall"
	"testing"
)

// TestSaveFileWriteFailsKeepsEarlierCheckpoint makes the write itself fail, as on a full disk: with a
// file-size limit (RLIMIT_FSIZE) below the state's size, write(2) returns EFBIG for every user, root
// included (the Go runtime ignores SIGXFSZ). The earlier checkpoint must be left as it was and no
// temporary file may remain. The limit is process-wide, so this test must not run in parallel.
func TestSaveFileWriteFailsKeepsEarlierCheckpoint(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "search.daas")
	early := fileEngine(t, 1)
	if err := early.SaveFile(path); err != nil {
		t.Fatal(err)
	}
	earlier := early.Save()
	late := fileEngine(t, 2)
	g := stGrads{state: 3}
	stRun(t, late, &g, 4, 5, 2)

	var old syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_FSIZE, &old); err != nil {
		t.Fatal(err)
	}
	limit := old
	limit.Cur = uint64(len(earlier) / 2)
	if err := syscall.Setrlimit(syscall.RLIMIT_FSIZE, &limit); err != nil {
		t.Fatal(err)
	}
	err := late.SaveFile(path)
	if rerr := syscall.Setrlimit(syscall.RLIMIT_FSIZE, &old); rerr != nil {
		t.Fatal(rerr)
	}
	wantIOError(t, err, path, "file too large")
	if got := dirNames(t, dir); !slices.Equal(got, []string{"search.daas"}) {
		t.Errorf("folder holds %v, want only search.daas (the temporary file removed)", got)
	}
	onDisk, rerr := os.ReadFile(path)
	if rerr != nil || string(onDisk) != string(earlier) {
		t.Fatalf("the earlier checkpoint changed (%v)", rerr)
	}
	back, lerr := LoadFile(path)
	if lerr != nil {
		t.Fatal(lerr)
	}
	stSameEngine(t, "the earlier checkpoint", early, back)
}
