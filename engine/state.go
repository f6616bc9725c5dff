package engine

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"hash/crc32"
	"math"

	flatbuffers "github.com/google/flatbuffers/go"

	"github.com/daas-nas/daas/engine/internal/statefb"
)

// SchemaVersion is the version of schemas/daas.fbs this build writes and the only one it reads.
const SchemaVersion = 1

// stateIdentifier is the FlatBuffers file identifier of a state (bytes 4..8).
const stateIdentifier = "DAAS"

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// stateCRC is the CRC-32C of the 4 little-endian bytes of version followed by body.
func stateCRC(version uint32, body []byte) uint32 {
	var v [4]byte
	binary.LittleEndian.PutUint32(v[:], version)
	return crc32.Update(crc32.Update(0, castagnoli, v[:]), castagnoli, body)
}

// Save returns the engine's whole state as FlatBuffers bytes (docs/DESIGN.md, The state, schemas/daas.fbs): an
// Envelope with the schema version, a CRC-32C and the State as a nested FlatBuffer. The bytes depend
// on the state only: the same state gives the same bytes on every run and machine, and Load(b)
// followed by Save gives b back.
func (e *Engine) Save() []byte {
	body := e.saveBody()
	b := flatbuffers.NewBuilder(len(body) + 64)
	// Align the nested buffer to 8 bytes of the outer one, so its doubles are aligned absolutely.
	b.Prep(8, len(body))
	bodyOff := b.CreateByteVector(body)
	statefb.EnvelopeStart(b)
	statefb.EnvelopeAddBody(b, bodyOff)
	statefb.EnvelopeAddCrc32c(b, stateCRC(SchemaVersion, body))
	statefb.EnvelopeAddSchemaVersion(b, SchemaVersion)
	statefb.FinishEnvelopeBuffer(b, statefb.EnvelopeEnd(b))
	return b.FinishedBytes()
}

// canonicalConfigJSON is the config JSON a state holds: Config.JSON of the configuration with an
// absent discard list spelled as an empty one, as ParseConfig returns it, so that it re-parses to
// the same bytes.
func (e *Engine) canonicalConfigJSON() []byte {
	c := e.cfg
	if c.Space.Discard == nil {
		c.Space.Discard = []string{}
	}
	return c.JSON()
}

// Field slots (0-based, schema order) of schemas/daas.fbs, for the verifier and for doubles written
// bit for bit (see putF64).
const (
	slotCellName, slotCellInputs, slotCellNodes, slotCellKeep = 0, 1, 2, 3
	slotSpaceOps, slotSpaceDiscard, slotSpaceCells            = 0, 1, 2
	slotAdamStep, slotAdamM, slotAdamV                        = 0, 1, 2
	slotMetricsMethod, slotMetricsEpoch, slotMetricsStep      = 0, 1, 2
	slotMetricsFirstDouble, metricsDoubles                    = 3, 13 // lambda_c .. edge_boost
	slotRecEpoch, slotRecSteps, slotRecMetrics, slotRecGeno   = 0, 1, 2, 3
	slotStConfig, slotStSpace, slotStMethod, slotStEpochs     = 0, 1, 2, 3
	slotStSeed, slotStEpoch, slotStSteps, slotStEpochSteps    = 4, 5, 6, 7
	slotStAlpha, slotStBeta, slotStAdamA, slotStAdamB         = 8, 9, 10, 11
	slotStHistory, slotStControlOp, slotStControlEdge         = 12, 13, 14
	slotEnvVersion, slotEnvCRC, slotEnvBody                   = 0, 1, 2
)

// putF64 writes a double field unless its bits are those of +0.0 (the default). The generated
// Add functions compare by value and would drop -0.0, which then reads back as +0.0.
func putF64(b *flatbuffers.Builder, slot int, x float64) {
	if math.Float64bits(x) != 0 {
		b.PrependFloat64(x)
		b.Slot(slot)
	}
}

func putF64s(b *flatbuffers.Builder, xs []float64) flatbuffers.UOffsetT {
	b.StartVector(8, len(xs), 8)
	for i := len(xs) - 1; i >= 0; i-- {
		b.PrependFloat64(xs[i])
	}
	return b.EndVector(len(xs))
}

