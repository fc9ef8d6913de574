"""``MappingOptions``: the scheduling and mapping knobs of Tensor Comprehensions.

The options, their names, the presets and their values are those of TC
(``tc/core/mapping_options.h``, ``tc/core/cuda/cuda_mapping_options.cc``, the
``MappingOptions`` Python binding); see docs/mapping-options.md for what each one does
in tcir. ::

    opts = MappingOptions("mlp").tile(32, 32).mapToThreads(32, 8).unroll(4)
    opts["tile"]                        # (32, 32)
    MappingOptions.parse(str(opts)) == opts

Setters are fluent (they change the instance and return it) and validate their values;
every bad value or text is a ``TcError`` (integers beyond int64 included). ``str(opts)``
is the canonical text form: ``key=value`` for every option, in declaration order, lists
comma-separated, booleans ``true``/``false``. Equality and hashing are by value, so an instance can key a cache,
but only if it is not changed afterwards: store ``opts.copy()``.
"""

from __future__ import annotations

import difflib
import enum
import math
import operator
import re
from collections.abc import Callable, Iterable
from typing import Any

from .errors import TcError
from .sizeexpr import INT64_MAX

__all__ = ["FUSION_STRATEGIES", "MappingOptions"]

FUSION_STRATEGIES = ("Max", "Preserve3Coincident", "Min")
_BLOCK_LIMITS = (1024, 1024, 64)  # CUDA's threads per block along x, y, z
_MAX_THREADS = 1024  # CUDA's threads per block in all
_GRID_LIMITS = (2**31 - 1, 65535, 65535)  # CUDA's blocks per grid along x, y, z
_INTEGER = re.compile(r"-?[0-9]+")


class _Bad(ValueError):
    """A value an option refuses; the option turns it into a TcError naming itself."""


def _integer(value: Any) -> int:
    # bool is an int to Python, but `tile(True)` is a mistake, not a size of 1.
    if not isinstance(value, bool):
        try:
            value = operator.index(value)
        except TypeError:
            pass
        else:
            if value > INT64_MAX:
                raise _Bad(f"{value} is beyond int64 (at most {INT64_MAX})")
            return value
    raise _Bad(f"expected an integer, got {value!r}")


def _parse_integer(text: str) -> int:
    if not _INTEGER.fullmatch(text):
        raise _Bad(f"`{text}` is not an integer")
    return int(text)


def _unknown(what: str, word: object, choices: Iterable[str]) -> TcError:
    """The error for a name that is not one of ``choices``: the nearest one, and all."""
    choices = list(choices)
    close = difflib.get_close_matches(word, choices, n=1) if isinstance(word, str) else []
    hint = f"did you mean `{close[0]}`? " if close else ""
    return TcError(f"unknown {what} `{word}`; {hint}valid: {', '.join(choices)}")


class _Scalar:
    """An option that takes one value."""

    def from_args(self, args: tuple) -> Any:
        if len(args) != 1:
            raise _Bad(f"takes one value, got {len(args)}")
        return args[0]


class _Bool(_Scalar):
    def check(self, value: Any) -> bool:
        if not isinstance(value, bool):
            raise _Bad(f"expected True or False, got {value!r}")
        return value

    def parse(self, text: str) -> bool:
        if text not in ("true", "false"):
            raise _Bad(f"expected true or false, got `{text}`")
        return text == "true"

    def format(self, value: bool) -> str:
        return "true" if value else "false"


class _Fusion(_Scalar):
    def check(self, value: Any) -> str:
        value = value.value if isinstance(value, enum.Enum) else value  # tcir.polyhedral.Fusion
        if value not in FUSION_STRATEGIES:
            raise _Bad(f"unknown fusion strategy `{value}`; valid: {', '.join(FUSION_STRATEGIES)}")
        return value

    parse = check
    format = str


class _Int(_Scalar):
    def __init__(self, minimum: int):
        self.minimum = minimum

    def check(self, value: Any) -> int:
        value = _integer(value)
        if value < self.minimum:
            raise _Bad(f"expected an integer >= {self.minimum}, got {value}")
        return value

    def parse(self, text: str) -> int:
        return self.check(_parse_integer(text))

    format = str


