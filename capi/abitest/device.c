/* device.c - the device functions through the C ABI. In the main test binary (no device) they are
 * DAAS_E_DEVICE; abitest_device_cases run in a child process where the device engine is package
 * device's host emulation (TestDeviceABI), which reads "device pointers" as host addresses. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"

#define N_ALPHA 196
#define N_EDGES 28
#define PTR(x) ((uint64_t)(uintptr_t)(x))

void test_device_functions_absent(t_ctx *t);

void test_device_functions_absent(t_ctx *t) {
    float op[N_ALPHA] = {0}, edge[N_EDGES] = {0};
    daas_engine *e = t_create(t, "{}");
    FAILS(t, daas_engine_step_device(e, PTR(op), N_ALPHA, PTR(edge), N_EDGES, NULL), DAAS_E_DEVICE, "without the GPU path");
    FAILS(t, daas_engine_get_weights_device(e, PTR(op), N_ALPHA, PTR(edge), N_EDGES, NULL), DAAS_E_DEVICE, "libdaas-cuda.so");
    FAILS(t, daas_engine_sync(e), DAAS_E_DEVICE, "on the CPU");
    FAILS(t, daas_engine_sync(NULL), DAAS_E_INVALID_ARGUMENT, "engine");
    daas_engine_free(e);
}

/* Both engines see the same gradients; the device one through the device functions. */
static void device_and_host_agree(t_ctx *t) {
    const char *space = "\"space\": \"darts\", \"epochs\": 6, \"seed\": 21, \"optimizer\": {\"alpha_start_epoch\": 3}, "
                        "\"control\": {\"edge_target\": 0.9, \"mass_target\": 0.9}";
    char cfg[512];
    snprintf(cfg, sizeof cfg, "{\"device\": \"cuda\", %s}", space);
    daas_engine *d = t_create(t, cfg);
    snprintf(cfg, sizeof cfg, "{\"device\": \"cpu\", %s}", space);
    daas_engine *h = t_create(t, cfg);
    if (d == NULL || h == NULL) {
        daas_engine_free(d);
        daas_engine_free(h);
        return;
    }
    daas_bytes c = {0};
    if (STATUS(t, daas_engine_config(d, &c), DAAS_OK)) {
        char *text = t_text(&c);
        CHECK(t, strstr(text, "\"device\":\"cuda\"") != NULL, "device engine's config: %s", text);
        free(text);
    }
    daas_bytes_free(&c);
    uint64_t seed = 5;
    float op[N_ALPHA], edge[N_EDGES], wo[N_ALPHA], we[N_EDGES], ho[N_ALPHA], he[N_EDGES];
    int mismatch = 0;
    for (int epoch = 1; epoch <= 6; epoch++) {
        STATUS(t, daas_engine_set_epoch(d, epoch), DAAS_OK);
        STATUS(t, daas_engine_set_epoch(h, epoch), DAAS_OK);
        for (int s = 0; s < 30; s++) {
            STATUS(t, daas_engine_get_weights_device(d, PTR(wo), N_ALPHA, PTR(we), N_EDGES, NULL), DAAS_OK);
            STATUS(t, daas_engine_get_weights(h, ho, N_ALPHA, he, N_EDGES), DAAS_OK);
            mismatch += memcmp(wo, ho, sizeof wo) != 0 || memcmp(we, he, sizeof we) != 0;
            t_fill(op, N_ALPHA, &seed, 0.2f);
            t_fill(edge, N_EDGES, &seed, 0.2f);
            STATUS(t, daas_engine_step_device(d, PTR(op), N_ALPHA, PTR(edge), N_EDGES, NULL), DAAS_OK);
            STATUS(t, daas_engine_step(h, op, N_ALPHA, edge, N_EDGES), DAAS_OK);
        }
    }
    CHECK(t, mismatch == 0, "%d of 180 weights calls differ between the device and the host engine", mismatch);
    STATUS(t, daas_engine_sync(d), DAAS_OK);
    daas_bytes a = {0}, b = {0};
    if (STATUS(t, daas_engine_metrics(d, &a), DAAS_OK) && STATUS(t, daas_engine_metrics(h, &b), DAAS_OK)) {
        CHECK(t, t_bytes_equal(&a, &b), "metrics differ between the device and the host engine");
    }
    daas_bytes_free(&a);
    daas_bytes_free(&b);
    STATUS(t, daas_engine_get_alpha(d, wo, N_ALPHA), DAAS_OK);
    STATUS(t, daas_engine_get_alpha(h, ho, N_ALPHA), DAAS_OK);
    CHECK(t, memcmp(wo, ho, sizeof wo) == 0, "alpha differs after 180 steps");

    /* A state saved on the device loads on the device and continues as the original does. */
    daas_bytes st = {0};
    daas_engine *l = NULL;
    if (t_save(t, d, &st) && STATUS(t, daas_engine_load(st.data, st.len, &l), DAAS_OK)) {
        t_fill(op, N_ALPHA, &seed, 0.2f);
        t_fill(edge, N_EDGES, &seed, 0.2f);
        STATUS(t, daas_engine_step_device(l, PTR(op), N_ALPHA, PTR(edge), N_EDGES, NULL), DAAS_OK);
        STATUS(t, daas_engine_step(d, op, N_ALPHA, edge, N_EDGES), DAAS_OK); /* host buffers on a device engine */
        daas_bytes s1 = {0}, s2 = {0};
        if (t_save(t, l, &s1) && t_save(t, d, &s2)) {
            CHECK(t, t_bytes_equal(&s1, &s2), "a loaded device engine and the original diverge");
        }
        daas_bytes_free(&s1);
        daas_bytes_free(&s2);
    }
    daas_bytes_free(&st);
    daas_engine_free(l);
    daas_engine_free(d);
    daas_engine_free(h);
}