func putOffsets(b *flatbuffers.Builder, offs []flatbuffers.UOffsetT) flatbuffers.UOffsetT {
	b.StartVector(4, len(offs), 4)
	for i := len(offs) - 1; i >= 0; i-- {
		b.PrependUOffsetT(offs[i])
	}
	return b.EndVector(len(offs))
}

func putStrings(b *flatbuffers.Builder, ss []string) flatbuffers.UOffsetT {
	offs := make([]flatbuffers.UOffsetT, len(ss))
	for i, s := range ss {
		offs[i] = b.CreateString(s)
	}
	return putOffsets(b, offs)
}

func (e *Engine) saveBody() []byte {
	cfgJSON := e.canonicalConfigJSON()
	// Room for everything, so that the builder never grows (tables and vtables are small).
	hint := 1024 + len(cfgJSON) + 8*3*(len(e.alpha)+len(e.beta))
	for _, op := range e.cfg.Space.Ops {
		hint += 16 + len(op)
	}
	for _, c := range e.cfg.Space.Cells {
		hint += 64 + len(c.Name) + 4*len(c.Keep)
	}
	for _, r := range e.history {
		hint += 256 + len(r.Genotype)
	}
	b := flatbuffers.NewBuilder(hint)

	hist := make([]flatbuffers.UOffsetT, len(e.history))
	for i, r := range e.history {
		hist[i] = putRecord(b, r)
	}
	histOff := putOffsets(b, hist)
	adamB := putAdam(b, &e.adamB)
	adamA := putAdam(b, &e.adamA)
	beta := putF64s(b, e.beta)
	alpha := putF64s(b, e.alpha)
	method := b.CreateString(string(e.cfg.Method))
	space := putSpace(b, &e.cfg.Space)
	cfg := b.CreateByteString(cfgJSON)

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
	if e.cfg.Control != nil {
		putF64(b, slotStControlOp, e.boost.op)
		putF64(b, slotStControlEdge, e.boost.edge)
	}
	b.Finish(statefb.StateEnd(b))
	return b.FinishedBytes()
}

func putSpace(b *flatbuffers.Builder, s *Space) flatbuffers.UOffsetT {
	cells := make([]flatbuffers.UOffsetT, len(s.Cells))
	for i, c := range s.Cells {
		keep := make([]int32, len(c.Keep))
		for j, k := range c.Keep {
			keep[j] = int32(k)
		}
		statefb.CellStartKeepVector(b, len(keep))
		for j := len(keep) - 1; j >= 0; j-- {
			b.PrependInt32(keep[j])
		}
		keepOff := b.EndVector(len(keep))
		name := b.CreateString(c.Name)
		statefb.CellStart(b)
		statefb.CellAddName(b, name)
		statefb.CellAddInputs(b, int32(c.Inputs))
		statefb.CellAddNodes(b, int32(c.Nodes))
		statefb.CellAddKeep(b, keepOff)
		cells[i] = statefb.CellEnd(b)
	}
	cellsOff := putOffsets(b, cells)
	discard := putStrings(b, s.Discard)
	ops := putStrings(b, s.Ops)
	statefb.SpaceStart(b)
	statefb.SpaceAddOps(b, ops)
	statefb.SpaceAddDiscard(b, discard)
	statefb.SpaceAddCells(b, cellsOff)
	return statefb.SpaceEnd(b)
}

func putAdam(b *flatbuffers.Builder, s *adamState) flatbuffers.UOffsetT {
	v := putF64s(b, s.V)
	m := putF64s(b, s.M)
	statefb.AdamStateStart(b)
	statefb.AdamStateAddStep(b, s.Step)
	statefb.AdamStateAddM(b, m)
	statefb.AdamStateAddV(b, v)
	return statefb.AdamStateEnd(b)
}

