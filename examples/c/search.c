/* search.c - a complete DAAS search driven from C through libdaas.
 *
 * A real training loop would run a supernet forward with the mixing weights the engine hands out and
 * pass back the gradients of its loss. This example has no supernet: it makes up gradients that
 * favour one operation (sep_conv_3x3) on every edge, plus noise, and shows the engine converging to
 * it. It then saves the state to a file (daas_engine_save_file), loads it back
 * (daas_engine_load_file), runs the same further steps on both engines and checks that they end in
 * byte-identical states.
 *
 * Build:  cc -std=c99 -Iinclude examples/c/search.c -Lbuild -ldaas -Wl,-rpath,$PWD/build -o search
 *    or:  cc -std=c99 examples/c/search.c $(pkg-config --cflags --libs daas) -o search
 * Run:    ./search [state-file]          (default daas_state.bin; exit status 0 on success)
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "daas.h"

/* Print the failed call, its status and the library's message, and leave. */
#define TRY(call)                                                                                  \
    do {                                                                                           \
        daas_status st_ = (call);                                                                  \
        if (st_ != DAAS_OK) {                                                                      \
            fprintf(stderr, "%s:%d: %s: %s: %s\n", __FILE__, __LINE__, #call,                      \
                    daas_status_string(st_), daas_last_error_message());                           \
            exit(1);                                                                               \
        }                                                                                          \
    } while (0)

#define EPOCHS 12
#define STEPS_PER_EPOCH 40
#define FAVOURED_OP 3 /* sep_conv_3x3 in the darts preset */
#define N_OPS 7

static const char *CONFIG = "{\"space\": \"darts\", \"epochs\": 12, \"seed\": 1,"
                            " \"optimizer\": {\"alpha_start_epoch\": 3,"
                            "   \"alpha\": {\"lr\": 0.05}, \"beta\": {\"lr\": 0.05}},"
                            " \"loss\": {\"lambda_alpha\": {\"type\": \"log\", \"scale\": 1, \"delay\": 3}}}";

static uint64_t rng = 7;

static float noise(void) {
    rng = rng * 6364136223846793005ULL + 1442695040888963407ULL;
    return (float)(rng >> 40) / (float)(1 << 24) - 0.5f;
}

/* One training step: "forward" with the weights, make up dL/dweights, hand them back. */
static void train_step(daas_engine *e, float *w_op, float *w_edge, float *g_op, float *g_edge, size_t n_alpha,
                       size_t n_edges) {
    TRY(daas_engine_get_weights(e, w_op, n_alpha, w_edge, n_edges));
    for (size_t i = 0; i < n_alpha; i++) {
        g_op[i] = 0.02f * noise() + (i % N_OPS == FAVOURED_OP ? -0.05f : 0.01f);
    }
    for (size_t i = 0; i < n_edges; i++) {
        g_edge[i] = 0.02f * noise() + (i % 2 == 0 ? -0.02f : 0.0f); /* favour even edges a little */
    }
    TRY(daas_engine_step(e, g_op, n_alpha, g_edge, n_edges));
}

static void print_bytes(const char *label, const daas_bytes *b) {
    printf("%s: %.*s\n", label, (int)b->len, (const char *)b->data);
}

