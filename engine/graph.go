package engine

import (
	"fmt"
	"sync"

	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// graphPath is the gorgonia autodiff path (config "gradient": "graph"): one expression graph of the
// scalar objective
//
//	f = Σ A⊙G_A + Σ W⊙G_W + cα·H_α + cβ·L_E
//
// whose gradient with respect to α and β is exactly the dα and dβ of docs/DESIGN.md (Gradients) (J_Aᵀ G_A is the gradient of
// Σ A⊙G_A, and so on). It is built once per engine, on the first Step that needs it, for the engine's
// space and method, and run by one TapeMachine every step after that. It is the engine's reference:
// it writes what fastGradients writes, computed by a general-purpose autodiff library instead of
// hand-derived formulas. Its last bits may differ from the fast path's and between machines (the
// tensor library uses math.Exp and math.Log, not the engine's deterministic dexp and dlog).
//
// Layout. α is one [edges, ops] parameter, row-major exactly like e.alpha. β entries are grouped by
// node fan-in: the learnable nodes (k < n) with n inputs form one [count, n] parameter, so the graph
// has one softmax per distinct n instead of one per node (per-node slicing of one β vector compiles
// slowly for big spaces). Constant β entries (k == n, and every β under method darts) are not in the
// graph at all; their gradient is 0.
//
// gorgonia v0.9.18 and tensor v0.9.24 faults worked around here:
//   - Log(SoftMax(x)) is silently rewritten into LogSoftMax in place (upstream issue 569), and SoftMax
//     and LogSoftMax of one input collapse into one node: only LogSoftMax is used, and probabilities
//     are Exp of it.
//   - tensor's last-axis softmax seeds every row's maximum with the first element of the whole tensor
//     and never looks at a row's own first element, so a row far below that element over- or
//     underflows to NaN. Every softmax input is shifted by a constant fed in each step: row 0 by its
//     first element and every other row by its own maximum. Then the first element of the tensor is 0
//     and every later row's maximum is 0, so the seed is right for every row (log-softmax is
//     shift-invariant, and the shift is an input, not a function of α or β, so gradients are unchanged).
//   - Unnamed input nodes of one shape merge into one node: every input has its own name.
//   - With BindDualValues gradients accumulate across runs: the machine is built without it and the
//     gradient nodes that Grad returns are read instead, so nothing accumulates. They (and A) are read
//     by Read nodes that copy during the run into our buffers: an intermediate node's value read after
//     the run may already hold a later result, because the machine reuses memory (A read that way was
//     garbage).
//   - The library panics on some misuse: build and run recover and return an engine error.
//
// Kinks. The objective has no comparison ops: the sharpening, min(β, 1) and max(0, ·) are written
// with Rectify (x·[x ≥ 0]). They are arranged so that their one-sided derivatives at the kinks are
// the fast path's: g'(-1/2) = 2, d min(β,1)/dβ = 0 at β = 1, d max(0,m)/dm = 0 at m = 0.
type graphPath struct {
	g  *G.ExprGraph
	vm G.VM

	alpha, shiftA, gradA []float64 // backing arrays of the α-side inputs, [edges][ops]
	// The machine copies A into opW and dα into dAlpha during the run (read nodes). An intermediate
	// node's own value cannot be read after the run: the TapeMachine reuses its memory for later
	// results (A read that way came back as garbage).
	opW, dAlpha G.Value // tensors over e.opW and e.dAlpha

	cA, cB *G.F64 // the coefficients, bound to scalar inputs and updated in place

	groups []betaGroup
}

// betaGroup is the learnable nodes that share one fan-in n.
type betaGroup struct {
	n      int
	nodes  []node // in layout order; row r of the group's tensors is nodes[r]
	beta   []float64
	shift  []float64
	grad   []float64 // G_W, gathered
	dBeta  []float64 // dβ, copied by the machine, [count][n]
	dBetaV G.Value   // a tensor over dBeta
}

// graphBuildMu serializes graph construction, a gorgonia fault worked around: building touches
// package-level state without a lock (Rectify's encoding.NewGroup counter, the node collision
// counters), a data race that -race reports when two engines build at once (TestGradientGraph-
// ConcurrentEngines). Built graphs running at once showed no race.
var graphBuildMu sync.Mutex

// graphGradients writes dα and dβ (docs/DESIGN.md, The Adam step) into e.dAlpha and e.dBeta, and the op weights into e.opW,
// by running the engine's gorgonia graph. On any failure it returns an ErrInternal error and the
// engine's parameters are untouched (the scratch buffers may hold partial results).
func (e *Engine) graphGradients(gradOp, gradEdge []float32, coef Coefficients) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = Errorf(ErrInternal, "gradient graph: gorgonia panicked: %v", r)
		}
		if err != nil {
			e.graph = nil // a failed run may leave the machine mid-tape: rebuild on the next call
		}
	}()
	if e.graph == nil {
		gp, err := e.buildGraph()
		if err != nil {
			return err
		}
		e.graph = gp
	}
	return e.graph.run(e, gradOp, gradEdge, coef)
}