// metricsDoublesOf lists the double fields of m in schema order (lambda_c .. edge_boost).
func metricsDoublesOf(m *Metrics) [metricsDoubles]*float64 {
	return [metricsDoubles]*float64{&m.LambdaC, &m.LambdaAlpha, &m.LambdaBeta, &m.OpEntropy, &m.EdgeEntropy,
		&m.EdgeCountPenalty, &m.DiscLoss, &m.Discreteness, &m.WeakestEdge, &m.WeakestKeptEdge, &m.KeptMass,
		&m.OpBoost, &m.EdgeBoost}
}

func putRecord(b *flatbuffers.Builder, r EpochRecord) flatbuffers.UOffsetT {
	geno := b.CreateString(r.Genotype)
	metrics := putMetrics(b, &r.Metrics)
	statefb.EpochRecordStart(b)
	statefb.EpochRecordAddEpoch(b, int32(r.Epoch))
	statefb.EpochRecordAddSteps(b, r.Steps)
	statefb.EpochRecordAddMetrics(b, metrics)
	statefb.EpochRecordAddGenotypeJson(b, geno)
	return statefb.EpochRecordEnd(b)
}

// putMetrics writes a Metrics table (also the root of Metrics.FlatBuffer's buffer).
func putMetrics(b *flatbuffers.Builder, m *Metrics) flatbuffers.UOffsetT {
	method := b.CreateString(string(m.Method))
	statefb.MetricsStart(b)
	statefb.MetricsAddMethod(b, method)
	statefb.MetricsAddEpoch(b, int32(m.Epoch))
	statefb.MetricsAddStep(b, m.Step)
	for i, p := range metricsDoublesOf(m) {
		putF64(b, slotMetricsFirstDouble+i, *p)
	}
	return statefb.MetricsEnd(b)
}

// Load restores an engine from bytes written by Save. The bytes are untrusted: Load checks, in this
// order, the size and file identifier, the envelope's structure, the CRC-32C (ErrCorruptState), the
// schema version (ErrVersionMismatch for any version but SchemaVersion), the body's structure (every
// offset, vtable, vector and string in bounds and aligned, before anything is read or allocated), the
// meaning of every value (the configuration parses, names a device this build has (else ErrDevice)
// and matches the structured space, lengths match the space, counters and epochs are in range, every
// number is finite and within the bounds Step keeps (|α|, |β| ≤ 1e12, |m| ≤ 1e100, 0 ≤ v ≤ 1e200),
// constant β entries are 1.0, the history is consistent), and finally that the bytes are exactly what
// Save writes for the loaded state. Anything else is refused with an error naming what is wrong; Load
// never panics and keeps no reference to data.
func Load(data []byte) (*Engine, error) {
	if len(data) < 16 {
		return nil, Errorf(ErrCorruptState, "state of %d bytes is too short to be a daas state", len(data))
	}
	if string(data[4:8]) != stateIdentifier {
		return nil, Errorf(ErrCorruptState, "file identifier %q, want %q: not a daas state", data[4:8], stateIdentifier)
	}
	v := newFBVerifier(data)
	env, err := v.root("envelope")
	if err != nil {
		return nil, err
	}
	version, err := env.uint32(slotEnvVersion, "schema_version")
	if err != nil {
		return nil, err
	}
	crc, err := env.uint32(slotEnvCRC, "crc32c")
	if err != nil {
		return nil, err
	}
	bodyVec, err := env.vector(slotEnvBody, 1, "body", true)
	if err != nil {
		return nil, err
	}
	body := data[bodyVec.start : bodyVec.start+bodyVec.n]
	if got := stateCRC(version, body); got != crc {
		return nil, Errorf(ErrCorruptState, "CRC-32C mismatch: the state records %08x, its contents give %08x", crc, got)
	}
	if version != SchemaVersion {
		return nil, Errorf(ErrVersionMismatch, "the state has schema version %d; this build reads version %d only", version, SchemaVersion)
	}
	bv, err := v.nested(bodyVec, "envelope.body")
	if err != nil {
		return nil, err
	}
	if err := verifyState(bv); err != nil {
		return nil, err
	}
	e, err := decodeState(statefb.GetRootAsState(body, 0))
	if err != nil {
		return nil, err
	}
	if again := e.Save(); !bytes.Equal(again, data) {
		at := 0
		for at < len(again) && at < len(data) && again[at] == data[at] {
			at++
		}
		return nil, Errorf(ErrCorruptState, "non-canonical encoding: the bytes differ from what this state saves to at offset %d (%d bytes, canonical %d)", at, len(data), len(again))
	}
	return e, nil
}

