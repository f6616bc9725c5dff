package device

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"strings"
	"testing"

	"github.com/daas-nas/daas/engine"
)

// The configurations every test runs on: the built-in spaces and a custom imbalanced one, both
// methods, with and without the discreteness controller, and settings that cross the α
// learning-rate switch and several epochs within a few hundred steps.
func testConfigs(t *testing.T) map[string]string {
	t.Helper()
	imbalanced, err := os.ReadFile("../examples/spaces/imbalanced.json")
	if err != nil {
		t.Fatal(err)
	}
	ctl := `"control": {"edge_target": 0.99, "mass_target": 0.99, "gain": 0.2}`
	return map[string]string{
		"darts daas":             `{"space": "darts", "epochs": 10, "seed": 3}`,
		"darts daas control":     `{"space": "darts", "epochs": 10, "seed": 4, ` + ctl + `}`,
		"darts darts":            `{"space": "darts", "epochs": 10, "seed": 5, "method": "darts"}`,
		"nb201 daas control":     `{"space": "nb201", "epochs": 10, "seed": 6, ` + ctl + `}`,
		"darts-none daas":        `{"space": "darts-none", "epochs": 10, "seed": 7}`,
		"imbalanced daas ctl":    `{"space": ` + string(imbalanced) + `, "epochs": 10, "seed": 8, ` + ctl + `}`,
		"imbalanced darts":       `{"space": ` + string(imbalanced) + `, "epochs": 10, "seed": 9, "method": "darts"}`,
		"darts daas weightdecay": `{"space": "darts", "epochs": 10, "seed": 10, "optimizer": {"alpha": {"lr": 0.01, "weight_decay": 0.001}, "beta": {"lr": 0.02, "weight_decay": 0.01}}}`,
	}
}

func newHostEngine(t *testing.T, config string) *engine.Engine {
	t.Helper()
	cfg, err := engine.ParseConfig([]byte(config))
	if err != nil {
		t.Fatal(err)
	}
	e, err := engine.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return e
}

// gradients draws a step's gradients: most entries moderate, some large, so the losses and Adam see
// a range of magnitudes.
func gradients(r *rand.Rand, nA, nE int) ([]float32, []float32) {
	g := func(n int) []float32 {
		x := make([]float32, n)
		for i := range x {
			x[i] = float32(r.NormFloat64() * math.Pow(10, float64(r.IntN(4)-2)))
		}
		return x
	}
	return g(nA), g(nE)
}

func f32Bytes(x []float32) []byte {
	b := make([]byte, 4*len(x))
	for i, v := range x {
		binary.LittleEndian.PutUint32(b[4*i:], math.Float32bits(v))
	}
	return b
}

// gradBuffers is a pair of device buffers for a step's gradients.
type gradBuffers struct {
	b        Backend
	op, edge Ptr
}

func newGradBuffers(t *testing.T, b Backend, nA, nE int) gradBuffers {
	t.Helper()
	op, err := b.Alloc(4 * nA)
	if err != nil {
		t.Fatal(err)
	}
	edge, err := b.Alloc(4 * nE)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Free(op); b.Free(edge) })
	return gradBuffers{b, op, edge}
}

func (g gradBuffers) fill(t *testing.T, op, edge []float32) {
	t.Helper()
	if err := g.b.Upload(g.op, f32Bytes(op)); err != nil {
		t.Fatal(err)
	}
	if err := g.b.Upload(g.edge, f32Bytes(edge)); err != nil {
		t.Fatal(err)
	}
}

// epochOf spreads steps over the epochs: 40 steps each.
func epochOf(step, epochs int) int { return min(1+step/40, epochs) }

