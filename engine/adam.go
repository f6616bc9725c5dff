package engine

import "math"

// adamState is one parameter group's torch.optim.Adam state.
type adamState struct {
	Step int64
	M, V []float64
}

func newAdamState(n int) adamState { return adamState{M: make([]float64, n), V: make([]float64, n)} }

// step applies one Adam update with torch.optim.Adam's semantics: coupled L2 weight decay added to
// the gradient, bias correction, step_size = lr / (1 - b1^t), denom = sqrt(v) / sqrt(1 - b2^t) + eps.
// A learning rate of 0 leaves the parameters as they are while the moments still accumulate. When
// nodes is not nil, only the entries of learnable nodes are touched (constant β stays 1.0).
func (s *adamState) step(p, grad []float64, a Adam, lr float64, nodes []node) {
	s.Step++
	b1, b2 := a.Betas[0], a.Betas[1]
	stepSize := lr / (1 - dpow(b1, s.Step))
	invBC2 := 1 / math.Sqrt(1-dpow(b2, s.Step))
	if nodes == nil {
		s.update(p, grad, 0, len(p), a, stepSize, invBC2)
		return
	}
	for _, nd := range nodes {
		if nd.learnable() {
			s.update(p, grad, nd.edge, nd.edge+nd.n, a, stepSize, invBC2)
		}
	}
}

// update applies the Adam update to entries lo..hi-1; invBC2 = 1/sqrt(1 - b2^t).
func (s *adamState) update(p, grad []float64, lo, hi int, a Adam, stepSize, invBC2 float64) {
	b1, b2, wd, eps := a.Betas[0], a.Betas[1], a.WeightDecay, a.Eps
	m, v, p, grad := s.M[lo:hi], s.V[lo:hi], p[lo:hi], grad[lo:hi]
	for i := range p {
		g := grad[i] + float64(wd*p[i])
		m[i] = float64(b1*m[i]) + float64((1-b1)*g)
		v[i] = float64(b2*v[i]) + float64(float64((1-b2)*g)*g)
		denom := float64(math.Sqrt(v[i])*invBC2) + eps
		p[i] -= float64(stepSize * (m[i] / denom))
	}
}
