package engine

import "math"

// The engine's own exp and log. math.Exp on amd64 takes an FMA code path only on processors that have
// FMA, so its last bit can differ between machines; these versions use plain float64 operations with
// explicit conversions (which forbid the compiler from fusing multiply-adds), so every machine
// computes the same bits. Both are accurate to about one unit in the last place.

const (
	ln2Hi  = 6.93147180369123816490e-01  // upper bits of ln 2, exact in k*ln2Hi for |k| < 2^11
	ln2Lo  = 1.90821492927058770002e-10  // ln 2 - ln2Hi
	expMax = 7.09782712893383973096e+02  // above: +Inf
	expMin = -7.45133219101941108420e+02 // below: 0

	ln2By32Hi  = 0x1.62e42fee00000p-6  // ln(2)/32 to 32 bits: n*ln2By32Hi is exact for |n| < 2^20
	ln2By32Lo  = 0x1.a39ef35793c76p-38 // ln(2)/32 - ln2By32Hi
	invLn2x32  = 0x1.71547652b82fep+5  // 32/ln(2)
	roundMagic = 0x1.8p52              // adding it rounds a float64 of magnitude < 2^51 to an integer

	sqrt2Mantissa = 0x6a09e667f3bcd // the mantissa bits of math.Sqrt2
)

// exp2By32 holds 2^(j/32), j = 0..31, correctly rounded.
var exp2By32 = [32]float64{
	0x1.0000000000000p+0, 0x1.059b0d3158574p+0, 0x1.0b5586cf9890fp+0, 0x1.11301d0125b51p+0,
	0x1.172b83c7d517bp+0, 0x1.1d4873168b9aap+0, 0x1.2387a6e756238p+0, 0x1.29e9df51fdee1p+0,
	0x1.306fe0a31b715p+0, 0x1.371a7373aa9cbp+0, 0x1.3dea64c123422p+0, 0x1.44e086061892dp+0,
	0x1.4bfdad5362a27p+0, 0x1.5342b569d4f82p+0, 0x1.5ab07dd485429p+0, 0x1.6247eb03a5585p+0,
	0x1.6a09e667f3bcdp+0, 0x1.71f75e8ec5f74p+0, 0x1.7a11473eb0187p+0, 0x1.82589994cce13p+0,
	0x1.8ace5422aa0dbp+0, 0x1.93737b0cdc5e5p+0, 0x1.9c49182a3f090p+0, 0x1.a5503b23e255dp+0,
	0x1.ae89f995ad3adp+0, 0x1.b7f76f2fb5e47p+0, 0x1.c199bdd85529cp+0, 0x1.cb720dcef9069p+0,
	0x1.d5818dcfba487p+0, 0x1.dfc97337b9b5fp+0, 0x1.ea4afa2a490dap+0, 0x1.f50765b6e4540p+0,
}

// dexp returns e**x, computed the same way on every machine: x = (32k + j) ln2/32 + r with
// |r| <= ln2/64, e**x = 2^k * 2^(j/32) * e**r, and e**r - 1 by its Taylor polynomial to degree 6.
func dexp(x float64) float64 {
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
	return scale2(t+float64(t*q), n>>5)
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
	// m in [1, 2) from x's mantissa, halved when above √2 (then k is one more). The test m > √2 is
	// done on the mantissa bits without a branch: which way it goes depends on the data, so a branch
	// would be mispredicted about as often as not.
	bits := math.Float64bits(x)
	mant := bits & (1<<52 - 1)
	above := (sqrt2Mantissa - mant) >> 63 // 1 when mant > √2's mantissa, i.e. m > √2
	k += int(bits>>52) - 1023 + int(above)
	m := math.Float64frombits(mant | (1023-above)<<52)
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

// isFinite reports whether x is neither NaN nor ±Inf: x-x is 0 for every finite x and NaN for the
// others. It is one subtraction and one comparison once inlined, so the checks of every step's
// gradients use it as well as the configuration checks.
func isFinite[F float32 | float64](x F) bool { return x-x == 0 }

// firstNonFinite returns the index of the first NaN or ±Inf in xs, or -1 if there is none.
func firstNonFinite[F float32 | float64](xs []F) int {
	for i, x := range xs {
		if !isFinite(x) {
			return i
		}
	}
	return -1
}

// Exp and Log are the engine's own exp and log, for code that must compute the same bits elsewhere
// (the device engine's kernels are tested against them).
func Exp(x float64) float64 { return dexp(x) }

// Log: see Exp.
func Log(x float64) float64 { return dlog(x) }
