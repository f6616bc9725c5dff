/* device/kernels.h - the device engine's arithmetic: one source compiled two ways.
 *
 * NVRTC compiles it as CUDA C into the PTX that libdaas-cuda.so embeds (make lib-cuda, with
 * --fmad=false); cgo compiles it as plain C (-ffp-contract=off) into the host emulation that the
 * tests run on every machine. Each function mirrors the Go engine's (engine/relax.go, losses.go,
 * adam.go, detmath.go, control.go) operation by operation, in float64, with no fused multiply-add,
 * so a device engine and a host engine fed the same gradients end in the same bits.
 *
 * Memory. A device engine is two allocations: F, doubles, and I, 64-bit integers, laid out by the
 * DK_F_* and DK_I_* indices below (dk_layout gives the arrays' offsets). Everything a step depends on
 * - the step counters, the epoch's coefficients, the controller's boosts - lives there and is read
 * by the kernels, never passed as a launch argument: a captured CUDA graph replays correctly.
 *
 * Threads. Each kernel runs as one block; DK_TID and DK_NT are the thread and the block size
 * (0 and 1 on the host, which runs every phase in one thread). Per-row work is split across threads;
 * each row is computed by one thread in the Go engine's order, so the block size never changes a bit.
 */
#ifndef DAAS_DEVICE_KERNELS_H
#define DAAS_DEVICE_KERNELS_H

#ifdef __CUDACC_RTC__
typedef long long dk_i64;
typedef unsigned long long dk_u64;
#define DK static __device__ __forceinline__
#define DK_KERNEL extern "C" __global__ void
#define DK_TID ((int)threadIdx.x)
#define DK_NT ((int)blockDim.x)
#define DK_SYNC() __syncthreads()
#define DK_SHARED __shared__
#define DK_MIN_U64(p, v) atomicMin((p), (v))
#define DK_BITS(x) ((dk_u64)__double_as_longlong(x))
#define DK_FROM_BITS(b) __longlong_as_double((long long)(b))
#define DK_SQRT(x) __dsqrt_rn(x)
#define DK_CONST __constant__
#else
#include <stdint.h>
#include <string.h>
#include <math.h>
typedef int64_t dk_i64;
typedef uint64_t dk_u64;
#define DK static inline
#define DK_KERNEL static inline void
#define DK_TID 0
#define DK_NT 1
#define DK_SYNC() ((void)0)
#define DK_SHARED
#define DK_MIN_U64(p, v) (*(p) = *(p) < (v) ? *(p) : (v))
static inline dk_u64 dk_bits(double x) { dk_u64 b; memcpy(&b, &x, sizeof b); return b; }
static inline double dk_from_bits(dk_u64 b) { double x; memcpy(&x, &b, sizeof x); return x; }
#define DK_BITS(x) dk_bits(x)
#define DK_FROM_BITS(b) dk_from_bits(b)
#define DK_SQRT(x) sqrt(x)
#define DK_CONST static const
#endif

/* F: doubles. Settings (written once), the epoch's values (written by set_epoch), the boosts, then
 * the state and the scratch (offsets from dk_layout). */
enum {
    DK_F_A_B1, DK_F_A_B2, DK_F_A_EPS, DK_F_A_WD, /* alpha's learning rate is the epoch's, below */
    DK_F_B_B1, DK_F_B_B2, DK_F_B_EPS, DK_F_B_WD, DK_F_B_LR,
    DK_F_WSUM, DK_F_GAIN, DK_F_DECAY, DK_F_MAX_BOOST, DK_F_EDGE_TARGET, DK_F_MASS_TARGET,
    /* the epoch's: schedules' coefficients, alpha's learning rate (0 before alpha_start_epoch),
     * the controller's trajectory values and whether it acts this epoch (1.0 or 0.0) */
    DK_F_LAMBDA_C, DK_F_LAMBDA_ALPHA, DK_F_LAMBDA_BETA, DK_F_LR_ALPHA, DK_F_TAU_OP, DK_F_TAU_EDGE,
    DK_F_CONTROL_ON,
    DK_F_BOOST_OP, DK_F_BOOST_EDGE,
    DK_F_HEAD /* the arrays start here */
};

