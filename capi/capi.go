// Package capi is the C ABI of daas (include/daas.h; the rules in docs/ABI.md): Go exports under internal names
// (daasgo_*) that shim.c wraps into the public, const-correct daas_* functions; capi/lib builds them
// into libdaas.so.
//
// Each export recovers panics into DAAS_E_INTERNAL, resolves the handle through the registry,
// validates pointers and lengths, calls the engine and maps its error through one table. Float
// buffers are used in place (zero-copy) for the duration of the call only. Bytes handed to C are
// allocated with malloc and released by daas_bytes_free.
package capi

/*
#cgo CFLAGS: -I${SRCDIR}/../include -std=gnu11 -Wall -Wextra
#include "shim.h"
*/
import "C"

import (
	"unsafe"

	"github.com/daas-nas/daas/engine"
)

//export daasgo_engine_create
func daasgo_engine_create(config *C.char, out *C.uint64_t) (st C.int32_t) {
	defer recoverInto(&st)
	if config == nil {
		return fail(engine.Errorf(engine.ErrInvalidArgument, "config_json is NULL"))
	}
	return registerNew(out, func() (*engine.Engine, error) {
		cfg, err := engine.ParseConfig(C.GoBytes(unsafe.Pointer(config), C.int(C.strlen(config))))
		if err != nil {
			return nil, err
		}
		return engine.New(cfg)
	})
}

// maxStateLen bounds the length daas_engine_load accepts (beyond it the length cannot describe a
// real buffer: user-space addresses have 47 bits).
const maxStateLen = 1 << 47

//export daasgo_engine_load
func daasgo_engine_load(data *C.uint8_t, n C.size_t, out *C.uint64_t) (st C.int32_t) {
	defer recoverInto(&st)
	if data == nil {
		return fail(engine.Errorf(engine.ErrInvalidArgument, "data is NULL"))
	}
	if uint64(n) > maxStateLen {
		return fail(engine.Errorf(engine.ErrInvalidArgument, "len %d is larger than any state can be", uint64(n)))
	}
	return registerNew(out, func() (*engine.Engine, error) {
		// Copied: the engine may keep slices of what it loads; the caller's buffer is only borrowed.
		return engine.Load(append([]byte(nil), unsafe.Slice((*byte)(data), int(n))...))
	})
}

//export daasgo_engine_load_file
func daasgo_engine_load_file(path *C.char, out *C.uint64_t) (st C.int32_t) {
	defer recoverInto(&st)
	if path == nil {
		return fail(engine.Errorf(engine.ErrInvalidArgument, "path is NULL"))
	}
	return registerNew(out, func() (*engine.Engine, error) { return engine.LoadFile(C.GoString(path)) })
}

//export daasgo_engine_save_file
func daasgo_engine_save_file(h C.uint64_t, path *C.char) (st C.int32_t) {
	defer recoverInto(&st)
	var state []byte
	if status := withEngine(h, func(e *engine.Engine) error {
		if path == nil {
			return engine.Errorf(engine.ErrInvalidArgument, "path is NULL")
		}
		state = e.Save()
		return nil
	}); status != C.DAAS_OK {
		return status
	}
	// The file is written and flushed without the engine's lock: steps go on meanwhile.
	if err := engine.WriteStateFile(C.GoString(path), state); err != nil {
		return fail(err)
	}
	return C.DAAS_OK
}

//export daasgo_engine_free
func daasgo_engine_free(h C.uint64_t) {
	defer func() { _ = recover() }() // nothing to report: free returns no status
	unregister(uint64(h))
}

//export daasgo_engine_sizes
func daasgo_engine_sizes(h C.uint64_t, nAlpha, nEdges *C.size_t) (st C.int32_t) {
	defer recoverInto(&st)
	return withEngineUnsynced(h, func(e *engine.Engine) error {
		if nAlpha == nil {
			return engine.Errorf(engine.ErrInvalidArgument, "n_alpha_out is NULL")
		}
		if nEdges == nil {
			return engine.Errorf(engine.ErrInvalidArgument, "n_edges_out is NULL")
		}
		a, b := e.Sizes()
		*nAlpha, *nEdges = C.size_t(a), C.size_t(b)
		return nil
	})
}

