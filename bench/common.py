"""Shared pieces of the Python benchmarks: machine description, timing (median of repeats), the
scaled spaces the Go benchmarks use (the darts cell types repeated FACTOR times), JSON output."""

from __future__ import annotations

import json
import os
import platform
import statistics
import sys
import time
from typing import Any, Callable, Dict, List

FACTORS = (1, 10, 100, 1000)


def scaled_space(factor: int) -> Dict[str, Any]:
    """The space of engine/bench_test.go's scaledSpace: the darts preset's cell types repeated ``factor``
    times under distinct names (the preset as the engine gives it, so nothing here repeats its ops)."""
    import daas

    with daas.Engine({"space": "darts"}) as eng:
        darts = eng.config["space"]
    cells = [dict(c, name=f"{c['name']}{i}") for i in range(factor) for c in darts["cells"]]
    return {"ops": darts["ops"], "discard": darts["discard"], "cells": cells}


def bench_config(factor: int) -> Dict[str, Any]:
    return {"space": scaled_space(factor) if factor > 1 else "darts"}


BENCH_EPOCH = 20  # as the Go benchmarks: alpha's learning rate and every loss term are on


def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def machine() -> Dict[str, Any]:
    return {"cpu": cpu_model(), "cores": os.cpu_count(), "os": platform.platform(),
            "python": platform.python_version()}


def grads(n: int, mod: int, scale: float = 1e-3):
    """Deterministic gradients as the Go benchmarks' (i % mod) * 1e-3."""
    import numpy as np

    return (np.arange(n) % mod).astype(np.float32) * np.float32(scale)


def time_per_call(fn: Callable[[], Any], *, repeats: int = 5, target_s: float = 0.15,
                  max_iters: int = 200000) -> Dict[str, Any]:
    """Calls ``fn`` in ``repeats`` timed blocks of n calls (n sized so a block takes about
    ``target_s``); returns the median and the spread of the per-call means, in microseconds."""
    fn()
    t0 = time.perf_counter()
    fn()
    one = max(time.perf_counter() - t0, 1e-7)
    n = int(min(max_iters, max(3, target_s / one)))
    for _ in range(min(n, 50)):  # warm up
        fn()
    per: List[float] = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        for _ in range(n):
            fn()
        per.append((time.perf_counter() - t0) / n * 1e6)
    return {"median_us": statistics.median(per), "min_us": min(per), "max_us": max(per), "repeats": repeats,
            "calls_per_repeat": n}


def write_json(path: str, obj: Any) -> None:
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)  # (--out build/bench/... before make bench)
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        json.dump(obj, f, indent=2)
        f.write("\n")
    os.replace(tmp, path)


def command_line() -> str:
    return " ".join([os.path.basename(sys.executable)] + sys.argv)
