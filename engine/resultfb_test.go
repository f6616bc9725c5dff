package engine

import (
	"bytes"
	"errors"
	"math"
	"testing"
)

// resultEngines are engines of every configuration of the state tests after a few steps, so that
// their genotypes carry weights other than 1 and their metrics non-trivial values.
func resultEngines(t testing.TB) []*Engine {
	var out []*Engine
	for i, c := range stConfigs {
		e := mustEngine(t, c.json)
		g := stGrads{state: uint64(100 + i)}
		stRun(t, e, &g, 1, 3, 3)
		out = append(out, e)
	}
	return out
}

// The buffers hold the values of the JSON: read back, they give the JSON byte for byte.
func TestResultFlatBuffersHoldTheJSON(t *testing.T) {
	for i, e := range resultEngines(t) {
		name := stConfigs[i].name
		g := e.Discretize()
		fb := g.FlatBuffer()
		if string(fb[4:8]) != GenotypeIdentifier {
			t.Errorf("%s: genotype identifier %q", name, fb[4:8])
		}
		if !bytes.Equal(fb, g.FlatBuffer()) {
			t.Errorf("%s: the same genotype gives different bytes", name)
		}
		back, err := ParseGenotypeFlatBuffer(fb)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if got, want := back.JSON(), g.JSON(); !bytes.Equal(got, want) {
			t.Errorf("%s: genotype from the buffer\n%s\nwant\n%s", name, got, want)
		}

		m := e.Metrics()
		mb := m.FlatBuffer()
		if string(mb[4:8]) != MetricsIdentifier {
			t.Errorf("%s: metrics identifier %q", name, mb[4:8])
		}
		mback, err := ParseMetricsFlatBuffer(mb)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if mback != m {
			t.Errorf("%s: metrics from the buffer %+v, want %+v", name, mback, m)
		}
	}
}

// Darts and nb201 are absent (not empty strings) where the space has no such layout; an empty
// discard list is an empty vector.
func TestResultFlatBufferOptionalStrings(t *testing.T) {
	for _, c := range []struct {
		config       string
		darts, nb201 bool
	}{
		{`{"space": "darts"}`, true, false},
		{`{"space": "nb201"}`, false, true},
		{`{"space": {"ops": ["a", "b"], "cells": [{"name": "x", "inputs": 1, "nodes": 2, "keep": 1}]}}`, false, false},
	} {
		g := mustEngine(t, c.config).Discretize()
		back, err := ParseGenotypeFlatBuffer(g.FlatBuffer())
		if err != nil {
			t.Fatal(err)
		}
		if (back.Darts != "") != c.darts || (back.NB201 != "") != c.nb201 {
			t.Errorf("%s: darts %q, nb201 %q", c.config, back.Darts, back.NB201)
		}
		if back.Discard == nil || len(back.Discard) != len(g.Discard) {
			t.Errorf("%s: discard %v, want %v", c.config, back.Discard, g.Discard)
		}
	}
}

// Negative zero and other bit patterns of doubles survive.
func TestResultFlatBufferDoublesBitForBit(t *testing.T) {
	m := Metrics{Method: MethodDAAS, Epoch: 3, Step: -1, LambdaC: math.Copysign(0, -1), KeptMass: math.SmallestNonzeroFloat64,
		OpBoost: math.MaxFloat64}
	back, err := ParseMetricsFlatBuffer(m.FlatBuffer())
	if err != nil {
		t.Fatal(err)
	}
	if math.Float64bits(back.LambdaC) != math.Float64bits(m.LambdaC) || back != m {
		t.Errorf("metrics %+v, want %+v", back, m)
	}
	g := Genotype{Method: MethodDAAS, Cells: []CellGenotype{{Name: "c", Nodes: [][]Choice{{{Input: 0, Op: "x", Weight: math.Copysign(0, -1)}}}}}}
	gb, err := ParseGenotypeFlatBuffer(g.FlatBuffer())
	if err != nil {
		t.Fatal(err)
	}
	if w := gb.Cells[0].Nodes[0][0].Weight; !math.Signbit(w) || w != 0 {
		t.Errorf("weight %v, want -0", w)
	}
}

// Damaged buffers are refused with ErrCorruptState or read, never a panic; the other kind of
// result buffer, a state and short buffers are refused.
func TestResultFlatBuffersRefuseDamage(t *testing.T) {
	e := resultEngines(t)[5] // the custom space: keep [1,3,2,4], discard
	gb, mb := e.Discretize().FlatBuffer(), e.Metrics().FlatBuffer()
	for _, bad := range [][]byte{nil, gb[:8], mb, e.Save()} {
		if _, err := ParseGenotypeFlatBuffer(bad); !errors.Is(err, ErrCorruptState) {
			t.Errorf("genotype of %d bytes: %v", len(bad), err)
		}
	}
	for _, bad := range [][]byte{nil, mb[:11], gb} {
		if _, err := ParseMetricsFlatBuffer(bad); !errors.Is(err, ErrCorruptState) {
			t.Errorf("metrics of %d bytes: %v", len(bad), err)
		}
	}
	parse := []func([]byte) error{
		func(b []byte) error { _, err := ParseGenotypeFlatBuffer(b); return err },
		func(b []byte) error { _, err := ParseMetricsFlatBuffer(b); return err },
	}
	rng := uint64(9)
	next := func(n int) int {
		rng = rng*6364136223846793005 + 1442695040888963407
		return int((rng >> 33) % uint64(n))
	}
	for k := 0; k < 4000; k++ {
		for i, src := range [][]byte{gb, mb} {
			b := append([]byte(nil), src...)
			switch k % 3 {
			case 0: // a flipped byte
				b[next(len(b))] ^= byte(1 + k%255)
			case 1: // truncated
				b = b[:next(len(b))]
			default: // a word that points far away
				at := 8 + 4*next((len(b)-8)/4)
				b[at], b[at+1], b[at+2], b[at+3] = 0xff, 0xff, 0xff, 0x7f
			}
			if err := parse[i](b); err != nil && !errors.Is(err, ErrCorruptState) {
				t.Fatalf("damaged buffer: %v", err)
			}
		}
	}
}

func FuzzParseResultFlatBuffers(f *testing.F) {
	e := mustEngine(f, stConfigs[5].json)
	f.Add(e.Discretize().FlatBuffer())
	f.Add(e.Metrics().FlatBuffer())
	f.Fuzz(func(t *testing.T, data []byte) {
		if g, err := ParseGenotypeFlatBuffer(data); err != nil {
			if !errors.Is(err, ErrCorruptState) {
				t.Fatal(err)
			}
		} else if again, err := ParseGenotypeFlatBuffer(g.FlatBuffer()); err != nil || !bytes.Equal(again.JSON(), g.JSON()) {
			t.Fatalf("an accepted genotype does not round-trip: %v", err)
		}
		if m, err := ParseMetricsFlatBuffer(data); err != nil {
			if !errors.Is(err, ErrCorruptState) {
				t.Fatal(err)
			}
		} else if again, err := ParseMetricsFlatBuffer(m.FlatBuffer()); err != nil || !(again == m || metricsHaveNaN(m)) {
			t.Fatalf("accepted metrics do not round-trip: %v", err)
		}
	})
}

func metricsHaveNaN(m Metrics) bool {
	for _, p := range metricsDoublesOf(&m) {
		if *p != *p {
			return true
		}
	}
	return false
}
