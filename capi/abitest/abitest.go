// Package abitest holds the C-side tests of the daas C ABI. They are C code (tests.c, state.c,
// threads.c) linked against package capi's exports and C shim in one binary, and driven by
// abitest_test.go under go test (and -race). The package exists for its tests only.
package abitest

/*
#cgo CFLAGS: -I${SRCDIR}/../../include -std=gnu11 -O1 -Wall
#cgo LDFLAGS: -lpthread -lm
#include <stdlib.h>
#include "harness.h"
*/
import "C"

import (
	"strings"
	"unsafe"

	"github.com/daas-nas/daas/capi"
	"github.com/daas-nas/daas/device"
	"github.com/daas-nas/daas/engine"
)

// Names lists the C test cases in order.
func Names() []string {
	names := make([]string, int(C.abitest_ncases))
	for i := range names {
		names[i] = C.GoString(C.abitest_name(C.int(i)))
	}
	return names
}

// DeviceNames lists the C test cases of the device engine (device.c) in order.
func DeviceNames() []string {
	names := make([]string, int(C.abitest_device_ncases))
	for i := range names {
		names[i] = C.GoString(C.abitest_device_name(C.int(i)))
	}
	return names
}

// Run runs the C test case i and returns its failures, one line each.
func Run(i int) []string {
	var log *C.char
	return logLines(C.abitest_run(C.int(i), &log), log)
}

// RunDevice runs the device case i (see UseHostDevice).
func RunDevice(i int) []string {
	var log *C.char
	return logLines(C.abitest_run_device(C.int(i), &log), log)
}

// UseHostDevice makes "cuda" engines device engines on package device's host emulation.
func UseHostDevice() {
	capi.UseDeviceForTest(func(e *engine.Engine, _ int) (capi.DeviceEngine, error) {
		return device.New(e, device.NewHost())
	})
}

// logLines turns a case's failure count and log into lines (and frees the log).
func logLines(n C.int, log *C.char) []string {
	if log == nil {
		if n > 0 {
			return []string{"failed without a message"}
		}
		return nil
	}
	defer C.free(unsafe.Pointer(log))
	return strings.Split(strings.TrimRight(C.GoString(log), "\n"), "\n")
}

// WithBrokenHandle registers a handle whose calls panic inside the library, for the Internal case
// (which frees it).
func WithBrokenHandle() {
	C.abitest_broken_handle = C.uint64_t(capi.BrokenHandleForTest())
}

// StatusString is daas_status_string(st).
func StatusString(st int32) string { return C.GoString(C.daas_status_string(C.daas_status(st))) }

// Seen reports whether any C test saw a daas_* call return status st.
func Seen(st int32) bool { return C.abitest_seen(C.daas_status(st)) != 0 }

// BenchStep runs n steps of daas_engine_step on the darts preset through the public C functions.
func BenchStep(n int) int32 { return int32(C.abitest_bench_step(C.long(n))) }

// BenchOpen, BenchRun and BenchClose split BenchStep: one engine, n steps at a time.
func BenchOpen() int32     { return int32(C.abitest_bench_open()) }
func BenchRun(n int) int32 { return int32(C.abitest_bench_run(C.long(n))) }
func BenchClose()          { C.abitest_bench_close() }
