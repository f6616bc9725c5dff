package engine

import (
	"bytes"
	"errors"
	"fmt"
	"math"
	"strings"
	"testing"
)

// A small synthetic search in which the task itself resists discretization: its loss
// ½ Σ (A - t)² wants every edge split 0.55/0.45 between its first two ops, and ½ Σ (W - 1)² wants
// every input of a node at edge weight about 1, so the cut always drops mass. The discretization losses at
// their fixed schedules lose to it; the controller has to win.
const (
	ctlEpochs        = 12
	ctlStepsPerEpoch = 25
	ctlTask          = 8.0 // scale of the task's gradients
)

func controlConfig(gradient string, control string) string {
	c := fmt.Sprintf(`{"space": "darts", "epochs": %d, "seed": 3, "gradient": %q,
		"optimizer": {"alpha": {"lr": 0.05, "betas": [0.5, 0.999], "eps": 1e-8, "weight_decay": 0.001},
		              "beta": {"lr": 0.05, "betas": [0.5, 0.999], "eps": 1e-8, "weight_decay": 0.001}},
		"loss": {"lambda_c": {"type": "linear", "scale": 0.3}}`, ctlEpochs, gradient)
	if control != "" {
		c += `, "control": ` + control
	}
	return c + "}"
}

const ctlTargets = `{"edge_target": 0.99, "mass_target": 0.99, "by_epoch": 8}`

// taskGradients writes the synthetic task's gradients at the engine's current weights.
func taskGradients(t testing.TB, e *Engine, gOp, gEdge []float32) {
	t.Helper()
	op, edge := make([]float32, len(gOp)), make([]float32, len(gEdge))
	if err := e.Weights(op, edge); err != nil {
		t.Fatal(err)
	}
	nOps := e.lay.nOps
	for i, a := range op {
		target := float32(0)
		switch i % nOps {
		case 3:
			target = 0.55
		case 4:
			target = 0.45
		}
		gOp[i] = ctlTask * (a - target)
	}
	for i, w := range edge {
		gEdge[i] = ctlTask * (w - 1 - 0.1*float32(i%3)) // every input wanted, some a little more
	}
}

// runControlled takes steps from..to-1 of the synthetic search (epochs set from the step number).
func runControlled(t testing.TB, e *Engine, from, to int) {
	t.Helper()
	nA, nE := e.Sizes()
	gOp, gEdge := make([]float32, nA), make([]float32, nE)
	for s := from; s < to; s++ {
		if err := e.SetEpoch(1 + s/ctlStepsPerEpoch); err != nil {
			t.Fatal(err)
		}
		taskGradients(t, e, gOp, gEdge)
		if err := e.Step(gOp, gEdge); err != nil {
			t.Fatalf("step %d: %v", s, err)
		}
	}
}

const ctlSteps = ctlEpochs * ctlStepsPerEpoch

func TestControlReachesTargetWhereSchedulesDoNot(t *testing.T) {
	for _, gradient := range []string{"fast", "graph"} {
		t.Run(gradient, func(t *testing.T) {
			plain := mustEngine(t, controlConfig(gradient, ""))
			runControlled(t, plain, 0, ctlSteps)
			pm := plain.Metrics()
			if pm.WeakestKeptEdge >= 0.9 || pm.KeptMass >= 0.9 {
				t.Fatalf("without the controller the synthetic task should keep the supernet soft; got weakest kept edge %.4f, kept mass %.4f",
					pm.WeakestKeptEdge, pm.KeptMass)
			}
			if pm.OpBoost != 1 || pm.EdgeBoost != 1 {
				t.Errorf("boosts without a controller: %v, %v; want 1", pm.OpBoost, pm.EdgeBoost)
			}
			ctl := mustEngine(t, controlConfig(gradient, ctlTargets))
			nA, nE := ctl.Sizes()
			gOp, gEdge := make([]float32, nA), make([]float32, nE)
			reachedBy := 0
			maxOp, maxEdge := 1.0, 1.0
			for s := 0; s < ctlSteps; s++ {
				if err := ctl.SetEpoch(1 + s/ctlStepsPerEpoch); err != nil {
					t.Fatal(err)
				}
				taskGradients(t, ctl, gOp, gEdge)
				if err := ctl.Step(gOp, gEdge); err != nil {
					t.Fatal(err)
				}
				m := ctl.Metrics()
				maxOp, maxEdge = max(maxOp, m.OpBoost), max(maxEdge, m.EdgeBoost)
				if reachedBy == 0 && m.WeakestKeptEdge >= 0.99 && m.KeptMass >= 0.99 {
					reachedBy = ctl.Epoch()
				}
			}
			m := ctl.Metrics()
			t.Logf("%s: plain weakest %.4f mass %.4f; controlled weakest %.4f mass %.4f (targets met in epoch %d), boosts at most %.1f / %.1f, final %.2f / %.2f",
				gradient, pm.WeakestKeptEdge, pm.KeptMass, m.WeakestKeptEdge, m.KeptMass, reachedBy, maxOp, maxEdge, m.OpBoost, m.EdgeBoost)
			if m.WeakestKeptEdge < 0.99 || m.KeptMass < 0.99 {
				t.Errorf("with the controller: weakest kept edge %.4f, kept mass %.4f; want both >= 0.99", m.WeakestKeptEdge, m.KeptMass)
			}
			if reachedBy == 0 || reachedBy > 10 {
				t.Errorf("targets met in epoch %d, want by epoch 10 (control.by_epoch)", reachedBy)
			}
			if maxOp <= 1 || maxEdge <= 1 {
				t.Errorf("the boosts never rose (%v, %v): the controller did nothing", maxOp, maxEdge)
			}
		})
	}
}

