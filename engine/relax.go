package engine

// sharpen is the DAAS sharpening g(t) = 2t for t >= -1/2 and (2t)^3 below, with its derivative.
func sharpen(t float64) (g, dg float64) {
	if t >= -0.5 {
		return 2 * t, 2
	}
	x := 2 * t
	return float64(x*x) * x, float64(24 * t * t)
}

// sharpenSlope is sharpen's derivative g'(t) alone, for the gradient pass (the same bits as sharpen's dg).
func sharpenSlope(t float64) float64 {
	if t >= -0.5 {
		return 2
	}
	return float64(24 * t * t)
}

// expShifted writes exp(z_i - max z) into p and returns max z and the sum of p: the shared part of
// softmaxRow and logSoftmaxRow, shifted by the row's own maximum so no row over- or underflows.
func expShifted(z, p []float64) (m, sum float64) {
	m = z[0]
	for _, v := range z[1:] {
		if v > m { // not max(): the logits are finite, so its NaN and signed-zero care is not needed
			m = v
		}
	}
	p = p[:len(z)]
	done := expPairs(z, m, p, &expKernel) // the vector kernel's share (vec.go), then Go's
	expShiftedScalar(z, m, p, done)
	for _, y := range p {
		sum += y
	}
	return m, sum
}

// expShiftedScalar writes exp(z_i - m) into p[i] for i >= from, where m >= max z: expShifted's scalar
// loop, which expPairs mirrors two entries at a time.
func expShiftedScalar(z []float64, m float64, p []float64, from int) {
	p = p[:len(z)]
	for i := from; i < len(z); i++ {
		x := z[i] - m // <= 0, so only dexp's lower limit can apply (and NaN goes to dexp)
		y := 0.0
		if x >= expMin {
			// dexp's arithmetic for expMin <= x <= expMax, written out here because a call per
			// exponential costs a twentieth of a step; TestExpShiftedBitIdentical holds it to dexp.
			nf := float64(float64(x*invLn2x32)+roundMagic) - roundMagic
			n := int(nf)
			r := float64(x-float64(nf*ln2By32Hi)) - float64(nf*ln2By32Lo)
			q := float64(r*(1.0/720)) + 1.0/120
			q = float64(q*r) + 1.0/24
			q = float64(q*r) + 1.0/6
			q = float64(q*r) + 0.5
			q = r + float64(float64(r*r)*q)
			t := exp2By32[n&31]
			y = scale2(t+float64(t*q), n>>5)
		} else {
			y = dexp(x)
		}
		p[i] = y
	}
}

// logSoftmaxRow writes z's log-softmax into logp and its softmax into p (both len(z)).
func logSoftmaxRow(z, logp, p []float64) {
	m, s := expShifted(z, p)
	ls := dlog(s)
	inv := 1 / s
	for i, v := range z {
		logp[i] = (v - m) - ls
		p[i] *= inv
	}
}

// softmaxRow writes z's softmax into p.
func softmaxRow(z, p []float64) {
	_, s := expShifted(z, p)
	inv := 1 / s
	for i := range p {
		p[i] *= inv
	}
}

// relaxOps32 writes the op weights as float32, touching no engine state (read-only callers may run
// concurrently).
func (e *Engine) relaxOps32(alpha []float64, out []float32) {
	nOps := e.lay.nOps
	var zbuf, pbuf [64]float64
	z, p := zbuf[:], pbuf[:]
	if nOps > len(zbuf) {
		z, p = make([]float64, nOps), make([]float64, nOps)
	}
	z, p = z[:nOps], p[:nOps]
	for off := 0; off < len(alpha); off += nOps {
		e.logits(alpha[off:off+nOps], z, nil)
		softmaxRow(z, p)
		for i, v := range p {
			out[off+i] = float32(v)
		}
	}
}

// relaxOps writes the op weights A = softmax(g(α_e)) per edge (plain softmax(α_e) for DARTS).
func (e *Engine) relaxOps(alpha, out []float64) {
	nOps := e.lay.nOps
	var zbuf [64]float64
	z := zbuf[:]
	if nOps > len(zbuf) {
		z = make([]float64, nOps)
	}
	z = z[:nOps]
	for off := 0; off < len(alpha); off += nOps {
		e.logits(alpha[off:off+nOps], z, nil)
		softmaxRow(z, out[off:off+nOps])
	}
}

// logits writes z = g(α) (or α for DARTS) and, when dz is not nil, dz/dα.
func (e *Engine) logits(alpha, z, dz []float64) {
	if e.cfg.Method == MethodDARTS {
		copy(z, alpha)
		for i := range dz {
			dz[i] = 1
		}
		return
	}
	for i, a := range alpha {
		g, dg := sharpen(a)
		z[i] = g
		if dz != nil {
			dz[i] = dg
		}
	}
}

// edgeWeights writes W: n_j * softmax(min(β_j, 1)) on nodes with k_j < n_j, 1 elsewhere.
func (e *Engine) edgeWeights(beta []float64, out []float32) {
	var mbuf, pbuf, lbuf [64]float64
	for _, nd := range e.lay.nodes {
		b := beta[nd.edge : nd.edge+nd.n]
		if !nd.learnable() || e.cfg.Method == MethodDARTS {
			for i := range b {
				out[nd.edge+i] = 1
			}
			continue
		}
		m, p, _ := rowBuffers(nd.n, mbuf[:], pbuf[:], lbuf[:])
		clipBeta(b, m)
		softmaxRow(m, p)
		for i := range p {
			out[nd.edge+i] = float32(float64(nd.n) * p[i])
		}
	}
}

// rowBuffers returns three length-n slices, on the given stack arrays when they are long enough.
func rowBuffers(n int, a, b, c []float64) ([]float64, []float64, []float64) {
	if n > len(a) {
		return make([]float64, n), make([]float64, n), make([]float64, n)
	}
	return a[:n], b[:n], c[:n]
}

// clipBeta writes min(β_i, 1).
func clipBeta(b, m []float64) {
	for i, v := range b {
		m[i] = min(v, 1)
	}
}
