package engine

import (
	"fmt"
	"testing"
)

// graphBenchEngine returns an engine on the gradient graph path over the darts cell types repeated
// factor times (factor × the darts preset's α and β), at an epoch where every loss term and α's
// learning rate are on, with fixed task gradients.
func graphBenchEngine(b *testing.B, factor int) (*Engine, []float32, []float32) {
	b.Helper()
	cfg := DefaultConfig()
	base := cfg.Space
	cfg.Space.Cells = nil
	for i := 0; i < factor; i++ {
		for _, c := range base.Cells {
			c.Name = fmt.Sprintf("%s%d", c.Name, i)
			cfg.Space.Cells = append(cfg.Space.Cells, c)
		}
	}
	cfg.Gradient = GradientGraph
	e, err := New(cfg)
	if err != nil {
		b.Fatal(err)
	}
	if err := e.SetEpoch(20); err != nil {
		b.Fatal(err)
	}
	nA, nE := e.Sizes()
	gA, gE := make([]float32, nA), make([]float32, nE)
	for i := range gA {
		gA[i] = float32(i%7-3) * 1e-3
	}
	for i := range gE {
		gE[i] = float32(i%5-2) * 1e-3
	}
	return e, gA, gE
}

// BenchmarkStepGraph measures one architecture step on the gorgonia path (the graph is built before
// the timer starts), on the darts preset and on 10× and 100× larger spaces.
func BenchmarkStepGraph(b *testing.B) {
	for _, factor := range []int{1, 10, 100} {
		b.Run(fmt.Sprintf("darts-x%d", factor), func(b *testing.B) {
			e, gA, gE := graphBenchEngine(b, factor)
			if err := e.Step(gA, gE); err != nil { // builds the graph
				b.Fatal(err)
			}
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if err := e.Step(gA, gE); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkGraphBuild measures building the graph, its gradient and the TapeMachine (what the first
// graph-path Step pays once).
func BenchmarkGraphBuild(b *testing.B) {
	for _, factor := range []int{1, 10, 100} {
		b.Run(fmt.Sprintf("darts-x%d", factor), func(b *testing.B) {
			e, _, _ := graphBenchEngine(b, factor)
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if _, err := e.buildGraph(); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