class _Sizes:
    """A tuple of integers; with ``limits`` a CUDA dim3 (1 to 3 sizes, trailing 1s dropped)."""

    def __init__(self, minimum: int, limits: tuple[int, ...] | None = None, max_product: int | None = None):
        self.minimum = minimum
        self.limits = limits
        self.max_product = max_product

    def from_args(self, args: tuple) -> Any:
        # tile(32, 32), tile([32, 32]) and tile("32,32") all mean the same.
        return args[0] if len(args) == 1 and isinstance(args[0], Iterable) else args

    def check(self, value: Any) -> tuple[int, ...]:
        if not isinstance(value, Iterable):
            raise _Bad(f"expected a sequence of integers, got {value!r}")
        sizes = tuple(_integer(v) for v in value)
        for size in sizes:
            if size < self.minimum:
                raise _Bad(f"sizes must be >= {self.minimum}, got {size}")
        return self._check_dim3(sizes) if self.limits else sizes

    def _check_dim3(self, sizes: tuple[int, ...]) -> tuple[int, ...]:
        if not 1 <= len(sizes) <= len(self.limits):
            raise _Bad(f"expected 1 to {len(self.limits)} sizes, got {len(sizes)}")
        for axis, size, limit in zip("xyz", sizes, self.limits):
            if size > limit:
                raise _Bad(f"size {size} along {axis} is above CUDA's limit of {limit}")
        if self.max_product and math.prod(sizes) > self.max_product:
            raise _Bad(f"{'*'.join(map(str, sizes))} = {math.prod(sizes)} is above CUDA's limit "
                       f"of {self.max_product} threads per block")
        # As in TC's CudaDim, (32, 1) and (32,) are the same launch, so they compare equal.
        while len(sizes) > 1 and sizes[-1] == 1:
            sizes = sizes[:-1]
        return sizes

    def parse(self, text: str) -> tuple[int, ...]:
        pieces = text.split(",") if text else []
        if not all(_INTEGER.fullmatch(p) for p in pieces):
            raise _Bad(f"`{text}` is not a comma-separated list of integers (without spaces)")
        return self.check([int(p) for p in pieces])

    def format(self, sizes: tuple[int, ...]) -> str:
        return ",".join(map(str, sizes))


class _Option:
    """One knob. ``opts.<name>`` is its fluent setter; ``opts["<name>"]`` reads it."""

    def __init__(self, kind: Any, doc: str):
        self.kind = kind
        self.__doc__ = doc

    def __set_name__(self, owner: type, name: str) -> None:
        self.name = name

    def __get__(self, opts: MappingOptions | None, owner: type | None = None) -> Any:
        if opts is None:
            return self

        def setter(*args: Any) -> MappingOptions:
            opts._values[self.name] = self.value(args)
            return opts

        setter.__name__, setter.__doc__ = self.name, self.__doc__
        return setter

    def value(self, args: tuple) -> Any:
        """The checked value of setter arguments (a value, several, or the text form)."""
        value = self.guard(self.kind.from_args, args)
        return self.guard(self.kind.parse if isinstance(value, str) else self.kind.check, value)

    def guard(self, convert: Callable[[Any], Any], value: Any) -> Any:
        try:
            return convert(value)
        except _Bad as err:
            raise TcError(f"mapping option `{self.name}`: {err}") from None


_BOOL, _FUSION = _Bool(), _Fusion()

# TC's makeUnmappedMappingOptions (generic and CUDA parts); TC leaves maxSharedMemory,
# privateDepth and sharedDepth unset, which 0 stands for here.
_UNMAPPED = dict(
    outerScheduleFusionStrategy="Preserve3Coincident", outerScheduleAllowSkewing=False,
    outerSchedulePositiveOrthant=True, intraTileScheduleFusionStrategy="Preserve3Coincident",
    intraTileScheduleAllowSkewing=False, intraTileSchedulePositiveOrthant=True,
    fixParametersBeforeScheduling=False, tileImperfectlyNested=False, matchLibraryCalls=False,
    useSharedMemory=False, usePrivateMemory=False, unrollCopyShared=False, useReadOnlyCache=False,
    maxSharedMemory=0, privateDepth=0, sharedDepth=0, splitReduction=0, pipelineShared=False,
)

# TC's make<Name>MappingOptions, on top of the unmapped ones.
_PRESETS = {
    "naive": dict(tile=(32, 32, 32), mapToThreads=(32, 8), mapToBlocks=(256, 256), unroll=1),
    "single_thread": dict(tile=(1,), mapToThreads=(1,), mapToBlocks=(1,), unroll=1),
    "pointwise": dict(tile=(32, 32, 32), mapToThreads=(32, 4, 4), mapToBlocks=(100, 100, 100), unroll=128),
    "mlp": dict(outerScheduleFusionStrategy="Max", tile=(1,), mapToThreads=(128,), mapToBlocks=(128,), unroll=1),
    "conv": dict(tile=(4, 8, 8, 8), mapToThreads=(4, 16, 4), mapToBlocks=(256, 256, 256), unroll=1),
    "group_conv": dict(tile=(1, 1), mapToThreads=(4, 16, 4), mapToBlocks=(256, 256), unroll=1),
}


