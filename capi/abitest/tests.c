/* tests.c - C-side tests of the daas ABI: versions, arguments, configs, numerics, epochs. */
#include <float.h>
#include <math.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"

#define DARTS_N_ALPHA 196 /* 2 cells x 14 edges x 7 ops */
#define DARTS_N_EDGES 28

static void *fresh_thread_message(void *arg) {
    const char **out = arg;
    *out = daas_last_error_message();
    return NULL;
}

static void test_versions(t_ctx *t) {
    CHECK(t, daas_abi_version() == DAAS_ABI_VERSION, "abi %u", daas_abi_version());
    CHECK(t, daas_abi_version() == 1, "abi %u", daas_abi_version());
    CHECK(t, strcmp(daas_version_string(), DAAS_VERSION_STRING) == 0, "%s", daas_version_string());
    char v[32];
    snprintf(v, sizeof v, "%d.%d.%d", DAAS_VERSION_MAJOR, DAAS_VERSION_MINOR, DAAS_VERSION_PATCH);
    CHECK(t, strcmp(v, DAAS_VERSION_STRING) == 0, "macros give %s, string is %s", v, DAAS_VERSION_STRING);
    /* daas_status_string for every code of daas.h: TestStatusStrings in abitest_test.go. */

    /* A thread that never failed has an empty message, never NULL. */
    const char *msg = NULL;
    pthread_t th;
    pthread_create(&th, NULL, fresh_thread_message, (void *)&msg);
    pthread_join(th, NULL);
    CHECK(t, msg != NULL && msg[0] == '\0', "fresh thread's message is \"%s\"", msg ? msg : "(NULL)");
}

static void test_create_and_sizes(t_ctx *t) {
    const char *defaults[] = {"", "{}", "  { }\n", "{\"space\": \"darts\"}"};
    for (size_t i = 0; i < sizeof defaults / sizeof defaults[0]; i++) {
        daas_engine *e = t_create(t, defaults[i]);
        if (e == NULL) {
            continue;
        }
        size_t na = 0, ne = 0;
        STATUS(t, daas_engine_sizes(e, &na, &ne), DAAS_OK);
        CHECK(t, na == DARTS_N_ALPHA && ne == DARTS_N_EDGES, "config \"%s\": sizes %zu %zu", defaults[i], na, ne);
        int32_t ep = 0;
        STATUS(t, daas_engine_epoch(e, &ep), DAAS_OK);
        CHECK(t, ep == 1, "a new engine is at epoch %d", ep);
        daas_engine_free(e);
    }
    static const struct {
        const char *config;
        size_t na, ne;
    } spaces[] = {
        {"{\"space\": \"darts-none\"}", 2 * 14 * 8, 28},
        {"{\"space\": \"nb201\"}", 6 * 5, 6},
        {"{\"space\": {\"ops\": [\"a\", \"b\", \"c\"], \"cells\": [{\"name\": \"x\", \"inputs\": 1, \"nodes\": 2, \"keep\": 1}]}}",
         3 * 3, 3},
    };
    for (size_t i = 0; i < sizeof spaces / sizeof spaces[0]; i++) {
        daas_engine *e = t_create(t, spaces[i].config);
        if (e == NULL) {
            continue;
        }
        size_t na = 0, ne = 0;
        STATUS(t, daas_engine_sizes(e, &na, &ne), DAAS_OK);
        CHECK(t, na == spaces[i].na && ne == spaces[i].ne, "%s: sizes %zu %zu, want %zu %zu", spaces[i].config, na, ne,
              spaces[i].na, spaces[i].ne);
        daas_engine_free(e);
    }

    /* The same config gives the same engine; the canonical config re-creates the same config. */
    daas_engine *a = t_create(t, "{\"seed\": 7, \"epochs\": 20}");
    daas_engine *b = t_create(t, "{\"epochs\": 20, \"seed\": 7}");
    if (a != NULL && b != NULL) {
        daas_bytes sa, sb, ca = {0}, cb = {0};
        if (t_save(t, a, &sa) && t_save(t, b, &sb)) {
            CHECK(t, t_bytes_equal(&sa, &sb), "same config, different states");
        }
        daas_bytes_free(&sa);
        daas_bytes_free(&sb);
        STATUS(t, daas_engine_config(a, &ca), DAAS_OK);
        char *text = t_text(&ca);
        CHECK(t, strstr(text, "\"seed\":7") != NULL && strstr(text, "\"epochs\":20") != NULL, "config json %s", text);
        daas_engine *c = t_create(t, text);
        if (c != NULL) {
            STATUS(t, daas_engine_config(c, &cb), DAAS_OK);
            CHECK(t, t_bytes_equal(&ca, &cb), "config does not round-trip");
            daas_engine_free(c);
        }
        free(text);
        daas_bytes_free(&ca);
        daas_bytes_free(&cb);
    }
    daas_engine_free(a);
    daas_engine_free(b);
}