static void device_refusal(t_ctx *t) {
    daas_engine *d = t_create(t, "{\"device\": \"cuda\", \"seed\": 2}");
    if (d == NULL) {
        return;
    }
    uint64_t seed = 9;
    float op[N_ALPHA], edge[N_EDGES], before[N_ALPHA], after[N_ALPHA];
    t_fill(op, N_ALPHA, &seed, 0.1f);
    t_fill(edge, N_EDGES, &seed, 0.1f);
    STATUS(t, daas_engine_step_device(d, PTR(op), N_ALPHA, PTR(edge), N_EDGES, NULL), DAAS_OK);
    STATUS(t, daas_engine_get_alpha(d, before, N_ALPHA), DAAS_OK);
    op[100] = NAN;
    STATUS(t, daas_engine_step_device(d, PTR(op), N_ALPHA, PTR(edge), N_EDGES, NULL), DAAS_OK); /* enqueued */
    FAILS(t, daas_engine_sync(d), DAAS_E_NUMERIC, "step call 2 (it would have been step 2): grad_op[100] was NaN or Inf");
    STATUS(t, daas_engine_sync(d), DAAS_OK);
    STATUS(t, daas_engine_get_alpha(d, after, N_ALPHA), DAAS_OK);
    CHECK(t, memcmp(before, after, sizeof before) == 0, "a refused step changed alpha");
    edge[3] = INFINITY;
    op[100] = 0;
    STATUS(t, daas_engine_step_device(d, PTR(op), N_ALPHA, PTR(edge), N_EDGES, NULL), DAAS_OK);
    daas_bytes m = {0};
    FAILS(t, daas_engine_metrics(d, &m), DAAS_E_NUMERIC, "grad_edge[3]"); /* any synchronizing call reports it */
    daas_bytes_free(&m);
    FAILS(t, daas_engine_step_device(d, 0, N_ALPHA, PTR(edge), N_EDGES, NULL), DAAS_E_INVALID_ARGUMENT, "device pointers");
    FAILS(t, daas_engine_step_device(d, PTR(op), N_ALPHA - 1, PTR(edge), N_EDGES, NULL), DAAS_E_INVALID_ARGUMENT, "n_alpha");
    FAILS(t, daas_engine_get_weights_device(d, PTR(op), N_ALPHA, PTR(edge), N_EDGES + 1, NULL), DAAS_E_INVALID_ARGUMENT, "n_edges");
    daas_engine_free(d);
    daas_engine *c = NULL;
    FAILS(t, daas_engine_create("{\"device\": \"cuda\", \"gradient\": \"graph\"}", &c), DAAS_E_INVALID_CONFIG, "fast path");
    FAILS(t, daas_engine_create("{\"device\": \"cuda:x\"}", &c), DAAS_E_INVALID_CONFIG, "ordinal");
    c = t_create(t, "{\"device\": \"cuda:0\"}");
    daas_engine_free(c);
}

const t_case abitest_device_cases[] = {
    {"DeviceAndHostAgree", device_and_host_agree},
    {"DeviceRefusal", device_refusal},
};
const int abitest_device_ncases = sizeof abitest_device_cases / sizeof abitest_device_cases[0];
