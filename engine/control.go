package engine

import "slices"

// Control configures the discreteness controller (config key "control"; off when absent). The fixed
// schedules decide how hard the discretization losses press; on a given problem they may press too
// little, and a kept edge then ends the search split between two ops or a node with part of its edge
// weight on inputs the cut drops. The controller watches the two figures that decide what a cut
// loses (Metrics.WeakestKeptEdge and Metrics.KeptMass) and, from StartEpoch on, multiplies the
// schedules' coefficients by a boost while a figure lags a trajectory that rises linearly from its
// value at uniform weights (before StartEpoch) to its target (at the end of ByEpoch). During epoch e
// the figure is held to the trajectory's value at the end of that epoch:
//
//	τ(e) = x0 + (target - x0) · min(1, (e + 1 - StartEpoch) / (ByEpoch + 1 - StartEpoch))
//
// After every successful step a boost is multiplied by 1 + Gain while its figure is below τ(epoch)
// (up to MaxBoost) and by 1 - Decay, down to 1, while it is at or above it, so the pressure never
// stays above what the target needs. The op boost scales λc·λα (the op entropy), the edge boost
// λc·λβ (the edge loss); the schedules' own values, reported as lambda_*, are unchanged. The update is
// plain float64 arithmetic on the state after each step, so it is deterministic, and the boosts are
// part of the saved state: a resumed search continues bit for bit.
type Control struct {
	EdgeTarget float64 `json:"edge_target"` // target of weakest_kept_edge, in [0, 1); 0 leaves the op boost at 1
	MassTarget float64 `json:"mass_target"` // target of kept_mass, in [0, 1); 0 leaves the edge boost at 1
	StartEpoch int     `json:"start_epoch"` // first epoch the controller acts (default: alpha_start_epoch)
	ByEpoch    int     `json:"by_epoch"`    // epoch the trajectory reaches the targets (default: max(start_epoch, epochs - epochs/5))
	Gain       float64 `json:"gain"`        // per-step raise of a lagging boost (default 0.05)
	Decay      float64 `json:"decay"`       // per-step fall of a boost that is ahead (default 0.01)
	MaxBoost   float64 `json:"max_boost"`   // the largest boost (default 100)
}

// Defaults of the controller's settings (StartEpoch and ByEpoch depend on the rest of the config).
const (
	defaultControlGain     = 0.05
	defaultControlDecay    = 0.01
	defaultControlMaxBoost = 100
	maxControlBoost        = 1e6
)

// resolve fills the settings left at 0 with their defaults for cfg.
func (c *Control) resolve(cfg *Config) {
	if c.StartEpoch == 0 {
		c.StartEpoch = cfg.Optimizer.AlphaStartEpoch
	}
	if c.ByEpoch == 0 {
		c.ByEpoch = max(c.StartEpoch, cfg.Epochs-cfg.Epochs/5)
	}
	if c.Gain == 0 {
		c.Gain = defaultControlGain
	}
	if c.Decay == 0 {
		c.Decay = defaultControlDecay
	}
	if c.MaxBoost == 0 {
		c.MaxBoost = defaultControlMaxBoost
	}
}

func (c *Control) validate(cfg *Config) error {
	switch {
	case cfg.Method != MethodDAAS:
		return Errorf(ErrInvalidConfig, "control: the controller scales the DAAS losses; method %q has none", cfg.Method)
	case !(c.EdgeTarget >= 0 && c.EdgeTarget < 1):
		return Errorf(ErrInvalidConfig, "control.edge_target: must be in [0, 1), got %v", c.EdgeTarget)
	case !(c.MassTarget >= 0 && c.MassTarget < 1):
		return Errorf(ErrInvalidConfig, "control.mass_target: must be in [0, 1), got %v", c.MassTarget)
	case c.EdgeTarget == 0 && c.MassTarget == 0:
		return Errorf(ErrInvalidConfig, "control: edge_target and mass_target are both 0; leave \"control\" out to turn it off")
	case c.StartEpoch < 1 || c.StartEpoch > cfg.Epochs:
		return Errorf(ErrInvalidConfig, "control.start_epoch: %d is out of range 1..%d", c.StartEpoch, cfg.Epochs)
	case c.ByEpoch < c.StartEpoch || c.ByEpoch > cfg.Epochs:
		return Errorf(ErrInvalidConfig, "control.by_epoch: %d is out of range %d..%d (start_epoch..epochs)", c.ByEpoch, c.StartEpoch, cfg.Epochs)
	case !(c.Gain > 0 && c.Gain <= 1):
		return Errorf(ErrInvalidConfig, "control.gain: must be in (0, 1], got %v", c.Gain)
	case !(c.Decay > 0 && c.Decay < 1):
		return Errorf(ErrInvalidConfig, "control.decay: must be in (0, 1), got %v", c.Decay)
	case !(c.MaxBoost >= 1 && c.MaxBoost <= maxControlBoost):
		return Errorf(ErrInvalidConfig, "control.max_boost: must be in [1, %g], got %v", float64(maxControlBoost), c.MaxBoost)
	}
	return nil
}

// boosts is the controller's state: the factors on the op-entropy and edge-loss coefficients.
type boosts struct{ op, edge float64 }

// noBoost is the controller's starting state, and the state of an engine without one.
var noBoost = boosts{1, 1}

