package engine

import (
	"math"
	"math/rand/v2"
	"testing"
)

func ulpDiff(a, b float64) float64 {
	if a == b {
		return 0
	}
	return math.Abs(a-b) / math.Abs(math.Nextafter(b, math.Inf(1))-b)
}

func TestDetMathMatchesMath(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	worstExp, worstLog := 0.0, 0.0
	for i := 0; i < 200000; i++ {
		x := (rng.Float64()*2 - 1) * 700
		if i%2 == 0 {
			x = (rng.Float64()*2 - 1) * 5
		}
		worstExp = math.Max(worstExp, ulpDiff(dexp(x), math.Exp(x)))
		y := math.Exp((rng.Float64()*2 - 1) * 700)
		worstLog = math.Max(worstLog, ulpDiff(dlog(y), math.Log(y)))
	}
	if worstExp > 2 || worstLog > 2 {
		t.Fatalf("worst error: exp %.2f ulp, log %.2f ulp; want <= 2", worstExp, worstLog)
	}
	for _, c := range []struct{ got, want float64 }{
		{dexp(0), 1}, {dexp(1000), math.Inf(1)}, {dexp(-1000), 0}, {dlog(1), 0},
		{dlog(0), math.Inf(-1)}, {dlog(math.Inf(1)), math.Inf(1)}, {dpow(0.5, 3), 0.125}, {dpow(3, 0), 1},
	} {
		if c.got != c.want {
			t.Errorf("got %v, want %v", c.got, c.want)
		}
	}
	if !math.IsNaN(dlog(-1)) || !math.IsNaN(dexp(math.NaN())) {
		t.Error("NaN cases")
	}
	// math.Log's amd64 assembly mishandles subnormals; the smallest one is exactly 2^-1074.
	if got, want := dlog(5e-324), -1074*math.Ln2; ulpDiff(got, want) > 2 {
		t.Errorf("dlog(subnormal) = %v, want %v", got, want)
	}
}
