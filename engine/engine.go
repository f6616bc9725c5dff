package engine

import (
	"fmt"
	"math"
)

// Engine is one architecture search: its configuration, α and β, the two Adam groups, the schedule
// position and the per-epoch history. Create one with New or Load.
type Engine struct {
	cfg       Config
	lay       layout
	alpha     []float64 // [cell][edge][op]
	beta      []float64 // [cell][edge]; 1.0 on nodes that keep every input
	adamA     adamState
	adamB     adamState // entries of constant β are never touched: their moments stay 0
	epoch     int       // 1..cfg.Epochs
	steps     int64     // successful Step calls in total
	epSteps   int64     // successful Step calls since the current epoch began
	history   []EpochRecord
	coef      Coefficients // the loss coefficients at coefEpoch, cached for Step
	coefEpoch int
	boost     boosts // the discreteness controller's factors (noBoost without one)

	// Scratch, sized once, so that Step allocates nothing.
	opW, dAlpha, dBeta []float64
	undo               []float64 // α, β and their moments before the Adam update, restored if it fails
	undoSteps          [2]int64
	rowMax, rowLog     []float64  // per edge: the logits' max and the log of the shifted exponentials' sum
	pow                biasPowers // the Adam bias corrections' powers of the current step
	graph              *graphPath // built on first use when cfg.Gradient is GradientGraph
}

// EpochRecord is the history entry of one finished epoch: the metrics and the genotype at its end.
type EpochRecord struct {
	Epoch    int
	Steps    int64 // steps taken during the epoch
	Metrics  Metrics
	Genotype string // genotype JSON, as Discretize renders it
}

// New returns an engine at epoch 1 with α and β initialized from cfg.Seed (docs/DESIGN.md, Relaxation).
func New(cfg Config) (*Engine, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	e := newEmpty(cfg)
	rng := newNormalSource(cfg.Seed)
	for i := range e.alpha {
		e.alpha[i] = 1e-4 * rng.next()
	}
	for _, nd := range e.lay.nodes {
		for i := 0; i < nd.n; i++ {
			if nd.learnable() && cfg.Method == MethodDAAS {
				e.beta[nd.edge+i] = float64(nd.k)/float64(nd.n) + float64(1e-4*rng.next()) // no fused multiply-add
			} else {
				e.beta[nd.edge+i] = 1
			}
		}
	}
	return e, nil
}

// newEmpty allocates an engine for cfg with zero parameters, at epoch 1.
func newEmpty(cfg Config) *Engine {
	lay := newLayout(&cfg.Space)
	nA, nE := lay.nEdges*lay.nOps, lay.nEdges
	e := &Engine{
		cfg: cfg, lay: lay,
		alpha: make([]float64, nA), beta: make([]float64, nE),
		adamA: newAdamState(nA), adamB: newAdamState(nE),
		opW: make([]float64, nA), dAlpha: make([]float64, nA), dBeta: make([]float64, nE),
		rowMax: make([]float64, lay.nEdges), rowLog: make([]float64, lay.nEdges),
		undo: make([]float64, 3*(nA+nE)),
	}
	e.epoch, e.boost = 1, noBoost
	return e
}

// Config returns the engine's configuration (a copy the caller may keep).
func (e *Engine) Config() Config {
	c := e.cfg
	c.Space = cloneSpace(e.cfg.Space)
	return c
}

// Sizes returns the lengths of α (and of the op weights) and of β (and of the edge weights).
func (e *Engine) Sizes() (nAlpha, nEdges int) { return len(e.alpha), len(e.beta) }

// Epoch returns the current epoch (1-based).
func (e *Engine) Epoch() int { return e.epoch }

// Steps returns the number of successful steps in total.
func (e *Engine) Steps() int64 { return e.steps }

// Alpha copies α into out, whose length must be n_alpha.
func (e *Engine) Alpha(out []float32) error { return copyOut(out, e.alpha, "alpha") }

// Beta copies β into out, whose length must be n_edges.
func (e *Engine) Beta(out []float32) error { return copyOut(out, e.beta, "beta") }

// AlphaFloat64 returns a copy of α at full precision.
func (e *Engine) AlphaFloat64() []float64 { return append([]float64(nil), e.alpha...) }

// BetaFloat64 returns a copy of β at full precision.
func (e *Engine) BetaFloat64() []float64 { return append([]float64(nil), e.beta...) }

func copyOut(out []float32, src []float64, name string) error {
	if len(out) != len(src) {
		return Errorf(ErrInvalidArgument, "%s: buffer length %d, want %d", name, len(out), len(src))
	}
	for i, v := range src {
		out[i] = float32(v)
	}
	return nil
}

