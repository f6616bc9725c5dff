package abitest

import (
	"flag"
	"fmt"
	"math"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/daas-nas/daas/capi"
	"github.com/daas-nas/daas/capi/internal/cheader"
	"github.com/daas-nas/daas/engine"
)

func TestMain(m *testing.M) {
	flag.Parse()
	code := m.Run()
	if code == 0 {
		if n := capi.LiveHandles(); n != 0 {
			fmt.Fprintf(os.Stderr, "FAIL: %d engine handles leaked (the registry must be empty)\n", n)
			code = 1
		}
		if flag.Lookup("test.run").Value.String() == "" {
			code = max(code, checkStatusCoverage())
		}
	}
	os.Exit(code)
}

// checkStatusCoverage requires every status code include/daas.h defines to have been returned to
// some test.
func checkStatusCoverage() int {
	codes, err := cheader.Statuses("../..")
	if err != nil {
		fmt.Fprintf(os.Stderr, "FAIL: %v\n", err)
		return 1
	}
	code := 0
	for _, c := range codes {
		if !Seen(c.Value) {
			fmt.Fprintf(os.Stderr, "FAIL: no test saw status %s (%d)\n", c.Name, c.Value)
			code = 1
		}
	}
	return code
}

// TestStatusStrings holds daas_status_string to include/daas.h: every code the header defines has
// its own name, and values it does not define are DAAS_E_UNKNOWN.
func TestStatusStrings(t *testing.T) {
	codes, err := cheader.Statuses("../..")
	if err != nil {
		t.Fatal(err)
	}
	lowest := int32(0)
	for _, c := range codes {
		if got := StatusString(c.Value); got != c.Name {
			t.Errorf("daas_status_string(%d) = %q, want %q (a case missing in capi/shim.c?)", c.Value, got, c.Name)
		}
		lowest = min(lowest, c.Value)
	}
	for _, st := range []int32{lowest - 1, 1, math.MinInt32, math.MaxInt32} {
		if got := StatusString(st); got != "DAAS_E_UNKNOWN" {
			t.Errorf("daas_status_string(%d) = %q, want DAAS_E_UNKNOWN", st, got)
		}
	}
}

func TestABI(t *testing.T) {
	for i, name := range Names() {
		t.Run(name, func(t *testing.T) {
			if name == "Internal" {
				WithBrokenHandle()
			}
			for _, f := range Run(i) {
				t.Error(f)
			}
		})
	}
}

// BenchmarkStepABI is daas_engine_step on the darts preset called from C; BenchmarkStepGo is the
// same step called from Go. Their difference is the cost of the ABI.
func BenchmarkStepABI(b *testing.B) {
	if st := BenchStep(b.N); st != 0 {
		b.Fatalf("step returned %d", st)
	}
}

func BenchmarkStepGo(b *testing.B) {
	e, op, edge := goBenchEngine(b)
	b.ResetTimer()
	for b.Loop() {
		if err := e.Step(op, edge); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkStepOverhead alternates blocks of 100 steps through the ABI (a C loop calling
// daas_engine_step) and 100 steps in Go on two engines fed the same gradients. On a busy machine the
// means move with the load, so it also reports the fastest block of each kind: their difference is
// the cost the ABI adds to a step.
func BenchmarkStepOverhead(b *testing.B) {
	e, op, edge := goBenchEngine(b)
	if st := BenchOpen(); st != 0 {
		b.Fatalf("open: %d", st)
	}
	defer BenchClose()
	const block = 100
	var abi, native time.Duration
	minABI, minGo := time.Duration(1<<62), time.Duration(1<<62)
	steps := 0
	b.ResetTimer()
	for steps < b.N {
		t0 := time.Now()
		if st := BenchRun(block); st != 0 {
			b.Fatalf("step: %d", st)
		}
		t1 := time.Now()
		for range block {
			if err := e.Step(op, edge); err != nil {
				b.Fatal(err)
			}
		}
		t2 := time.Now()
		abi += t1.Sub(t0)
		native += t2.Sub(t1)
		minABI, minGo = min(minABI, t1.Sub(t0)), min(minGo, t2.Sub(t1))
		steps += block
	}
	per := func(d time.Duration, n int) float64 { return float64(d.Nanoseconds()) / float64(n) }
	b.ReportMetric(per(abi, steps), "abi-ns/step")
	b.ReportMetric(per(native, steps), "go-ns/step")
	b.ReportMetric(per(minABI, block), "best-abi-ns/step")
	b.ReportMetric(per(minGo, block), "best-go-ns/step")
	b.ReportMetric(per(minABI-minGo, block), "overhead-ns/step")
}

func goBenchEngine(b *testing.B) (*engine.Engine, []float32, []float32) {
	cfg, err := engine.ParseConfig([]byte("{}"))
	if err != nil {
		b.Fatal(err)
	}
	e, err := engine.New(cfg)
	if err != nil {
		b.Fatal(err)
	}
	nA, nE := e.Sizes()
	op, edge := make([]float32, nA), make([]float32, nE)
	seed := uint64(42)
	fill := func(x []float32) {
		for i := range x {
			seed = seed*6364136223846793005 + 1442695040888963407
			x[i] = 0.01 * (float32(seed>>40)/float32(1<<24)*2 - 1)
		}
	}
	fill(op)
	fill(edge)
	if err := e.SetEpoch(10); err != nil {
		b.Fatal(err)
	}
	return e, op, edge
}

// TestDeviceABI runs the device engine's C cases in a child process of this test binary, where
// "cuda" engines live on package device's host emulation (registering the device there would change
// what the other cases see: in this process "cuda" is DAAS_E_DEVICE).
func TestDeviceABI(t *testing.T) {
	if os.Getenv("DAAS_ABITEST_DEVICE") == "1" {
		UseHostDevice()
		for i, name := range DeviceNames() {
			t.Run(name, func(t *testing.T) {
				for _, f := range RunDevice(i) {
					t.Error(f)
				}
			})
		}
		return
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestDeviceABI$", "-test.v")
	cmd.Env = append(os.Environ(), "DAAS_ABITEST_DEVICE=1")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("the device cases failed: %v\n%s", err, out)
	}
	for _, name := range DeviceNames() {
		if !strings.Contains(string(out), "--- PASS: TestDeviceABI/"+name) {
			t.Errorf("the child did not pass %s:\n%s", name, out)
		}
	}
}
