/* state.c - C-side tests of saving and loading: round trips, continuation, hostile state bytes. */
#include <stdlib.h>
#include <string.h>

#include "harness.h"

#define N_ALPHA 196
#define N_EDGES 28

void test_save_load(t_ctx *t);
void test_corrupt_states(t_ctx *t);
void test_future_version(t_ctx *t);

/* run drives e through epochs first..last with steps_per_epoch synthetic steps each. */
static void run(t_ctx *t, daas_engine *e, int first, int last, int steps_per_epoch, uint64_t *seed) {
    float op[N_ALPHA], edge[N_EDGES], w_op[N_ALPHA], w_edge[N_EDGES];
    for (int ep = first; ep <= last; ep++) {
        STATUS(t, daas_engine_set_epoch(e, ep), DAAS_OK);
        for (int s = 0; s < steps_per_epoch; s++) {
            STATUS(t, daas_engine_get_weights(e, w_op, N_ALPHA, w_edge, N_EDGES), DAAS_OK);
            t_fill(op, N_ALPHA, seed, 0.05f);
            t_fill(edge, N_EDGES, seed, 0.05f);
            STATUS(t, daas_engine_step(e, op, N_ALPHA, edge, N_EDGES), DAAS_OK);
        }
    }
}

void test_save_load(t_ctx *t) {
    const char *cfg = "{\"epochs\": 12, \"seed\": 3}";
    daas_engine *a = t_create(t, cfg);
    if (a == NULL) {
        return;
    }
    uint64_t seed = 11;
    run(t, a, 1, 9, 6, &seed);
    daas_bytes s1, s2, s3, ra, rb;
    if (!t_save(t, a, &s1)) {
        daas_engine_free(a);
        return;
    }
    CHECK(t, s1.len >= 8 && memcmp(s1.data + 4, "DAAS", 4) == 0, "no DAAS file identifier");
    daas_engine *b = NULL;
    STATUS(t, daas_engine_load(s1.data, s1.len, &b), DAAS_OK);
    if (b != NULL) {
        /* save(load(x)) == x, and saving twice gives the same bytes */
        if (t_save(t, b, &s2)) {
            CHECK(t, t_bytes_equal(&s1, &s2), "load then save changed the bytes");
            daas_bytes_free(&s2);
        }
        if (t_save(t, a, &s3)) {
            CHECK(t, t_bytes_equal(&s1, &s3), "two saves differ");
            daas_bytes_free(&s3);
        }
        /* The same further steps give the same bytes: the continuation is bit-identical. */
        uint64_t sa = 99, sb = 99;
        run(t, a, 10, 12, 5, &sa);
        run(t, b, 10, 12, 5, &sb);
        if (t_save(t, a, &ra) && t_save(t, b, &rb)) {
            CHECK(t, t_bytes_equal(&ra, &rb), "the loaded engine's continuation differs");
            CHECK(t, !t_bytes_equal(&ra, &s1), "the continuation changed nothing");
        }
        daas_bytes_free(&ra);
        daas_bytes_free(&rb);
        float xa[N_ALPHA], xb[N_ALPHA];
        STATUS(t, daas_engine_get_alpha(a, xa, N_ALPHA), DAAS_OK);
        STATUS(t, daas_engine_get_alpha(b, xb, N_ALPHA), DAAS_OK);
        CHECK(t, memcmp(xa, xb, sizeof xa) == 0, "alpha differs after the same steps");
        int32_t ep = 0;
        STATUS(t, daas_engine_epoch(b, &ep), DAAS_OK);
        CHECK(t, ep == 12, "epoch %d", ep);
        daas_engine_free(b);
    }
    /* load keeps no reference to the caller's buffer: scribble over it, the engine still saves. */
    daas_engine *c = NULL;
    uint8_t *copy = malloc(s1.len);
    memcpy(copy, s1.data, s1.len);
    STATUS(t, daas_engine_load(copy, s1.len, &c), DAAS_OK);
    memset(copy, 0xA5, s1.len);
    free(copy);
    if (c != NULL && t_save(t, c, &s2)) {
        CHECK(t, t_bytes_equal(&s1, &s2), "the loaded engine depends on the caller's buffer");
        daas_bytes_free(&s2);
    }
    daas_engine_free(c);
    daas_bytes_free(&s1);
    daas_engine_free(a);
}