// A target the search always meets leaves the boosts at 1: the controller adds no pressure the
// target does not need, and α and β are those of the run without it, bit for bit.
func TestControlAddsNothingWhenAhead(t *testing.T) {
	plain := mustEngine(t, controlConfig("fast", ""))
	ctl := mustEngine(t, controlConfig("fast", `{"edge_target": 0.01, "mass_target": 0.01}`))
	runControlled(t, plain, 0, ctlSteps)
	runControlled(t, ctl, 0, ctlSteps)
	m := ctl.Metrics()
	if m.OpBoost != 1 || m.EdgeBoost != 1 {
		t.Errorf("boosts %v, %v; want 1", m.OpBoost, m.EdgeBoost)
	}
	for i := range plain.alpha {
		if math.Float64bits(plain.alpha[i]) != math.Float64bits(ctl.alpha[i]) {
			t.Fatalf("alpha[%d] %v differs from the run without a controller (%v)", i, ctl.alpha[i], plain.alpha[i])
		}
	}
	for i := range plain.beta {
		if math.Float64bits(plain.beta[i]) != math.Float64bits(ctl.beta[i]) {
			t.Fatalf("beta[%d] %v differs from the run without a controller (%v)", i, ctl.beta[i], plain.beta[i])
		}
	}
}

// Saving and loading at any step continues bit for bit: the boosts live in the state.
func TestControlResumeBitIdentical(t *testing.T) {
	for _, gradient := range []string{"fast", "graph"} {
		t.Run(gradient, func(t *testing.T) {
			ref := mustEngine(t, controlConfig(gradient, ctlTargets))
			runControlled(t, ref, 0, ctlSteps)
			want := ref.Save()
			if m := ref.Metrics(); m.OpBoost == 1 && m.EdgeBoost == 1 {
				t.Fatalf("the boosts ended at 1; pick a resume test whose controller is active")
			}
			stride := 1
			if gradient == "graph" || testing.Short() {
				stride = 7
			}
			// One run advanced stride steps at a time supplies the state after step k (the same
			// as a fresh run to k: the engine is deterministic), so only the resumed tails repeat.
			e := mustEngine(t, controlConfig(gradient, ctlTargets))
			runControlled(t, e, 0, 1)
			for k := 1; k < ctlSteps; k += stride {
				if k > 1 {
					runControlled(t, e, k-stride, k)
				}
				loaded, err := Load(e.Save())
				if err != nil {
					t.Fatalf("load after step %d: %v", k, err)
				}
				if loaded.boost != e.boost {
					t.Fatalf("after step %d the loaded boosts %v differ from %v", k, loaded.boost, e.boost)
				}
				runControlled(t, loaded, k, ctlSteps)
				if got := loaded.Save(); !bytes.Equal(got, want) {
					t.Fatalf("resumed after step %d: the final state differs from the uninterrupted run", k)
				}
			}
		})
	}
}

func TestControlStateRefusesBadBoosts(t *testing.T) {
	e := mustEngine(t, controlConfig("fast", ctlTargets))
	runControlled(t, e, 0, 3*ctlStepsPerEpoch)
	for _, b := range []boosts{{0.5, 1}, {1, 101}, {math.NaN(), 1}, {1, math.Inf(1)}} {
		saved := e.boost
		e.boost = b
		data := e.Save()
		e.boost = saved
		if _, err := Load(data); err == nil || !strings.Contains(err.Error(), "boost") {
			t.Errorf("boosts %v: Load gave %v, want a refusal naming the boost", b, err)
		}
	}
	// A state saved without a controller does not load as one with it, and the other way round.
	plain := mustEngine(t, controlConfig("fast", ""))
	if _, err := Load(plain.Save()); err != nil {
		t.Fatal(err)
	}
}

