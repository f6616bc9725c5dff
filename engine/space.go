package engine

import (
	"bytes"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
)

// Cell is one cell type of a search space: Inputs cell inputs (states 0..Inputs-1), Nodes intermediate
// nodes, and Keep[j] inputs kept at node j (1 <= Keep[j] <= Inputs+j) when the cell is discretized.
type Cell struct {
	Name   string `json:"name"`
	Inputs int    `json:"inputs"`
	Nodes  int    `json:"nodes"`
	Keep   []int  `json:"keep"`
}

// Edges returns the number of edges of the cell: node j has one edge from every earlier state.
func (c Cell) Edges() int { return c.Nodes*c.Inputs + c.Nodes*(c.Nodes-1)/2 }

// Space is a search space: cell types sharing one op list. Ops named in Discard are never chosen by
// discretization (DARTS's "none").
type Space struct {
	Ops     []string `json:"ops"`
	Discard []string `json:"discard"`
	Cells   []Cell   `json:"cells"`
}

// node is the flat layout of one intermediate node, precomputed for the hot loops.
type node struct {
	cell, index int // cell type and node number j
	n, k        int // incoming edges and edges kept
	edge        int // global index of the node's first edge (input 0)
}

// learnable reports whether the node's β entries are parameters (k < n); otherwise they are constant 1.
func (nd node) learnable() bool { return nd.k < nd.n }

// layout is a Space's precomputed flat indexing (docs/DESIGN.md, Flat layouts).
type layout struct {
	nodes     []node
	cellEdge  []int // global index of each cell's first edge
	nEdges    int
	nOps      int
	discarded []bool // per op
}

func newLayout(s *Space) layout {
	l := layout{nOps: len(s.Ops), discarded: make([]bool, len(s.Ops))}
	for o, op := range s.Ops {
		l.discarded[o] = slices.Contains(s.Discard, op)
	}
	for ci, c := range s.Cells {
		l.cellEdge = append(l.cellEdge, l.nEdges)
		for j := 0; j < c.Nodes; j++ {
			n := c.Inputs + j
			l.nodes = append(l.nodes, node{cell: ci, index: j, n: n, k: c.Keep[j], edge: l.nEdges})
			l.nEdges += n
		}
	}
	return l
}

// Presets names the built-in spaces (docs/DESIGN.md, Flat layouts).
var Presets = []string{"darts", "darts-none", "nb201"}

var dartsOps = []string{"max_pool_3x3", "avg_pool_3x3", "skip_connect", "sep_conv_3x3", "sep_conv_5x5",
	"dil_conv_3x3", "dil_conv_5x5"}

// PresetSpace returns a fresh copy of the named preset.
func PresetSpace(name string) (Space, bool) {
	dartsCells := func() []Cell {
		return []Cell{{"normal", 2, 4, []int{2, 2, 2, 2}}, {"reduce", 2, 4, []int{2, 2, 2, 2}}}
	}
	switch name {
	case "darts":
		return Space{Ops: slices.Clone(dartsOps), Discard: []string{}, Cells: dartsCells()}, true
	case "darts-none":
		return Space{Ops: append([]string{"none"}, dartsOps...), Discard: []string{"none"}, Cells: dartsCells()}, true
	case "nb201":
		return Space{Ops: []string{"none", "skip_connect", "nor_conv_1x1", "nor_conv_3x3", "avg_pool_3x3"},
			Discard: []string{}, Cells: []Cell{{"cell", 1, 3, []int{1, 2, 3}}}}, true
	}
	return Space{}, false
}

// spaceJSON is the accepted JSON form of a custom space; keep may be a list, a number or "all".
type spaceJSON struct {
	Ops     []string   `json:"ops"`
	Discard []string   `json:"discard"`
	Cells   []cellJSON `json:"cells"`
}

type cellJSON struct {
	Name   string          `json:"name"`
	Inputs int             `json:"inputs"`
	Nodes  int             `json:"nodes"`
	Keep   json.RawMessage `json:"keep"`
}

// parseSpace turns the config's "space" value (a preset name or an object) into a validated Space.
func parseSpace(raw json.RawMessage) (Space, error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || string(raw) == "null" {
		s, _ := PresetSpace("darts")
		return s, nil
	}
	if raw[0] == '"' {
		var name string
		if err := json.Unmarshal(raw, &name); err != nil {
			return Space{}, Errorf(ErrInvalidConfig, "space: %v", err)
		}
		s, ok := PresetSpace(name)
		if !ok {
			return Space{}, Errorf(ErrInvalidConfig, "space: unknown preset %q (known: %s)", name, strings.Join(Presets, ", "))
		}
		return s, nil
	}
	var sj spaceJSON
	if err := strictUnmarshal(raw, &sj); err != nil {
		return Space{}, Errorf(ErrInvalidConfig, "space: %v", err)
	}
	s := Space{Ops: sj.Ops, Discard: sj.Discard, Cells: make([]Cell, len(sj.Cells))}
	if s.Discard == nil {
		s.Discard = []string{}
	}
	params := 0
	for i, cj := range sj.Cells {
		c := Cell{Name: cj.Name, Inputs: cj.Inputs, Nodes: cj.Nodes}
		if cj.Inputs < 1 {
			return Space{}, Errorf(ErrInvalidConfig, "space.cells[%d].inputs: must be >= 1, got %d", i, cj.Inputs)
		}
		if cj.Nodes < 1 {
			return Space{}, Errorf(ErrInvalidConfig, "space.cells[%d].nodes: must be >= 1, got %d", i, cj.Nodes)
		}
		// Bound the sizes before anything is allocated for them.
		if err := checkCellSize(i, cj.Inputs, cj.Nodes, len(sj.Ops), &params); err != nil {
			return Space{}, err
		}
		keep, err := parseKeep(cj.Keep, cj.Inputs, cj.Nodes)
		if err != nil {
			return Space{}, Errorf(ErrInvalidConfig, "space.cells[%d].keep: %v", i, err)
		}
		c.Keep = keep
		s.Cells[i] = c
	}
	if err := s.validate(); err != nil {
		return Space{}, err
	}
	return s, nil
}

