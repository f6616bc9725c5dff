package abitest

/*
#include <stdlib.h>
#include "stress_threads.h"
*/
import "C"

import "unsafe"

// StressThreads runs stress_threads.c: threads threads making calls daas_* calls each (create, step,
// get, set_epoch, save, load, files under dir, free, failing calls, const calls on a shared engine).
// It returns the number of failures and the report.
func StressThreads(threads, calls int, dir string) (int, string) {
	cdir := C.CString(dir)
	defer C.free(unsafe.Pointer(cdir))
	buf := make([]byte, 8192)
	n := C.stress_threads(C.int(threads), C.long(calls), cdir, (*C.char)(unsafe.Pointer(&buf[0])), C.size_t(len(buf)))
	return int(n), C.GoString((*C.char)(unsafe.Pointer(&buf[0])))
}

// StressFuzzLoad runs daas_engine_load on iterations random and mutated byte strings, and on every
// accepted state get_weights, save/load, a step and save/load again. It returns the number of
// failures and the report.
func StressFuzzLoad(iterations int, seed uint64) (failures int, report string) {
	buf := make([]byte, 8192)
	n := C.stress_fuzz_load(C.long(iterations), C.uint64_t(seed), (*C.char)(unsafe.Pointer(&buf[0])), C.size_t(len(buf)))
	return int(n), C.GoString((*C.char)(unsafe.Pointer(&buf[0])))
}
