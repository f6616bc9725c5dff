package engine

// ScheduleType names a schedule of the catalogue (docs/DESIGN.md, The discretization losses and Schedules).
type ScheduleType string

// The schedule catalogue. Each value is Scale times a shape of the epoch e (1-based) out of E epochs.
// With Delay D >= 1 the schedule is 0 before epoch D and starts there (S = D); without, S = 1.
// p = (e-S)/(E-S) is the position in the schedule's span (1 when E = S).
const (
	ScheduleConst   ScheduleType = "const"   // 1
	ScheduleLinear  ScheduleType = "linear"  // p
	ScheduleLog     ScheduleType = "log"     // ln(e-S+1) / ln(E-S), 1 when E-S <= 1 (the reference's λα)
	ScheduleExp     ScheduleType = "exp"     // (exp(Rate p) - 1) / (exp(Rate) - 1); Rate 0 means the default 5
	ScheduleStep    ScheduleType = "step"    // Gamma ^ floor((e-S) / Every)
	ScheduleSigmoid ScheduleType = "sigmoid" // 1 / (1 + exp(-Rate (p - 1/2)))
)

// Schedule is one coefficient's epoch schedule. Rate is used by exp (default 5) and sigmoid
// (default 10); Every (default 10) and Gamma (default 0.5) by step.
type Schedule struct {
	Type  ScheduleType `json:"type"`
	Scale float64      `json:"scale"`
	Delay int          `json:"delay"`
	Rate  float64      `json:"rate,omitempty"`
	Every int          `json:"every,omitempty"`
	Gamma float64      `json:"gamma,omitempty"`
}

func (s Schedule) withDefaults() Schedule {
	if s.Rate == 0 && s.Type == ScheduleSigmoid {
		s.Rate = 10
	}
	if s.Rate == 0 && s.Type == ScheduleExp {
		s.Rate = 5
	}
	if s.Every == 0 {
		s.Every = 10
	}
	if s.Gamma == 0 {
		s.Gamma = 0.5
	}
	return s
}

func (s Schedule) validate(key string) error {
	switch s.Type {
	case ScheduleConst, ScheduleLinear, ScheduleLog, ScheduleExp, ScheduleStep, ScheduleSigmoid:
	default:
		return Errorf(ErrInvalidConfig, "%s.type: unknown schedule %q (want const, linear, log, exp, step or sigmoid)", key, s.Type)
	}
	switch {
	case !isFinite(s.Scale) || s.Scale < 0:
		return Errorf(ErrInvalidConfig, "%s.scale: must be a finite number >= 0, got %v", key, s.Scale)
	case s.Delay < 0 || s.Delay > maxEpochs:
		return Errorf(ErrInvalidConfig, "%s.delay: %d is out of range 0..%d", key, s.Delay, maxEpochs)
	case !isFinite(s.Rate) || s.Rate < -700 || s.Rate > 700:
		return Errorf(ErrInvalidConfig, "%s.rate: must be a finite number in [-700, 700], got %v", key, s.Rate)
	case s.Every < 0:
		return Errorf(ErrInvalidConfig, "%s.every: must be >= 1 (0: the default 10), got %d", key, s.Every)
	case !isFinite(s.Gamma) || s.Gamma < 0:
		return Errorf(ErrInvalidConfig, "%s.gamma: must be a finite number > 0 (0: the default 0.5), got %v", key, s.Gamma)
	}
	return nil
}

// At returns the schedule's value at epoch e of E.
func (s Schedule) At(e, E int) float64 {
	s = s.withDefaults()
	start := max(s.Delay, 1)
	if e < start {
		return 0
	}
	span := float64(E - start)
	p := 1.0
	if span > 0 {
		p = float64(e-start) / span
	}
	var v float64
	switch s.Type {
	case ScheduleConst:
		v = 1
	case ScheduleLinear:
		v = p
	case ScheduleLog:
		v = 1
		if span > 1 {
			v = dlog(float64(e-start+1)) / dlog(span)
		}
	case ScheduleExp:
		v = p
		if s.Rate != 0 {
			v = (dexp(s.Rate*p) - 1) / (dexp(s.Rate) - 1)
		}
	case ScheduleStep:
		v = dpow(s.Gamma, int64((e-start)/s.Every))
	case ScheduleSigmoid:
		v = 1 / (1 + dexp(-s.Rate*(p-0.5)))
	}
	return s.Scale * v
}

// Coefficients are the loss coefficients in force at one epoch.
type Coefficients struct {
	LambdaC, LambdaAlpha, LambdaBeta float64
}

// OpEntropy returns λc·λα, the coefficient on H_α.
func (c Coefficients) OpEntropy() float64 { return c.LambdaC * c.LambdaAlpha }

// EdgeLoss returns λc·λβ, the coefficient on L_E.
func (c Coefficients) EdgeLoss() float64 { return c.LambdaC * c.LambdaBeta }

// CoefficientsAt returns the loss coefficients of configuration c at epoch e; all are 0 for DARTS.
func (c *Config) CoefficientsAt(e int) Coefficients {
	if c.Method == MethodDARTS {
		return Coefficients{}
	}
	return Coefficients{
		LambdaC:     c.Loss.LambdaC.At(e, c.Epochs),
		LambdaAlpha: c.Loss.LambdaAlpha.At(e, c.Epochs),
		LambdaBeta:  c.Loss.LambdaBeta.At(e, c.Epochs),
	}
}
