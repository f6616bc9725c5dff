package engine

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"strconv"
	"strings"
	"testing"
)

// Numerical robustness: α and β far outside their usual range, gradients at the edges of
// float32 (±MaxFloat32, subnormals) and long runs of random gradients never put NaN or Inf in the
// parameters, the Adam moments, the mixing weights, the metrics, the history or the saved state. A
// step is either taken (and everything stays finite) or refused with ErrNumeric, leaving the engine
// byte for byte as it was.

// robustConfig builds a validated configuration for a preset space and method.
func robustConfig(t *testing.T, space string, method Method, gradient Gradient, epochs int) Config {
	t.Helper()
	text := fmt.Sprintf(`{"space": %q, "method": %q, "gradient": %q, "epochs": %d, "seed": 3,
		"optimizer": {"alpha_start_epoch": 2}}`, space, method, gradient, epochs)
	cfg, err := ParseConfig([]byte(text))
	if err != nil {
		t.Fatalf("config %s: %v", text, err)
	}
	return cfg
}

func metricFloats(m Metrics) map[string]float64 {
	return map[string]float64{
		"lambda_c": m.LambdaC, "lambda_alpha": m.LambdaAlpha, "lambda_beta": m.LambdaBeta,
		"op_entropy": m.OpEntropy, "edge_entropy": m.EdgeEntropy, "edge_count_penalty": m.EdgeCountPenalty,
		"disc_loss": m.DiscLoss, "discreteness": m.Discreteness, "weakest_edge": m.WeakestEdge,
	}
}

// checkFinite fails the test if any number the engine holds or reports is NaN or Inf, or if the
// op weights leave [0, 1] or an edge weight leaves [0, n_j]. It returns false on the first failure so that long loops stop early.
func checkFinite(t *testing.T, e *Engine, where string) bool {
	t.Helper()
	for name, xs := range map[string][]float64{
		"alpha": e.alpha, "beta": e.beta, "adam alpha m": e.adamA.M, "adam alpha v": e.adamA.V,
		"adam beta m": e.adamB.M, "adam beta v": e.adamB.V,
	} {
		if i := firstNonFinite(xs); i >= 0 {
			t.Errorf("%s: %s[%d] = %v", where, name, i, xs[i])
			return false
		}
	}
	nA, nE := e.Sizes()
	op, edge := make([]float32, nA), make([]float32, nE)
	if err := e.Weights(op, edge); err != nil {
		t.Errorf("%s: Weights: %v", where, err)
		return false
	}
	for i, x := range op {
		if !(x >= 0 && x <= 1) { // also false for NaN
			t.Errorf("%s: op weights[%d] = %v, want within [0, 1]", where, i, x)
			return false
		}
	}
	for _, nd := range e.lay.nodes { // W = n_j * softmax(min(β_j, 1)): within [0, n_j]
		for i := nd.edge; i < nd.edge+nd.n; i++ {
			if x := edge[i]; !(x >= 0 && x <= float32(nd.n)) {
				t.Errorf("%s: edge weights[%d] = %v, want within [0, %d]", where, i, x, nd.n)
				return false
			}
		}
	}
	for name, x := range metricFloats(e.Metrics()) {
		if !isFinite(x) {
			t.Errorf("%s: metric %s = %v", where, name, x)
			return false
		}
	}
	for _, r := range e.History() {
		for name, x := range metricFloats(r.Metrics) {
			if !isFinite(x) {
				t.Errorf("%s: history epoch %d: metric %s = %v", where, r.Epoch, name, x)
				return false
			}
		}
	}
	return true
}

// robustStep takes one step and checks its outcome: success with everything finite, or ErrNumeric
// with the engine unchanged.
func robustStep(t *testing.T, e *Engine, gOp, gEdge []float32, where string) bool {
	t.Helper()
	before := e.Save()
	err := e.Step(gOp, gEdge)
	switch {
	case err == nil:
		return checkFinite(t, e, where)
	case errors.Is(err, ErrNumeric):
		if !bytes.Equal(before, e.Save()) {
			t.Errorf("%s: Step refused (%v) but changed the engine", where, err)
			return false
		}
		return true
	default:
		t.Errorf("%s: Step: %v", where, err)
		return false
	}
}

