package device

/*
#cgo CFLAGS: -std=c11 -O2 -Wall -Wextra -Wno-unused-function
#cgo LDFLAGS: -lm
#include "kernels.h"
*/
import "C"

import (
	"encoding/binary"
	"math"

	"github.com/daas-nas/daas/engine"
)

// layout is where a device engine's numbers are in its two allocations (kernels.h, Memory).
type layout struct {
	nOps, nEdges, nNodes int
	nAlpha               int
	fLen, iLen           int // lengths of F (float64) and I (int64)
}

func newLayout(e *engine.Engine) layout {
	nOps, nodes, _ := e.Layout()
	nA, nE := e.Sizes()
	l := layout{nOps: nOps, nEdges: nE, nNodes: len(nodes), nAlpha: nA}
	l.fLen = l.offset(C.DK_A_END)
	l.iLen = int(C.dk_int_length(C.dk_i64(nOps), C.dk_i64(nE), C.dk_i64(len(nodes))))
	return l
}

// offset is where array a (a DK_A_* value) starts in F.
func (l layout) offset(a C.int) int {
	return int(C.dk_array_offset(a, C.dk_i64(l.nAlpha), C.dk_i64(l.nEdges), C.dk_i64(l.nNodes)))
}

// The state arrays in F, in the order of engine.Image's fields.
var stateArrays = [6]C.int{C.DK_A_ALPHA, C.DK_A_BETA, C.DK_A_ALPHA_M, C.DK_A_ALPHA_V, C.DK_A_BETA_M, C.DK_A_BETA_V}

func imageArrays(im *engine.Image) [6]*[]float64 {
	return [6]*[]float64{&im.Alpha, &im.Beta, &im.AlphaM, &im.AlphaV, &im.BetaM, &im.BetaV}
}

// images returns F and I for host engine e: its settings, its epoch's values and its numbers, with
// the counters and no refusal recorded.
func (l layout) images(e *engine.Engine) (f []float64, i []int64) {
	cfg := e.Config()
	f, i = make([]float64, l.fLen), make([]int64, l.iLen)
	a, b := cfg.Optimizer.Alpha, cfg.Optimizer.Beta
	copy(f[C.DK_F_A_B1:], []float64{a.Betas[0], a.Betas[1], a.Eps, a.WeightDecay})
	copy(f[C.DK_F_B_B1:], []float64{b.Betas[0], b.Betas[1], b.Eps, b.WeightDecay, b.LR})
	f[C.DK_F_WSUM] = cfg.Loss.WSum
	if c := cfg.Control; c != nil {
		f[C.DK_F_GAIN], f[C.DK_F_DECAY], f[C.DK_F_MAX_BOOST] = c.Gain, c.Decay, c.MaxBoost
		f[C.DK_F_EDGE_TARGET], f[C.DK_F_MASS_TARGET] = c.EdgeTarget, c.MassTarget
		i[C.DK_I_CONTROL] = 1
	}
	l.putEpoch(f, e.EpochSettings())
	im := e.Image()
	for k, arr := range imageArrays(&im) {
		copy(f[l.offset(stateArrays[k]):], *arr)
	}
	f[C.DK_F_BOOST_OP], f[C.DK_F_BOOST_EDGE] = im.OpBoost, im.EdgeBoost

	nOps, nodes, discarded := e.Layout()
	i[C.DK_I_N_OPS], i[C.DK_I_N_EDGES], i[C.DK_I_N_NODES] = int64(nOps), int64(l.nEdges), int64(len(nodes))
	if cfg.Method == engine.MethodDAAS {
		i[C.DK_I_DAAS] = 1
	}
	i[C.DK_I_STEP_A], i[C.DK_I_STEP_B], i[C.DK_I_STEPS], i[C.DK_I_EPOCH_STEPS] = im.AlphaSteps, im.BetaSteps, im.Steps, im.EpochSteps
	for j, nd := range nodes {
		o := C.DK_I_HEAD + j*C.DK_NODE_INTS
		i[o], i[o+1], i[o+2] = int64(nd.Edge), int64(nd.Inputs), int64(nd.Keep)
		if nd.Keep < nd.Inputs {
			i[o+3] = 1
		}
	}
	for o, d := range discarded {
		if d {
			i[C.DK_I_HEAD+len(nodes)*C.DK_NODE_INTS+o] = 1
		}
	}
	return f, i
}

