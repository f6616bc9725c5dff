package device

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/daas-nas/daas/engine"
)

// TestKernelExpLog holds kernels.h's exp and log (its constants, its table of 2^(j/32), its order of
// operations) to the engine's, bit for bit, on edge cases and a million inputs each across their
// whole range: the full-engine comparisons only reach the inputs a search produces.
func TestKernelExpLog(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	special := []float64{0, math.Copysign(0, -1), 1, -1, 0.5, math.Ln2, 709.78, 709.79, -745.13, -745.14, 1e-310, 5e-324,
		math.MaxFloat64, math.SmallestNonzeroFloat64, math.Inf(1), math.Inf(-1), math.NaN(), math.Sqrt2, 1 / math.Sqrt2}
	inputs := append([]float64(nil), special...)
	for k := 0; k < 1_000_000; k++ {
		inputs = append(inputs, (r.Float64()*2-1)*750, math.Float64frombits(r.Uint64()), r.NormFloat64())
	}
	bad := 0
	for _, x := range inputs {
		for _, f := range []struct {
			name      string
			got, want float64
		}{{"exp", kernelExp(x), engine.Exp(x)}, {"log", kernelLog(x), engine.Log(x)}} {
			same := math.Float64bits(f.got) == math.Float64bits(f.want) || (math.IsNaN(f.got) && math.IsNaN(f.want))
			if !same && bad < 10 {
				t.Errorf("%s(%v): kernel %v, engine %v", f.name, x, f.got, f.want)
				bad++
			}
		}
	}
}
