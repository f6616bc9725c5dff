/* cstep.c - see cstep.h. */
#include "cstep.h"

#include <math.h>
#include <stdlib.h>

cstep *cstep_new(int n_ops, int n_edges, int n_nodes) {
    cstep *s = calloc(1, sizeof *s);
    if (s == NULL) return NULL;
    size_t na = (size_t)n_ops * (size_t)n_edges, ne = (size_t)n_edges;
    s->n_ops = n_ops, s->n_edges = n_edges, s->n_nodes = n_nodes;
    s->node_edge = calloc((size_t)n_nodes, sizeof(int));
    s->node_n = calloc((size_t)n_nodes, sizeof(int));
    s->node_k = calloc((size_t)n_nodes, sizeof(int));
    s->alpha = calloc(na, sizeof(double)), s->m_a = calloc(na, sizeof(double));
    s->v_a = calloc(na, sizeof(double)), s->d_alpha = calloc(na, sizeof(double));
    s->a_buf = calloc(na, sizeof(double));
    s->beta = calloc(ne, sizeof(double)), s->m_b = calloc(ne, sizeof(double));
    s->v_b = calloc(ne, sizeof(double)), s->d_beta = calloc(ne, sizeof(double));
    if (!s->node_edge || !s->node_n || !s->node_k || !s->alpha || !s->m_a || !s->v_a || !s->d_alpha ||
        !s->a_buf || !s->beta || !s->m_b || !s->v_b || !s->d_beta) {
        cstep_free(s);
        return NULL;
    }
    return s;
}

void cstep_free(cstep *s) {
    if (s == NULL) return;
    free(s->node_edge), free(s->node_n), free(s->node_k);
    free(s->alpha), free(s->m_a), free(s->v_a), free(s->d_alpha), free(s->a_buf);
    free(s->beta), free(s->m_b), free(s->v_b), free(s->d_beta);
    free(s);
}

/* The op gradients: z = g(α) (α for DARTS), A = softmax(z),
 * dα = g'(α) (A (G - <A, G>) - cα A (log A + H)). */
static void op_gradients(cstep *s, const float *grad_op) {
    const int n = s->n_ops;
    for (int e = 0; e < s->n_edges; e++) {
        const double *a = s->alpha + (size_t)e * n;
        const float *g = grad_op + (size_t)e * n;
        double *z = s->d_alpha + (size_t)e * n, *A = s->a_buf + (size_t)e * n;
        for (int o = 0; o < n; o++) {
            double t = a[o];
            z[o] = (!s->daas || t >= -0.5) ? (s->daas ? 2 * t : t) : (2 * t) * (2 * t) * (2 * t);
        }
        double mx = z[0], sum = 0;
        for (int o = 1; o < n; o++) mx = z[o] > mx ? z[o] : mx;
        for (int o = 0; o < n; o++) sum += A[o] = exp(z[o] - mx);
        double shift = mx + log(sum), inv = 1 / sum, dot = 0, h = 0;
        for (int o = 0; o < n; o++) {
            A[o] *= inv;
            z[o] -= shift; /* log A */
            dot += A[o] * g[o];
            h -= A[o] * z[o];
        }
        for (int o = 0; o < n; o++) {
            double dz = A[o] * (g[o] - dot) - s->c_alpha * A[o] * (z[o] + h);
            double t = a[o], dg = (!s->daas || t >= -0.5) ? (s->daas ? 2 : 1) : 24 * t * t;
            z[o] = dg * dz;
        }
    }
}

/* The edge gradients per learnable node: m = min(β, 1), q = softmax(m), S = Σ max(0, m),
 * dβ_i = [β_i < 1] (n q_i (G_i - <q, G>) + cβ (-q_i (log q_i + H_q) + 2 w_sum (S - k) [m_i > 0])). */
static void edge_gradients(cstep *s, const float *grad_edge) {
    double m[64], q[64], lq[64];
    for (int i = 0; i < s->n_edges; i++) s->d_beta[i] = 0;
    for (int j = 0; j < s->n_nodes; j++) {
        const int n = s->node_n[j], off = s->node_edge[j];
        if (s->node_k[j] >= n) continue;
        const double *b = s->beta + off;
        const float *g = grad_edge + off;
        double mx = -INFINITY, sum = 0, pos = 0;
        for (int i = 0; i < n; i++) {
            m[i] = b[i] < 1 ? b[i] : 1;
            mx = m[i] > mx ? m[i] : mx;
            pos += m[i] > 0 ? m[i] : 0;
        }
        for (int i = 0; i < n; i++) sum += q[i] = exp(m[i] - mx);
        double ls = log(sum), inv = 1 / sum, dot = 0, h = 0;
        for (int i = 0; i < n; i++) {
            q[i] *= inv;
            lq[i] = m[i] - mx - ls;
            dot += q[i] * g[i];
            h -= q[i] * lq[i];
        }
        double pen = 2 * s->w_sum * (pos - s->node_k[j]);
        for (int i = 0; i < n; i++) {
            if (b[i] >= 1) continue;
            double d = n * (q[i] * (g[i] - dot)) - s->c_beta * (q[i] * (lq[i] + h));
            if (m[i] > 0) d += s->c_beta * pen;
            s->d_beta[off + i] = d;
        }
    }
}

/* adam applies torch.optim.Adam (coupled weight decay, bias correction) to p[lo..hi). */
static void adam(double *p, double *m, double *v, const double *grad, int lo, int hi, const cstep_adam *a,
                 double step_size, double inv_bc2) {
    for (int i = lo; i < hi; i++) {
        double g = grad[i] + a->wd * p[i];
        m[i] = a->b1 * m[i] + (1 - a->b1) * g;
        v[i] = a->b2 * v[i] + (1 - a->b2) * g * g;
        p[i] -= step_size * (m[i] / (sqrt(v[i]) * inv_bc2 + a->eps));
    }
}

static void step_group(double *p, double *m, double *v, const double *grad, int64_t *t, const cstep_adam *a,
                       const cstep *s, int nodes) {
    ++*t;
    double step_size = a->lr / (1 - pow(a->b1, (double)*t)), inv_bc2 = 1 / sqrt(1 - pow(a->b2, (double)*t));
    if (!nodes) {
        adam(p, m, v, grad, 0, s->n_edges * s->n_ops, a, step_size, inv_bc2);
        return;
    }
    for (int j = 0; j < s->n_nodes; j++) {
        if (s->node_k[j] < s->node_n[j]) {
            adam(p, m, v, grad, s->node_edge[j], s->node_edge[j] + s->node_n[j], a, step_size, inv_bc2);
        }
    }
}

void cstep_run(cstep *s, const float *grad_op, const float *grad_edge, long n) {
    for (long k = 0; k < n; k++) {
        op_gradients(s, grad_op);
        step_group(s->alpha, s->m_a, s->v_a, s->d_alpha, &s->t_a, &s->adam_a, s, 0);
        if (s->daas) {
            edge_gradients(s, grad_edge);
            step_group(s->beta, s->m_b, s->v_b, s->d_beta, &s->t_b, &s->adam_b, s, 1);
        }
    }
}
