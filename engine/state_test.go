package engine

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"reflect"
	"runtime"
	"strings"
	"testing"

	flatbuffers "github.com/google/flatbuffers/go"

	"github.com/daas-nas/daas/engine/internal/statefb"
)

// stGrads is a deterministic stream of pseudo-random task gradients (SplitMix64), copyable so that two
// engines can be fed the same continuation.
type stGrads struct{ state uint64 }

func (g *stGrads) next() float32 {
	g.state += 0x9e3779b97f4a7c15
	z := g.state
	z = (z ^ z>>30) * 0xbf58476d1ce4e5b9
	z = (z ^ z>>27) * 0x94d049bb133111eb
	z ^= z >> 31
	return float32(int64(z>>40)-(1<<23)) / (1 << 23) * 0.5 // in [-0.5, 0.5)
}

func (g *stGrads) fill(xs []float32) {
	for i := range xs {
		xs[i] = g.next()
	}
}

// stConfigs are the configurations the state tests cover: every preset with both methods, a custom
// space with imbalanced keep, another seed and the graph gradient path. Learning rates are raised so
// that a few steps move α and β visibly, and α starts moving at epoch 2.
var stConfigs = []struct{ name, json string }{
	{"darts", `{"space":"darts","epochs":6,"seed":1,"optimizer":{"alpha_start_epoch":2,"alpha":{"lr":0.05},"beta":{"lr":0.05}}}`},
	{"darts-none", `{"space":"darts-none","epochs":6,"seed":2,"optimizer":{"alpha_start_epoch":2,"alpha":{"lr":0.05},"beta":{"lr":0.05}}}`},
	{"nb201", `{"space":"nb201","epochs":6,"seed":3,"optimizer":{"alpha_start_epoch":2,"alpha":{"lr":0.05}}}`},
	{"darts/darts", `{"space":"darts","method":"darts","epochs":6,"seed":4,"optimizer":{"alpha_start_epoch":2,"alpha":{"lr":0.05}}}`},
	{"nb201/darts", `{"space":"nb201","method":"darts","epochs":6,"seed":5,"optimizer":{"alpha_start_epoch":2,"alpha":{"lr":0.05}}}`},
	{"custom", `{"space":{"ops":["none","conv","pool","skip"],"discard":["none"],"cells":[{"name":"a","inputs":2,"nodes":4,"keep":[1,3,2,4]},{"name":"b","inputs":1,"nodes":3,"keep":1}]},"epochs":6,"seed":18446744073709551615,"optimizer":{"alpha_start_epoch":1,"alpha":{"lr":0.05},"beta":{"lr":0.05}},"loss":{"lambda_c":{"type":"const","scale":0.5},"lambda_alpha":{"type":"sigmoid","scale":1,"delay":2}}}`},
	{"custom/darts", `{"space":{"ops":["a","b"],"cells":[{"name":"x","inputs":3,"nodes":2,"keep":2}]},"method":"darts","epochs":6,"seed":7,"optimizer":{"alpha_start_epoch":1,"alpha":{"lr":0.05}}}`},
	{"darts/graph", `{"space":"darts","gradient":"graph","epochs":6,"seed":8,"optimizer":{"alpha_start_epoch":2,"alpha":{"lr":0.05},"beta":{"lr":0.05}}}`},
}

// stRun moves e through epochs from..to (inclusive), taking steps steps per epoch with gradients from g.
func stRun(t testing.TB, e *Engine, g *stGrads, from, to, steps int) {
	t.Helper()
	nA, nE := e.Sizes()
	gOp, gEdge := make([]float32, nA), make([]float32, nE)
	for ep := from; ep <= to; ep++ {
		if err := e.SetEpoch(ep); err != nil {
			t.Fatal(err)
		}
		for s := 0; s < steps; s++ {
			g.fill(gOp)
			g.fill(gEdge)
			if err := e.Step(gOp, gEdge); err != nil {
				t.Fatal(err)
			}
		}
	}
}

func stBits(xs []float64) []uint64 {
	out := make([]uint64, len(xs))
	for i, x := range xs {
		out[i] = math.Float64bits(x)
	}
	return out
}

