package engine

import "encoding/json"

// Metrics describe the search at one moment (docs/CONFIG.md lists the required keys).
type Metrics struct {
	Method           Method  `json:"method"`
	Epoch            int     `json:"epoch"`
	Step             int64   `json:"step"`
	LambdaC          float64 `json:"lambda_c"`
	LambdaAlpha      float64 `json:"lambda_alpha"`
	LambdaBeta       float64 `json:"lambda_beta"`
	OpEntropy        float64 `json:"op_entropy"`
	EdgeEntropy      float64 `json:"edge_entropy"`
	EdgeCountPenalty float64 `json:"edge_count_penalty"`
	DiscLoss         float64 `json:"disc_loss"`         // L_disc at the current epoch's coefficients
	Discreteness     float64 `json:"discreteness"`      // mean over edges of the largest op weight
	WeakestEdge      float64 `json:"weakest_edge"`      // smallest over edges of the largest op weight
	WeakestKeptEdge  float64 `json:"weakest_kept_edge"` // smallest over kept edges of the kept op's weight
	KeptMass         float64 `json:"kept_mass"`         // smallest over nodes of the kept inputs' share of edge weight
	OpBoost          float64 `json:"op_boost"`          // the controller's factor on λc·λα (1 without one)
	EdgeBoost        float64 `json:"edge_boost"`        // the controller's factor on λc·λβ (1 without one)
}

// JSON returns the metrics as a JSON object.
func (m Metrics) JSON() []byte {
	b, err := json.Marshal(m)
	if err != nil {
		panic("daas: metrics are not serializable: " + err.Error()) // unreachable: finite numbers only
	}
	return b
}

// Metrics returns the loss terms, coefficients and discreteness at the current α, β and epoch.
func (e *Engine) Metrics() Metrics {
	coef := e.cfg.CoefficientsAt(e.epoch)
	eff := coef
	if e.cfg.Control != nil {
		eff = e.boost.apply(coef)
	}
	t := e.lossTerms()
	m := Metrics{
		Method: e.cfg.Method, Epoch: e.epoch, Step: e.steps,
		LambdaC: coef.LambdaC, LambdaAlpha: coef.LambdaAlpha, LambdaBeta: coef.LambdaBeta,
		OpEntropy: t.OpEntropy, EdgeEntropy: t.EdgeEntropy, EdgeCountPenalty: t.EdgeCountPenalty,
		DiscLoss:    float64(eff.OpEntropy()*t.OpEntropy) + float64(eff.EdgeLoss()*t.EdgeLoss()), // no fused multiply-add
		WeakestEdge: 1, OpBoost: e.boost.op, EdgeBoost: e.boost.edge,
	}
	opW := make([]float64, len(e.alpha))
	e.relaxOps(e.alpha, opW)
	nOps := e.lay.nOps
	sum := 0.0
	for off := 0; off < len(opW); off += nOps {
		best := 0.0
		for _, w := range opW[off : off+nOps] {
			best = max(best, w)
		}
		sum += best
		m.WeakestEdge = min(m.WeakestEdge, best)
	}
	m.Discreteness = sum / float64(e.lay.nEdges)
	m.WeakestKeptEdge, m.KeptMass = e.keptFigures(opW)
	return m
}
