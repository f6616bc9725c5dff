/* harness.h - a tiny test harness for the C-side ABI tests (driven by go test, see abitest.go). */
#ifndef ABITEST_HARNESS_H
#define ABITEST_HARNESS_H

#include <stddef.h>
#include <stdint.h>

#include "daas.h"

/* One test run: failures are appended to a log (thread-safe: concurrency tests share a ctx). */
typedef struct t_ctx t_ctx;

typedef void (*t_func)(t_ctx *t);

typedef struct {
    const char *name;
    t_func fn;
} t_case;

extern const t_case abitest_cases[];
extern const int abitest_ncases;

/* The device engine's cases (device.c): run where "cuda" engines are the host emulation. */
extern const t_case abitest_device_cases[];
extern const int abitest_device_ncases;

/* abitest_name returns the name of case i. */
const char *abitest_name(int i);

/* abitest_run runs case i; it returns the number of failures and a malloc'ed log (*log_out, NUL-
 * terminated, may be NULL when empty) that the caller frees with free(). */
int abitest_run(int i, char **log_out);

/* abitest_run_device runs device case i; abitest_run_case runs any case. */
const char *abitest_device_name(int i);
int abitest_run_device(int i, char **log_out);
int abitest_run_case(const t_case *c, char **log_out);

/* abitest_seen reports whether any test saw status st returned by a daas_* call. */
int abitest_seen(daas_status st);

/* A handle whose slot holds no engine (capi.BrokenHandleForTest): calls on it panic inside Go. */
extern uint64_t abitest_broken_handle;

/* abitest_bench_step runs n steps of daas_engine_step on the darts preset; returns a status. */
daas_status abitest_bench_step(long n);

/* The same, in pieces: open an engine (epoch 10) and its gradients, run n steps on it, close. */
daas_status abitest_bench_open(void);
daas_status abitest_bench_run(long n);
void abitest_bench_close(void);

void t_fail(t_ctx *t, const char *file, int line, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 4, 5)))
#endif
    ;
void t_note_status(daas_status st);

/* CHECK(t, cond, fmt, ...): record a failure if cond is false. */
#define CHECK(t, cond, ...)                                                                        \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            t_fail((t), __FILE__, __LINE__, "CHECK(" #cond ") failed: " __VA_ARGS__);            \
        }                                                                                          \
    } while (0)

/* STATUS(t, call, want): the call must return want. */
#define STATUS(t, call, want) t_status((t), __FILE__, __LINE__, #call, (call), (want), NULL)

/* FAILS(t, call, want, needle): the call must return the error want and the thread's last error
 * message must contain needle (the argument or key it names). */
#define FAILS(t, call, want, needle) t_status((t), __FILE__, __LINE__, #call, (call), (want), (needle))

int t_status(t_ctx *t, const char *file, int line, const char *expr, daas_status got, daas_status want,
             const char *needle);

/* Synthetic gradients: a deterministic sequence in [-scale, scale). */
void t_fill(float *x, size_t n, uint64_t *seed, float scale);

/* Helpers that fail the test (and return 0) when a call fails. */
daas_engine *t_create(t_ctx *t, const char *config);
int t_save(t_ctx *t, const daas_engine *e, daas_bytes *out);
int t_bytes_equal(const daas_bytes *a, const daas_bytes *b);

/* t_text returns the bytes as a NUL-terminated string (JSON from the library); free() it. */
char *t_text(const daas_bytes *b);

/* CRC-32C (Castagnoli), as the state format uses it. */
uint32_t t_crc32c(uint32_t crc, const uint8_t *p, size_t n);

#endif
