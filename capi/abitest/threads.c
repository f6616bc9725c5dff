/* threads.c - concurrency: 8 threads stepping 8 engines and reading their own error messages, and
 * 8 threads sharing one engine through its const functions. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"

#define N_ALPHA 196
#define N_EDGES 28
#define THREADS 8
#define STEPS 300

void test_threads(t_ctx *t);
void test_shared_engine(t_ctx *t);

typedef struct {
    t_ctx *t;
    int id;
    daas_engine *engine;
    pthread_barrier_t *start;
} worker;

static void config_for(int id, char *buf, size_t cap) {
    snprintf(buf, cap, "{\"seed\": %d, \"epochs\": 4, \"optimizer\": {\"alpha_start_epoch\": 2}}", 100 + id);
}

/* drive runs the same schedule of steps for engine e; with provoke set it also makes failing calls
 * whose messages carry this thread's own numbers, and checks that it reads back exactly those. */
static void drive(t_ctx *t, int id, daas_engine *e, int provoke) {
    float op[N_ALPHA], edge[N_EDGES], w_op[N_ALPHA], w_edge[N_EDGES];
    uint64_t seed = 1000 + (uint64_t)id;
    char want[128];
    for (int s = 0; s < STEPS; s++) {
        if (s % (STEPS / 4) == 0) {
            STATUS(t, daas_engine_set_epoch(e, 1 + s / (STEPS / 4)), DAAS_OK);
        }
        STATUS(t, daas_engine_get_weights(e, w_op, N_ALPHA, w_edge, N_EDGES), DAAS_OK);
        t_fill(op, N_ALPHA, &seed, 0.05f);
        t_fill(edge, N_EDGES, &seed, 0.05f);
        if (provoke) {
            size_t wrong = 1000 + (size_t)id * 100 + (size_t)(s % 100);
            snprintf(want, sizeof want, "daas: invalid argument: n_alpha is %zu, the engine's is %d", wrong, N_ALPHA);
            FAILS(t, daas_engine_step(e, op, wrong, edge, N_EDGES), DAAS_E_INVALID_ARGUMENT, "n_alpha");
            daas_bytes m = {0};
            STATUS(t, daas_engine_metrics(e, &m), DAAS_OK); /* a success in between keeps the message */
            daas_bytes_free(&m);
            const char *got = daas_last_error_message();
            CHECK(t, strcmp(got, want) == 0, "thread %d read \"%s\", want \"%s\"", id, got, want);
        }
        STATUS(t, daas_engine_step(e, op, N_ALPHA, edge, N_EDGES), DAAS_OK);
    }
}

static void *work(void *arg) {
    worker *w = arg;
    pthread_barrier_wait(w->start);
    drive(w->t, w->id, w->engine, 1);
    return NULL;
}

void test_threads(t_ctx *t) {
    worker w[THREADS];
    pthread_t th[THREADS];
    pthread_barrier_t start;
    pthread_barrier_init(&start, NULL, THREADS);
    char cfg[128];
    for (int i = 0; i < THREADS; i++) {
        config_for(i, cfg, sizeof cfg);
        w[i] = (worker){t, i, t_create(t, cfg), &start};
        if (w[i].engine == NULL) {
            return;
        }
    }
    for (int i = 0; i < THREADS; i++) {
        pthread_create(&th[i], NULL, work, &w[i]);
    }
    for (int i = 0; i < THREADS; i++) {
        pthread_join(th[i], NULL);
    }
    pthread_barrier_destroy(&start);
    /* Each engine ends exactly where the same schedule run alone on this thread ends. */
    for (int i = 0; i < THREADS; i++) {
        config_for(i, cfg, sizeof cfg);
        daas_engine *ref = t_create(t, cfg);
        if (ref == NULL) {
            continue;
        }
        drive(t, i, ref, 0);
        daas_bytes a, b;
        if (t_save(t, w[i].engine, &a) && t_save(t, ref, &b)) {
            CHECK(t, t_bytes_equal(&a, &b), "engine %d differs from its single-threaded reference", i);
        }
        daas_bytes_free(&a);
        daas_bytes_free(&b);
        daas_engine_free(ref);
        daas_engine_free(w[i].engine);
    }
}

typedef struct {
    t_ctx *t;
    const daas_engine *engine;
    const float *want_op;
    pthread_barrier_t *start;
} reader;

static void *read_shared(void *arg) {
    reader *r = arg;
    float op[N_ALPHA], edge[N_EDGES], alpha[N_ALPHA];
    pthread_barrier_wait(r->start);
    for (int k = 0; k < 500; k++) {
        STATUS(r->t, daas_engine_get_weights(r->engine, op, N_ALPHA, edge, N_EDGES), DAAS_OK);
        CHECK(r->t, memcmp(op, r->want_op, sizeof op) == 0, "concurrent get_weights returned different weights");
        STATUS(r->t, daas_engine_get_alpha(r->engine, alpha, N_ALPHA), DAAS_OK);
        if (k % 50 == 0) {
            daas_bytes g = {0}, m = {0};
            STATUS(r->t, daas_engine_discretize(r->engine, &g), DAAS_OK);
            STATUS(r->t, daas_engine_metrics(r->engine, &m), DAAS_OK);
            daas_bytes_free(&g);
            daas_bytes_free(&m);
        }
    }
    return NULL;
}

/* const functions on one engine may run concurrently. */
void test_shared_engine(t_ctx *t) {
    daas_engine *e = t_create(t, "{\"seed\": 9}");
    if (e == NULL) {
        return;
    }
    float want[N_ALPHA], edge[N_EDGES];
    STATUS(t, daas_engine_get_weights(e, want, N_ALPHA, edge, N_EDGES), DAAS_OK);
    reader r[THREADS];
    pthread_t th[THREADS];
    pthread_barrier_t start;
    pthread_barrier_init(&start, NULL, THREADS);
    for (int i = 0; i < THREADS; i++) {
        r[i] = (reader){t, e, want, &start};
        pthread_create(&th[i], NULL, read_shared, &r[i]);
    }
    for (int i = 0; i < THREADS; i++) {
        pthread_join(th[i], NULL);
    }
    pthread_barrier_destroy(&start);
    daas_engine_free(e);
}
