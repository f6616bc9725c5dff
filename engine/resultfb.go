package engine

import (
	flatbuffers "github.com/google/flatbuffers/go"

	"github.com/daas-nas/daas/engine/internal/statefb"
)

// GenotypeIdentifier and MetricsIdentifier are the FlatBuffers file identifiers (bytes 4..8) of the
// buffers that Genotype.FlatBuffer and Metrics.FlatBuffer write.
const (
	GenotypeIdentifier = "DGEN"
	MetricsIdentifier  = "DMET"
)

// Field slots of the result tables of schemas/daas.fbs.
const (
	slotChoiceInput, slotChoiceOp, slotChoiceWeight                   = 0, 1, 2
	slotNodeChoices                                                   = 0
	slotCGName, slotCGInputs, slotCGKeep, slotCGConcat, slotCGNodes   = 0, 1, 2, 3, 4
	slotGRFormat, slotGRMethod, slotGROps, slotGRDiscard, slotGRCells = 0, 1, 2, 3, 4
	slotGRDarts, slotGRNB201                                          = 5, 6
)

// FlatBuffer returns the genotype as a FlatBuffer whose root is a GenotypeResult of schemas/daas.fbs,
// with file identifier GenotypeIdentifier: the values of JSON, every vector written (possibly empty),
// darts and nb201 absent when empty. The same genotype gives the same bytes.
func (g Genotype) FlatBuffer() []byte {
	b := flatbuffers.NewBuilder(1024)
	cells := make([]flatbuffers.UOffsetT, len(g.Cells))
	for i := range g.Cells {
		cells[i] = putCellGenotype(b, &g.Cells[i])
	}
	cellsOff := putOffsets(b, cells)
	discard := putStrings(b, g.Discard)
	ops := putStrings(b, g.Ops)
	method := b.CreateString(string(g.Method))
	var darts, nb201 flatbuffers.UOffsetT
	if g.Darts != "" {
		darts = b.CreateString(g.Darts)
	}
	if g.NB201 != "" {
		nb201 = b.CreateString(g.NB201)
	}
	statefb.GenotypeResultStart(b)
	statefb.GenotypeResultAddFormat(b, int32(g.Format))
	statefb.GenotypeResultAddMethod(b, method)
	statefb.GenotypeResultAddOps(b, ops)
	statefb.GenotypeResultAddDiscard(b, discard)
	statefb.GenotypeResultAddCells(b, cellsOff)
	if darts != 0 {
		statefb.GenotypeResultAddDarts(b, darts)
	}
	if nb201 != 0 {
		statefb.GenotypeResultAddNb201(b, nb201)
	}
	b.FinishWithFileIdentifier(statefb.GenotypeResultEnd(b), []byte(GenotypeIdentifier))
	return b.FinishedBytes()
}

func putInt32s(b *flatbuffers.Builder, xs []int) flatbuffers.UOffsetT {
	b.StartVector(4, len(xs), 4)
	for i := len(xs) - 1; i >= 0; i-- {
		b.PrependInt32(int32(xs[i]))
	}
	return b.EndVector(len(xs))
}

func putCellGenotype(b *flatbuffers.Builder, c *CellGenotype) flatbuffers.UOffsetT {
	nodes := make([]flatbuffers.UOffsetT, len(c.Nodes))
	for j, node := range c.Nodes {
		choices := make([]flatbuffers.UOffsetT, len(node))
		for r, ch := range node {
			op := b.CreateString(ch.Op)
			statefb.ChoiceStart(b)
			statefb.ChoiceAddInput(b, int32(ch.Input))
			statefb.ChoiceAddOp(b, op)
			putF64(b, slotChoiceWeight, ch.Weight)
			choices[r] = statefb.ChoiceEnd(b)
		}
		vec := putOffsets(b, choices)
		statefb.NodeChoicesStart(b)
		statefb.NodeChoicesAddChoices(b, vec)
		nodes[j] = statefb.NodeChoicesEnd(b)
	}
	nodesOff := putOffsets(b, nodes)
	concat := putInt32s(b, c.Concat)
	keep := putInt32s(b, c.Keep)
	name := b.CreateString(c.Name)
	statefb.CellGenotypeStart(b)
	statefb.CellGenotypeAddName(b, name)
	statefb.CellGenotypeAddInputs(b, int32(c.Inputs))
	statefb.CellGenotypeAddKeep(b, keep)
	statefb.CellGenotypeAddConcat(b, concat)
	statefb.CellGenotypeAddNodes(b, nodesOff)
	return statefb.CellGenotypeEnd(b)
}

// FlatBuffer returns the metrics as a FlatBuffer whose root is the Metrics table of schemas/daas.fbs
// (the table a state's history uses), with file identifier MetricsIdentifier.
func (m Metrics) FlatBuffer() []byte {
	b := flatbuffers.NewBuilder(256)
	b.FinishWithFileIdentifier(putMetrics(b, &m), []byte(MetricsIdentifier))
	return b.FinishedBytes()
}

// resultRoot checks a result buffer's size and identifier and verifies its root table.
func resultRoot(buf []byte, identifier, path string) (fbTable, error) {
	if len(buf) < 12 {
		return fbTable{}, Errorf(ErrCorruptState, "%s buffer of %d bytes is too short", path, len(buf))
	}
	if string(buf[4:8]) != identifier {
		return fbTable{}, Errorf(ErrCorruptState, "file identifier %q, want %q: not a %s buffer", buf[4:8], identifier, path)
	}
	return newFBVerifier(buf).root(path)
}