static daas_status try_load(t_ctx *t, const uint8_t *p, size_t n) {
    daas_engine *e = (daas_engine *)(uintptr_t)0x99;
    daas_status st = daas_engine_load(p, n, &e);
    t_note_status(st);
    if (st == DAAS_OK) {
        daas_engine_free(e);
    } else {
        CHECK(t, e == NULL, "a failed load left *out = %p", (void *)e);
        CHECK(t, daas_last_error_message()[0] != '\0', "a failed load left no message");
    }
    return st;
}

void test_corrupt_states(t_ctx *t) {
    daas_engine *e = t_create(t, "{\"epochs\": 6}");
    if (e == NULL) {
        return;
    }
    uint64_t seed = 5;
    run(t, e, 1, 3, 2, &seed); /* a state with history */
    daas_bytes s;
    if (!t_save(t, e, &s)) {
        daas_engine_free(e);
        return;
    }
    uint8_t *buf = malloc(s.len);

    /* Every truncation. */
    int bad = 0;
    for (size_t n = 0; n < s.len; n++) {
        memcpy(buf, s.data, n);
        if (try_load(t, buf, n) != DAAS_E_CORRUPT_STATE && bad++ < 5) {
            CHECK(t, 0, "truncated to %zu of %zu bytes: not DAAS_E_CORRUPT_STATE (%s)", n, s.len,
                  daas_last_error_message());
        }
    }
    memcpy(buf, s.data, 3);
    FAILS(t, daas_engine_load(buf, 3, &(daas_engine *){NULL}), DAAS_E_CORRUPT_STATE, "too short");

    /* One flipped bit in every byte (a rotating bit position). */
    bad = 0;
    for (size_t i = 0; i < s.len; i++) {
        memcpy(buf, s.data, s.len);
        buf[i] ^= (uint8_t)(1u << (i % 8));
        if (try_load(t, buf, s.len) != DAAS_E_CORRUPT_STATE && bad++ < 5) {
            CHECK(t, 0, "bit %zu of byte %zu flipped: not DAAS_E_CORRUPT_STATE (%s)", i % 8, i, daas_last_error_message());
        }
    }

    /* Random bytes, and random bytes that carry the file identifier. */
    uint64_t r = 12345;
    for (int k = 0; k < 2000; k++) {
        size_t n = 1 + (size_t)(r % s.len);
        for (size_t i = 0; i < n; i++) {
            r = r * 6364136223846793005ULL + 1442695040888963407ULL;
            buf[i] = (uint8_t)(r >> 56);
        }
        if (k % 2 == 1 && n >= 8) {
            memcpy(buf + 4, "DAAS", 4);
        }
        daas_status st = try_load(t, buf, n);
        CHECK(t, st == DAAS_E_CORRUPT_STATE, "random bytes #%d (%zu bytes): %s", k, n, daas_status_string(st));
    }

    /* Extra bytes after a valid state. */
    uint8_t *longer = malloc(s.len + 8);
    memcpy(longer, s.data, s.len);
    memset(longer + s.len, 0, 8);
    FAILS(t, daas_engine_load(longer, s.len + 8, &(daas_engine *){NULL}), DAAS_E_CORRUPT_STATE, "");
    free(longer);

    /* Not a state at all: a config, an empty buffer. */
    FAILS(t, daas_engine_load((const uint8_t *)"{\"epochs\": 6}", 13, &(daas_engine *){NULL}), DAAS_E_CORRUPT_STATE,
          "state");
    FAILS(t, daas_engine_load(buf, 0, &(daas_engine *){NULL}), DAAS_E_CORRUPT_STATE, "0 bytes");

    /* The original still loads. */
    STATUS(t, try_load(t, s.data, s.len), DAAS_OK);
    free(buf);
    daas_bytes_free(&s);
    daas_engine_free(e);
}

