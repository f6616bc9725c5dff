"""Every daas_status maps to its exception class, and calls raise them."""

from __future__ import annotations

import pickle
import re

import numpy as np
import pytest

import daas
from daas import errors
from conftest import REPO

# include/daas.h is the source of the status codes: every number below comes from it.
HEADER_CODES = {
    name: int(value)
    for name, value in re.findall(r"^#define (DAAS_OK|DAAS_E_\w+)[ \t]+(-?\d+)\b",
                                  (REPO / "include" / "daas.h").read_text(), re.M)
}

# The Python side's own choices: each status's class and the built-in it also inherits.
TABLE = [
    ("DAAS_E_INTERNAL", daas.InternalError, RuntimeError),
    ("DAAS_E_INVALID_ARGUMENT", daas.InvalidArgumentError, ValueError),
    ("DAAS_E_INVALID_CONFIG", daas.InvalidConfigError, ValueError),
    ("DAAS_E_CORRUPT_STATE", daas.CorruptStateError, ValueError),
    ("DAAS_E_VERSION_MISMATCH", daas.VersionMismatchError, RuntimeError),
    ("DAAS_E_NUMERIC", daas.NumericError, RuntimeError),
    ("DAAS_E_DEVICE", daas.DeviceError, RuntimeError),
    ("DAAS_E_IO", daas.DaasIOError, RuntimeError),
]


def test_table_covers_every_status_in_the_header():
    assert HEADER_CODES.get("DAAS_OK") == 0
    errors_in_header = {name for name in HEADER_CODES if name != "DAAS_OK"}
    assert {name for name, _, _ in TABLE} == errors_in_header, "a DAAS_E_* code needs its exception class"
    assert set(errors.STATUS_CODES) == {HEADER_CODES[name] for name in errors_in_header}


def test_constants_match_the_header():
    # errors.OK, errors.E_INTERNAL, ... are DAAS_OK, DAAS_E_INTERNAL, ... with the header's values.
    constants = {name: getattr(errors, name) for name in dir(errors) if re.fullmatch(r"OK|E_[A-Z0-9_]+", name)}
    assert constants == {name[len("DAAS_"):]: value for name, value in HEADER_CODES.items()}


def test_docstrings_name_the_header_status():
    for status, cls in errors.STATUS_CODES.items():
        name = next(n for n, v in HEADER_CODES.items() if v == status)
        assert (cls.__doc__ or "").startswith(f"{name} ({status}): "), cls
    # the module's table: class, status, the built-in it also inherits
    rows = re.findall(r"^(\w+)\s+(-\d+)\s+(RuntimeError|ValueError)\b", errors.__doc__ or "", re.M)
    assert len(rows) == len(errors.STATUS_CODES)
    for cls_name, status, builtin in rows:
        cls = errors.STATUS_CODES[int(status)]
        assert cls.__name__ == cls_name and issubclass(cls, {"RuntimeError": RuntimeError, "ValueError": ValueError}[builtin])


@pytest.mark.parametrize("name,cls,builtin", TABLE, ids=[t[0] for t in TABLE])
def test_status_maps_to_its_class(name, cls, builtin):
    status = HEADER_CODES[name]
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
    for _, cls, builtin in TABLE:
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
    assert info.value.status == HEADER_CODES["DAAS_E_DEVICE"] and isinstance(info.value, RuntimeError)


def test_invalid_config_names_the_key():
    with pytest.raises(daas.InvalidConfigError, match="epochs") as exc:
        daas.Engine({"epochs": -1})
    assert exc.value.status == HEADER_CODES["DAAS_E_INVALID_CONFIG"]
    with pytest.raises(daas.InvalidConfigError, match="no_such_key"):
        daas.Engine({"no_such_key": 1})
    with pytest.raises(ValueError):  # the built-in catches it too
        daas.Engine("{not json")


def test_invalid_argument(engine):
    n_alpha, n_edges = engine.sizes
    with pytest.raises(daas.InvalidArgumentError) as exc:
        engine.step(np.zeros(n_alpha + 1, np.float32), np.zeros(n_edges, np.float32))
    assert exc.value.status == HEADER_CODES["DAAS_E_INVALID_ARGUMENT"] and "n_alpha" in exc.value.message
    with pytest.raises(daas.InvalidArgumentError, match="epoch"):
        engine.set_epoch(0)


def test_corrupt_state():
    with pytest.raises(daas.CorruptStateError) as exc:
        daas.Engine.load(b"\x00" * 64)
    assert exc.value.status == HEADER_CODES["DAAS_E_CORRUPT_STATE"]


def test_numeric(engine):
    n_alpha, n_edges = engine.sizes
    g = np.zeros(n_edges, np.float32)
    g[5] = np.inf
    with pytest.raises(daas.NumericError) as exc:
        engine.step(np.zeros(n_alpha, np.float32), g)
    assert exc.value.status == HEADER_CODES["DAAS_E_NUMERIC"] and "5" in exc.value.message
