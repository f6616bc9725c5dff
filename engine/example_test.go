package engine_test

import (
	"fmt"

	"github.com/daas-nas/daas/engine"
)

// Example drives a search the way a training loop does: weights out, gradients in.
func Example() {
	cfg, err := engine.ParseConfig([]byte(`{"space": "nb201", "epochs": 2, "seed": 1}`))
	if err != nil {
		panic(err)
	}
	e, err := engine.New(cfg)
	if err != nil {
		panic(err)
	}
	nAlpha, nEdges := e.Sizes()
	ops, edges := make([]float32, nAlpha), make([]float32, nEdges)
	gradOps, gradEdges := make([]float32, nAlpha), make([]float32, nEdges)
	for epoch := 1; epoch <= 2; epoch++ {
		if err := e.SetEpoch(epoch); err != nil {
			panic(err)
		}
		for step := 0; step < 3; step++ {
			if err := e.Weights(ops, edges); err != nil {
				panic(err)
			}
			// The supernet's forward and backward would fill the gradients here.
			if err := e.Step(gradOps, gradEdges); err != nil {
				panic(err)
			}
		}
	}
	fmt.Println(nAlpha, nEdges, e.Steps(), len(e.History()))
	// Output: 30 6 6 2
}
