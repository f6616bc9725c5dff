package engine

import (
	"bytes"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// maxStateFileSize is the size of the largest state Load can accept. A state is one FlatBuffer, and
// the FlatBuffers builder that Save uses cannot grow a buffer beyond 2 GiB (its offsets are 32-bit);
// Load accepts only the exact bytes Save writes, so no file larger than this can hold a state.
const maxStateFileSize int64 = 1 << 31

// SaveFile writes the engine's state (the bytes of Save) to the file at path, atomically: the bytes
// go to a new temporary file in the same folder, which is flushed to disk, closed and renamed over
// path, and then the folder itself is flushed, so that after a crash path holds either the earlier
// file or the new state, complete. A new file gets mode 0644; a file that is replaced keeps its mode.
//
// On failure SaveFile removes its temporary file, leaves an earlier file at path as it was, and
// returns an ErrIO error naming the step, the path and the system's reason (it also wraps the
// system's error, so errors.Is(err, fs.ErrNotExist) and the like work). The one exception is a
// failure to flush the folder after the rename: the new state is then in place at path, but may not
// survive a power loss, and SaveFile still reports ErrIO.
//
// A process killed in the middle of SaveFile leaves its temporary file behind (".NAME.HOST-PID.*.tmp").
// After each successful save, SaveFile removes such leftovers of path written on this machine by a
// process that no longer exists; files of live processes and of other machines are left alone.
func (e *Engine) SaveFile(path string) error {
	return WriteStateFile(path, e.Save())
}

// WriteStateFile writes state (bytes from Save) to path exactly as SaveFile does. It lets a caller
// that guards the engine with a lock take the bytes under the lock and do the slow part, the
// writing and the two flushes, outside it.
func WriteStateFile(path string, state []byte) error { return WriteFile(path, state) }

// WriteFile is the one file writer of daas: it writes data to path atomically (a temporary file next
// to path, written and synced, renamed over path, the folder synced), so a crash, kill or power loss
// leaves either the earlier file or the new one, never a torn one; an existing file keeps its mode.
// States, checkpoints, reports and figures of every language go through it (the C ABI exports it as
// daas_write_file). On failure it removes its temporary file and leaves path as it was; the errors
// are ErrInvalidArgument for an empty path and ErrIO naming the path and the system's reason.
func WriteFile(path string, data []byte) (err error) {
	if path == "" {
		return Errorf(ErrInvalidArgument, "path is empty")
	}
	dir, base := filepath.Split(path)
	if dir == "" {
		dir = "."
	}
	mode := fs.FileMode(0o644)
	if fi, statErr := os.Stat(path); statErr == nil && fi.Mode().IsRegular() {
		mode = fi.Mode().Perm()
	}
	f, err := os.CreateTemp(dir, tempPrefix(base)+"*.tmp")
	if err != nil {
		return ioError("create a temporary file for", path, err)
	}
	tmp := f.Name()
	closed := false
	defer func() {
		if err != nil {
			if !closed {
				_ = f.Close()
			}
			_ = os.Remove(tmp) // gone already when the failure came after the rename
		}
	}()
	if _, err := f.Write(data); err != nil {
		return ioError("write", path, err)
	}
	if err := f.Chmod(mode); err != nil {
		return ioError("set the mode of", path, err)
	}
	if err := f.Sync(); err != nil {
		return ioError("sync", path, err)
	}
	closed = true
	if err := f.Close(); err != nil {
		return ioError("close", path, err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return ioError("rename a temporary file to", path, err)
	}
	if err := syncDir(dir); err != nil {
		return ioError("sync the folder of", path, err)
	}
	removeStaleTemps(dir, base)
	return nil
}

// tempOwner names this process in temporary file names: a hash of the host name and the process id.
var tempOwner = func() string {
	host, _ := os.Hostname()
	return fmt.Sprintf("%08x-%d", crc32.ChecksumIEEE([]byte(host)), os.Getpid())
}()

// tempPrefix is the start of the name of a temporary file for base that this process writes.
func tempPrefix(base string) string { return "." + base + "." + tempOwner + "." }

// removeStaleTemps removes the temporary files for base in dir that a process of this machine left
// behind when it died before renaming them. It is best effort: errors are ignored.
func removeStaleTemps(dir, base string) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return
	}
	host := tempOwner[:strings.IndexByte(tempOwner, '-')+1]
	prefix := "." + base + "." + host
	for _, ent := range entries {
		name := ent.Name()
		if !strings.HasPrefix(name, prefix) || !strings.HasSuffix(name, ".tmp") || !ent.Type().IsRegular() {
			continue
		}
		pidText, _, ok := strings.Cut(name[len(prefix):], ".")
		pid, err := strconv.Atoi(pidText)
		if !ok || err != nil || pid <= 0 || pid == os.Getpid() || !processGone(pid) {
			continue
		}
		_ = os.Remove(filepath.Join(dir, name))
	}
}