// TestHostAndDeviceAgree runs a host engine and a device engine (host emulation) on the same
// gradients through 400 steps and 10 epochs (past alpha_start_epoch and, with the controller, past
// its start) and requires the same state bytes after every epoch and the same weights at every step.
func TestHostAndDeviceAgree(t *testing.T) {
	for name, config := range testConfigs(t) {
		t.Run(name, func(t *testing.T) {
			h := NewHost()
			host := newHostEngine(t, config)
			d, err := New(newHostEngine(t, config), h)
			if err != nil {
				t.Fatal(err)
			}
			defer d.Close()
			nA, nE := host.Sizes()
			g := newGradBuffers(t, h, nA, nE)
			out := newGradBuffers(t, h, nA, nE) // the device's weights
			r := rand.New(rand.NewPCG(1, uint64(len(name))))
			wantOp, wantEdge := make([]float32, nA), make([]float32, nE)
			gotOp, gotEdge := make([]byte, 4*nA), make([]byte, 4*nE)
			epochs := host.Config().Epochs
			for step := 0; step < 40*epochs; step++ {
				if e := epochOf(step, epochs); e != host.Epoch() {
					if err := host.SetEpoch(e); err != nil {
						t.Fatal(err)
					}
					if err := d.Update(func(x *engine.Engine) error { return x.SetEpoch(e) }); err != nil {
						t.Fatal(err)
					}
					hd, err := d.Host()
					if err != nil {
						t.Fatal(err)
					}
					if !bytes.Equal(hd.Save(), host.Save()) {
						t.Fatalf("epoch %d: the device engine's state differs from the host engine's", e)
					}
				}
				if err := d.Weights(0, out.op, out.edge); err != nil {
					t.Fatal(err)
				}
				if err := host.Weights(wantOp, wantEdge); err != nil {
					t.Fatal(err)
				}
				if err := h.Download(gotOp, out.op); err != nil {
					t.Fatal(err)
				}
				if err := h.Download(gotEdge, out.edge); err != nil {
					t.Fatal(err)
				}
				if !bytes.Equal(gotOp, f32Bytes(wantOp)) || !bytes.Equal(gotEdge, f32Bytes(wantEdge)) {
					t.Fatalf("step %d: the device's weights differ from the host's", step)
				}
				gop, gedge := gradients(r, nA, nE)
				if err := host.Step(gop, gedge); err != nil {
					t.Fatal(err)
				}
				g.fill(t, gop, gedge)
				if err := d.Step(0, g.op, g.edge); err != nil {
					t.Fatal(err)
				}
			}
			hd, err := d.Host()
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(hd.Save(), host.Save()) {
				t.Fatal("after the last step the device engine's state differs from the host engine's")
			}
			m := host.Metrics()
			if m.Step != int64(40*epochs) {
				t.Fatalf("host engine took %d steps, want %d", m.Step, 40*epochs)
			}
			if host.Config().Control != nil && m.OpBoost == 1 && m.EdgeBoost == 1 {
				t.Fatal("the controller never boosted: the test does not exercise the device's controller")
			}
		})
	}
}

// TestRefusedStep: a NaN gradient, an overflowing one and an out-of-bounds update are each refused on
// the device without a sync; the steps around them still apply, the next synchronizing call returns
// ErrNumeric naming the first refused call, and the state equals a host engine's that refused them.
func TestRefusedStep(t *testing.T) {
	config := `{"space": "darts", "epochs": 2, "seed": 1, "optimizer": {"alpha_start_epoch": 1}}`
	h := NewHost()
	host := newHostEngine(t, config)
	d, err := New(newHostEngine(t, config), h)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	nA, nE := host.Sizes()
	g := newGradBuffers(t, h, nA, nE)
	r := rand.New(rand.NewPCG(2, 2))
	step := func(op, edge []float32) error {
		g.fill(t, op, edge)
		if err := d.Step(0, g.op, g.edge); err != nil {
			t.Fatal(err)
		}
		return host.Step(op, edge)
	}
	for k := 0; k < 5; k++ {
		if err := step(gradients(r, nA, nE)); err != nil {
			t.Fatal(err)
		}
	}
	op, edge := gradients(r, nA, nE)
	op[17] = float32(math.NaN())
	if err := step(op, edge); !errors.Is(err, engine.ErrNumeric) {
		t.Fatalf("host engine: %v, want ErrNumeric", err)
	}
	op, edge = gradients(r, nA, nE)
	edge[3] = float32(math.Inf(-1))
	if err := step(op, edge); !errors.Is(err, engine.ErrNumeric) {
		t.Fatalf("host engine: %v, want ErrNumeric", err)
	}
	for k := 0; k < 3; k++ {
		if err := step(gradients(r, nA, nE)); err != nil {
			t.Fatal(err)
		}
	}
	err = d.Sync()
	if !errors.Is(err, engine.ErrNumeric) || !strings.Contains(err.Error(), "step call 6 (it would have been step 6): grad_op[17]") ||
		!strings.Contains(err.Error(), "1 later step calls") {
		t.Fatalf("Sync: %v, want ErrNumeric naming call 6, grad_op[17] and one more refusal", err)
	}
	if err := d.Sync(); err != nil {
		t.Fatalf("the second Sync: %v, want nil (the refusal is reported once)", err)
	}
	hd, _ := d.Host()
	if !bytes.Equal(hd.Save(), host.Save()) || hd.Steps() != 8 {
		t.Fatalf("after refusals: device state differs from the host's (device steps %d, want 8)", hd.Steps())
	}
}

