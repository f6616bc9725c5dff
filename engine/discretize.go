package engine

import (
	"encoding/json"
	"fmt"
	"strings"
)

// Choice is one kept edge of a discretized node: the input state, the op on it and its edge weight.
type Choice struct {
	Input  int     `json:"input"`
	Op     string  `json:"op"`
	Weight float64 `json:"weight,omitempty"` // the edge weight at discretization (absent when 0)
}

// CellGenotype is one discretized cell type. States 0..Inputs-1 are the cell's inputs (0 the oldest:
// in a DARTS cell, 0 is the output of the cell two back and 1 of the previous one) and state Inputs+j
// is intermediate node j. Nodes[j] lists node j's kept inputs, strongest first; Keep[j] is how many it
// keeps; Concat lists the states the cell concatenates into its output (every intermediate node).
type CellGenotype struct {
	Name   string     `json:"name"`
	Inputs int        `json:"inputs,omitempty"`
	Keep   []int      `json:"keep,omitempty"`
	Concat []int      `json:"concat"`
	Nodes  [][]Choice `json:"nodes"`
}

// GenotypeFormat is the version of the genotype JSON this build writes. Format 1 added format, ops,
// discard, and per cell inputs and keep to the original (unversioned) form, which lacks them.
const GenotypeFormat = 1

// Genotype is the discrete architecture (docs/DESIGN.md, Discretization), self-describing: the format version, the space's op
// list and discarded ops, and per cell its inputs, keep counts and kept choices. Darts is set for
// two-cell spaces named normal and reduce with 2 inputs that keep two inputs per node (what DARTS's
// own code can build); NB201 for the NAS-Bench-201 layout.
type Genotype struct {
	Format  int            `json:"format,omitempty"`
	Method  Method         `json:"method"`
	Ops     []string       `json:"ops,omitempty"`
	Discard []string       `json:"discard,omitempty"`
	Cells   []CellGenotype `json:"cells"`
	Darts   string         `json:"darts,omitempty"`
	NB201   string         `json:"nb201,omitempty"`
}

// JSON returns the genotype's JSON.
func (g Genotype) JSON() []byte {
	b, err := json.Marshal(g)
	if err != nil {
		panic("daas: genotype is not serializable: " + err.Error()) // unreachable: plain data only
	}
	return b
}

// Discretize returns the genotype of the current α and β. Per node it keeps the k_j inputs with the
// largest raw β (DARTS: the largest op weight over the ops not discarded), ties to the lower input;
// on each kept edge the op is the argmax of α over the ops not discarded, ties to the lower index.
// Each kept input carries its edge weight at this moment (n_j · softmax(min(β_j, 1)) on nodes that
// drop inputs, 1 elsewhere and for DARTS), the weight a network cut from the supernet inherits.
func (e *Engine) Discretize() Genotype {
	g := Genotype{Format: GenotypeFormat, Method: e.cfg.Method, Ops: append([]string(nil), e.cfg.Space.Ops...),
		Discard: append([]string(nil), e.cfg.Space.Discard...)}
	opW := make([]float64, len(e.alpha))
	e.relaxOps(e.alpha, opW)
	for _, c := range e.cfg.Space.Cells {
		cg := CellGenotype{Name: c.Name, Inputs: c.Inputs, Keep: append([]int(nil), c.Keep...), Nodes: make([][]Choice, 0, c.Nodes)}
		for j := 0; j < c.Nodes; j++ {
			cg.Concat = append(cg.Concat, c.Inputs+j)
		}
		g.Cells = append(g.Cells, cg)
	}
	for _, nd := range e.lay.nodes {
		order, share := make([]int, nd.n), make([]float64, nd.n)
		e.keptOrder(nd, opW, order)
		e.keptShares(nd, share)
		kept := make([]Choice, nd.k)
		for r := range kept {
			i := order[r]
			w := 1.0
			if nd.learnable() && e.cfg.Method == MethodDAAS {
				w = float64(nd.n) * share[i]
				if !isFinite(w) {
					w = 0 // only for β no state holds (NaN); JSON has no NaN, and 0 is left out
				}
			}
			kept[r] = Choice{Input: i, Op: e.cfg.Space.Ops[e.bestOp(nd.edge+i)], Weight: w}
		}
		g.Cells[nd.cell].Nodes = append(g.Cells[nd.cell].Nodes, kept)
	}
	g.Darts = dartsString(e.cfg.Space, g)
	g.NB201 = nb201String(e.cfg.Space, g)
	return g
}

// dartsString renders the DARTS Genotype(...) string, or "" when the space is not DARTS-shaped (two
// cells named normal and reduce, each with 2 inputs and keep 2 at every node).
func dartsString(s Space, g Genotype) string {
	if len(s.Cells) != 2 {
		return ""
	}
	byName := map[string]int{}
	for i, c := range s.Cells {
		if c.Inputs != 2 { // DARTS's cells take exactly the two previous cells' outputs
			return ""
		}
		for _, k := range c.Keep {
			if k != 2 {
				return ""
			}
		}
		byName[c.Name] = i
	}
	ni, okN := byName["normal"]
	ri, okR := byName["reduce"]
	if !okN || !okR {
		return ""
	}
	part := func(i int) (string, string) {
		var ops []string
		for _, n := range g.Cells[i].Nodes {
			for _, ch := range n {
				ops = append(ops, fmt.Sprintf("('%s', %d)", ch.Op, ch.Input))
			}
		}
		c := s.Cells[i]
		return "[" + strings.Join(ops, ", ") + "]", fmt.Sprintf("range(%d, %d)", c.Inputs, c.Inputs+c.Nodes)
	}
	n, nc := part(ni)
	r, rc := part(ri)
	return fmt.Sprintf("Genotype(normal=%s, normal_concat=%s, reduce=%s, reduce_concat=%s)", n, nc, r, rc)
}

// nb201String renders the NAS-Bench-201 architecture string, or "" for other layouts: one cell with
// one input and three nodes that keep every input; each node lists its edges in input order.
func nb201String(s Space, g Genotype) string {
	if len(s.Cells) != 1 || s.Cells[0].Inputs != 1 || s.Cells[0].Nodes != 3 {
		return ""
	}
	var parts []string
	for j, n := range g.Cells[0].Nodes {
		if len(n) != j+1 {
			return ""
		}
		ops := make([]string, len(n))
		for _, ch := range n {
			ops[ch.Input] = fmt.Sprintf("%s~%d", ch.Op, ch.Input)
		}
		parts = append(parts, "|"+strings.Join(ops, "|")+"|")
	}
	return strings.Join(parts, "+")
}