/* Every pointer parameter, NULL: DAAS_E_INVALID_ARGUMENT naming the parameter, never a crash. */
static void test_null_pointers(t_ctx *t) {
    daas_engine *e = t_create(t, "{}");
    if (e == NULL) {
        return;
    }
    float op[DARTS_N_ALPHA] = {0}, edge[DARTS_N_EDGES] = {0};
    size_t na = 0, ne = 0;
    int32_t ep = 0;
    daas_bytes b = {(uint8_t *)1, 99};
    daas_engine *out = (daas_engine *)(uintptr_t)0x99;

    FAILS(t, daas_engine_create(NULL, &out), DAAS_E_INVALID_ARGUMENT, "config_json is NULL");
    CHECK(t, out == NULL, "a failed create leaves *out = %p", (void *)out);
    FAILS(t, daas_engine_create("{}", NULL), DAAS_E_INVALID_ARGUMENT, "out is NULL");

    daas_bytes state;
    if (t_save(t, e, &state)) {
        out = (daas_engine *)(uintptr_t)0x99;
        FAILS(t, daas_engine_load(NULL, state.len, &out), DAAS_E_INVALID_ARGUMENT, "data is NULL");
        CHECK(t, out == NULL, "a failed load leaves *out = %p", (void *)out);
        FAILS(t, daas_engine_load(state.data, state.len, NULL), DAAS_E_INVALID_ARGUMENT, "out is NULL");
        FAILS(t, daas_engine_load(NULL, 0, &out), DAAS_E_INVALID_ARGUMENT, "data is NULL");
        FAILS(t, daas_engine_load(state.data, SIZE_MAX, &out), DAAS_E_INVALID_ARGUMENT, "len");
        daas_bytes_free(&state);
    }

    FAILS(t, daas_engine_sizes(NULL, &na, &ne), DAAS_E_INVALID_ARGUMENT, "engine is NULL");
    FAILS(t, daas_engine_sizes(e, NULL, &ne), DAAS_E_INVALID_ARGUMENT, "n_alpha_out is NULL");
    FAILS(t, daas_engine_sizes(e, &na, NULL), DAAS_E_INVALID_ARGUMENT, "n_edges_out is NULL");

    FAILS(t, daas_engine_get_alpha(NULL, op, DARTS_N_ALPHA), DAAS_E_INVALID_ARGUMENT, "engine is NULL");
    FAILS(t, daas_engine_get_alpha(e, NULL, DARTS_N_ALPHA), DAAS_E_INVALID_ARGUMENT, "out is NULL");
    FAILS(t, daas_engine_get_beta(NULL, edge, DARTS_N_EDGES), DAAS_E_INVALID_ARGUMENT, "engine is NULL");
    FAILS(t, daas_engine_get_beta(e, NULL, DARTS_N_EDGES), DAAS_E_INVALID_ARGUMENT, "out is NULL");

    FAILS(t, daas_engine_get_weights(NULL, op, DARTS_N_ALPHA, edge, DARTS_N_EDGES), DAAS_E_INVALID_ARGUMENT,
          "engine is NULL");
    FAILS(t, daas_engine_get_weights(e, NULL, DARTS_N_ALPHA, edge, DARTS_N_EDGES), DAAS_E_INVALID_ARGUMENT,
          "op_out is NULL");
    FAILS(t, daas_engine_get_weights(e, op, DARTS_N_ALPHA, NULL, DARTS_N_EDGES), DAAS_E_INVALID_ARGUMENT,
          "edge_out is NULL");

    FAILS(t, daas_engine_set_epoch(NULL, 1), DAAS_E_INVALID_ARGUMENT, "engine is NULL");

    FAILS(t, daas_engine_step(NULL, op, DARTS_N_ALPHA, edge, DARTS_N_EDGES), DAAS_E_INVALID_ARGUMENT, "engine is NULL");
    FAILS(t, daas_engine_step(e, NULL, DARTS_N_ALPHA, edge, DARTS_N_EDGES), DAAS_E_INVALID_ARGUMENT, "grad_op is NULL");
    FAILS(t, daas_engine_step(e, op, DARTS_N_ALPHA, NULL, DARTS_N_EDGES), DAAS_E_INVALID_ARGUMENT,
          "grad_edge is NULL");

    FAILS(t, daas_engine_discretize(NULL, &b), DAAS_E_INVALID_ARGUMENT, "engine is NULL");
    CHECK(t, b.data == NULL && b.len == 0, "a failed call leaves bytes {%p, %zu}", (void *)b.data, b.len);
    FAILS(t, daas_engine_discretize(e, NULL), DAAS_E_INVALID_ARGUMENT, "genotype_json_out is NULL");
    FAILS(t, daas_engine_metrics(NULL, &b), DAAS_E_INVALID_ARGUMENT, "engine is NULL");
    FAILS(t, daas_engine_metrics(e, NULL), DAAS_E_INVALID_ARGUMENT, "json_out is NULL");
    FAILS(t, daas_engine_save(NULL, &b), DAAS_E_INVALID_ARGUMENT, "engine is NULL");
    FAILS(t, daas_engine_save(e, NULL), DAAS_E_INVALID_ARGUMENT, "out is NULL");
    FAILS(t, daas_engine_config(NULL, &b), DAAS_E_INVALID_ARGUMENT, "engine is NULL");
    FAILS(t, daas_engine_config(e, NULL), DAAS_E_INVALID_ARGUMENT, "json_out is NULL");
    FAILS(t, daas_engine_epoch(NULL, &ep), DAAS_E_INVALID_ARGUMENT, "engine is NULL");
    FAILS(t, daas_engine_epoch(e, NULL), DAAS_E_INVALID_ARGUMENT, "epoch_out is NULL");
    b.data = (uint8_t *)1, b.len = 99;
    FAILS(t, daas_engine_discretize_fb(NULL, &b), DAAS_E_INVALID_ARGUMENT, "engine is NULL");
    CHECK(t, b.data == NULL && b.len == 0, "a failed call leaves bytes {%p, %zu}", (void *)b.data, b.len);
    FAILS(t, daas_engine_discretize_fb(e, NULL), DAAS_E_INVALID_ARGUMENT, "out is NULL");
    b.data = (uint8_t *)1, b.len = 99;
    FAILS(t, daas_engine_metrics_fb(NULL, &b), DAAS_E_INVALID_ARGUMENT, "engine is NULL");
    CHECK(t, b.data == NULL && b.len == 0, "a failed call leaves bytes {%p, %zu}", (void *)b.data, b.len);
    FAILS(t, daas_engine_metrics_fb(e, NULL), DAAS_E_INVALID_ARGUMENT, "out is NULL");

    /* The two frees take NULL as a no-op; bytes_free also takes empty and already freed bytes. */
    daas_engine_free(NULL);
    daas_bytes_free(NULL);
    daas_bytes empty = {NULL, 0};
    daas_bytes_free(&empty);
    STATUS(t, daas_engine_metrics(e, &b), DAAS_OK);
    daas_bytes_free(&b);
    CHECK(t, b.data == NULL && b.len == 0, "daas_bytes_free leaves {%p, %zu}", (void *)b.data, b.len);
    daas_bytes_free(&b);

    /* The engine is untouched by all of the above. */
    int32_t epoch = 0;
    STATUS(t, daas_engine_epoch(e, &epoch), DAAS_OK);
    CHECK(t, epoch == 1, "epoch %d", epoch);
    daas_engine_free(e);
}

