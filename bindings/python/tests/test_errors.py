"""Every daas_status maps to its exception class, and calls raise them."""

from __future__ import annotations

import pickle
import re

import numpy as np
import pytest

import daas
from daas import errors
from conftest import REPO

# status, class, the built-in it also inherits, its name in include/daas.h
TABLE = [
    (-1, daas.InternalError, RuntimeError, "DAAS_E_INTERNAL"),
    (-2, daas.InvalidArgumentError, ValueError, "DAAS_E_INVALID_ARGUMENT"),
    (-3, daas.InvalidConfigError, ValueError, "DAAS_E_INVALID_CONFIG"),
    (-4, daas.CorruptStateError, ValueError, "DAAS_E_CORRUPT_STATE"),
    (-5, daas.VersionMismatchError, RuntimeError, "DAAS_E_VERSION_MISMATCH"),
    (-6, daas.NumericError, RuntimeError, "DAAS_E_NUMERIC"),
    (-7, daas.DeviceError, RuntimeError, "DAAS_E_DEVICE"),
    (-8, daas.DaasIOError, RuntimeError, "DAAS_E_IO"),
]


def test_table_covers_every_status_in_the_header():
    header = (REPO / "include" / "daas.h").read_text()
    codes = {name: int(v) for name, v in re.findall(r"#define (DAAS_E_\w+)\s+(-\d+)", header)}
    assert codes == {name: code for code, _, _, name in TABLE}
    assert set(errors.STATUS_CODES) == set(codes.values())


@pytest.mark.parametrize("status,cls,builtin,name", TABLE, ids=[t[3] for t in TABLE])
def test_status_maps_to_its_class(status, cls, builtin, name):
    assert errors.error_class(status) is cls
    err = errors.error_from_status(status, f"daas: something about {name}")
    assert type(err) is cls
    assert isinstance(err, daas.DaasError) and isinstance(err, builtin)
    assert err.status == status and err.message == f"daas: something about {name}"
    assert str(err) == err.message
    # the library spells the status the same way
    assert daas.status_string(status) == name
    # exceptions survive pickling (multiprocessing sends them between processes)
    back = pickle.loads(pickle.dumps(err))
    assert type(back) is cls and back.status == status and back.message == err.message
    with pytest.raises(builtin):
        raise err


def test_each_class_inherits_exactly_one_of_the_builtins():
    for _, cls, builtin, _ in TABLE:
        other = RuntimeError if builtin is ValueError else ValueError
        assert issubclass(cls, builtin) and not issubclass(cls, other), cls


def test_unknown_status_is_plain_daas_error():
    err = errors.error_from_status(-99, "from a newer library")
    assert type(err) is daas.DaasError and not isinstance(err, (ValueError, RuntimeError))
    assert err.status == -99
    with pytest.raises(ValueError):
        errors.error_from_status(0, "ok is not an error")


# The statuses a call can produce, produced through the Pythonic layer.

def test_device_error_for_a_gpu_this_build_lacks():
    with pytest.raises(daas.DeviceError, match="cuda") as info:
        daas.Engine({"device": "cuda"})
    assert info.value.status == -7 and isinstance(info.value, RuntimeError)


def test_invalid_config_names_the_key():
    with pytest.raises(daas.InvalidConfigError, match="epochs") as exc:
        daas.Engine({"epochs": -1})
    assert exc.value.status == -3
    with pytest.raises(daas.InvalidConfigError, match="no_such_key"):
        daas.Engine({"no_such_key": 1})
    with pytest.raises(ValueError):  # the built-in catches it too
        daas.Engine("{not json")


def test_invalid_argument(engine):
    n_alpha, n_edges = engine.sizes
    with pytest.raises(daas.InvalidArgumentError) as exc:
        engine.step(np.zeros(n_alpha + 1, np.float32), np.zeros(n_edges, np.float32))
    assert exc.value.status == -2 and "n_alpha" in exc.value.message
    with pytest.raises(daas.InvalidArgumentError, match="epoch"):
        engine.set_epoch(0)


def test_corrupt_state():
    with pytest.raises(daas.CorruptStateError) as exc:
        daas.Engine.load(b"\x00" * 64)
    assert exc.value.status == -4


def test_numeric(engine):
    n_alpha, n_edges = engine.sizes
    g = np.zeros(n_edges, np.float32)
    g[5] = np.inf
    with pytest.raises(daas.NumericError) as exc:
        engine.step(np.zeros(n_alpha, np.float32), g)
    assert exc.value.status == -6 and "5" in exc.value.message
