/* shim.c - the public, const-correct daas_* functions of libdaas.so.
 *
 * cgo writes the prototypes of Go exports without const, which would conflict with include/daas.h,
 * so the Go side exports internal names (daasgo_*) and this file defines the public names over
 * them. It also owns what is naturally C: the per-thread last error message, the static strings,
 * the handle <-> pointer conversion and daas_bytes_free. */
#include <stdlib.h>
#include <string.h>

#include "shim.h"
#include "_cgo_export.h"

#define MESSAGE_CAP 1024

static _Thread_local char last_error[MESSAGE_CAP];

void daasshim_set_error(const char *msg, size_t len) {
    if (len >= MESSAGE_CAP) {
        len = MESSAGE_CAP - 1;
        while (len > 0 && ((unsigned char)msg[len] & 0xC0) == 0x80) {
            len--; /* do not cut a UTF-8 sequence */
        }
    }
    if (len > 0) {
        memcpy(last_error, msg, len);
    }
    last_error[len] = '\0';
}

void *daasshim_alloc(size_t n) { return malloc(n > 0 ? n : 1); }

/* A handle is the registry id (never 0) carried in a pointer; it is never dereferenced. */
static uint64_t handle_id(const daas_engine *engine) { return (uint64_t)(uintptr_t)engine; }

uint32_t daas_abi_version(void) { return DAAS_ABI_VERSION; }

const char *daas_version_string(void) { return DAAS_VERSION_STRING; }

const char *daas_last_error_message(void) { return last_error; }

/* STATUS_NAME(DAAS_E_IO) is `case DAAS_E_IO: return "DAAS_E_IO";`: the value comes from daas.h and the
 * name is the macro's own spelling (# does not expand its argument), so neither is written twice.
 * capi/abitest checks that every code daas.h defines has its case here. */
#define STATUS_NAME(code) case code: return #code;

const char *daas_status_string(daas_status status) {
    switch (status) {
    STATUS_NAME(DAAS_OK)
    STATUS_NAME(DAAS_E_INTERNAL)
    STATUS_NAME(DAAS_E_INVALID_ARGUMENT)
    STATUS_NAME(DAAS_E_INVALID_CONFIG)
    STATUS_NAME(DAAS_E_CORRUPT_STATE)
    STATUS_NAME(DAAS_E_VERSION_MISMATCH)
    STATUS_NAME(DAAS_E_NUMERIC)
    STATUS_NAME(DAAS_E_DEVICE)
    STATUS_NAME(DAAS_E_IO)
    default: return "DAAS_E_UNKNOWN";
    }
}

#undef STATUS_NAME

daas_status daas_engine_create(const char *config_json, daas_engine **out) {
    uint64_t id = 0;
    daas_status st = daasgo_engine_create((char *)config_json, out != NULL ? &id : NULL);
    if (out != NULL) {
        *out = st == DAAS_OK ? (daas_engine *)(uintptr_t)id : NULL;
    }
    return st;
}

daas_status daas_engine_load(const uint8_t *data, size_t len, daas_engine **out) {
    uint64_t id = 0;
    daas_status st = daasgo_engine_load((uint8_t *)data, len, out != NULL ? &id : NULL);
    if (out != NULL) {
        *out = st == DAAS_OK ? (daas_engine *)(uintptr_t)id : NULL;
    }
    return st;
}

daas_status daas_engine_load_file(const char *path, daas_engine **out) {
    uint64_t id = 0;
    daas_status st = daasgo_engine_load_file((char *)path, out != NULL ? &id : NULL);
    if (out != NULL) {
        *out = st == DAAS_OK ? (daas_engine *)(uintptr_t)id : NULL;
    }
    return st;
}

void daas_engine_free(daas_engine *engine) {
    if (engine != NULL) {
        daasgo_engine_free(handle_id(engine));
    }
}

