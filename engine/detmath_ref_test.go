package engine

import (
	"math"
	"math/rand/v2"
	"testing"
)

// The reference copies below are the engine's exp and log as they stood when the step digests
// (testdata/step_digests.txt) were recorded. Any faster version must return the same bits for every
// input: TestDetMathBitIdentical compares them on tens of millions of inputs and the edge cases.

// dexpRef is dexp as it was before the engine step was made faster (the bit-identity reference); it returns e**x, computed the same way on every machine: x = (32k + j) ln2/32 + r with
// |r| <= ln2/64, e**x = 2^k * 2^(j/32) * e**r, and e**r - 1 by its Taylor polynomial to degree 6.
func dexpRef(x float64) float64 {
	switch {
	case x != x:
		return x
	case x > expMax:
		return math.Inf(1)
	case x < expMin:
		return 0
	}
	nf := float64(float64(x*invLn2x32)+roundMagic) - roundMagic
	n := int(nf)
	r := float64(x-float64(nf*ln2By32Hi)) - float64(nf*ln2By32Lo)
	p := float64(r*(1.0/720)) + 1.0/120
	p = float64(p*r) + 1.0/24
	p = float64(p*r) + 1.0/6
	p = float64(p*r) + 0.5
	q := r + float64(float64(r*r)*p) // e**r - 1
	t := exp2By32[n&31]
	return scale2Ref(t+float64(t*q), n>>5)
}

// scale2Ref is the old scale2; it returns y * 2**k exactly (or the correctly rounded subnormal).
func scale2Ref(y float64, k int) float64 {
	if k > 1000 {
		y *= 0x1p1000
		k -= 1000
	} else if k < -1000 {
		y *= 0x1p-1000
		k += 1000
	}
	return y * math.Float64frombits(uint64(k+1023)<<52)
}

// dlogRef is dlog as it was before the engine step was optimized; it returns the natural logarithm of x, computed the same way on every machine.
func dlogRef(x float64) float64 {
	switch {
	case x != x || x < 0:
		return math.NaN()
	case x == 0:
		return math.Inf(-1)
	case math.IsInf(x, 1):
		return x
	}
	k := 0
	if x < 0x1p-1022 { // subnormal: scale into the normal range first
		x *= 0x1p54
		k = -54
	}
	bits := math.Float64bits(x)
	k += int(bits>>52) - 1023
	m := math.Float64frombits(bits&(1<<52-1) | 1023<<52) // m in [1, 2)
	if m > math.Sqrt2 {
		m *= 0.5
		k++
	}
	f := m - 1
	s := f / (2 + f)
	z := float64(s * s)
	// log(1+f) = 2 atanh(s) = 2s (1 + p), p = z/3 + z^2/5 + ... + z^10/21 (|s| < 0.1716, z < 0.0295).
	p := float64(z*(1.0/21)) + 1.0/19
	p = float64(p*z) + 1.0/17
	p = float64(p*z) + 1.0/15
	p = float64(p*z) + 1.0/13
	p = float64(p*z) + 1.0/11
	p = float64(p*z) + 1.0/9
	p = float64(p*z) + 1.0/7
	p = float64(p*z) + 1.0/5
	p = float64(p*z) + 1.0/3
	p = float64(p * z)
	// 2s equals f - s*f in real arithmetic and that form loses fewer bits.
	twoS := f - float64(s*f)
	r := float64(twoS*p) + twoS
	fk := float64(k)
	return float64(fk*ln2Hi) + (r + float64(fk*ln2Lo))
}

// bitIdentityInputs calls f with the edge cases and then n inputs from each of: uniformly random bit
// patterns (every exponent, NaNs and subnormals included), the ranges the step feeds exp (shifted
// logits in [-50, 0], |x| < 750) and log (sums of shifted exponentials in [1, 64], any positive
// float), and the neighbourhoods of the branch points (√2's mantissa, subnormal bounds, exp's limits).
func bitIdentityInputs(n int, f func(x float64)) {
	edges := []float64{0, math.Copysign(0, -1), 1, -1, 2, 0.5, math.Sqrt2, math.Inf(1), math.Inf(-1), math.NaN(),
		math.MaxFloat64, -math.MaxFloat64, math.SmallestNonzeroFloat64, 0x1p-1022, 0x1p-1023, expMax, expMin,
		709.78, -745.13, -708.4, -708.3, 1e-300, 1e300, ln2Hi, -ln2Hi, 0x1p52, 0x1.8p52}
	for _, x := range edges {
		for _, y := range []float64{x, -x, math.Nextafter(x, math.Inf(1)), math.Nextafter(x, math.Inf(-1))} {
			f(y)
		}
	}
	for b := math.Float64bits(math.Sqrt2) - 1000; b < math.Float64bits(math.Sqrt2)+1000; b++ {
		for _, e := range []uint64{0, 1, 2, 1023, 1030, 2000} { // the same mantissas at other exponents
			f(math.Float64frombits(b&(1<<52-1) | e<<52))
		}
	}
	for k := -1100; k <= 1100; k++ { // powers of two and their neighbours, and k·ln2/32 for exp's table
		p := math.Ldexp(1, k)
		f(p)
		f(math.Nextafter(p, 0))
		f(math.Nextafter(p, math.Inf(1)))
		f(float64(k) * math.Ln2 / 32)
	}
	rng := rand.New(rand.NewPCG(16, 16))
	for i := 0; i < n; i++ {
		f(math.Float64frombits(rng.Uint64()))
		f(-50 * rng.Float64())
		f((rng.Float64()*2 - 1) * 750)
		f(1 + 63*rng.Float64())
		f(math.Exp((rng.Float64()*2 - 1) * 745))
	}
}

func TestDetMathBitIdentical(t *testing.T) {
	n := 4_000_000 // five kinds each: 20 million inputs per function
	if testing.Short() {
		n = 200_000
	}
	bad := 0
	bitIdentityInputs(n, func(x float64) {
		for _, c := range []struct {
			name      string
			got, want float64
		}{{"dexp", dexp(x), dexpRef(x)}, {"dlog", dlog(x), dlogRef(x)}} {
			if math.Float64bits(c.got) != math.Float64bits(c.want) { // NaNs too: the same payload
				if bad++; bad <= 10 {
					t.Errorf("%s(%v = %#x) = %v, the reference gives %v", c.name, x, math.Float64bits(x), c.got, c.want)
				}
			}
		}
	})
	if bad > 0 {
		t.Errorf("%d inputs differ", bad)
	}
}

// expShifted writes dexp's arithmetic out inline; for every x <= 0 it must give dexpRef(x) (the row
// [0, x] has its maximum at 0, so the second exponential is exp(x) itself).
func TestExpShiftedBitIdentical(t *testing.T) {
	n := 4_000_000
	if testing.Short() {
		n = 200_000
	}
	bad := 0
	z, p := make([]float64, 2), make([]float64, 2)
	bitIdentityInputs(n, func(x float64) {
		if x > 0 {
			x = -x
		}
		if x != x {
			return // the logits are finite
		}
		z[0], z[1] = 0, x
		m, sum := expShifted(z, p)
		if got, want := p[1], dexpRef(x); m != 0 || math.Float64bits(got) != math.Float64bits(want) || sum != 1+want {
			if bad++; bad <= 10 {
				t.Errorf("expShifted([0, %v]) = %v (sum %v), dexpRef gives %v", x, got, sum, want)
			}
		}
	})
	if bad > 0 {
		t.Errorf("%d inputs differ", bad)
	}
}
