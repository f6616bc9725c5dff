"""The Pythonic layer: Engine, Genotype, buffers, state files, threads, finalizer, fork guard, lookup."""

from __future__ import annotations

import ctypes
import gc
import json
import os
import pickle
import shutil
import subprocess
import sys
import threading
import time
import warnings

import numpy as np
import pytest
import torch

import daas
from daas import _library
from conftest import PKG_ROOT, SMALL, random_grads, library_file


# -- life cycle -------------------------------------------------------------------------------

def test_config_forms_agree():
    with daas.Engine(SMALL) as a, daas.Engine(json.dumps(SMALL)) as b, daas.Engine(json.dumps(SMALL).encode()) as c:
        assert a.save() == b.save() == c.save()
    with daas.Engine() as d, daas.Engine({}) as e, daas.Engine("") as f:
        assert d.save() == e.save() == f.save()
        assert d.config["epochs"] == 50 and d.config["method"] == "daas"
    with pytest.raises(TypeError):
        daas.Engine(42)
    with pytest.raises(daas.InvalidArgumentError, match="NUL"):
        daas.Engine('{"space": "darts\x00"}')


def test_close_twice_and_closed_engine_raises():
    eng = daas.Engine(SMALL)
    assert not eng.closed and "n_alpha" in repr(eng)
    eng.close()
    eng.close()
    assert eng.closed and "closed" in repr(eng)
    n_alpha, n_edges = 196, 28
    calls = [
        lambda: eng.sizes, lambda: eng.alpha, lambda: eng.beta, lambda: eng.weights(), lambda: eng.metrics(),
        lambda: eng.discretize(), lambda: eng.save(), lambda: eng.set_epoch(1), lambda: eng.epoch,
        lambda: eng.config, lambda: eng.step(np.zeros(n_alpha, np.float32), np.zeros(n_edges, np.float32)),
    ]
    for call in calls:
        with pytest.raises(ValueError, match="closed"):
            call()


def test_context_manager_closes_on_error():
    with pytest.raises(KeyError):
        with daas.Engine(SMALL) as eng:
            raise KeyError("boom")
    assert eng.closed


def test_finalizer_frees_forgotten_engines(monkeypatch):
    lib = _library.get()
    freed = []
    real = lib.daas_engine_free

    def spy(h):
        freed.append(ctypes.cast(h, ctypes.c_void_p).value)
        real(h)

    monkeypatch.setattr(lib, "daas_engine_free", spy)
    eng = daas.Engine(SMALL)
    addr = ctypes.cast(eng._handle, ctypes.c_void_p).value
    del eng
    gc.collect()
    assert freed == [addr]
    eng = daas.Engine(SMALL)
    eng.close()
    eng.close()
    del eng
    gc.collect()
    assert len(freed) == 2  # close freed it once; neither the second close nor the finalizer again


# -- reading --------------------------------------------------------------------------------

def test_sizes_alpha_beta_epoch(engine):
    assert engine.sizes == (196, 28) and engine.sizes.n_alpha == 196
    a, b = engine.alpha, engine.beta
    assert a.dtype == np.float32 and a.shape == (196,) and b.shape == (28,)
    a[:] = 5  # a copy: the engine is unaffected
    assert np.all(np.abs(engine.alpha) < 1e-3)
    # node j has 2 + j inputs and keeps 2: β starts near 2 / (2 + j)
    first_cell = engine.beta[:14]
    starts = [0, 2, 5, 9]
    for j, s in enumerate(starts):
        np.testing.assert_allclose(first_cell[s:s + 2 + j], 2 / (2 + j), atol=1e-3)
    assert engine.epoch == 1
    engine.set_epoch(3)
    assert engine.epoch == 3 == engine.metrics()["epoch"]


def test_weights_in_place(engine):
    op, edge = engine.weights()
    assert op.dtype == np.float32 and op.shape == (196,) and edge.shape == (28,)
    o2, e2 = np.full(196, -1, np.float32), np.full((2, 14), -1, np.float32)
    ret = engine.weights(out=(o2, e2))
    assert ret[0] is o2 and ret[1] is e2
    np.testing.assert_array_equal(o2, op)
    np.testing.assert_array_equal(e2.ravel(), edge)
    t_op, t_edge = torch.zeros(196), torch.zeros(28)
    engine.weights(out=(t_op, t_edge))
    np.testing.assert_array_equal(t_op.numpy(), op)
    np.testing.assert_array_equal(t_edge.numpy(), edge)
    # subclasses (a Parameter, an ndarray subclass) take the full checks and work the same
    p_op = torch.nn.Parameter(torch.zeros(196), requires_grad=False)
    m_edge = np.zeros(28, np.float32).view(np.ma.MaskedArray)
    engine.weights(out=(p_op, m_edge))
    np.testing.assert_array_equal(p_op.detach().numpy(), op)
    np.testing.assert_array_equal(np.asarray(m_edge), edge)


