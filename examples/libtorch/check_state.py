"""Read the LibTorch example's checkpoint back with daas.state (run by `make libtorch-example`).

    python check_state.py STATE EPOCHS STEPS_PER_EPOCH

The state must be an intact schema-1 state at the last epoch with every step counted, one history
record per finished epoch, and the same alpha, beta and genotype as an engine loaded from it.
"""

import sys

import numpy as np

import daas
import daas.state


def main() -> None:
    path, epochs, per_epoch = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    st = daas.state.read(path)
    assert st.epoch == epochs and st.epochs == epochs, (st.epoch, st.epochs)
    assert st.steps == epochs * per_epoch and st.epoch_steps == per_epoch, (st.steps, st.epoch_steps)
    assert [r.epoch for r in st.history] == list(range(1, epochs)), [r.epoch for r in st.history]
    assert all(r.steps == per_epoch for r in st.history)
    assert st.adam_alpha.step == st.steps  # alpha_start_epoch 1: alpha moved on every step
    with daas.Engine.load(path) as eng:
        assert np.array_equal(eng.alpha, st.alpha.astype(np.float32))
        assert np.array_equal(eng.beta, st.beta.astype(np.float32))
        genotype = eng.discretize()
    print(f"daas.state: {path}: epoch {st.epoch}/{st.epochs}, {st.steps} steps, {len(st.history)} history "
          f"record(s); genotype {genotype}")


if __name__ == "__main__":
    main()
