package engine

import "math"

// The engine's own exp and log. math.Exp on amd64 takes an FMA code path only on processors that have
// FMA, so its last bit can differ between machines; these versions use plain float64 operations with
// explicit conversions (which forbid the compiler from fusing multiply-adds), so every machine
// computes the same bits. Both are accurate to about one unit in the last place.

const (
	ln2Hi  = 6.93147180369123816490e-01 // upper bits of ln 2, exact in k*ln2Hi for |k| < 2^11
	ln2Lo  = 1.90821492927058770002e-10 // ln 2 - ln2Hi
	log2e  = 1.44269504088896338700e+00
	expMax = 7.09782712893383973096e+02 // above: +Inf
	expMin = -7.45133219101941108420e+02 // below: 0
)

// expTaylor holds 1/n! for n = 13 down to 2, for the Horner evaluation of exp on |r| <= ln2/2.
var expTaylor = [...]float64{
	1.0 / 6227020800, 1.0 / 479001600, 1.0 / 39916800, 1.0 / 3628800, 1.0 / 362880, 1.0 / 40320,
	1.0 / 5040, 1.0 / 720, 1.0 / 120, 1.0 / 24, 1.0 / 6, 1.0 / 2,
}

// dexp returns e**x, computed the same way on every machine.
func dexp(x float64) float64 {
	switch {
	case x != x:
		return x
	case x > expMax:
		return math.Inf(1)
	case x < expMin:
		return 0
	}
	k := math.Floor(float64(x*log2e) + 0.5)
	r := float64(x-float64(k*ln2Hi)) - float64(k*ln2Lo)
	p := expTaylor[0]
	for _, c := range expTaylor[1:] {
		p = float64(p*r) + c
	}
	// exp(r) = 1 + r + r^2 * p(r)
	y := 1 + (r + float64(float64(r*r)*p))
	return scale2(y, int(k))
}

// scale2 returns y * 2**k exactly (or the correctly rounded subnormal).
func scale2(y float64, k int) float64 {
	if k > 1000 {
		y *= 0x1p1000
		k -= 1000
	} else if k < -1000 {
		y *= 0x1p-1000
		k += 1000
	}
	return y * math.Float64frombits(uint64(k+1023)<<52)
}

// dlog returns the natural logarithm of x, computed the same way on every machine.
func dlog(x float64) float64 {
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
	// log(1+f) = 2 atanh(s) = 2s (1 + p), p = z/3 + z^2/5 + ... (|s| < 0.1716, so 11 terms suffice).
	p := 1.0 / 23
	for n := 21; n >= 3; n -= 2 {
		p = float64(p*z) + 1/float64(n)
	}
	p = float64(p * z)
	// 2s equals f - s*f in real arithmetic and that form loses fewer bits.
	twoS := f - float64(s*f)
	r := float64(twoS*p) + twoS
	fk := float64(k)
	return float64(fk*ln2Hi) + (r + float64(fk*ln2Lo))
}

// dpow returns b**n for n >= 0 by repeated squaring.
func dpow(b float64, n int64) float64 {
	r := 1.0
	for n > 0 {
		if n&1 == 1 {
			r *= b
		}
		b *= b
		n >>= 1
	}
	return r
}
