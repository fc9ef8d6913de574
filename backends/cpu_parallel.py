"""The multi-core CPU runtime for scheduled defs (`convert-tc-to-loops` output).

A scheduled def `@f` is a sequence of parts `@f.part<k>` (its `tcir.parts`
attribute). `plan(module, "f")`, taken at the loops stage, reads the parts: their
names, for a parallel part the range of its outer loop (`tcir.parallel = [first,
bound, step]`) and its number of statement instances (`tcir.instances`), and the byte
sizes of the temporaries they share; `Plan.to_json` / `Plan.from_json` keep it beside
the object code in the compilation cache. `ParallelCpuKernel(module, plan)`, over the
compiled module (a `CpuModule` or an `ObjectModule` of backends/cpu.py), calls the
parts in order with the def's arrays and fresh zero-filled temporaries; a parallel part
big enough to be worth it runs as chunks of its outer loop, one per thread, on a shared
thread pool (ctypes releases the GIL during the calls). The outer loop of a parallel
part carries no dependence, so the chunks may run in any order.

Threads: `os.cpu_count()`, or the `TCIR_NUM_THREADS` environment variable.

Fork safety: a forked child (multiprocessing's `fork`, `os.fork()`, the workers of a
PyTorch DataLoader) has none of the parent's pool threads, so it forgets the pool
(`os.register_at_fork`) and starts its own on its first parallel call. Kernels loaded
in the parent work in the child: their machine code is in the copied memory.

Example:
    kernel = ParallelCpuKernel(CpuModule(llvm_module), plan(loops_module, "matmul"))
    kernel(a, b, c)        # arrays in parameter order, as CpuKernel
"""

from __future__ import annotations

import ctypes
import math
import os
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import cache
from typing import Any

import numpy as np
from xdsl.dialects import func
from xdsl.dialects.builtin import ArrayAttr, IntegerAttr, MemRefType, ModuleOp, StringAttr

from tcir.errors import TcError

from .cpu import array_pointer, scalar_value

# Below this many statement instances a part runs on the calling thread: handing
# chunks to other threads costs tens of microseconds.
MIN_PARALLEL_INSTANCES = 1 << 15

_POOL: ThreadPoolExecutor | None = None
_POOL_LOCK = threading.Lock()


@cache
def _cpu_count() -> int:
    return os.cpu_count() or 1


def thread_count() -> int:
    text = os.environ.get("TCIR_NUM_THREADS")
    if text is None:
        return _cpu_count()
    if not text.isdigit() or int(text) < 1:
        raise TcError(f"TCIR_NUM_THREADS must be a positive integer, not `{text}`")
    return int(text)


def _forget_pool_in_child() -> None:
    """After fork, in the child: the parent's pool threads do not exist there (a chunk
    submitted to its pool would wait forever), and its lock may have been held by one."""
    global _POOL, _POOL_LOCK
    _POOL = None
    _POOL_LOCK = threading.Lock()


os.register_at_fork(after_in_child=_forget_pool_in_child)


def _pool() -> ThreadPoolExecutor:
    global _POOL
    with _POOL_LOCK:
        if _POOL is None:
            _POOL = ThreadPoolExecutor(max_workers=max(1, (os.cpu_count() or 1)), thread_name_prefix="tcir")
        return _POOL


@dataclass(frozen=True)
class PartPlan:
    name: str
    loop: tuple[int, int, int] | None  # (first, bound, step) of a parallel outer loop
    instances: int


@dataclass(frozen=True)
class Plan:
    entry: str
    parts: tuple[PartPlan, ...]
    temporaries: tuple[int, ...]  # byte sizes, in argument order after the def's tensors

    def to_json(self) -> dict[str, Any]:
        return {"entry": self.entry, "temporaries": list(self.temporaries),
                "parts": [{"name": p.name, "loop": list(p.loop) if p.loop else None, "instances": p.instances}
                          for p in self.parts]}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Plan:
        """The plan `to_json` wrote; a KeyError, TypeError or ValueError if it is not one."""
        parts = tuple(PartPlan(str(p["name"]), tuple(int(v) for v in p["loop"]) if p["loop"] is not None else None,
                               int(p["instances"])) for p in data["parts"])
        if any(p.loop is not None and len(p.loop) != 3 for p in parts):
            raise ValueError("a parallel part's loop is (first, bound, step)")
        return cls(str(data["entry"]), parts, tuple(int(n) for n in data["temporaries"]))


