package engine

import (
	"errors"
	"fmt"
)

// Sentinel errors. Every error the package returns wraps exactly one of them, so callers (the C ABI
// maps them to status codes) test with errors.Is.
var (
	// ErrInvalidArgument reports a wrong length, an epoch out of range or a similar caller mistake.
	ErrInvalidArgument = errors.New("invalid argument")
	// ErrInvalidConfig reports a configuration that cannot be used; the message names the key.
	ErrInvalidConfig = errors.New("invalid config")
	// ErrCorruptState reports bytes that are not a valid daas state.
	ErrCorruptState = errors.New("corrupt state")
	// ErrVersionMismatch reports a well-formed state of a schema version this build does not know.
	ErrVersionMismatch = errors.New("state version mismatch")
	// ErrNumeric reports NaN or Inf in an input; the engine is left unchanged.
	ErrNumeric = errors.New("numeric error")
	// ErrDevice reports a device the configuration asks for that this build cannot compute on.
	ErrDevice = errors.New("device unavailable")
	// ErrIO reports a file that could not be read or written; the message names the path and gives
	// the system's reason.
	ErrIO = errors.New("i/o error")
	// ErrInternal reports a fault inside daas or a library it uses (a recovered panic, for example).
	ErrInternal = errors.New("internal error")
)

// Errorf returns an error that wraps kind, one of the sentinels above, in the one form every daas
// error message has: "daas: <kind>: <detail>", the detail formatted as by fmt.Sprintf. The C ABI
// builds the errors of its own argument checks with it too.
func Errorf(kind error, format string, args ...any) error {
	return fmt.Errorf("daas: %w: %s", kind, fmt.Sprintf(format, args...))
}