// ParseMetricsFlatBuffer reads a buffer written by Metrics.FlatBuffer. The bytes may be untrusted:
// the structure is verified before anything is read, and anything else is ErrCorruptState.
func ParseMetricsFlatBuffer(buf []byte) (Metrics, error) {
	root, err := resultRoot(buf, MetricsIdentifier, "metrics")
	if err != nil {
		return Metrics{}, err
	}
	if err := verifyMetrics(root); err != nil {
		return Metrics{}, err
	}
	return metricsOf(statefb.GetRootAsMetrics(buf, 0)), nil
}

// ParseGenotypeFlatBuffer reads a buffer written by Genotype.FlatBuffer. The bytes may be untrusted:
// the structure is verified before anything is read, and anything else is ErrCorruptState. Every
// slice of the result is non-nil, so that its JSON is the JSON of the genotype that was written.
func ParseGenotypeFlatBuffer(buf []byte) (Genotype, error) {
	root, err := resultRoot(buf, GenotypeIdentifier, "genotype")
	if err != nil {
		return Genotype{}, err
	}
	if err := verifyGenotypeResult(root); err != nil {
		return Genotype{}, err
	}
	fg := statefb.GetRootAsGenotypeResult(buf, 0)
	g := Genotype{Format: int(fg.Format()), Method: Method(fg.Method()), Darts: string(fg.Darts()), NB201: string(fg.Nb201()),
		Ops: make([]string, fg.OpsLength()), Discard: make([]string, fg.DiscardLength()), Cells: make([]CellGenotype, fg.CellsLength())}
	for i := range g.Ops {
		g.Ops[i] = string(fg.Ops(i))
	}
	for i := range g.Discard {
		g.Discard[i] = string(fg.Discard(i))
	}
	var fc statefb.CellGenotype
	var fn statefb.NodeChoices
	var fch statefb.Choice
	for i := range g.Cells {
		fg.Cells(&fc, i)
		c := CellGenotype{Name: string(fc.Name()), Inputs: int(fc.Inputs()), Keep: make([]int, fc.KeepLength()),
			Concat: make([]int, fc.ConcatLength()), Nodes: make([][]Choice, fc.NodesLength())}
		for k := range c.Keep {
			c.Keep[k] = int(fc.Keep(k))
		}
		for k := range c.Concat {
			c.Concat[k] = int(fc.Concat(k))
		}
		for j := range c.Nodes {
			fc.Nodes(&fn, j)
			c.Nodes[j] = make([]Choice, fn.ChoicesLength())
			for r := range c.Nodes[j] {
				fn.Choices(&fch, r)
				c.Nodes[j][r] = Choice{Input: int(fch.Input()), Op: string(fch.Op()), Weight: fch.Weight()}
			}
		}
		g.Cells[i] = c
	}
	return g, nil
}

// verifyGenotypeResult checks the structure of a GenotypeResult table and everything below it.
func verifyGenotypeResult(g fbTable) error {
	v := g.v
	if _, err := g.int32(slotGRFormat, "format"); err != nil {
		return err
	}
	if _, err := g.str(slotGRMethod, "method", true); err != nil {
		return err
	}
	for _, f := range []struct {
		slot       int
		name, elem string
	}{{slotGROps, "ops", "genotype.ops[i]"}, {slotGRDiscard, "discard", "genotype.discard[i]"}} {
		vec, err := g.vector(f.slot, 4, f.name, true)
		if err != nil {
			return err
		}
		for i := 0; i < vec.n; i++ {
			if _, err := v.stringIn(vec, i, f.elem); err != nil {
				return err
			}
		}
	}
	cells, err := g.vector(slotGRCells, 4, "cells", true)
	if err != nil {
		return err
	}
	for i := 0; i < cells.n; i++ {
		c, err := v.tableAt(cells, i, "genotype.cells[i]")
		if err != nil {
			return err
		}
		if err := verifyCellGenotype(c); err != nil {
			return err
		}
	}
	if _, err := g.str(slotGRDarts, "darts", false); err != nil {
		return err
	}
	_, err = g.str(slotGRNB201, "nb201", false)
	return err
}

func verifyCellGenotype(c fbTable) error {
	v := c.v
	if _, err := c.str(slotCGName, "name", true); err != nil {
		return err
	}
	if _, err := c.int32(slotCGInputs, "inputs"); err != nil {
		return err
	}
	if _, err := c.vector(slotCGKeep, 4, "keep", true); err != nil {
		return err
	}
	if _, err := c.vector(slotCGConcat, 4, "concat", true); err != nil {
		return err
	}
	nodes, err := c.vector(slotCGNodes, 4, "nodes", true)
	if err != nil {
		return err
	}
	for j := 0; j < nodes.n; j++ {
		n, err := v.tableAt(nodes, j, "genotype.cells[i].nodes[j]")
		if err != nil {
			return err
		}
		choices, err := n.vector(slotNodeChoices, 4, "choices", true)
		if err != nil {
			return err
		}
		for r := 0; r < choices.n; r++ {
			ch, err := v.tableAt(choices, r, "genotype.cells[i].nodes[j].choices[r]")
			if err != nil {
				return err
			}
			if _, err := ch.int32(slotChoiceInput, "input"); err != nil {
				return err
			}
			if _, err := ch.str(slotChoiceOp, "op", true); err != nil {
				return err
			}
			if _, err := ch.scalar(slotChoiceWeight, 8, "weight"); err != nil {
				return err
			}
		}
	}
	return nil
}