/* Freed, invented and broken handles. */
static void test_handles(t_ctx *t) {
    daas_engine *e = t_create(t, "{}");
    daas_engine *keep = t_create(t, "{}");
    if (e == NULL || keep == NULL) {
        return;
    }
    CHECK(t, e != keep, "two engines share a handle");
    float op[DARTS_N_ALPHA] = {0}, edge[DARTS_N_EDGES] = {0};
    daas_engine_free(e);
    size_t na, ne;
    FAILS(t, daas_engine_sizes(e, &na, &ne), DAAS_E_INVALID_ARGUMENT, "not a live engine");
    FAILS(t, daas_engine_step(e, op, DARTS_N_ALPHA, edge, DARTS_N_EDGES), DAAS_E_INVALID_ARGUMENT, "not a live engine");
    FAILS(t, daas_engine_set_epoch(e, 2), DAAS_E_INVALID_ARGUMENT, "not a live engine");
    daas_engine_free(e); /* a second free is a no-op */
    daas_engine *invented = (daas_engine *)(uintptr_t)0xdeadbeef;
    FAILS(t, daas_engine_get_weights(invented, op, DARTS_N_ALPHA, edge, DARTS_N_EDGES), DAAS_E_INVALID_ARGUMENT,
          "not a live engine");
    daas_engine_free(invented); /* unknown handles are ignored too */
    /* The other engine is unaffected, and a new engine never reuses a freed handle. */
    STATUS(t, daas_engine_step(keep, op, DARTS_N_ALPHA, edge, DARTS_N_EDGES), DAAS_OK);
    daas_engine *again = t_create(t, "{}");
    CHECK(t, again != e, "a freed handle was reused");
    daas_engine_free(again);
    daas_engine_free(keep);
}