class MappingOptions:
    """TC's mapping options; ``MappingOptions()`` is the "naive" preset.

    ``MappingOptions(preset)`` gives one of ``MappingOptions.PRESETS``;
    ``MappingOptions(text)`` (text containing ``=``, or empty) is ``parse(text)``, so
    ``eval(repr(opts)) == opts``.
    """

    __slots__ = ("_values",)

    # Scheduling (isl) before tiling.
    outerScheduleFusionStrategy = _Option(_FUSION, "Fusion before tiling: Max, Preserve3Coincident or Min.")
    outerScheduleAllowSkewing = _Option(_BOOL, "Let the outer schedule skew loops.")
    outerSchedulePositiveOrthant = _Option(_BOOL, "Keep outer schedule coefficients non-negative.")
    # Re-scheduling of the point loops (TC re-schedules them only if these differ).
    intraTileScheduleFusionStrategy = _Option(_FUSION, "Fusion inside tiles: Max, Preserve3Coincident or Min.")
    intraTileScheduleAllowSkewing = _Option(_BOOL, "Let the intra-tile schedule skew loops.")
    intraTileSchedulePositiveOrthant = _Option(_BOOL, "Keep intra-tile coefficients non-negative.")
    fixParametersBeforeScheduling = _Option(_BOOL, "Schedule for the actual sizes, not symbolic ones.")
    tile = _Option(_Sizes(minimum=0), "Tile sizes of the outermost band (0: leave that member untiled).")
    unroll = _Option(_Int(minimum=1), "Unroll the innermost loops to at most this many copies (1: none).")
    tileImperfectlyNested = _Option(_BOOL, "Also tile imperfectly nested bands (same sizes).")
    matchLibraryCalls = _Option(_BOOL, "Replace patterns (reductions) by library calls (CUB).")
    # CUDA mapping.
    mapToThreads = _Option(_Sizes(1, _BLOCK_LIMITS, _MAX_THREADS), "Threads per block: 1 to 3 sizes.")
    mapToBlocks = _Option(_Sizes(1, _GRID_LIMITS), "Blocks per grid: 1 to 3 sizes.")
    useSharedMemory = _Option(_BOOL, "Promote reused data to shared memory.")
    usePrivateMemory = _Option(_BOOL, "Promote reused data to registers.")
    unrollCopyShared = _Option(_BOOL, "Also unroll the copies to and from shared memory.")
    useReadOnlyCache = _Option(_BOOL, "Load read-only data through the read-only cache (__ldg).")
    maxSharedMemory = _Option(_Int(minimum=0), "Shared memory to use, in bytes (0: all the device has).")
    privateDepth = _Option(_Int(minimum=0), "Schedule depth of the promotion to registers.")
    sharedDepth = _Option(_Int(minimum=0), "Schedule depth of the promotion to shared memory "
                                           "(0: just below the loops mapped to blocks).")
    # tcir's extension (CPU and GPU).
    splitReduction = _Option(_Int(minimum=0), "Partial results per long reduction, combined by a second "
                                              "reduction (split-K; 0 or 1: no split).")
    pipelineShared = _Option(_BOOL, "Double-buffer shared memory: copy the next tile (cp.async) while "
                                    "computing this one (GPU).")

    PRESETS = tuple(_PRESETS)

    def __init__(self, preset: str = "naive"):
        if not isinstance(preset, str):
            raise TcError(f"MappingOptions takes a preset name or the text form, got {preset!r}")
        self._values = _parse(preset) if "=" in preset or not preset.strip() else _preset(preset.strip())

    @classmethod
    def parse(cls, text: str) -> MappingOptions:
        """Options from ``key=value`` words in any order; the others are the naive preset's."""
        if not isinstance(text, str):
            raise TcError(f"mapping options text must be a string, got {text!r}")
        opts = cls()
        opts._values = _parse(text)
        return opts

    def scheduleFusionStrategy(self, strategy: str) -> MappingOptions:
        """Set the outer and the intra-tile fusion strategy at once (TC's shorthand)."""
        return self.outerScheduleFusionStrategy(strategy).intraTileScheduleFusionStrategy(strategy)

    def __getitem__(self, name: str) -> Any:
        return self._values[_option(name).name]

    def as_dict(self) -> dict[str, Any]:
        return dict(self._values)

    def copy(self) -> MappingOptions:
        new = MappingOptions.__new__(MappingOptions)
        new._values = dict(self._values)
        return new

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, MappingOptions):
            return NotImplemented
        return self._values == other._values

    def __hash__(self) -> int:
        return hash(tuple(self._values.values()))

    def __str__(self) -> str:
        return " ".join(f"{name}={option.kind.format(self._values[name])}" for name, option in _OPTIONS.items())

    def __repr__(self) -> str:
        return f"MappingOptions({str(self)!r})"


# Declaration order is the canonical order of the text form.
_OPTIONS = {name: o for name, o in vars(MappingOptions).items() if isinstance(o, _Option)}


def _option(name: str) -> _Option:
    if not isinstance(name, str) or name not in _OPTIONS:
        raise _unknown("mapping option", name, _OPTIONS)
    return _OPTIONS[name]


def _preset(name: str) -> dict[str, Any]:
    if name not in _PRESETS:
        raise _unknown("mapping options preset", name, _PRESETS)
    values = {**_UNMAPPED, **_PRESETS[name]}
    return {option: values[option] for option in _OPTIONS}


def _parse(text: str) -> dict[str, Any]:
    values, seen = _preset("naive"), set()
    for word in text.split():
        name, equals, value = word.partition("=")
        if not equals:
            raise TcError(f"mapping options: expected `key=value`, got `{word}`")
        option = _option(name)
        if name in seen:
            raise TcError(f"mapping option `{name}` is given twice")
        seen.add(name)
        values[name] = option.guard(option.kind.parse, value)
    return values
