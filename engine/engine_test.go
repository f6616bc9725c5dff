package engine

import (
	"encoding/json"
	"errors"
	"math"
	"reflect"
	"testing"
)

// snapshot is everything Step may change, for unchanged-engine checks (independent of Save).
type snapshot struct {
	alpha, beta, ma, va, mb, vb []float64
	ta, tb, steps, epSteps      int64
	epoch                       int
}

func snap(e *Engine) snapshot {
	c := func(x []float64) []float64 { return append([]float64(nil), x...) }
	return snapshot{c(e.alpha), c(e.beta), c(e.adamA.M), c(e.adamA.V), c(e.adamB.M), c(e.adamB.V),
		e.adamA.Step, e.adamB.Step, e.steps, e.epSteps, e.epoch}
}

func TestStepRefusesNonFiniteAndWrongLengths(t *testing.T) {
	e := mustEngine(t, `{}`)
	nA, nE := e.Sizes()
	gA, gE := make([]float32, nA), make([]float32, nE)
	if err := e.Step(gA, gE); err != nil { // a normal step first, so moments are non-zero
		t.Fatal(err)
	}
	before := snap(e)
	inf := float32(math.Inf(1))
	nan := float32(math.NaN())
	cases := []struct {
		name   string
		gA, gE []float32
		want   error
	}{
		{"NaN in grad_op", with(gA, 17, nan), gE, ErrNumeric},
		{"+Inf in grad_op", with(gA, 0, inf), gE, ErrNumeric},
		{"-Inf in grad_edge", gA, with(gE, nE-1, -inf), ErrNumeric},
		{"NaN in grad_edge", gA, with(gE, 3, nan), ErrNumeric},
		{"short grad_op", gA[:nA-1], gE, ErrInvalidArgument},
		{"long grad_edge", gA, append(append([]float32{}, gE...), 0), ErrInvalidArgument},
		{"nil grads", nil, nil, ErrInvalidArgument},
	}
	for _, c := range cases {
		if err := e.Step(c.gA, c.gE); !errors.Is(err, c.want) {
			t.Errorf("%s: error %v, want %v", c.name, err, c.want)
		}
		if !reflect.DeepEqual(snap(e), before) {
			t.Fatalf("%s: the engine changed", c.name)
		}
	}
	// Gradients at the edge of float32 are finite and accepted; the state stays finite.
	big := make([]float32, nA)
	for i := range big {
		big[i] = math.MaxFloat32 * float32(1-2*(i%2))
	}
	if err := e.Step(big, gE); err != nil {
		t.Fatalf("max-float gradient: %v", err)
	}
	for _, v := range append(e.AlphaFloat64(), e.BetaFloat64()...) {
		if !isFinite(v) {
			t.Fatal("non-finite parameter after a max-float gradient")
		}
	}
}

func with(xs []float32, i int, v float32) []float32 {
	c := append([]float32(nil), xs...)
	c[i] = v
	return c
}

func TestSetEpochRangeAndHistory(t *testing.T) {
	e := mustEngine(t, `{"epochs": 3}`)
	for _, bad := range []int{0, -1, 4} {
		if err := e.SetEpoch(bad); !errors.Is(err, ErrInvalidArgument) {
			t.Errorf("SetEpoch(%d): %v, want ErrInvalidArgument", bad, err)
		}
	}
	nA, nE := e.Sizes()
	gA, gE := make([]float32, nA), make([]float32, nE)
	for epoch := 1; epoch <= 3; epoch++ {
		if err := e.SetEpoch(epoch); err != nil {
			t.Fatal(err)
		}
		for s := 0; s < epoch; s++ {
			if err := e.Step(gA, gE); err != nil {
				t.Fatal(err)
			}
		}
	}
	h := e.History()
	if len(h) != 3 {
		t.Fatalf("history has %d records, want 3", len(h))
	}
	for i, r := range h {
		if r.Epoch != i+1 || r.Steps != int64(i+1) || r.Metrics.Epoch != i+1 || r.Genotype == "" {
			t.Errorf("record %d: %+v", i, r)
		}
	}
	if h[2].Metrics.Step != 6 || e.Steps() != 6 {
		t.Errorf("step counts: record %d, engine %d; want 6", h[2].Metrics.Step, e.Steps())
	}
}

