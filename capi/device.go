package capi

/*
#include "shim.h"
*/
import "C"

import (
	"unsafe"

	"github.com/daas-nas/daas/engine"
)

// DeviceEngine is what the ABI needs of a device-resident engine (package device's Engine): the
// device calls enqueue on the caller's stream, everything else synchronizes through Host or Update.
type DeviceEngine interface {
	Step(stream uintptr, gradOp, gradEdge uint64) error
	Weights(stream uintptr, opOut, edgeOut uint64) error
	Sync() error
	Host() (*engine.Engine, error)
	Update(change func(*engine.Engine) error) error
	Close()
}

// newDevice puts host engine e's numbers on GPU ordinal. It is nil in libdaas.so; libdaas-cuda.so
// sets it (cuda.go, build tag daascuda).
var newDevice func(e *engine.Engine, ordinal int) (DeviceEngine, error)

// UseDeviceForTest makes configurations naming "cuda" create device engines with create, and
// registers the device with the engine: the ABI tests run the device functions on package device's
// host emulation with it. Nothing in the library calls it.
func UseDeviceForTest(create func(e *engine.Engine, ordinal int) (DeviceEngine, error)) {
	engine.RegisterDevice(engine.DeviceCUDA)
	newDevice = create
}

// placeOnDevice returns the device engine for e when its configuration names a device, else nil.
func placeOnDevice(e *engine.Engine) (DeviceEngine, error) {
	kind, ordinal, err := engine.ParseDevice(e.Config().Device)
	if err != nil || kind == engine.DeviceCPU {
		return nil, err
	}
	if newDevice == nil { // unreachable: the configuration validates only where a device is registered
		return nil, engine.Errorf(engine.ErrDevice, "device %q: this libdaas was built without the GPU path", kind)
	}
	return newDevice(e, ordinal)
}

// withDevice runs fn on the device engine behind h, after checking the lengths a device call
// passes; a host engine (or libdaas.so, where every engine is one) is ErrDevice.
func withDevice(h C.uint64_t, nAlpha, nEdges C.size_t, fn func(d DeviceEngine) error) C.int32_t {
	return withSlot(h, func(s *slot) error {
		if s.dev == nil {
			if newDevice == nil {
				return engine.Errorf(engine.ErrDevice, "this libdaas was built without the GPU path: the device functions need libdaas-cuda.so and an engine created with device \"cuda\"")
			}
			return engine.Errorf(engine.ErrDevice, "the engine computes on the CPU (device %q): the device functions need one created with device \"cuda\"", s.eng.Config().Device)
		}
		nA, nE := s.eng.Sizes()
		if uint64(nAlpha) != uint64(nA) {
			return engine.Errorf(engine.ErrInvalidArgument, "n_alpha is %d, the engine's is %d", uint64(nAlpha), nA)
		}
		if uint64(nEdges) != uint64(nE) {
			return engine.Errorf(engine.ErrInvalidArgument, "n_edges is %d, the engine's is %d", uint64(nEdges), nE)
		}
		return fn(s.dev)
	})
}

//export daasgo_engine_get_weights_device
func daasgo_engine_get_weights_device(h C.uint64_t, opOut C.uint64_t, nAlpha C.size_t, edgeOut C.uint64_t, nEdges C.size_t, stream unsafe.Pointer) (st C.int32_t) {
	defer recoverInto(&st)
	return withDevice(h, nAlpha, nEdges, func(d DeviceEngine) error {
		return d.Weights(uintptr(stream), uint64(opOut), uint64(edgeOut))
	})
}

//export daasgo_engine_step_device
func daasgo_engine_step_device(h C.uint64_t, gradOp C.uint64_t, nAlpha C.size_t, gradEdge C.uint64_t, nEdges C.size_t, stream unsafe.Pointer) (st C.int32_t) {
	defer recoverInto(&st)
	return withDevice(h, nAlpha, nEdges, func(d DeviceEngine) error {
		return d.Step(uintptr(stream), uint64(gradOp), uint64(gradEdge))
	})
}

//export daasgo_engine_sync
func daasgo_engine_sync(h C.uint64_t) (st C.int32_t) {
	defer recoverInto(&st)
	return withSlot(h, func(s *slot) error {
		if s.dev == nil {
			return engine.Errorf(engine.ErrDevice, "the engine computes on the CPU (device %q): there is nothing to synchronize", s.eng.Config().Device)
		}
		return s.dev.Sync()
	})
}
