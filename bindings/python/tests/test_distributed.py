"""Data-parallel search on torch.distributed (gloo, CPU): one architecture on every rank.

Two kinds of processes, never a forked child using daas: ranks started by ``torchrun`` (this file is
also their program, see :func:`_rank_program`, which runs ``daas.torch.search.main`` with spies on
what a rank writes and calls) and ranks started with ``torch.multiprocessing``'s ``spawn``. Every
test bounds its processes by a deadline and kills them past it, so nothing can hang.
"""

from __future__ import annotations

import datetime
import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Dict, List

import numpy as np
import pytest
import torch

HERE = Path(__file__).resolve().parent
PKG_ROOT = HERE.parent
if str(PKG_ROOT) not in sys.path:
    sys.path.insert(0, str(PKG_ROOT))

import daas  # noqa: E402
from daas.torch import distributed as dist  # noqa: E402
from daas.torch import search as search_mod  # noqa: E402
from daas.torch.data import Batches, load_digits  # noqa: E402

torch.set_num_threads(1)

RUN = "tiny-daas"
DEADLINE_S = 150  # per torchrun; a 2-rank tiny search takes ~15 s on two shared cores


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> List[str]:
    """The search's flags on tiny.npz: 64 + 64 digits to search on (4 steps of 16 per epoch), 32 to
    test on (a short evaluation; no scikit-learn import in every rank)."""
    from sklearn.datasets import load_digits as sk_digits

    d = sk_digits()
    path = tmp_path_factory.mktemp("data") / "tiny.npz"
    np.savez(path, x=d.images[:128], y=d.target[:128], x_test=d.images[128:160], y_test=d.target[128:160])
    return ["--epochs", "2", "--data", str(path), "--batch-size", "16", "--C", "2", "--layers", "2",
            "--methods", "daas", "--retrain-epochs", "0", "--no-progress"]


# ---------------------------------------------------------------------------------------------
# Running ranks


