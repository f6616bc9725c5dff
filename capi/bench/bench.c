/* bench.c - the cost of daas_engine_step on the darts preset through libdaas.so, from C.
 * Compare with the same step called from Go: go test -run '^$' -bench Step ./capi/abitest/
 * (BenchmarkStepGo). Built and run by `bash capi/ctest.sh bench`. */
#define _POSIX_C_SOURCE 199309L
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "daas.h"
#include "../abitest/try.h"

static double now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

#define CHECKED DAAS_TRY

int main(int argc, char **argv) {
    long iters = argc > 1 ? atol(argv[1]) : 200000;
    daas_engine *e = NULL;
    CHECKED(daas_engine_create("{}", &e));
    size_t na, ne;
    CHECKED(daas_engine_sizes(e, &na, &ne));
    float *op = malloc(na * sizeof(float)), *edge = malloc(ne * sizeof(float));
    uint64_t seed = 42; /* the same gradients as BenchmarkStepGo */
    for (size_t i = 0; i < na + ne; i++) {
        seed = seed * 6364136223846793005ULL + 1442695040888963407ULL;
        float x = 0.01f * ((float)(seed >> 40) / (float)(1 << 24) * 2.0f - 1.0f);
        if (i < na) {
            op[i] = x;
        } else {
            edge[i - na] = x;
        }
    }
    CHECKED(daas_engine_set_epoch(e, 10));
    for (long i = 0; i < iters / 10; i++) { /* warm up */
        CHECKED(daas_engine_step(e, op, na, edge, ne));
    }
    /* Blocks of 100 calls: the mean moves with the machine's load, the fastest block much less. */
    const long block = 100;
    double sum_step = 0, best_step = 1e18, best_call = 1e18;
    long done = 0;
    int32_t ep;
    while (done < iters) {
        double t0 = now_ns();
        for (long i = 0; i < block; i++) {
            CHECKED(daas_engine_step(e, op, na, edge, ne));
        }
        double t1 = now_ns();
        for (long i = 0; i < block; i++) {
            CHECKED(daas_engine_epoch(e, &ep));
        }
        double t2 = now_ns();
        sum_step += t1 - t0;
        if ((t1 - t0) / block < best_step) best_step = (t1 - t0) / block;
        if ((t2 - t1) / block < best_call) best_call = (t2 - t1) / block;
        done += block;
    }
    printf("daas_engine_step (darts, via libdaas.so): mean %.0f ns/op, best block %.0f ns/op (%ld steps)\n",
           sum_step / done, best_step, done);
    printf("daas_engine_epoch (a trivial ABI call):   best block %.0f ns/op\n", best_call);
    daas_engine_free(e);
    free(op);
    free(edge);
    return 0;
}
