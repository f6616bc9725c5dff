package engine

import "testing"

func TestPresetSizesAndLayout(t *testing.T) {
	cases := []struct {
		space          string
		nAlpha, nEdges int
		learnableNodes int
	}{
		{"darts", 2 * 14 * 7, 28, 6}, // node 0 of each cell has two inputs and keeps both
		{"darts-none", 2 * 14 * 8, 28, 6},
		{"nb201", 6 * 5, 6, 0},
	}
	for _, c := range cases {
		e := mustEngine(t, `{"space": "`+c.space+`"}`)
		nA, nE := e.Sizes()
		learnable := 0
		for _, nd := range e.lay.nodes {
			if nd.learnable() {
				learnable++
			}
		}
		if nA != c.nAlpha || nE != c.nEdges || learnable != c.learnableNodes {
			t.Errorf("%s: sizes %d/%d, %d learnable nodes; want %d/%d, %d", c.space, nA, nE, learnable, c.nAlpha, c.nEdges, c.learnableNodes)
		}
	}
	// Edge index e(j, i) = sum_{j'<j} (inputs + j') + i, cells in config order.
	e := mustEngine(t, `{"space": {"ops": ["x"], "cells": [{"name": "a", "inputs": 2, "nodes": 4, "keep": [1, 3, 2, 4]}, {"name": "b", "inputs": 3, "nodes": 2}]}}`)
	wantFirst := []int{0, 2, 5, 9, 14, 17}
	wantK := []int{1, 3, 2, 4, 3, 4}
	for i, nd := range e.lay.nodes {
		if nd.edge != wantFirst[i] || nd.k != wantK[i] {
			t.Errorf("node %d: first edge %d keep %d, want %d %d", i, nd.edge, nd.k, wantFirst[i], wantK[i])
		}
	}
	if _, nE := e.Sizes(); nE != 14+7 {
		t.Errorf("edges %d, want 21", nE)
	}
}