func stSameEngine(t *testing.T, what string, a, b *Engine) {
	t.Helper()
	if !bytes.Equal(a.Save(), b.Save()) {
		t.Fatalf("%s: Save() bytes differ", what)
	}
	if !reflect.DeepEqual(stBits(a.alpha), stBits(b.alpha)) || !reflect.DeepEqual(stBits(a.beta), stBits(b.beta)) {
		t.Fatalf("%s: alpha or beta bits differ", what)
	}
	for _, p := range [][2][]float64{{a.adamA.M, b.adamA.M}, {a.adamA.V, b.adamA.V}, {a.adamB.M, b.adamB.M}, {a.adamB.V, b.adamB.V}} {
		if !reflect.DeepEqual(stBits(p[0]), stBits(p[1])) {
			t.Fatalf("%s: Adam moments differ", what)
		}
	}
	if a.epoch != b.epoch || a.steps != b.steps || a.epSteps != b.epSteps || a.adamA.Step != b.adamA.Step || a.adamB.Step != b.adamB.Step {
		t.Fatalf("%s: counters differ", what)
	}
	if !reflect.DeepEqual(a.History(), b.History()) {
		t.Fatalf("%s: histories differ", what)
	}
}

func TestStateRoundTripContinuesBitForBit(t *testing.T) {
	for _, c := range stConfigs {
		t.Run(c.name, func(t *testing.T) {
			e := mustEngine(t, c.json)
			g := stGrads{state: 42}
			stRun(t, e, &g, 1, 3, 4)
			b := e.Save()
			loaded, err := Load(b)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(loaded.Save(), b) {
				t.Fatal("save(load(b)) != b")
			}
			stSameEngine(t, "after load", e, loaded)
			if len(loaded.history) != 2 {
				t.Fatalf("history of %d records, want 2", len(loaded.history))
			}
			// Continue both with the same gradients, into a later epoch and back to an earlier one.
			g2 := g
			stRun(t, e, &g, 3, 6, 3)
			stRun(t, loaded, &g2, 3, 6, 3)
			stRun(t, e, &g, 2, 2, 2)
			stRun(t, loaded, &g2, 2, 2, 2)
			stSameEngine(t, "after continuing", e, loaded)
			if reflect.DeepEqual(stBits(e.alpha), stBits(mustEngine(t, c.json).alpha)) {
				t.Fatal("alpha did not move: the test would not notice a lost update")
			}
			again, err := Load(e.Save())
			if err != nil {
				t.Fatal(err)
			}
			stSameEngine(t, "second round trip", e, again)
		})
	}
}

func TestStateFreshEngineRoundTrip(t *testing.T) {
	for _, c := range stConfigs {
		e := mustEngine(t, c.json)
		loaded, err := Load(e.Save())
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		stSameEngine(t, c.name, e, loaded)
	}
}

func TestStateSameConfigAndSeedGiveSameBytes(t *testing.T) {
	for _, c := range stConfigs {
		cfg, err := ParseConfig([]byte(c.json))
		if err != nil {
			t.Fatal(err)
		}
		run := func(cfg Config) []byte {
			e, err := New(cfg)
			if err != nil {
				t.Fatal(err)
			}
			g := stGrads{state: 9}
			stRun(t, e, &g, 1, 4, 3)
			return e.Save()
		}
		a, b := run(cfg), run(cfg)
		if !bytes.Equal(a, b) {
			t.Fatalf("%s: two fresh runs saved different bytes", c.name)
		}
		cfg.Seed ^= 1
		if bytes.Equal(a, run(cfg)) {
			t.Fatalf("%s: another seed saved the same bytes", c.name)
		}
	}
}

func TestStateHistorySurvives(t *testing.T) {
	e := mustEngine(t, stConfigs[0].json)
	g := stGrads{state: 1}
	stRun(t, e, &g, 1, 5, 2)
	stRun(t, e, &g, 3, 3, 1) // back to an earlier epoch
	want := e.History()
	loaded, err := Load(e.Save())
	if err != nil {
		t.Fatal(err)
	}
	got := loaded.History()
	if len(got) != 6 || !reflect.DeepEqual(got, want) {
		t.Fatalf("history after load:\n%+v\nwant\n%+v", got, want)
	}
	if got[4].Epoch != 5 || got[4].Steps != 2 || got[4].Metrics.Step != 10 || got[4].Genotype == "" {
		t.Fatalf("record of epoch 5: %+v", got[4])
	}
}

func TestStateLoadKeepsNoReferenceToInput(t *testing.T) {
	e := mustEngine(t, stConfigs[2].json)
	g := stGrads{state: 3}
	stRun(t, e, &g, 1, 2, 2)
	b := e.Save()
	orig := append([]byte(nil), b...)
	loaded, err := Load(b)
	if err != nil {
		t.Fatal(err)
	}
	for i := range b {
		b[i] = 0xA5
	}
	if !bytes.Equal(loaded.Save(), orig) {
		t.Fatal("the loaded engine changed when the input buffer was overwritten")
	}
}