// checkRoundTrip saves, loads and saves again: the bytes must be identical, and Discretize must give
// a genotype of valid JSON.
func checkRoundTrip(t *testing.T, e *Engine, where string) {
	t.Helper()
	data := e.Save()
	back, err := Load(data)
	if err != nil {
		t.Fatalf("%s: Load of a saved state: %v", where, err)
	}
	if !bytes.Equal(back.Save(), data) {
		t.Errorf("%s: the reloaded state saves different bytes", where)
	}
	g := e.Discretize().JSON()
	if !json.Valid(g) {
		t.Errorf("%s: Discretize gave invalid JSON %q", where, g)
	}
}

// extremeGradients are the hostile gradient patterns, for vectors of length n.
func extremeGradients(n int) map[string][]float32 {
	const max, tiny = math.MaxFloat32, math.SmallestNonzeroFloat32
	fill := func(f func(i int) float32) []float32 {
		g := make([]float32, n)
		for i := range g {
			g[i] = f(i)
		}
		return g
	}
	return map[string][]float32{
		"+max":       fill(func(int) float32 { return max }),
		"-max":       fill(func(int) float32 { return -max }),
		"±max":       fill(func(i int) float32 { return float32(1-2*(i%2)) * max }),
		"+subnormal": fill(func(int) float32 { return tiny }),
		"-subnormal": fill(func(int) float32 { return -tiny }),
		"±subnormal": fill(func(i int) float32 { return float32(1-2*(i%3%2)) * tiny * float32(1+i%5) }),
		"max+tiny":   fill(func(i int) float32 { return []float32{max, tiny, -max, -tiny, 0}[i%5] }),
		"1e30":       fill(func(i int) float32 { return float32(1-2*(i%2)) * 1e30 }),
		"zero":       fill(func(int) float32 { return 0 }),
	}
}

// setExtreme writes a pattern of values of magnitude 1e4 into α and into the learnable β entries.
func setExtreme(e *Engine, pattern string, rng *normalSource) {
	val := func(i int) float64 {
		switch pattern {
		case "+1e4":
			return 1e4
		case "-1e4":
			return -1e4
		case "±1e4":
			return float64(1-2*(i%2)) * 1e4
		default: // uniform in (-1e4, 1e4)
			return 1e4 * rng.uniform()
		}
	}
	for i := range e.alpha {
		e.alpha[i] = val(i)
	}
	if e.cfg.Method == MethodDAAS {
		for _, nd := range e.lay.nodes {
			if nd.learnable() {
				for i := nd.edge; i < nd.edge+nd.n; i++ {
					e.beta[i] = val(i + 1)
				}
			}
		}
	}
}

func TestRobustExtremeParameters(t *testing.T) {
	type variant struct {
		space    string
		method   Method
		gradient Gradient
	}
	variants := []variant{
		{"darts", MethodDAAS, GradientFast}, {"darts", MethodDARTS, GradientFast},
		{"nb201", MethodDAAS, GradientFast}, {"darts-none", MethodDAAS, GradientFast},
		{"nb201", MethodDAAS, GradientGraph},
	}
	for _, v := range variants {
		for _, pattern := range []string{"+1e4", "-1e4", "±1e4", "random"} {
			name := fmt.Sprintf("%s/%s/%s/%s", v.space, v.method, v.gradient, pattern)
			t.Run(name, func(t *testing.T) {
				const epochs = 6
				e, err := New(robustConfig(t, v.space, v.method, v.gradient, epochs))
				if err != nil {
					t.Fatal(err)
				}
				rng := newNormalSource(11)
				setExtreme(e, pattern, rng)
				if !checkFinite(t, e, "after setting α, β") {
					return
				}
				checkRoundTrip(t, e, "extreme α, β")
				nA, nE := e.Sizes()
				gOps, gEdges := extremeGradients(nA), extremeGradients(nE)
				for epoch := 1; epoch <= epochs; epoch++ {
					if err := e.SetEpoch(epoch); err != nil {
						t.Fatal(err)
					}
					for gname, gOp := range gOps {
						for ename, gEdge := range gEdges {
							where := fmt.Sprintf("epoch %d, grad_op %s, grad_edge %s", epoch, gname, ename)
							if !robustStep(t, e, gOp, gEdge, where) {
								return
							}
						}
					}
					setExtreme(e, pattern, rng) // back to the extremes the steps moved away from
				}
				checkRoundTrip(t, e, "after the steps")
			})
		}
	}
}