// verifyState checks the structure of a State buffer against schemas/daas.fbs.
func verifyState(v *fbVerifier) error {
	st, err := v.root("state")
	if err != nil {
		return err
	}
	if _, err := st.str(slotStConfig, "config_json", true); err != nil {
		return err
	}
	space, _, err := st.table(slotStSpace, "space", true)
	if err != nil {
		return err
	}
	if err := verifySpace(space); err != nil {
		return err
	}
	if _, err := st.str(slotStMethod, "method", true); err != nil {
		return err
	}
	for _, f := range []struct {
		slot, size int
		name       string
	}{{slotStEpochs, 4, "epochs"}, {slotStSeed, 8, "seed"}, {slotStEpoch, 4, "epoch"}, {slotStSteps, 8, "steps"},
		{slotStEpochSteps, 8, "epoch_steps"}, {slotStControlOp, 8, "control_op_boost"}, {slotStControlEdge, 8, "control_edge_boost"}} {
		if _, err := st.scalar(f.slot, f.size, f.name); err != nil {
			return err
		}
	}
	if _, err := st.vector(slotStAlpha, 8, "alpha", true); err != nil {
		return err
	}
	if _, err := st.vector(slotStBeta, 8, "beta", true); err != nil {
		return err
	}
	for _, f := range []struct {
		slot int
		name string
	}{{slotStAdamA, "adam_alpha"}, {slotStAdamB, "adam_beta"}} {
		a, _, err := st.table(f.slot, f.name, true)
		if err != nil {
			return err
		}
		if _, err := a.int64(slotAdamStep, "step"); err != nil {
			return err
		}
		if _, err := a.vector(slotAdamM, 8, "m", true); err != nil {
			return err
		}
		if _, err := a.vector(slotAdamV, 8, "v", true); err != nil {
			return err
		}
	}
	hist, err := st.vector(slotStHistory, 4, "history", true)
	if err != nil {
		return err
	}
	for i := 0; i < hist.n; i++ {
		r, err := v.tableAt(hist, i, "state.history[i]")
		if err != nil {
			return err
		}
		if err := verifyRecord(r); err != nil {
			return err
		}
	}
	return nil
}

func verifySpace(s fbTable) error {
	for _, f := range []struct {
		slot       int
		name, elem string
	}{{slotSpaceOps, "ops", "state.space.ops[i]"}, {slotSpaceDiscard, "discard", "state.space.discard[i]"}} {
		vec, err := s.vector(f.slot, 4, f.name, true)
		if err != nil {
			return err
		}
		for i := 0; i < vec.n; i++ {
			if _, err := s.v.stringIn(vec, i, f.elem); err != nil {
				return err
			}
		}
	}
	cells, err := s.vector(slotSpaceCells, 4, "cells", true)
	if err != nil {
		return err
	}
	for i := 0; i < cells.n; i++ {
		c, err := s.v.tableAt(cells, i, "state.space.cells[i]")
		if err != nil {
			return err
		}
		if _, err := c.str(slotCellName, "name", true); err != nil {
			return err
		}
		if _, err := c.int32(slotCellInputs, "inputs"); err != nil {
			return err
		}
		if _, err := c.int32(slotCellNodes, "nodes"); err != nil {
			return err
		}
		if _, err := c.vector(slotCellKeep, 4, "keep", true); err != nil {
			return err
		}
	}
	return nil
}

func verifyRecord(r fbTable) error {
	if _, err := r.int32(slotRecEpoch, "epoch"); err != nil {
		return err
	}
	if _, err := r.int64(slotRecSteps, "steps"); err != nil {
		return err
	}
	m, _, err := r.table(slotRecMetrics, "metrics", true)
	if err != nil {
		return err
	}
	if err := verifyMetrics(m); err != nil {
		return err
	}
	_, err = r.str(slotRecGeno, "genotype_json", true)
	return err
}