// parseKeep resolves a keep value: absent or "all" keeps every input, a number k keeps min(k, n_j),
// a list gives k_j per node.
func parseKeep(raw json.RawMessage, inputs, nodes int) ([]int, error) {
	keep := make([]int, nodes)
	raw = bytes.TrimSpace(raw)
	switch {
	case len(raw) == 0 || string(raw) == "null" || string(raw) == `"all"`:
		for j := range keep {
			keep[j] = inputs + j
		}
	case raw[0] == '[':
		if err := json.Unmarshal(raw, &keep); err != nil {
			return nil, fmt.Errorf("want a list of integers: %v", err)
		}
		if len(keep) != nodes {
			return nil, fmt.Errorf("has %d entries, want one per node (%d)", len(keep), nodes)
		}
	case raw[0] == '"':
		return nil, fmt.Errorf(`unknown value %s (want "all", a number or a list)`, raw)
	default:
		var k int
		if err := json.Unmarshal(raw, &k); err != nil {
			return nil, fmt.Errorf("want \"all\", an integer or a list: %v", err)
		}
		if k < 1 {
			return nil, fmt.Errorf("must be >= 1, got %d", k)
		}
		for j := range keep {
			keep[j] = min(k, inputs+j)
		}
	}
	return keep, nil
}

// validate checks a space's invariants; errors name the offending key and value.
func (s *Space) validate() error {
	if len(s.Ops) == 0 {
		return Errorf(ErrInvalidConfig, "space.ops: must list at least one op")
	}
	seen := map[string]bool{}
	for i, op := range s.Ops {
		if op == "" {
			return Errorf(ErrInvalidConfig, "space.ops[%d]: empty op name", i)
		}
		if seen[op] {
			return Errorf(ErrInvalidConfig, "space.ops[%d]: duplicate op %q", i, op)
		}
		seen[op] = true
	}
	for i, op := range s.Discard {
		if !seen[op] {
			return Errorf(ErrInvalidConfig, "space.discard[%d]: %q is not in space.ops", i, op)
		}
	}
	if len(s.Discard) >= len(s.Ops) {
		return Errorf(ErrInvalidConfig, "space.discard: discards every op")
	}
	if len(s.Cells) == 0 {
		return Errorf(ErrInvalidConfig, "space.cells: must list at least one cell type")
	}
	names := map[string]bool{}
	for i, c := range s.Cells {
		if c.Name == "" {
			return Errorf(ErrInvalidConfig, "space.cells[%d].name: empty", i)
		}
		if names[c.Name] {
			return Errorf(ErrInvalidConfig, "space.cells[%d].name: duplicate cell name %q", i, c.Name)
		}
		names[c.Name] = true
		if c.Inputs < 1 || c.Nodes < 1 || len(c.Keep) != c.Nodes {
			return Errorf(ErrInvalidConfig, "space.cells[%d]: inputs %d, nodes %d, %d keep entries", i, c.Inputs, c.Nodes, len(c.Keep))
		}
		for j, k := range c.Keep {
			if k < 1 || k > c.Inputs+j {
				return Errorf(ErrInvalidConfig, "space.cells[%d].keep[%d]: %d is out of range 1..%d", i, j, k, c.Inputs+j)
			}
		}
	}
	params := 0
	for i, c := range s.Cells {
		if err := checkCellSize(i, c.Inputs, c.Nodes, len(s.Ops), &params); err != nil {
			return err
		}
	}
	return nil
}

// Size limits: nothing but memory limits a space, so the bound is on memory — 2^28 architecture
// parameters (α, its Adam moments and scratch take about 10 GB at that size).
const (
	maxParams    = 1 << 28
	maxCellWidth = 1 << 14 // inputs or nodes per cell
)

// checkCellSize bounds one cell's inputs and nodes and adds its α entries to *params.
func checkCellSize(i, inputs, nodes, ops int, params *int) error {
	if inputs > maxCellWidth || nodes > maxCellWidth {
		return Errorf(ErrInvalidConfig, "space.cells[%d]: inputs %d and nodes %d must each be at most %d", i, inputs, nodes, maxCellWidth)
	}
	*params += (nodes*inputs + nodes*(nodes-1)/2) * ops
	if *params > maxParams {
		return Errorf(ErrInvalidConfig, "space.cells[%d]: the space exceeds %d architecture parameters", i, maxParams)
	}
	return nil
}
