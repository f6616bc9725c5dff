"""Reliability of the Python layer: closed engines, the finalizer seen from the library,
Ctrl-C during a checkpointing search, and hostile bytes and files given to Engine.load."""

from __future__ import annotations

import gc
import os
import pickle
import random
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

import daas
from daas import _library

from conftest import REPO, SMALL

RELIABILITY = REPO / "reliability"
sys.path.insert(0, str(RELIABILITY))
import kill_worker  # noqa: E402


def _env():
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(REPO / "bindings" / "python"), str(RELIABILITY), env.get("PYTHONPATH", "")])
    return env


# -- closed engines and the finalizer ----------------------------------------------------------


def test_closed_engine_refuses_files_buffers_and_pickling(tmp_path):
    eng = daas.Engine(SMALL)
    op, edge = np.empty(eng.sizes.n_alpha, np.float32), np.empty(eng.sizes.n_edges, np.float32)
    eng.close()
    for call in (
        lambda: eng.save_file(tmp_path / "x.state"),
        lambda: eng.weights(out=(op, edge)),
        lambda: pickle.dumps(eng),
    ):
        with pytest.raises(ValueError, match="closed"):
            call()
    assert not (tmp_path / "x.state").exists()


def _handle_is_live(handle) -> bool:
    """Ask the library itself whether a raw handle still names an engine."""
    import ctypes

    n_a, n_e = ctypes.c_size_t(), ctypes.c_size_t()
    try:
        _library.get().daas_engine_sizes(handle, ctypes.byref(n_a), ctypes.byref(n_e))
    except daas.InvalidArgumentError:
        return False
    return True


def test_finalizer_frees_forgotten_engines_in_the_library():
    handles = []
    for i in range(300):
        eng = daas.Engine({"seed": i})
        handles.append(eng._handle)
        if i % 3 == 0:
            eng.step(np.zeros(eng.sizes.n_alpha, np.float32), np.zeros(eng.sizes.n_edges, np.float32))
        del eng  # forgotten, never closed
    gc.collect()
    live = [h for h in handles if _handle_is_live(h)]
    assert live == []
    # and a live one really is reported live (the probe can tell the difference)
    keep = daas.Engine(SMALL)
    handle = keep._handle
    assert _handle_is_live(handle)
    keep.close()
    assert not _handle_is_live(handle)


def test_interpreter_exit_with_forgotten_engines_is_clean():
    code = (
        "import daas, numpy as np\n"
        "engines = [daas.Engine({'seed': i}) for i in range(50)]\n"
        "cycle = [daas.Engine({})]\ncycle.append(cycle)\n"  # one in a reference cycle, too
        "print('ok')\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], env=_env(), capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "ok" and proc.stderr == ""


# -- Ctrl-C ------------------------------------------------------------------------------------


def test_ctrl_c_during_a_search_leaves_the_last_checkpoint_loadable(tmp_path):
    """SIGINT a checkpointing search up to 5 times at random moments: each time the process stops with
    KeyboardInterrupt, the checkpoint loads and is exactly the uninterrupted run's state at its step,
    no temporary file is left, and the resumed search ends in the uninterrupted run's final state."""
    steps, seed = 800, 21
    ckpt = tmp_path / "search.ckpt"
    rnd = random.Random(5)
    ref = daas.Engine(kill_worker.config(seed))
    last, interrupted = 0, 0
    # a millisecond's pause before each step, as a supernet's work would take: 800 steps outlast the
    # signal's delay (at most 0.1 s) on any disk
    cmd = [sys.executable, str(RELIABILITY / "kill_worker.py"), str(ckpt), str(steps), str(seed), "0.001"]
    for _ in range(5):
        before = ckpt.stat().st_mtime_ns if ckpt.exists() else None
        proc = subprocess.Popen(cmd, env=_env(), stderr=subprocess.PIPE, text=True)
        deadline = time.monotonic() + 60
        while (not ckpt.exists() or ckpt.stat().st_mtime_ns == before) and proc.poll() is None:
            assert time.monotonic() < deadline, "the worker never wrote a checkpoint"
            time.sleep(0.005)
        time.sleep(rnd.uniform(0.0, 0.1))
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=60)
        assert "KeyboardInterrupt" in err, (proc.returncode, err[-2000:])
        interrupted += 1
        with daas.Engine.load(ckpt) as loaded:
            step = loaded.metrics()["step"]
            on_disk = ckpt.read_bytes()
            assert loaded.save() == on_disk
        assert last < step < steps
        kill_worker.advance(ref, seed, steps, step, None)
        assert ref.save() == on_disk, f"the checkpoint at step {step} is not the uninterrupted run's state"
        assert [p.name for p in tmp_path.iterdir()] == [ckpt.name]  # no temporary file left
        last = step
    assert interrupted == 5
    subprocess.run(cmd, env=_env(), check=True, timeout=300)
    kill_worker.advance(ref, seed, steps, steps, None)
    assert ckpt.read_bytes() == ref.save()
    ref.close()


# -- hostile input to Engine.load --------------------------------------------------------------


def _mutations(state: bytes, rnd: random.Random, n: int):
    for i in range(n):
        kind = i % 4
        if kind == 0:
            yield bytes(rnd.getrandbits(8) for _ in range(rnd.randrange(1, 600)))
        elif kind == 1:
            yield state[: rnd.randrange(0, len(state))]
        elif kind == 2:
            b = bytearray(state)
            for _ in range(rnd.randrange(1, 5)):
                b[rnd.randrange(len(b))] ^= 1 << rnd.randrange(8)
            yield bytes(b)
        else:
            b = bytearray(state)
            at = rnd.randrange(len(b))
            yield bytes(b[:at]) + bytes(rnd.getrandbits(8) for _ in range(rnd.randrange(1, 64))) + bytes(b[at:])


def test_load_of_hostile_bytes_and_files_raises_only_state_errors(tmp_path):
    with daas.Engine(SMALL) as eng:
        eng.step(np.full(eng.sizes.n_alpha, 0.01, np.float32), np.full(eng.sizes.n_edges, 0.01, np.float32))
        eng.set_epoch(2)
        state = eng.save()
    rnd = random.Random(99)
    outcomes = {"accepted": 0, "corrupt": 0, "version": 0}
    path = tmp_path / "hostile.state"
    for i, data in enumerate(_mutations(state, rnd, 1200)):
        for source in (data, path) if i % 10 == 0 else (data,):
            if source is path:
                path.write_bytes(data)
            try:
                loaded = daas.Engine.load(source)
            except daas.CorruptStateError:
                outcomes["corrupt"] += 1
                continue
            except daas.VersionMismatchError:
                outcomes["version"] += 1
                continue
            except daas.InvalidArgumentError:
                assert len(data) == 0  # the only bytes refused as an argument: none at all
                continue
            with loaded:
                outcomes["accepted"] += 1
                assert loaded.save() == data  # only the exact bytes of a state load
    assert outcomes["corrupt"] > 1000
    # a flipped bit is always caught (CRC-32C), so only unchanged prefixes/insertions could load
    assert outcomes["accepted"] == 0, outcomes