// robustSteps is the length of the long random run: 10^4 in go test, DAAS_ROBUST_STEPS (make soak
// sets 10^6) otherwise.
func robustSteps(t *testing.T) int {
	if s := os.Getenv("DAAS_ROBUST_STEPS"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 {
			t.Fatalf("DAAS_ROBUST_STEPS=%q is not a positive count", s)
		}
		return n
	}
	return 10_000
}

// randomGradient draws a heavy-tailed gradient entry: mostly small normals, sometimes huge, sometimes
// subnormal, now and then the largest float32 or zero.
func randomGradient(rng *normalSource) float32 {
	u := rng.uniform()
	switch {
	case u < -0.98:
		return math.MaxFloat32 * float32(sign(rng.uniform()))
	case u < -0.95:
		return math.SmallestNonzeroFloat32 * float32(1+int(1e3*math.Abs(rng.uniform()))) * float32(sign(rng.uniform()))
	case u < -0.9:
		return float32(1e30 * rng.next())
	case u < -0.88:
		return 0
	default:
		return float32(0.1 * rng.next() * float64(dexp(4*rng.uniform())))
	}
}

func sign(x float64) float64 {
	if x < 0 {
		return -1
	}
	return 1
}

func TestRobustLongRandomRun(t *testing.T) {
	steps := robustSteps(t)
	for _, method := range []Method{MethodDAAS, MethodDARTS} {
		t.Run(string(method), func(t *testing.T) {
			const epochs = 20
			e, err := New(robustConfig(t, "darts", method, GradientFast, epochs))
			if err != nil {
				t.Fatal(err)
			}
			rng := newNormalSource(uint64(steps))
			nA, nE := e.Sizes()
			gOp, gEdge := make([]float32, nA), make([]float32, nE)
			perEpoch := max(1, steps/epochs)
			refused := 0
			for s := 0; s < steps; s++ {
				if s%perEpoch == 0 {
					if err := e.SetEpoch(min(epochs, 1+s/perEpoch)); err != nil {
						t.Fatal(err)
					}
				}
				for i := range gOp {
					gOp[i] = randomGradient(rng)
				}
				for i := range gEdge {
					gEdge[i] = randomGradient(rng)
				}
				if err := e.Step(gOp, gEdge); err != nil {
					if !errors.Is(err, ErrNumeric) {
						t.Fatalf("step %d: %v", s, err)
					}
					refused++
				}
				for name, xs := range map[string][]float64{"alpha": e.alpha, "beta": e.beta} {
					if i := firstNonFinite(xs); i >= 0 {
						t.Fatalf("step %d: %s[%d] = %v", s, name, i, xs[i])
					}
				}
				if s%1000 == 999 && !checkFinite(t, e, fmt.Sprintf("step %d", s)) {
					return
				}
			}
			if !checkFinite(t, e, "the end") {
				return
			}
			checkRoundTrip(t, e, "the end")
			if e.Steps()+int64(refused) != int64(steps) {
				t.Errorf("%d steps taken + %d refused, want %d", e.Steps(), refused, steps)
			}
			t.Logf("%d steps, %d refused with ErrNumeric", steps, refused)
		})
	}
}

