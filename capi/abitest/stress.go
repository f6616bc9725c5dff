package abitest

/*
#include <stdint.h>
#include <stdlib.h>
long stress_threads(int threads, long calls, const char *dir, char *report, size_t cap);
long stress_fuzz_load(long iterations, uint64_t seed, long *known, char *report, size_t cap);
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

// StressFuzzLoad runs daas_engine_load on iterations random and mutated byte strings. It returns the
// failures, the count of the known engine issue (accepted states with NaN weights or left unsaveable
// by one step) and the report.
func StressFuzzLoad(iterations int, seed uint64) (failures, known int, report string) {
	buf := make([]byte, 8192)
	var k C.long
	n := C.stress_fuzz_load(C.long(iterations), C.uint64_t(seed), &k, (*C.char)(unsafe.Pointer(&buf[0])), C.size_t(len(buf)))
	return int(n), int(k), C.GoString((*C.char)(unsafe.Pointer(&buf[0])))
}
