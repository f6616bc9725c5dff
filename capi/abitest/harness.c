#include "harness.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct t_ctx {
    pthread_mutex_t mu;
    char *log;
    size_t len, cap;
    int failures;
};

uint64_t abitest_broken_handle;

static int seen[16];

void t_note_status(daas_status st) {
    if (st <= 0 && st > -16) {
        __atomic_store_n(&seen[-st], 1, __ATOMIC_RELAXED);
    }
}

int abitest_seen(daas_status st) { return st <= 0 && st > -16 && __atomic_load_n(&seen[-st], __ATOMIC_RELAXED); }

void t_fail(t_ctx *t, const char *file, int line, const char *fmt, ...) {
    char msg[2048];
    int n = snprintf(msg, sizeof msg, "%s:%d: ", file, line);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg + n, sizeof msg - (size_t)n, fmt, ap);
    va_end(ap);
    size_t m = strlen(msg);
    pthread_mutex_lock(&t->mu);
    t->failures++;
    if (t->failures <= 50) { /* keep the log readable when a loop fails everywhere */
        if (t->len + m + 2 > t->cap) {
            size_t cap = (t->cap + m + 2) * 2;
            char *p = realloc(t->log, cap);
            if (p != NULL) {
                t->log = p;
                t->cap = cap;
            }
        }
        if (t->len + m + 2 <= t->cap) {
            memcpy(t->log + t->len, msg, m);
            t->len += m;
            t->log[t->len++] = '\n';
            t->log[t->len] = '\0';
        }
    }
    pthread_mutex_unlock(&t->mu);
}

int t_status(t_ctx *t, const char *file, int line, const char *expr, daas_status got, daas_status want,
             const char *needle) {
    t_note_status(got);
    if (got != want) {
        t_fail(t, file, line, "%s returned %s, want %s (last error: \"%s\")", expr, daas_status_string(got),
               daas_status_string(want), got == DAAS_OK ? "" : daas_last_error_message());
        return 0;
    }
    if (want != DAAS_OK) {
        const char *msg = daas_last_error_message();
        if (msg == NULL) {
            t_fail(t, file, line, "%s: daas_last_error_message() is NULL", expr);
            return 0;
        }
        if (needle != NULL && strstr(msg, needle) == NULL) {
            t_fail(t, file, line, "%s: message \"%s\" does not name \"%s\"", expr, msg, needle);
            return 0;
        }
    }
    return 1;
}

const char *abitest_name(int i) { return abitest_cases[i].name; }

int abitest_run(int i, char **log_out) { return abitest_run_case(&abitest_cases[i], log_out); }

const char *abitest_device_name(int i) { return abitest_device_cases[i].name; }

int abitest_run_device(int i, char **log_out) { return abitest_run_case(&abitest_device_cases[i], log_out); }

int abitest_run_case(const t_case *c, char **log_out) {
    t_ctx t;
    memset(&t, 0, sizeof t);
    pthread_mutex_init(&t.mu, NULL);
    c->fn(&t);
    pthread_mutex_destroy(&t.mu);
    *log_out = t.log;
    return t.failures;
}

void t_fill(float *x, size_t n, uint64_t *seed, float scale) {
    for (size_t i = 0; i < n; i++) {
        *seed = *seed * 6364136223846793005ULL + 1442695040888963407ULL;
        x[i] = scale * ((float)(*seed >> 40) / (float)(1 << 24) * 2.0f - 1.0f);
    }
}

daas_engine *t_create(t_ctx *t, const char *config) {
    daas_engine *e = NULL;
    if (!STATUS(t, daas_engine_create(config, &e), DAAS_OK)) {
        return NULL;
    }
    CHECK(t, e != NULL, "create returned DAAS_OK and a NULL engine");
    return e;
}

int t_save(t_ctx *t, const daas_engine *e, daas_bytes *out) {
    out->data = NULL;
    out->len = 0;
    if (!STATUS(t, daas_engine_save(e, out), DAAS_OK)) {
        return 0;
    }
    CHECK(t, out->data != NULL && out->len > 0, "save returned no bytes");
    return out->data != NULL && out->len > 0;
}

int t_bytes_equal(const daas_bytes *a, const daas_bytes *b) {
    return a->len == b->len && (a->len == 0 || memcmp(a->data, b->data, a->len) == 0);
}

char *t_text(const daas_bytes *b) {
    char *text = calloc(1, b->len + 1);
    if (text != NULL && b->len > 0) memcpy(text, b->data, b->len);
    return text;
}

uint32_t t_crc32c(uint32_t crc, const uint8_t *p, size_t n) {
    crc = ~crc;
    for (size_t i = 0; i < n; i++) {
        crc ^= p[i];
        for (int k = 0; k < 8; k++) {
            crc = (crc >> 1) ^ (0x82F63B78u & (0u - (crc & 1u)));
        }
    }
    return ~crc;
}
