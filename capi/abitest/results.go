package abitest

/*
#include <stdlib.h>
#include "harness.h"
*/
import "C"

import (
	"fmt"
	"unsafe"
)

// Results are the four result byte strings of one engine, copied out of the library's daas_bytes.
type Results struct {
	GenotypeJSON, GenotypeFB, MetricsJSON, MetricsFB []byte
}

// ResultsOf creates an engine from config, takes steps steps of deterministic gradients through the
// public C functions (at epoch `epoch`) and returns what daas_engine_discretize,
// daas_engine_discretize_fb, daas_engine_metrics and daas_engine_metrics_fb give then.
func ResultsOf(config string, epoch, steps int) (Results, error) {
	cfg := C.CString(config)
	defer C.free(unsafe.Pointer(cfg))
	var e *C.daas_engine
	if st := C.daas_engine_create(cfg, &e); st != C.DAAS_OK {
		return Results{}, fmt.Errorf("create: %s", C.GoString(C.daas_last_error_message()))
	}
	defer C.daas_engine_free(e)
	var na, ne C.size_t
	if st := C.daas_engine_sizes(e, &na, &ne); st != C.DAAS_OK {
		return Results{}, fmt.Errorf("sizes: %d", st)
	}
	if st := C.daas_engine_set_epoch(e, C.int32_t(epoch)); st != C.DAAS_OK {
		return Results{}, fmt.Errorf("set_epoch: %s", C.GoString(C.daas_last_error_message()))
	}
	op := (*C.float)(C.malloc(C.size_t(4) * (na + 1)))
	edge := (*C.float)(C.malloc(C.size_t(4) * (ne + 1)))
	defer C.free(unsafe.Pointer(op))
	defer C.free(unsafe.Pointer(edge))
	seed := C.uint64_t(uint64(len(config)) + uint64(steps))
	for k := 0; k < steps; k++ {
		C.t_fill(op, na, &seed, 0.3)
		C.t_fill(edge, ne, &seed, 0.3)
		if st := C.daas_engine_step(e, op, na, edge, ne); st != C.DAAS_OK {
			return Results{}, fmt.Errorf("step %d: %s", k, C.GoString(C.daas_last_error_message()))
		}
	}
	var r Results
	for _, f := range []struct {
		call func(*C.daas_bytes) C.daas_status
		out  *[]byte
	}{
		{func(b *C.daas_bytes) C.daas_status { return C.daas_engine_discretize(e, b) }, &r.GenotypeJSON},
		{func(b *C.daas_bytes) C.daas_status { return C.daas_engine_discretize_fb(e, b) }, &r.GenotypeFB},
		{func(b *C.daas_bytes) C.daas_status { return C.daas_engine_metrics(e, b) }, &r.MetricsJSON},
		{func(b *C.daas_bytes) C.daas_status { return C.daas_engine_metrics_fb(e, b) }, &r.MetricsFB},
	} {
		var b C.daas_bytes
		if st := f.call(&b); st != C.DAAS_OK {
			return Results{}, fmt.Errorf("result: %s", C.GoString(C.daas_last_error_message()))
		}
		*f.out = C.GoBytes(unsafe.Pointer(b.data), C.int(b.len))
		C.daas_bytes_free(&b)
	}
	return r, nil
}