// withEngine runs fn on the engine behind h, holding its lock, and maps fn's error to a status. A
// device engine is synchronized first (its host copy is then current; steps it refused are the error).
func withEngine(h C.uint64_t, fn func(e *engine.Engine) error) C.int32_t {
	return withSlot(h, func(s *slot) error {
		e := s.eng
		if s.dev != nil {
			var err error
			if e, err = s.dev.Host(); err != nil {
				return err
			}
		}
		return fn(e)
	})
}

// withEngineChange runs fn, which changes the engine behind h; a device engine is synchronized first
// and gets the result back (DeviceEngine.Update).
func withEngineChange(h C.uint64_t, fn func(e *engine.Engine) error) C.int32_t {
	return withSlot(h, func(s *slot) error {
		if s.dev != nil {
			return s.dev.Update(fn)
		}
		return fn(s.eng)
	})
}

// withEngineUnsynced runs fn on what the engine's host side knows without the device (sizes, epoch,
// configuration): it never waits for the device, so it is safe during a stream capture.
func withEngineUnsynced(h C.uint64_t, fn func(e *engine.Engine) error) C.int32_t {
	return withSlot(h, func(s *slot) error { return fn(s.eng) })
}

func withSlot(h C.uint64_t, fn func(s *slot) error) C.int32_t {
	s, err := acquire(uint64(h))
	if err != nil {
		return fail(err)
	}
	defer s.mu.Unlock()
	if err := fn(s); err != nil {
		return fail(err)
	}
	return C.DAAS_OK
}

// registerNew stores the engine create returns under a new handle in *out; an engine whose
// configuration names a device gets its numbers put there.
func registerNew(out *C.uint64_t, create func() (*engine.Engine, error)) C.int32_t {
	if out == nil {
		return fail(engine.Errorf(engine.ErrInvalidArgument, "out is NULL"))
	}
	e, err := create()
	if err != nil {
		return fail(err)
	}
	dev, err := placeOnDevice(e)
	if err != nil {
		return fail(err)
	}
	*out = C.uint64_t(register(e, dev))
	return C.DAAS_OK
}

// floatPair views the op-sized and edge-sized caller buffers of a weights or gradients call.
func floatPair(e *engine.Engine, pa *C.float, na C.size_t, pe *C.float, ne C.size_t, nameA, nameE string) ([]float32, []float32, error) {
	nA, nE := e.Sizes()
	a, err := floats(pa, na, nA, nameA, "n_alpha")
	if err != nil {
		return nil, nil, err
	}
	b, err := floats(pe, ne, nE, nameE, "n_edges")
	return a, b, err
}

// floats views a caller buffer of want floats in place, after checking the pointer and the length.
func floats(p *C.float, n C.size_t, want int, name, lenName string) ([]float32, error) {
	if p == nil {
		return nil, engine.Errorf(engine.ErrInvalidArgument, "%s is NULL", name)
	}
	if uint64(n) != uint64(want) {
		return nil, engine.Errorf(engine.ErrInvalidArgument, "%s is %d, the engine's is %d", lenName, uint64(n), want)
	}
	return unsafe.Slice((*float32)(unsafe.Pointer(p)), want), nil
}

//export daasgo_engine_get_alpha
func daasgo_engine_get_alpha(h C.uint64_t, out *C.float, n C.size_t) (st C.int32_t) {
	defer recoverInto(&st)
	return withEngine(h, func(e *engine.Engine) error {
		nA, _ := e.Sizes()
		buf, err := floats(out, n, nA, "out", "n_alpha")
		if err != nil {
			return err
		}
		return e.Alpha(buf)
	})
}

//export daasgo_engine_get_beta
func daasgo_engine_get_beta(h C.uint64_t, out *C.float, n C.size_t) (st C.int32_t) {
	defer recoverInto(&st)
	return withEngine(h, func(e *engine.Engine) error {
		_, nE := e.Sizes()
		buf, err := floats(out, n, nE, "out", "n_edges")
		if err != nil {
			return err
		}
		return e.Beta(buf)
	})
}

//export daasgo_engine_get_weights
func daasgo_engine_get_weights(h C.uint64_t, opOut *C.float, nAlpha C.size_t, edgeOut *C.float, nEdges C.size_t) (st C.int32_t) {
	defer recoverInto(&st)
	return withEngine(h, func(e *engine.Engine) error {
		ops, edges, err := floatPair(e, opOut, nAlpha, edgeOut, nEdges, "op_out", "edge_out")
		if err != nil {
			return err
		}
		return e.Weights(ops, edges)
	})
}

