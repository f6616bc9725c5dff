"""kill_worker.py - a search loop that checkpoints after every step, for the kill test.

    python kill_worker.py CHECKPOINT STEPS SEED [PAUSE]

Starts from CHECKPOINT when the file exists (resuming exactly where the last completed step left
off), otherwise from a new engine. Every step's gradients are a pure function of (SEED, step), so a
run that is killed and resumed any number of times must end in the same state, byte for byte, as a
run that was never interrupted. After each step the state is written with Engine.save_file (the
library's atomic writer). PAUSE (seconds, default 0) is slept before each step, where a real
search computes its supernet: it keeps a run from ending before a test can interrupt it, however
fast the disk. Exits 0 after STEPS steps in all.
"""
from __future__ import annotations

import os
import signal
import sys
import time

import numpy as np

import daas

EPOCHS = 8


def config(seed: int) -> dict:
    return {"seed": seed, "epochs": EPOCHS, "optimizer": {"alpha_start_epoch": 2}}


def epoch_of(step: int, steps: int) -> int:
    """The epoch a step belongs to: STEPS spread evenly over EPOCHS."""
    return 1 + step * EPOCHS // steps


def gradients(seed: int, step: int, n_alpha: int, n_edges: int):
    """The gradients of step `step`: deterministic in (seed, step) only."""
    rng = np.random.default_rng([seed, step])
    g_op = (0.05 * rng.standard_normal(n_alpha)).astype(np.float32)
    g_edge = (0.05 * rng.standard_normal(n_edges)).astype(np.float32)
    return g_op, g_edge


def advance(eng: daas.Engine, seed: int, steps: int, until: int, checkpoint: str | None, pause: float = 0.0) -> None:
    """Run eng from its current step to step `until`, saving to checkpoint after each step (and
    sleeping `pause` seconds before each)."""
    n_alpha, n_edges = eng.sizes
    done = int(eng.metrics()["step"])
    for s in range(done, until):
        if pause:
            time.sleep(pause)
        eng.set_epoch(epoch_of(s, steps))
        eng.weights()  # what a supernet forward would read
        eng.step(*gradients(seed, s, n_alpha, n_edges))
        if checkpoint is not None:
            eng.save_file(checkpoint)


def main() -> int:
    checkpoint, steps, seed = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    pause = float(sys.argv[4]) if len(sys.argv) > 4 else 0.0
    # Ctrl-C raises KeyboardInterrupt, as in a terminal, even when this process inherited SIGINT
    # ignored (a shell's background job: Python then installs no handler of its own)
    signal.signal(signal.SIGINT, signal.default_int_handler)
    if os.path.exists(checkpoint):
        eng = daas.Engine.load(checkpoint)
    else:
        eng = daas.Engine(config(seed))
    with eng:
        advance(eng, seed, steps, steps, checkpoint, pause)
    return 0


if __name__ == "__main__":
    sys.exit(main())
