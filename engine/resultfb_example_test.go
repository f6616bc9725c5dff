package engine_test

import (
	"fmt"

	"github.com/daas-nas/daas/engine"
)

// ExampleParseGenotypeFlatBuffer reads back the typed genotype that daas_engine_discretize_fb returns.
func ExampleParseGenotypeFlatBuffer() {
	cfg, err := engine.ParseConfig([]byte(`{"space": "nb201"}`))
	if err != nil {
		panic(err)
	}
	e, err := engine.New(cfg)
	if err != nil {
		panic(err)
	}
	buf := e.Discretize().FlatBuffer()
	g, err := engine.ParseGenotypeFlatBuffer(buf)
	if err != nil {
		panic(err)
	}
	fmt.Println(string(buf[4:8]), g.Format, g.Cells[0].Keep, len(g.Cells[0].Nodes[2]), g.Darts == "", g.NB201 != "")
	// Output: DGEN 1 [1 2 3] 3 true true
}
