package cstep

import (
	"math"
	"sort"
	"testing"
	"time"

	"github.com/daas-nas/daas/capi/abitest"
	"github.com/daas-nas/daas/engine"
)

func newEngine(t testing.TB, config string, epoch int) *engine.Engine {
	t.Helper()
	cfg, err := engine.ParseConfig([]byte(config))
	if err != nil {
		t.Fatal(err)
	}
	e, err := engine.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := e.SetEpoch(epoch); err != nil {
		t.Fatal(err)
	}
	return e
}

// fill writes the seeded gradients of capi/abitest's benchmarks (scale 0.01 there).
func fill(seed *uint64, x []float32, scale float32) {
	for i := range x {
		*seed = *seed*6364136223846793005 + 1442695040888963407
		x[i] = scale * (float32(*seed>>40)/float32(1<<24)*2 - 1)
	}
}

// The C step follows the engine: after 1,000 steps with fresh gradients each step, α and β agree to
// far below one Adam step (lr = 3e-4 and 0.05); they differ only where libm's exp and log round
// differently from the engine's own.
func TestFollowsEngine(t *testing.T) {
	for _, c := range []struct {
		name, config string
		epoch        int
	}{
		{"darts/daas", `{}`, 10},
		{"darts/daas/alpha-off", `{}`, 3},
		{"darts/darts", `{"method": "darts"}`, 10},
		{"darts-none/daas/fast-lr", `{"space": "darts-none", "optimizer": {"alpha": {"lr": 0.05}, "beta": {"lr": 0.05}}}`, 30},
		{"nb201/daas", `{"space": "nb201"}`, 20},
	} {
		t.Run(c.name, func(t *testing.T) {
			e := newEngine(t, c.config, c.epoch)
			s, err := New(e)
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			nA, nE := e.Sizes()
			op, edge := make([]float32, nA), make([]float32, nE)
			seed := uint64(5)
			for k := 0; k < 1000; k++ {
				fill(&seed, op, float32(1+k%10))
				fill(&seed, edge, float32(1+k%10))
				if err := e.Step(op, edge); err != nil {
					t.Fatal(err)
				}
				s.Run(op, edge, 1)
			}
			for _, p := range []struct {
				name      string
				eng, cval []float64
			}{{"alpha", e.AlphaFloat64(), s.Alpha()}, {"beta", e.BetaFloat64(), s.Beta()}} {
				worst, moved := 0.0, 0.0
				for i := range p.eng {
					worst = max(worst, math.Abs(p.eng[i]-p.cval[i]))
					moved = max(moved, math.Abs(p.eng[i]))
				}
				t.Logf("%s: largest |engine - C| %.3g (largest |%s| %.3g)", p.name, worst, p.name, moved)
				if worst > 1e-9 {
					t.Errorf("%s: the C step is %.3g away from the engine's", p.name, worst)
				}
			}
		})
	}
}

// BenchmarkLimit alternates blocks of 100 darts steps: the plain C step (one call into C per block),
// daas_engine_step from a C loop through the ABI (capi/abitest), and Engine.Step in Go, each on its
// own state fed the gradients of capi/abitest's benchmarks at epoch 10. It reports the median block
// of each kind per step and the ratios to the C step: the ABI's is the one `make bench` holds to ≤ 1.5.
func BenchmarkLimit(b *testing.B) {
	e := newEngine(b, "{}", 10)
	s, err := New(newEngine(b, "{}", 10))
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	if st := abitest.BenchOpen(); st != 0 {
		b.Fatalf("open: %d", st)
	}
	defer abitest.BenchClose()
	nA, nE := e.Sizes()
	op, edge := make([]float32, nA), make([]float32, nE)
	seed := uint64(42)
	fill(&seed, op, 0.01)
	fill(&seed, edge, 0.01)
	const block = 100
	var cs, abis, gos []float64
	b.ResetTimer()
	for done := 0; done < b.N; done += block {
		t0 := time.Now()
		s.Run(op, edge, block)
		t1 := time.Now()
		if st := abitest.BenchRun(block); st != 0 {
			b.Fatalf("step: %d", st)
		}
		t2 := time.Now()
		for range block {
			if err := e.Step(op, edge); err != nil {
				b.Fatal(err)
			}
		}
		t3 := time.Now()
		per := func(d time.Duration) float64 { return float64(d.Nanoseconds()) / block }
		cs, abis, gos = append(cs, per(t1.Sub(t0))), append(abis, per(t2.Sub(t1))), append(gos, per(t3.Sub(t2)))
	}
	c, abi, gostep := median(cs), median(abis), median(gos)
	b.ReportMetric(c, "c-ns/step")
	b.ReportMetric(abi, "abi-ns/step")
	b.ReportMetric(gostep, "go-ns/step")
	b.ReportMetric(abi/c, "abi/c")
	b.ReportMetric(gostep/c, "go/c")
}

func median(xs []float64) float64 {
	sort.Float64s(xs)
	return xs[len(xs)/2]
}