/* I: integers. Sizes and flags (written once), the counters, the refusal record, then the nodes
 * (DK_NODE_INTS each: first edge, inputs, kept, learnable), the per-op discarded flags and n_edges
 * integers of scratch (dk_int_length gives I's length). */
enum {
    DK_I_N_OPS, DK_I_N_EDGES, DK_I_N_NODES, DK_I_DAAS, DK_I_CONTROL,
    DK_I_STEP_A, DK_I_STEP_B, DK_I_STEPS, DK_I_EPOCH_STEPS, DK_I_CALLS,
    DK_I_REFUSED, DK_I_REFUSED_CALL, DK_I_REFUSED_STEP, DK_I_REFUSED_WHAT,
    DK_I_HEAD /* the nodes start here */
};
#define DK_NODE_INTS 4

/* What a refused step failed on, in the high bits of DK_I_REFUSED_WHAT (the index in the low 40);
 * the order is the host engine's order of checks, so the smallest code is the error it reports. */
#define DK_WHAT_SHIFT 40
enum { DK_WHAT_NONE, DK_WHAT_GRAD_OP, DK_WHAT_GRAD_EDGE, DK_WHAT_D_ALPHA, DK_WHAT_D_BETA,
       DK_WHAT_BOUNDS_ALPHA, DK_WHAT_BOUNDS_BETA, DK_WHAT_END };
#define DK_NONE (~(dk_u64)0)

/* The arrays in F, by offset: the state (what the host engine holds) and then the scratch. */
enum {
    DK_A_ALPHA, DK_A_BETA, DK_A_ALPHA_M, DK_A_ALPHA_V, DK_A_BETA_M, DK_A_BETA_V, /* the state */
    DK_A_NEW_ALPHA, DK_A_NEW_BETA, DK_A_NEW_ALPHA_M, DK_A_NEW_ALPHA_V, DK_A_NEW_BETA_M, DK_A_NEW_BETA_V,
    DK_A_D_ALPHA, DK_A_D_BETA, DK_A_OP_W, DK_A_ROW_M, DK_A_ROW_Q, DK_A_ROW_LQ, DK_A_ROW_S,
    DK_A_NODE_WEAKEST, DK_A_NODE_MASS, DK_A_WEIGHTS_Z, DK_A_WEIGHTS_P, DK_A_WEIGHTS_M, DK_A_WEIGHTS_Q,
    DK_A_END
};

/* dk_array_offset returns where array a starts in F (DK_A_END: F's length), for n_alpha nA, n_edges
 * nE and nNodes nodes. */
DK dk_i64 dk_array_offset(int a, dk_i64 nA, dk_i64 nE, dk_i64 nNodes) {
    /* each array's length: 0 n_alpha, 1 n_edges, 2 one per node */
    const unsigned char kind[DK_A_END] = {0, 1, 0, 0, 1, 1, 0, 1, 0, 0, 1, 1, 0, 1, 0, 1, 1, 1, 1, 2, 2, 0, 0, 1, 1};
    dk_i64 off = DK_F_HEAD;
    for (int i = 0; i < a; i++) off += kind[i] == 0 ? nA : kind[i] == 1 ? nE : nNodes;
    return off;
}

/* dk_int_length is I's length; the discarded flags start at DK_I_HEAD + DK_NODE_INTS * nNodes and the
 * scratch nOps after them. */
DK dk_i64 dk_int_length(dk_i64 nOps, dk_i64 nE, dk_i64 nNodes) { return DK_I_HEAD + DK_NODE_INTS * nNodes + nOps + nE; }

#define DK_PARAM_LIMIT 1e12
#define DK_MOMENT_LIMIT 1e100

