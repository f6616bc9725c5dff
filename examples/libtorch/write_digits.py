"""Write scikit-learn's digits (1797 8x8 images, 10 classes) to a binary file for examples/libtorch.

    python write_digits.py OUT

Format (little-endian): b"DGT1", uint32 n, uint32 height (8), uint32 width (8), then n*height*width
float32 pixels scaled to [0, 1], then n uint8 labels. The order is shuffled with a fixed seed so any
contiguous split is stratified enough for a demo.
"""

import struct
import sys

import numpy as np
from sklearn.datasets import load_digits


def main() -> None:
    digits = load_digits()
    order = np.random.default_rng(0).permutation(len(digits.target))
    x = (digits.images[order] / 16.0).astype("<f4")
    y = digits.target[order].astype(np.uint8)
    n, h, w = x.shape
    with open(sys.argv[1], "wb") as f:
        f.write(b"DGT1" + struct.pack("<3I", n, h, w))
        f.write(x.tobytes())
        f.write(y.tobytes())
    print(f"write_digits: {n} images {h}x{w} -> {sys.argv[1]}")


if __name__ == "__main__":
    main()
