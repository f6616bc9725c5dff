/* stress_threads.c - reliability stress of the C ABI, shared by the Go test under -race
 * (stress.go, stress_test.go) and the standalone program reliability/stress.c (valgrind, soak).
 *
 *   stress_threads: T threads, each making `calls` daas_* calls that mix create, step, get, set_epoch,
 *     save, load, save_file/load_file, free and failing calls on engines of its own, and const calls
 *     on one engine shared by all threads. Checks: every call gives the status it must; a thread
 *     reads back its own error message (the numbers in it are the thread's own); the shared engine
 *     always gives the same weights and genotype; a loaded state saves the same bytes.
 *   stress_fuzz_load: daas_engine_load on random byte strings and on mutated valid states (with the
 *     checksum recomputed, so the mutation reaches the decoder). Checks: only OK, CORRUPT_STATE,
 *     VERSION_MISMATCH; a failure leaves the output NULL with a message; an accepted state gives a
 *     working engine with finite weights that saves and reloads.
 * Both return the number of failures and write a report (counts, then the first failures). */
#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "daas.h"
#include "stress_threads.h"

#define STRESS_EPOCHS 6

typedef struct {
    pthread_mutex_t mu;
    long failures;
    char log[4096];
    size_t used;
} stress_log;

static void stress_fail(stress_log *lg, const char *fmt, ...) {
    char line[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    pthread_mutex_lock(&lg->mu);
    lg->failures++;
    if (lg->failures <= 10) {
        int n = snprintf(lg->log + lg->used, sizeof lg->log - lg->used, "%s\n", line);
        if (n > 0) lg->used = lg->used + (size_t)n < sizeof lg->log ? lg->used + (size_t)n : sizeof lg->log - 1;
    }
    pthread_mutex_unlock(&lg->mu);
}

static uint64_t stress_rand(uint64_t *s) {
    *s = *s * 6364136223846793005ULL + 1442695040888963407ULL;
    return *s >> 17;
}

void stress_fill(float *x, size_t n, uint64_t *s, float scale) {
    for (size_t i = 0; i < n; i++) {
        x[i] = scale * ((float)(stress_rand(s) & 0xffffff) / (float)(1 << 24) * 2.0f - 1.0f);
    }
}

/* ---- threads ------------------------------------------------------------------------------------ */

typedef struct {
    stress_log *lg;
    int id;
    long calls;
    const char *dir;
    const daas_engine *shared;
    const float *shared_op;
    const daas_bytes *shared_genotype;
    size_t n_alpha, n_edges;
    pthread_barrier_t *start;
    long made; /* calls made */
} stress_worker;

#define EXPECT(w, call, want)                                                                      \
    do {                                                                                           \
        daas_status st_ = (call);                                                                  \
        (w)->made++;                                                                               \
        if (st_ != (want)) {                                                                       \
            stress_fail((w)->lg, "thread %d: %s = %s, want %s: %s", (w)->id, #call,               \
                        daas_status_string(st_), daas_status_string(want), daas_last_error_message()); \
        }                                                                                          \
    } while (0)

static daas_engine *stress_create(stress_worker *w, uint64_t *rng) {
    char cfg[160];
    snprintf(cfg, sizeof cfg, "{\"seed\": %d, \"epochs\": %d, \"optimizer\": {\"alpha_start_epoch\": 2}}",
             (int)(w->id * 1000 + stress_rand(rng) % 1000), STRESS_EPOCHS);
    daas_engine *e = NULL;
    EXPECT(w, daas_engine_create(cfg, &e), DAAS_OK);
    return e;
}

/* own_message checks that the thread's last error message carries the thread's own marker. */
static void own_message(stress_worker *w, const char *marker, const char *what) {
    const char *msg = daas_last_error_message();
    if (strstr(msg, marker) == NULL) {
        stress_fail(w->lg, "thread %d: %s: read \"%s\", want a message with \"%s\" (crossed message?)", w->id, what,
                    msg, marker);
    }
}

static void *stress_work(void *arg) {
    stress_worker *w = arg;
    uint64_t rng = 0x9e3779b97f4a7c15ULL * (uint64_t)(w->id + 1);
    float g_op[STRESS_MAX_ALPHA], g_edge[STRESS_MAX_EDGES], op[STRESS_MAX_ALPHA], edge[STRESS_MAX_EDGES];
    size_t nA = w->n_alpha, nE = w->n_edges;
    char path[512], marker[64];
    snprintf(path, sizeof path, "%s/stress-%d.state", w->dir, w->id);
    pthread_barrier_wait(w->start);
    daas_engine *e = stress_create(w, &rng);
    long k = 0;
    while (w->made < w->calls) {
        k++;
        if (e == NULL) {
            e = stress_create(w, &rng);
            if (e == NULL) break;
        }
        switch (stress_rand(&rng) % 12) {
        case 0: /* free and create */
            daas_engine_free(e);
            w->made++;
            e = stress_create(w, &rng);
            break;
        case 1: case 2: case 3: /* a training step */
            EXPECT(w, daas_engine_get_weights(e, op, nA, edge, nE), DAAS_OK);
            stress_fill(g_op, nA, &rng, 0.05f);
            stress_fill(g_edge, nE, &rng, 0.05f);
            EXPECT(w, daas_engine_step(e, g_op, nA, g_edge, nE), DAAS_OK);
            break;
        case 4: { /* reads */
            size_t a = 0, b = 0;
            int32_t ep = 0;
            EXPECT(w, daas_engine_sizes(e, &a, &b), DAAS_OK);
            if (a != nA || b != nE) stress_fail(w->lg, "thread %d: sizes %zu, %zu", w->id, a, b);
            EXPECT(w, daas_engine_get_alpha(e, op, nA), DAAS_OK);
            EXPECT(w, daas_engine_get_beta(e, edge, nE), DAAS_OK);
            EXPECT(w, daas_engine_epoch(e, &ep), DAAS_OK);
            daas_bytes m = {0};
            EXPECT(w, daas_engine_metrics(e, &m), DAAS_OK);
            daas_bytes_free(&m);
            break;
        }
        case 5:
            EXPECT(w, daas_engine_set_epoch(e, 1 + (int32_t)(stress_rand(&rng) % STRESS_EPOCHS)), DAAS_OK);
            break;
        case 6: { /* save, load, the loaded engine saves the same bytes and replaces the old one */
            daas_bytes s = {0}, s2 = {0};
            daas_engine *e2 = NULL;
            EXPECT(w, daas_engine_save(e, &s), DAAS_OK);
            EXPECT(w, daas_engine_load(s.data, s.len, &e2), DAAS_OK);
            if (e2 != NULL) {
                EXPECT(w, daas_engine_save(e2, &s2), DAAS_OK);
                if (s.len != s2.len || memcmp(s.data, s2.data, s.len) != 0) {
                    stress_fail(w->lg, "thread %d: a loaded state saves different bytes", w->id);
                }
                daas_engine_free(e);
                w->made++;
                e = e2;
            }
            daas_bytes_free(&s);
            daas_bytes_free(&s2);
            break;
        }
        case 7: { /* failing calls whose messages carry this thread's numbers */
            size_t wrong = 100000 + (size_t)w->id * 10000 + (size_t)(k % 10000);
            snprintf(marker, sizeof marker, "n_alpha is %zu,", wrong);
            EXPECT(w, daas_engine_step(e, g_op, wrong, g_edge, nE), DAAS_E_INVALID_ARGUMENT);
            daas_bytes m = {0};
            EXPECT(w, daas_engine_metrics(w->shared, &m), DAAS_OK); /* a success in between */
            daas_bytes_free(&m);
            own_message(w, marker, "step with a wrong length");
            char cfg[96];
            long bad = -(100000L + w->id * 10000L + k % 10000);
            snprintf(cfg, sizeof cfg, "{\"epochs\": %ld}", bad);
            snprintf(marker, sizeof marker, "%ld", bad);
            daas_engine *none = (daas_engine *)1;
            EXPECT(w, daas_engine_create(cfg, &none), DAAS_E_INVALID_CONFIG);
            if (none != NULL) stress_fail(w->lg, "thread %d: a failed create left a non-NULL engine", w->id);
            own_message(w, marker, "create with a bad epoch count");
            break;
        }
        case 8: case 9: { /* const calls on the shared engine */
            EXPECT(w, daas_engine_get_weights(w->shared, op, nA, edge, nE), DAAS_OK);
            if (memcmp(op, w->shared_op, nA * sizeof(float)) != 0) {
                stress_fail(w->lg, "thread %d: the shared engine's weights changed", w->id);
            }
            daas_bytes g = {0};
            EXPECT(w, daas_engine_discretize(w->shared, &g), DAAS_OK);
            if (g.len != w->shared_genotype->len || memcmp(g.data, w->shared_genotype->data, g.len) != 0) {
                stress_fail(w->lg, "thread %d: the shared engine's genotype changed", w->id);
            }
            daas_bytes_free(&g);
            break;
        }
        case 10: { /* a freed handle is refused, never a crash */
            daas_engine *gone = stress_create(w, &rng);
            daas_engine_free(gone);
            w->made++;
            size_t a, b;
            EXPECT(w, daas_engine_sizes(gone, &a, &b), DAAS_E_INVALID_ARGUMENT);
            daas_engine_free(gone); /* a second free is a no-op */
            w->made++;
            break;
        }
        case 11: /* files, now and then (each save_file syncs to disk) */
            if (k % 16 == 0) {
                EXPECT(w, daas_engine_save_file(e, path), DAAS_OK);
                daas_engine *e2 = NULL;
                EXPECT(w, daas_engine_load_file(path, &e2), DAAS_OK);
                daas_engine_free(e);
                w->made++;
                e = e2;
            } else {
                daas_bytes s = {0};
                EXPECT(w, daas_engine_save(e, &s), DAAS_OK);
                daas_bytes_free(&s);
            }
            break;
        }
    }
    daas_engine_free(e);
    remove(path);
    return NULL;
}

long stress_threads(int threads, long calls, const char *dir, char *report, size_t cap) {
    stress_log lg = {.failures = 0, .used = 0};
    pthread_mutex_init(&lg.mu, NULL);
    lg.log[0] = 0;
    daas_engine *shared = NULL;
    daas_bytes genotype = {0};
    float shared_op[STRESS_MAX_ALPHA], shared_edge[STRESS_MAX_EDGES];
    size_t nA = 0, nE = 0;
    long made = 0;
    if (threads < 1 || threads > 64 ||
        daas_engine_create("{\"seed\": 77, \"epochs\": 6}", &shared) != DAAS_OK ||
        daas_engine_set_epoch(shared, 3) != DAAS_OK || daas_engine_sizes(shared, &nA, &nE) != DAAS_OK ||
        nA > STRESS_MAX_ALPHA || nE > STRESS_MAX_EDGES ||
        daas_engine_get_weights(shared, shared_op, nA, shared_edge, nE) != DAAS_OK ||
        daas_engine_discretize(shared, &genotype) != DAAS_OK) {
        snprintf(report, cap, "setup failed: %s\n", daas_last_error_message());
        daas_engine_free(shared);
        return 1;
    }
    stress_worker w[64];
    pthread_t th[64];
    pthread_barrier_t start;
    pthread_barrier_init(&start, NULL, (unsigned)threads);
    for (int i = 0; i < threads; i++) {
        w[i] = (stress_worker){&lg, i, calls, dir, shared, shared_op, &genotype, nA, nE, &start, 0};
        pthread_create(&th[i], NULL, stress_work, &w[i]);
    }
    for (int i = 0; i < threads; i++) {
        pthread_join(th[i], NULL);
        made += w[i].made;
    }
    pthread_barrier_destroy(&start);
    daas_bytes_free(&genotype);
    daas_engine_free(shared);
    snprintf(report, cap, "threads %d, calls %ld, failures %ld\n%s", threads, made, lg.failures, lg.log);
    pthread_mutex_destroy(&lg.mu);
    return lg.failures;
}

/* ---- fuzzing daas_engine_load ------------------------------------------------------------------- */

static uint32_t stress_rd32(const uint8_t *p) {
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}
static uint16_t stress_rd16(const uint8_t *p) { return (uint16_t)(p[0] | p[1] << 8); }
static void stress_wr32(uint8_t *p, uint32_t v) {
    for (int i = 0; i < 4; i++) p[i] = (uint8_t)(v >> (8 * i));
}
static uint32_t stress_crc32c(uint32_t crc, const uint8_t *p, size_t n) {
    crc = ~crc;
    for (size_t i = 0; i < n; i++) {
        crc ^= p[i];
        for (int k = 0; k < 8; k++) crc = (crc >> 1) ^ (0x82F63B78u & (0u - (crc & 1u)));
    }
    return ~crc;
}

/* stress_body finds the state's body (the envelope's field 2) and the CRC's place (field 1); the
 * CRC covers the 4 little-endian bytes of the schema version (field 0) and the body. */
static int stress_body(const uint8_t *p, size_t n, size_t *body, size_t *body_len, size_t *crc_at, size_t *ver_at) {
    if (n < 8) return 0;
    size_t table = stress_rd32(p);
    if (table + 4 > n) return 0;
    size_t vtable = table - (size_t)(int32_t)stress_rd32(p + table);
    if (vtable + 10 > n) return 0;
    uint16_t f_ver = stress_rd16(p + vtable + 4), f_crc = stress_rd16(p + vtable + 6), f_body = stress_rd16(p + vtable + 8);
    if (f_ver == 0 || f_crc == 0 || f_body == 0) return 0;
    size_t ref = table + f_body;
    size_t vec = ref + stress_rd32(p + ref);
    if (vec + 4 > n) return 0;
    *body_len = stress_rd32(p + vec);
    *body = vec + 4;
    *crc_at = table + f_crc;
    *ver_at = table + f_ver;
    return *body + *body_len <= n;
}

typedef struct {
    long runs, accepted, corrupt, version;
    long stepped; /* accepted states on which the zero-gradient step was taken (not refused) */
} stress_fuzz_counts;

static void stress_try_load(stress_log *lg, const uint8_t *p, size_t n, stress_fuzz_counts *c, const char *kind) {
    daas_engine *e = (daas_engine *)1;
    daas_status st = daas_engine_load(p, n, &e);
    c->runs++;
    /* DEVICE: a sound state whose config names a device this build lacks ("cuda"), counted as corrupt */
    if (st == DAAS_E_CORRUPT_STATE || st == DAAS_E_VERSION_MISMATCH || st == DAAS_E_DEVICE) {
        if (st == DAAS_E_CORRUPT_STATE) c->corrupt++; else c->version++;
        if (e != NULL) stress_fail(lg, "%s: failed load left a non-NULL engine", kind);
        if (daas_last_error_message()[0] == 0) stress_fail(lg, "%s: failed load without a message", kind);
        return;
    }
    if (st != DAAS_OK) {
        stress_fail(lg, "%s (%zu bytes): load = %s: %s", kind, n, daas_status_string(st), daas_last_error_message());
        return;
    }
    c->accepted++;
    size_t nA, nE;
    if (daas_engine_sizes(e, &nA, &nE) != DAAS_OK) {
        stress_fail(lg, "%s: sizes of an accepted state failed", kind);
        daas_engine_free(e);
        return;
    }
    float *w = malloc((nA + nE + 1) * sizeof(float)), *g = calloc(nA + nE + 1, sizeof(float));
    if (daas_engine_get_weights(e, w, nA, w + nA, nE) != DAAS_OK) {
        stress_fail(lg, "%s: get_weights of an accepted state: %s", kind, daas_last_error_message());
    } else {
        for (size_t i = 0; i < nA + nE; i++) {
            if (!isfinite(w[i])) {
                stress_fail(lg, "%s: an accepted state gives weight %zu = %g", kind, i, (double)w[i]);
                break;
            }
        }
    }
    daas_bytes s = {0}, gj = {0};
    daas_engine *e2 = NULL;
    if (daas_engine_save(e, &s) != DAAS_OK || daas_engine_load(s.data, s.len, &e2) != DAAS_OK) {
        stress_fail(lg, "%s: an accepted state does not save and reload: %s", kind, daas_last_error_message());
    }
    daas_bytes_free(&s);
    daas_engine_free(e2);
    e2 = NULL;
    /* One step with zero gradients: taken (OK) or refused (NUMERIC: a loaded state may sit at the
     * bounds the engine keeps, where the update would leave them). Either way the state must still
     * save and reload: every state a step commits is one Load accepts. */
    daas_status sst = daas_engine_step(e, g, nA, g + nA, nE);
    if (sst == DAAS_OK) {
        c->stepped++;
    } else if (sst != DAAS_E_NUMERIC) {
        stress_fail(lg, "%s: step on an accepted state = %s", kind, daas_status_string(sst));
    }
    if (daas_engine_save(e, &s) != DAAS_OK) {
        stress_fail(lg, "%s: save after a step: %s", kind, daas_last_error_message());
    } else if (daas_engine_load(s.data, s.len, &e2) != DAAS_OK) {
        stress_fail(lg, "%s: the state after a step (%s) does not reload: %s", kind, daas_status_string(sst),
                    daas_last_error_message());
    }
    if (daas_engine_discretize(e, &gj) != DAAS_OK) stress_fail(lg, "%s: discretize of an accepted state", kind);
    daas_bytes_free(&s);
    daas_bytes_free(&gj);
    daas_engine_free(e2);
    daas_engine_free(e);
    free(w);
    free(g);
}

/* stress_fuzz_load returns the failures and writes a report. */
long stress_fuzz_load(long iterations, uint64_t seed, char *report, size_t cap) {
    stress_log lg = {.failures = 0, .used = 0};
    pthread_mutex_init(&lg.mu, NULL);
    lg.log[0] = 0;
    stress_fuzz_counts random = {0}, mutated = {0};
    uint64_t rng = seed * 2654435761ULL + 1;
    /* valid states to mutate: fresh, stepped over several epochs (with history), nb201, darts method */
    const char *configs[] = {"{}", "{\"epochs\": 4, \"seed\": 5}", "{\"space\": \"nb201\", \"epochs\": 3}",
                             "{\"method\": \"darts\", \"epochs\": 3}"};
    daas_bytes seeds[4];
    for (int i = 0; i < 4; i++) {
        daas_engine *e = NULL;
        seeds[i] = (daas_bytes){0};
        if (daas_engine_create(configs[i], &e) != DAAS_OK) {
            stress_fail(&lg, "create %s: %s", configs[i], daas_last_error_message());
            continue;
        }
        size_t nA, nE;
        daas_engine_sizes(e, &nA, &nE);
        float *g = malloc((nA + nE) * sizeof(float));
        for (int ep = 1; ep <= (i == 1 ? 4 : 1); ep++) {
            daas_engine_set_epoch(e, ep);
            for (int s = 0; s < 5; s++) {
                stress_fill(g, nA + nE, &rng, 0.1f);
                daas_engine_step(e, g, nA, g + nA, nE);
            }
        }
        free(g);
        daas_engine_save(e, &seeds[i]);
        daas_engine_free(e);
    }
    uint8_t *buf = malloc(1 << 16);
    for (long it = 0; it < iterations; it++) {
        if (it % 4 == 0) { /* random bytes, sometimes with the file identifier in place */
            size_t n = 1 + stress_rand(&rng) % 4096;
            for (size_t i = 0; i < n; i++) buf[i] = (uint8_t)stress_rand(&rng);
            if (n >= 8 && stress_rand(&rng) % 2) memcpy(buf + 4, "DAAS", 4);
            stress_try_load(&lg, buf, n, &random, "random bytes");
            continue;
        }
        const daas_bytes *s = &seeds[stress_rand(&rng) % 4];
        if (s->len == 0 || s->len > (1 << 16)) continue;
        memcpy(buf, s->data, s->len);
        size_t n = s->len, body = 0, body_len = 0, crc_at = 0, ver_at = 0;
        int fix = stress_body(buf, n, &body, &body_len, &crc_at, &ver_at);
        int edits = 1 + (int)(stress_rand(&rng) % 4);
        for (int k = 0; k < edits; k++) {
            size_t lo = fix ? body : 0, span = fix ? body_len : n;
            size_t at = lo + stress_rand(&rng) % span;
            switch (stress_rand(&rng) % 6) {
            case 0: buf[at] ^= (uint8_t)(1u << (stress_rand(&rng) % 8)); break;
            case 1: buf[at] = (uint8_t)stress_rand(&rng); break;
            case 2: buf[at] = 0xff; break;
            case 3: /* a 32-bit field (a length, an offset) made huge or negative */
                if (at + 4 <= lo + span) stress_wr32(buf + at, (uint32_t)(stress_rand(&rng) % 2 ? 0x7fffffffu : 0xfffffff0u));
                break;
            case 4: /* a float64 made NaN, Inf, huge, or one of the bounds a state keeps (1e12, 1e100, 1e200) */
                if (at + 8 <= lo + span) {
                    static const uint64_t bad[] = {0x7ff8000000000000ULL, 0x7ff0000000000000ULL, 0xfff0000000000000ULL,
                                                   0x7fefffffffffffffULL, 0x0000000000000001ULL, 0x426d1a94a2000000ULL,
                                                   0xc26d1a94a2000000ULL, 0x54b249ad2594c37dULL, 0x6974e718d7d7625aULL};
                    uint64_t v = bad[stress_rand(&rng) % (sizeof bad / sizeof bad[0])];
                    for (int b = 0; b < 8; b++) buf[at + b] = (uint8_t)(v >> (8 * b));
                }
                break;
            default: buf[at] = 0; break;
            }
        }
        if (fix && stress_rand(&rng) % 8 != 0) { /* recompute the checksum so the decoder sees the edit */
            uint8_t le[4];
            memcpy(le, buf + ver_at, 4);
            stress_wr32(buf + crc_at, stress_crc32c(stress_crc32c(0, le, 4), buf + body, body_len));
        }
        if (stress_rand(&rng) % 10 == 0) n = stress_rand(&rng) % n + 1; /* truncated as well */
        stress_try_load(&lg, buf, n, &mutated, "mutated state");
    }
    free(buf);
    for (int i = 0; i < 4; i++) daas_bytes_free(&seeds[i]);
    snprintf(report, cap,
             "loads %ld: random bytes %ld (accepted %ld, corrupt %ld, version %ld), mutated states %ld "
             "(accepted %ld, corrupt %ld, version %ld; a step taken on %ld, refused on %ld), failures %ld\n%s",
             random.runs + mutated.runs, random.runs, random.accepted, random.corrupt, random.version, mutated.runs,
             mutated.accepted, mutated.corrupt, mutated.version, random.stepped + mutated.stepped,
             random.accepted + mutated.accepted - random.stepped - mutated.stepped, lg.failures, lg.log);
    pthread_mutex_destroy(&lg.mu);
    return lg.failures;
}
