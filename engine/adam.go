package engine

import "math"

// The bounds every state keeps (Load refuses a state outside them and Step refuses a result outside
// them, so whatever Step commits saves and loads again). They lie far beyond anything a search
// reaches (α and β move about lr per step) and far enough inside float64 that the sharpening
// (2t)^3, its derivative 24t^2, the squared gradients and the float32 weights all stay finite.
const (
	paramLimit  = 1e12  // |α|, |β|
	momentLimit = 1e100 // |m|; v <= momentLimit^2
)

// paramInRange, momentInRange and varianceInRange are false for NaN and ±Inf.
func paramInRange(x float64) bool    { return x >= -paramLimit && x <= paramLimit }
func momentInRange(x float64) bool   { return x >= -momentLimit && x <= momentLimit }
func varianceInRange(x float64) bool { return x >= 0 && x <= momentLimit*momentLimit }

// adamState is one parameter group's torch.optim.Adam state.
type adamState struct {
	Step int64
	M, V []float64
}

func newAdamState(n int) adamState { return adamState{M: make([]float64, n), V: make([]float64, n)} }

// firstOutOfRange returns the first index i where p[i], M[i] or V[i] is outside the state's
// bounds, with the name of the offending array, or -1.
func (s *adamState) firstOutOfRange(p []float64) (int, string) {
	for i := range p {
		switch {
		case !paramInRange(p[i]):
			return i, ""
		case !momentInRange(s.M[i]):
			return i, ".m"
		case !varianceInRange(s.V[i]):
			return i, ".v"
		}
	}
	return -1, ""
}

// biasPowers caches b1^t and b2^t for one (b1, b2, t): the α and β groups share them when their
// betas and step counts agree (the usual case), so each step computes them once.
type biasPowers struct {
	b1, b2     float64
	t          int64
	pow1, pow2 float64
}

func (c *biasPowers) at(b1, b2 float64, t int64) (pow1, pow2 float64) {
	if c.t != t || c.b1 != b1 || c.b2 != b2 {
		*c = biasPowers{b1: b1, b2: b2, t: t, pow1: dpow(b1, t), pow2: dpow(b2, t)}
	}
	return c.pow1, c.pow2
}

// step applies one Adam update with torch.optim.Adam's semantics: coupled L2 weight decay added to
// the gradient, bias correction, step_size = lr / (1 - b1^t), denom = sqrt(v) / sqrt(1 - b2^t) + eps.
// A learning rate of 0 leaves the parameters as they are while the moments still accumulate. When
// nodes is not nil, only the entries of learnable nodes are touched (constant β stays 1.0). It
// returns false when an updated entry left the state's bounds (a NaN or Inf in grad always does);
// the caller then restores p and s. pow caches the bias corrections' powers.
func (s *adamState) step(p, grad []float64, a Adam, lr float64, nodes []node, pow *biasPowers) bool {
	s.Step++
	pow1, pow2 := pow.at(a.Betas[0], a.Betas[1], s.Step)
	stepSize := lr / (1 - pow1)
	invBC2 := 1 / math.Sqrt(1-pow2)
	if nodes == nil {
		return s.update(p, grad, 0, len(p), a, stepSize, invBC2)
	}
	ok := true
	for _, nd := range nodes {
		if nd.learnable() {
			ok = s.update(p, grad, nd.edge, nd.edge+nd.n, a, stepSize, invBC2) && ok
		}
	}
	return ok
}

// update applies the Adam update to entries lo..hi-1; invBC2 = 1/sqrt(1 - b2^t). It reports whether
// every updated entry is within the state's bounds.
func (s *adamState) update(p, grad []float64, lo, hi int, a Adam, stepSize, invBC2 float64) bool {
	p = p[lo:hi]
	m, v, grad := s.M[lo:hi], s.V[lo:hi], grad[lo:hi]
	k := newAdamConstants(a, stepSize, invBC2)
	done, ok := adamPairs(p, m, v, grad, &k) // the vector kernel's share (vec.go), then Go's
	return adamScalar(p, m, v, grad, done, &k) && ok
}

// adamScalar is update's scalar loop, which adamPairs mirrors two entries at a time: it updates every
// entry of p (m, v and grad at least as long) and reports whether all stay within the state's bounds.
func adamScalar(p, m, v, grad []float64, from int, k *adamConstants) bool {
	b1, c1, b2, c2, wd, eps, stepSize, invBC2 := k.b1, k.c1, k.b2, k.c2, k.wd, k.eps, k.stepSize, k.invBC2
	m, v, grad = m[:len(p)], v[:len(p)], grad[:len(p)] // one bounds check per slice, not per entry
	ok := true
	for i := from; i < len(p); i++ {
		pi := p[i]
		g := grad[i] + float64(wd*pi)
		mi := float64(b1*m[i]) + float64(c1*g)
		vi := float64(b2*v[i]) + float64(float64(c2*g)*g)
		pi -= float64(stepSize * (mi / (float64(math.Sqrt(vi)*invBC2) + eps)))
		m[i], v[i], p[i] = mi, vi, pi
		// paramInRange and momentInRange as one comparison each on |x| (false for NaN as well)
		if !(math.Abs(pi) <= paramLimit && math.Abs(mi) <= momentLimit && varianceInRange(vi)) {
			ok = false
		}
	}
	return ok
}
