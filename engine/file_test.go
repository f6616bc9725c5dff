package engine

import (
	"bytes"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
)

// The tests run as root in CI, where permission bits stop nothing: failures are made with paths that
// cannot work for any user (a missing folder, a regular file used as a folder, a folder where the
// file should be) and, in file_unix_test.go, with a file-size limit (a full disk, as write sees it).

// fileEngine is a small engine some steps into its search.
func fileEngine(t *testing.T, seed uint64) *Engine {
	t.Helper()
	e := mustEngine(t, stConfigs[2].json)
	g := stGrads{state: seed}
	stRun(t, e, &g, 1, 3, 2)
	return e
}

// dirNames lists the names in dir, sorted.
func dirNames(t *testing.T, dir string) []string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, en := range entries {
		names = append(names, en.Name())
	}
	slices.Sort(names)
	return names
}

// wantIOError checks that err is ErrIO (and no other sentinel) and that its message names the path
// and the given system reason.
func wantIOError(t *testing.T, err error, path, reason string) {
	t.Helper()
	if !errors.Is(err, ErrIO) {
		t.Fatalf("error %v, want ErrIO", err)
	}
	for _, other := range []error{ErrInvalidArgument, ErrCorruptState, ErrInternal} {
		if errors.Is(err, other) {
			t.Errorf("error %v also wraps %v", err, other)
		}
	}
	if msg := err.Error(); !strings.Contains(msg, path) || !strings.Contains(msg, reason) {
		t.Errorf("message %q does not name the path %q and the reason %q", msg, path, reason)
	}
}

func TestSaveFileLoadFileRoundTrip(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "search.daas")
	a := fileEngine(t, 1)
	if err := a.SaveFile(path); err != nil {
		t.Fatal(err)
	}
	onDisk, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(onDisk, a.Save()) {
		t.Fatal("the file does not hold the bytes of Save")
	}
	if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != 0o644 {
		t.Errorf("new file: %v, %v; want mode 0644", fi, err)
	}
	b, err := LoadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	stSameEngine(t, "loaded from the file", a, b)
	// Both continue identically.
	ga, gb := stGrads{state: 9}, stGrads{state: 9}
	stRun(t, a, &ga, 4, 6, 3)
	stRun(t, b, &gb, 4, 6, 3)
	stSameEngine(t, "continued after LoadFile", a, b)

	// Saving again replaces the file (keeping its mode) and leaves nothing else in the folder.
	if err := os.Chmod(path, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := a.SaveFile(path); err != nil {
		t.Fatal(err)
	}
	c, err := LoadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	stSameEngine(t, "after a second SaveFile", a, c)
	if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("replaced file: %v, %v; want its mode 0600 kept", fi, err)
	}
	if got := dirNames(t, dir); !slices.Equal(got, []string{"search.daas"}) {
		t.Errorf("folder holds %v, want only search.daas (no temporary files)", got)
	}
}

// A relative path is resolved in the working directory, whose temporary file goes there too.
func TestSaveFileRelativePath(t *testing.T) {
	dir := t.TempDir()
	t.Chdir(dir)
	e := fileEngine(t, 2)
	if err := e.SaveFile("state.bin"); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadFile("state.bin"); err != nil {
		t.Fatal(err)
	}
	if got := dirNames(t, dir); !slices.Equal(got, []string{"state.bin"}) {
		t.Errorf("folder holds %v", got)
	}
}

func TestSaveFileMissingFolder(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "no", "such", "state.daas")
	err := fileEngine(t, 3).SaveFile(path)
	wantIOError(t, err, path, "no such file or directory")
	if !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("error %v does not wrap fs.ErrNotExist", err)
	}
	if got := dirNames(t, dir); len(got) != 0 {
		t.Errorf("a failed save left %v", got)
	}
}