// Weights writes the mixing weights the supernet uses: op weights A (length n_alpha) and edge
// weights W (length n_edges), docs/DESIGN.md, Relaxation.
func (e *Engine) Weights(opOut, edgeOut []float32) error {
	if len(opOut) != len(e.alpha) {
		return Errorf(ErrInvalidArgument, "op weights: buffer length %d, want %d", len(opOut), len(e.alpha))
	}
	if len(edgeOut) != len(e.beta) {
		return Errorf(ErrInvalidArgument, "edge weights: buffer length %d, want %d", len(edgeOut), len(e.beta))
	}
	e.relaxOps32(e.alpha, opOut)
	e.edgeWeights(e.beta, edgeOut)
	return nil
}

// SetEpoch moves the schedule to epoch (1..epochs). Leaving an epoch records its metrics and
// genotype in the history; setting the current epoch again does nothing.
func (e *Engine) SetEpoch(epoch int) error {
	if epoch < 1 || epoch > e.cfg.Epochs {
		return Errorf(ErrInvalidArgument, "epoch: %d is out of range 1..%d", epoch, e.cfg.Epochs)
	}
	if epoch == e.epoch {
		return nil
	}
	e.history = append(e.history, e.currentRecord())
	e.epoch, e.epSteps = epoch, 0
	return nil
}

// stepCoefficients returns the loss coefficients of the current epoch, computed once per epoch.
// Only Step calls it: read-only methods must not write the cache.
func (e *Engine) stepCoefficients() Coefficients {
	if e.coefEpoch != e.epoch {
		e.coef, e.coefEpoch = e.cfg.CoefficientsAt(e.epoch), e.epoch
	}
	return e.coef
}

// currentRecord is the history entry the current epoch would get if it ended now.
func (e *Engine) currentRecord() EpochRecord {
	return EpochRecord{Epoch: e.epoch, Steps: e.epSteps, Metrics: e.Metrics(), Genotype: string(e.Discretize().JSON())}
}

// History returns a record for every finished epoch, oldest first, followed by the current epoch's
// record as it stands now.
func (e *Engine) History() []EpochRecord {
	return append(append([]EpochRecord(nil), e.history...), e.currentRecord())
}

// Step applies one architecture step (docs/DESIGN.md, The Adam step): gradOp and gradEdge are the task loss's gradients
// with respect to the op and edge weights handed out by Weights. A gradient holding NaN or Inf is
// refused with ErrNumeric and leaves the engine exactly as it was.
func (e *Engine) Step(gradOp, gradEdge []float32) error {
	if len(gradOp) != len(e.alpha) {
		return Errorf(ErrInvalidArgument, "grad_op: length %d, want %d", len(gradOp), len(e.alpha))
	}
	if len(gradEdge) != len(e.beta) {
		return Errorf(ErrInvalidArgument, "grad_edge: length %d, want %d", len(gradEdge), len(e.beta))
	}
	fast := e.cfg.Gradient != GradientGraph
	// On the fast path a NaN or Inf in grad_op, or an overflow in dα or dβ, makes the Adam update's
	// moments non-finite, and the update reports it with the range errors (one pass over the weights
	// instead of four); grad_edge is checked here because the nodes that keep every input ignore it.
	if !fast || firstNonFinite(gradEdge) >= 0 {
		if err := e.nonFiniteInputs(gradOp, gradEdge); err != nil {
			return err
		}
	}
	coef := e.stepCoefficients()
	if e.cfg.Control != nil {
		coef = e.boost.apply(coef)
	}
	if !fast {
		if err := e.graphGradients(gradOp, gradEdge, coef); err != nil {
			return err
		}
		if err := e.nonFiniteGradients(); err != nil {
			return err
		}
	} else {
		e.fastGradients(gradOp, gradEdge, coef)
	}
	lrA := e.cfg.Optimizer.Alpha.LR
	if e.epoch < e.cfg.Optimizer.AlphaStartEpoch {
		lrA = 0
	}
	e.saveUndo()
	ok := e.adamA.step(e.alpha, e.dAlpha, e.cfg.Optimizer.Alpha, lrA, nil, &e.pow)
	if e.cfg.Method == MethodDAAS {
		ok = e.adamB.step(e.beta, e.dBeta, e.cfg.Optimizer.Beta, e.cfg.Optimizer.Beta.LR, e.lay.nodes, &e.pow) && ok
	}
	if !ok {
		err := e.nonFiniteInputs(gradOp, gradEdge)
		if err == nil {
			err = e.nonFiniteGradients()
		}
		if err == nil {
			err = Errorf(ErrNumeric, "the Adam update would leave the bounds a state keeps (%v); nothing changed", e.checkRanges(""))
		}
		e.restoreUndo()
		return err
	}
	e.steps++
	e.epSteps++
	e.controlAfterStep()
	return nil
}

