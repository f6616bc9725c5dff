"""kill_test.py - SIGKILL a checkpointing search at random moments and check nothing is lost.

    python reliability/kill_test.py [--kills 50] [--steps 8000] [--seed 1] [--json FILE]

Each trial runs kill_worker.py (a search through daas.Engine that writes its checkpoint with
save_file after every step) and kills it with SIGKILL at a random moment: sometimes during start-up,
mostly while it is stepping and saving. After each kill:
  * the checkpoint on disk loads (daas.Engine.load(path), i.e. daas_engine_load_file), unless the
    worker died before its first save;
  * it is never behind the previous checkpoint;
  * its bytes are exactly the state of an uninterrupted run after the same number of steps (an
    in-process reference engine fed the same gradients is moved forward to compare);
and then the worker is started again and resumes from it. When the worker completes a trial, its
final state must equal the uninterrupted run's final state byte for byte. Trials continue until
--kills kills have happened; the last trial is then run to completion. Exit status 0 on success.
"""
from __future__ import annotations

import argparse
import glob
import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import daas  # noqa: E402
import kill_worker  # noqa: E402


def _mtime(path: str):
    try:
        return os.stat(path).st_mtime_ns
    except FileNotFoundError:
        return None


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--kills", type=int, default=50)
    ap.add_argument("--steps", type=int, default=1000, help="steps of one trial")
    ap.add_argument("--seed", type=int, default=1, help="seed of the kill times and of the first trial")
    ap.add_argument("--json", help="write the figures to this file")
    args = ap.parse_args()
    rnd = random.Random(args.seed)
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (HERE, env.get("PYTHONPATH", "")) if p)
    failures: list[str] = []
    kills = trials = before_first_save = leftover_tmp = 0
    resumed_steps: list[int] = []
    t0 = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="daas-kill-") as tmp:
        while True:
            trials += 1
            seed = args.seed * 1000 + trials
            ckpt = os.path.join(tmp, f"trial{trials}.ckpt")
            ref = daas.Engine(kill_worker.config(seed))
            last = 0
            while True:
                finish = kills >= args.kills
                proc = subprocess.Popen(
                    [sys.executable, os.path.join(HERE, "kill_worker.py"), ckpt, str(args.steps), str(seed)],
                    env=env,
                )
                if finish:
                    rc = proc.wait()
                    if rc != 0:
                        failures.append(f"trial {trials}: the final resumed run exited with {rc}")
                        break
                else:
                    # A fifth of the kills anywhere from the start (import, load included), the rest
                    # once the worker has written a new checkpoint (so it is stepping and saving),
                    # a random moment later.
                    if rnd.random() < 0.2:
                        delay = rnd.uniform(0.0, 0.3)
                    else:
                        delay = rnd.uniform(0.0, 0.05)
                        before = _mtime(ckpt)
                        while _mtime(ckpt) == before and proc.poll() is None:
                            time.sleep(0.002)
                    try:
                        rc = proc.wait(timeout=delay)
                    except subprocess.TimeoutExpired:
                        proc.send_signal(signal.SIGKILL)
                        proc.wait()
                        rc = None
                if rc is None:
                    kills += 1
                if not os.path.exists(ckpt):
                    before_first_save += 1
                    if rc == 0:
                        failures.append(f"trial {trials}: completed without a checkpoint")
                        break
                    continue
                with open(ckpt, "rb") as f:
                    on_disk = f.read()
                try:
                    loaded = daas.Engine.load(ckpt)
                except daas.DaasError as exc:
                    failures.append(f"trial {trials}, kill {kills}: the checkpoint does not load: {exc}")
                    break
                with loaded:
                    step = int(loaded.metrics()["step"])
                    if loaded.save() != on_disk:
                        failures.append(f"trial {trials}, kill {kills}: save() of the loaded state differs from the file")
                if step < last:
                    failures.append(f"trial {trials}, kill {kills}: checkpoint went back from step {last} to {step}")
                    break
                kill_worker.advance(ref, seed, args.steps, step, None)
                if ref.save() != on_disk:
                    failures.append(f"trial {trials}, kill {kills}: checkpoint at step {step} differs from the uninterrupted run")
                    break
                if rc is None:
                    resumed_steps.append(step)
                last = step
                if rc == 0:
                    if step != args.steps:
                        failures.append(f"trial {trials}: completed at step {step}, want {args.steps}")
                    break
                if rc is not None:
                    failures.append(f"trial {trials}: the worker exited with {rc}")
                    break
            # A killed save leaves its temporary file; the next successful save of the same path
            # removes those of dead processes, so none is left once a trial has run to its end.
            left = glob.glob(os.path.join(tmp, f".trial{trials}.ckpt.*.tmp"))
            leftover_tmp += len(left)
            if left and rc == 0 and not failures:
                failures.append(f"trial {trials}: temporary files left after the run completed: {left}")
            ref.close()
            if failures or kills >= args.kills and finish:
                break
    figures = {
        "kills": kills,
        "trials": trials,
        "steps_per_trial": args.steps,
        "killed_before_first_save": before_first_save,
        "distinct_resume_steps": len(set(resumed_steps)),
        "leftover_temp_files": leftover_tmp,
        "final_state_identical": not failures,
        "seconds": round(time.monotonic() - t0, 1),
        "failures": failures,
    }
    print("kill test: " + json.dumps(figures))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(figures, f, indent=1)
    if kills < args.kills and not failures:
        print(f"FAIL: only {kills} kills", file=sys.stderr)
        return 1
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