/* ---- detmath.go ------------------------------------------------------------------------------ */

/* 2^(j/32), j = 0..31, correctly rounded (detmath.go's exp2By32) */
DK_CONST double dk_exp2_by_32[32] = {
    0x1.0000000000000p+0, 0x1.059b0d3158574p+0, 0x1.0b5586cf9890fp+0, 0x1.11301d0125b51p+0,
    0x1.172b83c7d517bp+0, 0x1.1d4873168b9aap+0, 0x1.2387a6e756238p+0, 0x1.29e9df51fdee1p+0,
    0x1.306fe0a31b715p+0, 0x1.371a7373aa9cbp+0, 0x1.3dea64c123422p+0, 0x1.44e086061892dp+0,
    0x1.4bfdad5362a27p+0, 0x1.5342b569d4f82p+0, 0x1.5ab07dd485429p+0, 0x1.6247eb03a5585p+0,
    0x1.6a09e667f3bcdp+0, 0x1.71f75e8ec5f74p+0, 0x1.7a11473eb0187p+0, 0x1.82589994cce13p+0,
    0x1.8ace5422aa0dbp+0, 0x1.93737b0cdc5e5p+0, 0x1.9c49182a3f090p+0, 0x1.a5503b23e255dp+0,
    0x1.ae89f995ad3adp+0, 0x1.b7f76f2fb5e47p+0, 0x1.c199bdd85529cp+0, 0x1.cb720dcef9069p+0,
    0x1.d5818dcfba487p+0, 0x1.dfc97337b9b5fp+0, 0x1.ea4afa2a490dap+0, 0x1.f50765b6e4540p+0,
};


DK double dk_exp(double x) {
    const double expMax = 7.09782712893383973096e+02, expMin = -7.45133219101941108420e+02;
    const double ln2By32Hi = 0x1.62e42fee00000p-6, ln2By32Lo = 0x1.a39ef35793c76p-38;
    const double invLn2x32 = 0x1.71547652b82fep+5, roundMagic = 0x1.8p52;
    if (x != x) return x;
    if (x > expMax) return DK_FROM_BITS(0x7ff0000000000000ull);
    if (x < expMin) return 0;
    double nf = (x * invLn2x32 + roundMagic) - roundMagic;
    int n = (int)nf;
    double r = (x - nf * ln2By32Hi) - nf * ln2By32Lo;
    double p = r * (1.0 / 720) + 1.0 / 120;
    p = p * r + 1.0 / 24;
    p = p * r + 1.0 / 6;
    p = p * r + 0.5;
    double q = r + (r * r) * p;
    double t = dk_exp2_by_32[n & 31];
    double y = t + t * q;
    int k = n >> 5;
    if (k > 1000) {
        y *= 0x1p1000;
        k -= 1000;
    } else if (k < -1000) {
        y *= 0x1p-1000;
        k += 1000;
    }
    return y * DK_FROM_BITS((dk_u64)(k + 1023) << 52);
}

DK double dk_log(double x) {
    const double ln2Hi = 6.93147180369123816490e-01, ln2Lo = 1.90821492927058770002e-10;
    if (x != x || x < 0) return DK_FROM_BITS(0x7ff8000000000001ull);
    if (x == 0) return DK_FROM_BITS(0xfff0000000000000ull);
    if (x == DK_FROM_BITS(0x7ff0000000000000ull)) return x;
    int k = 0;
    if (x < 0x1p-1022) {
        x *= 0x1p54;
        k = -54;
    }
    dk_u64 bits = DK_BITS(x);
    k += (int)(bits >> 52) - 1023;
    double m = DK_FROM_BITS((bits & ((1ull << 52) - 1)) | (1023ull << 52));
    if (m > 0x1.6a09e667f3bcdp+0) {
        m *= 0.5;
        k++;
    }
    double f = m - 1;
    double s = f / (2 + f);
    double z = s * s;
    double p = z * (1.0 / 21) + 1.0 / 19;
    p = p * z + 1.0 / 17;
    p = p * z + 1.0 / 15;
    p = p * z + 1.0 / 13;
    p = p * z + 1.0 / 11;
    p = p * z + 1.0 / 9;
    p = p * z + 1.0 / 7;
    p = p * z + 1.0 / 5;
    p = p * z + 1.0 / 3;
    p = p * z;
    double twoS = f - s * f;
    double r = twoS * p + twoS;
    double fk = (double)k;
    return fk * ln2Hi + (r + fk * ln2Lo);
}

