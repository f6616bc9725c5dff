//go:build unix

package engine

import (
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
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

// TestSaveFileRemovesStaleTemps leaves temporary files as killed saves do and checks that a
// successful SaveFile removes exactly those of dead processes on this machine: not its own, not a
// live process's, not another machine's, not another file's.
func TestSaveFileRemovesStaleTemps(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "search.daas")
	dead := exec.Command("true")
	if err := dead.Run(); err != nil {
		t.Fatal(err)
	}
	deadPID := dead.Process.Pid
	if !processGone(deadPID) {
		t.Fatalf("pid %d of a finished child still exists", deadPID)
	}
	host := tempOwner[:strings.IndexByte(tempOwner, '-')]
	name := func(base, host string, pid int) string {
		return "." + base + "." + host + "-" + strconv.Itoa(pid) + ".123456.tmp"
	}
	stale := []string{name("search.daas", host, deadPID)}
	kept := []string{
		name("search.daas", host, os.Getpid()),   // this process: maybe a save in progress
		name("search.daas", host, os.Getppid()),  // a live process
		name("search.daas", "0badc0de", deadPID), // another machine on a shared file system
		name("other.daas", host, deadPID),        // another checkpoint
		".search.daas." + host + "-x.123.tmp",    // not a pid
		".search.daas.123456.tmp",                // the older naming: not ours to judge
	}
	for _, n := range append(slices.Clone(stale), kept...) {
		if err := os.WriteFile(filepath.Join(dir, n), []byte("partial"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := fileEngine(t, 1).SaveFile(path); err != nil {
		t.Fatal(err)
	}
	got := dirNames(t, dir)
	want := append([]string{"search.daas"}, kept...)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Errorf("folder after SaveFile:\n got %q\nwant %q", got, want)
	}
}

// TestSaveFileReadOnlyFolder saves into a folder the process may not write: DAAS_E_IO naming the
// path and "permission denied", no file left behind, the earlier checkpoint intact. Root may write
// anywhere, so as root the save runs in a child process of this test binary that first drops to
// the nobody user.
func TestSaveFileReadOnlyFolder(t *testing.T) {
	if dir := os.Getenv("DAAS_TEST_READONLY_DIR"); dir != "" { // the child
		if os.Geteuid() == 0 {
			if err := syscall.Setgid(65534); err != nil {
				t.Fatal(err)
			}
			if err := syscall.Setuid(65534); err != nil {
				t.Fatal(err)
			}
		}
		path := filepath.Join(dir, "search.daas")
		wantIOError(t, fileEngine(t, 2).SaveFile(path), path, "permission denied")
		return
	}
	base, err := os.MkdirTemp("", "daas-readonly-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.Chmod(filepath.Join(base, "ro"), 0o755); _ = os.RemoveAll(base) })
	dir := filepath.Join(base, "ro")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "search.daas")
	early := fileEngine(t, 1)
	if err := early.SaveFile(path); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{base, dir} { // others may enter both; nobody may write in dir
		if err := os.Chmod(p, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Chmod(dir, 0o555); err != nil {
		t.Fatal(err)
	}
	if os.Geteuid() == 0 {
		cmd := exec.Command(os.Args[0], "-test.run=^TestSaveFileReadOnlyFolder$", "-test.v")
		cmd.Env = append(os.Environ(), "DAAS_TEST_READONLY_DIR="+dir)
		out, err := cmd.CombinedOutput()
		if err != nil || !strings.Contains(string(out), "--- PASS: TestSaveFileReadOnlyFolder") {
			t.Fatalf("the save as nobody (%v):\n%s", err, out)
		}
	} else {
		wantIOError(t, fileEngine(t, 2).SaveFile(path), path, "permission denied")
	}
	if got := dirNames(t, dir); !slices.Equal(got, []string{"search.daas"}) {
		t.Errorf("folder holds %v, want only search.daas", got)
	}
	back, err := LoadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	stSameEngine(t, "the earlier checkpoint", early, back)
}