func TestInitializationIsSeededAndFollowsSpec(t *testing.T) {
	a := mustEngine(t, `{"seed": 42, "space": {"ops": ["x", "y"], "cells": [{"name": "c", "inputs": 2, "nodes": 4, "keep": [1, 3, 2, 4]}]}}`)
	b := mustEngine(t, `{"seed": 42, "space": {"ops": ["x", "y"], "cells": [{"name": "c", "inputs": 2, "nodes": 4, "keep": [1, 3, 2, 4]}]}}`)
	c := mustEngine(t, `{"seed": 43, "space": {"ops": ["x", "y"], "cells": [{"name": "c", "inputs": 2, "nodes": 4, "keep": [1, 3, 2, 4]}]}}`)
	if !reflect.DeepEqual(a.alpha, b.alpha) || !reflect.DeepEqual(a.beta, b.beta) {
		t.Error("same seed, different parameters")
	}
	if reflect.DeepEqual(a.alpha, c.alpha) {
		t.Error("different seeds, same alpha")
	}
	for i, v := range a.alpha {
		if v == 0 || math.Abs(v) > 6e-4 {
			t.Errorf("alpha[%d] = %v, want 1e-4 * N(0,1)", i, v)
		}
	}
	for _, nd := range a.lay.nodes {
		for i := 0; i < nd.n; i++ {
			v := a.beta[nd.edge+i]
			if !nd.learnable() && v != 1 {
				t.Errorf("node %d keeps all inputs: beta %v, want 1", nd.index, v)
			}
			if want := float64(nd.k) / float64(nd.n); nd.learnable() && (v == want || math.Abs(v-want) > 6e-4) {
				t.Errorf("node %d: beta %v, want %v + 1e-4 N(0,1)", nd.index, v, want)
			}
		}
	}
	// The draws are standard normal: over a large space, mean ≈ 0 and variance ≈ 1.
	big := mustEngine(t, `{"seed": 1, "space": {"ops": ["a","b","c","d","e","f","g","h"], "cells": [{"name": "c", "inputs": 2, "nodes": 60}]}}`)
	var sum, sq float64
	for _, v := range big.alpha {
		sum += v / 1e-4
		sq += (v / 1e-4) * (v / 1e-4)
	}
	n := float64(len(big.alpha))
	if mean, variance := sum/n, sq/n-(sum/n)*(sum/n); math.Abs(mean) > 0.05 || math.Abs(variance-1) > 0.05 {
		t.Errorf("init over %v draws: mean %v variance %v", n, mean, variance)
	}
}

func TestWeightsFollowSpec(t *testing.T) {
	for _, method := range []string{"daas", "darts"} {
		e := mustEngine(t, `{"method": "`+method+`", "space": {"ops": ["x", "y", "z"], "cells": [{"name": "c", "inputs": 2, "nodes": 3, "keep": [1, 3, 2]}]}}`)
		copy(e.alpha, []float64{0.3, -0.2, -0.9, 1, 2, 3})
		if method == "daas" {
			copy(e.beta, []float64{0.2, 1.5, 1, 1, 1, 0.1, -0.4, 0.9, 2})
		}
		nA, nE := e.Sizes()
		A, W := make([]float32, nA), make([]float32, nE)
		if err := e.Weights(A, W); err != nil {
			t.Fatal(err)
		}
		g := func(t float64) float64 {
			if method == "darts" {
				return t
			}
			if t >= -0.5 {
				return 2 * t
			}
			return math.Pow(2*t, 3)
		}
		softmax := func(z ...float64) []float64 {
			s := 0.0
			for _, v := range z {
				s += math.Exp(v)
			}
			out := make([]float64, len(z))
			for i, v := range z {
				out[i] = math.Exp(v) / s
			}
			return out
		}
		wantA := append(softmax(g(0.3), g(-0.2), g(-0.9)), softmax(g(1), g(2), g(3))...)
		for i, w := range wantA {
			if math.Abs(float64(A[i])-w) > 1e-7 {
				t.Errorf("%s: A[%d] = %v, want %v", method, i, A[i], w)
			}
		}
		wantW := []float64{1, 1, 1, 1, 1, 1, 1, 1, 1}
		if method == "daas" {
			q := softmax(0.2, 1) // min(β, 1)
			wantW[0], wantW[1] = 2*q[0], 2*q[1]
			for i, v := range softmax(0.1, -0.4, 0.9, 1) {
				wantW[5+i] = 4 * v
			}
		}
		for i, w := range wantW {
			if math.Abs(float64(W[i])-w) > 1e-7 {
				t.Errorf("%s: W[%d] = %v, want %v", method, i, W[i], w)
			}
		}
	}
	e := mustEngine(t, `{}`)
	if err := e.Weights(make([]float32, 3), make([]float32, 28)); !errors.Is(err, ErrInvalidArgument) {
		t.Errorf("short op buffer: %v", err)
	}
}