// apply returns coef with the boosts on λα and λβ (so OpEntropy and EdgeLoss carry them).
func (b boosts) apply(coef Coefficients) Coefficients {
	coef.LambdaAlpha *= b.op
	coef.LambdaBeta *= b.edge
	return coef
}

// trajectory is τ for the steps of epoch e, for a figure that starts at x0 and should reach target:
// the trajectory's value at the end of epoch e, so that the figure is there when the epoch ends.
func (c *Control) trajectory(e int, x0, target float64) float64 {
	p := min(1, float64(e+1-c.StartEpoch)/float64(c.ByEpoch+1-c.StartEpoch))
	return x0 + float64((target-x0)*p) // the conversion keeps Go from fusing a multiply-add
}

// next returns the boost after a step that left the figure at x: raised while x lags τ, lowered
// towards 1 otherwise.
func (c *Control) next(boost, x, tau float64) float64 {
	if x < tau {
		return min(boost*(1+c.Gain), c.MaxBoost)
	}
	return max(boost*(1-c.Decay), 1)
}

// controlAfterStep updates the boosts from the state a step has just committed.
func (e *Engine) controlAfterStep() {
	c := e.cfg.Control
	if c == nil || e.epoch < c.StartEpoch {
		return
	}
	e.relaxOps(e.alpha, e.opW)
	weakest, mass := e.keptFigures(e.opW)
	if c.EdgeTarget > 0 {
		e.boost.op = c.next(e.boost.op, weakest, c.trajectory(e.epoch, e.lay.uniformOpWeight(), c.EdgeTarget))
	}
	if c.MassTarget > 0 {
		e.boost.edge = c.next(e.boost.edge, mass, c.trajectory(e.epoch, e.lay.uniformKeptMass(), c.MassTarget))
	}
}

// uniformOpWeight is an edge's op weight on its chosen op when all op weights are equal.
func (l *layout) uniformOpWeight() float64 { return 1 / float64(l.nOps) }

// uniformKeptMass is the smallest kept mass when all edge weights of a node are equal.
func (l *layout) uniformKeptMass() float64 {
	m := 1.0
	for _, nd := range l.nodes {
		m = min(m, float64(nd.k)/float64(nd.n))
	}
	return m
}

// keptOrder writes node nd's inputs into order (length nd.n), the ones discretization keeps first:
// by raw β for DAAS, by the best kept op's weight for DARTS (opW holds the op weights), ties to the
// lower input. Under DAAS a node that keeps every input lists them in input order (its β are
// constant); under DARTS every node is ranked by op weight.
func (e *Engine) keptOrder(nd node, opW []float64, order []int) {
	for i := range order {
		order[i] = i
	}
	if !nd.learnable() && e.cfg.Method != MethodDARTS {
		return
	}
	strength := func(i int) float64 {
		edge := nd.edge + i
		if e.cfg.Method == MethodDARTS {
			return opW[edge*e.lay.nOps+e.bestOp(edge)]
		}
		return e.beta[edge]
	}
	slices.SortStableFunc(order, func(a, b int) int {
		sa, sb := strength(a), strength(b)
		switch {
		case sa > sb:
			return -1
		case sa < sb:
			return 1
		}
		return 0
	})
}

// bestOp is the op discretization puts on an edge: the argmax of α over the ops not discarded, ties
// to the lower index.
func (e *Engine) bestOp(edge int) int {
	nOps := e.lay.nOps
	best := -1
	for o := 0; o < nOps; o++ {
		if !e.lay.discarded[o] && (best < 0 || e.alpha[edge*nOps+o] > e.alpha[edge*nOps+best]) {
			best = o
		}
	}
	return best
}

// keptShares writes into share (length nd.n) each input's share of node nd's edge weight: its edge
// weight over the node's total (1/n_j each for DARTS and for nodes that keep every input).
func (e *Engine) keptShares(nd node, share []float64) {
	if !nd.learnable() || e.cfg.Method == MethodDARTS {
		for i := range share {
			share[i] = 1 / float64(nd.n)
		}
		return
	}
	var mbuf [64]float64
	m := mbuf[:]
	if nd.n > len(mbuf) {
		m = make([]float64, nd.n)
	}
	m = m[:nd.n]
	clipBeta(e.beta[nd.edge:nd.edge+nd.n], m)
	softmaxRow(m, share)
}

// keptFigures returns weakest_kept_edge (the smallest, over the edges the genotype keeps, op weight
// of the op it keeps there) and kept_mass (the smallest, over nodes, share of the node's edge weight
// on the inputs it keeps), with opW the op weights of the current α.
func (e *Engine) keptFigures(opW []float64) (weakest, mass float64) {
	weakest, mass = 1, 1
	var obuf [64]int
	var sbuf [64]float64
	for _, nd := range e.lay.nodes {
		order, share := obuf[:], sbuf[:]
		if nd.n > len(obuf) {
			order, share = make([]int, nd.n), make([]float64, nd.n)
		}
		order, share = order[:nd.n], share[:nd.n]
		e.keptOrder(nd, opW, order)
		e.keptShares(nd, share)
		kept := 0.0
		for _, i := range order[:nd.k] {
			edge := nd.edge + i
			weakest = min(weakest, opW[edge*e.lay.nOps+e.bestOp(edge)])
			kept += share[i]
		}
		mass = min(mass, kept)
	}
	return weakest, mass
}
