package engine

import (
	"bufio"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"math"
	"os"
	"strings"
	"testing"
)

// The step digests pin every bit the engine computes: a long seeded search per builtin space and
// method, with and without the controller, at the default and at a fast learning rate, hashes the
// saved state every 200 steps and the weights at the end. engine/testdata/step_digests.txt was
// written by the code before any optimization of the step (go test -run TestStepDigests
// -update-digests ./engine/); a change that moves one bit of α, β, a moment, a boost or a weight
// fails here. The GPU path mirrors this arithmetic bit for bit, so the digests may only change
// together with a deliberate, documented change of the math.

var updateDigests = flag.Bool("update-digests", false, "rewrite engine/testdata/step_digests.txt")

const digestFile = "testdata/step_digests.txt"

type digestCase struct {
	name, config string
	steps        int
}

func digestCases() []digestCase {
	var cases []digestCase
	lrs := map[string]string{"default-lr": "", "fast-lr": `, "optimizer": {
		"alpha": {"lr": 0.05, "betas": [0.5, 0.999], "eps": 1e-8, "weight_decay": 0.001},
		"beta": {"lr": 0.05, "betas": [0.5, 0.999], "eps": 1e-8, "weight_decay": 0.001}}`}
	for _, space := range Presets {
		for _, lr := range []string{"default-lr", "fast-lr"} {
			for _, variant := range []string{"darts", "daas", "daas-control"} {
				method, control := variant, ""
				if variant == "daas-control" {
					method, control = "daas", `, "control": {"edge_target": 0.99, "mass_target": 0.99}`
				}
				cfg := fmt.Sprintf(`{"space": %q, "method": %q, "epochs": 50, "seed": 11%s%s}`, space, method, lrs[lr], control)
				cases = append(cases, digestCase{space + "/" + variant + "/" + lr, cfg, 2000})
			}
		}
	}
	// The graph path shares Step's checks and the Adam update; a short run pins them there too.
	cases = append(cases, digestCase{"darts/daas-control/fast-lr/graph",
		`{"space": "darts", "epochs": 50, "seed": 11, "gradient": "graph", "control": {"edge_target": 0.99, "mass_target": 0.99},
		  "optimizer": {"alpha": {"lr": 0.05}, "beta": {"lr": 0.05}}}`, 100})
	return cases
}

// digestRun runs one case: epoch 1 + s/45 at step s (α's learning rate switches on at epoch 8),
// gradients from the weights (a task that pulls one op and every input up) plus seeded noise, and
// every 97th step first tries gradients holding NaN or Inf, which must be refused without a trace.
func digestRun(t *testing.T, c digestCase) string {
	t.Helper()
	e := mustEngine(t, c.config)
	nA, nE := e.Sizes()
	op, edge := make([]float32, nA), make([]float32, nE)
	gOp, gEdge := make([]float32, nA), make([]float32, nE)
	seed := uint64(7)
	noise := func() float32 {
		seed = seed*6364136223846793005 + 1442695040888963407
		return float32(seed>>40)/float32(1<<24)*2 - 1
	}
	h := sha256.New()
	for s := 0; s < c.steps; s++ {
		if err := e.SetEpoch(1 + s/45); err != nil {
			t.Fatal(err)
		}
		if err := e.Weights(op, edge); err != nil {
			t.Fatal(err)
		}
		scale := float32(1 + 9*(s%13)/12) // 1..10: large and small gradients
		for i, a := range op {
			target := float32(0)
			if i%e.lay.nOps == (i/e.lay.nOps)%e.lay.nOps {
				target = 1
			}
			gOp[i] = scale * ((a - target) + 0.3*noise())
		}
		for i, w := range edge {
			gEdge[i] = scale * ((w - 1.2) + 0.3*noise())
		}
		if s%97 == 0 {
			bad := []float32{float32(math.NaN()), float32(math.Inf(1)), float32(math.Inf(-1))}[s%3]
			g, j := gOp, s%nA
			if s%2 == 1 {
				g, j = gEdge, s%nE
			}
			old := g[j]
			g[j] = bad
			if err := e.Step(gOp, gEdge); !errors.Is(err, ErrNumeric) {
				t.Fatalf("step %d with %v: %v, want ErrNumeric", s, bad, err)
			}
			g[j] = old
		}
		if err := e.Step(gOp, gEdge); err != nil {
			t.Fatalf("step %d: %v", s, err)
		}
		if s%200 == 199 || s == c.steps-1 {
			h.Write(e.Save())
		}
	}
	if err := e.Weights(op, edge); err != nil {
		t.Fatal(err)
	}
	for _, x := range append(op, edge...) {
		h.Write(binary.LittleEndian.AppendUint32(nil, math.Float32bits(x)))
	}
	return hex.EncodeToString(h.Sum(nil))
}

func TestStepDigests(t *testing.T) {
	cases := digestCases()
	if testing.Short() {
		cases = cases[:3]
	}
	got := map[string]string{}
	for _, c := range cases {
		got[c.name] = digestRun(t, c)
	}
	if *updateDigests {
		var b strings.Builder
		b.WriteString("# SHA-256 of the states and weights of TestStepDigests (engine/bitpin_test.go); do not edit.\n")
		for _, c := range cases {
			fmt.Fprintf(&b, "%s %s\n", c.name, got[c.name])
		}
		if err := os.WriteFile(digestFile, []byte(b.String()), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	f, err := os.Open(digestFile)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	want := map[string]string{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if line := sc.Text(); !strings.HasPrefix(line, "#") {
			name, sum, _ := strings.Cut(line, " ")
			want[name] = sum
		}
	}
	for _, c := range cases {
		switch w, ok := want[c.name]; {
		case !ok:
			t.Errorf("%s: no digest in %s", c.name, digestFile)
		case w != got[c.name]:
			t.Errorf("%s: state digest %s, want %s: a step computes different bits", c.name, got[c.name], w)
		}
	}
}
