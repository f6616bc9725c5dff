package engine

import (
	"math"
	"testing"
)

func TestDefaultScheduleValues(t *testing.T) {
	cfg := DefaultConfig() // 50 epochs, delay 8, λc linear 0.1, λβ 4
	// Expected values worked out by hand from docs/DESIGN.md, The discretization losses and Schedules: lin(e) = (e-1)/49,
	// λα(e) = ln(e-7)/ln(42) from e = 8 on.
	lin := func(e float64) float64 { return (e - 1) / 49 }
	la := func(e float64) float64 {
		if e < 8 {
			return 0
		}
		return math.Log(e-7) / math.Log(42)
	}
	for _, e := range []int{1, 2, 8, 9, 15, 50} {
		c := cfg.CoefficientsAt(e)
		f := float64(e)
		wantOp, wantEdge := 0.1*lin(f)*la(f), 0.1*lin(f)*4
		if !near(c.OpEntropy(), wantOp, 1e-14) || !near(c.EdgeLoss(), wantEdge, 1e-14) {
			t.Errorf("epoch %d: op %.6g edge %.6g, want %.6g %.6g", e, c.OpEntropy(), c.EdgeLoss(), wantOp, wantEdge)
		}
	}
	// The rounded figures.
	for _, c := range []struct {
		e                int
		opWant, edgeWant float64
	}{{9, 0.0030, 0.0653}, {50, 0.1006, 0.4000}, {1, 0, 0}, {8, 0, 0.1 * 7.0 / 49 * 4}} {
		got := cfg.CoefficientsAt(c.e)
		if math.Abs(got.OpEntropy()-c.opWant) > 5e-5 || math.Abs(got.EdgeLoss()-c.edgeWant) > 5e-5 {
			t.Errorf("epoch %d: %.4f / %.4f, want %.4f / %.4f", c.e, got.OpEntropy(), got.EdgeLoss(), c.opWant, c.edgeWant)
		}
	}
	darts := DefaultConfig()
	darts.Method = MethodDARTS
	if c := darts.CoefficientsAt(50); c != (Coefficients{}) {
		t.Errorf("darts coefficients %+v, want zero", c)
	}
}

func TestScheduleCatalogue(t *testing.T) {
	const E = 50
	cases := []struct {
		s    Schedule
		e    int
		want float64
	}{
		{Schedule{Type: ScheduleConst, Scale: 2}, 1, 2},
		{Schedule{Type: ScheduleConst, Scale: 2, Delay: 10}, 9, 0},
		{Schedule{Type: ScheduleConst, Scale: 2, Delay: 10}, 10, 2},
		{Schedule{Type: ScheduleLinear, Scale: 1}, 1, 0},
		{Schedule{Type: ScheduleLinear, Scale: 1}, 50, 1},
		{Schedule{Type: ScheduleLinear, Scale: 1}, 25, 24.0 / 49},
		{Schedule{Type: ScheduleLinear, Scale: 1, Delay: 10}, 30, 0.5},
		{Schedule{Type: ScheduleLog, Scale: 1, Delay: 8}, 7, 0},
		{Schedule{Type: ScheduleLog, Scale: 1, Delay: 8}, 8, 0},
		{Schedule{Type: ScheduleLog, Scale: 1, Delay: 8}, 9, math.Log(2) / math.Log(42)},
		{Schedule{Type: ScheduleExp, Scale: 1}, 1, 0},
		{Schedule{Type: ScheduleExp, Scale: 1}, 50, 1},
		{Schedule{Type: ScheduleExp, Scale: 1, Rate: 5}, 25, (math.Exp(5*24.0/49) - 1) / (math.Exp(5) - 1)},
		{Schedule{Type: ScheduleStep, Scale: 1}, 10, 1},
		{Schedule{Type: ScheduleStep, Scale: 1}, 11, 0.5},
		{Schedule{Type: ScheduleStep, Scale: 3, Every: 5, Gamma: 2, Delay: 4}, 14, 12},
		{Schedule{Type: ScheduleSigmoid, Scale: 1}, 1, 1 / (1 + math.Exp(5))},
		{Schedule{Type: ScheduleSigmoid, Scale: 1, Rate: 4}, 50, 1 / (1 + math.Exp(-2))},
	}
	for _, c := range cases {
		if got := c.s.At(c.e, E); !near(got, c.want, 1e-14) {
			t.Errorf("%+v at %d: %v, want %v", c.s, c.e, got, c.want)
		}
	}
	// Degenerate spans: one epoch in all, or a delay reaching the last epoch.
	if got := (Schedule{Type: ScheduleLinear, Scale: 1}).At(1, 1); got != 1 {
		t.Errorf("linear with E=1: %v, want 1", got)
	}
	if got := (Schedule{Type: ScheduleLog, Scale: 1, Delay: 49}).At(50, 50); got != 1 {
		t.Errorf("log with E-D=1: %v, want 1", got)
	}
}

func near(got, want, rel float64) bool {
	return math.Abs(got-want) <= rel*math.Max(1e-300, math.Max(math.Abs(got), math.Abs(want))) || got == want
}
