/* stress_threads.h - the reliability stress of the C ABI (stress_threads.c), shared by the Go test
 * under -race (capi/abitest/stress.go) and reliability/stress.c. Each returns the number of failed
 * checks and writes a one-line report into report (cap bytes, NUL-terminated). */
#ifndef DAAS_STRESS_THREADS_H
#define DAAS_STRESS_THREADS_H

#include <stddef.h>
#include <stdint.h>

/* The largest spaces the stress programs use: buffers of these sizes hold any of their weights. */
#define STRESS_MAX_ALPHA 512
#define STRESS_MAX_EDGES 128

/* Fills x[0..n) with uniform numbers in [-scale, scale) from the generator state *s. */
void stress_fill(float *x, size_t n, uint64_t *s, float scale);

/* threads threads making calls daas_* calls each on engines of their own and on shared ones,
 * checkpointing into dir. */
long stress_threads(int threads, long calls, const char *dir, char *report, size_t cap);

/* daas_engine_load on iterations random and mutated states (seeded). */
long stress_fuzz_load(long iterations, uint64_t seed, char *report, size_t cap);

#endif
