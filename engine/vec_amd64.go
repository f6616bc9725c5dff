package engine

// expPairs writes exp(z_i - m) into p for the leading pairs of z whose x = z_i - m lie at or
// above k.min, then for an odd last entry that does, stopping at the first pair (or last entry)
// that does not, and returns how many entries it wrote. len(p) >= len(z).
//
//go:noescape
func expPairs(z []float64, m float64, p []float64, k *expConstants) int

// adamPairs applies the Adam update of adamState.update to the leading whole pairs of p (m, v and
// grad at least as long) and returns how many entries it updated and whether all of them stay
// within the state's bounds.
//
//go:noescape
func adamPairs(p, m, v, grad []float64, k *adamConstants) (done int, ok bool)

// vectorKernels says whether expPairs and adamPairs do any work on this architecture.
const vectorKernels = true