// verifyMetrics checks the structure of a Metrics table.
func verifyMetrics(m fbTable) error {
	if _, err := m.str(slotMetricsMethod, "method", true); err != nil {
		return err
	}
	if _, err := m.int32(slotMetricsEpoch, "epoch"); err != nil {
		return err
	}
	if _, err := m.int64(slotMetricsStep, "step"); err != nil {
		return err
	}
	for i := 0; i < metricsDoubles; i++ {
		if _, err := m.scalar(slotMetricsFirstDouble+i, 8, "metrics"); err != nil {
			return err
		}
	}
	return nil
}

func corrupt(format string, args ...any) error { return Errorf(ErrCorruptState, format, args...) }

// decodeState checks the meaning of a structurally verified State and builds the engine.
func decodeState(st *statefb.State) (*Engine, error) {
	cfgJSON := st.ConfigJson()
	cfg, err := ParseConfig(cfgJSON)
	if errors.Is(err, ErrDevice) { // a sound state from a build with a device this one lacks
		return nil, Errorf(ErrDevice, "the state was saved on a device this build does not have: %v", err)
	}
	if err != nil {
		return nil, corrupt("state.config_json does not parse: %v", err)
	}
	if !bytes.Equal(cfg.JSON(), cfgJSON) {
		return nil, corrupt("state.config_json is not in canonical form")
	}
	if err := checkSpace(st.Space(nil), &cfg.Space); err != nil {
		return nil, err
	}
	if m := string(st.Method()); m != string(cfg.Method) {
		return nil, corrupt("state.method is %q but the config's method is %q", m, cfg.Method)
	}
	if int(st.Epochs()) != cfg.Epochs {
		return nil, corrupt("state.epochs is %d but the config has %d epochs", st.Epochs(), cfg.Epochs)
	}
	if st.Seed() != cfg.Seed {
		return nil, corrupt("state.seed is %d but the config's seed is %d", st.Seed(), cfg.Seed)
	}
	// Sizes from the space, checked against the vectors (which lie inside the buffer) before any
	// engine memory is allocated.
	nA, nE := 0, 0
	for _, c := range cfg.Space.Cells {
		nE += c.Edges()
	}
	nA = nE * len(cfg.Space.Ops)
	adamA, adamB := st.AdamAlpha(nil), st.AdamBeta(nil)
	for _, l := range []struct {
		name      string
		got, want int
	}{
		{"alpha", st.AlphaLength(), nA}, {"beta", st.BetaLength(), nE},
		{"adam_alpha.m", adamA.MLength(), nA}, {"adam_alpha.v", adamA.VLength(), nA},
		{"adam_beta.m", adamB.MLength(), nE}, {"adam_beta.v", adamB.VLength(), nE},
	} {
		if l.got != l.want {
			return nil, corrupt("state.%s has %d entries, the space needs %d", l.name, l.got, l.want)
		}
	}
	epoch, steps, epSteps := int(st.Epoch()), st.Steps(), st.EpochSteps()
	if epoch < 1 || epoch > cfg.Epochs {
		return nil, corrupt("state.epoch %d is out of range 1..%d", epoch, cfg.Epochs)
	}
	if steps < 0 || epSteps < 0 || epSteps > steps {
		return nil, corrupt("state.steps %d and state.epoch_steps %d are inconsistent", steps, epSteps)
	}
	if adamA.Step() != steps {
		return nil, corrupt("state.adam_alpha.step is %d, want the step count %d", adamA.Step(), steps)
	}
	wantB := steps
	if cfg.Method == MethodDARTS {
		wantB = 0 // β is constant under DARTS; its optimizer never steps
	}
	if adamB.Step() != wantB {
		return nil, corrupt("state.adam_beta.step is %d, want %d", adamB.Step(), wantB)
	}

	e := newEmpty(cfg)
	e.epoch, e.steps, e.epSteps = epoch, steps, epSteps
	e.adamA.Step, e.adamB.Step = adamA.Step(), adamB.Step()
	for i := range e.alpha {
		e.alpha[i], e.adamA.M[i], e.adamA.V[i] = st.Alpha(i), adamA.M(i), adamA.V(i)
	}
	for i := range e.beta {
		e.beta[i], e.adamB.M[i], e.adamB.V[i] = st.Beta(i), adamB.M(i), adamB.V(i)
	}
	if err := e.checkRanges("state."); err != nil {
		return nil, corrupt("%v", err)
	}
	for _, nd := range e.lay.nodes {
		if nd.learnable() && cfg.Method == MethodDAAS {
			continue
		}
		for i := nd.edge; i < nd.edge+nd.n; i++ {
			if e.beta[i] != 1 || e.adamB.M[i] != 0 || e.adamB.V[i] != 0 {
				return nil, corrupt("state.beta[%d] belongs to a node that keeps every input: want 1.0 with zero moments, got %v (m %v, v %v)",
					i, e.beta[i], e.adamB.M[i], e.adamB.V[i])
			}
		}
	}
	if e.history, err = decodeHistory(st, &cfg, epoch, steps, epSteps); err != nil {
		return nil, err
	}
	if c := cfg.Control; c != nil {
		e.boost = boosts{st.ControlOpBoost(), st.ControlEdgeBoost()}
		for _, b := range []struct {
			name string
			v    float64
		}{{"control_op_boost", e.boost.op}, {"control_edge_boost", e.boost.edge}} {
			if !(b.v >= 1 && b.v <= c.MaxBoost) {
				return nil, corrupt("state.%s is %v, outside [1, %v] (control.max_boost)", b.name, b.v, c.MaxBoost)
			}
		}
	}
	return e, nil
}

