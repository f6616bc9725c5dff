package engine

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
)

// Fuzz targets. `go test ./engine` replays their seed corpora (engine/testdata/fuzz/<Target>/ plus the
// f.Add seeds); `make fuzz FUZZTIME=60s` (tools/fuzz.sh) fuzzes each for that long.

// FuzzLoad feeds arbitrary bytes to Load: it must not panic, and anything it accepts must be a
// canonical state (Save gives the input back) with finite weights, on which a step is taken or
// refused and after which the state loads again.
func FuzzLoad(f *testing.F) {
	f.Add([]byte{})
	f.Add([]byte("\x10\x00\x00\x00DAAS"))
	f.Add(stSmall(f))
	f.Fuzz(func(t *testing.T, data []byte) {
		fuzzCheckLoad(t, data)
	})
}

// FuzzLoadBody uses the bytes as the State body inside a correct envelope (right version and CRC),
// so the fuzzer works on the verifier and the semantic checks rather than on the CRC.
func FuzzLoadBody(f *testing.F) {
	f.Add([]byte{})
	f.Add(stBody(f, stSmall(f)))
	f.Fuzz(func(t *testing.T, body []byte) {
		fuzzCheckLoad(t, stWrap(SchemaVersion, body))
	})
}

func fuzzCheckLoad(t *testing.T, data []byte) {
	orig := append([]byte(nil), data...)
	e, err := Load(data)
	if !bytes.Equal(data, orig) {
		t.Fatal("Load modified its input")
	}
	if err != nil {
		if e != nil || !(stRefused(err) || errors.Is(err, ErrDevice)) {
			t.Fatalf("Load returned %v, %v: want nil and a corrupt-state, version or device error", e, err)
		}
		return
	}
	if !bytes.Equal(e.Save(), data) {
		t.Fatal("Load accepted bytes that are not what the loaded state saves to")
	}
	// A loaded state is sound: finite weights, and one step is taken or refused with nothing
	// changed, after which the state still loads (the bounds of adam.go).
	nA, nE := e.Sizes()
	op, edge := make([]float32, nA), make([]float32, nE)
	if err := e.Weights(op, edge); err != nil {
		t.Fatal(err)
	}
	if i := firstNonFinite(append(op, edge...)); i >= 0 {
		t.Fatalf("an accepted state gives a non-finite weight at %d", i)
	}
	if err := e.Step(op, edge); err != nil && !errors.Is(err, ErrNumeric) {
		t.Fatalf("step on an accepted state: %v", err)
	} else if err != nil && !bytes.Equal(e.Save(), data) {
		t.Fatalf("a refused step (%v) changed the engine", err)
	}
	if _, err := Load(e.Save()); err != nil {
		t.Fatalf("the state after one step does not load: %v", err)
	}
}

