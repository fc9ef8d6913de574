"""`make demo`: compile canonical TC examples, run them on the CPU, check them against
hand-written NumPy, and print the times; then show what a user sees for a mistake.

Run: .venv/bin/python examples/demo.py
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

import tcir

HERE = Path(__file__).parent
rng = np.random.default_rng(0)


def f32(*shape):
    return rng.standard_normal(shape).astype(np.float32)


def softmax(x):
    e = np.exp(x - x.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def maxpool(x):
    b, c, h, w = x.shape
    return x[:, :, : h // 2 * 2, : w // 2 * 2].reshape(b, c, h // 2, 2, w // 2, 2).max(axis=(3, 5))


# (example, def, inputs, NumPy version of the first output)
DEMOS = [
    ("matmul", "matmul", (f32(256, 128), f32(128, 192)), lambda a, b: a @ b),
    ("fcrelu", "fcrelu", (f32(64, 300), f32(100, 300), f32(100)), lambda i, w, b: np.maximum(i @ w.T + b, 0)),
    ("softmax", "softmax", (f32(128, 500),), softmax),
    ("maxpool2x2", "maxpool2x2", (f32(8, 16, 32, 32),), maxpool),
    ("group_normalization", "group_normalization",
     (f32(4, 8, 4, 16, 16), f32(8, 4), f32(8, 4), f32(4, 8), np.abs(f32(4, 8)) + np.float32(0.5)),
     lambda x, g, b, m, v: g[None, :, :, None, None] * (x - m[:, :, None, None, None])
     / np.sqrt(v[:, :, None, None, None] + np.float32(1e-5)) + b[None, :, :, None, None]),
]

BROKEN = """def matvec(float(M, K) A, float(K) x) -> (y) {
    y(m) = A(m, r_k) * x(r_k)
}
"""


def seconds(fn, repeat=5) -> float:
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best


def main() -> None:
    print(f"{'kernel':22} {'compile':>9} {'tcir':>10} {'numpy':>10}  max |error|")
    for file, entry, inputs, reference in DEMOS:
        kernel = getattr(tcir.define((HERE / f"{file}.tc").read_text(), f"{file}.tc"), entry)
        start = time.perf_counter()
        out = kernel(*inputs)
        compile_s = time.perf_counter() - start
        first = out[0] if isinstance(out, tuple) else out
        error = float(np.max(np.abs(first - reference(*inputs))))
        assert error < 1e-3, f"{entry} disagrees with NumPy: {error}"
        print(f"{entry:22} {compile_s:8.2f}s {seconds(lambda: kernel(*inputs)) * 1e3:8.3f}ms "
              f"{seconds(lambda: reference(*inputs)) * 1e3:8.3f}ms  {error:.1e}")
    print("\nA mistake, and the message a user gets:\n")
    try:
        tcir.define(BROKEN, "matvec.tc")
    except tcir.TcError as err:
        print(err)


if __name__ == "__main__":
    main()