// buildGraph constructs the objective's graph, its gradient nodes and the TapeMachine.
func (e *Engine) buildGraph() (gp *graphPath, err error) {
	graphBuildMu.Lock()
	defer graphBuildMu.Unlock()
	defer func() {
		if r := recover(); r != nil {
			if be, ok := r.(graphBuildError); ok {
				gp, err = nil, Errorf(ErrInternal, "gradient graph: building the objective: %v", be.err)
				return
			}
			gp, err = nil, Errorf(ErrInternal, "gradient graph: building panicked: %v", r)
		}
	}()
	b := &graphBuilder{g: G.NewGraph()}
	gp = &graphPath{g: b.g}
	nE, nOps := e.lay.nEdges, e.lay.nOps

	// Scalar inputs: the coefficients, rebound in place each step.
	gp.cA, gp.cB = G.NewF64(0), G.NewF64(0)
	cA := G.NewScalar(b.g, tensor.Float64, G.WithName("c_alpha"), G.WithValue(gp.cA))
	cB := G.NewScalar(b.g, tensor.Float64, G.WithName("c_beta"), G.WithValue(gp.cB))

	// α side: z = g(α) (α for darts), A = softmax(z) per edge.
	var alpha, shiftA, gradA *G.Node
	alpha, gp.alpha = b.matrix("alpha", nE, nOps)
	shiftA, gp.shiftA = b.matrix("alpha_shift", nE, nOps)
	gradA, gp.gradA = b.matrix("grad_op", nE, nOps)
	z := alpha
	if e.cfg.Method != MethodDARTS {
		z = b.sharpen(alpha)
	}
	lsA := b.op(G.LogSoftMax(b.op(G.Sub(z, shiftA)), 1))
	opW := b.op(G.Exp(lsA))
	f := b.op(G.Sum(b.op(G.HadamardProd(opW, gradA))))
	hA := b.entropy(opW, lsA)
	f = b.op(G.Add(f, b.op(G.Mul(cA, hA))))
	wrt := G.Nodes{alpha}

	// β side: one group per fan-in n of the learnable nodes.
	if e.cfg.Method != MethodDARTS {
		byN := map[int]int{}
		for _, nd := range e.lay.nodes {
			if !nd.learnable() {
				continue
			}
			gi, ok := byN[nd.n]
			if !ok {
				gi = len(gp.groups)
				byN[nd.n] = gi
				gp.groups = append(gp.groups, betaGroup{n: nd.n})
			}
			gp.groups[gi].nodes = append(gp.groups[gi].nodes, nd)
		}
		one := G.NewConstant(1.0)
		wSum := G.NewConstant(e.cfg.Loss.WSum, G.WithName("w_sum"))
		for gi := range gp.groups {
			grp := &gp.groups[gi]
			c, n := len(grp.nodes), grp.n
			var beta, shift, grad *G.Node
			beta, grp.beta = b.matrix(fmt.Sprintf("beta_n%d", n), c, n)
			shift, grp.shift = b.matrix(fmt.Sprintf("beta_shift_n%d", n), c, n)
			grad, grp.grad = b.matrix(fmt.Sprintf("grad_edge_n%d", n), c, n)
			kept := make([]float64, c)
			for r, nd := range grp.nodes {
				kept[r] = float64(nd.k)
			}
			k := G.NewVector(b.g, tensor.Float64, G.WithShape(c), G.WithName(fmt.Sprintf("keep_n%d", n)),
				G.WithValue(tensor.New(tensor.WithShape(c), tensor.WithBacking(kept))))

			// m = min(β, 1) = β - Rectify(β - 1): exactly β below the clip, and d m/dβ = 1 - [β ≥ 1].
			m := b.op(G.Sub(beta, b.op(G.Rectify(b.op(G.Sub(beta, one))))))
			ls := b.op(G.LogSoftMax(b.op(G.Sub(m, shift)), 1))
			q := b.op(G.Exp(ls))
			w := b.op(G.Mul(q, G.NewConstant(float64(n), G.WithName(fmt.Sprintf("fan_in_%d", n)))))
			f = b.op(G.Add(f, b.op(G.Sum(b.op(G.HadamardProd(w, grad))))))
			// max(0, m) = m + Rectify(-m): derivative [m > 0], like the fast path's.
			pos := b.op(G.Add(m, b.op(G.Rectify(b.op(G.Neg(m))))))
			d := b.op(G.Sub(b.op(G.Sum(pos, 1)), k))
			pen := b.op(G.Mul(wSum, b.op(G.Sum(b.op(G.Square(d))))))
			lE := b.op(G.Add(b.entropy(q, ls), pen))
			f = b.op(G.Add(f, b.op(G.Mul(cB, lE))))
			wrt = append(wrt, beta)
		}
	}
	grads, err := G.Grad(f, wrt...)
	if err != nil {
		return nil, Errorf(ErrInternal, "gradient graph: differentiating: %v", err)
	}
	gp.opW = tensor.New(tensor.WithShape(nE, nOps), tensor.WithBacking(e.opW))
	gp.dAlpha = tensor.New(tensor.WithShape(nE, nOps), tensor.WithBacking(e.dAlpha))
	G.Read(opW, &gp.opW)
	G.Read(grads[0], &gp.dAlpha)
	for gi := range gp.groups {
		grp := &gp.groups[gi]
		grp.dBeta = make([]float64, len(grp.beta))
		grp.dBetaV = tensor.New(tensor.WithShape(len(grp.nodes), grp.n), tensor.WithBacking(grp.dBeta))
		G.Read(grads[1+gi], &grp.dBetaV)
	}
	gp.vm = G.NewTapeMachine(b.g)
	return gp, nil
}