// putEpoch writes the epoch's values into F.
func (l layout) putEpoch(f []float64, s engine.EpochSettings) {
	f[C.DK_F_LAMBDA_C], f[C.DK_F_LAMBDA_ALPHA], f[C.DK_F_LAMBDA_BETA] = s.LambdaC, s.LambdaAlpha, s.LambdaBeta
	f[C.DK_F_LR_ALPHA], f[C.DK_F_TAU_OP], f[C.DK_F_TAU_EDGE] = s.AlphaLR, s.OpTrajectory, s.MassTrajectory
	f[C.DK_F_CONTROL_ON] = 0
	if s.ControlActive {
		f[C.DK_F_CONTROL_ON] = 1
	}
}

// image reads an engine.Image out of F and I.
func (l layout) image(f []float64, i []int64) engine.Image {
	var im engine.Image
	for k, arr := range imageArrays(&im) {
		n := l.nAlpha
		if k == 1 || k >= 4 {
			n = l.nEdges
		}
		o := l.offset(stateArrays[k])
		*arr = append([]float64(nil), f[o:o+n]...)
	}
	im.OpBoost, im.EdgeBoost = f[C.DK_F_BOOST_OP], f[C.DK_F_BOOST_EDGE]
	im.AlphaSteps, im.BetaSteps, im.Steps, im.EpochSteps = i[C.DK_I_STEP_A], i[C.DK_I_STEP_B], i[C.DK_I_STEPS], i[C.DK_I_EPOCH_STEPS]
	return im
}

// refusal is what I records about refused steps since it was last cleared.
type refusal struct {
	count, call, step int64
	what              int   // a DK_WHAT_* value
	index             int64 // the entry that failed
}

func (l layout) refusal(i []int64) refusal {
	w := uint64(i[C.DK_I_REFUSED_WHAT])
	return refusal{count: i[C.DK_I_REFUSED], call: i[C.DK_I_REFUSED_CALL], step: i[C.DK_I_REFUSED_STEP],
		what: int(w >> C.DK_WHAT_SHIFT), index: int64(w & (1<<C.DK_WHAT_SHIFT - 1))}
}

// err describes the refusal as the ErrNumeric a synchronizing call returns, nil when there is none.
func (r refusal) err() error {
	if r.count == 0 {
		return nil
	}
	var why string
	switch r.what {
	case C.DK_WHAT_GRAD_OP:
		why = "grad_op[%d] was NaN or Inf"
	case C.DK_WHAT_GRAD_EDGE:
		why = "grad_edge[%d] was NaN or Inf"
	case C.DK_WHAT_D_ALPHA:
		why = "the gradient of alpha[%d] overflowed"
	case C.DK_WHAT_D_BETA:
		why = "the gradient of beta[%d] overflowed"
	case C.DK_WHAT_BOUNDS_ALPHA:
		why = "the Adam update would leave the bounds a state keeps at alpha[%d] or its moments"
	default:
		why = "the Adam update would leave the bounds a state keeps at beta[%d] or its moments"
	}
	others := ""
	if r.count > 1 {
		others = " (and %d later step calls were refused too)"
		return engine.Errorf(engine.ErrNumeric, "the device refused step call %d (it would have been step %d): "+why+"; that step changed nothing"+others,
			r.call+1, r.step, r.index, r.count-1)
	}
	return engine.Errorf(engine.ErrNumeric, "the device refused step call %d (it would have been step %d): "+why+"; that step changed nothing",
		r.call+1, r.step, r.index)
}

// clearRefusal resets I's refusal record.
func clearRefusal(i []int64) {
	i[C.DK_I_REFUSED], i[C.DK_I_REFUSED_CALL], i[C.DK_I_REFUSED_STEP], i[C.DK_I_REFUSED_WHAT] = 0, 0, 0, 0
}

// headInts is how many leading entries of I hold counters and the refusal record (what Sync reads).
const headInts = C.DK_I_HEAD

func f64Bytes(x []float64) []byte {
	b := make([]byte, 8*len(x))
	for k, v := range x {
		binary.LittleEndian.PutUint64(b[8*k:], math.Float64bits(v))
	}
	return b
}

func i64Bytes(x []int64) []byte {
	b := make([]byte, 8*len(x))
	for k, v := range x {
		binary.LittleEndian.PutUint64(b[8*k:], uint64(v))
	}
	return b
}

func bytesF64(b []byte) []float64 {
	x := make([]float64, len(b)/8)
	for k := range x {
		x[k] = math.Float64frombits(binary.LittleEndian.Uint64(b[8*k:]))
	}
	return x
}

func bytesI64(b []byte) []int64 {
	x := make([]int64, len(b)/8)
	for k := range x {
		x[k] = int64(binary.LittleEndian.Uint64(b[8*k:]))
	}
	return x
}
