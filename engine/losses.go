package engine

// LossTerms are the discretization losses' parts at the current α and β (docs/DESIGN.md, The discretization losses and Schedules).
type LossTerms struct {
	OpEntropy        float64 // H_α: sum over cells and edges of the op weights' entropy
	EdgeEntropy      float64 // sum over learnable nodes of H(softmax(min(β_j, 1)))
	EdgeCountPenalty float64 // sum over learnable nodes of w_sum (Σ_i max(0, min(β_ji, 1)) - k_j)^2
}

// EdgeLoss returns L_E = EdgeEntropy + EdgeCountPenalty.
func (t LossTerms) EdgeLoss() float64 { return t.EdgeEntropy + t.EdgeCountPenalty }

// lossTerms evaluates the losses at the engine's α and β, in buffers of its own (read-only: concurrent
// readers may call it).
func (e *Engine) lossTerms() LossTerms {
	var t LossTerms
	nOps := e.lay.nOps
	z, lp, p := make([]float64, nOps), make([]float64, nOps), make([]float64, nOps)
	for off := 0; off < len(e.alpha); off += nOps {
		e.logits(e.alpha[off:off+nOps], z, nil)
		logSoftmaxRow(z, lp, p)
		t.OpEntropy += entropy(p, lp)
	}
	if e.cfg.Method == MethodDARTS {
		return t
	}
	for _, nd := range e.lay.nodes {
		if !nd.learnable() {
			continue
		}
		m, p, lp := make([]float64, nd.n), make([]float64, nd.n), make([]float64, nd.n)
		clipBeta(e.beta[nd.edge:nd.edge+nd.n], m)
		logSoftmaxRow(m, lp, p)
		t.EdgeEntropy += entropy(p, lp)
		d := positiveSum(m) - float64(nd.k)
		t.EdgeCountPenalty += e.cfg.Loss.WSum * d * d
	}
	return t
}

func entropy(p, logp []float64) float64 {
	h := 0.0
	for i := range p {
		h -= float64(p[i] * logp[i])
	}
	return h
}

func positiveSum(m []float64) float64 {
	s := 0.0
	for _, v := range m {
		s += max(v, 0)
	}
	return s
}

// fastGradients writes dα and dβ (docs/DESIGN.md, The Adam step) into e.dAlpha and e.dBeta with hand-derived formulas:
//
//	dz_o = A_o (G_o - <A, G>) - cα A_o (log A_o + H),  dα_o = g'(α_o) dz_o
//	dm_i = n q_i (G_i - <q, G>) + cβ (-q_i (log q_i + H_q) + 2 w_sum (S - k) [m_i > 0]),
//	dβ_i = [β_i < 1] dm_i
//
// with z = g(α), A = softmax(z), m = min(β, 1), q = softmax(m), S = Σ max(0, m). It allocates nothing
// for spaces of up to 64 ops and 64 inputs per node.
func (e *Engine) fastGradients(gradOp, gradEdge []float32, coef Coefficients) {
	nOps := e.lay.nOps
	cA, cB := coef.OpEntropy(), coef.EdgeLoss()
	daas := e.cfg.Method == MethodDAAS
	// Three passes, so that the per-edge logarithms run back to back (their latency overlaps):
	// 1. z = g(α) (kept in dAlpha for now) and the shifted exponentials, with each row's max and sum;
	for r, off := 0, 0; off < len(e.alpha); r, off = r+1, off+nOps {
		zr := e.dAlpha[off : off+nOps]
		e.logits(e.alpha[off:off+nOps], zr, nil)
		e.rowMax[r], e.rowLog[r] = expShifted(zr, e.opW[off:off+nOps])
	}
	// 2. log of each row's sum;
	for r, s := range e.rowLog {
		e.rowLog[r] = dlog(s)
	}
	// 3. A, log A, and the gradient.
	for r, off := 0, 0; off < len(e.alpha); r, off = r+1, off+nOps {
		a, g, A, d := e.alpha[off:off+nOps], gradOp[off:off+nOps], e.opW[off:off+nOps], e.dAlpha[off:off+nOps]
		g, A, d = g[:len(a)], A[:len(a)], d[:len(a)]
		shift, inv := e.rowMax[r]+e.rowLog[r], dexp(-e.rowLog[r])
		dot, h := 0.0, 0.0
		for o := range A {
			A[o] *= inv
			d[o] -= shift // log A_o = z_o - max - log(sum), kept in d until the gradient replaces it
			dot += float64(A[o] * float64(g[o]))
			h -= float64(A[o] * d[o])
		}
		if !daas { // dα = dz: the logits are α
			for o := range A {
				d[o] = float64(A[o]*(float64(g[o])-dot)) - float64(cA*float64(A[o]*(d[o]+h)))
			}
			continue
		}
		for o, t := range a {
			dzo := float64(A[o]*(float64(g[o])-dot)) - float64(cA*float64(A[o]*(d[o]+h)))
			d[o] = float64(sharpenSlope(t) * dzo)
		}
	}
	for i := range e.dBeta {
		e.dBeta[i] = 0
	}
	if e.cfg.Method == MethodDARTS {
		return
	}
	var mb, pb, qb [64]float64
	w := e.cfg.Loss.WSum
	for _, nd := range e.lay.nodes {
		if !nd.learnable() {
			continue
		}
		b, g, d := e.beta[nd.edge:nd.edge+nd.n], gradEdge[nd.edge:nd.edge+nd.n], e.dBeta[nd.edge:nd.edge+nd.n]
		m, q, lq := rowBuffers(nd.n, mb[:], pb[:], qb[:])
		clipBeta(b, m)
		logSoftmaxRow(m, lq, q)
		n := float64(nd.n)
		dot, h := 0.0, 0.0
		for i := range q {
			dot += float64(q[i] * float64(g[i]))
			h -= float64(q[i] * lq[i])
		}
		pen := float64(2*w) * (positiveSum(m) - float64(nd.k))
		for i := range q {
			if b[i] >= 1 {
				continue // min(β, 1) is flat here
			}
			dm := float64(n*float64(q[i]*(float64(g[i])-dot))) - float64(cB*float64(q[i]*(lq[i]+h)))
			if m[i] > 0 {
				dm += float64(cB * pen)
			}
			d[i] = dm
		}
	}
}