func TestMetricsJSONHasSpecKeys(t *testing.T) {
	e := mustEngine(t, `{}`)
	var m map[string]any
	if err := json.Unmarshal(e.Metrics().JSON(), &m); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"epoch", "step", "lambda_c", "lambda_alpha", "lambda_beta", "op_entropy",
		"edge_entropy", "edge_count_penalty", "discreteness"} {
		if _, ok := m[k]; !ok {
			t.Errorf("metrics lack %q: %v", k, m)
		}
	}
	// At initialization the op weights are near uniform over 7 ops.
	if d := m["discreteness"].(float64); math.Abs(d-1.0/7) > 1e-3 {
		t.Errorf("discreteness %v, want about 1/7", d)
	}
	if h := m["op_entropy"].(float64); math.Abs(h-28*math.Log(7)) > 1e-3 {
		t.Errorf("op entropy %v, want about 28 ln 7", h)
	}
}

func TestSearchBecomesDiscrete(t *testing.T) {
	// With gradients that favour one op and one input per node, DAAS's losses drive the weights
	// to near one-hot: a behavioural check of the whole step.
	e := mustEngine(t, `{"epochs": 10, "optimizer": {"alpha": {"lr": 0.05}, "beta": {"lr": 0.05}, "alpha_start_epoch": 1},
		"loss": {"lambda_c": {"scale": 1}}}`)
	nA, nE := e.Sizes()
	gA, gE := make([]float32, nA), make([]float32, nE)
	for i := range gA {
		if i%7 == 3 {
			gA[i] = -0.1
		}
	}
	start := e.Metrics().Discreteness
	for epoch := 1; epoch <= 10; epoch++ {
		if err := e.SetEpoch(epoch); err != nil {
			t.Fatal(err)
		}
		for s := 0; s < 50; s++ {
			if err := e.Step(gA, gE); err != nil {
				t.Fatal(err)
			}
		}
	}
	m := e.Metrics()
	if m.Discreteness < 0.95 || m.Discreteness <= start {
		t.Errorf("discreteness %v (from %v), want > 0.95", m.Discreteness, start)
	}
	for _, cell := range e.Discretize().Cells {
		for _, n := range cell.Nodes {
			for _, ch := range n {
				if ch.Op != "sep_conv_3x3" {
					t.Fatalf("op %q chosen, want sep_conv_3x3 (the favoured op)", ch.Op)
				}
			}
		}
	}
}

// TestReadOnlyCallsShareAnEngine runs every read-only method at once on one engine; under -race
// (make test runs the engine tests with it) any write to shared state is reported.
func TestReadOnlyCallsShareAnEngine(t *testing.T) {
	e := mustEngine(t, `{"space": "darts-none"}`)
	nA, nE := e.Sizes()
	done := make(chan error)
	for g := 0; g < 6; g++ {
		go func() {
			A, W := make([]float32, nA), make([]float32, nE)
			var err error
			for i := 0; i < 20 && err == nil; i++ {
				err = e.Weights(A, W)
				if err == nil {
					err = e.Alpha(A)
				}
				_ = e.Metrics()
				_ = e.Discretize()
				_ = e.History()
			}
			done <- err
		}()
	}
	for g := 0; g < 6; g++ {
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	}
}
