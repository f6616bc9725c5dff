"""The device engine's Python side, on a machine without a GPU: which library is loaded, the host
engine's device API, the search's choice of engine, and the refusals the device functions give in
libdaas.so. (The device engine itself is tested on the host emulation by the Go tests, and on a GPU
by tools/gpu_check.py.)"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

import daas
from daas import _library
from daas.torch.optim import ArchitectureOptimizer
from daas.torch.search import engine_placement


@pytest.fixture
def no_env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    for var in (_library.ENV_VAR, _library.CUDA_ENV_VAR, _library.NO_CUDA_ENV_VAR):
        monkeypatch.delenv(var, raising=False)
    return monkeypatch


def test_cuda_library_only_with_a_gpu(no_env: pytest.MonkeyPatch, tmp_path: Path) -> None:
    lib = tmp_path / "libdaas-cuda.so"
    lib.write_bytes(b"not loaded by this test")
    no_env.setenv(_library.CUDA_ENV_VAR, str(lib))
    no_env.setattr(_library, "_gpu_visible", lambda: False)
    assert _library._cuda_library() is None
    assert _library._locate().endswith("libdaas.so")
    no_env.setattr(_library, "_gpu_visible", lambda: True)
    assert _library._cuda_library() == str(lib)
    assert _library._locate() == str(lib)
    no_env.setenv(_library.NO_CUDA_ENV_VAR, "1")
    assert _library._locate().endswith("libdaas.so")


def test_daas_library_yields_only_to_an_explicit_cuda_library(no_env: pytest.MonkeyPatch, tmp_path: Path) -> None:
    host, cuda = tmp_path / "libdaas.so", tmp_path / "libdaas-cuda.so"
    host.write_bytes(b"")
    cuda.write_bytes(b"")
    no_env.setattr(_library, "_gpu_visible", lambda: True)
    no_env.setattr(_library, "candidates", lambda name="libdaas.so": [tmp_path / name])
    no_env.setenv(_library.ENV_VAR, str(host))
    assert _library._locate() == str(host)  # a libdaas-cuda.so found by searching does not override it
    no_env.setenv(_library.CUDA_ENV_VAR, str(cuda))
    assert _library._locate() == str(cuda)
    no_env.setattr(_library, "_gpu_visible", lambda: False)
    assert _library._locate() == str(host)


def test_cuda_library_named_but_missing(no_env: pytest.MonkeyPatch, tmp_path: Path) -> None:
    no_env.setenv(_library.CUDA_ENV_VAR, str(tmp_path / "absent.so"))
    with pytest.raises(daas.LibraryError, match=_library.CUDA_ENV_VAR):
        _library._locate()


def test_gpu_visible_is_torchs_answer() -> None:
    assert _library._gpu_visible() == torch.cuda.is_available()


def test_host_engine_device_api() -> None:
    with daas.Engine({"space": "nb201"}) as e:
        assert e.device == "cpu" and not _library.has_device()
        e.sync()  # nothing to wait for
        op, edge = e.weights()
        assert isinstance(op, np.ndarray)
        e.step(np.zeros(e.sizes.n_alpha, np.float32), np.zeros(e.sizes.n_edges, np.float32))
        lib, h = e._open()
        for call in (lambda: lib.daas_engine_sync(h),
                     lambda: lib.daas_engine_step_device(h, 16, e.sizes.n_alpha, 16, e.sizes.n_edges, None),
                     lambda: lib.daas_engine_get_weights_device(h, 16, e.sizes.n_alpha, 16, e.sizes.n_edges, None)):
            with pytest.raises(daas.DeviceError, match="libdaas-cuda.so|on the CPU"):
                call()
        assert e.metrics()["step"] == 1  # the refusals changed nothing


@pytest.mark.parametrize("device", ["cuda", "cuda:1"])
def test_cuda_config_refused_by_libdaas(device: str) -> None:
    with pytest.raises(daas.DeviceError, match="without the GPU path"):
        daas.Engine({"device": device})


@pytest.mark.parametrize("device", ["cuda:-1", "cuda:x", "gpu", "cuda:01"])
def test_bad_device_names(device: str) -> None:
    with pytest.raises(daas.InvalidConfigError, match="device"):
        daas.Engine({"device": device})


def test_engine_placement(monkeypatch: pytest.MonkeyPatch) -> None:
    cfg = {"space": "darts"}
    assert engine_placement(cfg, torch.device("cpu")) == (cfg, "host")
    monkeypatch.setattr(_library, "has_device", lambda: False)
    placed, where = engine_placement(cfg, torch.device("cuda", 0))
    assert "device" not in placed and "make lib-cuda" in where
    monkeypatch.setattr(_library, "has_device", lambda: True)
    placed, where = engine_placement(cfg, torch.device("cuda", 1))
    assert placed["device"] == "cuda:1" and where == "device engine on cuda:1" and "device" not in cfg
    assert engine_placement({"device": "cpu"}, torch.device("cuda", 0))[0] == {"device": "cpu"}


def test_architecture_optimizer_on_a_host_engine() -> None:
    with daas.Engine({"space": "nb201"}) as e:
        arch = ArchitectureOptimizer(e)
        assert not arch.on_device and arch.device == torch.device("cpu")
        want_op, _ = e.weights()
        assert torch.equal(arch.op_weights.detach(), torch.from_numpy(want_op))


class _FakeDeviceEngine:
    """What ArchitectureOptimizer needs of an engine, claiming to live on cuda:0."""

    device = "cuda:0"
    sizes = daas.Sizes(30, 6)


def test_architecture_optimizer_refuses_weights_off_the_engines_gpu() -> None:
    with pytest.raises(ValueError, match="lives on cuda:0"):
        ArchitectureOptimizer(_FakeDeviceEngine(), device="cpu")
