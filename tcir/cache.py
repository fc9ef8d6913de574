"""The persistent on-disk store of tcir's compilation cache.

The store keeps opaque artifacts (named binary blobs plus a JSON metadata dict) under a
key; what goes in is the compiler's business. Keys come from ``cache_key``: the SHA-256
of a canonical JSON encoding of everything the artifact depends on.

On-disk format: one file per key, ``<dir>/<key>.tcir`` (a flat directory), laid out as

    b"tcir-cache\\n"                       magic line
    {"blobs":{NAME:{"sha256":HEX,"size":N},...},"key":KEY,"metadata":{...},"version":1}\\n
    the blobs' bytes, concatenated in the order the header lists them

The header is one line of ASCII JSON. Entries are written to a temporary file in the
same directory (``.<key>.<random>.tmp``) and renamed over the final name, so a reader
sees a whole entry or none, and concurrent writers of one key leave one valid entry.
An entry that cannot be read or fails a check (magic, header, format version, key,
lengths, SHA-256) is a miss reported with a ``TcWarning`` and removed where possible:
the kernel is recompiled. A failed write is a ``TcWarning`` too; the compiled kernel is
still used. When the entries exceed the size cap after a write, the least recently
used ones (oldest mtime; a hit refreshes it) are deleted.

Environment, read at every call:

    TCIR_CACHE_DIR        the directory (default $XDG_CACHE_HOME/tcir, else ~/.cache/tcir)
    TCIR_CACHE            1 (default) or 0 to disable the cache
    TCIR_CACHE_MAX_BYTES  the size cap of all entries in bytes (default 1 GiB)

Example::

    key = cache_key({"source": "def f(...) ...", "target": "cpu"})
    put(key, {"entry": "f"}, {"object": b"\\x7fELF..."})
    entry = get(key)            # an Entry, or None on a miss
    entry.metadata["entry"], entry.blobs["object"]
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import tempfile
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

from .errors import TcError, warn

__all__ = ["Entry", "cache_key", "cache_dir", "get", "put", "reject", "cache_info", "clear_cache"]

MAGIC = b"tcir-cache\n"
FORMAT_VERSION = 1
_DEFAULT_MAX_BYTES = 1 << 30
_KEY = re.compile(r"[0-9a-f]{64}")
# Only names like these are ever deleted, so a cache directory shared with other files
# (or set to a wrong place) loses nothing but tcir's own entries.
_ENTRY_NAME = re.compile(r"[0-9a-f]{64}\.tcir")
_TEMP_NAME = re.compile(r"\.[0-9a-f]{64}\..+\.tmp")


@dataclass(frozen=True)
class Entry:
    """A cached artifact: JSON metadata and named binary blobs."""

    metadata: dict
    blobs: dict[str, bytes]


class _BadEntry(Exception):
    """What is wrong with an entry file; the text completes "the cache entry <path> ..."."""


# --- keys -------------------------------------------------------------------------


def cache_key(components: Mapping[str, object]) -> str:
    """The hex SHA-256 of the components' canonical JSON (sorted keys, no spaces).

    Values may be str, int, float, bool, None, lists, tuples (encoded as lists) and
    dicts with str keys; anything else is a ``TypeError``.
    """
    return hashlib.sha256(_canonical_json(dict(components)).encode()).hexdigest()


def _canonical_json(value: object) -> str:
    _check_json(value)
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=True)


def _check_json(value: object) -> None:
    """Reject what json would refuse, and also non-str dict keys, which json would
    silently turn into strings ({1: x} and {"1": x} would then share a key)."""
    if isinstance(value, dict):
        for k, v in value.items():
            if not isinstance(k, str):
                raise TypeError(f"cache data: dict key {k!r} is not a str")
            _check_json(v)
    elif isinstance(value, (list, tuple)):
        for item in value:
            _check_json(item)
    elif value is not None and not isinstance(value, (str, int, float)):
        raise TypeError(f"cache data: {value!r} ({type(value).__name__}) is not JSON-able")


def _check_key(key: str) -> None:
    if not (isinstance(key, str) and _KEY.fullmatch(key)):
        raise ValueError(f"cache key {key!r} is not a cache_key() digest (64 hex digits)")


# --- configuration ----------------------------------------------------------------


def cache_dir() -> Path:
    """The cache directory under the current environment."""
    if os.environ.get("TCIR_CACHE_DIR"):
        return Path(os.environ["TCIR_CACHE_DIR"]).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME")
    # The XDG spec says to ignore a relative XDG_CACHE_HOME.
    if xdg and os.path.isabs(xdg):
        return Path(xdg) / "tcir"
    return Path.home() / ".cache" / "tcir"


def _enabled() -> bool:
    value = os.environ.get("TCIR_CACHE")
    if value not in (None, "0", "1"):
        raise TcError(f"TCIR_CACHE must be 0 (cache off) or 1 (cache on), not {value!r}")
    return value != "0"


def _max_bytes() -> int:
    value = os.environ.get("TCIR_CACHE_MAX_BYTES")
    if value is None:
        return _DEFAULT_MAX_BYTES
    if not re.fullmatch(r"[0-9]+", value) or int(value) == 0:
        raise TcError(f"TCIR_CACHE_MAX_BYTES must be a positive number of bytes, not {value!r}")
    return int(value)


def _entry_path(key: str) -> Path:
    return cache_dir() / f"{key}.tcir"


# --- the entry format -------------------------------------------------------------


def _encode(key: str, metadata: dict, blobs: Mapping[str, bytes]) -> bytes:
    if not isinstance(metadata, dict):
        raise TypeError(f"cache metadata must be a dict, not {type(metadata).__name__}")
    for name, data in blobs.items():
        if not isinstance(data, (bytes, bytearray, memoryview)):
            raise TypeError(f"cache blob {name!r} is a {type(data).__name__}, not bytes")
    blobs = {name: bytes(data) for name, data in sorted(blobs.items())}
    header = {
        "version": FORMAT_VERSION,
        "key": key,
        "metadata": metadata,
        "blobs": {
            name: {"size": len(data), "sha256": hashlib.sha256(data).hexdigest()}
            for name, data in blobs.items()
        },
    }
    # ensure_ascii escapes every newline, so the header is exactly one line.
    return b"".join([MAGIC, _canonical_json(header).encode(), b"\n", *blobs.values()])


def _decode(key: str, data: bytes) -> Entry:
    if not data.startswith(MAGIC):
        if MAGIC.startswith(data):
            raise _BadEntry("is truncated (it ends inside the magic line)")
        raise _BadEntry("is not a tcir cache entry (bad magic line)")
    end = data.find(b"\n", len(MAGIC))
    if end < 0:
        raise _BadEntry("is truncated (it ends inside the header)")
    try:
        header = json.loads(data[len(MAGIC) : end])
    except (ValueError, RecursionError) as err:
        raise _BadEntry(f"has a header that is not JSON ({err})") from None
    sizes = _check_header(key, header)
    body = memoryview(data)[end + 1 :]
    expected = sum(sizes.values())
    if len(body) != expected:
        what = "truncated" if len(body) < expected else "too long"
        raise _BadEntry(f"is {what} ({len(body)} bytes of blobs, {expected} expected)")
    blobs, offset = {}, 0
    for name, size in sizes.items():
        blob = bytes(body[offset : offset + size])
        offset += size
        if hashlib.sha256(blob).hexdigest() != header["blobs"][name]["sha256"]:
            raise _BadEntry(f"is corrupted (blob {name!r} fails its SHA-256 check)")
        blobs[name] = blob
    return Entry(metadata=header["metadata"], blobs=blobs)


def _check_header(key: str, header: object) -> dict[str, int]:
    """Validate a decoded header; returns the blob sizes in file order."""
    if not isinstance(header, dict):
        raise _BadEntry("has a malformed header")
    version = header.get("version")
    if version != FORMAT_VERSION:
        raise _BadEntry(f"has format version {version!r}; this tcir reads version {FORMAT_VERSION}")
    if header.get("key") != key:
        raise _BadEntry(f"holds the key {header.get('key')!r}, not {key}")
    blobs = header.get("blobs")
    if not (isinstance(header.get("metadata"), dict) and isinstance(blobs, dict)):
        raise _BadEntry("has a malformed header")
    sizes = {}
    for name, spec in blobs.items():
        size = spec.get("size") if isinstance(spec, dict) else None
        if not (isinstance(size, int) and size >= 0 and isinstance(spec.get("sha256"), str)):
            raise _BadEntry(f"has a malformed header (blob {name!r})")
        sizes[name] = size
    return sizes


# --- get and put ------------------------------------------------------------------


def get(key: str) -> Entry | None:
    """The entry stored under ``key``, or None (a miss, a bad entry, or cache off)."""
    _check_key(key)
    if not _enabled():
        return None
    path = _entry_path(key)
    try:
        data = path.read_bytes()
    except (FileNotFoundError, NotADirectoryError):
        return None
    except OSError as err:
        _reject(path, f"cannot be read ({err.strerror or err})")
        return None
    try:
        entry = _decode(key, data)
    except _BadEntry as err:
        _reject(path, str(err))
        return None
    _touch(path)
    return entry


def put(key: str, metadata: dict, blobs: Mapping[str, bytes]) -> None:
    """Store an entry under ``key`` (replacing any), then evict down to the size cap.

    Never raises for a file-system failure: it becomes a ``TcWarning``. Metadata that
    is not JSON-able is a ``TypeError``, a bad key a ``ValueError``.
    """
    _check_key(key)
    data = _encode(key, metadata, blobs)  # before the switch: bad data fails either way
    if not _enabled():
        return
    max_bytes = _max_bytes()
    path = _entry_path(key)
    if _write_atomically(path, data):
        _evict(path.parent, max_bytes, keep=path)


def reject(key: str, problem: str) -> None:
    """Report the entry under ``key`` unusable (its content passed the store's checks
    but not the compiler's: ``problem``) and remove it: the kernel is recompiled."""
    _check_key(key)
    _reject(_entry_path(key), problem)


def _write_atomically(path: Path, data: bytes) -> bool:
    """Write through a unique temp file renamed over ``path``: readers and concurrent
    writers only ever see whole files. No fsync: a file torn by a power loss fails its
    checks on the next read and is recompiled."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, temp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.stem}.", suffix=".tmp")
    except OSError as err:
        _write_failed(path, err)
        return False
    try:
        with os.fdopen(fd, "wb") as file:
            file.write(data)
        os.replace(temp, path)
    except OSError as err:
        _remove(Path(temp))
        _write_failed(path, err)
        return False
    return True


def _write_failed(path: Path, err: OSError) -> None:
    warn(f"cannot write the cache entry {path} ({err.strerror or err}); "
         "the kernel is compiled but not cached")


def _reject(path: Path, problem: str) -> None:
    warn(f"the cache entry {path} {problem}; the kernel will be recompiled")
    # An empty directory in the entry's place is removed too, so the next put works.
    # A writer may have just replaced the bad file: then a good entry goes, a mere miss.
    if not _remove(path):
        try:
            path.rmdir()
        except OSError:
            pass


def _touch(path: Path) -> None:
    """Mark an entry recently used, for the LRU eviction."""
    try:
        os.utime(path)
    except OSError:
        pass


def _remove(path: Path) -> bool:
    """Delete a file; False if it could not (it may have vanished already)."""
    try:
        path.unlink()
        return True
    except OSError:
        return False


# --- eviction, info, clear --------------------------------------------------------


def _entries(directory: Path) -> Iterator[tuple[Path, os.stat_result]]:
    """The entry files and their stats; files vanishing meanwhile are skipped."""
    try:
        listing = list(os.scandir(directory))
    except OSError:
        return
    for item in listing:
        if _ENTRY_NAME.fullmatch(item.name):
            try:
                if item.is_file(follow_symlinks=False):
                    yield Path(item.path), item.stat(follow_symlinks=False)
            except OSError:
                continue


def _evict(directory: Path, max_bytes: int, keep: Path) -> None:
    """Delete least recently used entries, never ``keep``, until under ``max_bytes``."""
    entries = sorted((st.st_mtime_ns, path, st.st_size) for path, st in _entries(directory))
    total = sum(size for _, _, size in entries)
    for _, path, size in entries:
        if total <= max_bytes:
            break
        if path != keep:
            _remove(path)  # gone either way: we or another process freed it
            total -= size


def cache_info() -> dict:
    """The cache directory, its entry count and bytes, whether it is on, and the cap."""
    directory = cache_dir()
    sizes = [st.st_size for _, st in _entries(directory)]
    return {
        "directory": str(directory),
        "entries": len(sizes),
        "bytes": sum(sizes),
        "enabled": _enabled(),
        "max_bytes": _max_bytes(),
    }


def clear_cache() -> int:
    """Delete every entry (and leftover temp file); returns how many entries it removed.

    Other files in the directory are left alone. A write in progress in another process
    may lose its temp file; that write then warns and its kernel is not cached.
    """
    directory = cache_dir()
    try:
        names = os.listdir(directory)
    except OSError:
        return 0
    removed = 0
    for name in names:
        if _ENTRY_NAME.fullmatch(name):
            removed += _remove(directory / name)
        elif _TEMP_NAME.fullmatch(name):
            _remove(directory / name)
    return removed
