package engine

import (
	"strconv"
	"strings"
	"sync"
)

// An engine's numbers can live elsewhere: the device engine (package device) keeps α, β, the Adam
// moments, the counters and the controller's boosts in GPU memory and steps them there, while this
// Engine keeps the configuration, the epoch, the history and everything read from the state. Image
// and SetImage move the numbers between the two; EpochSettings and Layout are what the device's step
// reads besides them.

// Image is an engine's mutable numbers: what a device engine holds and steps.
type Image struct {
	Alpha, Beta, AlphaM, AlphaV, BetaM, BetaV []float64
	AlphaSteps, BetaSteps                     int64 // the Adam groups' step counts
	Steps, EpochSteps                         int64 // successful steps in total and in the current epoch
	OpBoost, EdgeBoost                        float64
}

// Image returns a copy of the engine's numbers.
func (e *Engine) Image() Image {
	c := func(x []float64) []float64 { return append([]float64(nil), x...) }
	return Image{
		Alpha: c(e.alpha), Beta: c(e.beta), AlphaM: c(e.adamA.M), AlphaV: c(e.adamA.V), BetaM: c(e.adamB.M), BetaV: c(e.adamB.V),
		AlphaSteps: e.adamA.Step, BetaSteps: e.adamB.Step, Steps: e.steps, EpochSteps: e.epSteps,
		OpBoost: e.boost.op, EdgeBoost: e.boost.edge,
	}
}

// SetImage replaces the engine's numbers with im's after checking them as Load checks a state's
// (lengths, bounds, constant β, counters); on an error the engine is unchanged.
func (e *Engine) SetImage(im Image) error {
	nA, nE := len(e.alpha), len(e.beta)
	for _, a := range []struct {
		name string
		x    []float64
		n    int
	}{{"alpha", im.Alpha, nA}, {"beta", im.Beta, nE}, {"adam_alpha.m", im.AlphaM, nA}, {"adam_alpha.v", im.AlphaV, nA},
		{"adam_beta.m", im.BetaM, nE}, {"adam_beta.v", im.BetaV, nE}} {
		if len(a.x) != a.n {
			return Errorf(ErrInternal, "image: %s has %d entries, want %d", a.name, len(a.x), a.n)
		}
	}
	if im.AlphaSteps < 0 || im.BetaSteps < 0 || im.Steps < 0 || im.EpochSteps < 0 || im.EpochSteps > im.Steps {
		return Errorf(ErrInternal, "image: counters %d, %d, %d, %d are inconsistent", im.AlphaSteps, im.BetaSteps, im.Steps, im.EpochSteps)
	}
	if !(im.OpBoost >= 1 && im.OpBoost <= maxControlBoost && im.EdgeBoost >= 1 && im.EdgeBoost <= maxControlBoost) {
		return Errorf(ErrInternal, "image: boosts %v, %v are outside [1, %g]", im.OpBoost, im.EdgeBoost, float64(maxControlBoost))
	}
	probe := &Engine{alpha: im.Alpha, beta: im.Beta, adamA: adamState{M: im.AlphaM, V: im.AlphaV}, adamB: adamState{M: im.BetaM, V: im.BetaV}}
	if err := probe.checkRanges("image: "); err != nil {
		return Errorf(ErrNumeric, "%v", err)
	}
	for _, nd := range e.lay.nodes {
		for i := nd.edge; i < nd.edge+nd.n && !(nd.learnable() && e.cfg.Method == MethodDAAS); i++ {
			if im.Beta[i] != 1 || im.BetaM[i] != 0 || im.BetaV[i] != 0 {
				return Errorf(ErrInternal, "image: beta[%d] is constant but holds %v (m %v, v %v)", i, im.Beta[i], im.BetaM[i], im.BetaV[i])
			}
		}
	}
	for _, p := range []struct{ dst, src []float64 }{{e.alpha, im.Alpha}, {e.beta, im.Beta}, {e.adamA.M, im.AlphaM},
		{e.adamA.V, im.AlphaV}, {e.adamB.M, im.BetaM}, {e.adamB.V, im.BetaV}} {
		copy(p.dst, p.src)
	}
	e.adamA.Step, e.adamB.Step, e.steps, e.epSteps = im.AlphaSteps, im.BetaSteps, im.Steps, im.EpochSteps
	e.boost = boosts{im.OpBoost, im.EdgeBoost}
	return nil
}