// checkSpace compares the structured space of a state with the configuration's.
func checkSpace(s *statefb.Space, want *Space) error {
	lists := []struct {
		name string
		n    int
		at   func(int) []byte
		want []string
	}{{"ops", s.OpsLength(), s.Ops, want.Ops}, {"discard", s.DiscardLength(), s.Discard, want.Discard}}
	for _, l := range lists {
		if l.n != len(l.want) {
			return corrupt("state.space.%s has %d entries, the config %d", l.name, l.n, len(l.want))
		}
		for i := range l.want {
			if string(l.at(i)) != l.want[i] {
				return corrupt("state.space.%s[%d] is %q, the config's is %q", l.name, i, l.at(i), l.want[i])
			}
		}
	}
	if s.CellsLength() != len(want.Cells) {
		return corrupt("state.space.cells has %d entries, the config %d", s.CellsLength(), len(want.Cells))
	}
	var c statefb.Cell
	for i, wc := range want.Cells {
		s.Cells(&c, i)
		if string(c.Name()) != wc.Name || int(c.Inputs()) != wc.Inputs || int(c.Nodes()) != wc.Nodes || c.KeepLength() != len(wc.Keep) {
			return corrupt("state.space.cells[%d] differs from the config's cell %q", i, wc.Name)
		}
		for j, k := range wc.Keep {
			if int(c.Keep(j)) != k {
				return corrupt("state.space.cells[%d].keep[%d] is %d, the config's is %d", i, j, c.Keep(j), k)
			}
		}
	}
	return nil
}