static uint32_t rd32(const uint8_t *p) { return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24; }
static uint16_t rd16(const uint8_t *p) { return (uint16_t)(p[0] | p[1] << 8); }
static void wr32(uint8_t *p, uint32_t v) {
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
    p[2] = (uint8_t)(v >> 16);
    p[3] = (uint8_t)(v >> 24);
}

/* set_version rewrites the envelope's schema_version (field 0) and its CRC-32C (field 1, over the
 * 4 little-endian version bytes and the body, field 2) in a saved state, as a future writer would.
 * *body_at receives the offset of a byte inside the body. Returns 0 if the layout is not the expected one. */
static int set_version(uint8_t *p, size_t n, uint32_t version, size_t *body_at) {
    if (n < 8) return 0;
    size_t table = rd32(p);
    if (table + 4 > n) return 0;
    size_t vtable = table - (size_t)(int32_t)rd32(p + table);
    if (vtable + 10 > n) return 0;
    uint16_t vt_size = rd16(p + vtable);
    if (vt_size < 10) return 0;
    uint16_t f_version = rd16(p + vtable + 4), f_crc = rd16(p + vtable + 6), f_body = rd16(p + vtable + 8);
    if (f_version == 0 || f_crc == 0 || f_body == 0) return 0;
    size_t body_ref = table + f_body;
    size_t vec = body_ref + rd32(p + body_ref);
    if (vec + 4 > n) return 0;
    size_t body_len = rd32(p + vec);
    if (vec + 4 + body_len > n) return 0;
    uint8_t le[4];
    wr32(le, version);
    wr32(p + table + f_version, version);
    uint32_t crc = t_crc32c(t_crc32c(0, le, 4), p + vec + 4, body_len);
    wr32(p + table + f_crc, crc);
    if (body_at != NULL) *body_at = vec + 4 + body_len / 2;
    return 1;
}

void test_future_version(t_ctx *t) {
    daas_engine *e = t_create(t, "{}");
    if (e == NULL) {
        return;
    }
    daas_bytes s;
    if (!t_save(t, e, &s)) {
        daas_engine_free(e);
        return;
    }
    uint8_t *buf = malloc(s.len);
    /* Rewriting version 1 with the tool gives the original bytes back: the tool is right. */
    memcpy(buf, s.data, s.len);
    CHECK(t, set_version(buf, s.len, 1, NULL), "unexpected envelope layout");
    CHECK(t, memcmp(buf, s.data, s.len) == 0, "rewriting version 1 changed the state: the CRC tool is wrong");
    STATUS(t, try_load(t, buf, s.len), DAAS_OK);

    static const uint32_t versions[] = {2, 7, 0xFFFFFFFFu};
    for (size_t i = 0; i < sizeof versions / sizeof versions[0]; i++) {
        memcpy(buf, s.data, s.len);
        if (!set_version(buf, s.len, versions[i], NULL)) {
            CHECK(t, 0, "unexpected envelope layout");
            break;
        }
        FAILS(t, daas_engine_load(buf, s.len, &(daas_engine *){NULL}), DAAS_E_VERSION_MISMATCH, "schema version");
    }
    /* A future version with a wrong checksum is corrupt, not a version mismatch. */
    memcpy(buf, s.data, s.len);
    size_t inside = 0;
    CHECK(t, set_version(buf, s.len, 2, &inside), "unexpected envelope layout");
    buf[inside] ^= 0x40;
    daas_status st = try_load(t, buf, s.len);
    CHECK(t, st == DAAS_E_CORRUPT_STATE, "future version, altered body: %s", daas_status_string(st));
    free(buf);
    daas_bytes_free(&s);
    daas_engine_free(e);
}
