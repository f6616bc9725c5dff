package engine

import (
	"math"
	"math/rand/v2"
	"testing"
)

// sameBits reports whether a and b have the same bits, or are both NaN (a NaN's payload depends on
// operand order, and every NaN makes a step refuse).
func sameBits(a, b float64) bool {
	return math.Float64bits(a) == math.Float64bits(b) || (a != a && b != b)
}

// TestExpKernelMatchesScalar holds the exponential kernel to expShiftedScalar bit for bit on rows
// of every length up to 9, some reaching below the kernel's range, and checks how far it gets: every
// entry up to the first pair (or odd last entry) outside its range on amd64, none elsewhere.
func TestExpKernelMatchesScalar(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 11))
	draws := []func() float64{
		func() float64 { return rng.NormFloat64() },
		func() float64 { return (rng.Float64()*2 - 1) * 400 },
		func() float64 { return -700 * rng.Float64() },
		func() float64 { return float64(rng.IntN(64)) * math.Ln2 / 32 },
	}
	z, kernel, scalar := make([]float64, 9), make([]float64, 9), make([]float64, 9)
	covered := 0
	for trial := 0; trial < 200000; trial++ {
		n := 1 + rng.IntN(9)
		draw := draws[rng.IntN(len(draws))]
		for i := range n {
			z[i] = draw()
		}
		if trial%7 == 0 {
			z[rng.IntN(n)] = -1e3 // below the kernel's range
		}
		m := z[0]
		for _, v := range z[1:n] {
			m = max(m, v)
		}
		want := 0
		if vectorKernels {
			in := func(i int) bool { return z[i]-m >= expKernelMin }
			for want+1 < n && in(want) && in(want+1) {
				want += 2
			}
			if want == n-1 && in(want) {
				want++
			}
		}
		done := expPairs(z[:n], m, kernel[:n], &expKernel)
		if done != want {
			t.Fatalf("row %v: the kernel did %d entries, want %d", z[:n], done, want)
		}
		covered += done
		expShiftedScalar(z[:n], m, kernel[:n], done)
		expShiftedScalar(z[:n], m, scalar[:n], 0)
		for i := range n {
			if !sameBits(kernel[i], scalar[i]) {
				t.Fatalf("row %v, entry %d: kernel %v (%#x), scalar %v (%#x)", z[:n], i,
					kernel[i], math.Float64bits(kernel[i]), scalar[i], math.Float64bits(scalar[i]))
			}
		}
	}
	if vectorKernels && covered == 0 {
		t.Fatal("the kernel did nothing")
	}
}

// TestAdamKernelMatchesScalar holds the Adam kernel to adamScalar bit for bit, with and without
// weight decay and with NaN, Inf and out-of-bounds entries in either lane, and checks that both
// report the bounds the same way.
func TestAdamKernelMatchesScalar(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 5))
	const size = 9
	var p, m, v, g [2][size]float64
	bad := []float64{math.NaN(), math.Inf(1), math.Inf(-1), 2e12, -2e12, 1e150}
	refused := 0
	for trial := 0; trial < 100000; trial++ {
		n := rng.IntN(size + 1)
		a := Adam{LR: 3e-4 * float64(1+rng.IntN(10)), Betas: [2]float64{0.5 + 0.4*rng.Float64(), 0.999}, Eps: 1e-8}
		if trial%2 == 0 {
			a.WeightDecay = 1e-3
		}
		k := newAdamConstants(a, a.LR/(1-0.5), 1/math.Sqrt(1-0.001*float64(1+rng.IntN(5))))
		for i := range n {
			p[0][i], m[0][i], v[0][i], g[0][i] = rng.NormFloat64(), 0.1*rng.NormFloat64(), 0.01*rng.Float64(), rng.NormFloat64()
		}
		if trial%5 == 0 && n > 0 {
			x := bad[rng.IntN(len(bad))]
			switch i := rng.IntN(n); rng.IntN(3) {
			case 0:
				g[0][i] = x
			case 1:
				p[0][i] = x
			default:
				m[0][i] = x
			}
		}
		p[1], m[1], v[1], g[1] = p[0], m[0], v[0], g[0]
		done, ok := adamPairs(p[0][:n], m[0][:n], v[0][:n], g[0][:n], &k)
		want := 0
		if vectorKernels {
			want = n &^ 1
		}
		if done != want {
			t.Fatalf("n %d: the kernel did %d entries, want %d", n, done, want)
		}
		ok = adamScalar(p[0][:n], m[0][:n], v[0][:n], g[0][:n], done, &k) && ok
		okScalar := adamScalar(p[1][:n], m[1][:n], v[1][:n], g[1][:n], 0, &k)
		if ok != okScalar {
			t.Fatalf("trial %d: kernel says in bounds %v, scalar %v", trial, ok, okScalar)
		}
		if !ok {
			refused++
		}
		for i := range n {
			if !sameBits(p[0][i], p[1][i]) || !sameBits(m[0][i], m[1][i]) || !sameBits(v[0][i], v[1][i]) {
				t.Fatalf("trial %d, entry %d: kernel p, m, v %v %v %v; scalar %v %v %v", trial, i,
					p[0][i], m[0][i], v[0][i], p[1][i], m[1][i], v[1][i])
			}
		}
	}
	if refused == 0 {
		t.Fatal("no trial left the bounds")
	}
}