def _ints(attr: ArrayAttr) -> tuple[int, ...]:
    return tuple(a.value.data for a in attr.data if isinstance(a, IntegerAttr))


def _bytes(t: MemRefType) -> int:
    # a lowp element takes its storage integer
    width = getattr(t.element_type, "bitwidth", None) or getattr(t.element_type, "storage_width", 64)
    return math.prod(t.get_shape()) * max(1, (width + 7) // 8)


def plan(module: ModuleOp, entry: str) -> Plan:
    """The parts of scheduled def `entry` (see the module docstring)."""
    functions = {f.sym_name.data: f for f in module.ops if isinstance(f, func.FuncOp)}
    main = functions.get(entry)
    names = main.attributes.get("tcir.parts") if main is not None else None
    if not isinstance(names, ArrayAttr):
        raise TcError(f"@{entry} is not a scheduled def (no `tcir.parts`): run convert-tc-to-loops")
    parts, temporaries = [], ()
    n_args = len(main.function_type.inputs.data)
    for name in names.data:
        assert isinstance(name, StringAttr)
        part = functions[name.data]
        loop = part.attributes.get("tcir.parallel")
        instances = part.attributes.get("tcir.instances")
        parts.append(PartPlan(name.data, _ints(loop) if isinstance(loop, ArrayAttr) else None,
                              instances.value.data if isinstance(instances, IntegerAttr) else 0))
        inputs = part.function_type.inputs.data
        temporaries = tuple(_bytes(t) for t in inputs[n_args:] if isinstance(t, MemRefType))
    return Plan(entry, tuple(parts), temporaries)


def chunks(first: int, bound: int, step: int, n: int) -> list[tuple[int, int]]:
    """[first, bound) cut at multiples of `step` into at most `n` non-empty pieces."""
    trips = max(0, -(-(bound - first) // step))
    n = max(1, min(n, trips))
    cuts = [first + step * (trips * i // n) for i in range(n)] + [bound]
    return [(lo, hi) for lo, hi in zip(cuts, cuts[1:]) if hi > lo]


class ParallelCpuKernel:
    """A scheduled def compiled for the host: `kernel(*args)` in parameter order."""

    def __init__(self, module: Any, plan: Plan, definition: Any = None):
        self.module = module
        self.plan = plan
        self.entry = plan.entry
        self.definition = definition
        self.parts = [(p, self.module.function(p.name)) for p in plan.parts]

    def __call__(self, *args: Any) -> None:
        temporaries = [np.zeros(n, np.uint8) for n in self.plan.temporaries]
        base = [*args, *temporaries]
        if not self.parts:
            return
        # every part takes the def's arrays and the temporaries first: convert them once
        # (checked as `invoke` does), then call the ctypes functions directly
        converted = _convert(self.parts[0][1], base)
        threads = thread_count()
        for part, fn in self.parts:
            if part.loop is None:
                fn(*converted)
                continue
            first, bound, step = part.loop
            pieces = chunks(first, bound, step, threads if part.instances >= MIN_PARALLEL_INSTANCES else 1)
            if len(pieces) <= 1:
                fn(*converted, first, bound)
                continue
            futures = [_pool().submit(fn, *converted, lo, hi) for lo, hi in pieces[1:]]
            fn(*converted, *pieces[0])  # the calling thread takes a chunk too
            for future in futures:
                future.result()


def _convert(fn: Any, arrays: list[Any]) -> list[Any]:
    """The ctypes values of a part's leading array (and scalar) arguments."""
    argtypes = list(fn.argtypes or ())[:len(arrays)]
    if len(argtypes) != len(arrays):
        raise TcError(f"the function takes {len(fn.argtypes or ())} arguments, got {len(arrays)}")
    return [array_pointer(a) if t is ctypes.c_void_p else scalar_value(a, t) for a, t in zip(arrays, argtypes)]
