//go:build daascuda

package device

import (
	_ "embed" // the kernels' PTX
	"runtime"
	"sync"
	"unsafe"

	"gorgonia.org/cu"

	"github.com/daas-nas/daas/engine"
)

// kernelsPTX is kernels.h compiled by NVRTC (make lib-cuda writes kernels.ptx before building).
//
//go:embed kernels.ptx
var kernelsPTX string

// blockThreads is the block size of both kernels: rows (edges, nodes) are spread over the threads.
const blockThreads = 128

// CUDA is a GPU in its primary context, the one the CUDA runtime (and so PyTorch) uses, so the
// caller's pointers and streams are valid in it. One CUDA serves every engine on that GPU.
type CUDA struct {
	ordinal       int
	ctx           cu.CUContext
	step, weights cu.Function
	name          string
}

var gpus struct {
	sync.Mutex
	byOrdinal map[int]*CUDA
}

// NewCUDA returns the backend of GPU ordinal, loading the kernels into its primary context the
// first time.
func NewCUDA(ordinal int) (*CUDA, error) {
	gpus.Lock()
	defer gpus.Unlock()
	if g := gpus.byOrdinal[ordinal]; g != nil {
		return g, nil
	}
	n, err := cu.NumDevices()
	if err != nil {
		return nil, cudaErr("counting devices", err)
	}
	if ordinal >= n {
		return nil, engine.Errorf(engine.ErrDevice, "device cuda:%d: the machine has %d GPU(s)", ordinal, n)
	}
	dev := cu.Device(ordinal)
	ctx, err := dev.RetainPrimaryCtx()
	if err != nil {
		return nil, cudaErr("retaining the primary context", err)
	}
	g := &CUDA{ordinal: ordinal, ctx: ctx}
	if err := g.in(func() error {
		mod, err := cu.LoadData(kernelsPTX)
		if err != nil {
			return cudaErr("loading the kernels", err)
		}
		if g.step, err = mod.Function("daas_step"); err != nil {
			return cudaErr("finding daas_step", err)
		}
		if g.weights, err = mod.Function("daas_weights"); err != nil {
			return cudaErr("finding daas_weights", err)
		}
		return nil
	}); err != nil {
		return nil, err
	}
	name, _ := dev.Name()
	g.name = name
	if gpus.byOrdinal == nil {
		gpus.byOrdinal = map[int]*CUDA{}
	}
	gpus.byOrdinal[ordinal] = g
	return g, nil
}

func cudaErr(what string, err error) error {
	return engine.Errorf(engine.ErrDevice, "cuda: %s: %v", what, err)
}

// in runs fn with the GPU's primary context current on this thread, and the caller's context (if
// any) current again afterwards.
func (g *CUDA) in(fn func() error) error {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	if err := cu.PushCurrentCtx(g.ctx); err != nil {
		return cudaErr("making the primary context current", err)
	}
	defer func() { _, _ = cu.PopCurrentCtx() }()
	return fn()
}

// Name implements Backend.
func (g *CUDA) Name() string { return g.name }

// Alloc implements Backend.
func (g *CUDA) Alloc(n int) (Ptr, error) {
	var p cu.DevicePtr
	err := g.in(func() error {
		var err error
		if p, err = cu.MemAlloc(int64(max(n, 1))); err != nil {
			return cudaErr("allocating device memory", err)
		}
		if err = cu.MemsetD8(p, 0, int64(max(n, 1))); err != nil {
			_ = cu.MemFree(p)
			return cudaErr("clearing device memory", err)
		}
		return nil
	})
	return Ptr(p), err
}

// Free implements Backend.
func (g *CUDA) Free(p Ptr) { _ = g.in(func() error { return cu.MemFree(cu.DevicePtr(p)) }) }

// Upload implements Backend: an asynchronous copy, then a wait for the whole context, so the
// kernels that follow on any stream see it.
func (g *CUDA) Upload(dst Ptr, src []byte) error {
	if len(src) == 0 {
		return nil
	}
	return g.in(func() error {
		if err := cu.MemcpyHtoDAsync(cu.DevicePtr(dst), unsafe.Pointer(&src[0]), int64(len(src)), cu.Stream{}); err != nil {
			return cudaErr("copying to the device", err)
		}
		return synchronize()
	})
}

// Download implements Backend.
func (g *CUDA) Download(dst []byte, src Ptr) error {
	if len(dst) == 0 {
		return nil
	}
	return g.in(func() error {
		if err := synchronize(); err != nil {
			return err
		}
		if err := cu.MemcpyDtoH(unsafe.Pointer(&dst[0]), cu.DevicePtr(src), int64(len(dst))); err != nil {
			return cudaErr("copying from the device", err)
		}
		return nil
	})
}

func synchronize() error {
	if err := cu.Synchronize(); err != nil {
		return cudaErr("synchronizing", err)
	}
	return nil
}

// Sync implements Backend.
func (g *CUDA) Sync() error { return g.in(synchronize) }

// CheckPointer implements pointerChecker: p must point into a device allocation with at least n
// bytes from p on (a host pointer, or a buffer too short, would fault the kernel and with it every
// user of the context).
func (g *CUDA) CheckPointer(p Ptr, n int) error {
	return g.in(func() error {
		size, base, err := cu.DevicePtr(p).AddressRange()
		if err != nil {
			return engine.Errorf(engine.ErrInvalidArgument, "%#x is not device memory of this GPU's context (%v)", p, err)
		}
		if uint64(base)+uint64(size) < p+uint64(n) {
			return engine.Errorf(engine.ErrInvalidArgument, "the device buffer at %#x ends %d bytes in, want %d", p, uint64(base)+uint64(size)-p, n)
		}
		return nil
	})
}

// Step implements Backend.
func (g *CUDA) Step(stream Stream, f, i, gradOp, gradEdge Ptr) error {
	return g.launch(g.step, stream, f, i, gradOp, gradEdge)
}

// Weights implements Backend.
func (g *CUDA) Weights(stream Stream, f, i, opOut, edgeOut Ptr) error {
	return g.launch(g.weights, stream, f, i, opOut, edgeOut)
}

func (g *CUDA) launch(fn cu.Function, stream Stream, args ...Ptr) error {
	params := make([]unsafe.Pointer, len(args))
	for k := range args {
		params[k] = unsafe.Pointer(&args[k])
	}
	// cu.Stream is a struct of one CUstream: the caller's handle, as it is.
	s := *(*cu.Stream)(unsafe.Pointer(&stream))
	return g.in(func() error {
		if err := fn.Launch(1, 1, 1, blockThreads, 1, 1, 0, s, params); err != nil {
			return cudaErr("launching a kernel", err)
		}
		return nil
	})
}