//export daasgo_engine_set_epoch
func daasgo_engine_set_epoch(h C.uint64_t, epoch C.int32_t) (st C.int32_t) {
	defer recoverInto(&st)
	return withEngineChange(h, func(e *engine.Engine) error { return e.SetEpoch(int(epoch)) })
}

//export daasgo_engine_step
func daasgo_engine_step(h C.uint64_t, gradOp *C.float, nAlpha C.size_t, gradEdge *C.float, nEdges C.size_t) (st C.int32_t) {
	defer recoverInto(&st)
	return withEngineChange(h, func(e *engine.Engine) error {
		gOp, gEdge, err := floatPair(e, gradOp, nAlpha, gradEdge, nEdges, "grad_op", "grad_edge")
		if err != nil {
			return err
		}
		return e.Step(gOp, gEdge)
	})
}

//export daasgo_engine_epoch
func daasgo_engine_epoch(h C.uint64_t, out *C.int32_t) (st C.int32_t) {
	defer recoverInto(&st)
	return withEngineUnsynced(h, func(e *engine.Engine) error {
		if out == nil {
			return engine.Errorf(engine.ErrInvalidArgument, "epoch_out is NULL")
		}
		*out = C.int32_t(e.Epoch())
		return nil
	})
}

//export daasgo_engine_bytes
func daasgo_engine_bytes(h C.uint64_t, kind C.int, out *C.daas_bytes) (st C.int32_t) {
	defer recoverInto(&st)
	var name string
	switch kind {
	case C.DAASGO_GENOTYPE:
		name = "genotype_json_out"
	case C.DAASGO_METRICS, C.DAASGO_CONFIG:
		name = "json_out"
	default:
		name = "out"
	}
	if out != nil {
		out.data, out.len = nil, 0
	}
	if out == nil {
		return withEngineUnsynced(h, func(*engine.Engine) error {
			return engine.Errorf(engine.ErrInvalidArgument, "%s is NULL", name)
		})
	}
	var b []byte
	read := withEngine
	if kind == C.DAASGO_CONFIG {
		read = withEngineUnsynced
	}
	if status := read(h, func(e *engine.Engine) error {
		switch kind {
		case C.DAASGO_GENOTYPE:
			b = e.Discretize().JSON()
		case C.DAASGO_METRICS:
			b = e.Metrics().JSON()
		case C.DAASGO_STATE:
			b = e.Save()
		case C.DAASGO_CONFIG:
			cfg := e.Config()
			b = cfg.JSON()
		case C.DAASGO_GENOTYPE_FB:
			b = e.Discretize().FlatBuffer()
		case C.DAASGO_METRICS_FB:
			b = e.Metrics().FlatBuffer()
		default:
			panic("daasgo_engine_bytes: unknown kind")
		}
		return nil
	}); status != C.DAAS_OK {
		return status
	}
	p := C.daasshim_alloc(C.size_t(len(b)))
	if p == nil {
		return fail(engine.Errorf(errOutOfMemory, "allocating %d bytes for %s failed", len(b), name))
	}
	copy(unsafe.Slice((*byte)(p), len(b)), b)
	out.data, out.len = (*C.uint8_t)(p), C.size_t(len(b))
	return C.DAAS_OK
}

//export daasgo_write_file
func daasgo_write_file(path *C.char, data *C.uint8_t, n C.size_t) (st C.int32_t) {
	defer recoverInto(&st)
	switch {
	case path == nil:
		return fail(engine.Errorf(engine.ErrInvalidArgument, "path is NULL"))
	case data == nil && n > 0:
		return fail(engine.Errorf(engine.ErrInvalidArgument, "data is NULL with len %d", uint64(n)))
	case uint64(n) > maxStateLen:
		return fail(engine.Errorf(engine.ErrInvalidArgument, "len %d is larger than any file daas writes", uint64(n)))
	}
	var b []byte
	if n > 0 {
		b = unsafe.Slice((*byte)(data), int(n)) // borrowed for the call only: WriteFile keeps no reference
	}
	if err := engine.WriteFile(C.GoString(path), b); err != nil {
		return fail(err)
	}
	return C.DAAS_OK
}
