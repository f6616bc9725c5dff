package engine

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
)

// Choice is one kept edge of a discretized node: the input state and the op on it.
type Choice struct {
	Input int    `json:"input"`
	Op    string `json:"op"`
}

// CellGenotype is one discretized cell type. Nodes[j] lists node j's kept inputs, strongest first;
// Concat lists the states the cell concatenates into its output (every intermediate node).
type CellGenotype struct {
	Name   string     `json:"name"`
	Concat []int      `json:"concat"`
	Nodes  [][]Choice `json:"nodes"`
}

// Genotype is the discrete architecture (SPEC §5). Darts is set for two-cell spaces named normal and
// reduce that keep two inputs per node; NB201 for the NAS-Bench-201 layout.
type Genotype struct {
	Method Method         `json:"method"`
	Cells  []CellGenotype `json:"cells"`
	Darts  string         `json:"darts,omitempty"`
	NB201  string         `json:"nb201,omitempty"`
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
func (e *Engine) Discretize() Genotype {
	g := Genotype{Method: e.cfg.Method}
	opW := make([]float64, len(e.alpha))
	e.relaxOps(e.alpha, opW)
	nOps := e.lay.nOps
	bestOp := func(edge int) int {
		best := -1
		for o := 0; o < nOps; o++ {
			if !e.lay.discarded[o] && (best < 0 || e.alpha[edge*nOps+o] > e.alpha[edge*nOps+best]) {
				best = o
			}
		}
		return best
	}
	for ci, c := range e.cfg.Space.Cells {
		cg := CellGenotype{Name: c.Name, Nodes: make([][]Choice, 0, c.Nodes)}
		for j := 0; j < c.Nodes; j++ {
			cg.Concat = append(cg.Concat, c.Inputs+j)
		}
		g.Cells = append(g.Cells, cg)
		_ = ci
	}
	for _, nd := range e.lay.nodes {
		strength := make([]float64, nd.n)
		for i := range strength {
			edge := nd.edge + i
			if e.cfg.Method == MethodDARTS {
				strength[i] = opW[edge*nOps+bestOp(edge)]
			} else {
				strength[i] = e.beta[edge]
			}
		}
		order := make([]int, nd.n)
		for i := range order {
			order[i] = i
		}
		if nd.learnable() || e.cfg.Method == MethodDARTS {
			slices.SortStableFunc(order, func(a, b int) int {
				switch {
				case strength[a] > strength[b]:
					return -1
				case strength[a] < strength[b]:
					return 1
				}
				return 0
			})
		}
		kept := make([]Choice, nd.k)
		for r := range kept {
			edge := nd.edge + order[r]
			kept[r] = Choice{Input: order[r], Op: e.cfg.Space.Ops[bestOp(edge)]}
		}
		cells := g.Cells[nd.cell]
		cells.Nodes = append(cells.Nodes, kept)
		g.Cells[nd.cell] = cells
	}
	g.Darts = dartsString(e.cfg.Space, g)
	g.NB201 = nb201String(e.cfg.Space, g)
	return g
}

// dartsString renders the DARTS Genotype(...) string, or "" when the space is not DARTS-shaped.
func dartsString(s Space, g Genotype) string {
	if len(s.Cells) != 2 {
		return ""
	}
	byName := map[string]int{}
	for i, c := range s.Cells {
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
