package abitest

import (
	"bytes"
	"encoding/json"
	"reflect"
	"testing"

	"github.com/daas-nas/daas/engine"
)

// resultConfigs cover the layouts of the genotype: DARTS (darts string), an imbalanced DARTS-like
// space (keep [1,3,2,4], no darts string), NAS-Bench-201 (nb201 string), method darts, and a space
// with a discarded op.
var resultConfigs = []struct {
	name, config string
	keep         []int // of the first cell
}{
	{"darts", `{"space": "darts", "epochs": 4, "seed": 3, "optimizer": {"alpha_start_epoch": 1}}`, []int{2, 2, 2, 2}},
	{"imbalanced", `{"space": {"ops": ["max_pool_3x3", "avg_pool_3x3", "skip_connect", "sep_conv_3x3", "sep_conv_5x5",
	  "dil_conv_3x3", "dil_conv_5x5"], "discard": [], "cells": [{"name": "normal", "inputs": 2, "nodes": 4, "keep": [1, 3, 2, 4]},
	  {"name": "reduce", "inputs": 2, "nodes": 4, "keep": [1, 3, 2, 4]}]}, "epochs": 4, "seed": 5,
	  "optimizer": {"alpha_start_epoch": 1}}`, []int{1, 3, 2, 4}},
	{"nb201", `{"space": "nb201", "epochs": 4, "seed": 1, "optimizer": {"alpha_start_epoch": 1}}`, []int{1, 2, 3}},
	{"darts/darts", `{"space": "darts", "method": "darts", "epochs": 4, "optimizer": {"alpha_start_epoch": 1}}`, []int{2, 2, 2, 2}},
	{"darts-none", `{"space": "darts-none", "epochs": 4, "seed": 2, "optimizer": {"alpha_start_epoch": 1}}`, []int{2, 2, 2, 2}},
}

// The FlatBuffers of daas_engine_discretize_fb and daas_engine_metrics_fb verify and hold the values
// of the JSON of daas_engine_discretize and daas_engine_metrics on the same engine.
func TestResultBuffersHoldTheJSONValues(t *testing.T) {
	for _, c := range resultConfigs {
		t.Run(c.name, func(t *testing.T) {
			r, err := ResultsOf(c.config, 2, 7)
			if err != nil {
				t.Fatal(err)
			}
			if string(r.GenotypeFB[4:8]) != engine.GenotypeIdentifier || string(r.MetricsFB[4:8]) != engine.MetricsIdentifier {
				t.Fatalf("identifiers %q and %q", r.GenotypeFB[4:8], r.MetricsFB[4:8])
			}

			g, err := engine.ParseGenotypeFlatBuffer(r.GenotypeFB) // verifies every offset first
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(g.JSON(), r.GenotypeJSON) {
				t.Errorf("genotype buffer\n%s\nJSON\n%s", g.JSON(), r.GenotypeJSON)
			}
			var want engine.Genotype
			if err := json.Unmarshal(r.GenotypeJSON, &want); err != nil {
				t.Fatal(err)
			}
			if g.Format != 1 || len(g.Ops) == 0 || !reflect.DeepEqual(g.Ops, want.Ops) || len(g.Discard) != len(want.Discard) {
				t.Errorf("format %d, ops %v, discard %v; JSON: %d, %v, %v", g.Format, g.Ops, g.Discard, want.Format, want.Ops, want.Discard)
			}
			if got := g.Cells[0].Keep; !reflect.DeepEqual(got, c.keep) {
				t.Errorf("keep %v, want %v", got, c.keep)
			}
			for i, cell := range g.Cells {
				wc := want.Cells[i]
				if cell.Name != wc.Name || cell.Inputs != wc.Inputs || !reflect.DeepEqual(cell.Concat, wc.Concat) {
					t.Errorf("cell %d: %s/%d/%v, JSON %s/%d/%v", i, cell.Name, cell.Inputs, cell.Concat, wc.Name, wc.Inputs, wc.Concat)
				}
				for j, node := range cell.Nodes {
					if len(node) != cell.Keep[j] {
						t.Errorf("cell %d node %d keeps %d inputs, keep says %d", i, j, len(node), cell.Keep[j])
					}
					if !reflect.DeepEqual(node, wc.Nodes[j]) {
						t.Errorf("cell %d node %d: %v, JSON %v", i, j, node, wc.Nodes[j])
					}
				}
			}
			if g.Darts != want.Darts || g.NB201 != want.NB201 {
				t.Errorf("darts %q nb201 %q; JSON %q %q", g.Darts, g.NB201, want.Darts, want.NB201)
			}

			m, err := engine.ParseMetricsFlatBuffer(r.MetricsFB)
			if err != nil {
				t.Fatal(err)
			}
			var wm engine.Metrics
			if err := json.Unmarshal(r.MetricsJSON, &wm); err != nil {
				t.Fatal(err)
			}
			if m != wm || m.Epoch != 2 || m.Step != 7 {
				t.Errorf("metrics buffer %+v\nJSON %+v", m, wm)
			}
		})
	}
}

// The same engine state gives the same bytes, and a buffer of one kind is not the other kind.
func TestResultBuffersDeterministicAndDistinct(t *testing.T) {
	a, err := ResultsOf(resultConfigs[1].config, 3, 4)
	if err != nil {
		t.Fatal(err)
	}
	b, err := ResultsOf(resultConfigs[1].config, 3, 4)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(a, b) {
		t.Error("the same calls gave different result bytes")
	}
	if _, err := engine.ParseGenotypeFlatBuffer(a.MetricsFB); err == nil {
		t.Error("a metrics buffer read as a genotype")
	}
	if _, err := engine.ParseMetricsFlatBuffer(a.GenotypeFB); err == nil {
		t.Error("a genotype buffer read as metrics")
	}
}