// weakest_kept_edge and kept_mass from the handed-out weights and the genotype, written out
// independently of the engine's own code.
func TestKeptFiguresMatchFormula(t *testing.T) {
	for _, cfg := range []string{
		controlConfig("fast", ""),
		`{"space": {"ops": ["none", "a", "b"], "discard": ["none"], "cells": [{"name": "c", "inputs": 2, "nodes": 4, "keep": [1, 3, 2, 4]}]}, "epochs": 6}`,
		`{"space": "nb201", "epochs": 6}`,
		`{"space": "darts", "method": "darts", "epochs": 6}`,
	} {
		e := mustEngine(t, cfg)
		steps := 4 * ctlStepsPerEpoch
		if strings.Contains(cfg, `"darts", "epochs": 12`) {
			steps = ctlSteps
		}
		nA, nE := e.Sizes()
		gOp, gEdge := make([]float32, nA), make([]float32, nE)
		for s := 0; s < steps; s++ {
			_ = e.SetEpoch(min(1+s/ctlStepsPerEpoch, e.cfg.Epochs))
			for i := range gOp {
				gOp[i] = float32(math.Sin(float64(3*i+s))) * 0.5
			}
			for i := range gEdge {
				gEdge[i] = float32(math.Cos(float64(5*i+s))) * 0.5
			}
			if err := e.Step(gOp, gEdge); err != nil {
				t.Fatal(err)
			}
		}
		op, edge := make([]float32, nA), make([]float32, nE)
		if err := e.Weights(op, edge); err != nil {
			t.Fatal(err)
		}
		g := e.Discretize()
		nOps := len(e.cfg.Space.Ops)
		weakest, mass := 1.0, 1.0
		base := 0
		for ci, c := range e.cfg.Space.Cells {
			for j, kept := range g.Cells[ci].Nodes {
				first := base + j*c.Inputs + j*(j-1)/2
				total, keptW := 0.0, 0.0
				for i := 0; i < c.Inputs+j; i++ {
					total += float64(edge[first+i])
				}
				for _, ch := range kept {
					eIdx := first + ch.Input
					o := indexOf(e.cfg.Space.Ops, ch.Op)
					weakest = min(weakest, float64(op[eIdx*nOps+o]))
					keptW += float64(edge[eIdx])
					if math.Abs(ch.Weight-float64(edge[eIdx])) > 1e-6*float64(edge[eIdx]) {
						t.Errorf("%s: genotype weight of cell %d node %d input %d is %v, the edge weight %v", cfg, ci, j, ch.Input, ch.Weight, edge[eIdx])
					}
				}
				mass = min(mass, keptW/total)
			}
			base += c.Edges()
		}
		m := e.Metrics()
		if math.Abs(m.WeakestKeptEdge-weakest) > 1e-6 || math.Abs(m.KeptMass-mass) > 1e-6 {
			t.Errorf("%s: metrics weakest_kept_edge %v kept_mass %v; the formula gives %v, %v", cfg, m.WeakestKeptEdge, m.KeptMass, weakest, mass)
		}
		if len(e.cfg.Space.Discard) == 0 && m.WeakestKeptEdge < m.WeakestEdge-1e-15 {
			t.Errorf("%s: weakest_kept_edge %v below weakest_edge %v", cfg, m.WeakestKeptEdge, m.WeakestEdge)
		}
	}
}

func indexOf(xs []string, x string) int {
	for i, v := range xs {
		if v == x {
			return i
		}
	}
	return -1
}

func TestControlConfig(t *testing.T) {
	c, err := ParseConfig([]byte(`{"epochs": 30, "control": {"edge_target": 0.99}}`))
	if err != nil {
		t.Fatal(err)
	}
	want := Control{EdgeTarget: 0.99, StartEpoch: 5, ByEpoch: 24, Gain: 0.05, Decay: 0.01, MaxBoost: 100}
	if c.Control == nil || *c.Control != want {
		t.Fatalf("control %+v, want %+v", c.Control, want)
	}
	again, err := ParseConfig(c.JSON())
	if err != nil || !bytes.Equal(again.JSON(), c.JSON()) {
		t.Fatalf("canonical JSON does not round-trip: %v", err)
	}
	if none, _ := ParseConfig([]byte(`{}`)); none.Control != nil || strings.Contains(string(none.JSON()), "control") {
		t.Errorf("no control configured, but the config holds %s", none.JSON())
	}
	for _, bad := range []struct{ config, key string }{
		{`{"control": {}}`, "control:"},
		{`{"control": {"edge_target": 1}}`, "control.edge_target"},
		{`{"control": {"mass_target": -0.1}}`, "control.mass_target"},
		{`{"control": {"edge_target": 0.9, "by_epoch": 51}}`, "control.by_epoch"},
		{`{"control": {"edge_target": 0.9, "start_epoch": 20, "by_epoch": 10}}`, "control.by_epoch"},
		{`{"control": {"edge_target": 0.9, "gain": 2}}`, "control.gain"},
		{`{"control": {"edge_target": 0.9, "decay": 1}}`, "control.decay"},
		{`{"control": {"edge_target": 0.9, "max_boost": 0.5}}`, "control.max_boost"},
		{`{"control": {"edge_target": 0.9, "speed": 1}}`, `unknown key "speed" in control`},
		{`{"method": "darts", "control": {"edge_target": 0.9}}`, "control:"},
	} {
		_, err := ParseConfig([]byte(bad.config))
		if err == nil || !strings.Contains(err.Error(), bad.key) {
			t.Errorf("%s: got %v, want an error naming %s", bad.config, err, bad.key)
		}
	}
}

