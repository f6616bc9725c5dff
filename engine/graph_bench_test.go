package engine

import (
	"fmt"
	"testing"
)

// benchGraphStep times one architecture step on the gorgonia path over the darts cell types repeated
// factor times (the graph is built before the timer starts).
func benchGraphStep(b *testing.B, factor int) {
	b.Run(fmt.Sprintf("darts-x%d", factor), func(b *testing.B) {
		e, gA, gE := benchEngine(b, factor, GradientGraph)
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

// BenchmarkStepGraph measures one architecture step on the gorgonia path, on the darts preset and
// on 10× and 100× larger spaces (1000×: BenchmarkSizedStepGraph).
func BenchmarkStepGraph(b *testing.B) {
	for _, factor := range []int{1, 10, 100} {
		benchGraphStep(b, factor)
	}
}

// BenchmarkGraphBuild measures building the graph, its gradient and the TapeMachine (what the first
// graph-path Step pays once).
func BenchmarkGraphBuild(b *testing.B) {
	for _, factor := range []int{1, 10, 100} {
		b.Run(fmt.Sprintf("darts-x%d", factor), func(b *testing.B) {
			e, _, _ := benchEngine(b, factor, GradientGraph)
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
