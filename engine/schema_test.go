package engine

import (
	"bufio"
	"crypto/sha256"
	"encoding/hex"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
)

// The generated FlatBuffers code (engine/internal/statefb, bindings/python/daas/_statefb,
// include/daas/daas_generated.h) is committed. schemas/generate.sh records the sha256 of
// schemas/daas.fbs and of every file it generates in schemas/daas.fbs.sha256.
//
// tests/crosslang regenerates the code with flatc and checks that the C++ and Python readers read the
// engine's states (`make crosstest`); the tests here need nothing but Go.
//
// If a test here fails, the generated code is stale or was edited by hand: run `make schemas`
// (bash schemas/generate.sh with the flatc of go.mod's flatbuffers version; `make schemas` builds
// flatc first if needed) and commit schemas/ and the generated files together.

const repoRoot = ".."

// generatedDirs are the folders generate.sh fills; every file in them must be listed in the sums.
var generatedDirs = []string{"engine/internal/statefb", "bindings/python/daas/_statefb"}

func readSums(t *testing.T, path string) map[string]string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatalf("%v (run `make schemas`)", err)
	}
	defer f.Close()
	sums := map[string]string{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		sum, name, ok := strings.Cut(sc.Text(), "  ")
		if !ok || len(sum) != 64 {
			t.Fatalf("%s: malformed line %q (run `make schemas`)", path, sc.Text())
		}
		sums[name] = sum
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return sums
}

func TestSchemaGeneratedCodeIsFresh(t *testing.T) {
	sums := readSums(t, filepath.Join(repoRoot, "schemas/daas.fbs.sha256"))
	for _, must := range []string{"schemas/daas.fbs", "engine/internal/statefb/State.go",
		"bindings/python/daas/_statefb/daas_generated.py", "include/daas/daas_generated.h"} {
		if _, ok := sums[must]; !ok {
			t.Errorf("schemas/daas.fbs.sha256 does not list %s (run `make schemas`)", must)
		}
	}
	for name, want := range sums {
		data, err := os.ReadFile(filepath.Join(repoRoot, name))
		if err != nil {
			t.Errorf("%v (run `make schemas`)", err)
			continue
		}
		got := sha256.Sum256(data)
		if hex.EncodeToString(got[:]) != want {
			if name == "schemas/daas.fbs" {
				t.Errorf("schemas/daas.fbs changed since the code was generated: run `make schemas`")
			} else {
				t.Errorf("%s differs from what generate.sh wrote: run `make schemas`, never edit generated code", name)
			}
		}
	}
	for _, dir := range generatedDirs {
		entries, err := os.ReadDir(filepath.Join(repoRoot, dir))
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range entries {
			name := dir + "/" + e.Name()
			if _, listed := sums[name]; !listed && !e.IsDir() && !strings.HasSuffix(name, ".pyc") {
				t.Errorf("%s is not generated from schemas/daas.fbs (a stale file?): run `make schemas`", name)
			}
		}
	}
}

// TestSchemaCoversMetrics fails when engine.Metrics gains or loses a field: the Metrics table of
// schemas/daas.fbs (and putRecord/decodeHistory in state.go) must follow, with a new schema version
// if old states can no longer be read.
func TestSchemaCoversMetrics(t *testing.T) {
	want := []string{"Method", "Epoch", "Step", "LambdaC", "LambdaAlpha", "LambdaBeta", "OpEntropy",
		"EdgeEntropy", "EdgeCountPenalty", "DiscLoss", "Discreteness", "WeakestEdge", "WeakestKeptEdge", "KeptMass",
		"OpBoost", "EdgeBoost"}
	var got []string
	mt := reflect.TypeOf(Metrics{})
	for i := 0; i < mt.NumField(); i++ {
		got = append(got, mt.Field(i).Name)
	}
	if !slices.Equal(got, want) {
		t.Fatalf("engine.Metrics fields %v; the state schema stores %v: update schemas/daas.fbs and state.go", got, want)
	}
	var m Metrics
	if p := metricsDoublesOf(&m); len(p) != mt.NumField()-3 {
		t.Fatalf("metricsDoublesOf lists %d doubles", len(p))
	}
}

// TestSchemaCoversEngineState fails when Engine gains a field that Save does not know about, so a
// new piece of state cannot be silently dropped from checkpoints.
func TestSchemaCoversEngineState(t *testing.T) {
	known := map[string]string{
		"cfg": "config_json", "lay": "derived from the config", "alpha": "alpha", "beta": "beta",
		"adamA": "adam_alpha", "adamB": "adam_beta", "epoch": "epoch", "steps": "steps",
		"epSteps": "epoch_steps", "history": "history", "boost": "control_op_boost, control_edge_boost",
	}
	// Caches and scratch, rebuilt from the saved state (coef is recomputed when coefEpoch differs).
	scratch := map[string]bool{"coef": true, "coefEpoch": true, "opW": true, "dAlpha": true, "dBeta": true, "graph": true, "rowMax": true, "rowLog": true, "undo": true, "undoSteps": true, "pow": true}
	et := reflect.TypeOf(Engine{})
	for i := 0; i < et.NumField(); i++ {
		name := et.Field(i).Name
		if _, ok := known[name]; !ok && !scratch[name] {
			t.Errorf("Engine.%s is neither saved nor known scratch: add it to schemas/daas.fbs and state.go, or list it here as scratch", name)
		}
	}
}