// TestStateBounds checks the bounds a state keeps (|α|, |β| <= paramLimit, |m| <= momentLimit,
// 0 <= v <= momentLimit²): Load refuses a state outside them, a state at the very edge of them still
// gives finite weights and metrics, every step from it is taken or refused with the engine unchanged,
// and whatever a step commits saves and loads again.
func TestStateBounds(t *testing.T) {
	fresh := func(t *testing.T, extra string) *Engine {
		t.Helper()
		return mustEngine(t, `{"epochs": 3, "seed": 4`+extra+`}`)
	}
	t.Run("load refuses", func(t *testing.T) {
		for _, c := range []struct {
			name string
			set  func(e *Engine)
			want string
		}{
			{"alpha 1e160", func(e *Engine) { e.alpha[0] = 1e160 }, "state.alpha[0] is 1e+160"},
			{"alpha just past", func(e *Engine) { e.alpha[5] = -math.Nextafter(paramLimit, math.Inf(1)) }, "state.alpha[5]"},
			{"beta", func(e *Engine) { e.beta[3] = 2e12 }, "state.beta[3]"},
			{"alpha m", func(e *Engine) { e.adamA.M[7] = -1e101 }, "state.adam_alpha.m[7]"},
			{"beta v", func(e *Engine) { e.adamB.V[2] = 1e201 }, "state.adam_beta.v[2]"},
			{"negative v", func(e *Engine) { e.adamA.V[1] = -1e-300 }, "state.adam_alpha.v[1]"},
		} {
			e := fresh(t, "")
			c.set(e)
			_, err := Load(e.Save())
			if !errors.Is(err, ErrCorruptState) || !strings.Contains(err.Error(), c.want) {
				t.Errorf("%s: Load gave %v, want ErrCorruptState naming %q", c.name, err, c.want)
			}
		}
	})
	t.Run("at the edge", func(t *testing.T) {
		e := fresh(t, "")
		rng := newNormalSource(9)
		edge := func(limit float64) float64 { return sign(rng.next()) * limit }
		for i := range e.alpha {
			e.alpha[i], e.adamA.M[i], e.adamA.V[i] = edge(paramLimit), edge(momentLimit), momentLimit*momentLimit
		}
		for _, nd := range e.lay.nodes {
			for i := nd.edge; nd.learnable() && i < nd.edge+nd.n; i++ {
				e.beta[i], e.adamB.M[i], e.adamB.V[i] = edge(paramLimit), edge(momentLimit), momentLimit*momentLimit
			}
		}
		loaded, err := Load(e.Save())
		if err != nil {
			t.Fatalf("a state at the bounds: %v", err)
		}
		if !checkFinite(t, loaded, "at the bounds") {
			return
		}
		nA, nE := loaded.Sizes()
		gOps, gEdges := extremeGradients(nA), extremeGradients(nE)
		taken, refused := 0, 0
		for epoch := 1; epoch <= 3; epoch++ {
			if err := loaded.SetEpoch(epoch); err != nil {
				t.Fatal(err)
			}
			for gname, gOp := range gOps {
				for ename, gEdge := range gEdges {
					where := fmt.Sprintf("epoch %d, grad_op %s, grad_edge %s", epoch, gname, ename)
					steps := loaded.Steps()
					if !robustStep(t, loaded, gOp, gEdge, where) {
						return
					}
					if loaded.Steps() == steps {
						refused++
						continue
					}
					taken++
					checkRoundTrip(t, loaded, where)
				}
			}
		}
		t.Logf("%d steps taken, %d refused", taken, refused)
		if taken == 0 {
			t.Errorf("no step taken from the edge of the bounds (%d refused)", refused)
		}
		// A first moment at its bound over a zero second moment moves β by about lr·1e100/eps: the
		// state loads, and the step is refused with the engine unchanged.
		j := -1
		for _, nd := range loaded.lay.nodes {
			if nd.learnable() && j < 0 {
				j = nd.edge
			}
		}
		loaded.adamB.M[j], loaded.adamB.V[j] = momentLimit, 0
		again, err := Load(loaded.Save())
		if err != nil {
			t.Fatalf("m at its bound over v = 0: %v", err)
		}
		if err := again.Step(gOps["zero"], gEdges["zero"]); !errors.Is(err, ErrNumeric) {
			t.Fatalf("a step that would move beta[%d] by 1e100/eps gave %v, want ErrNumeric", j, err)
		} else {
			t.Log(err)
		}
		robustStep(t, again, gOps["zero"], gEdges["zero"], "m at its bound over v = 0")
	})
	for _, c := range []struct{ name, extra, want string }{
		{"huge lr", `, "optimizer": {"beta": {"lr": 1e300}}`, "beta["},
		{"huge weight decay", `, "optimizer": {"alpha": {"weight_decay": 1e300}}`, "alpha"},
	} {
		t.Run(c.name, func(t *testing.T) {
			e := fresh(t, c.extra)
			nA, nE := e.Sizes()
			gOp, gEdge := make([]float32, nA), make([]float32, nE)
			for i := range gOp {
				gOp[i] = 0.01 * float32(i%7-3)
			}
			for i := range gEdge {
				gEdge[i] = 0.01 * float32(i%5-2)
			}
			before := e.Save()
			err := e.Step(gOp, gEdge)
			if !errors.Is(err, ErrNumeric) || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("Step gave %v, want ErrNumeric naming %q", err, c.want)
			}
			if !bytes.Equal(e.Save(), before) {
				t.Fatal("the refused step changed the engine")
			}
			checkRoundTrip(t, e, "after the refused step")
		})
	}
}