// TestRefusedBounds: an Adam update that would take α beyond the state's bounds is refused whole.
func TestRefusedBounds(t *testing.T) {
	config := `{"space": "nb201", "epochs": 2, "seed": 1, "method": "darts", "optimizer": {"alpha_start_epoch": 1, "alpha": {"lr": 5e12, "weight_decay": 0}}}`
	h := NewHost()
	host := newHostEngine(t, config)
	d, err := New(newHostEngine(t, config), h)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	nA, nE := host.Sizes()
	g := newGradBuffers(t, h, nA, nE)
	r := rand.New(rand.NewPCG(3, 3))
	var hostErr error
	for k := 0; k < 30 && hostErr == nil; k++ {
		op, edge := gradients(r, nA, nE)
		for i := range op {
			op[i] = float32(i % 5) // the last op's gradient stays positive: its α falls by about lr per step
		}
		hostErr = host.Step(op, edge)
		g.fill(t, op, edge)
		if err := d.Step(0, g.op, g.edge); err != nil {
			t.Fatal(err)
		}
	}
	if !errors.Is(hostErr, engine.ErrNumeric) {
		t.Fatalf("the host engine never left the bounds (%v): the test needs a larger learning rate", hostErr)
	}
	err = d.Sync()
	if !errors.Is(err, engine.ErrNumeric) || !strings.Contains(err.Error(), "bounds a state keeps at alpha[") {
		t.Fatalf("Sync: %v, want ErrNumeric about alpha's bounds", err)
	}
	hd, _ := d.Host()
	if !bytes.Equal(hd.Save(), host.Save()) {
		t.Fatal("the device engine's state differs from the host engine's after the refused update")
	}
}

// TestCaptureReplay: a step and a weights launch captured once and replayed 100 times (new gradients
// in the same buffers before each replay) end where 100 eager steps end. Nothing step-dependent can be
// baked into a captured launch: counters, bias corrections and coefficients live in device memory.
func TestCaptureReplay(t *testing.T) {
	config := `{"space": "darts", "epochs": 3, "seed": 11, "optimizer": {"alpha_start_epoch": 2}, "control": {"edge_target": 0.9, "mass_target": 0.9}}`
	for _, epochs := range [][2]int{{1, 2}, {2, 3}} {
		h := NewHost()
		eager, err := New(newHostEngine(t, config), h)
		if err != nil {
			t.Fatal(err)
		}
		captured, err := New(newHostEngine(t, config), h)
		if err != nil {
			t.Fatal(err)
		}
		nA, nE := eager.Sizes()
		ge, gc := newGradBuffers(t, h, nA, nE), newGradBuffers(t, h, nA, nE)
		wc := newGradBuffers(t, h, nA, nE)
		replay := h.Capture(func() {
			if err := captured.Weights(0, wc.op, wc.edge); err != nil {
				t.Fatal(err)
			}
			if err := captured.Step(0, gc.op, gc.edge); err != nil {
				t.Fatal(err)
			}
		})
		r := rand.New(rand.NewPCG(4, 4))
		for _, e := range epochs {
			for _, d := range []*Engine{eager, captured} {
				if err := d.Update(func(x *engine.Engine) error { return x.SetEpoch(e) }); err != nil {
					t.Fatal(err)
				}
			}
			for k := 0; k < 100; k++ {
				op, edge := gradients(r, nA, nE)
				ge.fill(t, op, edge)
				if err := eager.Step(0, ge.op, ge.edge); err != nil {
					t.Fatal(err)
				}
				gc.fill(t, op, edge)
				replay()
			}
		}
		a, err := eager.Host()
		if err != nil {
			t.Fatal(err)
		}
		b, err := captured.Host()
		if err != nil {
			t.Fatal(err)
		}
		if a.Steps() != 200 || !bytes.Equal(a.Save(), b.Save()) {
			t.Fatalf("epochs %v: replayed state differs from the eager one (eager steps %d)", epochs, a.Steps())
		}
		eager.Close()
		captured.Close()
		if h.Live() != 6 { // only the test's own gradient and weight buffers remain
			t.Fatalf("%d allocations live after Close, want 6", h.Live())
		}
	}
}

// TestCaptureRefusesSync: a synchronizing call inside a capture is an error, not a broken capture.
func TestCaptureRefusesSync(t *testing.T) {
	h := NewHost()
	d, err := New(newHostEngine(t, `{"space": "nb201"}`), h)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	h.Capture(func() {
		if err := d.Sync(); !errors.Is(err, engine.ErrDevice) {
			t.Errorf("Sync during capture: %v, want ErrDevice", err)
		}
	})
}

func ExampleNew() {
	cfg, _ := engine.ParseConfig([]byte(`{"space": "nb201", "epochs": 1}`))
	host, _ := engine.New(cfg)
	h := NewHost()
	d, _ := New(host, h)
	defer d.Close()
	nA, nE := d.Sizes()
	op, _ := h.Alloc(4 * nA)
	edge, _ := h.Alloc(4 * nE)
	_ = d.Step(0, op, edge) // zero gradients: the losses alone move α
	e, _ := d.Host()
	fmt.Println(nA, nE, e.Steps(), h.Name())
	// Output: 30 6 1 host emulation
}
