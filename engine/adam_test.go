package engine

import (
	"math"
	"math/rand/v2"
	"testing"
)

// refAdam is torch.optim.Adam's update written out from its documented algorithm (single tensor,
// amsgrad off, maximize off), kept apart from the engine's code on purpose.
type refAdam struct {
	lr, b1, b2, eps, wd float64
	t                   int
	m, v                []float64
}

func (r *refAdam) step(p, g []float64) {
	r.t++
	for i := range p {
		grad := g[i] + r.wd*p[i]
		r.m[i] = r.m[i]*r.b1 + (1-r.b1)*grad
		r.v[i] = r.v[i]*r.b2 + (1-r.b2)*grad*grad
		bc1 := 1 - math.Pow(r.b1, float64(r.t))
		bc2 := 1 - math.Pow(r.b2, float64(r.t))
		denom := math.Sqrt(r.v[i])/math.Sqrt(bc2) + r.eps
		p[i] -= r.lr / bc1 * r.m[i] / denom
	}
}

func TestAdamMatchesTorchFormula(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 7))
	a := Adam{LR: 0.01, Betas: [2]float64{0.5, 0.999}, Eps: 1e-8, WeightDecay: 1e-3}
	const n = 50
	p, q := make([]float64, n), make([]float64, n)
	for i := range p {
		p[i] = rng.NormFloat64()
		q[i] = p[i]
	}
	s := newAdamState(n)
	ref := refAdam{lr: a.LR, b1: a.Betas[0], b2: a.Betas[1], eps: a.Eps, wd: a.WeightDecay, m: make([]float64, n), v: make([]float64, n)}
	for k := 0; k < 200; k++ {
		g := make([]float64, n)
		for i := range g {
			g[i] = rng.NormFloat64() * math.Pow(10, float64(rng.IntN(7)-3))
		}
		s.step(p, g, a, a.LR, nil, &biasPowers{})
		ref.step(q, g)
		for i := range p {
			if !near(p[i], q[i], 1e-12) || !near(s.M[i], ref.m[i], 1e-12) || !near(s.V[i], ref.v[i], 1e-12) {
				t.Fatalf("step %d, entry %d: p %v m %v v %v, want %v %v %v", k+1, i, p[i], s.M[i], s.V[i], q[i], ref.m[i], ref.v[i])
			}
		}
	}
}

// TestAlphaLearningRateSwitch drives an engine across alpha_start_epoch: before it α stays put while
// its moments accumulate; from it on α follows torch.optim.Adam started from those moments.
func TestAlphaLearningRateSwitch(t *testing.T) {
	cfg := DefaultConfig()
	cfg.Epochs, cfg.Optimizer.AlphaStartEpoch, cfg.Loss.LambdaAlpha.Delay = 6, 3, 3
	cfg.Optimizer.Alpha.LR = 0.05
	e, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	nA, nE := e.Sizes()
	a := cfg.Optimizer.Alpha
	ref := refAdam{lr: a.LR, b1: a.Betas[0], b2: a.Betas[1], eps: a.Eps, wd: a.WeightDecay, m: make([]float64, nA), v: make([]float64, nA)}
	want := e.AlphaFloat64()
	rng := rand.New(rand.NewPCG(3, 4))
	gA, gE := make([]float32, nA), make([]float32, nE)
	for epoch := 1; epoch <= cfg.Epochs; epoch++ {
		if err := e.SetEpoch(epoch); err != nil {
			t.Fatal(err)
		}
		for s := 0; s < 4; s++ {
			for i := range gA {
				gA[i] = float32(rng.NormFloat64())
			}
			for i := range gE {
				gE[i] = float32(rng.NormFloat64())
			}
			before := e.AlphaFloat64()
			if err := e.Step(gA, gE); err != nil {
				t.Fatal(err)
			}
			ref.lr = a.LR
			if epoch < cfg.Optimizer.AlphaStartEpoch {
				ref.lr = 0
			}
			ref.step(want, e.dAlpha) // the gradient the engine computed for this step
			got := e.AlphaFloat64()
			for i := range got {
				if !near(got[i], want[i], 1e-12) {
					t.Fatalf("epoch %d step %d alpha[%d] = %v, want %v", epoch, s, i, got[i], want[i])
				}
				if epoch < cfg.Optimizer.AlphaStartEpoch && got[i] != before[i] {
					t.Fatalf("epoch %d: alpha moved before alpha_start_epoch", epoch)
				}
			}
		}
	}
	if e.adamA.Step != int64(4*cfg.Epochs) {
		t.Errorf("alpha Adam step count %d, want %d (moments accumulate from the first step)", e.adamA.Step, 4*cfg.Epochs)
	}
}
