package engine

import (
	"encoding/json"
	"math"
	"reflect"
	"strings"
	"testing"
)

func mustEngine(t testing.TB, config string) *Engine {
	t.Helper()
	cfg, err := ParseConfig([]byte(config))
	if err != nil {
		t.Fatal(err)
	}
	e, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return e
}

// setEdge sets α of one edge (global edge index) so that op o is the strongest.
func setAlpha(e *Engine, edge int, values ...float64) {
	copy(e.alpha[edge*e.lay.nOps:], values)
}

func TestDiscretizeImbalancedKeepAndTies(t *testing.T) {
	// One cell, 2 inputs, 3 nodes, keep [1, 3, 2]; ops a, none, b with none discarded.
	e := mustEngine(t, `{"space": {"ops": ["a", "none", "b"], "discard": ["none"],
		"cells": [{"name": "c", "inputs": 2, "nodes": 3, "keep": [1, 3, 2]}]}}`)
	for i := range e.alpha {
		e.alpha[i] = 0
	}
	// Node 0 (edges 0,1), node 1 (edges 2,3,4: keeps all), node 2 (edges 5..8).
	copy(e.beta, []float64{0.2, 0.7, 1, 1, 1, 0.3, 0.9, 0.9, 0.1})
	setAlpha(e, 1, 0.1, 5, 0.2) // "none" strongest, discarded: b wins
	setAlpha(e, 2, 0.3, 0, 0.3) // tie between a and b: lower index (a)
	setAlpha(e, 3, 0, 0, 1)
	setAlpha(e, 4, 2, 0, 1)
	setAlpha(e, 6, 0, 0, 1)
	setAlpha(e, 7, 1, 0, 0)
	g := e.Discretize()
	// The edge weights, from the formula n_j · exp(β_i) / Σ exp(β) (every β here is below 1).
	w0 := 2 * math.Exp(0.7) / (math.Exp(0.2) + math.Exp(0.7))
	w2 := 4 * math.Exp(0.9) / (math.Exp(0.3) + 2*math.Exp(0.9) + math.Exp(0.1))
	want := [][]Choice{
		{{1, "b", w0}},
		{{0, "a", 1}, {1, "b", 1}, {2, "a", 1}}, // keeps all: input order, weight 1
		{{1, "b", w2}, {2, "a", w2}},            // β tie 0.9 / 0.9: lower input first
	}
	if !choicesClose(g.Cells[0].Nodes, want, 1e-14) {
		t.Errorf("nodes %v, want %v", g.Cells[0].Nodes, want)
	}
	if !reflect.DeepEqual(g.Cells[0].Concat, []int{2, 3, 4}) || g.Darts != "" || g.NB201 != "" {
		t.Errorf("concat %v darts %q nb201 %q", g.Cells[0].Concat, g.Darts, g.NB201)
	}
}

func TestDiscretizeDartsString(t *testing.T) {
	e := mustEngine(t, `{"space": "darts-none"}`)
	for i := range e.alpha {
		e.alpha[i] = 0
	}
	// Every edge: "none" (index 0) strongest, then sep_conv_3x3 (index 4).
	for edge := 0; edge < 28; edge++ {
		setAlpha(e, edge, 9, 0, 0, 0, 1)
	}
	setAlpha(e, 1, 9, 0, 0, 3, 1) // normal node 0, input 1: skip_connect
	// Node 0 has two inputs and keeps both (input order); every other node keeps its last two.
	for _, nd := range e.lay.nodes {
		for i := 0; i < nd.n; i++ {
			e.beta[nd.edge+i] = float64(i) / 10
		}
	}
	g := e.Discretize()
	for _, cell := range g.Cells {
		for _, n := range cell.Nodes {
			for _, ch := range n {
				if ch.Op == "none" {
					t.Fatalf("discarded op chosen: %v", g.Cells)
				}
			}
		}
	}
	want := "Genotype(normal=[('sep_conv_3x3', 0), ('skip_connect', 1), ('sep_conv_3x3', 2), ('sep_conv_3x3', 1), " +
		"('sep_conv_3x3', 3), ('sep_conv_3x3', 2), ('sep_conv_3x3', 4), ('sep_conv_3x3', 3)], normal_concat=range(2, 6), " +
		"reduce=[('sep_conv_3x3', 0), ('sep_conv_3x3', 1), ('sep_conv_3x3', 2), ('sep_conv_3x3', 1), ('sep_conv_3x3', 3), " +
		"('sep_conv_3x3', 2), ('sep_conv_3x3', 4), ('sep_conv_3x3', 3)], reduce_concat=range(2, 6))"
	if g.Darts != want {
		t.Errorf("darts string\n%s\nwant\n%s", g.Darts, want)
	}
	var parsed map[string]any
	if err := json.Unmarshal(g.JSON(), &parsed); err != nil || parsed["method"] != "daas" || parsed["darts"] != want {
		t.Errorf("genotype JSON %s: %v", g.JSON(), err)
	}
}