daas_status daas_engine_sizes(const daas_engine *engine, size_t *n_alpha_out, size_t *n_edges_out) {
    return daasgo_engine_sizes(handle_id(engine), n_alpha_out, n_edges_out);
}

daas_status daas_engine_get_alpha(const daas_engine *engine, float *out, size_t n_alpha) {
    return daasgo_engine_get_alpha(handle_id(engine), out, n_alpha);
}

daas_status daas_engine_get_beta(const daas_engine *engine, float *out, size_t n_edges) {
    return daasgo_engine_get_beta(handle_id(engine), out, n_edges);
}

daas_status daas_engine_get_weights(const daas_engine *engine, float *op_out, size_t n_alpha,
                                    float *edge_out, size_t n_edges) {
    return daasgo_engine_get_weights(handle_id(engine), op_out, n_alpha, edge_out, n_edges);
}

daas_status daas_engine_set_epoch(daas_engine *engine, int32_t epoch) {
    return daasgo_engine_set_epoch(handle_id(engine), epoch);
}

daas_status daas_engine_step(daas_engine *engine, const float *grad_op, size_t n_alpha,
                             const float *grad_edge, size_t n_edges) {
    return daasgo_engine_step(handle_id(engine), (float *)grad_op, n_alpha, (float *)grad_edge, n_edges);
}

daas_status daas_engine_discretize(const daas_engine *engine, daas_bytes *genotype_json_out) {
    return daasgo_engine_bytes(handle_id(engine), DAASGO_GENOTYPE, genotype_json_out);
}

daas_status daas_engine_metrics(const daas_engine *engine, daas_bytes *json_out) {
    return daasgo_engine_bytes(handle_id(engine), DAASGO_METRICS, json_out);
}

daas_status daas_engine_save(const daas_engine *engine, daas_bytes *out) {
    return daasgo_engine_bytes(handle_id(engine), DAASGO_STATE, out);
}

daas_status daas_engine_save_file(const daas_engine *engine, const char *path) {
    return daasgo_engine_save_file(handle_id(engine), (char *)path);
}

daas_status daas_write_file(const char *path, const uint8_t *data, size_t len) {
    return daasgo_write_file((char *)path, (uint8_t *)data, len);
}

daas_status daas_engine_config(const daas_engine *engine, daas_bytes *json_out) {
    return daasgo_engine_bytes(handle_id(engine), DAASGO_CONFIG, json_out);
}

daas_status daas_engine_discretize_fb(const daas_engine *engine, daas_bytes *out) {
    return daasgo_engine_bytes(handle_id(engine), DAASGO_GENOTYPE_FB, out);
}

daas_status daas_engine_metrics_fb(const daas_engine *engine, daas_bytes *out) {
    return daasgo_engine_bytes(handle_id(engine), DAASGO_METRICS_FB, out);
}

daas_status daas_engine_epoch(const daas_engine *engine, int32_t *epoch_out) {
    return daasgo_engine_epoch(handle_id(engine), epoch_out);
}

void daas_bytes_free(daas_bytes *bytes) {
    if (bytes != NULL) {
        free(bytes->data);
        bytes->data = NULL;
        bytes->len = 0;
    }
}

daas_status daas_engine_get_weights_device(const daas_engine *engine, uint64_t op_out, size_t n_alpha,
                                           uint64_t edge_out, size_t n_edges, void *stream) {
    return daasgo_engine_get_weights_device(handle_id(engine), op_out, n_alpha, edge_out, n_edges, stream);
}

daas_status daas_engine_step_device(daas_engine *engine, uint64_t grad_op, size_t n_alpha,
                                    uint64_t grad_edge, size_t n_edges, void *stream) {
    return daasgo_engine_step_device(handle_id(engine), grad_op, n_alpha, grad_edge, n_edges, stream);
}

daas_status daas_engine_sync(daas_engine *engine) {
    return daasgo_engine_sync(handle_id(engine));
}
