"""Check examples/cpp/state_reader against daas.state (run by `make cpptest`).

    python cpp/tests/state_reader_check.py build/state_reader/state_reader WORKDIR

Writes a state with the Python binding (a few steps over three epochs, so the history holds two
records), runs the C++ reader on it and compares every printed number with daas.state.read; then
checks that a file with one flipped body byte and a file that is not a state are refused.
"""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np

import daas
import daas.state


def main() -> None:
    reader, work = sys.argv[1], Path(sys.argv[2])
    work.mkdir(parents=True, exist_ok=True)
    path = work / "python.daas"
    rng = np.random.default_rng(5)
    with daas.Engine({"epochs": 4, "seed": 11, "optimizer": {"alpha_start_epoch": 1}}) as eng:
        n_alpha, n_edges = eng.sizes
        for epoch in (1, 2, 3):
            eng.set_epoch(epoch)
            for _ in range(3 + epoch):
                eng.step(rng.normal(0, 0.1, n_alpha).astype(np.float32),
                         rng.normal(0, 0.1, n_edges).astype(np.float32))
        eng.save_file(path)
    st = daas.state.read(path)

    out = subprocess.run([reader, str(path)], check=True, capture_output=True, text=True).stdout
    lines = out.splitlines()
    assert lines[0].endswith("schema version 1, crc32c 0x%08x ok" % daas.state.crc32c(
        (1).to_bytes(4, "little") + _body(path))), lines[0]
    assert f"schedule: epoch {st.epoch} of {st.epochs}, steps {st.steps} in total, {st.epoch_steps} in this epoch" in lines
    assert f"config: method {st.method}, epochs {st.epochs}, seed {st.seed}" in lines

    alpha, beta = [], []
    for ln in lines:
        if ln.startswith("  edge "):
            head, rest = ln.split(" beta ", 1)
            b, a = rest.split(" alpha ", 1)
            beta.append(float(b))
            alpha.extend(float(x) for x in a.split())
    # %.17g round-trips a double exactly
    assert np.array_equal(np.array(alpha), st.alpha), "alpha differs"
    assert np.array_equal(np.array(beta), st.beta), "beta differs"

    genotypes = [json.loads(ln.split("genotype: ", 1)[1]) for ln in lines if ln.startswith("    genotype: ")]
    assert len(st.history) == 2 and genotypes == [r.genotype for r in st.history], "history differs"
    steps = [int(ln.split()[2]) for ln in lines if ln.startswith("  epoch ")]
    assert steps == [r.steps for r in st.history] == [4, 5], steps
    discreteness = [float(ln.split("discreteness ")[1].split(",")[0]) for ln in lines if "discreteness " in ln]
    assert discreteness == [r.metrics["discreteness"] for r in st.history]

    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x10
    bad = work / "flipped.daas"
    bad.write_bytes(bytes(data))
    r = subprocess.run([reader, str(bad)], capture_output=True, text=True)
    assert r.returncode == 1 and ("checksum" in r.stderr or "malformed" in r.stderr), (r.returncode, r.stderr)
    junk = work / "junk.daas"
    junk.write_bytes(b"not a daas state at all")
    r = subprocess.run([reader, str(junk)], capture_output=True, text=True)
    assert r.returncode == 1 and "identifier" in r.stderr, r.stderr
    print(f"state_reader: {len(lines)} lines match daas.state.read ({len(alpha)} alpha, {len(beta)} beta, "
          f"{len(genotypes)} history records); altered and foreign files refused")


def _body(path: Path) -> bytes:
    from daas import _statefb as fb

    data = path.read_bytes()
    env = fb.Envelope.GetRootAs(data, 0)
    start = env._tab.Vector(env._tab.Offset(8))
    return data[start:start + env.BodyLength()]


if __name__ == "__main__":
    main()