func TestStateConfigWithoutDiscardList(t *testing.T) {
	cfg := DefaultConfig()
	cfg.Space.Discard = nil
	e, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Load(e.Save()); err != nil {
		t.Fatalf("state of a config built in Go with a nil discard list: %v", err)
	}
}

// stSmall is a small state with history: nb201, two finished epochs.
func stSmall(t testing.TB) []byte {
	e := mustEngine(t, stConfigs[2].json)
	g := stGrads{state: 5}
	stRun(t, e, &g, 1, 3, 2)
	return e.Save()
}

func stRefused(err error) bool {
	return err != nil && (errors.Is(err, ErrCorruptState) || errors.Is(err, ErrVersionMismatch))
}

func TestStateEveryBitFlipIsRefused(t *testing.T) {
	b := stSmall(t)
	if _, err := Load(b); err != nil {
		t.Fatal(err)
	}
	c := make([]byte, len(b))
	for i := range b {
		for bit := 0; bit < 8; bit++ {
			copy(c, b)
			c[i] ^= 1 << bit
			if e, err := Load(c); !stRefused(err) || e != nil {
				t.Fatalf("flipping bit %d of byte %d of %d: got %v, %v", bit, i, len(b), e, err)
			}
		}
	}
}

func TestStateTruncationsAndExtensionsAreRefused(t *testing.T) {
	b := stSmall(t)
	for n := 0; n < len(b); n++ {
		if _, err := Load(b[:n:n]); !errors.Is(err, ErrCorruptState) {
			t.Fatalf("truncated to %d of %d bytes: %v", n, len(b), err)
		}
	}
	for _, tail := range [][]byte{{0}, make([]byte, 8)} {
		if _, err := Load(append(append([]byte(nil), b...), tail...)); !errors.Is(err, ErrCorruptState) {
			t.Fatalf("with %d bytes appended: %v", len(tail), err)
		}
	}
	if _, err := Load(nil); !errors.Is(err, ErrCorruptState) {
		t.Fatalf("nil: %v", err)
	}
}

// stBody returns the State body of a saved state.
func stBody(t testing.TB, b []byte) []byte {
	t.Helper()
	return append([]byte(nil), statefb.GetRootAsEnvelope(b, 0).BodyBytes()...)
}

// stWrap builds an envelope around body as Save does, with a correct CRC for version.
func stWrap(version uint32, body []byte) []byte {
	b := flatbuffers.NewBuilder(len(body) + 64)
	b.Prep(8, len(body))
	off := b.CreateByteVector(body)
	statefb.EnvelopeStart(b)
	statefb.EnvelopeAddBody(b, off)
	statefb.EnvelopeAddCrc32c(b, stateCRC(version, body))
	statefb.EnvelopeAddSchemaVersion(b, version)
	statefb.FinishEnvelopeBuffer(b, statefb.EnvelopeEnd(b))
	return b.FinishedBytes()
}

func TestStateWrapMatchesSave(t *testing.T) {
	b := stSmall(t)
	if !bytes.Equal(stWrap(SchemaVersion, stBody(t, b)), b) {
		t.Fatal("the test's envelope builder differs from Save's")
	}
}

func TestStateUnknownSchemaVersion(t *testing.T) {
	body := stBody(t, stSmall(t))
	for _, v := range []uint32{0, 2, 1 << 31} {
		_, err := Load(stWrap(v, body))
		if !errors.Is(err, ErrVersionMismatch) || errors.Is(err, ErrCorruptState) {
			t.Fatalf("version %d: %v", v, err)
		}
		if msg := err.Error(); !strings.Contains(msg, fmt.Sprint(v)) || !strings.Contains(msg, "version 1") {
			t.Fatalf("version %d: message %q should name both versions", v, msg)
		}
	}
}

func TestStateCRCMismatch(t *testing.T) {
	b := stSmall(t)
	env := statefb.GetRootAsEnvelope(b, 0)
	c := append([]byte(nil), b...)
	statefb.GetRootAsEnvelope(c, 0).MutateCrc32c(env.Crc32c() + 1)
	_, err := Load(c)
	if !errors.Is(err, ErrCorruptState) || !strings.Contains(err.Error(), "CRC-32C") {
		t.Fatalf("%v", err)
	}
}