// FuzzParseConfig: no panic; errors are ErrInvalidConfig (or ErrDevice for the GPU device this build
// lacks); a valid config round-trips through JSON.
func FuzzParseConfig(f *testing.F) {
	for _, c := range stConfigs {
		f.Add([]byte(c.json))
	}
	f.Add([]byte(`{}`))
	f.Add([]byte(`{"space":{"ops":["a"],"cells":[{"name":"c","inputs":1,"nodes":2,"keep":"all"}]}}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := ParseConfig(data)
		if err != nil {
			if !errors.Is(err, ErrInvalidConfig) && !errors.Is(err, ErrDevice) {
				t.Fatalf("error %v wraps neither ErrInvalidConfig nor ErrDevice", err)
			}
			return
		}
		j := c.JSON()
		c2, err := ParseConfig(j)
		if err != nil {
			t.Fatalf("the canonical JSON of a valid config does not parse: %v\n%s", err, j)
		}
		if !bytes.Equal(c2.JSON(), j) || !reflect.DeepEqual(c, c2) {
			t.Fatalf("config changed through its JSON:\n%s\n%s", j, c2.JSON())
		}
	})
}

// fuzzConfigs are the small spaces the step and discretization targets use (10 epochs, so that the
// delayed λα is on at the last epochs; α moves from epoch 1).
var fuzzConfigs = []string{
	`{"space":"darts","epochs":10,"optimizer":{"alpha_start_epoch":1}}`,
	`{"space":"darts-none","epochs":10,"optimizer":{"alpha_start_epoch":1}}`,
	`{"space":"nb201","epochs":10,"optimizer":{"alpha_start_epoch":1}}`,
	`{"space":{"ops":["none","a","b"],"discard":["none"],"cells":[{"name":"c","inputs":2,"nodes":4,"keep":[1,3,2,4]}]},"epochs":10,"optimizer":{"alpha_start_epoch":1}}`,
}

func fuzzEngine(t *testing.T, space uint8, darts bool) *Engine {
	cfg, err := ParseConfig([]byte(fuzzConfigs[int(space)%len(fuzzConfigs)]))
	if err != nil {
		t.Fatal(err)
	}
	if darts {
		cfg.Method = MethodDARTS
	}
	e, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return e
}

// FuzzStep steps an engine with hostile gradients: arbitrary float32 bits (NaN, Inf, huge,
// subnormal) and lengths off by up to two. Each step either fails with ErrInvalidArgument or
// ErrNumeric and leaves the engine exactly as it was, or succeeds and leaves every number finite
// and the state loadable.
func FuzzStep(f *testing.F) {
	f.Add(uint8(0), false, uint8(9), uint8(3), int8(0), int8(0), []byte{0, 0, 0x80, 0x3f})
	f.Add(uint8(2), true, uint8(0), uint8(1), int8(1), int8(0), []byte{0, 0, 0xc0, 0x7f})
	f.Add(uint8(3), false, uint8(5), uint8(2), int8(0), int8(-1), []byte{0xff, 0xff, 0x7f, 0x7f})
	f.Fuzz(func(t *testing.T, space uint8, darts bool, epoch, steps uint8, dOp, dEdge int8, raw []byte) {
		e := fuzzEngine(t, space, darts)
		if err := e.SetEpoch(int(epoch)%e.cfg.Epochs + 1); err != nil {
			t.Fatal(err)
		}
		nA, nE := e.Sizes()
		gOp := make([]float32, max(0, nA+int(dOp)%3))
		gEdge := make([]float32, max(0, nE+int(dEdge)%3))
		k := 0
		for _, g := range [][]float32{gOp, gEdge} {
			for i := range g {
				if len(raw) >= 4 {
					g[i] = math.Float32frombits(binary.LittleEndian.Uint32(raw[(4*k)%(len(raw)-len(raw)%4):]))
				}
				k++
			}
		}
		for s := 0; s <= int(steps%4); s++ {
			before := e.Save()
			if err := e.Step(gOp, gEdge); err != nil {
				if !errors.Is(err, ErrInvalidArgument) && !errors.Is(err, ErrNumeric) {
					t.Fatalf("step error %v wraps neither ErrInvalidArgument nor ErrNumeric", err)
				}
				if !bytes.Equal(e.Save(), before) {
					t.Fatalf("a refused step (%v) changed the engine", err)
				}
				return
			}
			for _, xs := range [][]float64{e.alpha, e.beta, e.adamA.M, e.adamA.V, e.adamB.M, e.adamB.V} {
				if i := firstNonFinite(xs); i >= 0 {
					t.Fatalf("after a successful step, a parameter or moment [%d] is %v", i, xs[i])
				}
			}
			if _, err := Load(e.Save()); err != nil {
				t.Fatalf("the state after a successful step does not load: %v", err)
			}
		}
	})
}

// FuzzDiscretize sets α and β directly to arbitrary float64 bits (NaN, ±Inf, ±huge, ties) and
// discretizes: no panic, and the genotype is valid for the space (k_j distinct inputs per node, ops
// that are not discarded) and survives its JSON. For finite values of moderate size the mixing
// weights must be finite too.
func FuzzDiscretize(f *testing.F) {
	f.Add(uint8(0), false, []byte{0, 0, 0, 0, 0, 0, 0xf0, 0x7f})                         // +Inf
	f.Add(uint8(1), false, []byte{1, 0, 0, 0, 0, 0, 0xf8, 0x7f, 0, 0, 0, 0, 0, 0, 0, 0}) // NaN, 0
	f.Add(uint8(2), true, []byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xef, 0xff})        // -MaxFloat64
	f.Add(uint8(3), false, []byte{0, 0, 0, 0, 0, 0, 0xe0, 0xbf})                         // -0.5, the kink
	f.Fuzz(func(t *testing.T, space uint8, darts bool, raw []byte) {
		if len(raw) < 8 {
			return
		}
		e := fuzzEngine(t, space, darts)
		vals := make([]float64, len(raw)/8)
		moderate := true
		for i := range vals {
			vals[i] = math.Float64frombits(binary.LittleEndian.Uint64(raw[8*i:]))
			moderate = moderate && math.Abs(vals[i]) <= 1e100
		}
		for i := range e.alpha {
			e.alpha[i] = vals[i%len(vals)]
		}
		for i := range e.beta {
			e.beta[i] = vals[(len(e.alpha)+i)%len(vals)]
		}
		g := e.Discretize()
		fuzzCheckGenotype(t, e, g)
		if moderate {
			nA, nE := e.Sizes()
			op, edge := make([]float32, nA), make([]float32, nE)
			if err := e.Weights(op, edge); err != nil {
				t.Fatal(err)
			}
			for _, w := range append(op, edge...) {
				if w-w != 0 || w < 0 {
					t.Fatalf("a mixing weight is %v for finite α and β of moderate size", w)
				}
			}
		}
	})
}

func fuzzCheckGenotype(t *testing.T, e *Engine, g Genotype) {
	s := e.cfg.Space
	if g.Method != e.cfg.Method || len(g.Cells) != len(s.Cells) {
		t.Fatalf("genotype method %q with %d cells", g.Method, len(g.Cells))
	}
	for ci, cg := range g.Cells {
		c := s.Cells[ci]
		if cg.Name != c.Name || len(cg.Nodes) != c.Nodes || len(cg.Concat) != c.Nodes {
			t.Fatalf("cell %d: %+v", ci, cg)
		}
		for j, kept := range cg.Nodes {
			if len(kept) != c.Keep[j] {
				t.Fatalf("cell %d node %d keeps %d inputs, want %d", ci, j, len(kept), c.Keep[j])
			}
			seen := map[int]bool{}
			for _, ch := range kept {
				o := slices.Index(s.Ops, ch.Op)
				if ch.Input < 0 || ch.Input >= c.Inputs+j || seen[ch.Input] || o < 0 || slices.Contains(s.Discard, ch.Op) {
					t.Fatalf("cell %d node %d: invalid choice %+v in %+v", ci, j, ch, kept)
				}
				seen[ch.Input] = true
			}
		}
	}
	var back Genotype
	if err := json.Unmarshal(g.JSON(), &back); err != nil || !reflect.DeepEqual(back, g) {
		t.Fatalf("genotype does not survive its JSON: %v", err)
	}
}

// fuzzSeeds are the committed seed corpora: real states, their bodies and configurations.
func fuzzSeeds(t *testing.T) map[string][]byte {
	states := map[string][]byte{}
	for i, c := range stConfigs {
		if i >= 6 { // the graph path's states look like the fast path's; keep the corpus small
			break
		}
		e := mustEngine(t, c.json)
		g := stGrads{state: uint64(i)}
		stRun(t, e, &g, 1, 3, 2)
		states[fmt.Sprintf("state-%02d-%s", i, strings.ReplaceAll(c.name, "/", "-"))] = e.Save()
	}
	// The fault the fuzzer found: an α of 1e160 used to load and make the next step write Inf.
	// Now it is refused; a state at the bounds loads, and its step is refused (m over v = 0).
	e := mustEngine(t, stConfigs[0].json)
	e.alpha[0] = 1e160
	states["bounds-alpha-1e160"] = e.Save()
	e = mustEngine(t, stConfigs[0].json)
	for i := range e.alpha {
		e.alpha[i], e.adamA.M[i] = paramLimit, momentLimit
	}
	states["bounds-at-the-edge"] = e.Save()
	return states
}

func corpusFile(values ...any) []byte {
	var b bytes.Buffer
	b.WriteString("go test fuzz v1\n")
	for _, v := range values {
		switch v := v.(type) {
		case []byte:
			fmt.Fprintf(&b, "[]byte(%q)\n", v)
		case uint8:
			fmt.Fprintf(&b, "byte(%q)\n", v)
		case bool, int8:
			fmt.Fprintf(&b, "%T(%v)\n", v, v)
		default:
			panic("corpusFile: unsupported type")
		}
	}
	return b.Bytes()
}

// TestFuzzSeedCorpus checks that the committed FuzzLoad and FuzzLoadBody seeds named state-* and
// bounds-* are exactly the states this build saves for those runs (so the corpus exercises today's format). With
// DAAS_WRITE_FUZZ_SEEDS=1 it rewrites the seed files instead; commit them.
func TestFuzzSeedCorpus(t *testing.T) {
	write := os.Getenv("DAAS_WRITE_FUZZ_SEEDS") == "1"
	files := map[string][]byte{}
	for name, data := range fuzzSeeds(t) {
		files["FuzzLoad/"+name] = corpusFile(data)
		files["FuzzLoadBody/"+name] = corpusFile(stBody(t, data))
	}
	for i, c := range stConfigs {
		files[fmt.Sprintf("FuzzParseConfig/config-%02d", i)] = corpusFile([]byte(c.json))
	}
	f32 := func(xs ...float32) []byte {
		var b []byte
		for _, x := range xs {
			b = binary.LittleEndian.AppendUint32(b, math.Float32bits(x))
		}
		return b
	}
	f64 := func(xs ...float64) []byte {
		var b []byte
		for _, x := range xs {
			b = binary.LittleEndian.AppendUint64(b, math.Float64bits(x))
		}
		return b
	}
	inf32, nan64 := float32(math.Inf(1)), math.NaN()
	files["FuzzStep/huge"] = corpusFile(uint8(0), false, uint8(9), uint8(3), int8(0), int8(0), f32(math.MaxFloat32, -math.MaxFloat32, 1e-45))
	files["FuzzStep/inf-late"] = corpusFile(uint8(3), false, uint8(8), uint8(2), int8(0), int8(0), f32(0.5, -0.25, 0, 0, 0, inf32))
	files["FuzzStep/short-edge"] = corpusFile(uint8(2), true, uint8(4), uint8(0), int8(0), int8(-1), f32(1))
	files["FuzzDiscretize/extremes"] = corpusFile(uint8(0), false, f64(math.MaxFloat64, -math.MaxFloat64, math.SmallestNonzeroFloat64, math.Inf(-1), nan64, -0.5, 1, 1))
	files["FuzzDiscretize/ties"] = corpusFile(uint8(3), true, f64(0.25, 0.25, 0.25))
	files["FuzzDiscretize/kinks"] = corpusFile(uint8(1), false, f64(-0.5, math.Nextafter(-0.5, -1), 1, math.Nextafter(1, 2), -1e100, 1e100))
	for name, want := range files {
		path := filepath.Join("testdata", "fuzz", name)
		if write {
			if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(path, want, 0o644); err != nil {
				t.Fatal(err)
			}
			continue
		}
		got, err := os.ReadFile(path)
		if err != nil || !bytes.Equal(got, want) {
			t.Errorf("seed %s is missing or stale: regenerate with DAAS_WRITE_FUZZ_SEEDS=1 go test ./engine -run TestFuzzSeedCorpus", path)
		}
	}
}
