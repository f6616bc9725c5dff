"""Why is a daas call right after a stretch of PyTorch work slower than back to back? Times the first
(and second) call after different kinds of busy or idle stretches, and a non-Go C call and a small
numpy operation in the same spot for comparison (us, median and 90th percentile over trials).

    python bench/latency.py --out FILE"""

from __future__ import annotations

import argparse
import ctypes
import ctypes.util
import os
import statistics
import sys
import time
from typing import Any, Callable, Dict

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import command_line, grads, machine, write_json  # noqa: E402


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", required=True)
    ap.add_argument("--trials", type=int, default=40)
    ap.add_argument("--busy-ms", type=float, default=30)
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()
    import torch
    import daas

    torch.set_num_threads(args.threads)
    eng = daas.Engine()
    eng.set_epoch(20)
    n_a, n_e = eng.sizes
    op, edge = np.empty(n_a, np.float32), np.empty(n_e, np.float32)
    ga, ge = grads(n_a, 7), grads(n_e, 5)
    libm = ctypes.CDLL(ctypes.util.find_library("m"))
    libm.cos.argtypes, libm.cos.restype = [ctypes.c_double], ctypes.c_double
    conv = torch.nn.Conv2d(16, 16, 3, padding=1)
    x = torch.randn(64, 16, 8, 8)
    big = np.random.rand(4 << 20)  # 32 MB to sweep the caches

    def torch_busy() -> None:
        end = time.perf_counter() + args.busy_ms / 1e3
        while time.perf_counter() < end:
            conv(x).sum().backward()

    def python_busy() -> None:
        end = time.perf_counter() + args.busy_ms / 1e3
        while time.perf_counter() < end:
            pass

    def cache_sweep() -> None:
        end = time.perf_counter() + args.busy_ms / 1e3
        while time.perf_counter() < end:
            big.sum()

    def sleep() -> None:
        time.sleep(args.busy_ms / 1e3)

    def nothing() -> None:
        pass

    bare = ctypes.CDLL(daas._library.path())
    bare.daas_engine_epoch.argtypes = [ctypes.c_void_p, ctypes.c_void_p]
    bare.daas_engine_epoch.restype = ctypes.c_int32
    h = ctypes.cast(eng._handle, ctypes.c_void_p).value
    ep = ctypes.c_int32()
    p_ep = ctypes.addressof(ep)
    import threading

    lock = threading.Lock()

    def python_only() -> None:  # about the Python work of a wrapper call, no C call
        with lock:
            eng._open()
            op.dtype == np.float32 and op.flags.c_contiguous

    probes: Dict[str, Callable[[], Any]] = {
        "daas weights+step": lambda: (eng.weights(out=(op, edge)), eng.step(ga, ge)),
        "daas trivial call (epoch)": lambda: eng.epoch,
        "bare ctypes daas_engine_epoch": lambda: bare.daas_engine_epoch(h, p_ep),
        "libm cos via ctypes (no Go)": lambda: libm.cos(0.5),
        "Python only (lock, checks)": python_only,
        "numpy 196-element op": lambda: np.multiply(op, 1.0, out=op),
    }
    befores = {"back to back": nothing, "after PyTorch work": torch_busy, "after a Python busy loop": python_busy,
               "after sweeping 32 MB of memory": cache_sweep, "after sleeping": sleep}
    out: Dict[str, Any] = {}
    for bname, before in befores.items():
        for pname, probe in probes.items():
            first, second = [], []
            for _ in range(args.trials):
                before()
                t0 = time.perf_counter()
                probe()
                t1 = time.perf_counter()
                probe()
                t2 = time.perf_counter()
                first.append((t1 - t0) * 1e6)
                second.append((t2 - t1) * 1e6)
            q = lambda v: {"median_us": statistics.median(v), "p90_us": sorted(v)[int(0.9 * len(v))],  # noqa: E731
                           "max_us": max(v)}
            out.setdefault(bname, {})[pname] = {"first": q(first), "second": q(second)}
            print(f"{bname:32s} {pname:30s} first {statistics.median(first):9.1f} us (p90 {q(first)['p90_us']:9.1f})"
                  f"  second {statistics.median(second):7.1f} us", flush=True)
    # The Go-specific part: a call that does nothing (bare ctypes daas_engine_epoch) against libm's cos
    # after a spin of a given length in Python (this process runs nothing else; only time passes).
    gaps: Dict[str, Any] = {}
    pc = time.perf_counter
    for gap_us in (0, 20, 200, 2000, 20000):
        a, b = [], []
        for _ in range(2 * args.trials):
            for fn, acc in ((lambda: bare.daas_engine_epoch(h, p_ep), a), (lambda: libm.cos(0.5), b)):
                end = pc() + gap_us / 1e6
                while pc() < end:
                    pass
                t0 = pc()
                fn()
                acc.append((pc() - t0) * 1e6)
        gaps[str(gap_us)] = {"bare_daas_epoch_us": statistics.median(a), "libm_cos_us": statistics.median(b)}
        print(f"after spinning {gap_us:6d} us: bare daas_engine_epoch {statistics.median(a):7.1f} us, "
              f"libm cos {statistics.median(b):7.1f} us", flush=True)
    write_json(args.out, {"gap_sweep": gaps, "what": f"latency of one call after {args.busy_ms:g} ms of other work "
                                  f"(torch threads {args.threads}, GOMAXPROCS {os.environ.get('GOMAXPROCS', 'default')}, "
                                  f"GODEBUG {os.environ.get('GODEBUG', '')!r})",
                          "trials": args.trials, "results": out, "machine": machine(), "command": command_line()})
    eng.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