// syncDir flushes a folder's entries (a rename in it) to disk.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	if err := d.Sync(); err != nil {
		_ = d.Close()
		return err
	}
	return d.Close()
}

// LoadFile restores an engine from a file written by SaveFile (or holding the bytes of Save). It
// checks the file's size before reading it: a file that is not a regular file is ErrIO, one larger
// than any state can be is ErrCorruptState, and nothing is read or allocated for either. Errors
// opening or reading the file are ErrIO naming the path and the system's reason (wrapping the
// system's error too); errors in the content are Load's (ErrCorruptState, ErrVersionMismatch, ErrDevice), with
// the path added to the message.
func LoadFile(path string) (*Engine, error) {
	if path == "" {
		return nil, Errorf(ErrInvalidArgument, "path is empty")
	}
	// Stat before opening: opening a FIFO would block, and a huge file is refused unread.
	fi, err := os.Stat(path)
	if err != nil {
		return nil, ioError("open", path, err)
	}
	if err := checkStateFile(path, fi); err != nil {
		return nil, err
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, ioError("open", path, err)
	}
	defer f.Close()
	// The file may have been replaced since the stat: check what was opened.
	if fi, err = f.Stat(); err != nil {
		return nil, ioError("stat", path, err)
	}
	if err := checkStateFile(path, fi); err != nil {
		return nil, err
	}
	// Read at most one byte more than a state can hold, in case the file grows while being read.
	var buf bytes.Buffer
	if size := fi.Size() + bytes.MinRead; size <= math.MaxInt {
		buf.Grow(int(size)) // one allocation: the whole file and the read that sees its end
	}
	if _, err := buf.ReadFrom(io.LimitReader(f, maxStateFileSize+1)); err != nil {
		return nil, ioError("read", path, err)
	}
	if int64(buf.Len()) > maxStateFileSize {
		return nil, Errorf(ErrCorruptState, "%s: the file grew past %d bytes while being read, larger than any daas state", path, maxStateFileSize)
	}
	e, err := Load(buf.Bytes())
	if err != nil {
		return nil, fmt.Errorf("%w (file %s)", err, path)
	}
	return e, nil
}

func checkStateFile(path string, fi fs.FileInfo) error {
	if !fi.Mode().IsRegular() {
		what := "not a regular file"
		if fi.IsDir() {
			what = "is a directory"
		}
		return Errorf(ErrIO, "open %s: %s", path, what)
	}
	if fi.Size() > maxStateFileSize {
		return Errorf(ErrCorruptState, "%s: %d bytes is larger than any daas state (at most %d bytes)", path, fi.Size(), maxStateFileSize)
	}
	return nil
}

// ioError is ErrIO with "<op> <path>: <the system's reason>". It wraps the system's error as well,
// so that Go callers can test it with errors.Is (fs.ErrNotExist, fs.ErrPermission, ...).
func ioError(op, path string, err error) error {
	reason := err
	var pe *fs.PathError
	var le *os.LinkError
	switch {
	case errors.As(err, &pe):
		reason = pe.Err
	case errors.As(err, &le):
		reason = le.Err
	}
	return fmt.Errorf("%w: %w", Errorf(ErrIO, "%s %s", op, path), reason)
}