@pytest.mark.parametrize(
    "bad,exc,match",
    [
        (np.zeros(196, np.float64), daas.InvalidArgumentError, "float32"),
        (np.zeros((196, 2), np.float32)[:, 0], daas.InvalidArgumentError, "contiguous"),
        (np.zeros(195, np.float32), daas.InvalidArgumentError, "195"),
        (np.broadcast_to(np.zeros(1, np.float32), (196,)), daas.InvalidArgumentError, "contiguous|read-only"),
        (np.zeros(196, ">f4"), daas.InvalidArgumentError, "float32"),
        (np.frombuffer(bytearray(4 * 196 + 1), np.float32, 196, offset=1), daas.InvalidArgumentError, "aligned"),
        (np.zeros(0, np.float32), daas.InvalidArgumentError, "0"),
        (torch.zeros(196, dtype=torch.float64), daas.InvalidArgumentError, "float32"),
        (torch.zeros(196, 2)[:, 0], daas.InvalidArgumentError, "contiguous"),
        (torch.zeros(196, device="meta"), ValueError, "meta"),
        ([0.0] * 196, TypeError, "list"),
    ],
    ids=["float64", "strided", "short", "readonly", "big-endian", "unaligned", "empty", "torch-float64", "torch-strided", "torch-device", "list"],
)
def test_weights_out_is_checked(engine, bad, exc, match):
    before = engine.save()
    with pytest.raises(exc, match=match):
        engine.weights(out=(bad, np.zeros(28, np.float32)))
    readonly = np.zeros(196, np.float32)
    readonly.flags.writeable = False
    with pytest.raises(daas.InvalidArgumentError, match="read-only"):
        engine.weights(out=(readonly, np.zeros(28, np.float32)))
    assert engine.save() == before


def test_metrics_and_discretize(engine):
    m = engine.metrics()
    for key in ("epoch", "step", "lambda_c", "lambda_alpha", "lambda_beta", "op_entropy", "edge_entropy",
                "edge_count_penalty", "discreteness"):
        assert key in m
    g = engine.discretize()
    assert isinstance(g, daas.Genotype)
    assert g.method == "daas" == g["method"]
    assert [c["name"] for c in g.cells] == ["normal", "reduce"]
    assert g.darts.startswith("Genotype(normal=[") and g.nb201 is None
    assert all(len(node) == 2 for node in g.cell("normal")["nodes"])
    assert daas.Genotype.from_json(g.to_json()) == g
    assert json.loads(g.to_json()) == g.to_dict() == dict(g)
    assert pickle.loads(pickle.dumps(g)) == g
    with pytest.raises(AttributeError):
        g.method = "x"
    with daas.Engine({"space": "nb201", "epochs": 2}) as nb:
        gn = nb.discretize()
        assert gn.darts is None and gn.nb201.count("~") == 6 and gn.nb201.count("+") == 2
        assert gn.nb201.startswith("|") and "~0|" in gn.nb201


# -- stepping -------------------------------------------------------------------------------

class _StepSpy:
    """Wraps the raw daas_engine_step and records the addresses it was given."""

    def __init__(self, monkeypatch):
        self.lib = _library.get()
        self.real = self.lib.daas_engine_step
        self.calls = []
        monkeypatch.setattr(self.lib, "daas_engine_step", self)

    def __call__(self, h, op, n_op, edge, n_edge):
        self.calls.append((ctypes.cast(op, ctypes.c_void_p).value, n_op, ctypes.cast(edge, ctypes.c_void_p).value, n_edge))
        return self.real(h, op, n_op, edge, n_edge)


def test_step_passes_float32_numpy_without_copy(engine, rng, monkeypatch):
    spy = _StepSpy(monkeypatch)
    g_op, g_edge = random_grads(engine, rng)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no CopyWarning either
        engine.step(g_op, g_edge)
    assert spy.calls == [(g_op.ctypes.data, 196, g_edge.ctypes.data, 28)]
    # a 2-D C-contiguous view is fine too
    engine.step(g_op.reshape(28, 7), g_edge.reshape(2, 14))
    assert spy.calls[1] == (g_op.ctypes.data, 196, g_edge.ctypes.data, 28)
    # and so are read-only arrays (the library only reads them)
    g_op.flags.writeable = False
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        engine.step(g_op, g_edge)
    assert spy.calls[2] == (g_op.ctypes.data, 196, g_edge.ctypes.data, 28)


