"""The options cache: the best mapping options the autotuner found for a kernel.

Kept in the compilation cache's store (tcir/cache.py: its directory, atomic writes,
checksums, warnings for bad entries) under a key of the canonical TC source, the
entry, the layout (sizes, strides, dtypes), the target and its machine (device), and
the tool versions (tcir's with a hash of its sources): what the compiled kernels are
keyed by, less the mapping options. An entry is JSON metadata only:

    {"format": 1, "options": [{"options": "<MappingOptions text>", "time_s": 0.0123}, ...]}

the best `KEEP` options, fastest first. `record` merges new results into what is
there; two tuners finishing at the same moment keep the last one's merge. An entry
that is not this format is reported with a `TcWarning`, removed, and treated as none.

Example:
    record(source, "matmul", target, layout, [(MappingOptions().tile(64, 128), 0.012)])
    best(source, "matmul", target, layout)      # [(MappingOptions(...), 0.012)]
"""

from __future__ import annotations

from . import cache as disk_cache
from .driver import Layout, Target, cache_components
from .errors import TcError
from .mapping_options import MappingOptions

FORMAT = 1
KEEP = 5  # options kept per kernel: the best, and runners-up for a later tuning to start from


def _key(source: str, entry: str, target: Target, layout: Layout) -> str:
    return disk_cache.cache_key({"kind": "tuned-options", **cache_components(source, entry, target, layout, None)})


def _parse(metadata: dict) -> list[tuple[MappingOptions, float]]:
    """The entry's options; a ValueError (or TypeError, KeyError) if it is not one."""
    if metadata.get("format") != FORMAT:
        raise ValueError(f"format {metadata.get('format')!r}, expected {FORMAT}")
    found = []
    for item in metadata["options"]:
        time_s = float(item["time_s"])
        if not time_s > 0:
            raise ValueError(f"time {time_s!r} is not positive")
        try:
            found.append((MappingOptions.parse(item["options"]), time_s))
        except TcError as err:
            raise ValueError(err.message) from None
    return found


def best(source: str, entry: str, target: Target, layout: Layout) -> list[tuple[MappingOptions, float]]:
    """The tuned options of a kernel, fastest first (empty: never tuned, or cache off)."""
    key = _key(source, entry, target, layout)
    found = disk_cache.get(key)
    if found is None:
        return []
    try:
        return _parse(found.metadata)
    except (KeyError, TypeError, ValueError) as err:
        disk_cache.reject(key, f"is not a tuned-options entry ({err})")
        return []


def record(source: str, entry: str, target: Target, layout: Layout,
           results: list[tuple[MappingOptions, float]]) -> list[tuple[MappingOptions, float]]:
    """Merge measured (options, seconds) into the kernel's entry; returns what it keeps."""
    merged: dict[str, float] = {}
    for options, time_s in [*best(source, entry, target, layout), *results]:
        text = str(options)
        merged[text] = min(time_s, merged.get(text, time_s))
    kept = sorted(merged.items(), key=lambda item: item[1])[:KEEP]
    metadata = {"format": FORMAT, "options": [{"options": text, "time_s": t} for text, t in kept]}
    disk_cache.put(_key(source, entry, target, layout), metadata, {})
    return [(MappingOptions.parse(text), t) for text, t in kept]
