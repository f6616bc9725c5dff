//go:build !amd64

package engine

// Without a vector kernel the scalar loops do every entry (vec.go).

const vectorKernels = false

func expPairs(z []float64, m float64, p []float64, k *expConstants) int { return 0 }

func adamPairs(p, m, v, grad []float64, k *adamConstants) (done int, ok bool) { return 0, true }