// decodeHistory checks and copies the history: epochs in range and different from their neighbours
// (SetEpoch records only when the epoch changes), step counts adding up to the total, metrics that
// belong to their record with the coefficients of its epoch, and genotypes in canonical JSON.
func decodeHistory(st *statefb.State, cfg *Config, epoch int, steps, epSteps int64) ([]EpochRecord, error) {
	n := st.HistoryLength()
	if n == 0 {
		if epSteps != steps {
			return nil, corrupt("state.epoch_steps %d differs from state.steps %d with no history", epSteps, steps)
		}
		return nil, nil
	}
	out := make([]EpochRecord, n)
	var rec statefb.EpochRecord
	var fm statefb.Metrics
	cum := int64(0)
	for i := range out {
		st.History(&rec, i)
		r := &out[i]
		r.Epoch, r.Steps = int(rec.Epoch()), rec.Steps()
		if r.Epoch < 1 || r.Epoch > cfg.Epochs {
			return nil, corrupt("state.history[%d].epoch %d is out of range 1..%d", i, r.Epoch, cfg.Epochs)
		}
		next := epoch
		if i+1 < n {
			st.History(&rec, i+1)
			next = int(rec.Epoch())
			st.History(&rec, i)
		}
		if next == r.Epoch {
			return nil, corrupt("state.history[%d].epoch %d is followed by the same epoch", i, r.Epoch)
		}
		if r.Steps < 0 || r.Steps > steps-cum {
			return nil, corrupt("state.history[%d].steps %d does not fit the total of %d steps", i, r.Steps, steps)
		}
		cum += r.Steps
		r.Metrics = metricsOf(rec.Metrics(&fm))
		if r.Metrics.Method != cfg.Method || r.Metrics.Epoch != r.Epoch || r.Metrics.Step != cum {
			return nil, corrupt("state.history[%d].metrics (method %q, epoch %d, step %d) do not belong to the record (epoch %d, step %d)",
				i, r.Metrics.Method, r.Metrics.Epoch, r.Metrics.Step, r.Epoch, cum)
		}
		for _, p := range metricsDoublesOf(&r.Metrics) {
			if *p-*p != 0 {
				return nil, corrupt("state.history[%d].metrics holds %v", i, *p)
			}
		}
		coef := cfg.CoefficientsAt(r.Epoch)
		if math.Float64bits(coef.LambdaC) != math.Float64bits(r.Metrics.LambdaC) ||
			math.Float64bits(coef.LambdaAlpha) != math.Float64bits(r.Metrics.LambdaAlpha) ||
			math.Float64bits(coef.LambdaBeta) != math.Float64bits(r.Metrics.LambdaBeta) {
			return nil, corrupt("state.history[%d].metrics: coefficients differ from the schedule's at epoch %d", i, r.Epoch)
		}
		geno := rec.GenotypeJson()
		if i == 0 || string(geno) != out[i-1].Genotype { // the genotype often stays the same
			if err := checkGenotypeJSON(geno, cfg); err != nil {
				return nil, corrupt("state.history[%d].genotype_json: %v", i, err)
			}
		}
		r.Genotype = string(geno)
	}
	if cum+epSteps != steps {
		return nil, corrupt("the history's %d steps and state.epoch_steps %d do not add up to state.steps %d", cum, epSteps, steps)
	}
	return out, nil
}

// metricsOf copies a structurally verified Metrics table.
func metricsOf(m *statefb.Metrics) Metrics {
	return Metrics{Method: Method(m.Method()), Epoch: int(m.Epoch()), Step: m.Step(),
		LambdaC: m.LambdaC(), LambdaAlpha: m.LambdaAlpha(), LambdaBeta: m.LambdaBeta(),
		OpEntropy: m.OpEntropy(), EdgeEntropy: m.EdgeEntropy(), EdgeCountPenalty: m.EdgeCountPenalty(),
		DiscLoss: m.DiscLoss(), Discreteness: m.Discreteness(), WeakestEdge: m.WeakestEdge(),
		WeakestKeptEdge: m.WeakestKeptEdge(), KeptMass: m.KeptMass(), OpBoost: m.OpBoost(), EdgeBoost: m.EdgeBoost()}
}

// checkGenotypeJSON accepts the canonical JSON of a genotype of the configuration's space.
func checkGenotypeJSON(data []byte, cfg *Config) error {
	var g Genotype
	if err := json.Unmarshal(data, &g); err != nil {
		return err
	}
	if !bytes.Equal(g.JSON(), data) {
		return fmt.Errorf("not in canonical form")
	}
	if g.Method != cfg.Method || len(g.Cells) != len(cfg.Space.Cells) {
		return fmt.Errorf("method %q with %d cells does not match the config", g.Method, len(g.Cells))
	}
	for i, c := range g.Cells {
		want := cfg.Space.Cells[i]
		if c.Name != want.Name || len(c.Nodes) != want.Nodes {
			return fmt.Errorf("cell %d (%q, %d nodes) does not match the config", i, c.Name, len(c.Nodes))
		}
		for j, kept := range c.Nodes {
			if len(kept) != want.Keep[j] {
				return fmt.Errorf("cell %q node %d keeps %d inputs, want %d", c.Name, j, len(kept), want.Keep[j])
			}
		}
	}
	return nil
}