// A path through a regular file fails with ENOTDIR for every user, root included.
func TestSaveFileParentIsAFile(t *testing.T) {
	dir := t.TempDir()
	parent := filepath.Join(dir, "plain")
	if err := os.WriteFile(parent, []byte("not a folder"), 0o644); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(parent, "state.daas")
	wantIOError(t, fileEngine(t, 4).SaveFile(path), path, "not a directory")
	if got := dirNames(t, dir); !slices.Equal(got, []string{"plain"}) {
		t.Errorf("a failed save left %v", got)
	}
	_, err := LoadFile(path)
	wantIOError(t, err, path, "not a directory")
}

// When the rename fails (the path is a non-empty folder), the temporary file is removed and what is
// at the path is untouched.
func TestSaveFileRenameFailsKeepsTarget(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "state.daas")
	if err := os.MkdirAll(filepath.Join(path, "inside"), 0o755); err != nil {
		t.Fatal(err)
	}
	err := fileEngine(t, 5).SaveFile(path)
	wantIOError(t, err, path, "rename")
	if got := dirNames(t, dir); !slices.Equal(got, []string{"state.daas"}) {
		t.Errorf("folder holds %v, want only state.daas (the temporary file removed)", got)
	}
	if got := dirNames(t, path); !slices.Equal(got, []string{"inside"}) {
		t.Errorf("the folder at the path now holds %v", got)
	}
	// Loading a folder is an I/O error, not a corrupt state.
	_, err = LoadFile(path)
	wantIOError(t, err, path, "is a directory")
}

func TestLoadFileMissing(t *testing.T) {
	path := filepath.Join(t.TempDir(), "missing.daas")
	e, err := LoadFile(path)
	if e != nil {
		t.Error("LoadFile of a missing file returned an engine")
	}
	wantIOError(t, err, path, "no such file or directory")
	if !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("error %v does not wrap fs.ErrNotExist", err)
	}
}

func TestFileEmptyPath(t *testing.T) {
	if err := fileEngine(t, 6).SaveFile(""); !errors.Is(err, ErrInvalidArgument) {
		t.Errorf("SaveFile(\"\"): %v, want ErrInvalidArgument", err)
	}
	if _, err := LoadFile(""); !errors.Is(err, ErrInvalidArgument) {
		t.Errorf("LoadFile(\"\"): %v, want ErrInvalidArgument", err)
	}
}

// Content errors are Load's, with the path added to the message.
func TestLoadFileCorruptContent(t *testing.T) {
	dir := t.TempDir()
	good := fileEngine(t, 7).Save()
	flipped := append([]byte(nil), good...)
	flipped[len(flipped)/2] ^= 0x10
	for name, data := range map[string][]byte{
		"empty": {}, "truncated": good[:len(good)-3], "flipped": flipped, "text": []byte("hello, daas"),
	} {
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, data, 0o644); err != nil {
			t.Fatal(err)
		}
		e, err := LoadFile(path)
		if e != nil || !errors.Is(err, ErrCorruptState) || errors.Is(err, ErrIO) {
			t.Errorf("%s: %v, %v; want ErrCorruptState", name, e, err)
			continue
		}
		if !strings.Contains(err.Error(), path) {
			t.Errorf("%s: message %q does not name the file", name, err)
		}
	}
}

// A file larger than any state is refused from its size, before anything is read: a sparse file of
// 2 GiB + 1 bytes costs no disk and, refused unread, no memory.
func TestLoadFileTooLargeIsRefusedUnread(t *testing.T) {
	path := filepath.Join(t.TempDir(), "huge.daas")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Truncate(maxStateFileSize + 1); err != nil {
		f.Close()
		t.Fatalf("making a sparse file of %d bytes: %v", maxStateFileSize+1, err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	e, err := LoadFile(path)
	runtime.ReadMemStats(&after)
	if e != nil || !errors.Is(err, ErrCorruptState) || !strings.Contains(err.Error(), "larger than any daas state") {
		t.Fatalf("LoadFile: %v, %v; want ErrCorruptState for the size", e, err)
	}
	if grew := after.TotalAlloc - before.TotalAlloc; grew > 1<<20 {
		t.Errorf("refusing the file allocated %d bytes", grew)
	}
}