// run feeds the current α, β, gradients and coefficients, runs the machine and scatters the results.
func (gp *graphPath) run(e *Engine, gradOp, gradEdge []float32, coef Coefficients) error {
	nOps := e.lay.nOps
	copy(gp.alpha, e.alpha)
	for i, v := range gradOp {
		gp.gradA[i] = float64(v)
	}
	var zb [64]float64
	z := zb[:0]
	if nOps > len(zb) {
		z = make([]float64, nOps)
	} else {
		z = zb[:nOps]
	}
	for off := 0; off < len(e.alpha); off += nOps {
		e.logits(e.alpha[off:off+nOps], z, nil)
		rowShift(z, gp.shiftA[off:off+nOps], off == 0)
	}
	for gi := range gp.groups {
		grp := &gp.groups[gi]
		for r, nd := range grp.nodes {
			row := r * grp.n
			bt := grp.beta[row : row+grp.n]
			copy(bt, e.beta[nd.edge:nd.edge+nd.n])
			for i := range bt {
				grp.grad[row+i] = float64(gradEdge[nd.edge+i])
			}
			m := grp.shift[row : row+grp.n] // min(β, 1), then replaced by the shift
			clipBeta(bt, m)
			rowShift(m, m, r == 0)
		}
	}
	*gp.cA, *gp.cB = G.F64(coef.OpEntropy()), G.F64(coef.EdgeLoss())

	defer gp.vm.Reset()
	if err := gp.vm.RunAll(); err != nil {
		return Errorf(ErrInternal, "gradient graph: running: %v", err)
	}

	// dα and A are in e.dAlpha and e.opW now; scatter dβ, 0 on constant entries.
	for i := range e.dBeta {
		e.dBeta[i] = 0
	}
	for gi := range gp.groups {
		grp := &gp.groups[gi]
		for r, nd := range grp.nodes {
			copy(e.dBeta[nd.edge:nd.edge+nd.n], grp.dBeta[r*grp.n:(r+1)*grp.n])
		}
	}
	return nil
}

// rowShift writes into shift (len(z)) the constant subtracted from every element of the row before
// the softmax: the row's first element when first (the first row of a tensor), else the row's maximum.
// See graphPath for why. shift may alias z.
func rowShift(z, shift []float64, first bool) {
	s := z[0]
	if !first {
		for _, v := range z[1:] {
			s = max(s, v)
		}
	}
	for i := range shift {
		shift[i] = s
	}
}

// graphBuilder adds nodes to one graph.
type graphBuilder struct {
	g *G.ExprGraph
}

// op returns n, or unwinds the construction with err; buildGraph recovers it into an engine error.
func (b *graphBuilder) op(n *G.Node, err error) *G.Node {
	if err != nil {
		panic(graphBuildError{err})
	}
	return n
}

type graphBuildError struct{ err error }

func (e graphBuildError) Error() string { return e.err.Error() }

// matrix adds a named [r, c] float64 input bound to a fresh backing array, which is returned so that
// run can refill it in place.
func (b *graphBuilder) matrix(name string, r, c int) (*G.Node, []float64) {
	back := make([]float64, r*c)
	t := tensor.New(tensor.WithShape(r, c), tensor.WithBacking(back))
	return G.NewMatrix(b.g, tensor.Float64, G.WithShape(r, c), G.WithName(name), G.WithValue(t)), back
}

// sharpen builds g(t) = 2t for t ≥ -1/2, (2t)³ below, without comparisons: with x = 2t and
// r = max(0, -1 - x) = Rectify(1 + x) - (1 + x) (exactly 0 on the linear branch, derivative 0 at the
// kink), x - 2r - 3r² - r³ = x - r(2 + r(3 + r)) is x where x ≥ -1 and x³ below.
func (b *graphBuilder) sharpen(t *G.Node) *G.Node {
	x := b.op(G.Mul(t, G.NewConstant(2.0)))
	v := b.op(G.Add(x, G.NewConstant(1.0)))
	r := b.op(G.Sub(b.op(G.Rectify(v)), v))
	inner := b.op(G.Add(r, G.NewConstant(3.0)))
	inner = b.op(G.Add(b.op(G.HadamardProd(r, inner)), G.NewConstant(2.0)))
	return b.op(G.Sub(x, b.op(G.HadamardProd(r, inner))))
}

// entropy builds -Σ p⊙log p from p = Exp(ls) and ls = LogSoftMax(·).
func (b *graphBuilder) entropy(p, ls *G.Node) *G.Node {
	return b.op(G.Neg(b.op(G.Sum(b.op(G.HadamardProd(p, ls))))))
}
