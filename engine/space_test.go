package engine

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
)

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

// TestPresetsListEveryPreset keeps Presets, PresetSpace and the unknown-preset message in step.
// Presets is the one list of the preset names: the message is built from it, and the Python
// package's tests compare its own list of names with that message.
func TestPresetsListEveryPreset(t *testing.T) {
	for _, name := range Presets {
		s, ok := PresetSpace(name)
		if !ok {
			t.Errorf("Presets lists %q, which PresetSpace does not know", name)
			continue
		}
		if _, err := parseSpace(json.RawMessage(`"` + name + `"`)); err != nil {
			t.Errorf("space %q: %v", name, err)
		}
		if len(s.Ops) == 0 || len(s.Cells) == 0 {
			t.Errorf("preset %q is empty: %+v", name, s)
		}
	}
	_, err := parseSpace(json.RawMessage(`"no-such-preset"`))
	if !errors.Is(err, ErrInvalidConfig) || !strings.Contains(err.Error(), "(known: "+strings.Join(Presets, ", ")+")") {
		t.Errorf("unknown preset: %v, want ErrInvalidConfig listing %v", err, Presets)
	}
}

// quotedNames finds the double-quoted names in text.
var quotedNames = regexp.MustCompile(`"([a-z0-9_]+)"`)

// TestDartsOpListCopies compares the places outside the engine that must spell out the darts op list
// (a C++ example cannot ask the engine for it at compile time, and a space file is data) with the
// preset, in order.
func TestDartsOpListCopies(t *testing.T) {
	darts, _ := PresetSpace("darts")
	// examples/libtorch/search.cpp builds one module per op in kOps, in the engine's order.
	src, err := os.ReadFile(filepath.Join(repoRoot, "examples/libtorch/search.cpp"))
	if err != nil {
		t.Fatal(err)
	}
	decl := regexp.MustCompile(`(?s)std::vector<std::string> kOps = \{(.*?)\};`).FindSubmatch(src)
	if decl == nil {
		t.Fatal("examples/libtorch/search.cpp: no kOps list found (renamed? update this test)")
	}
	var ops []string
	for _, m := range quotedNames.FindAllSubmatch(decl[1], -1) {
		ops = append(ops, string(m[1]))
	}
	if !slices.Equal(ops, darts.Ops) {
		t.Errorf("examples/libtorch/search.cpp: kOps is %v, the darts preset's ops are %v", ops, darts.Ops)
	}
	// examples/spaces/imbalanced.json is the darts space with other keep counts.
	raw, err := os.ReadFile(filepath.Join(repoRoot, "examples/spaces/imbalanced.json"))
	if err != nil {
		t.Fatal(err)
	}
	s, err := parseSpace(raw)
	if err != nil {
		t.Fatalf("examples/spaces/imbalanced.json: %v", err)
	}
	if !slices.Equal(s.Ops, darts.Ops) || !slices.Equal(s.Discard, darts.Discard) {
		t.Errorf("examples/spaces/imbalanced.json: ops %v, discard %v; the darts preset has %v, %v",
			s.Ops, s.Discard, darts.Ops, darts.Discard)
	}
}