// stVectorLengthAt returns the position of the length field of the vector in field slot of table tab.
func stVectorLengthAt(tab flatbuffers.Table, slot int) int {
	o := flatbuffers.UOffsetT(tab.Offset(flatbuffers.VOffsetT(4 + 2*slot)))
	return int(tab.Vector(o)) - 4
}

func TestStateHugeLengthsAreRefusedWithoutAllocating(t *testing.T) {
	body := stBody(t, stSmall(t))
	st := statefb.GetRootAsState(body, 0)
	var rec statefb.EpochRecord
	st.History(&rec, 0)
	stTab := st.Table()
	cases := []struct {
		name string
		at   int
	}{
		{"alpha", stVectorLengthAt(stTab, slotStAlpha)},
		{"history", stVectorLengthAt(stTab, slotStHistory)},
		{"config_json", stVectorLengthAt(stTab, slotStConfig)},
		{"genotype_json", stVectorLengthAt(rec.Table(), slotRecGeno)},
	}
	for _, c := range cases {
		for _, n := range []uint32{1 << 31, math.MaxUint32, uint32(len(body))} {
			mod := append([]byte(nil), body...)
			binary.LittleEndian.PutUint32(mod[c.at:], n)
			data := stWrap(SchemaVersion, mod)
			var err error
			var before, after runtime.MemStats
			runtime.GC()
			runtime.ReadMemStats(&before)
			_, err = Load(data)
			runtime.ReadMemStats(&after)
			if !errors.Is(err, ErrCorruptState) || !strings.Contains(err.Error(), c.name) {
				t.Fatalf("%s claiming %d elements: %v", c.name, n, err)
			}
			if got := after.TotalAlloc - before.TotalAlloc; got > 1<<16 {
				t.Fatalf("%s claiming %d elements: Load allocated %d bytes before refusing", c.name, n, got)
			}
		}
	}
	// The same through the allocation counter: the count (the verifier, the error message) must not
	// grow with the length claimed. It may differ by one or two (formatting different numbers into the
	// message, and the race detector's runtime, shift it slightly); a length-sized allocation would
	// show in the byte check above.
	allocs := func(n uint32) float64 {
		mod := append([]byte(nil), body...)
		binary.LittleEndian.PutUint32(mod[cases[0].at:], n)
		data := stWrap(SchemaVersion, mod)
		return testing.AllocsPerRun(10, func() { _, _ = Load(data) })
	}
	if small, huge := allocs(uint32(len(body))), allocs(1<<31); huge > small+2 || huge > 64 {
		t.Fatalf("%v allocations to refuse a vector of 2^31 elements, %v for %d elements", huge, small, len(body))
	}
}

func TestStateSharedObjectsAreRefused(t *testing.T) {
	// A history vector of 4000 offsets, all to one record: every offset is in bounds, but the buffer
	// references far more bytes than it holds (a canonical state never shares an object). The verifier
	// must refuse it before the loader parses that record 4000 times.
	e := mustEngine(t, stConfigs[2].json)
	g := stGrads{state: 5}
	stRun(t, e, &g, 1, 2, 1)
	b := flatbuffers.NewBuilder(1 << 16)
	rec := putRecord(b, e.history[0])
	hist := make([]flatbuffers.UOffsetT, 4000)
	for i := range hist {
		hist[i] = rec
	}
	histOff := putOffsets(b, hist)
	adamB, adamA := putAdam(b, &e.adamB), putAdam(b, &e.adamA)
	beta, alpha := putF64s(b, e.beta), putF64s(b, e.alpha)
	method := b.CreateString(string(e.cfg.Method))
	space := putSpace(b, &e.cfg.Space)
	cfg := b.CreateByteString(e.canonicalConfigJSON())
	statefb.StateStart(b)
	statefb.StateAddConfigJson(b, cfg)
	statefb.StateAddSpace(b, space)
	statefb.StateAddMethod(b, method)
	statefb.StateAddEpochs(b, int32(e.cfg.Epochs))
	statefb.StateAddSeed(b, e.cfg.Seed)
	statefb.StateAddEpoch(b, int32(e.epoch))
	statefb.StateAddSteps(b, e.steps)
	statefb.StateAddEpochSteps(b, e.epSteps)
	statefb.StateAddAlpha(b, alpha)
	statefb.StateAddBeta(b, beta)
	statefb.StateAddAdamAlpha(b, adamA)
	statefb.StateAddAdamBeta(b, adamB)
	statefb.StateAddHistory(b, histOff)
	b.Finish(statefb.StateEnd(b))
	_, err := Load(stWrap(SchemaVersion, b.FinishedBytes()))
	if !errors.Is(err, ErrCorruptState) || !strings.Contains(err.Error(), "shared") {
		t.Fatalf("%v", err)
	}
}

