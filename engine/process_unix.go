//go:build unix

package engine

import (
	"errors"
	"syscall"
)

// processGone reports whether no process with this id exists (signal 0 probes without signalling).
func processGone(pid int) bool { return errors.Is(syscall.Kill(pid, 0), syscall.ESRCH) }
