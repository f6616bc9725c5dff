/* shim.h - internal to libdaas: the C helpers the Go exports call. Not installed. */
#ifndef DAAS_SHIM_H
#define DAAS_SHIM_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "daas.h"

/* What daasgo_engine_bytes returns. */
enum {
    DAASGO_GENOTYPE = 1,
    DAASGO_METRICS = 2,
    DAASGO_STATE = 3,
    DAASGO_CONFIG = 4,
    DAASGO_GENOTYPE_FB = 5,
    DAASGO_METRICS_FB = 6
};

/* daasshim_set_error stores msg[0..len) as the calling thread's last error message (truncated to
 * fit, at a UTF-8 character boundary). */
void daasshim_set_error(const char *msg, size_t len);

/* daasshim_alloc is malloc that returns NULL on failure (cgo's C.malloc aborts the process). */
void *daasshim_alloc(size_t n);

#endif
