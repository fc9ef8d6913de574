"""The canonical TC examples with input makers and hand-written NumPy references,
shared by the differential tests. Sizes include 1 and odd extents."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"

# The canonical examples of tc-language.md, by def name, in the order given there.
SPEC_ORDER = ["matmul", "tmm", "batch_matmul", "group_convolution", "fcrelu", "softmax", "kronecker3_1",
              "group_normalization", "2LUT", "C3", "maxpool2x2"]
CANONICAL_SOURCES = {("_" + f if f[0].isdigit() or f == "C3" else f): (EXAMPLES / f"{f}.tc").read_text()
                     for f in SPEC_ORDER}
CANONICAL = "\n".join(CANONICAL_SOURCES.values())


@dataclass(frozen=True)
class Example:
    file: str  # examples/<file>.tc
    entry: str
    inputs: Callable[[np.random.Generator, dict], tuple]
    numpy: Callable[..., tuple]
    shapes: tuple[dict, ...]

    @property
    def source(self) -> str:
        return (EXAMPLES / f"{self.file}.tc").read_text()


def f32(rng, *shape):
    return rng.standard_normal(shape).astype(np.float32)


def _softmax(x):
    m = x.max(axis=1)
    e = np.exp(x - m[:, None])
    s = e.sum(axis=1)
    return e / s[:, None], s, m


def _group_conv(i, w, b):
    n, g, c, h, wd = i.shape
    _, f, _, kh, kw = w.shape
    out = np.zeros((n, g, f, h - kh + 1, wd - kw + 1), np.float64)
    for y in range(kh):
        for x in range(kw):
            patch = i[:, :, :, y:y + h - kh + 1, x:x + wd - kw + 1]
            out += np.einsum("ngchw,gfc->ngfhw", patch, w[:, :, :, y, x])
    return (out + b[None, :, :, None, None]).astype(np.float32),


def _maxpool(x):
    b, c, h, w = x.shape
    ho, wo = (h - 2) // 2 + 1, (w - 2) // 2 + 1
    return x[:, :, :2 * ho, :2 * wo].reshape(b, c, ho, 2, wo, 2).max(axis=(3, 5)),


def _group_norm(x, gamma, beta, mean, var):
    scale = (1 / np.sqrt(var.astype(np.float64) + 1e-5))[:, :, None, None, None]
    out = gamma[None, :, :, None, None] * (x - mean[:, :, None, None, None]) * scale + beta[None, :, :, None, None]
    return out.astype(np.float32),


def _lut_inputs(rng, s):
    return (f32(rng, s["E"], s["D"]), rng.integers(0, s["E"], (s["B"], s["L"]), dtype=np.int32),
            f32(rng, s["E"] + 1, s["D"]), rng.integers(0, s["E"] + 1, (s["B"], s["L"] + 2), dtype=np.int32))


EXAMPLES_SET = [
    Example("matmul", "matmul", lambda r, s: (f32(r, s["M"], s["K"]), f32(r, s["K"], s["N"])),
            lambda a, b: (a @ b,), ({"M": 4, "K": 3, "N": 5}, {"M": 1, "K": 1, "N": 1}, {"M": 17, "K": 33, "N": 9})),
    Example("tmm", "tmm", lambda r, s: (f32(r, s["M"], s["K"]), f32(r, s["N"], s["K"])),
            lambda a, b: (a @ b.T,), ({"M": 3, "K": 7, "N": 5}, {"M": 1, "K": 2, "N": 1})),
    Example("batch_matmul", "batch_matmul", lambda r, s: (f32(r, s["B"], s["N"], s["M"]), f32(r, s["B"], s["M"], s["K"])),
            lambda x, y: (x @ y,), ({"B": 2, "N": 3, "M": 4, "K": 5}, {"B": 1, "N": 1, "M": 7, "K": 1})),
    Example("group_convolution", "group_convolution",
            lambda r, s: (f32(r, s["N"], s["G"], s["C"], s["H"], s["W"]), f32(r, s["G"], s["F"], s["C"], 3, 3),
                          f32(r, s["G"], s["F"])),
            _group_conv, ({"N": 2, "G": 2, "C": 3, "F": 2, "H": 5, "W": 6}, {"N": 1, "G": 1, "C": 1, "F": 1, "H": 3, "W": 3})),
    Example("fcrelu", "fcrelu", lambda r, s: (f32(r, s["B"], s["M"]), f32(r, s["N"], s["M"]), f32(r, s["N"])),
            lambda i, w, b: (np.maximum(i @ w.T + b, 0),), ({"B": 3, "M": 5, "N": 4}, {"B": 1, "M": 1, "N": 1})),
    Example("softmax", "softmax", lambda r, s: (f32(r, s["N"], s["D"]),), _softmax,
            ({"N": 3, "D": 7}, {"N": 1, "D": 1})),
    Example("kronecker3_1", "kronecker3_1", lambda r, s: (f32(r, s["D2"], s["N2"]), f32(r, s["M"], 2, 3, s["N2"])),
            lambda w, x: (x @ w.T,), ({"D2": 3, "N2": 4, "M": 2}, {"D2": 1, "N2": 1, "M": 1})),
    Example("group_normalization", "group_normalization",
            lambda r, s: (f32(r, s["N"], s["G"], s["D"], 3, 5), f32(r, s["G"], s["D"]), f32(r, s["G"], s["D"]),
                          f32(r, s["N"], s["G"]), np.abs(f32(r, s["N"], s["G"])) + np.float32(0.5)),
            _group_norm, ({"N": 2, "G": 3, "D": 2}, {"N": 1, "G": 1, "D": 1})),
    Example("2LUT", "_2LUT", _lut_inputs,
            lambda l1, i1, l2, i2: (l1[i1].sum(axis=1), l2[i2].sum(axis=1)),
            ({"E": 7, "D": 3, "B": 4, "L": 5}, {"E": 1, "D": 1, "B": 1, "L": 1})),
    Example("C3", "_C3", lambda r, s: (f32(r, s["B"], s["WX"]), f32(r, s["WY"], s["WX"])),
            lambda i, w: (i @ w.T,), ({"B": 3, "WX": 9, "WY": 4}, {"B": 1, "WX": 1, "WY": 1})),
    Example("maxpool2x2", "maxpool2x2", lambda r, s: (f32(r, s["B"], s["C"], s["H"], s["W"]),), _maxpool,
            ({"B": 2, "C": 3, "H": 6, "W": 7}, {"B": 1, "C": 1, "H": 2, "W": 3})),
]
