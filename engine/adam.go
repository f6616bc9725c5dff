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
	bc2 := math.Sqrt(1 - dpow(b2, s.Step))
	update := func(lo, hi int) {
		for i := lo; i < hi; i++ {
			g := grad[i] + float64(a.WeightDecay*p[i])
			s.M[i] = float64(b1*s.M[i]) + float64((1-b1)*g)
			s.V[i] = float64(b2*s.V[i]) + float64(float64((1-b2)*g)*g)
			denom := math.Sqrt(s.V[i])/bc2 + a.Eps
			p[i] -= float64(stepSize * (s.M[i] / denom))
		}
	}
	if nodes == nil {
		update(0, len(p))
		return
	}
	for _, nd := range nodes {
		if nd.learnable() {
			update(nd.edge, nd.edge+nd.n)
		}
	}
}