def test_step_passes_cpu_tensors_without_copy(engine, rng, monkeypatch):
    spy = _StepSpy(monkeypatch)
    g_op = torch.randn(196, requires_grad=True)  # a leaf with autograd on is fine
    g_edge = torch.randn(28)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        engine.step(g_op, g_edge)
    assert spy.calls == [(g_op.data_ptr(), 196, g_edge.data_ptr(), 28)]


def _state_after_step(g_op, g_edge):
    with daas.Engine(dict(SMALL, optimizer={"alpha_start_epoch": 1})) as eng:
        with warnings.catch_warnings(record=True) as w:
            warnings.simplefilter("always")
            eng.step(g_op, g_edge)
        return eng.save(), [x.category for x in w]


def _unaligned(x):
    """A float32 copy of x whose data address is not a multiple of 4."""
    buf = bytearray(4 * x.size + 1)
    out = np.frombuffer(buf, np.float32, x.size, offset=1)
    out[:] = x
    assert not out.flags.aligned
    return out


def test_other_inputs_are_converted_once(rng):
    g_op, g_edge = random_grads(daas.Engine(SMALL), rng)
    want, warned = _state_after_step(g_op, g_edge)
    assert warned == []
    variants = [
        (g_op.astype(np.float64), g_edge.astype(np.float64)),
        (g_op.tolist(), g_edge.tolist()),
        (np.repeat(g_op, 2)[::2], np.repeat(g_edge, 2)[::2]),  # strided views
        (torch.from_numpy(g_op).double(), torch.from_numpy(g_edge)),
        (torch.from_numpy(np.repeat(g_op, 2))[::2], torch.from_numpy(g_edge)),
        (g_op.astype(">f4"), g_edge),  # float32, but not in the machine's byte order
        (_unaligned(g_op), _unaligned(g_edge)),
    ]
    for op, edge in variants:
        got, warned = _state_after_step(op, edge)
        assert got == want
        assert warned and set(warned) == {daas.CopyWarning}


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device (the meta-device test covers the logic)")
def test_step_and_weights_refuse_cuda_tensors(engine):
    before = engine.save()
    g_op, g_edge = torch.ones(196, device="cuda"), torch.ones(28, device="cuda")
    with pytest.raises(ValueError, match=r"grad_op\.cpu\(\)"):
        engine.step(g_op, g_edge)
    with pytest.raises(ValueError, match=r"grad_edge\.cpu\(\)"):
        engine.step(g_op.cpu(), g_edge)
    with pytest.raises(ValueError, match="cuda"):
        engine.weights(out=(torch.zeros(196, device="cuda"), torch.zeros(28, device="cuda")))
    assert engine.save() == before
    engine.step(g_op.cpu(), g_edge.cpu())  # the explicit copy works
    assert engine.save() != before


def test_step_refuses_device_tensors(engine):
    g = torch.zeros(196, device="meta")
    before = engine.save()
    with pytest.raises(ValueError, match=r"\.cpu\(\)"):
        engine.step(g, np.zeros(28, np.float32))
    assert engine.save() == before
    with pytest.raises(TypeError):
        engine.step(object(), np.zeros(28, np.float32))


def test_errors_leave_the_engine_unchanged(engine, rng):
    engine.set_epoch(4)
    engine.step(*random_grads(engine, rng))
    before = engine.save()
    g_op, g_edge = random_grads(engine, rng)
    for bad_op, bad_edge in [
        (np.where(np.arange(196) == 100, np.float32(np.nan), g_op), g_edge),
        (g_op, np.where(np.arange(28) == 3, np.float32(-np.inf), g_edge)),
        (g_op[:-1], g_edge),
        (g_op, np.zeros(29, np.float32)),
    ]:
        with pytest.raises(daas.DaasError):
            engine.step(bad_op, bad_edge)
        assert engine.save() == before
    for bad_epoch in (0, 6, -1, 2**31, -(2**31) - 1):
        with pytest.raises(daas.InvalidArgumentError):
            engine.set_epoch(bad_epoch)
        assert engine.save() == before
    with pytest.raises(TypeError):
        engine.set_epoch(2.0)
    assert engine.epoch == 4
    engine.set_epoch(np.int64(5))  # any integer type
    assert engine.epoch == 5