DK double dk_pow(double b, dk_i64 n) {
    double r = 1.0;
    while (n > 0) {
        if (n & 1) r *= b;
        b *= b;
        n >>= 1;
    }
    return r;
}

DK int dk_finite(double x) { return x - x == 0; }
DK double dk_min(double a, double b) { return a < b ? a : b; } /* finite operands only */
DK double dk_max(double a, double b) { return a > b ? a : b; }

/* ---- relax.go -------------------------------------------------------------------------------- */

/* dk_logit is g(a) (a itself for DARTS) and, in *dz, dg/da. */
DK double dk_logit(int daas, double a, double *dz) {
    if (!daas) {
        *dz = 1;
        return a;
    }
    if (a >= -0.5) {
        *dz = 2;
        return 2 * a;
    }
    double x = 2 * a;
    *dz = 24 * a * a;
    return (x * x) * x;
}

/* dk_exp_shifted writes exp(z_i - max z) into p and returns the sum; *mx gets max z. */
DK double dk_exp_shifted(const double *z, double *p, int n, double *mx) {
    double m = z[0], sum = 0;
    for (int i = 1; i < n; i++)
        if (z[i] > m) m = z[i];
    for (int i = 0; i < n; i++) {
        p[i] = dk_exp(z[i] - m);
        sum += p[i];
    }
    *mx = m;
    return sum;
}

/* dk_op_row writes the op weights of one edge (softmax of the logits) into w, using z as scratch. */
DK void dk_op_row(int daas, const double *alpha, double *z, double *w, int nOps) {
    double dz, m;
    for (int o = 0; o < nOps; o++) z[o] = dk_logit(daas, alpha[o], &dz);
    double inv = 1 / dk_exp_shifted(z, w, nOps, &m);
    for (int o = 0; o < nOps; o++) w[o] *= inv;
}

/* dk_edge_row writes softmax(min(beta, 1)) of one node into q (and min(beta, 1) into mm). */
DK double dk_edge_row(const double *beta, double *mm, double *q, int n) {
    double m;
    for (int i = 0; i < n; i++) mm[i] = dk_min(beta[i], 1);
    return dk_exp_shifted(mm, q, n, &m);
}

#define DK_NODE(I, j) ((I) + DK_I_HEAD + (dk_i64)(j) * DK_NODE_INTS)

/* ---- the weights kernel (Engine.Weights) ------------------------------------------------------ */

DK_KERNEL daas_weights(double *F, const dk_i64 *I, float *opOut, float *edgeOut) {
    const int nOps = (int)I[DK_I_N_OPS], nEdges = (int)I[DK_I_N_EDGES], nNodes = (int)I[DK_I_N_NODES];
    const int daas = (int)I[DK_I_DAAS];
    const dk_i64 nA = (dk_i64)nEdges * nOps;
    const double *alpha = F + dk_array_offset(DK_A_ALPHA, nA, nEdges, nNodes);
    const double *beta = F + dk_array_offset(DK_A_BETA, nA, nEdges, nNodes);
    double *z = F + dk_array_offset(DK_A_WEIGHTS_Z, nA, nEdges, nNodes);
    double *w = F + dk_array_offset(DK_A_WEIGHTS_P, nA, nEdges, nNodes);
    double *mm = F + dk_array_offset(DK_A_WEIGHTS_M, nA, nEdges, nNodes);
    double *q = F + dk_array_offset(DK_A_WEIGHTS_Q, nA, nEdges, nNodes);
    for (int e = DK_TID; e < nEdges; e += DK_NT) {
        const dk_i64 off = (dk_i64)e * nOps;
        dk_op_row(daas, alpha + off, z + off, w + off, nOps);
        for (int o = 0; o < nOps; o++) opOut[off + o] = (float)w[off + o];
    }
    for (int j = DK_TID; j < nNodes; j += DK_NT) {
        const dk_i64 *nd = DK_NODE(I, j);
        const int edge = (int)nd[0], n = (int)nd[1];
        if (!nd[3] || !daas) {
            for (int i = 0; i < n; i++) edgeOut[edge + i] = 1;
            continue;
        }
        double inv = 1 / dk_edge_row(beta + edge, mm + edge, q + edge, n);
        for (int i = 0; i < n; i++) edgeOut[edge + i] = (float)((double)n * (q[edge + i] * inv));
    }
}