func TestDiscretizeNB201(t *testing.T) {
	e := mustEngine(t, `{"space": "nb201"}`)
	// ops: none, skip_connect, nor_conv_1x1, nor_conv_3x3, avg_pool_3x3; 6 edges.
	best := []int{3, 0, 2, 1, 4, 3}
	for edge, o := range best {
		v := make([]float64, 5)
		v[o] = 1
		setAlpha(e, edge, v...)
	}
	g := e.Discretize()
	want := "|nor_conv_3x3~0|+|none~0|nor_conv_1x1~1|+|skip_connect~0|avg_pool_3x3~1|nor_conv_3x3~2|"
	if g.NB201 != want || g.Darts != "" {
		t.Errorf("nb201 %q, want %q (darts %q)", g.NB201, want, g.Darts)
	}
}

func TestDiscretizeDartsMethodRanksByOpWeight(t *testing.T) {
	e := mustEngine(t, `{"method": "darts", "space": {"ops": ["none", "a", "b"], "discard": ["none"],
		"cells": [{"name": "c", "inputs": 3, "nodes": 1, "keep": 2}]}}`)
	setAlpha(e, 0, 10, 1, 0) // strongest non-discarded weight small (none dominates)
	setAlpha(e, 1, 0, 0, 2)
	setAlpha(e, 2, 0, 1.5, 0)
	g := e.Discretize()
	want := []Choice{{1, "b", 1}, {2, "a", 1}} // DARTS edges all weigh 1
	if !reflect.DeepEqual(g.Cells[0].Nodes[0], want) || !strings.Contains(string(g.JSON()), `"method":"darts"`) {
		t.Errorf("got %v (%s), want %v", g.Cells[0].Nodes[0], g.JSON(), want)
	}
}

// choicesClose compares kept inputs and ops exactly and edge weights to a relative tolerance.
func choicesClose(got, want [][]Choice, tol float64) bool {
	if len(got) != len(want) {
		return false
	}
	for j := range want {
		if len(got[j]) != len(want[j]) {
			return false
		}
		for r, w := range want[j] {
			g := got[j][r]
			if g.Input != w.Input || g.Op != w.Op || math.Abs(g.Weight-w.Weight) > tol*w.Weight {
				return false
			}
		}
	}
	return true
}

// The genotype describes itself: format, ops, and per cell inputs and keep, so a reader needs no
// config to interpret it.
func TestGenotypeIsSelfDescribing(t *testing.T) {
	e := mustEngine(t, `{"space": {"ops": ["none", "a", "b"], "discard": ["none"], "cells": [
		{"name": "normal", "inputs": 3, "nodes": 2, "keep": [2, 2]}, {"name": "reduce", "inputs": 3, "nodes": 2, "keep": 2}]}}`)
	var g map[string]any
	if err := json.Unmarshal(e.Discretize().JSON(), &g); err != nil {
		t.Fatal(err)
	}
	if g["format"] != float64(GenotypeFormat) || !reflect.DeepEqual(g["ops"], []any{"none", "a", "b"}) ||
		!reflect.DeepEqual(g["discard"], []any{"none"}) {
		t.Errorf("format/ops/discard: %v %v %v", g["format"], g["ops"], g["discard"])
	}
	cell := g["cells"].([]any)[0].(map[string]any)
	if cell["inputs"] != float64(3) || !reflect.DeepEqual(cell["keep"], []any{float64(2), float64(2)}) ||
		len(cell["nodes"].([]any)) != 2 || !reflect.DeepEqual(cell["concat"], []any{float64(3), float64(4)}) {
		t.Errorf("cell %v", cell)
	}
	// DARTS cells take exactly two inputs: with three, DARTS's code cannot build the string.
	if _, ok := g["darts"]; ok {
		t.Errorf("a DARTS string for a space with 3 cell inputs: %v", g["darts"])
	}
	two := mustEngine(t, `{"space": "darts"}`).Discretize()
	if !strings.HasPrefix(two.Darts, "Genotype(normal=[") {
		t.Errorf("darts preset: %q", two.Darts)
	}
}

// A history genotype written before format 1 (no format, ops, inputs or keep) still loads.
func TestGenotypeWithoutFormatIsCanonical(t *testing.T) {
	e := mustEngine(t, `{"space": "darts"}`)
	g := e.Discretize()
	g.Format, g.Ops, g.Discard = 0, nil, nil
	for i := range g.Cells {
		g.Cells[i].Inputs, g.Cells[i].Keep = 0, nil
	}
	cfg := e.Config()
	if err := checkGenotypeJSON(g.JSON(), &cfg); err != nil {
		t.Errorf("an unversioned genotype is refused: %v", err)
	}
}
