"""Shared fixtures for the daas Python tests.

The tests run against the library named by DAAS_LIBRARY (the Makefile's pytest target points it at
build/libdaas.so) or, failing that, the package's own lookup. They need it: a missing library is a
failure, not a skip.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import numpy as np
import pytest

HERE = Path(__file__).resolve().parent
PKG_ROOT = HERE.parent  # bindings/python
REPO = PKG_ROOT.parent.parent
if str(PKG_ROOT) not in sys.path:
    sys.path.insert(0, str(PKG_ROOT))

import daas  # noqa: E402

# A short schedule so every phase happens within a few epochs: λα starts at epoch 3, α's learning
# rate at epoch 3, λc ramps linearly over 5 epochs.
SMALL = {
    "epochs": 5,
    "seed": 7,
    "optimizer": {"alpha_start_epoch": 3},
    "loss": {"lambda_alpha": {"type": "log", "scale": 1, "delay": 3}},
}

# Spaces covering every layout rule: presets, imbalanced keep with a keep-all node, a discard list.
CUSTOM_SPACE = {
    "ops": ["none", "skip_connect", "conv_3x3", "avg_pool_3x3"],
    "discard": ["none"],
    "cells": [
        {"name": "first", "inputs": 2, "nodes": 3, "keep": [1, 3, 2]},
        {"name": "second", "inputs": 1, "nodes": 3, "keep": 1},
    ],
}
SPACES = ["darts", "darts-none", "nb201", CUSTOM_SPACE]
SPACE_IDS = ["darts", "darts-none", "nb201", "custom"]


@pytest.fixture
def small_config():
    return dict(SMALL)


@pytest.fixture
def engine(small_config):
    with daas.Engine(small_config) as eng:
        yield eng


@pytest.fixture
def rng():
    return np.random.default_rng(1234)


def random_grads(eng: "daas.Engine", rng: np.random.Generator, scale: float = 1.0):
    n_alpha, n_edges = eng.sizes
    return (
        (scale * rng.standard_normal(n_alpha)).astype(np.float32),
        (scale * rng.standard_normal(n_edges)).astype(np.float32),
    )


def library_file() -> str:
    return os.environ.get("DAAS_LIBRARY") or daas.library_path()
