package engine

import (
	"fmt"
	"testing"
)

// scaledSpace returns a space with about factor times the darts preset's parameters: the darts cell
// types repeated factor times under distinct names.
func scaledSpace(factor int) Space {
	base, _ := PresetSpace("darts")
	s := Space{Ops: base.Ops, Discard: base.Discard}
	for i := 0; i < factor; i++ {
		for _, c := range base.Cells {
			c.Name = fmt.Sprintf("%s%d", c.Name, i)
			s.Cells = append(s.Cells, c)
		}
	}
	return s
}

func benchEngine(b *testing.B, factor int, gradient Gradient) (*Engine, []float32, []float32) {
	cfg := DefaultConfig()
	cfg.Space = scaledSpace(factor)
	cfg.Gradient = gradient
	e, err := New(cfg)
	if err != nil {
		b.Fatal(err)
	}
	if err := e.SetEpoch(20); err != nil { // α's learning rate and every loss term are on
		b.Fatal(err)
	}
	nA, nE := e.Sizes()
	gA, gE := make([]float32, nA), make([]float32, nE)
	for i := range gA {
		gA[i] = float32(i%7) * 1e-3
	}
	for i := range gE {
		gE[i] = float32(i%5) * 1e-3
	}
	return e, gA, gE
}

// benchAcrossSizes runs op on the darts preset and on spaces 10x, 100x and 1000x larger.
func benchAcrossSizes(b *testing.B, op func(e *Engine, gA, gE []float32) error) {
	for _, factor := range []int{1, 10, 100, 1000} {
		b.Run(fmt.Sprintf("darts-x%d", factor), func(b *testing.B) {
			e, gA, gE := benchEngine(b, factor, GradientFast)
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if err := op(e, gA, gE); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkStep measures one architecture step on the fast path.
func BenchmarkStep(b *testing.B) {
	benchAcrossSizes(b, func(e *Engine, gA, gE []float32) error { return e.Step(gA, gE) })
}

// BenchmarkWeights measures reading the op and edge weights.
func BenchmarkWeights(b *testing.B) {
	benchAcrossSizes(b, func(e *Engine, gA, gE []float32) error { return e.Weights(gA, gE) })
}

// BenchmarkDiscretize measures rendering the genotype.
func BenchmarkDiscretize(b *testing.B) {
	for _, factor := range []int{1, 100} {
		b.Run(fmt.Sprintf("darts-x%d", factor), func(b *testing.B) {
			e, _, _ := benchEngine(b, factor, GradientFast)
			b.ReportAllocs()
			for i := 0; i < b.N; i++ {
				_ = e.Discretize()
			}
		})
	}
}