# -- state --------------------------------------------------------------------------------

def test_save_load_round_trip_is_byte_identical(engine, rng):
    engine.set_epoch(3)
    for _ in range(3):
        engine.step(*random_grads(engine, rng))
    state = engine.save()
    assert engine.save() == state
    with daas.Engine.load(state) as back:
        assert back.save() == state
        np.testing.assert_array_equal(back.alpha, engine.alpha)
        np.testing.assert_array_equal(back.beta, engine.beta)
        assert back.epoch == 3 and back.sizes == engine.sizes
        # and it continues bit-identically
        grads = [random_grads(engine, rng) for _ in range(3)]
        for g in grads:
            engine.step(*g)
            back.step(*g)
        engine.set_epoch(4)
        back.set_epoch(4)
        assert back.save() == engine.save()
    for src in (bytearray(state), memoryview(state)):
        with daas.Engine.load(src) as again:
            assert again.save() == state
    clone = pickle.loads(pickle.dumps(engine))
    assert clone.save() == engine.save()
    clone.close()


def test_load_refuses_changed_bytes(engine):
    state = bytearray(engine.save())
    for pos in (0, 4, len(state) // 2, len(state) - 1):
        bad = bytearray(state)
        bad[pos] ^= 0x40
        with pytest.raises(daas.CorruptStateError):
            daas.Engine.load(bytes(bad))
    for bad in (b"", bytes(state[:-1]), bytes(state[: len(state) // 2])):
        with pytest.raises(daas.CorruptStateError):
            daas.Engine.load(bad)
    with pytest.raises(TypeError):
        daas.Engine.load(123)


def test_save_file_is_atomic_and_loadable(engine, rng, tmp_path):
    path = tmp_path / "state.daas"
    engine.save_file(path)
    first = engine.save()
    assert path.read_bytes() == first
    assert os.listdir(tmp_path) == ["state.daas"]  # no temporary file left
    mode = path.stat().st_mode & 0o777
    umask = os.umask(0)
    os.umask(umask)
    assert mode == 0o666 & ~umask
    with daas.Engine.load(path) as a, daas.Engine.load(str(path)) as b:
        assert a.save() == b.save() == first

    engine.step(*random_grads(engine, rng))
    engine.save_file(str(path))  # replaces the old state
    assert path.read_bytes() == engine.save() != first
    assert os.listdir(tmp_path) == ["state.daas"]


def test_save_file_io_failures_raise_and_leave_files_alone(engine, tmp_path):
    path = tmp_path / "state.daas"
    engine.save_file(path)
    old = path.read_bytes()
    with pytest.raises(daas.DaasIOError, match="missing") as info:
        engine.save_file(tmp_path / "missing" / "state.daas")
    assert info.value.status == -8 and isinstance(info.value, RuntimeError)
    with pytest.raises(daas.DaasIOError):
        engine.save_file(path / "below-a-file")  # the parent is a regular file
    with pytest.raises(daas.DaasIOError, match="nothing-here"):
        daas.Engine.load(tmp_path / "nothing-here.daas")
    with pytest.raises(daas.InvalidArgumentError, match="NUL"):
        engine.save_file(str(path) + "\0x")
    assert path.read_bytes() == old
    assert os.listdir(tmp_path) == ["state.daas"]


# -- threads ------------------------------------------------------------------------------

def test_one_engine_shared_by_threads(rng):
    grads = [random_grads(daas.Engine(SMALL), rng) for _ in range(40)]
    with daas.Engine(SMALL) as eng:
        errors = []

        def work(chunk):
            try:
                for g in chunk:
                    eng.step(*g)
                    eng.weights()
                    eng.metrics()
            except Exception as exc:  # pragma: no cover - reported below
                errors.append(exc)

        threads = [threading.Thread(target=work, args=(grads[i::4],)) for i in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert errors == []
        assert eng.metrics()["step"] == 40


# -- fork guard -----------------------------------------------------------------------------

def test_fork_guard_raises_in_the_child(engine):
    _library.get()  # loaded in this process
    pid = os.fork()
    if pid == 0:  # child: must never call into Go
        code = 1
        try:
            try:
                engine.weights()
            except daas.ForkedProcessError as exc:
                msg = str(exc)
                if "spawn" in msg and "fork" in msg:
                    code = 0
            try:
                daas.Engine(SMALL)
                code = 2
            except daas.ForkedProcessError:
                pass
            engine.close()  # must not free through the dead Go runtime, nor raise
        except BaseException:
            code = 3
        os._exit(code)
    deadline = time.monotonic() + 30
    while True:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            break
        if time.monotonic() > deadline:
            os.kill(pid, 9)
            os.waitpid(pid, 0)
            pytest.fail("the forked child hung")
        time.sleep(0.01)
    assert os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0
    # the parent is unaffected
    assert engine.weights()[0].shape == (196,)


# -- library lookup ---------------------------------------------------------------------------

def _run(code, env_extra, cwd="/"):
    env = {k: v for k, v in os.environ.items() if k not in ("DAAS_LIBRARY", "PYTHONPATH")}
    env.update(env_extra)
    return subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60, cwd=cwd)


def _copy_package(dst):
    shutil.copytree(PKG_ROOT / "daas", dst, ignore=shutil.ignore_patterns("__pycache__", "libdaas.so*"))


PROBE = (
    "import daas, daas._library as L\n"
    "assert L._lib is None  # importing does not load the library\n"
    "try:\n"
    "    print('OK', daas.library_path(), daas.abi_version())\n"
    "except daas.LibraryError as e:\n"
    "    print('ERR', e)\n"
)


def test_lookup_order(tmp_path):
    lib = library_file()
    # 1. DAAS_LIBRARY wins
    r = _run(PROBE, {"PYTHONPATH": str(PKG_ROOT), "DAAS_LIBRARY": lib})
    assert r.stdout.split()[:3] == ["OK", os.path.abspath(lib), "1"], r.stderr
    r = _run(PROBE, {"PYTHONPATH": str(PKG_ROOT), "DAAS_LIBRARY": str(tmp_path / "missing.so")})
    assert r.stdout.startswith("ERR") and "DAAS_LIBRARY" in r.stdout, r.stderr

    # 3. the build tree: <root>/bindings/python/daas -> <root>/build/libdaas.so, only in a checkout
    root = tmp_path / "checkout"
    pkg = root / "bindings" / "python" / "daas"
    _copy_package(pkg)
    (root / "build").mkdir()
    shutil.copy(lib, root / "build" / "libdaas.so")
    r = _run(PROBE, {"PYTHONPATH": str(pkg.parent)})  # no go.mod: an installed package, not a checkout
    assert r.stdout.startswith("ERR") and f"(tried {pkg / 'libdaas.so'});" in r.stdout, r.stdout + r.stderr
    assert str(root / "build") not in r.stdout and "wheel" in r.stdout, r.stdout
    (root / "go.mod").write_text("module example.com/checkout\n")
    r = _run(PROBE, {"PYTHONPATH": str(pkg.parent)})
    assert r.stdout.split()[:2] == ["OK", str(root / "build" / "libdaas.so")], r.stderr
    (root / "build" / "libdaas.so").unlink()
    r = _run(PROBE, {"PYTHONPATH": str(pkg.parent)})
    assert r.stdout.startswith("ERR") and "make lib" in r.stdout and str(root / "build") in r.stdout, r.stderr
    shutil.copy(lib, root / "build" / "libdaas.so")

    # 2. the copy inside the package comes before the build tree
    shutil.copy(lib, pkg / "libdaas.so")
    r = _run(PROBE, {"PYTHONPATH": str(pkg.parent)})
    assert r.stdout.split()[:2] == ["OK", str(pkg / "libdaas.so")], r.stderr


def test_abi_version_is_checked(tmp_path):
    src = tmp_path / "fake.c"
    src.write_text("#include <stdint.h>\nuint32_t daas_abi_version(void) { return 2; }\n")
    fake = tmp_path / "libfake.so"
    subprocess.run(["gcc", "-shared", "-fPIC", "-o", str(fake), str(src)], check=True)
    r = _run(PROBE, {"PYTHONPATH": str(PKG_ROOT), "DAAS_LIBRARY": str(fake)})
    assert r.stdout.startswith("ERR") and "ABI version 2" in r.stdout and "needs ABI version 1" in r.stdout, r.stderr
    src.write_text("int not_daas(void) { return 0; }\n")
    subprocess.run(["gcc", "-shared", "-fPIC", "-o", str(fake), str(src)], check=True)
    r = _run(PROBE, {"PYTHONPATH": str(PKG_ROOT), "DAAS_LIBRARY": str(fake)})
    assert r.stdout.startswith("ERR") and "not libdaas" in r.stdout, r.stderr
