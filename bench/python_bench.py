"""Python per-step cost of daas: Engine.weights(out=...) + Engine.step(...) with numpy arrays and with
CPU torch tensors, next to the same two C calls made through a bare ctypes binding (no checks, pointers
computed once), so the difference is what the Python wrapper adds. Also: where the wrapper's time goes
(the pieces of engine.py's call path timed one by one), and a trivial call.

    python bench/python_bench.py --out FILE"""

from __future__ import annotations

import argparse
import ctypes
import os
import sys
import threading
from typing import Any, Dict

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import (BENCH_EPOCH, FACTORS, bench_config, command_line, grads, machine, time_per_call,  # noqa: E402
                    write_json)


def bare_library(path: str) -> ctypes.CDLL:
    """A second handle on libdaas.so with plain pointer arguments and no errcheck: the floor of a
    ctypes call."""
    lib = ctypes.CDLL(path)
    vp, sz = ctypes.c_void_p, ctypes.c_size_t
    lib.daas_engine_get_weights.argtypes = [vp, vp, sz, vp, sz]
    lib.daas_engine_get_weights.restype = ctypes.c_int32
    lib.daas_engine_step.argtypes = [vp, vp, sz, vp, sz]
    lib.daas_engine_step.restype = ctypes.c_int32
    lib.daas_engine_epoch.argtypes = [vp, vp]
    lib.daas_engine_epoch.restype = ctypes.c_int32
    return lib


def measure(factor: int, repeats: int, with_torch: bool) -> Dict[str, Any]:
    import daas
    from daas import _library

    eng = daas.Engine(bench_config(factor))
    eng.set_epoch(BENCH_EPOCH)
    n_a, n_e = eng.sizes
    ga, ge = grads(n_a, 7), grads(n_e, 5)
    op, edge = np.empty(n_a, np.float32), np.empty(n_e, np.float32)
    bare = bare_library(_library.path())
    h = ctypes.cast(eng._handle, ctypes.c_void_p).value
    p_op, p_edge, p_ga, p_ge = (a.ctypes.data for a in (op, edge, ga, ge))
    ep = ctypes.c_int32()
    p_ep = ctypes.addressof(ep)
    gw, st, epc = bare.daas_engine_get_weights, bare.daas_engine_step, bare.daas_engine_epoch

    def raw_pair() -> None:
        if gw(h, p_op, n_a, p_edge, n_e) or st(h, p_ga, n_a, p_ge, n_e):
            raise RuntimeError("daas call failed")

    def pair_np() -> None:
        eng.weights(out=(op, edge))
        eng.step(ga, ge)

    fns = {"raw_weights": lambda: gw(h, p_op, n_a, p_edge, n_e), "raw_step": lambda: st(h, p_ga, n_a, p_ge, n_e),
           "raw_pair": raw_pair, "engine_weights_numpy": lambda: eng.weights(out=(op, edge)),
           "engine_step_numpy": lambda: eng.step(ga, ge), "engine_pair_numpy": pair_np}
    if with_torch:
        import torch

        top, tedge = torch.empty(n_a), torch.empty(n_e)
        tga, tge = torch.from_numpy(ga.copy()), torch.from_numpy(ge.copy())

        def pair_torch() -> None:
            eng.weights(out=(top, tedge))
            eng.step(tga, tge)

        fns["engine_pair_torch"] = pair_torch
    if factor == 1:
        fns["raw_trivial_epoch"] = lambda: epc(h, p_ep)
        fns["engine_trivial_epoch"] = lambda: eng.epoch
    # the measures take turns, repeat after repeat, so a change in the machine's load hits them alike
    runs: Dict[str, list] = {k: [] for k in fns}
    for _ in range(repeats):
        for k, fn in fns.items():
            runs[k].append(time_per_call(fn, repeats=1, target_s=0.05)["median_us"])
    res: Dict[str, Any] = {"factor": factor, "n_alpha": n_a, "n_edges": n_e}
    for k, v in runs.items():
        res[k] = {"median_us": float(np.median(v)), "min_us": min(v), "max_us": max(v), "repeats": repeats}
    if factor == 1:
        res["wrapper_pieces"] = pieces(eng, op, ga, repeats)
    res["wrapper_adds_us"] = res["engine_pair_numpy"]["median_us"] - res["raw_pair"]["median_us"]
    eng.close()
    return res


def pieces(eng: Any, arr: np.ndarray, grad: np.ndarray, repeats: int) -> Dict[str, float]:
    """The steps of engine.py's call path, each timed alone (median us per call)."""
    from daas import _library
    from daas.engine import _fast_address, _input_buffer, _output_buffer

    lib = _library.get()
    lock = threading.Lock()
    addr = arr.ctypes.data
    n_a, n_e = eng.sizes
    h = eng._handle
    ep = ctypes.c_int32()
    t = lambda fn: time_per_call(fn, repeats=repeats, target_s=0.05)["median_us"]  # noqa: E731

    def locked() -> None:
        with lock:
            pass

    declared_epoch = lib.daas_engine_epoch
    return {
        "numpy .ctypes.data": t(lambda: arr.ctypes.data),
        "numpy __array_interface__['data'][0]": t(lambda: arr.__array_interface__["data"][0]),
        "c_char.from_buffer address": t(lambda: ctypes.addressof(ctypes.c_char.from_buffer(arr))),
        "_fast_address(numpy)": t(lambda: _fast_address(arr)),
        "_output_buffer(numpy)": t(lambda: _output_buffer(arr, "x")),
        "_input_buffer(numpy)": t(lambda: _input_buffer(grad, "x")),
        "_library.get() (pid check)": t(_library.get),
        "os.getpid()": t(os.getpid),
        "with threading.Lock()": t(locked),
        "Engine._open (lock held)": t(eng._open),
        "declared call + errcheck (epoch)": t(lambda: declared_epoch(h, ctypes.byref(ep))),
        "Engine.sizes property": t(lambda: eng.sizes),
        "declared get_weights with int addresses": t(lambda: lib.daas_engine_get_weights(h, addr, n_a, addr, n_e)),
    }


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", required=True)
    ap.add_argument("--repeats", type=int, default=7)
    ap.add_argument("--factors", default=",".join(map(str, FACTORS)))
    args = ap.parse_args()
    try:
        import torch

        torch.set_num_threads(1)
        with_torch = True
    except ImportError:
        with_torch = False
    rows = []
    for f in (int(x) for x in args.factors.split(",")):
        r = measure(f, args.repeats, with_torch)
        rows.append(r)
        line = (f"x{f:<5d} raw C pair {r['raw_pair']['median_us']:9.2f} us; Engine weights+step numpy "
                f"{r['engine_pair_numpy']['median_us']:9.2f} us")
        if with_torch:
            line += f", torch {r['engine_pair_torch']['median_us']:9.2f} us"
        print(line + f"; wrapper adds {r['wrapper_adds_us']:.2f} us", flush=True)
    write_json(args.out, {"what": "Python per-step cost (median of repeats, us per call)", "rows": rows,
                          "machine": machine(), "command": command_line()})
    return 0


if __name__ == "__main__":
    sys.exit(main())