def _descendants(pid: int) -> List[int]:
    children: Dict[int, List[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as f:
                    ppid = int(f.read().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(ppid, []).append(int(entry))
    out, todo = [], [pid]
    while todo:
        for c in children.get(todo.pop(), []):
            out.append(c)
            todo.append(c)
    return out


def _kill_tree(pid: int) -> None:
    """SIGKILL ``pid`` (a torchrun this test started) and every process under it."""
    for p in [*_descendants(pid), pid]:
        try:
            os.kill(p, signal.SIGKILL)
        except ProcessLookupError:
            pass


def torchrun(nproc: int, args: List[str], logs: Path, **env: str) -> subprocess.CompletedProcess:
    """``torchrun --standalone --nproc-per-node nproc`` of this file's rank program with ``args``;
    each rank writes what it saw to ``logs/rank<r>.json``. Killed with all its ranks past the deadline
    (a failure, never a hang)."""
    logs.mkdir(parents=True, exist_ok=True)
    full_env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(PKG_ROOT), os.environ.get("PYTHONPATH", "")]),
                "DAAS_TEST_LOGS": str(logs), "OMP_NUM_THREADS": "1", **env}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc-per-node={nproc}",
           "--monitor-interval=0.2", str(Path(__file__).resolve()), *args]
    proc = subprocess.Popen(cmd, env=full_env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        out, err = proc.communicate(timeout=DEADLINE_S)
    except subprocess.TimeoutExpired:
        _kill_tree(proc.pid)
        out, err = proc.communicate()
        pytest.fail(f"torchrun of {nproc} ranks ran past {DEADLINE_S} s (killed):\n{out[-3000:]}\n{err[-3000:]}")
    return subprocess.CompletedProcess(cmd, proc.returncode, out, err)


def _no_plots(search_module: Any, setattr_: Any = setattr) -> None:
    """The run folders' plots and cell diagram left out (tests/test_torch_search.py checks them): most
    of a tiny run's time on rank 0."""
    import daas.plots
    import daas.torch.plots

    setattr_(daas.torch.plots, "plot_all", lambda *a, **k: [])
    setattr_(daas.plots, "plot_state", lambda *a, **k: [])
    setattr_(search_module, "_draw_cells", lambda genotype, out_dir, *a: os.path.join(out_dir, "cells.svg"))


def rank_logs(logs: Path, nproc: int) -> List[Dict[str, Any]]:
    return [json.loads((logs / f"rank{r}.json").read_text()) for r in range(nproc)]


def _rank_program(argv: List[str]) -> int:
    """One rank under torchrun: ``daas.torch.search.main(argv)`` with spies. Records every file it
    opens for writing, every daas.write_file / Engine.save_file / torch.save / mkdir, Python-level
    forks, whether libdaas was already mapped when the rank started (it would be in a forked child),
    and saves the final engine state of each search to ``rank<r>.daas``. Environment knobs:
    DAAS_TEST_PERTURB=rank:call adds a tiny error to that rank's call-th Engine.step gradients;
    DAAS_TEST_STOP_AT=epoch stops every rank (after a barrier) when the search reaches that epoch."""
    import builtins

    real_open = builtins.open
    r = int(os.environ.get("RANK", "0"))
    logs = Path(os.environ["DAAS_TEST_LOGS"])
    with real_open("/proc/self/maps") as f:
        mapped = "libdaas" in f.read()
    seen: Dict[str, Any] = {"rank": r, "pid": os.getpid(), "libdaas_at_start": mapped, "opened_for_writing": [],
                            "daas_writes": [], "mkdirs": [], "forks": 0, "engine_steps": 0}

    def count_fork() -> None:
        seen["forks"] += 1

    os.register_at_fork(before=count_fork)

    def spy_open(file: Any, mode: str = "r", *a: Any, **k: Any) -> Any:
        if isinstance(file, (str, os.PathLike)) and any(c in mode for c in "wax+"):
            seen["opened_for_writing"].append(os.fspath(file))
        return real_open(file, mode, *a, **k)

    builtins.open = spy_open
    real_write, real_save_file, real_mkdir = daas.write_file, daas.Engine.save_file, os.mkdir
    real_torch_save = torch.save

    def write_file(path: Any, data: Any) -> None:
        seen["daas_writes"].append(os.fspath(path))
        real_write(path, data)

    def save_file(self: Any, path: Any) -> None:
        seen["daas_writes"].append(os.fspath(path))
        real_save_file(self, path)

    def mkdir(path: Any, *a: Any, **k: Any) -> None:
        seen["mkdirs"].append(os.fspath(path))
        real_mkdir(path, *a, **k)

    def torch_save(obj: Any, f: Any, *a: Any, **k: Any) -> None:
        if isinstance(f, (str, os.PathLike)):
            seen["opened_for_writing"].append(os.fspath(f))
        real_torch_save(obj, f, *a, **k)

    daas.write_file, daas.Engine.save_file, os.mkdir, torch.save = write_file, save_file, mkdir, torch_save

    real_step, real_set_epoch = daas.Engine.step, daas.Engine.set_epoch
    perturb = os.environ.get("DAAS_TEST_PERTURB")
    stop_at = int(os.environ.get("DAAS_TEST_STOP_AT", "0"))

    def step(self: Any, g_op: Any, g_edge: Any) -> None:
        seen["engine_steps"] += 1
        if perturb is not None and tuple(map(int, perturb.split(":"))) == (r, seen["engine_steps"]):
            g_op, g_edge = np.array(g_op, copy=True), np.array(g_edge, copy=True)
            for g in (g_op, g_edge):
                g[0] += max(abs(float(g[0])) * 1e-3, 1e-6)
        real_step(self, g_op, g_edge)

    def set_epoch(self: Any, epoch: int) -> None:
        if epoch == stop_at:
            torch.distributed.barrier()  # rank 0 has written the last checkpoint
            raise SystemExit(3)
        real_set_epoch(self, epoch)

    daas.Engine.step, daas.Engine.set_epoch = step, set_epoch

    real_search = search_mod.search

    def search(engine: Any, *a: Any, **k: Any) -> Any:
        result = real_search(engine, *a, **k)
        with real_open(logs / f"rank{r}.daas", "wb") as f:
            f.write(engine.save())
        seen["result"] = {"world_size": result.world_size, "backend": result.backend, "digest": result.digest,
                          "agreement": result.agreement}
        return result

    search_mod.search = search
    _no_plots(search_mod)
    from daas import _library

    try:
        return search_mod.main(argv)
    finally:
        seen["library_pid_is_mine"] = _library._pid in (None, os.getpid())
        with real_open(logs / f"rank{r}.json", "w") as f:
            json.dump(seen, f)


def _digest(data: bytes) -> str:
    return hashlib.sha256(data).digest()[:16].hex()


# ---------------------------------------------------------------------------------------------
# The shards (no processes)


def test_sharded_batches_on_one_rank_are_batches() -> None:
    data = load_digits(50, 40, seed=3)
    ref = Batches(data.train, 16, seed=5)
    got = dist.ShardedBatches(data.train, 16, seed=5, rank=0, world_size=1)
    assert len(got) == len(ref) == 4  # 16, 16, 16 and a last batch of 2
    passes = [[(x.clone(), y.clone()) for x, y in ref] for _ in range(3)]
    for epoch in (3, 1, 2):  # any epoch, in any order: a function of the seed and the epoch
        got.set_epoch(epoch)
        for (xa, ya), (xb, yb) in zip(passes[epoch - 1], got, strict=True):
            assert torch.equal(xa, xb) and torch.equal(ya, yb)


@pytest.mark.parametrize("world", [2, 3, 5])
def test_shards_cover_each_global_batch(world: int) -> None:
    data = load_digits(50, 40, seed=3)
    whole = dist.ShardedBatches(data.train, 16, seed=5, rank=0, world_size=1)
    parts = [dist.ShardedBatches(data.train, 16, seed=5, rank=r, world_size=world) for r in range(world)]
    assert all(len(p) == len(whole) for p in parts)  # the steps per epoch do not depend on the world
    for p in (whole, *parts):
        p.set_epoch(2)
    for (xg, yg), *shards in zip(whole, *parts, strict=True):
        per = -(-len(yg) // world)
        assert all(len(y) == per for _, y in shards)  # every rank as many examples
        padded = torch.cat([yg, yg.repeat(world)])[:per * world]
        assert torch.equal(torch.cat([y for _, y in shards]), padded)
        assert torch.equal(torch.cat([x for x, _ in shards]), torch.cat([xg, xg.repeat(world, 1, 1, 1)])[:per * world])
    assert torch.equal(dist.shard(torch.arange(5), 2, 3), torch.tensor([4, 0]))
    with pytest.raises(ValueError, match="rank 3 is not in a world of 3"):
        dist.shard(torch.arange(5), 3, 3)


# ---------------------------------------------------------------------------------------------
# The collectives, two spawned ranks


def _collectives_rank(r: int, store: str) -> None:
    """Rank ``r`` of the spawned pair (a fresh interpreter: spawn, not fork)."""
    torch.set_num_threads(1)
    with open("/proc/self/maps") as f:
        assert "libdaas" not in f.read(), "a rank inherited libdaas: it was forked"
    torch.distributed.init_process_group("gloo", init_method=f"file://{store}", rank=r, world_size=2,
                                         timeout=datetime.timedelta(seconds=60))
    try:
        # Plain tensors: rank-dependent gradients become their mean on both ranks, in place.
        a = torch.zeros(3, requires_grad=True)
        b = torch.zeros(2, 2, requires_grad=True)
        a.grad = torch.tensor([1.0, 2.0, 3.0]) * (r + 1)
        b.grad = torch.full((2, 2), 10.0 * r)
        grad_b = b.grad
        dist.reduce_architecture_gradients([a, b])
        assert torch.equal(a.grad, torch.tensor([1.5, 3.0, 4.5])) and torch.equal(b.grad, torch.full((2, 2), 5.0))
        assert b.grad is grad_b  # in place
        with pytest.raises(RuntimeError, match="tensor 0 has no .grad"):
            dist.reduce_architecture_gradients([torch.zeros(2, requires_grad=True)])

        # An ArchitectureOptimizer: the mean of both ranks' gradients, then the same step on both.
        from daas.torch.optim import ArchitectureOptimizer

        with daas.Engine({"space": "nb201", "epochs": 3, "seed": 1}) as eng:
            arch = ArchitectureOptimizer(eng)
            rng = np.random.default_rng(r)
            g_op = torch.from_numpy(rng.standard_normal(arch.op_weights.numel()).astype(np.float32))
            g_edge = torch.from_numpy(rng.standard_normal(arch.edge_weights.numel()).astype(np.float32))
            arch.op_weights.grad, arch.edge_weights.grad = g_op.clone(), g_edge.clone()
            mine = torch.cat([g_op, g_edge])
            both = [torch.empty_like(mine) for _ in range(2)]
            torch.distributed.all_gather(both, mine)
            dist.reduce_architecture_gradients(arch)
            assert torch.equal(torch.cat([arch.op_weights.grad, arch.edge_weights.grad]), (both[0] + both[1]) / 2)
            eng.set_epoch(1)
            arch.step()
            digest = dist.check_agreement(eng, 1)
            assert digest == dist.state_digest(eng).hex() and len(digest) == 32
            # Rank 1 takes one step of its own: both ranks raise, naming rank 1 and the epoch.
            if r == 1:
                arch.op_weights.grad.fill_(0.5)
                arch.step()
            with pytest.raises(dist.ArchitectureDisagreement,
                               match=f"rank 1 disagrees with rank 0 on the architecture after epoch 1 .*this is rank {r}"
                               ) as info:
                dist.check_agreement(arch, 1)
            assert info.value.ranks == [1] and info.value.epoch == 1 and info.value.digests[r] == dist.state_digest(eng).hex()
    finally:
        torch.distributed.destroy_process_group()


def test_reduce_and_agreement_on_two_spawned_ranks(tmp_path: Path) -> None:
    import torch.multiprocessing as mp

    ctx = mp.start_processes(_collectives_rank, args=(str(tmp_path / "store"),), nprocs=2, join=False,
                             start_method="spawn")
    deadline = time.monotonic() + 90
    try:
        while not ctx.join(timeout=1):
            if time.monotonic() > deadline:
                pytest.fail("the spawned ranks ran past 90 s")
    finally:
        for p in ctx.processes:
            if p.is_alive():
                p.kill()


def test_helpers_are_no_ops_without_a_process_group() -> None:
    a = torch.zeros(2, requires_grad=True)
    a.grad = torch.tensor([1.0, 2.0])
    dist.reduce_architecture_gradients(a)
    assert torch.equal(a.grad, torch.tensor([1.0, 2.0]))
    with daas.Engine({"space": "nb201", "epochs": 2}) as eng:
        assert dist.check_agreement(eng, 0) == _digest(eng.save())
    assert dist.rank() == 0 and dist.world_size() == 1


def test_environment_is_read_from_torchrun_variables(monkeypatch) -> None:
    for k in ("RANK", "WORLD_SIZE", "LOCAL_RANK"):
        monkeypatch.delenv(k, raising=False)
    assert dist.environment() is None
    monkeypatch.setenv("WORLD_SIZE", "4")
    monkeypatch.setenv("RANK", "2")
    monkeypatch.setenv("LOCAL_RANK", "0")
    assert dist.environment() == (2, 4, 0)
    monkeypatch.setenv("RANK", "4")
    with pytest.raises(ValueError, match="RANK=4, WORLD_SIZE=4"):
        dist.environment()


# ---------------------------------------------------------------------------------------------
# The command line under torchrun


def _check_written_by_rank0_only(seen: List[Dict[str, Any]], out: Path) -> None:
    for s in seen:
        assert not s["libdaas_at_start"], f"rank {s['rank']} started with libdaas mapped: forked from a daas process"
        assert s["forks"] == 0 and s["library_pid_is_mine"], s
    assert seen[0]["daas_writes"], "rank 0 wrote the run"
    assert any(p.endswith("state.daas") for p in seen[0]["daas_writes"])
    for s in seen[1:]:  # (PyTorch itself may make its cache folders in /tmp: not the run's business)
        assert s["daas_writes"] == [], s
        assert not any(str(out) in p for p in s["mkdirs"] + s["opened_for_writing"]), s


@pytest.fixture(scope="module")
def two_rank_run(tmp_path_factory: pytest.TempPathFactory, tiny: List[str]):
    """A whole 2-rank search: (run folder, logs folder, torchrun's result)."""
    tmp = tmp_path_factory.mktemp("two-ranks")
    out, logs = tmp / "runs", tmp / "logs"
    return out, logs, torchrun(2, [*tiny, "--out", str(out)], logs)


def test_two_ranks_search_one_architecture(two_rank_run) -> None:
    out, logs, proc = two_rank_run
    assert proc.returncode == 0, proc.stderr[-4000:]
    seen = rank_logs(logs, 2)
    final = [(logs / f"rank{r}.daas").read_bytes() for r in range(2)]
    state = (out / RUN / "state.daas").read_bytes()
    assert final[0] == final[1] == state  # the same engine state, to the bit, on both ranks and on disk
    report = json.loads((out / RUN / "report.json").read_text())
    assert report["world_size"] == 2 and report["backend"] == "gloo" and report["batch_per_rank"] == 8
    assert report["agreement"] == {"epochs_checked": 2, "digest": _digest(state), "ranks": [0, 1]}
    assert report["steps_per_epoch"] == 4 and report["steps"] == 8 and report["allreduce_ms_per_step"] > 0
    history = json.loads((out / RUN / "history.json").read_text())
    assert [h["epoch"] for h in history] == [0, 1, 2] and history[-1]["digest"] == _digest(state)
    assert len({h["digest"] for h in history}) == 3 and all(h["world_size"] == 2 for h in history[1:])
    assert all(s["result"]["digest"] == _digest(state) for s in seen)
    assert all(s["engine_steps"] == 8 for s in seen)
    _check_written_by_rank0_only(seen, out)
    assert "2 ranks (gloo)" in proc.stdout and proc.stdout.count("supernet accuracy") == 1  # rank 0 prints
    # The checkpoint keeps the epoch, not generator states: it resumes on any number of ranks.
    ckpt = torch.load(out / RUN / "supernet.pt", weights_only=False)
    assert ckpt["resume_state"]["epoch"] == 2 and "generators" not in ckpt["resume_state"]


def test_a_disagreeing_rank_stops_every_rank(tmp_path: Path, tiny: List[str]) -> None:
    out, logs = tmp_path / "runs", tmp_path / "logs"
    t0 = time.monotonic()
    proc = torchrun(2, [*tiny, "--out", str(out)], logs, DAAS_TEST_PERTURB="1:2")  # epoch 1, step 2
    assert proc.returncode != 0
    assert time.monotonic() - t0 < DEADLINE_S
    for r in (0, 1):
        assert (f"rank 1 disagrees with rank 0 on the architecture after epoch 1 (state digests: rank 0 "
                in proc.stderr) and f"this is rank {r})" in proc.stderr, proc.stderr[-4000:]
    seen = rank_logs(logs, 2)
    assert [s["engine_steps"] for s in seen] == [4, 4]  # stopped at the end of the epoch it happened in
    assert not (out / RUN / "state.daas").exists()  # the disagreeing state never reached a checkpoint


def test_resume_a_two_rank_checkpoint_on_one_two_and_three_ranks(tmp_path: Path, tiny: List[str],
                                                                 two_rank_run, monkeypatch) -> None:
    out, logs = tmp_path / "runs", tmp_path / "logs"
    proc = torchrun(2, [*tiny, "--out", str(out)], logs, DAAS_TEST_STOP_AT="2")  # stopped after epoch 1
    assert proc.returncode != 0 and "supernet accuracy" not in proc.stdout
    assert daas.state.read(str(out / RUN / "state.daas")).epoch == 1
    _check_written_by_rank0_only(rank_logs(logs, 2), out)
    one, two, three = tmp_path / "one", tmp_path / "two", tmp_path / "three"
    for d in (one, two, three):
        shutil.copytree(out, d)

    # On two ranks again: the very search that was never stopped, to the bit.
    proc = torchrun(2, [*tiny, "--out", str(two), "--resume"], tmp_path / "logs2")
    assert proc.returncode == 0, proc.stderr[-4000:]
    assert (two / RUN / "state.daas").read_bytes() == (two_rank_run[0] / RUN / "state.daas").read_bytes()

    _no_plots(search_mod, monkeypatch.setattr)
    assert search_mod.main([*tiny, "--out", str(one), "--resume"]) == 0  # one process, no torchrun
    r1 = json.loads((one / RUN / "report.json").read_text())
    assert r1["world_size"] == 1 and r1["backend"] is None and r1["steps"] == 8
    assert r1["agreement"] == {"epochs_checked": 0, "digest": _digest((one / RUN / "state.daas").read_bytes()),
                               "ranks": [0]}

    proc = torchrun(3, [*tiny, "--out", str(three), "--resume"], tmp_path / "logs3")
    assert proc.returncode == 0, proc.stderr[-4000:]
    state = (three / RUN / "state.daas").read_bytes()
    seen = rank_logs(tmp_path / "logs3", 3)
    assert all((tmp_path / "logs3" / f"rank{r}.daas").read_bytes() == state for r in range(3))
    r3 = json.loads((three / RUN / "report.json").read_text())
    assert r3["world_size"] == 3 and r3["batch_per_rank"] == 6 and r3["steps"] == 8
    assert r3["agreement"] == {"epochs_checked": 1, "digest": _digest(state), "ranks": [0, 1, 2]}
    history = json.loads((three / RUN / "history.json").read_text())
    assert [h.get("world_size") for h in history] == [None, 2, 3]  # epoch 1 on two ranks, epoch 2 on three
    assert daas.state.read(str(three / RUN / "state.daas")).epoch == 2
    _check_written_by_rank0_only(seen, three)


def test_make_search_runs_torchrun_when_nproc_is_above_one() -> None:
    repo = PKG_ROOT.parent.parent
    assert shutil.which("make") is not None, "make is needed (the tests run under make pytest)"

    def command(*extra: str) -> str:
        out = subprocess.run(["make", "-n", "-C", str(repo), "search", "EPOCHS=2", *extra], capture_output=True,
                             text=True, timeout=60).stdout
        return " ".join(out.replace("\\\n", " ").split())

    assert "-m torch.distributed.run --standalone --nproc-per-node 3 -m daas.torch.search --epochs 2" in command("NPROC=3")
    for plain in (command(), command("NPROC=1")):
        assert "-m daas.cli search --epochs 2" in plain and "torch.distributed.run" not in plain


if __name__ == "__main__":  # a rank under torchrun (see torchrun() above)
    sys.exit(_rank_program(sys.argv[1:]))