func TestStateBodyBitFlipsWithValidCRC(t *testing.T) {
	// With the CRC recomputed, a changed body must either be refused or be a different valid state
	// whose canonical encoding is exactly these bytes (a changed α, say). Padding, offsets, vtables
	// and lengths have only one valid value, so some changes must be refused as non-canonical.
	body := stBody(t, stSmall(t))
	refused, nonCanonical, accepted := 0, 0, 0
	mod := make([]byte, len(body))
	for i := range body {
		for _, bit := range []int{0, 7} {
			copy(mod, body)
			mod[i] ^= 1 << bit
			data := stWrap(SchemaVersion, mod)
			e, err := Load(data)
			switch {
			case err == nil:
				if !bytes.Equal(e.Save(), data) {
					t.Fatalf("byte %d bit %d: loaded, but saves to other bytes", i, bit)
				}
				accepted++
			case errors.Is(err, ErrCorruptState):
				refused++
				if strings.Contains(err.Error(), "non-canonical") {
					nonCanonical++
				}
			default:
				t.Fatalf("byte %d bit %d: %v", i, bit, err)
			}
		}
	}
	t.Logf("%d refused (%d as non-canonical), %d accepted as other valid states", refused, nonCanonical, accepted)
	if nonCanonical == 0 || accepted == 0 {
		t.Fatal("expected both non-canonical refusals and valid variants")
	}
}

// TestLoadOfAStateFromAGPUBuild: a state whose config names the "cuda" device (as a build with the GPU
// path saves it) is refused with ErrDevice, not as corrupt: the state is sound, this build lacks the
// device.
func TestLoadOfAStateFromAGPUBuild(t *testing.T) {
	e := mustEngine(t, `{"epochs": 3}`)
	e.cfg.Device = DeviceCUDA
	_, err := Load(e.Save())
	if !errors.Is(err, ErrDevice) || !strings.Contains(err.Error(), "cuda") {
		t.Fatalf("Load of a cuda state: %v, want ErrDevice naming cuda", err)
	}
}

func TestStateSemanticErrors(t *testing.T) {
	base := func(cfg string) *Engine {
		e := mustEngine(t, cfg)
		g := stGrads{state: 11}
		stRun(t, e, &g, 1, 3, 2)
		return e
	}
	daas, darts := stConfigs[2].json, stConfigs[4].json // nb201: node 2 keeps all under daas too
	cases := []struct {
		name, cfg, want string
		mutate          func(e *Engine)
	}{
		{"alpha NaN", daas, "alpha[3]", func(e *Engine) { e.alpha[3] = math.NaN() }},
		{"beta Inf", daas, "beta[0]", func(e *Engine) { e.beta[0] = math.Inf(1) }},
		{"moment negative", daas, "adam_alpha.v[1] is -1, outside [0, 1e+200]", func(e *Engine) { e.adamA.V[1] = -1 }},
		{"constant beta", daas, "keeps every input", func(e *Engine) { e.beta[len(e.beta)-1] = 0.5 }},
		{"constant beta moment", daas, "keeps every input", func(e *Engine) { e.adamB.M[len(e.beta)-1] = 1e-3 }},
		{"darts beta", darts, "keeps every input", func(e *Engine) { e.beta[0] = 1.5 }},
		{"epoch 0", daas, "state.epoch", func(e *Engine) { e.epoch = 0 }},
		{"epoch past end", daas, "state.epoch", func(e *Engine) { e.epoch = 7 }},
		{"negative steps", daas, "steps", func(e *Engine) { e.steps = -1 }},
		{"epoch steps", daas, "steps", func(e *Engine) { e.epSteps = e.steps + 1 }},
		{"adam step", daas, "adam_alpha.step", func(e *Engine) { e.adamA.Step++ }},
		{"darts adam beta step", darts, "adam_beta.step", func(e *Engine) { e.adamB.Step = e.steps }},
		{"history epoch", daas, "history[0].epoch", func(e *Engine) { e.history[0].Epoch = 9 }},
		{"history repeats epoch", daas, "same epoch", func(e *Engine) { e.history[1].Epoch = 3 }},
		{"history steps", daas, "do not add up", func(e *Engine) { e.epSteps-- }},
		{"history metrics", daas, "do not belong", func(e *Engine) { e.history[0].Metrics.Step = 99 }},
		{"history coefficients", daas, "coefficients", func(e *Engine) { e.history[1].Metrics.LambdaC += 1e-9 }},
		{"history NaN metric", daas, "metrics holds", func(e *Engine) { e.history[0].Metrics.OpEntropy = math.NaN() }},
		{"genotype JSON", daas, "genotype_json", func(e *Engine) { e.history[0].Genotype = "{}" }},
		{"genotype not canonical", daas, "canonical", func(e *Engine) { e.history[0].Genotype = " " + e.history[0].Genotype }},
		{"genotype other space", daas, "genotype_json", func(e *Engine) {
			e.history[0].Genotype = string(mustEngine(t, stConfigs[0].json).Discretize().JSON())
		}},
		{"config invalid", daas, "config_json", func(e *Engine) { e.cfg.Epochs = 0 }},
		{"sizes", daas, "entries", func(e *Engine) { e.alpha = e.alpha[:len(e.alpha)-1] }},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			e := base(c.cfg)
			if _, err := Load(e.Save()); err != nil {
				t.Fatalf("unmodified: %v", err)
			}
			c.mutate(e)
			_, err := Load(e.Save())
			if !errors.Is(err, ErrCorruptState) || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("got %v, want a corrupt-state error mentioning %q", err, c.want)
			}
		})
	}
}