static void test_lengths(t_ctx *t) {
    daas_engine *e = t_create(t, "{}");
    if (e == NULL) {
        return;
    }
    float op[DARTS_N_ALPHA + 1] = {0}, edge[DARTS_N_EDGES + 1] = {0};
    const size_t bad_alpha[] = {0, DARTS_N_ALPHA - 1, DARTS_N_ALPHA + 1, DARTS_N_EDGES, SIZE_MAX};
    const size_t bad_edges[] = {0, DARTS_N_EDGES - 1, DARTS_N_EDGES + 1, DARTS_N_ALPHA, SIZE_MAX};
    for (size_t i = 0; i < sizeof bad_alpha / sizeof bad_alpha[0]; i++) {
        size_t n = bad_alpha[i], m = bad_edges[i];
        FAILS(t, daas_engine_get_alpha(e, op, n), DAAS_E_INVALID_ARGUMENT, "n_alpha");
        FAILS(t, daas_engine_get_beta(e, edge, m), DAAS_E_INVALID_ARGUMENT, "n_edges");
        FAILS(t, daas_engine_get_weights(e, op, n, edge, DARTS_N_EDGES), DAAS_E_INVALID_ARGUMENT, "n_alpha");
        FAILS(t, daas_engine_get_weights(e, op, DARTS_N_ALPHA, edge, m), DAAS_E_INVALID_ARGUMENT, "n_edges");
        FAILS(t, daas_engine_step(e, op, n, edge, DARTS_N_EDGES), DAAS_E_INVALID_ARGUMENT, "n_alpha");
        FAILS(t, daas_engine_step(e, op, DARTS_N_ALPHA, edge, m), DAAS_E_INVALID_ARGUMENT, "n_edges");
    }
    /* The message gives both lengths. */
    FAILS(t, daas_engine_step(e, op, DARTS_N_ALPHA - 1, edge, DARTS_N_EDGES), DAAS_E_INVALID_ARGUMENT,
          "n_alpha is 195, the engine's is 196");
    /* Nothing moved: a refused step counts no step. */
    daas_bytes m = {0};
    STATUS(t, daas_engine_metrics(e, &m), DAAS_OK);
    char *text = t_text(&m);
    CHECK(t, strstr(text, "\"step\":0") != NULL, "metrics after refused calls: %s", text);
    free(text);
    daas_bytes_free(&m);
    daas_engine_free(e);
}