int main(int argc, char **argv) {
    const char *path = argc > 1 ? argv[1] : "daas_state.bin";
    if (daas_abi_version() != DAAS_ABI_VERSION) {
        fprintf(stderr, "libdaas ABI %u, this program was built for %d\n", daas_abi_version(), DAAS_ABI_VERSION);
        return 1;
    }
    printf("libdaas %s (ABI %u)\n", daas_version_string(), daas_abi_version());

    daas_engine *engine = NULL;
    TRY(daas_engine_create(CONFIG, &engine));
    size_t n_alpha = 0, n_edges = 0;
    TRY(daas_engine_sizes(engine, &n_alpha, &n_edges));
    printf("darts space: n_alpha = %zu, n_edges = %zu\n", n_alpha, n_edges);
    float *w_op = malloc(n_alpha * sizeof(float)), *g_op = malloc(n_alpha * sizeof(float));
    float *w_edge = malloc(n_edges * sizeof(float)), *g_edge = malloc(n_edges * sizeof(float));
    if (!w_op || !g_op || !w_edge || !g_edge) {
        fprintf(stderr, "out of memory\n");
        return 1;
    }

    /* The first part of the search: epochs 1..8. */
    daas_bytes metrics = {NULL, 0}, genotype = {NULL, 0}, state = {NULL, 0};
    for (int32_t epoch = 1; epoch <= 8; epoch++) {
        TRY(daas_engine_set_epoch(engine, epoch));
        for (int s = 0; s < STEPS_PER_EPOCH; s++) {
            train_step(engine, w_op, w_edge, g_op, g_edge, n_alpha, n_edges);
        }
        TRY(daas_engine_metrics(engine, &metrics));
        printf("epoch %2d ", (int)epoch);
        print_bytes("metrics", &metrics);
        daas_bytes_free(&metrics);
    }
    TRY(daas_engine_discretize(engine, &genotype));
    print_bytes("genotype after epoch 8", &genotype);
    daas_bytes_free(&genotype);

    /* Checkpoint to a file (written atomically: a crash leaves the previous checkpoint or this one,
     * never a torn file) and load it back, as a resumed run would. */
    TRY(daas_engine_save_file(engine, path));
    TRY(daas_engine_save(engine, &state));
    printf("saved %zu bytes to %s\n", state.len, path);
    daas_bytes_free(&state);
    daas_engine *restored = NULL;
    TRY(daas_engine_load_file(path, &restored));

    /* Continue both engines with the same gradients: the states must stay byte-identical. */
    uint64_t rng_at_checkpoint = rng;
    for (int32_t epoch = 9; epoch <= EPOCHS; epoch++) {
        TRY(daas_engine_set_epoch(engine, epoch));
        for (int s = 0; s < STEPS_PER_EPOCH; s++) {
            train_step(engine, w_op, w_edge, g_op, g_edge, n_alpha, n_edges);
        }
    }
    rng = rng_at_checkpoint;
    for (int32_t epoch = 9; epoch <= EPOCHS; epoch++) {
        TRY(daas_engine_set_epoch(restored, epoch));
        for (int s = 0; s < STEPS_PER_EPOCH; s++) {
            train_step(restored, w_op, w_edge, g_op, g_edge, n_alpha, n_edges);
        }
    }
    daas_bytes a = {NULL, 0}, b = {NULL, 0};
    TRY(daas_engine_save(engine, &a));
    TRY(daas_engine_save(restored, &b));
    int same = a.len == b.len && memcmp(a.data, b.data, a.len) == 0;
    printf("continuation after load: %s (%zu bytes)\n", same ? "identical" : "DIFFERENT", a.len);
    daas_bytes_free(&a);
    daas_bytes_free(&b);

    TRY(daas_engine_metrics(restored, &metrics));
    print_bytes("final metrics", &metrics);
    TRY(daas_engine_discretize(restored, &genotype));
    print_bytes("final genotype", &genotype);
    /* The made-up gradients favour sep_conv_3x3 everywhere: the kept choices (everything from "cells"
     * on; the space's op list comes before it) must name no other op. */
    static const char *others[] = {"max_pool", "avg_pool", "skip_connect", "sep_conv_5x5", "dil_conv"};
    static const char cells_key[] = "\"cells\"";
    size_t from = 0;
    while (from + sizeof cells_key - 1 <= genotype.len && memcmp(genotype.data + from, cells_key, sizeof cells_key - 1) != 0) {
        from++;
    }
    int converged = from < genotype.len;
    for (size_t i = 0; i < sizeof others / sizeof others[0]; i++) {
        for (size_t at = from; at + strlen(others[i]) <= genotype.len; at++) {
            if (memcmp(genotype.data + at, others[i], strlen(others[i])) == 0) {
                converged = 0;
            }
        }
    }
    printf("every kept edge chose sep_conv_3x3: %s\n", converged ? "yes" : "NO");
    daas_bytes_free(&metrics);
    daas_bytes_free(&genotype);

    daas_engine_free(engine);
    daas_engine_free(restored);
    free(w_op);
    free(g_op);
    free(w_edge);
    free(g_edge);
    if (!same) {
        fprintf(stderr, "the loaded engine did not continue identically\n");
        return 1;
    }
    return converged ? 0 : 1;
}
