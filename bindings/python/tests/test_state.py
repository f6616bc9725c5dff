"""daas.state reads what the engine saved, and refuses anything else."""

from __future__ import annotations

import os
import random
import struct
import subprocess
import sys
import zlib

import numpy as np
import pytest

import daas
import daas.state

from conftest import PKG_ROOT


def _engine_after_steps(config: dict, epochs: int = 3, steps: int = 4) -> daas.Engine:
    eng = daas.Engine(config)
    n_alpha, n_edges = eng.sizes
    rng = np.random.default_rng(0)
    for epoch in range(1, epochs + 1):
        eng.set_epoch(epoch)
        for _ in range(steps):
            eng.step(rng.standard_normal(n_alpha).astype(np.float32), rng.standard_normal(n_edges).astype(np.float32))
    return eng


def test_crc32c_known_value() -> None:
    # The standard check value of CRC-32C ("123456789" -> 0xE3069283), and it differs from zlib's CRC-32.
    assert daas.state.crc32c(b"123456789") == 0xE3069283
    assert daas.state.crc32c(b"123456789") != zlib.crc32(b"123456789")


@pytest.mark.parametrize("space", ["darts", "nb201", "darts-none"])
def test_read_matches_engine(space: str, tmp_path) -> None:
    with _engine_after_steps({"space": space, "epochs": 5, "seed": 3}) as eng:
        path = tmp_path / "s.daas"
        eng.save_file(path)
        st = daas.state.read(path)
        from_bytes = daas.state.read(eng.save())
        np.testing.assert_array_equal(from_bytes.alpha, st.alpha)  # a path and bytes read alike
        assert from_bytes.history == st.history
        np.testing.assert_array_equal(st.alpha.astype(np.float32), eng.alpha)
        np.testing.assert_array_equal(st.beta.astype(np.float32), eng.beta)
        assert st.epoch == 3 and st.steps == 12 and st.epoch_steps == 4 and st.epochs == 5 and st.seed == 3
        assert st.config["space"]["ops"] == st.space["ops"] and st.method == "daas"
        assert st.adam_alpha.step == 12 and st.adam_alpha.m.shape == st.alpha.shape
        assert [r.epoch for r in st.history] == [1, 2]
        assert st.history[1].metrics["step"] == 8
        assert st.history[1].genotype["method"] == "daas"
        n_alpha, n_edges = eng.sizes
        assert st.alpha.shape == (n_alpha,) and st.beta.shape == (n_edges,)


def test_read_refuses_corruption_and_other_versions() -> None:
    with _engine_after_steps({"epochs": 3}, epochs=2, steps=2) as eng:
        data = bytearray(eng.save())
    rng = random.Random(1)
    for pos in rng.sample(range(len(data)), 200):
        bad = bytearray(data)
        bad[pos] ^= 1 << rng.randrange(8)
        with pytest.raises((daas.CorruptStateError, daas.VersionMismatchError)):
            daas.state.read(bytes(bad))
    for cut in (0, 7, 100, len(data) - 1):
        with pytest.raises(daas.CorruptStateError):
            daas.state.read(bytes(data[:cut]))
    with pytest.raises(ValueError):  # CorruptStateError is a ValueError
        daas.state.read(bytes(rng.randrange(256) for _ in range(500)))


def test_read_refuses_a_future_version() -> None:
    from daas import _statefb as fb

    with _engine_after_steps({"epochs": 2}, epochs=1, steps=1) as eng:
        data = bytearray(eng.save())
    env = fb.Envelope.GetRootAs(bytes(data), 0)
    start = env._tab.Vector(env._tab.Offset(8))
    body = bytes(data[start : start + env.BodyLength()])
    # Rewrite schema_version and the CRC in place (both are stored in the envelope's table).
    ver_pos = env._tab.Pos + env._tab.Offset(4)
    crc_pos = env._tab.Pos + env._tab.Offset(6)
    struct.pack_into("<I", data, ver_pos, 2)
    struct.pack_into("<I", data, crc_pos, daas.state.crc32c(struct.pack("<I", 2) + body))
    with pytest.raises(daas.VersionMismatchError, match="schema version 2"):
        daas.state.read(bytes(data))


def test_without_flatbuffers_the_import_names_the_extra() -> None:
    code = (
        "import sys\n"
        "sys.modules['flatbuffers'] = None  # as if it were not installed\n"
        "import daas\n"
        "try:\n"
        "    import daas.state\n"
        "except ImportError as e:\n"
        "    print(type(e).__name__, e.name, e)\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "DAAS_LIBRARY"}
    env["PYTHONPATH"] = str(PKG_ROOT)
    r = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60, cwd="/")
    assert r.stdout.startswith("ImportError flatbuffers daas.state needs the flatbuffers package"), r.stdout + r.stderr
    assert "pip install 'daas-engine[state]'" in r.stdout, r.stdout