/* NaN and Inf gradients: DAAS_E_NUMERIC naming the index, and the engine exactly as it was. */
static void test_numeric(t_ctx *t) {
    daas_engine *e = t_create(t, "{\"epochs\": 10}");
    if (e == NULL) {
        return;
    }
    float op[DARTS_N_ALPHA], edge[DARTS_N_EDGES];
    uint64_t seed = 1;
    STATUS(t, daas_engine_set_epoch(e, 9), DAAS_OK); /* alpha learns and every loss is on */
    for (int s = 0; s < 5; s++) {
        t_fill(op, DARTS_N_ALPHA, &seed, 0.1f);
        t_fill(edge, DARTS_N_EDGES, &seed, 0.1f);
        STATUS(t, daas_engine_step(e, op, DARTS_N_ALPHA, edge, DARTS_N_EDGES), DAAS_OK);
    }
    daas_bytes before;
    if (!t_save(t, e, &before)) {
        daas_engine_free(e);
        return;
    }
    static const struct {
        int in_op;
        size_t index;
        float value;
        const char *needle;
    } bad[] = {
        {1, 0, NAN, "grad_op[0] is NaN"},
        {1, 195, INFINITY, "grad_op[195] is +Inf"},
        {1, 17, -INFINITY, "grad_op[17] is -Inf"},
        {0, 3, NAN, "grad_edge[3] is NaN"},
        {0, 27, INFINITY, "grad_edge[27] is +Inf"},
        {0, 0, -INFINITY, "grad_edge[0] is -Inf"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        t_fill(op, DARTS_N_ALPHA, &seed, 0.1f);
        t_fill(edge, DARTS_N_EDGES, &seed, 0.1f);
        if (bad[i].in_op) {
            op[bad[i].index] = bad[i].value;
        } else {
            edge[bad[i].index] = bad[i].value;
        }
        FAILS(t, daas_engine_step(e, op, DARTS_N_ALPHA, edge, DARTS_N_EDGES), DAAS_E_NUMERIC, bad[i].needle);
        daas_bytes after;
        if (t_save(t, e, &after)) {
            CHECK(t, t_bytes_equal(&before, &after), "case %zu: a refused step changed the state", i);
            daas_bytes_free(&after);
        }
    }
    /* Huge but finite gradients are accepted (the engine computes in float64). */
    for (size_t i = 0; i < DARTS_N_ALPHA; i++) {
        op[i] = (i % 2) ? FLT_MAX : -FLT_MAX;
    }
    for (size_t i = 0; i < DARTS_N_EDGES; i++) {
        edge[i] = FLT_MAX;
    }
    STATUS(t, daas_engine_step(e, op, DARTS_N_ALPHA, edge, DARTS_N_EDGES), DAAS_OK);
    float alpha[DARTS_N_ALPHA];
    STATUS(t, daas_engine_get_alpha(e, alpha, DARTS_N_ALPHA), DAAS_OK);
    for (size_t i = 0; i < DARTS_N_ALPHA; i++) {
        CHECK(t, isfinite(alpha[i]), "alpha[%zu] = %g after a huge step", i, (double)alpha[i]);
    }
    daas_bytes_free(&before);
    daas_engine_free(e);
}

static void test_epochs(t_ctx *t) {
    daas_engine *e = t_create(t, "{\"epochs\": 12}");
    if (e == NULL) {
        return;
    }
    FAILS(t, daas_engine_set_epoch(e, 0), DAAS_E_INVALID_ARGUMENT, "epoch: 0 is out of range 1..12");
    FAILS(t, daas_engine_set_epoch(e, -1), DAAS_E_INVALID_ARGUMENT, "epoch: -1 is out of range 1..12");
    FAILS(t, daas_engine_set_epoch(e, 13), DAAS_E_INVALID_ARGUMENT, "epoch: 13 is out of range 1..12");
    FAILS(t, daas_engine_set_epoch(e, INT32_MAX), DAAS_E_INVALID_ARGUMENT, "epoch");
    FAILS(t, daas_engine_set_epoch(e, INT32_MIN), DAAS_E_INVALID_ARGUMENT, "epoch");
    int32_t ep = 0;
    STATUS(t, daas_engine_epoch(e, &ep), DAAS_OK);
    CHECK(t, ep == 1, "refused set_epoch moved the engine to %d", ep);
    for (int32_t k = 1; k <= 12; k++) {
        STATUS(t, daas_engine_set_epoch(e, k), DAAS_OK);
        STATUS(t, daas_engine_epoch(e, &ep), DAAS_OK);
        CHECK(t, ep == k, "epoch %d, want %d", ep, k);
    }
    STATUS(t, daas_engine_set_epoch(e, 12), DAAS_OK); /* the current epoch again: nothing happens */
    daas_bytes m = {0};
    STATUS(t, daas_engine_metrics(e, &m), DAAS_OK);
    char *text = t_text(&m);
    static const char *keys[] = {"\"epoch\":12",   "\"step\":",        "\"lambda_c\":",          "\"lambda_alpha\":",
                                 "\"lambda_beta\":", "\"op_entropy\":", "\"edge_entropy\":",     "\"edge_count_penalty\":",
                                 "\"discreteness\":"};
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++) {
        CHECK(t, strstr(text, keys[i]) != NULL, "metrics lack %s: %s", keys[i], text);
    }
    free(text);
    daas_bytes_free(&m);
    daas_engine_free(e);
}

