// Package crosslang checks the state schema across languages: the committed generated code is what
// flatc makes from schemas/daas.fbs, and the C++ and Python readers generated from it read what the
// Go engine writes. It needs flatc (DAAS_FLATC), g++, the flatbuffers module's C++ headers and a Python
// with the flatbuffers package (DAAS_PYTHON); `make crosstest` provides them. Nothing here is skipped:
// a missing tool is a failure.
package crosslang

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"

	"github.com/daas-nas/daas/engine"
)

const repoRoot = "../.."

func need(t *testing.T, env string) string {
	t.Helper()
	v := os.Getenv(env)
	if v == "" {
		t.Fatalf("%s is not set; run these tests with `make crosstest`", env)
	}
	return v
}

// TestGeneratedCodeRegeneratesIdentically runs schemas/generate.sh into a scratch folder and compares
// every file it writes with the committed one.
func TestGeneratedCodeRegeneratesIdentically(t *testing.T) {
	flatc := need(t, "DAAS_FLATC")
	out := t.TempDir()
	cmd := exec.Command("bash", filepath.Join(repoRoot, "schemas/generate.sh"), flatc, out)
	cmd.Env = append(os.Environ(), "PATH="+filepath.Join(runtime.GOROOT(), "bin")+string(os.PathListSeparator)+os.Getenv("PATH"))
	if msg, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("generate.sh: %v\n%s", err, msg)
	}
	var names []string
	sums, err := os.ReadFile(filepath.Join(out, "schemas/daas.fbs.sha256"))
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(strings.TrimSpace(string(sums)), "\n") {
		if f := strings.Fields(line); len(f) == 2 && f[1] != "schemas/daas.fbs" {
			names = append(names, f[1])
		}
	}
	names = append(names, "schemas/daas.fbs.sha256")
	slices.Sort(names)
	if len(names) < 3 {
		t.Fatalf("generate.sh listed only %v", names)
	}
	for _, name := range names {
		fresh, err := os.ReadFile(filepath.Join(out, name))
		if err != nil {
			t.Fatal(err)
		}
		committed, err := os.ReadFile(filepath.Join(repoRoot, name))
		if err != nil || !bytes.Equal(fresh, committed) {
			t.Errorf("%s is stale: run `make schemas` and commit the result", name)
		}
	}
}

// The configurations whose states the readers must read: every preset, both methods, a custom space
// with a discard list and imbalanced keep, and the discreteness controller.
var configs = []string{
	`{"space": "darts", "epochs": 4, "seed": 1}`,
	`{"space": "darts-none", "epochs": 4, "seed": 2}`,
	`{"space": "nb201", "epochs": 4, "seed": 3}`,
	`{"space": "darts", "method": "darts", "epochs": 4, "seed": 4}`,
	`{"space": {"ops": ["none", "a", "b"], "discard": ["none"], "cells": [{"name": "c", "inputs": 2, "nodes": 4, "keep": [1, 3, 2, 4]}]}, "epochs": 4, "seed": 5}`,
	`{"space": "darts", "epochs": 4, "seed": 6, "control": {"edge_target": 0.99, "mass_target": 0.99}}`,
}

// writeStates runs each configuration for a few epochs with made-up gradients, writes its state to dir
// and returns the paths and, per state, the fields the readers print that Go can compute itself.
func writeStates(t *testing.T, dir string) (paths, want []string) {
	for i, c := range configs {
		cfg, err := engine.ParseConfig([]byte(c))
		if err != nil {
			t.Fatal(err)
		}
		e, err := engine.New(cfg)
		if err != nil {
			t.Fatal(err)
		}
		nA, nE := e.Sizes()
		gOp, gEdge := make([]float32, nA), make([]float32, nE)
		for s := 0; s < 9; s++ {
			if err := e.SetEpoch(1 + s/3); err != nil {
				t.Fatal(err)
			}
			for k := range gOp {
				gOp[k] = float32((k*7+s*3)%11) - 5
			}
			for k := range gEdge {
				gEdge[k] = float32((k*5+s)%7) - 3
			}
			if err := e.Step(gOp, gEdge); err != nil {
				t.Fatal(err)
			}
		}
		p := filepath.Join(dir, fmt.Sprintf("s%d.daas", i))
		if err := os.WriteFile(p, e.Save(), 0o644); err != nil {
			t.Fatal(err)
		}
		paths = append(paths, p)
		// The history of a saved state holds the finished epochs; History adds the current one.
		want = append(want, fmt.Sprintf("%d %d %d %.17g %d %d %d", engine.SchemaVersion, e.Epoch(), e.Steps(),
			e.AlphaFloat64()[0], nA, len(e.History())-1, len(cfg.Space.Cells)))
	}
	return paths, want
}

