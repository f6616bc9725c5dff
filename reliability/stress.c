/* stress.c - the reliability programs of daas as one binary against libdaas.so.
 *
 *   stress threads T CALLS DIR   T threads x CALLS calls on separate engines + a shared one
 *   stress fuzz N SEED           daas_engine_load on N random / mutated byte strings
 *   stress loop N DIR            N iterations of create, step, save, load, save_file, load_file, free
 *   stress soak STEPS            STEPS steps on one engine, resident memory printed every 10%
 * Exit status 0 when every check passed. The threads and fuzz code is capi/abitest/stress_threads.c,
 * which go test also runs under -race.
 * Build: cc -O1 -g -Iinclude reliability/stress.c capi/abitest/stress_threads.c -Lbuild -ldaas -Wl,-rpath,$PWD/build -lpthread -lm */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../capi/abitest/stress_threads.h"
#include "../capi/abitest/try.h"

static long rss_kib(void) {
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    long kib = -1;
    while (f != NULL && fgets(line, sizeof line, f) != NULL) {
        if (strncmp(line, "VmRSS:", 6) == 0) kib = strtol(line + 6, NULL, 10);
    }
    if (f != NULL) fclose(f);
    return kib;
}

#define TRY DAAS_TRY

static int loop(long n, const char *dir) {
    char path[512];
    snprintf(path, sizeof path, "%s/loop.state", dir);
    float g[STRESS_MAX_ALPHA + STRESS_MAX_EDGES], w[STRESS_MAX_ALPHA + STRESS_MAX_EDGES];
    uint64_t rng = 1;
    for (long i = 0; i < n; i++) {
        daas_engine *e = NULL, *e2 = NULL, *e3 = NULL;
        size_t nA, nE;
        TRY(daas_engine_create("{\"epochs\": 3}", &e));
        TRY(daas_engine_sizes(e, &nA, &nE));
        TRY(daas_engine_set_epoch(e, 2));
        TRY(daas_engine_get_weights(e, w, nA, w + nA, nE));
        stress_fill(g, nA + nE, &rng, 0.1f);
        TRY(daas_engine_step(e, g, nA, g + nA, nE));
        daas_bytes s = {0}, m = {0}, gj = {0};
        TRY(daas_engine_save(e, &s));
        TRY(daas_engine_load(s.data, s.len, &e2));
        TRY(daas_engine_metrics(e2, &m));
        TRY(daas_engine_discretize(e2, &gj));
        if (daas_engine_step(e2, g, nA + 1, g, nE) != DAAS_E_INVALID_ARGUMENT) return 1; /* an error path too */
        if (i % 100 == 0) { /* the file functions sync to disk: now and then */
            TRY(daas_engine_save_file(e2, path));
            TRY(daas_engine_load_file(path, &e3));
        }
        daas_bytes_free(&s);
        daas_bytes_free(&m);
        daas_bytes_free(&gj);
        daas_engine_free(e3);
        daas_engine_free(e2);
        daas_engine_free(e);
    }
    remove(path);
    printf("loop: %ld iterations\n", n);
    return 0;
}

static int soak(long steps) {
    daas_engine *e = NULL;
    size_t nA, nE;
    TRY(daas_engine_create("{\"epochs\": 50, \"seed\": 4}", &e));
    TRY(daas_engine_sizes(e, &nA, &nE));
    float g[STRESS_MAX_ALPHA + STRESS_MAX_EDGES], w[STRESS_MAX_ALPHA + STRESS_MAX_EDGES];
    uint64_t rng = 9;
    long first = -1, lo = -1, hi = -1;
    for (long s = 0; s < steps; s++) {
        if (s % (steps / 50 > 0 ? steps / 50 : 1) == 0) TRY(daas_engine_set_epoch(e, 1 + (int32_t)(s * 50 / steps)));
        TRY(daas_engine_get_weights(e, w, nA, w + nA, nE));
        stress_fill(g, nA + nE, &rng, 0.05f);
        TRY(daas_engine_step(e, g, nA, g + nA, nE));
        if (s % 1000 == 999) { /* a metrics and a save now and then, as a training loop logs */
            daas_bytes m = {0}, b = {0};
            TRY(daas_engine_metrics(e, &m));
            TRY(daas_engine_save(e, &b));
            daas_bytes_free(&m);
            daas_bytes_free(&b);
        }
        if ((s + 1) % (steps / 10 > 0 ? steps / 10 : 1) == 0) {
            long r = rss_kib();
            if (first < 0) first = lo = hi = r;
            lo = r < lo ? r : lo;
            hi = r > hi ? r : hi;
            printf("soak: step %ld rss %ld KiB\n", s + 1, r);
        }
    }
    for (size_t i = 0; i < nA + nE; i++) {
        if (!isfinite(w[i])) {
            fprintf(stderr, "soak: weight %zu is %g\n", i, w[i]);
            return 1;
        }
    }
    daas_engine_free(e);
    printf("soak: %ld steps, rss first %ld KiB, min %ld, max %ld (growth %ld KiB after the first tenth)\n", steps,
           first, lo, hi, hi - first);
    /* flat: no more than 8 MiB of growth after the first tenth (the Go heap settles by then) */
    return hi - first > 8192 ? 1 : 0;
}

int main(int argc, char **argv) {
    static char report[8192];
    if (argc >= 5 && strcmp(argv[1], "threads") == 0) {
        long f = stress_threads(atoi(argv[2]), atol(argv[3]), argv[4], report, sizeof report);
        printf("threads: %s", report);
        return f != 0;
    }
    if (argc >= 4 && strcmp(argv[1], "fuzz") == 0) {
        long f = stress_fuzz_load(atol(argv[2]), strtoull(argv[3], NULL, 10), report, sizeof report);
        printf("fuzz: %s", report);
        return f != 0;
    }
    if (argc >= 4 && strcmp(argv[1], "loop") == 0) return loop(atol(argv[2]), argv[3]);
    if (argc >= 3 && strcmp(argv[1], "soak") == 0) return soak(atol(argv[2]));
    fprintf(stderr, "usage: stress threads T CALLS DIR | fuzz N SEED | loop N DIR | soak STEPS\n");
    return 2;
}