/* ---- the step kernel (Engine.Step, fastGradients, adamState.step, controlAfterStep) ----------- */

DK void dk_refuse(dk_i64 *I, dk_u64 what) {
    if (I[DK_I_REFUSED] == 0) {
        I[DK_I_REFUSED_CALL] = I[DK_I_CALLS];
        I[DK_I_REFUSED_STEP] = I[DK_I_STEPS] + 1;
        I[DK_I_REFUSED_WHAT] = (dk_i64)what;
    }
    I[DK_I_REFUSED]++;
}

DK dk_u64 dk_what(int code, dk_i64 index) { return ((dk_u64)code << DK_WHAT_SHIFT) | (dk_u64)index; }

/* dk_adam_entry updates entry i of one group into the new arrays; it returns whether the result is
 * within the state's bounds. */
DK int dk_adam_entry(const double *F, int group, dk_i64 i, const double *p, const double *m,
                     const double *v, const double *g, double *np, double *nm, double *nv,
                     double stepSize, double invBC2) {
    const int o = group == 0 ? DK_F_A_B1 : DK_F_B_B1;
    const double b1 = F[o], b2 = F[o + 1], eps = F[o + 2], wd = F[o + 3];
    double gi = g[i] + wd * p[i];
    double mi = b1 * m[i] + (1 - b1) * gi;
    double vi = b2 * v[i] + ((1 - b2) * gi) * gi;
    double denom = DK_SQRT(vi) * invBC2 + eps;
    double pi = p[i] - stepSize * (mi / denom);
    np[i] = pi, nm[i] = mi, nv[i] = vi;
    return pi >= -DK_PARAM_LIMIT && pi <= DK_PARAM_LIMIT && mi >= -DK_MOMENT_LIMIT && mi <= DK_MOMENT_LIMIT &&
           vi >= 0 && vi <= DK_MOMENT_LIMIT * DK_MOMENT_LIMIT;
}

/* dk_best_op is the argmax of alpha over the ops not discarded, ties to the lower index. */
DK int dk_best_op(const double *alpha, const dk_i64 *disc, int nOps) {
    int best = -1;
    for (int o = 0; o < nOps; o++)
        if (!disc[o] && (best < 0 || alpha[o] > alpha[best])) best = o;
    return best;
}