// The structured space is written from the config; changing it alone must be caught by the
// comparison with config_json.
func TestStateStructuredSpaceMustMatchConfig(t *testing.T) {
	body := stBody(t, stSmall(t))
	st := statefb.GetRootAsState(body, 0)
	var cell statefb.Cell
	st.Space(nil).Cells(&cell, 0)
	if !cell.MutateKeep(1, 1) { // nb201 keeps 1, 2, 3
		t.Fatal("cannot mutate keep[1]")
	}
	_, err := Load(stWrap(SchemaVersion, body))
	if !errors.Is(err, ErrCorruptState) || !strings.Contains(err.Error(), "state.space.cells[0].keep[1]") {
		t.Fatalf("%v", err)
	}
}

func TestStateErrorsNameWhatIsWrong(t *testing.T) {
	b := stSmall(t)
	c := append([]byte(nil), b...)
	copy(c[4:8], "NOPE")
	if _, err := Load(c); !errors.Is(err, ErrCorruptState) || !strings.Contains(err.Error(), "identifier") {
		t.Fatalf("%v", err)
	}
	c = append([]byte(nil), b...)
	binary.LittleEndian.PutUint32(c, uint32(len(c)+100))
	if _, err := Load(c); !errors.Is(err, ErrCorruptState) || !strings.Contains(err.Error(), "envelope") {
		t.Fatalf("%v", err)
	}
}

func stDartsState(b *testing.B) []byte {
	e := mustEngine(b, `{"space":"darts","epochs":50}`)
	g := stGrads{state: 1}
	stRun(b, e, &g, 1, 10, 20) // ten epochs, nine history records
	return e.Save()
}

func BenchmarkStateSave(b *testing.B) {
	data := stDartsState(b)
	e, err := Load(data)
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		_ = e.Save()
	}
}

func BenchmarkStateLoad(b *testing.B) {
	data := stDartsState(b)
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Load(data); err != nil {
			b.Fatal(err)
		}
	}
}

func TestStateNegativeZeroSurvives(t *testing.T) {
	// FlatBuffers builders drop a scalar equal to its default by value, which would turn -0.0 into
	// +0.0; Save compares bits instead.
	e := mustEngine(t, stConfigs[2].json)
	g := stGrads{state: 2}
	stRun(t, e, &g, 1, 2, 1)
	e.history[0].Metrics.DiscLoss = math.Copysign(0, -1)
	e.history[0].Metrics.EdgeEntropy = 0
	loaded, err := Load(e.Save())
	if err != nil {
		t.Fatal(err)
	}
	m := loaded.history[0].Metrics
	if math.Float64bits(m.DiscLoss) != 1<<63 || math.Float64bits(m.EdgeEntropy) != 0 {
		t.Fatalf("disc_loss %v (bits %x), edge_entropy %v", m.DiscLoss, math.Float64bits(m.DiscLoss), m.EdgeEntropy)
	}
}
