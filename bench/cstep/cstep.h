/* cstep.h - the darts step's math as plain C (double arithmetic, float32 gradients, libm exp/log/pow):
 * the limit `make bench` holds daas_engine_step against. The engine's arithmetic (engine/relax.go,
 * losses.go fastGradients, adam.go, engine.go Step; docs/DESIGN.md), less what makes it an engine:
 * no argument or finite checks, no undo, no bounds, libm's exp and log where the engine has its own
 * machine-independent ones. bench/cstep/cstep_test.go checks it follows the engine. */
#ifndef DAAS_BENCH_CSTEP_H
#define DAAS_BENCH_CSTEP_H

#include <stdint.h>

typedef struct {
    double lr, b1, b2, eps, wd;
} cstep_adam;

typedef struct {
    int n_ops, n_edges, n_nodes, daas; /* daas: 0 for DARTS (plain softmax, no β) */
    int *node_edge, *node_n, *node_k;  /* per node: first edge, inputs, inputs kept */
    double *alpha, *beta;              /* n_edges * n_ops, n_edges */
    double *m_a, *v_a, *m_b, *v_b;     /* Adam moments */
    int64_t t_a, t_b;                  /* Adam step counters */
    cstep_adam adam_a, adam_b;
    double c_alpha, c_beta, w_sum;     /* loss coefficients: op entropy, edge loss; w_sum */
    double *d_alpha, *d_beta, *a_buf;  /* scratch */
} cstep;

/* cstep_new allocates a zeroed state for the given sizes (NULL when out of memory). */
cstep *cstep_new(int n_ops, int n_edges, int n_nodes);
void cstep_free(cstep *s);

/* cstep_run applies n steps with the same gradients (n_edges * n_ops and n_edges floats). */
void cstep_run(cstep *s, const float *grad_op, const float *grad_edge, long n);

#endif