// nonFiniteInputs returns the error of the first NaN or Inf in the gradients Step was given, or nil.
func (e *Engine) nonFiniteInputs(gradOp, gradEdge []float32) error {
	if i := firstNonFinite(gradOp); i >= 0 {
		return Errorf(ErrNumeric, "grad_op[%d] is %v; nothing changed", i, gradOp[i])
	}
	if i := firstNonFinite(gradEdge); i >= 0 {
		return Errorf(ErrNumeric, "grad_edge[%d] is %v; nothing changed", i, gradEdge[i])
	}
	return nil
}

// nonFiniteGradients returns the error of the first NaN or Inf in dα or dβ, or nil.
func (e *Engine) nonFiniteGradients() error {
	if i := firstNonFinite(e.dAlpha); i >= 0 {
		return Errorf(ErrNumeric, "the gradient of alpha[%d] overflowed; nothing changed", i)
	}
	if i := firstNonFinite(e.dBeta); i >= 0 {
		return Errorf(ErrNumeric, "the gradient of beta[%d] overflowed; nothing changed", i)
	}
	return nil
}

// optimizerArrays lists what an Adam update writes: α, β and their moments.
func (e *Engine) optimizerArrays() [6][]float64 {
	return [6][]float64{e.alpha, e.adamA.M, e.adamA.V, e.beta, e.adamB.M, e.adamB.V}
}

// saveUndo copies α, β, their moments and the Adam step counters aside; restoreUndo puts them back.
func (e *Engine) saveUndo() {
	off := 0
	for _, xs := range e.optimizerArrays() {
		off += copy(e.undo[off:], xs)
	}
	e.undoSteps = [2]int64{e.adamA.Step, e.adamB.Step}
}

func (e *Engine) restoreUndo() {
	off := 0
	for _, xs := range e.optimizerArrays() {
		off += copy(xs, e.undo[off:])
	}
	e.adamA.Step, e.adamB.Step = e.undoSteps[0], e.undoSteps[1]
}

// checkRanges returns an error naming the first entry of α, β or their moments outside the state's
// bounds (see paramLimit), with names prefixed by prefix, or nil.
func (e *Engine) checkRanges(prefix string) error {
	for _, g := range []struct {
		name string
		p    []float64
		s    *adamState
	}{{"alpha", e.alpha, &e.adamA}, {"beta", e.beta, &e.adamB}} {
		i, which := g.s.firstOutOfRange(g.p)
		switch {
		case i < 0:
			continue
		case which == "":
			return fmt.Errorf("%s%s[%d] is %v, outside [-%g, %g]", prefix, g.name, i, g.p[i], paramLimit, paramLimit)
		case which == ".m":
			return fmt.Errorf("%sadam_%s.m[%d] is %v, outside [-%g, %g]", prefix, g.name, i, g.s.M[i], momentLimit, momentLimit)
		default:
			return fmt.Errorf("%sadam_%s.v[%d] is %v, outside [0, %g]", prefix, g.name, i, g.s.V[i], momentLimit*momentLimit)
		}
	}
	return nil
}

func cloneSpace(s Space) Space {
	c := Space{Ops: append([]string{}, s.Ops...), Discard: append([]string{}, s.Discard...)}
	for _, cell := range s.Cells {
		cell.Keep = append([]int(nil), cell.Keep...)
		c.Cells = append(c.Cells, cell)
	}
	return c
}

// normalSource draws standard normal numbers from a seed the same way on every machine:
// SplitMix64 for uniform bits, Marsaglia's polar method for the normal deviates.
type normalSource struct {
	state uint64
	spare float64
	has   bool
}

func newNormalSource(seed uint64) *normalSource { return &normalSource{state: seed} }

func (r *normalSource) uniform() float64 { // in (-1, 1)
	r.state += 0x9e3779b97f4a7c15
	z := r.state
	z = (z ^ z>>30) * 0xbf58476d1ce4e5b9
	z = (z ^ z>>27) * 0x94d049bb133111eb
	z ^= z >> 31
	return float64(int64(z>>11)-(1<<52)) / (1 << 52)
}

func (r *normalSource) next() float64 {
	if r.has {
		r.has = false
		return r.spare
	}
	for {
		u, v := r.uniform(), r.uniform()
		s := float64(u*u) + float64(v*v)
		if s > 0 && s < 1 {
			f := math.Sqrt(-2 * dlog(s) / s)
			r.spare, r.has = float64(v*f), true
			return float64(u * f)
		}
	}
}
