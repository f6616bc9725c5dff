// Package cstep runs cstep.c, the darts step's math as plain C (double arithmetic on float32
// gradients, libm exp, log and pow, -O2): the limit `make bench` holds daas_engine_step against
// (BenchmarkLimit, docs/BENCHMARKS.md). It mirrors a fresh engine at a fixed epoch; its test checks
// that it follows the engine's α and β, so the limit is the same math.
package cstep

/*
#cgo CFLAGS: -O2 -std=c99 -Wall -Wextra
#cgo LDFLAGS: -lm
#include "cstep.h"
*/
import "C"

import (
	"errors"
	"unsafe"

	"github.com/daas-nas/daas/engine"
)

// Step is the C step's state: α, β and the Adam moments of one search at one epoch.
type Step struct {
	s      *C.cstep
	nA, nE int
}

// New returns a C step that starts where the fresh engine e stands (its α and β, zero moments) and
// uses e's epoch for the learning rates and loss coefficients. The controller is not mirrored.
func New(e *engine.Engine) (*Step, error) {
	cfg := e.Config()
	if e.Steps() != 0 || cfg.Control != nil || cfg.Gradient != engine.GradientFast {
		return nil, errors.New("cstep: needs a fresh engine on the fast path without a controller")
	}
	var edge, nodeN, nodeK []C.int
	off := 0
	for _, c := range cfg.Space.Cells {
		for j := 0; j < c.Nodes; j++ {
			n := c.Inputs + j
			if n > 64 {
				return nil, errors.New("cstep: nodes of at most 64 inputs")
			}
			edge, nodeN, nodeK = append(edge, C.int(off)), append(nodeN, C.int(n)), append(nodeK, C.int(c.Keep[j]))
			off += n
		}
	}
	nA, nE := e.Sizes()
	s := C.cstep_new(C.int(len(cfg.Space.Ops)), C.int(nE), C.int(len(edge)))
	if s == nil {
		return nil, errors.New("cstep: out of memory")
	}
	copy(unsafe.Slice((*C.int)(s.node_edge), len(edge)), edge)
	copy(unsafe.Slice((*C.int)(s.node_n), len(edge)), nodeN)
	copy(unsafe.Slice((*C.int)(s.node_k), len(edge)), nodeK)
	for i, v := range e.AlphaFloat64() {
		unsafe.Slice((*C.double)(s.alpha), nA)[i] = C.double(v)
	}
	for i, v := range e.BetaFloat64() {
		unsafe.Slice((*C.double)(s.beta), nE)[i] = C.double(v)
	}
	adam := func(a engine.Adam, lr float64) C.cstep_adam {
		return C.cstep_adam{lr: C.double(lr), b1: C.double(a.Betas[0]), b2: C.double(a.Betas[1]),
			eps: C.double(a.Eps), wd: C.double(a.WeightDecay)}
	}
	lrA := cfg.Optimizer.Alpha.LR
	if e.Epoch() < cfg.Optimizer.AlphaStartEpoch {
		lrA = 0
	}
	coef := cfg.CoefficientsAt(e.Epoch())
	s.adam_a, s.adam_b = adam(cfg.Optimizer.Alpha, lrA), adam(cfg.Optimizer.Beta, cfg.Optimizer.Beta.LR)
	s.c_alpha, s.c_beta, s.w_sum = C.double(coef.OpEntropy()), C.double(coef.EdgeLoss()), C.double(cfg.Loss.WSum)
	if cfg.Method == engine.MethodDAAS {
		s.daas = 1
	}
	return &Step{s: s, nA: nA, nE: nE}, nil
}

// Run applies n steps with the same gradients, in one call into C.
func (s *Step) Run(gradOp, gradEdge []float32, n int) {
	if len(gradOp) != s.nA || len(gradEdge) != s.nE {
		panic("cstep: gradient lengths")
	}
	C.cstep_run(s.s, (*C.float)(&gradOp[0]), (*C.float)(&gradEdge[0]), C.long(n))
}

// Alpha and Beta return copies of α and β.
func (s *Step) Alpha() []float64 { return floats(s.s.alpha, s.nA) }
func (s *Step) Beta() []float64  { return floats(s.s.beta, s.nE) }

func floats(p *C.double, n int) []float64 {
	out := make([]float64, n)
	for i, v := range unsafe.Slice(p, n) {
		out[i] = float64(v)
	}
	return out
}

// Close frees the C state.
func (s *Step) Close() {
	C.cstep_free(s.s)
	s.s = nil
}