// compare checks a reader's lines against the Go fields; the reader also prints adam_beta.v[0]
// (field 5), which Go keeps private: every reader must print the same value there.
func compare(t *testing.T, who string, out []byte, want []string, v0 map[int]string) {
	t.Helper()
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	if len(lines) != len(want) {
		t.Fatalf("%s printed %d lines for %d states:\n%s", who, len(lines), len(want), out)
	}
	for i, line := range lines {
		f := strings.Fields(line)
		if len(f) != 8 {
			t.Fatalf("%s: line %q", who, line)
		}
		got := strings.Join(append(append([]string{}, f[:4]...), f[5:]...), " ")
		if got != want[i] {
			t.Errorf("%s, state %d: %s, want %s", who, i, got, want[i])
		}
		if prev, ok := v0[i]; ok && prev != f[4] {
			t.Errorf("%s, state %d: adam_beta.v[0] %s, another reader %s", who, i, f[4], prev)
		}
		v0[i] = f[4]
	}
}

func TestForeignReadersReadEngineStates(t *testing.T) {
	py := need(t, "DAAS_PYTHON")
	cxx, err := exec.LookPath("g++")
	if err != nil {
		t.Fatal("no g++ to build the C++ reader")
	}
	fbDir, err := exec.Command("go", "list", "-m", "-f", "{{.Dir}}", "github.com/google/flatbuffers").Output()
	if err != nil || len(bytes.TrimSpace(fbDir)) == 0 {
		t.Fatalf("cannot locate the flatbuffers module (its C++ headers): %v", err)
	}
	dir := t.TempDir()
	paths, want := writeStates(t, dir)
	v0 := map[int]string{}

	src, bin := filepath.Join(dir, "reader.cc"), filepath.Join(dir, "reader")
	if err := os.WriteFile(src, []byte(cppStateReader), 0o644); err != nil {
		t.Fatal(err)
	}
	build := exec.Command(cxx, "-std=c++17", "-Wall", "-Wextra", "-Werror", "-I"+filepath.Join(repoRoot, "include"),
		"-I"+filepath.Join(string(bytes.TrimSpace(fbDir)), "include"), src, "-o", bin)
	if msg, err := build.CombinedOutput(); err != nil {
		t.Fatalf("building the C++ reader: %v\n%s", err, msg)
	}
	out, err := exec.Command(bin, paths...).CombinedOutput()
	if err != nil {
		t.Fatalf("C++ reader: %v\n%s", err, out)
	}
	compare(t, "C++ reader", out, want, v0)

	script := filepath.Join(dir, "reader.py")
	if err := os.WriteFile(script, []byte(pyStateReader), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(py, append([]string{script, filepath.Join(repoRoot, "bindings/python/daas/_statefb")}, paths...)...)
	cmd.Env = append(os.Environ(), "PYTHONDONTWRITEBYTECODE=1") // nothing written into the source tree
	out, err = cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("Python reader: %v\n%s", err, out)
	}
	compare(t, "Python reader", out, want, v0)
}

// The readers: C++ verifies the envelope and the nested body with flatbuffers::Verifier (every offset
// and the alignment of every scalar); Python reads with the generated classes. Both print
// schema_version, epoch, steps, alpha[0], adam_beta.v[0], len(alpha), len(history), len(cells).

const cppStateReader = `#include <cstdio>
#include <fstream>
#include <iterator>
#include <vector>
#include "daas/daas_generated.h"
int main(int argc, char **argv) {
  for (int i = 1; i < argc; i++) {
    std::ifstream f(argv[i], std::ios::binary);
    std::vector<uint8_t> buf((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
    flatbuffers::Verifier v(buf.data(), buf.size());
    if (!daas::state::EnvelopeBufferHasIdentifier(buf.data()) || !daas::state::VerifyEnvelopeBuffer(v)) {
      std::printf("%s: envelope does not verify\n", argv[i]);
      return 1;
    }
    const daas::state::Envelope *env = daas::state::GetEnvelope(buf.data());
    flatbuffers::Verifier vb(env->body()->data(), env->body()->size());
    if (!vb.VerifyBuffer<daas::state::State>(nullptr)) {
      std::printf("%s: body does not verify\n", argv[i]);
      return 1;
    }
    const daas::state::State *st = env->body_nested_root();
    std::printf("%u %d %lld %.17g %.17g %u %u %u\n", env->schema_version(), st->epoch(), (long long)st->steps(),
                st->alpha()->Get(0), st->adam_beta()->v()->Get(0), st->alpha()->size(), st->history()->size(),
                st->space()->cells()->size());
  }
  return 0;
}
`

const pyStateReader = `import importlib.util, sys
spec = importlib.util.spec_from_file_location("statefb", sys.argv[1] + "/__init__.py",
                                              submodule_search_locations=[sys.argv[1]])
fb = importlib.util.module_from_spec(spec)
sys.modules["statefb"] = fb
spec.loader.exec_module(fb)
for path in sys.argv[2:]:
    buf = open(path, "rb").read()
    assert fb.Envelope.EnvelopeBufferHasIdentifier(buf, 0), path
    env = fb.Envelope.GetRootAs(buf, 0)
    st = env.BodyNestedRoot()
    print("%d %d %d %.17g %.17g %d %d %d" % (env.SchemaVersion(), st.Epoch(), st.Steps(), st.Alpha(0),
          st.AdamBeta().V(0), st.AlphaLength(), st.HistoryLength(), st.Space().CellsLength()))
`