// EpochSettings are the values a step reads that change only with the epoch.
type EpochSettings struct {
	Coefficients           // the schedules' values (before the controller's boosts)
	AlphaLR        float64 // α's learning rate: 0 before alpha_start_epoch
	ControlActive  bool    // the controller acts after each step of this epoch
	OpTrajectory   float64 // τ of weakest_kept_edge for this epoch (when the controller acts)
	MassTrajectory float64 // τ of kept_mass
}

// EpochSettings returns the settings of the current epoch.
func (e *Engine) EpochSettings() EpochSettings {
	s := EpochSettings{Coefficients: e.cfg.CoefficientsAt(e.epoch), AlphaLR: e.cfg.Optimizer.Alpha.LR}
	if e.epoch < e.cfg.Optimizer.AlphaStartEpoch {
		s.AlphaLR = 0
	}
	if c := e.cfg.Control; c != nil && e.epoch >= c.StartEpoch {
		s.ControlActive = true
		s.OpTrajectory = c.trajectory(e.epoch, e.lay.uniformOpWeight(), c.EdgeTarget)
		s.MassTrajectory = c.trajectory(e.epoch, e.lay.uniformKeptMass(), c.MassTarget)
	}
	return s
}

// NodeLayout is one intermediate node in the flat layout: its first edge, inputs and kept inputs.
type NodeLayout struct{ Edge, Inputs, Keep int }

// Layout returns the flat layout: the ops per edge, every node in order, and which ops are discarded.
func (e *Engine) Layout() (nOps int, nodes []NodeLayout, discarded []bool) {
	for _, nd := range e.lay.nodes {
		nodes = append(nodes, NodeLayout{Edge: nd.edge, Inputs: nd.n, Keep: nd.k})
	}
	return e.lay.nOps, nodes, append([]bool(nil), e.lay.discarded...)
}

// The devices a build can compute on besides the CPU: a build with a device registers it (package
// device does, for "cuda"), and only then does a configuration naming it validate.
var devices struct {
	sync.RWMutex
	names map[string]bool
}

// RegisterDevice makes configurations naming device ("cuda", with or without an ordinal) valid.
func RegisterDevice(device string) {
	devices.Lock()
	defer devices.Unlock()
	if devices.names == nil {
		devices.names = map[string]bool{}
	}
	devices.names[device] = true
}

func deviceRegistered(device string) bool {
	devices.RLock()
	defer devices.RUnlock()
	return devices.names[device]
}

// maxDeviceOrdinal bounds the N of "cuda:N".
const maxDeviceOrdinal = 1023

// ParseDevice splits a device name into its kind and ordinal: "cpu", "cuda" (ordinal 0) or "cuda:N".
func ParseDevice(device string) (kind string, ordinal int, err error) {
	kind, num, hasNum := strings.Cut(device, ":")
	switch {
	case kind == DeviceCPU && !hasNum:
		return kind, 0, nil
	case kind != DeviceCUDA:
		return "", 0, Errorf(ErrInvalidConfig, "device: unknown device %q (want cpu, cuda or cuda:N)", device)
	case !hasNum:
		return kind, 0, nil
	}
	n, perr := strconv.Atoi(num)
	if perr != nil || n < 0 || n > maxDeviceOrdinal || strconv.Itoa(n) != num {
		return "", 0, Errorf(ErrInvalidConfig, "device: %q: the ordinal must be an integer in 0..%d", device, maxDeviceOrdinal)
	}
	return kind, n, nil
}
