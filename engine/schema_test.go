package engine

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"runtime"
	"slices"
	"strings"
	"testing"
)

// The generated FlatBuffers code (engine/internal/statefb, bindings/python/daas/_statefb,
// include/daas/daas_generated.h) is committed. schemas/generate.sh records the sha256 of
// schemas/daas.fbs and of every file it generates in schemas/daas.fbs.sha256.
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

// flatcPath returns flatc of the given version as the Makefile builds it ($FLATC overrides), or "".
func flatcPath(version string) string {
	if p := os.Getenv("FLATC"); p != "" {
		return p
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return ""
	}
	p := filepath.Join(home, ".cache/daas", "flatc-"+version)
	if _, err := os.Stat(p); err != nil {
		return ""
	}
	return p
}

// TestSchemaRegeneratesIdentically runs generate.sh into a scratch folder and compares every file
// with the committed ones (the checksum test above runs everywhere; this one needs flatc, which
// `make schemas` builds).
func TestSchemaRegeneratesIdentically(t *testing.T) {
	version := goModFlatbuffers(t)
	flatc := flatcPath(version)
	if flatc == "" {
		skipUnlessStrict(t, "flatc "+version+" is not built (make schemas builds it); the checksum test still ran")
	}
	if testing.Short() {
		t.Skip("-short")
	}
	out := t.TempDir()
	cmd := exec.Command("bash", filepath.Join(repoRoot, "schemas/generate.sh"), flatc, out)
	cmd.Env = append(os.Environ(), "PATH="+filepath.Join(runtime.GOROOT(), "bin")+string(os.PathListSeparator)+os.Getenv("PATH"))
	if msg, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("generate.sh: %v\n%s", err, msg)
	}
	sums := readSums(t, filepath.Join(out, "schemas/daas.fbs.sha256"))
	names := []string{"schemas/daas.fbs.sha256"}
	for name := range sums {
		if name != "schemas/daas.fbs" {
			names = append(names, name)
		}
	}
	slices.Sort(names)
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
	scratch := map[string]bool{"coef": true, "coefEpoch": true, "opW": true, "dAlpha": true, "dBeta": true, "graph": true, "rowMax": true, "rowLog": true, "undo": true, "undoSteps": true}
	et := reflect.TypeOf(Engine{})
	for i := 0; i < et.NumField(); i++ {
		name := et.Field(i).Name
		if _, ok := known[name]; !ok && !scratch[name] {
			t.Errorf("Engine.%s is neither saved nor known scratch: add it to schemas/daas.fbs and state.go, or list it here as scratch", name)
		}
	}
}

// The C++ and Python readers generated from the same schema must accept what Save writes: the C++
// flatbuffers::Verifier checks every offset and the alignment of every scalar, including inside the
// nested body, which the Go side does not get from its runtime.

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

// stateSummary is what the foreign readers print for a state, computed here from the engine.
func stateSummary(e *Engine) string {
	return fmt.Sprintf("%d %d %d %.17g %.17g %d %d %d", SchemaVersion, e.epoch, e.steps, e.alpha[0], e.adamB.V[0],
		len(e.alpha), len(e.history), len(e.cfg.Space.Cells))
}

// foreignReaderStates writes the states of the round-trip configurations to dir and returns the
// paths and the summaries the readers must print.
func foreignReaderStates(t *testing.T, dir string) (paths []string, want string) {
	for i, c := range stConfigs {
		e := mustEngine(t, c.json)
		g := stGrads{state: uint64(i)}
		stRun(t, e, &g, 1, 3, 2)
		p := filepath.Join(dir, fmt.Sprintf("s%d.daas", i))
		if err := os.WriteFile(p, e.Save(), 0o644); err != nil {
			t.Fatal(err)
		}
		paths = append(paths, p)
		want += stateSummary(e) + "\n"
	}
	return paths, want
}

func TestSchemaCppReaderAcceptsStates(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: compiles C++")
	}
	cxx, err := exec.LookPath("g++")
	if err != nil {
		skipUnlessStrict(t, "no g++ to build the C++ reader")
	}
	fbDir, err := exec.Command("go", "list", "-m", "-f", "{{.Dir}}", "github.com/google/flatbuffers").Output()
	if err != nil || len(bytes.TrimSpace(fbDir)) == 0 {
		t.Fatalf("cannot locate the flatbuffers module (its C++ headers): %v", err)
	}
	dir := t.TempDir()
	src, bin := filepath.Join(dir, "reader.cc"), filepath.Join(dir, "reader")
	if err := os.WriteFile(src, []byte(cppStateReader), 0o644); err != nil {
		t.Fatal(err)
	}
	build := exec.Command(cxx, "-std=c++17", "-Wall", "-Wextra", "-Werror", "-I"+filepath.Join(repoRoot, "include"),
		"-I"+filepath.Join(string(bytes.TrimSpace(fbDir)), "include"), src, "-o", bin)
	if msg, err := build.CombinedOutput(); err != nil {
		t.Fatalf("building the C++ reader: %v\n%s", err, msg)
	}
	paths, want := foreignReaderStates(t, dir)
	out, err := exec.Command(bin, paths...).CombinedOutput()
	if err != nil || string(out) != want {
		t.Fatalf("C++ reader: %v\n%s\nwant\n%s", err, out, want)
	}
}

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

// pythonWithFlatbuffers returns the project's venv Python (as the Makefile names it) or $DAAS_PYTHON.
func pythonWithFlatbuffers() string {
	if p := os.Getenv("DAAS_PYTHON"); p != "" {
		return p
	}
	reqs, err := os.ReadFile(filepath.Join(repoRoot, "bindings/python/requirements.txt"))
	home, herr := os.UserHomeDir()
	if err != nil || herr != nil {
		return ""
	}
	sum := sha256.Sum256(reqs)
	p := filepath.Join(home, ".cache/daas", "venv-"+hex.EncodeToString(sum[:])[:12], "bin/python")
	if _, err := os.Stat(p); err != nil {
		return ""
	}
	return p
}

func TestSchemaPythonReaderAcceptsStates(t *testing.T) {
	py := pythonWithFlatbuffers()
	if py == "" {
		skipUnlessStrict(t, "the project's Python environment is not installed (make venv)")
	}
	dir := t.TempDir()
	script := filepath.Join(dir, "reader.py")
	if err := os.WriteFile(script, []byte(pyStateReader), 0o644); err != nil {
		t.Fatal(err)
	}
	paths, want := foreignReaderStates(t, dir)
	args := append([]string{script, filepath.Join(repoRoot, "bindings/python/daas/_statefb")}, paths...)
	cmd := exec.Command(py, args...)
	cmd.Env = append(os.Environ(), "PYTHONDONTWRITEBYTECODE=1") // nothing written into the source tree
	out, err := cmd.CombinedOutput()
	if err != nil || string(out) != want {
		t.Fatalf("Python reader: %v\n%s\nwant\n%s", err, out, want)
	}
}

// skipUnlessStrict skips a test whose tool is missing, except under `make test`, which installs every
// tool first and sets DAAS_STRICT=1 so that a missing one fails instead.
func skipUnlessStrict(t *testing.T, why string) {
	t.Helper()
	if os.Getenv("DAAS_STRICT") != "" {
		t.Fatal("DAAS_STRICT is set but " + why)
	}
	t.Skip(why)
}