DK_KERNEL daas_step(double *F, dk_i64 *I, const float *gOp, const float *gEdge) {
    DK_SHARED dk_u64 bad;
    const int nOps = (int)I[DK_I_N_OPS], nEdges = (int)I[DK_I_N_EDGES], nNodes = (int)I[DK_I_N_NODES];
    const int daas = (int)I[DK_I_DAAS];
    const dk_i64 nA = (dk_i64)nEdges * nOps;
    const dk_i64 *disc = I + DK_I_HEAD + (dk_i64)nNodes * DK_NODE_INTS;
#define DK_ARR(a) (F + dk_array_offset((a), nA, nEdges, nNodes))
    double *alpha = DK_ARR(DK_A_ALPHA), *beta = DK_ARR(DK_A_BETA);
    double *dA = DK_ARR(DK_A_D_ALPHA), *dB = DK_ARR(DK_A_D_BETA), *opW = DK_ARR(DK_A_OP_W);
    double *rm = DK_ARR(DK_A_ROW_M), *rq = DK_ARR(DK_A_ROW_Q), *rlq = DK_ARR(DK_A_ROW_LQ);

    if (DK_TID == 0) bad = DK_NONE;
    DK_SYNC();
    /* 1. the gradients must be finite */
    for (dk_i64 i = DK_TID; i < nA; i += DK_NT)
        if (!dk_finite((double)gOp[i])) DK_MIN_U64(&bad, dk_what(DK_WHAT_GRAD_OP, i));
    for (dk_i64 i = DK_TID; i < nEdges; i += DK_NT)
        if (!dk_finite((double)gEdge[i])) DK_MIN_U64(&bad, dk_what(DK_WHAT_GRAD_EDGE, i));
    DK_SYNC();
    if (bad == DK_NONE) {
        /* 2. dalpha per edge, fastGradients' three passes folded into one per row */
        const double cA = F[DK_F_LAMBDA_C] * (F[DK_F_LAMBDA_ALPHA] * (I[DK_I_CONTROL] ? F[DK_F_BOOST_OP] : 1));
        const double cB = F[DK_F_LAMBDA_C] * (F[DK_F_LAMBDA_BETA] * (I[DK_I_CONTROL] ? F[DK_F_BOOST_EDGE] : 1));
        for (int e = DK_TID; e < nEdges; e += DK_NT) {
            const dk_i64 off = (dk_i64)e * nOps;
            const double *a = alpha + off;
            const float *g = gOp + off;
            double *A = opW + off, *d = dA + off, dz, mx;
            for (int o = 0; o < nOps; o++) d[o] = dk_logit(daas, a[o], &dz);
            double lsum = dk_log(dk_exp_shifted(d, A, nOps, &mx));
            double shift = mx + lsum, inv = dk_exp(-lsum), dot = 0, h = 0;
            for (int o = 0; o < nOps; o++) {
                A[o] *= inv;
                d[o] -= shift;
                dot += A[o] * (double)g[o];
                h -= A[o] * d[o];
            }
            for (int o = 0; o < nOps; o++) {
                double dg;
                (void)dk_logit(daas, a[o], &dg);
                double dzo = A[o] * ((double)g[o] - dot) - cA * (A[o] * (d[o] + h));
                d[o] = dg * dzo;
            }
        }
        /* 3. dbeta per node */
        for (int j = DK_TID; j < nNodes; j += DK_NT) {
            const dk_i64 *nd = DK_NODE(I, j);
            const int edge = (int)nd[0], n = (int)nd[1];
            const double *b = beta + edge;
            const float *g = gEdge + edge;
            double *d = dB + edge, *mm = rm + edge, *q = rq + edge, *lq = rlq + edge, mx;
            for (int i = 0; i < n; i++) d[i] = 0;
            if (!daas || !nd[3]) continue;
            for (int i = 0; i < n; i++) mm[i] = dk_min(b[i], 1);
            double s = dk_exp_shifted(mm, q, n, &mx);
            double ls = dk_log(s), inv = 1 / s;
            for (int i = 0; i < n; i++) {
                lq[i] = (mm[i] - mx) - ls;
                q[i] *= inv;
            }
            double dot = 0, h = 0, pos = 0;
            for (int i = 0; i < n; i++) {
                dot += q[i] * (double)g[i];
                h -= q[i] * lq[i];
            }
            for (int i = 0; i < n; i++) pos += dk_max(mm[i], 0);
            double pen = (2 * F[DK_F_WSUM]) * (pos - (double)nd[2]);
            for (int i = 0; i < n; i++) {
                if (b[i] >= 1) continue;
                double dm = (double)n * (q[i] * ((double)g[i] - dot)) - cB * (q[i] * (lq[i] + h));
                if (mm[i] > 0) dm += cB * pen;
                d[i] = dm;
            }
        }
        DK_SYNC();
        for (dk_i64 i = DK_TID; i < nA; i += DK_NT)
            if (!dk_finite(dA[i])) DK_MIN_U64(&bad, dk_what(DK_WHAT_D_ALPHA, i));
        for (dk_i64 i = DK_TID; i < nEdges; i += DK_NT)
            if (!dk_finite(dB[i])) DK_MIN_U64(&bad, dk_what(DK_WHAT_D_BETA, i));
    }
    DK_SYNC();
    if (bad == DK_NONE) {
        /* 4. Adam into the new arrays, with the bounds checked */
        const dk_i64 tA = I[DK_I_STEP_A] + 1, tB = I[DK_I_STEP_B] + 1;
        const double sA = F[DK_F_LR_ALPHA] / (1 - dk_pow(F[DK_F_A_B1], tA));
        const double iA = 1 / DK_SQRT(1 - dk_pow(F[DK_F_A_B2], tA));
        for (dk_i64 i = DK_TID; i < nA; i += DK_NT)
            if (!dk_adam_entry(F, 0, i, alpha, DK_ARR(DK_A_ALPHA_M), DK_ARR(DK_A_ALPHA_V), dA, DK_ARR(DK_A_NEW_ALPHA),
                               DK_ARR(DK_A_NEW_ALPHA_M), DK_ARR(DK_A_NEW_ALPHA_V), sA, iA))
                DK_MIN_U64(&bad, dk_what(DK_WHAT_BOUNDS_ALPHA, i));
        if (daas) {
            const double sB = F[DK_F_B_LR] / (1 - dk_pow(F[DK_F_B_B1], tB));
            const double iB = 1 / DK_SQRT(1 - dk_pow(F[DK_F_B_B2], tB));
            for (int j = DK_TID; j < nNodes; j += DK_NT) {
                const dk_i64 *nd = DK_NODE(I, j);
                if (!nd[3]) continue;
                for (dk_i64 i = nd[0]; i < nd[0] + nd[1]; i++)
                    if (!dk_adam_entry(F, 1, i, beta, DK_ARR(DK_A_BETA_M), DK_ARR(DK_A_BETA_V), dB, DK_ARR(DK_A_NEW_BETA),
                                       DK_ARR(DK_A_NEW_BETA_M), DK_ARR(DK_A_NEW_BETA_V), sB, iB))
                        DK_MIN_U64(&bad, dk_what(DK_WHAT_BOUNDS_BETA, i));
            }
        }
    }
    DK_SYNC();
    if (bad != DK_NONE) {
        if (DK_TID == 0) {
            dk_refuse(I, bad);
            I[DK_I_CALLS]++;
        }
        return;
    }
    /* 5. commit: the whole step, as the host engine does */
    for (dk_i64 i = DK_TID; i < nA; i += DK_NT) {
        alpha[i] = DK_ARR(DK_A_NEW_ALPHA)[i];
        DK_ARR(DK_A_ALPHA_M)[i] = DK_ARR(DK_A_NEW_ALPHA_M)[i];
        DK_ARR(DK_A_ALPHA_V)[i] = DK_ARR(DK_A_NEW_ALPHA_V)[i];
    }
    if (daas)
        for (int j = DK_TID; j < nNodes; j += DK_NT) {
            const dk_i64 *nd = DK_NODE(I, j);
            if (!nd[3]) continue;
            for (dk_i64 i = nd[0]; i < nd[0] + nd[1]; i++) {
                beta[i] = DK_ARR(DK_A_NEW_BETA)[i];
                DK_ARR(DK_A_BETA_M)[i] = DK_ARR(DK_A_NEW_BETA_M)[i];
                DK_ARR(DK_A_BETA_V)[i] = DK_ARR(DK_A_NEW_BETA_V)[i];
            }
        }
    DK_SYNC();
    if (DK_TID == 0) {
        I[DK_I_STEP_A]++;
        if (daas) I[DK_I_STEP_B]++;
        I[DK_I_STEPS]++;
        I[DK_I_EPOCH_STEPS]++;
        I[DK_I_CALLS]++;
    }
    if (!I[DK_I_CONTROL] || F[DK_F_CONTROL_ON] == 0) return;
    /* 6. the discreteness controller (control.go): op weights, then each node's kept figures */
    for (int e = DK_TID; e < nEdges; e += DK_NT) /* dalpha is free again: it holds the logits */
        dk_op_row(daas, alpha + (dk_i64)e * nOps, dA + (dk_i64)e * nOps, opW + (dk_i64)e * nOps, nOps);
    DK_SYNC();
    double *nodeWeakest = DK_ARR(DK_A_NODE_WEAKEST), *nodeMass = DK_ARR(DK_A_NODE_MASS);
    dk_i64 *orderAll = I + DK_I_HEAD + (dk_i64)nNodes * DK_NODE_INTS + nOps;
    for (int j = DK_TID; j < nNodes; j += DK_NT) {
        const dk_i64 *nd = DK_NODE(I, j);
        const int edge = (int)nd[0], n = (int)nd[1], k = (int)nd[2], learn = (int)nd[3];
        dk_i64 *order = orderAll + edge;
        double *strength = rm + edge, *share = rq + edge, *mm = rlq + edge, *bestW = DK_ARR(DK_A_ROW_S) + edge;
        for (int i = 0; i < n; i++) {
            const dk_i64 e = edge + i;
            order[i] = i;
            bestW[i] = opW[e * nOps + dk_best_op(alpha + e * nOps, disc, nOps)];
            strength[i] = daas ? beta[e] : bestW[i];
        }
        if (learn || !daas) /* a stable sort: strongest first, ties keep the lower input first */
            for (int i = 1; i < n; i++)
                for (int t = i; t > 0 && strength[order[t - 1]] < strength[order[t]]; t--) {
                    dk_i64 x = order[t];
                    order[t] = order[t - 1];
                    order[t - 1] = x;
                }
        if (!learn || !daas) {
            for (int i = 0; i < n; i++) share[i] = 1 / (double)n;
        } else {
            double inv = 1 / dk_edge_row(beta + edge, mm, share, n);
            for (int i = 0; i < n; i++) share[i] *= inv;
        }
        double weakest = 1, kept = 0;
        for (int r = 0; r < k; r++) {
            weakest = dk_min(weakest, bestW[order[r]]);
            kept += share[order[r]];
        }
        nodeWeakest[j] = weakest, nodeMass[j] = kept;
    }
    DK_SYNC();
    if (DK_TID == 0) {
        double weakest = 1, mass = 1;
        for (int j = 0; j < nNodes; j++) {
            weakest = dk_min(weakest, nodeWeakest[j]);
            mass = dk_min(mass, nodeMass[j]);
        }
        const double gain = F[DK_F_GAIN], decay = F[DK_F_DECAY], maxB = F[DK_F_MAX_BOOST];
        if (F[DK_F_EDGE_TARGET] > 0)
            F[DK_F_BOOST_OP] = weakest < F[DK_F_TAU_OP] ? dk_min(F[DK_F_BOOST_OP] * (1 + gain), maxB)
                                                        : dk_max(F[DK_F_BOOST_OP] * (1 - decay), 1);
        if (F[DK_F_MASS_TARGET] > 0)
            F[DK_F_BOOST_EDGE] = mass < F[DK_F_TAU_EDGE] ? dk_min(F[DK_F_BOOST_EDGE] * (1 + gain), maxB)
                                                         : dk_max(F[DK_F_BOOST_EDGE] * (1 - decay), 1);
    }
#undef DK_ARR
}

#endif
