// Package device is the device-resident engine: α, β, the Adam moments, the step counters, the
// epoch's coefficients and the controller's boosts in GPU memory, an architecture step enqueued as one
// kernel on the caller's stream, the mixing weights written by another, so the host never waits for
// a step. It backs the device functions of include/daas.h in libdaas-cuda.so (make lib-cuda).
//
// The kernels are kernels.h, one C source that NVRTC compiles to the PTX libdaas-cuda.so embeds and
// cgo compiles for the host emulation (NewHost) every test runs on: each kernel mirrors the Go engine
// operation by operation in float64 without fused multiply-adds, so on either backend a device engine
// ends in the same bits as a host engine fed the same gradients.
//
// An Engine pairs a host engine.Engine (configuration, epoch, history, and a copy of the numbers
// that is current after each synchronizing call) with the numbers on a Backend. Calls that only
// enqueue work (Step, Weights) never synchronize; the others (Sync, Pull and everything built on it)
// do, and report the steps the device refused since the last synchronizing call.
package device