// The delays left out scale with the epochs (the reference's 8 at 50); explicit ones that leave no
// epoch to act in are refused with the key named.
func TestDelayDefaultsScaleWithEpochs(t *testing.T) {
	for _, tc := range []struct{ epochs, want int }{{1, 1}, {2, 1}, {3, 1}, {8, 1}, {10, 2}, {30, 5}, {50, 8}, {100, 16}} {
		c, err := ParseConfig([]byte(fmt.Sprintf(`{"epochs": %d}`, tc.epochs)))
		if err != nil {
			t.Fatalf("epochs %d: %v", tc.epochs, err)
		}
		if c.Optimizer.AlphaStartEpoch != tc.want || c.Loss.LambdaAlpha.Delay != tc.want {
			t.Errorf("epochs %d: alpha_start_epoch %d, lambda_alpha.delay %d; want %d", tc.epochs,
				c.Optimizer.AlphaStartEpoch, c.Loss.LambdaAlpha.Delay, tc.want)
		}
	}
	def := DefaultConfig()
	if c, _ := ParseConfig([]byte(`{}`)); c.Optimizer.AlphaStartEpoch != def.Optimizer.AlphaStartEpoch || c.Loss.LambdaAlpha.Delay != def.Loss.LambdaAlpha.Delay {
		t.Errorf("the 50-epoch defaults differ from DefaultConfig's")
	}
	// A 3-epoch search with the defaults moves α.
	e := mustEngine(t, `{"epochs": 3, "optimizer": {"alpha": {"lr": 0.1}}}`)
	before := e.AlphaFloat64()
	nA, nE := e.Sizes()
	g := make([]float32, nA)
	for i := range g {
		g[i] = float32(i%7) - 3
	}
	if err := e.Step(g, make([]float32, nE)); err != nil {
		t.Fatal(err)
	}
	if after := e.AlphaFloat64(); after[0] == before[0] {
		t.Errorf("alpha did not move in a 3-epoch search with the default delays")
	}
	for _, bad := range []struct{ config, key string }{
		{`{"epochs": 3, "optimizer": {"alpha_start_epoch": 8}}`, "optimizer.alpha_start_epoch: 8 starts too late"},
		{`{"epochs": 3, "optimizer": {"alpha_start_epoch": 3}}`, "optimizer.alpha_start_epoch: 3 starts too late"},
		{`{"epochs": 3, "loss": {"lambda_alpha": {"type": "log", "scale": 1, "delay": 8}}}`, "loss.lambda_alpha.delay: 8"},
		{`{"epochs": 5, "loss": {"lambda_c": {"type": "linear", "scale": 1, "delay": 5}}}`, "loss.lambda_c.delay: 5"},
	} {
		_, err := ParseConfig([]byte(bad.config))
		if err == nil || !strings.Contains(err.Error(), bad.key) || !errors.Is(err, ErrInvalidConfig) {
			t.Errorf("%s: got %v, want INVALID_CONFIG naming %q", bad.config, err, bad.key)
		}
	}
	for _, ok := range []string{`{"epochs": 1, "optimizer": {"alpha_start_epoch": 1}}`, `{"epochs": 3, "optimizer": {"alpha_start_epoch": 2}}`} {
		if _, err := ParseConfig([]byte(ok)); err != nil {
			t.Errorf("%s: %v", ok, err)
		}
	}
}

func TestBetasNeedTwoValues(t *testing.T) {
	for _, bad := range []string{`{"optimizer": {"alpha": {"betas": [0.9]}}}`, `{"optimizer": {"beta": {"betas": [0.9, 0.99, 0.5]}}}`} {
		if _, err := ParseConfig([]byte(bad)); err == nil || !strings.Contains(err.Error(), "betas: want 2 values") {
			t.Errorf("%s: got %v, want a refusal naming betas", bad, err)
		}
	}
}
