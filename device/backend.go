package device

// Ptr is an address in the backend's memory (a CUdeviceptr on the GPU).
type Ptr = uint64

// Stream is the caller's stream (a CUstream; 0 is the legacy default stream). Work a device engine
// enqueues runs in order with the caller's own work on that stream.
type Stream = uintptr

// Backend is where a device engine's numbers live and its kernels run: the GPU (libdaas-cuda.so) or
// the host emulation (NewHost), which runs the same kernels.h in the calling thread.
type Backend interface {
	// Alloc returns n bytes of zeroed memory; Free releases it.
	Alloc(n int) (Ptr, error)
	Free(p Ptr)
	// Upload copies src to dst and Download src to dst; both wait for all work enqueued before them,
	// so neither may be called while a stream is being captured.
	Upload(dst Ptr, src []byte) error
	Download(dst []byte, src Ptr) error
	// Step and Weights enqueue the kernels of kernels.h on stream and return at once.
	Step(stream Stream, f, i, gradOp, gradEdge Ptr) error
	Weights(stream Stream, f, i, opOut, edgeOut Ptr) error
	// Sync waits for all work enqueued on the device and reports a fault of the device itself.
	Sync() error
	// Name describes the device ("host emulation", or the GPU's name and ordinal).
	Name() string
}

// pointerChecker is implemented by backends that can tell whether a pointer is their memory.
type pointerChecker interface {
	CheckPointer(p Ptr, n int) error
}
