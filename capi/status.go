package capi

/*
#include "shim.h"
*/
import "C"

import (
	"errors"
	"fmt"
	"unsafe"

	"github.com/daas-nas/daas/engine"
)

// statusTable is the one mapping from the engine's error sentinels to the ABI's status codes.
var statusTable = []struct {
	sentinel error
	status   C.int32_t
}{
	{engine.ErrInvalidArgument, C.DAAS_E_INVALID_ARGUMENT},
	{engine.ErrInvalidConfig, C.DAAS_E_INVALID_CONFIG},
	{engine.ErrCorruptState, C.DAAS_E_CORRUPT_STATE},
	{engine.ErrVersionMismatch, C.DAAS_E_VERSION_MISMATCH},
	{engine.ErrNumeric, C.DAAS_E_NUMERIC},
	{engine.ErrDevice, C.DAAS_E_DEVICE},
	{engine.ErrIO, C.DAAS_E_IO},
}

// fail records err as the calling thread's last error message and returns its status code; an
// error that wraps no known sentinel is DAAS_E_INTERNAL.
func fail(err error) C.int32_t {
	st := C.int32_t(C.DAAS_E_INTERNAL)
	for _, row := range statusTable {
		if errors.Is(err, row.sentinel) {
			st = row.status
			break
		}
	}
	setMessage(err.Error())
	return st
}

func setMessage(msg string) {
	C.daasshim_set_error((*C.char)(unsafe.Pointer(unsafe.StringData(msg))), C.size_t(len(msg)))
}

// recoverInto turns a panic in an export into DAAS_E_INTERNAL; every export defers it.
func recoverInto(st *C.int32_t) {
	if r := recover(); r != nil {
		setMessage(fmt.Sprintf("daas: internal error (please report): %v", r))
		*st = C.DAAS_E_INTERNAL
	}
}

// errOutOfMemory reports a failed malloc; it wraps no engine sentinel, so it is DAAS_E_INTERNAL.
var errOutOfMemory = errors.New("out of memory")
