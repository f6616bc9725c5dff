package device

/*
#include <stdlib.h>
#include <string.h>
#include "kernels.h"

static uint64_t dk_alloc(size_t n) { return (uint64_t)(uintptr_t)calloc(1, n ? n : 1); }
static void dk_free(uint64_t p) { free((void *)(uintptr_t)p); }
static void dk_host_step(uint64_t f, uint64_t i, uint64_t g, uint64_t ge) {
    daas_step((double *)(uintptr_t)f, (dk_i64 *)(uintptr_t)i, (const float *)(uintptr_t)g, (const float *)(uintptr_t)ge);
}
static void dk_host_weights(uint64_t f, uint64_t i, uint64_t o, uint64_t e) {
    daas_weights((double *)(uintptr_t)f, (const dk_i64 *)(uintptr_t)i, (float *)(uintptr_t)o, (float *)(uintptr_t)e);
}
static void dk_copy_in(uint64_t dst, const void *src, size_t n) { memcpy((void *)(uintptr_t)dst, src, n); }
static void dk_copy_out(void *dst, uint64_t src, size_t n) { memcpy(dst, (const void *)(uintptr_t)src, n); }
*/
import "C"

import (
	"sync"
	"unsafe"

	"github.com/daas-nas/daas/engine"
)

// Host is the host emulation of a device: its memory is the process's (C heap) and its kernels are
// kernels.h compiled as C, run at once in the calling thread with one "thread" per block. Tests use it
// to check the device engine on machines without a GPU; it can also record launches and replay them,
// as a CUDA graph does.
type Host struct {
	mu        sync.Mutex
	live      map[Ptr]int
	capturing bool
	recorded  []func()
}

// NewHost returns a host emulation.
func NewHost() *Host { return &Host{live: map[Ptr]int{}} }

// Name implements Backend.
func (h *Host) Name() string { return "host emulation" }

// Alloc implements Backend.
func (h *Host) Alloc(n int) (Ptr, error) {
	p := Ptr(C.dk_alloc(C.size_t(n)))
	if p == 0 {
		return 0, engine.Errorf(engine.ErrDevice, "host emulation: cannot allocate %d bytes", n)
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	h.live[p] = n
	return p, nil
}

// Free implements Backend.
func (h *Host) Free(p Ptr) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if _, ok := h.live[p]; ok {
		delete(h.live, p)
		C.dk_free(C.uint64_t(p))
	}
}

// Live returns the number of allocations not yet freed.
func (h *Host) Live() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.live)
}

func (h *Host) check(p Ptr, n int) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	if size, ok := h.live[p]; !ok || n > size {
		return engine.Errorf(engine.ErrDevice, "host emulation: %#x is not an allocation of %d bytes or more", p, n)
	}
	return nil
}

// Upload implements Backend; it is refused while capturing, as a synchronous copy is in a capture.
func (h *Host) Upload(dst Ptr, src []byte) error {
	if err := h.uncaptured("upload"); err != nil {
		return err
	}
	if err := h.check(dst, len(src)); err != nil {
		return err
	}
	if len(src) > 0 {
		C.dk_copy_in(C.uint64_t(dst), unsafe.Pointer(&src[0]), C.size_t(len(src)))
	}
	return nil
}

// Download implements Backend.
func (h *Host) Download(dst []byte, src Ptr) error {
	if err := h.uncaptured("download"); err != nil {
		return err
	}
	if err := h.check(src, len(dst)); err != nil {
		return err
	}
	if len(dst) > 0 {
		C.dk_copy_out(unsafe.Pointer(&dst[0]), C.uint64_t(src), C.size_t(len(dst)))
	}
	return nil
}

func (h *Host) uncaptured(what string) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.capturing {
		return engine.Errorf(engine.ErrDevice, "host emulation: %s during a capture (it would synchronize)", what)
	}
	return nil
}

// launch runs k now, or records it while capturing.
func (h *Host) launch(k func()) error {
	h.mu.Lock()
	if h.capturing {
		h.recorded = append(h.recorded, k)
		h.mu.Unlock()
		return nil
	}
	h.mu.Unlock()
	k()
	return nil
}

// Step implements Backend.
func (h *Host) Step(_ Stream, f, i, gradOp, gradEdge Ptr) error {
	return h.launch(func() { C.dk_host_step(C.uint64_t(f), C.uint64_t(i), C.uint64_t(gradOp), C.uint64_t(gradEdge)) })
}

// Weights implements Backend.
func (h *Host) Weights(_ Stream, f, i, opOut, edgeOut Ptr) error {
	return h.launch(func() { C.dk_host_weights(C.uint64_t(f), C.uint64_t(i), C.uint64_t(opOut), C.uint64_t(edgeOut)) })
}

// Sync implements Backend: the emulation has nothing in flight.
func (h *Host) Sync() error { return h.uncaptured("sync") }

// Capture records the launches made while record runs instead of running them, and returns a
// function that replays them in order, like launching a captured CUDA graph.
func (h *Host) Capture(record func()) (replay func()) {
	h.mu.Lock()
	h.capturing, h.recorded = true, nil
	h.mu.Unlock()
	record()
	h.mu.Lock()
	ks := h.recorded
	h.capturing, h.recorded = false, nil
	h.mu.Unlock()
	return func() {
		for _, k := range ks {
			k()
		}
	}
}

// kernelExp and kernelLog are kernels.h's exp and log as compiled for the host (the tests hold them
// to the engine's, bit for bit).
func kernelExp(x float64) float64 { return float64(C.dk_exp(C.double(x))) }
func kernelLog(x float64) float64 { return float64(C.dk_log(C.double(x))) }
