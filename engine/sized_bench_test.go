package engine

import (
	"fmt"
	"testing"
)

// Benchmarks over the darts preset and spaces 10x, 100x and 1000x larger for what bench_test.go and
// state_test.go time on one size only: save, load and discretize, and the graph path's step on the
// largest space. Used by `make bench` (bench/run.sh).

// sizedBench runs op on engines built by benchEngine after ten steps, for every size of the sweep.
func sizedBench(b *testing.B, op func(b *testing.B, e *Engine, state []byte)) {
	for _, factor := range []int{1, 10, 100, 1000} {
		b.Run(fmt.Sprintf("darts-x%d", factor), func(b *testing.B) {
			e, gA, gE := benchEngine(b, factor, GradientFast)
			for range 10 {
				if err := e.Step(gA, gE); err != nil {
					b.Fatal(err)
				}
			}
			state := e.Save()
			b.ReportAllocs()
			b.ResetTimer()
			op(b, e, state)
		})
	}
}

func BenchmarkSizedSave(b *testing.B) {
	sizedBench(b, func(b *testing.B, e *Engine, state []byte) {
		b.SetBytes(int64(len(state)))
		for i := 0; i < b.N; i++ {
			_ = e.Save()
		}
	})
}

func BenchmarkSizedLoad(b *testing.B) {
	sizedBench(b, func(b *testing.B, e *Engine, state []byte) {
		b.SetBytes(int64(len(state)))
		for i := 0; i < b.N; i++ {
			if _, err := Load(state); err != nil {
				b.Fatal(err)
			}
		}
	})
}

func BenchmarkSizedDiscretize(b *testing.B) {
	sizedBench(b, func(b *testing.B, e *Engine, state []byte) {
		for i := 0; i < b.N; i++ {
			_ = e.Discretize()
		}
	})
}

// BenchmarkSizedStepGraph is BenchmarkStepGraph's missing size: the gorgonia path on a space 1000x
// the darts preset (separate, since one step there takes about 0.1 s).
func BenchmarkSizedStepGraph(b *testing.B) { benchGraphStep(b, 1000) }