static void test_configs(t_ctx *t) {
    static const struct {
        const char *config;
        const char *needle;
    } bad[] = {
        {"{", "malformed JSON"},
        {"nonsense", "malformed JSON"},
        {"[]", "want"},
        {"{\"epochs\": 50} {}", "malformed JSON"},
        {"{\"epoch\": 50}", "unknown key \"epoch\""},
        {"{\"devices\": \"cpu\"}", "unknown key \"devices\""},
        {"{\"device\": \"tpu\"}", "device: unknown device \"tpu\""},
        {"{\"device\": 1}", "device"},
        {"{\"optimizer\": {\"alpha\": {\"lrr\": 0.1}}}", "unknown key \"lrr\" in optimizer.alpha"},
        {"{\"loss\": {\"lambda_c\": {\"scale\": 1, \"bogus\": 2}}}", "bogus"},
        {"{\"epochs\": 0}", "epochs"},
        {"{\"epochs\": -5}", "epochs"},
        {"{\"epochs\": \"ten\"}", "epochs"},
        {"{\"epochs\": 2.5}", "epochs"},
        {"{\"method\": \"enas\"}", "method"},
        {"{\"gradient\": \"slow\"}", "gradient"},
        {"{\"space\": \"resnet\"}", "space"},
        {"{\"space\": 3}", "space"},
        {"{\"seed\": -1}", "seed"},
        {"{\"optimizer\": {\"alpha\": {\"lr\": -0.1}}}", "optimizer.alpha.lr"},
        {"{\"optimizer\": {\"beta\": {\"betas\": [0.5, 1.0]}}}", "optimizer.beta.betas[1]"},
        {"{\"optimizer\": {\"alpha\": {\"eps\": 0}}}", "optimizer.alpha.eps"},
        {"{\"optimizer\": {\"alpha_start_epoch\": 0}}", "optimizer.alpha_start_epoch"},
        {"{\"loss\": {\"w_sum\": -1}}", "loss.w_sum"},
        {"{\"space\": {\"ops\": [\"a\"], \"cells\": [{\"name\": \"c\", \"inputs\": 2, \"nodes\": 2, \"keep\": [3, 1]}]}}",
         "keep"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        daas_engine *e = (daas_engine *)(uintptr_t)0x99;
        FAILS(t, daas_engine_create(bad[i].config, &e), DAAS_E_INVALID_CONFIG, bad[i].needle);
        CHECK(t, e == NULL, "config %s: a failed create leaves *out = %p", bad[i].config, (void *)e);
    }
}

/* A message longer than the buffer is cut to 1023 bytes at a UTF-8 character boundary. */
static void test_long_message(t_ctx *t) {
    size_t n = 700; /* 700 two-byte characters in an unknown key: the message is over 1400 bytes */
    char *config = malloc(2 * n + 16);
    char *p = config;
    p += sprintf(p, "{\"x"); /* puts byte 1023 inside a character */
    for (size_t i = 0; i < n; i++) {
        *p++ = (char)0xC3; /* U+00E9 */
        *p++ = (char)0xA9;
    }
    sprintf(p, "\": 1}");
    FAILS(t, daas_engine_create(config, &(daas_engine *){NULL}), DAAS_E_INVALID_CONFIG, "unknown key");
    const char *msg = daas_last_error_message();
    size_t len = strlen(msg);
    CHECK(t, len == 1022, "message of %zu bytes, want 1022 (1023 would split a character)", len);
    /* ends on a whole character: the last byte is ASCII or the second byte of U+00E9 */
    CHECK(t, len > 0 && ((unsigned char)msg[len - 1] < 0x80 || ((unsigned char)msg[len - 1] == 0xA9 &&
                                                                 (unsigned char)msg[len - 2] == 0xC3)),
          "message cut inside a character: last bytes %02x %02x", (unsigned char)msg[len - 2],
          (unsigned char)msg[len - 1]);
    free(config);
}

/* Every export recovers a panic inside the library into DAAS_E_INTERNAL. */
static void test_internal(t_ctx *t) {
    daas_engine *broken = (daas_engine *)(uintptr_t)abitest_broken_handle;
    CHECK(t, broken != NULL, "the Go side did not set up a broken handle");
    if (broken == NULL) {
        return;
    }
    float op[DARTS_N_ALPHA] = {0}, edge[DARTS_N_EDGES] = {0};
    size_t na, ne;
    int32_t ep;
    daas_bytes b = {0};
    FAILS(t, daas_engine_sizes(broken, &na, &ne), DAAS_E_INTERNAL, "internal error");
    FAILS(t, daas_engine_get_alpha(broken, op, DARTS_N_ALPHA), DAAS_E_INTERNAL, "internal error");
    FAILS(t, daas_engine_get_beta(broken, edge, DARTS_N_EDGES), DAAS_E_INTERNAL, "internal error");
    FAILS(t, daas_engine_get_weights(broken, op, DARTS_N_ALPHA, edge, DARTS_N_EDGES), DAAS_E_INTERNAL,
          "internal error");
    FAILS(t, daas_engine_set_epoch(broken, 1), DAAS_E_INTERNAL, "internal error");
    FAILS(t, daas_engine_step(broken, op, DARTS_N_ALPHA, edge, DARTS_N_EDGES), DAAS_E_INTERNAL, "internal error");
    FAILS(t, daas_engine_discretize(broken, &b), DAAS_E_INTERNAL, "internal error");
    FAILS(t, daas_engine_metrics(broken, &b), DAAS_E_INTERNAL, "internal error");
    FAILS(t, daas_engine_discretize_fb(broken, &b), DAAS_E_INTERNAL, "internal error");
    FAILS(t, daas_engine_metrics_fb(broken, &b), DAAS_E_INTERNAL, "internal error");
    FAILS(t, daas_engine_save(broken, &b), DAAS_E_INTERNAL, "internal error");
    FAILS(t, daas_engine_config(broken, &b), DAAS_E_INTERNAL, "internal error");
    FAILS(t, daas_engine_epoch(broken, &ep), DAAS_E_INTERNAL, "internal error");
    FAILS(t, daas_engine_save_file(broken, "/nonexistent/daas-internal.daas"), DAAS_E_INTERNAL, "internal error");
    CHECK(t, b.data == NULL && b.len == 0, "a failed call left bytes {%p, %zu}", (void *)b.data, b.len);
    /* The library is still fine afterwards. */
    daas_engine *e = t_create(t, "{}");
    STATUS(t, daas_engine_step(e, op, DARTS_N_ALPHA, edge, DARTS_N_EDGES), DAAS_OK);
    daas_engine_free(e);
    daas_engine_free(broken);
}

/* Weights and discretization: op weights sum to 1 per edge, edge weights to n_j per learnable node. */
static void test_weights_and_genotype(t_ctx *t) {
    daas_engine *e = t_create(t, "{}");
    if (e == NULL) {
        return;
    }
    float op[DARTS_N_ALPHA], edge[DARTS_N_EDGES], beta[DARTS_N_EDGES];
    STATUS(t, daas_engine_get_weights(e, op, DARTS_N_ALPHA, edge, DARTS_N_EDGES), DAAS_OK);
    for (size_t k = 0; k < DARTS_N_EDGES; k++) {
        double s = 0;
        for (size_t o = 0; o < 7; o++) {
            s += op[k * 7 + o];
        }
        CHECK(t, fabs(s - 1) < 1e-5, "edge %zu: op weights sum to %g", k, s);
    }
    /* Node j of a darts cell has 2 + j edges, all learnable (keep 2 < n_j): weights sum to n_j. */
    for (size_t c = 0, k = 0; c < 2; c++) {
        for (size_t j = 0; j < 4; j++) {
            double s = 0;
            for (size_t i = 0; i < 2 + j; i++, k++) {
                s += edge[k];
            }
            CHECK(t, fabs(s - (double)(2 + j)) < 1e-4, "cell %zu node %zu: edge weights sum to %g", c, j, s);
        }
    }
    STATUS(t, daas_engine_get_beta(e, beta, DARTS_N_EDGES), DAAS_OK);
    CHECK(t, fabs(beta[0] - 1.0) < 1e-3, "beta[0] = %g, want about k/n = 1", (double)beta[0]);
    CHECK(t, fabs(beta[2] - 2.0 / 3.0) < 1e-3, "beta[2] = %g, want about 2/3", (double)beta[2]);
    daas_bytes g = {0};
    STATUS(t, daas_engine_discretize(e, &g), DAAS_OK);
    char *text = t_text(&g);
    CHECK(t, strstr(text, "\"method\":\"daas\"") != NULL && strstr(text, "Genotype(normal=[") != NULL &&
                 strstr(text, "\"name\":\"reduce\"") != NULL,
          "genotype %s", text);
    free(text);
    daas_bytes_free(&g);
    /* The typed results: FlatBuffers with their file identifiers (their contents: results_test.go). */
    daas_bytes gf = {0}, mf = {0};
    STATUS(t, daas_engine_discretize_fb(e, &gf), DAAS_OK);
    CHECK(t, gf.len >= 12 && memcmp(gf.data + 4, "DGEN", 4) == 0, "genotype buffer of %zu bytes", gf.len);
    STATUS(t, daas_engine_metrics_fb(e, &mf), DAAS_OK);
    CHECK(t, mf.len >= 12 && memcmp(mf.data + 4, "DMET", 4) == 0, "metrics buffer of %zu bytes", mf.len);
    CHECK(t, (((uintptr_t)gf.data | (uintptr_t)mf.data) & 7) == 0, "buffers at %p and %p are not 8-byte aligned",
          (void *)gf.data, (void *)mf.data);
    daas_bytes_free(&gf);
    daas_bytes_free(&mf);
    daas_engine_free(e);
}

void test_save_load(t_ctx *t);        /* state.c */
void test_corrupt_states(t_ctx *t);   /* state.c */
void test_future_version(t_ctx *t);   /* state.c */
void test_files(t_ctx *t);            /* files.c */
void test_file_failures(t_ctx *t);    /* files.c */
void test_device(t_ctx *t);           /* files.c */
void test_device_functions_absent(t_ctx *t); /* device.c */
void test_threads(t_ctx *t);          /* threads.c */
void test_shared_engine(t_ctx *t);    /* threads.c */

const t_case abitest_cases[] = {
    {"Versions", test_versions},
    {"CreateAndSizes", test_create_and_sizes},
    {"NullPointers", test_null_pointers},
    {"Handles", test_handles},
    {"Lengths", test_lengths},
    {"Numeric", test_numeric},
    {"Epochs", test_epochs},
    {"Configs", test_configs},
    {"Internal", test_internal},
    {"LongMessage", test_long_message},
    {"WeightsAndGenotype", test_weights_and_genotype},
    {"SaveLoadContinuation", test_save_load},
    {"CorruptStates", test_corrupt_states},
    {"FutureVersion", test_future_version},
    {"Files", test_files},
    {"FileFailures", test_file_failures},
    {"Device", test_device},
    {"DeviceFunctionsAbsent", test_device_functions_absent},
    {"Threads", test_threads},
    {"SharedEngine", test_shared_engine},
};
const int abitest_ncases = sizeof abitest_cases / sizeof abitest_cases[0];

static struct {
    daas_engine *engine;
    float op[DARTS_N_ALPHA], edge[DARTS_N_EDGES];
} bench;

daas_status abitest_bench_open(void) {
    uint64_t seed = 42; /* the gradients of BenchmarkStepGo */
    t_fill(bench.op, DARTS_N_ALPHA, &seed, 0.01f);
    t_fill(bench.edge, DARTS_N_EDGES, &seed, 0.01f);
    daas_status st = daas_engine_create("{}", &bench.engine);
    return st == DAAS_OK ? daas_engine_set_epoch(bench.engine, 10) : st;
}

daas_status abitest_bench_run(long n) {
    daas_status st = DAAS_OK;
    for (long i = 0; i < n && st == DAAS_OK; i++) {
        st = daas_engine_step(bench.engine, bench.op, DARTS_N_ALPHA, bench.edge, DARTS_N_EDGES);
    }
    return st;
}

void abitest_bench_close(void) {
    daas_engine_free(bench.engine);
    bench.engine = NULL;
}

daas_status abitest_bench_step(long n) {
    daas_status st = abitest_bench_open();
    if (st == DAAS_OK) {
        st = abitest_bench_run(n);
    }
    abitest_bench_close();
    return st;
}
