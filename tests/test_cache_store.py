"""The on-disk compilation cache store (tcir/cache.py): format, checks, LRU, concurrency."""

import errno
import json
import multiprocessing
import os
import random
import warnings

import pytest

from tcir import TcError, TcWarning
from tcir import cache
from tcir.cache import MAGIC, cache_info, cache_key, clear_cache, get, put

KEY = cache_key({"kernel": "main"})
OTHER = cache_key({"kernel": "other"})
META = {"entry": "matmul", "sizes": {"M": 3, "N": 4}, "text": "two\nlines é", "flags": [True, None, 1.5]}
BLOBS = {"object": bytes(range(256)) * 4, "empty": b"", "plan": b'{"grid": [1]}\n\x00'}


@pytest.fixture
def store(tmp_path, monkeypatch):
    """An empty cache directory, the cache on, the default cap."""
    directory = tmp_path / "cache"
    monkeypatch.setenv("TCIR_CACHE_DIR", str(directory))
    monkeypatch.delenv("TCIR_CACHE", raising=False)
    monkeypatch.delenv("TCIR_CACHE_MAX_BYTES", raising=False)
    return directory


def entry_file(directory, key=KEY):
    return directory / f"{key}.tcir"


def assert_round_trip(key=KEY):
    put(key, META, BLOBS)
    entry = get(key)
    assert entry is not None
    assert entry.metadata == META
    assert entry.blobs == BLOBS


# --- round trip and keys --------------------------------------------------------------


def test_round_trip(store):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert get(KEY) is None  # a miss is silent
        assert_round_trip()
        put(OTHER, {}, {"only": bytearray(b"\xff\x00")})
        assert get(OTHER).blobs == {"only": b"\xff\x00"}
        assert get(OTHER).metadata == {}
    assert sorted(p.name for p in store.iterdir()) == sorted([f"{KEY}.tcir", f"{OTHER}.tcir"])
    assert entry_file(store).read_bytes().startswith(MAGIC)


def test_put_replaces_an_entry(store):
    put(KEY, {"v": 1}, {"a": b"1"})
    put(KEY, {"v": 2}, {"b": b"22"})
    assert get(KEY).metadata == {"v": 2}
    assert get(KEY).blobs == {"b": b"22"}


def test_bad_arguments_are_programming_errors(store):
    with pytest.raises(ValueError):
        get("../etc/passwd")
    with pytest.raises(ValueError):
        put(KEY.upper(), {}, {})
    with pytest.raises(TypeError):
        put(KEY, {"f": object()}, {})
    with pytest.raises(TypeError):
        put(KEY, {}, {"blob": "text"})
    with pytest.raises(TypeError):
        put(KEY, [1], {})
    assert not store.exists()


COMPONENTS = {
    "source": "def f(float(N) A) -> (B) { B(i) = A(i) }",
    "entry": "f",
    "layout": {"sizes": [["N", 8]], "strides": [["A", [1]]]},
    "target": "cpu",
    "options": "tile=32 unroll=4",
    "versions": {"tcir": "0.1.0", "llvm": 18},
    "fast": True,
    "scale": 1.5,
    "device": None,
}


def test_cache_key_is_stable_under_dict_order():
    reordered = {k: COMPONENTS[k] for k in reversed(COMPONENTS)}
    reordered["layout"] = {"strides": [["A", [1]]], "sizes": [["N", 8]]}
    key = cache_key(COMPONENTS)
    assert key == cache_key(reordered)
    assert len(key) == 64 and int(key, 16) >= 0
    assert cache_key({"shape": (2, 3)}) == cache_key({"shape": [2, 3]})


@pytest.mark.parametrize(
    "name, value",
    [
        ("source", COMPONENTS["source"] + " "),
        ("entry", "g"),
        ("layout", {"sizes": [["N", 9]], "strides": [["A", [1]]]}),
        ("target", "cuda"),
        ("options", "tile=32 unroll=8"),
        ("versions", {"tcir": "0.1.1", "llvm": 18}),
        ("fast", 1),  # True and 1 are different JSON
        ("scale", 1),
        ("device", "sm_90"),
        ("extra", 0),
    ],
)
def test_cache_key_changes_with_each_component(name, value):
    assert cache_key({**COMPONENTS, name: value}) != cache_key(COMPONENTS)


@pytest.mark.parametrize("value", [object(), b"bytes", {1, 2}, {"nested": {1: "int key"}}, [complex(1, 2)]])
def test_cache_key_rejects_what_is_not_json(value):
    with pytest.raises(TypeError):
        cache_key({"x": value})


# --- configuration --------------------------------------------------------------------


def test_disabled_cache_reads_and_writes_nothing(store, monkeypatch):
    put(KEY, META, BLOBS)
    monkeypatch.setenv("TCIR_CACHE", "0")
    assert get(KEY) is None
    put(OTHER, META, BLOBS)
    assert not entry_file(store, OTHER).exists()
    assert cache_info()["enabled"] is False
    monkeypatch.setenv("TCIR_CACHE", "1")
    assert get(KEY).blobs == BLOBS


@pytest.mark.parametrize("value", ["yes", "", "2", "off", " 1"])
def test_invalid_cache_switch_is_an_error(store, monkeypatch, value):
    monkeypatch.setenv("TCIR_CACHE", value)
    for call in (lambda: get(KEY), lambda: put(KEY, {}, {}), cache_info):
        with pytest.raises(TcError, match="TCIR_CACHE must be 0"):
            call()


@pytest.mark.parametrize("value", ["0", "-5", "1e9", "big", "1.5", ""])
def test_invalid_size_cap_is_an_error(store, monkeypatch, value):
    monkeypatch.setenv("TCIR_CACHE_MAX_BYTES", value)
    for call in (lambda: put(KEY, {}, {}), cache_info):
        with pytest.raises(TcError, match="TCIR_CACHE_MAX_BYTES must be a positive"):
            call()


def test_default_directory(tmp_path, monkeypatch):
    monkeypatch.delenv("TCIR_CACHE_DIR", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert cache_info()["directory"] == str(tmp_path / "xdg" / "tcir")
    monkeypatch.delenv("XDG_CACHE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert cache_info()["directory"] == str(tmp_path / "home" / ".cache" / "tcir")


# --- bad entries ----------------------------------------------------------------------


def split(data):
    """(header dict, blob bytes) of an entry file's contents."""
    end = data.index(b"\n", len(MAGIC))
    return json.loads(data[len(MAGIC) : end]), data[end + 1 :]


def with_header(data, **changes):
    header, body = split(data)
    header.update(changes)
    return MAGIC + json.dumps(header).encode() + b"\n" + body


def flip_last_byte(data):
    return data[:-1] + bytes([data[-1] ^ 0x01])


CORRUPTIONS = {
    "garbage": (lambda data: b"\x00\xffELF random bytes\n" * 3, "bad magic"),
    "wrong magic": (lambda data: b"tcir-cachX\n" + data[len(MAGIC) :], "bad magic"),
    "empty": (lambda data: b"", "truncated"),
    "bad json": (lambda data: MAGIC + b"{not json\n" + data, "not JSON"),
    "not utf-8": (lambda data: MAGIC + b"\xff\xfe\n", "not JSON"),
    "deep json": (lambda data: MAGIC + b"[" * 100000 + b"\n", "not JSON"),
    "header a list": (lambda data: MAGIC + b"[1, 2]\n", "malformed"),
    "flipped blob byte": (flip_last_byte, "SHA-256"),
    "wrong version": (lambda data: with_header(data, version=2), "format version 2"),
    "other key": (lambda data: with_header(data, key=OTHER), "holds the key"),
    "no metadata": (lambda data: with_header(data, metadata=None), "malformed"),
    "bad blob size": (lambda data: with_header(data, blobs={"object": {"size": -1, "sha256": ""}}), "malformed"),
    "trailing bytes": (lambda data: data + b"!", "too long"),
}


def assert_rejected(path, problem):
    """get() warns once naming the file and the problem, returns None; then the cache works."""
    with pytest.warns(TcWarning) as record:
        assert get(KEY) is None
    assert len(record) == 1
    message = str(record[0].message)
    assert str(path) in message and problem in message and "recompiled" in message
    assert not path.exists()
    assert_round_trip()


@pytest.mark.parametrize("name", CORRUPTIONS)
def test_corrupted_entry_is_a_warned_miss(store, name):
    corrupt, problem = CORRUPTIONS[name]
    put(KEY, META, BLOBS)
    path = entry_file(store)
    path.write_bytes(corrupt(path.read_bytes()))
    assert_rejected(path, problem)


def test_entry_of_another_key_is_rejected(store):
    put(OTHER, META, BLOBS)
    os.replace(entry_file(store, OTHER), entry_file(store))
    assert_rejected(entry_file(store), f"holds the key '{OTHER}'")


@pytest.mark.parametrize("where", ["magic", "after magic", "header", "after header", "blob", "last byte"])
def test_truncated_entry_is_a_warned_miss(store, where):
    put(KEY, META, BLOBS)
    path = entry_file(store)
    data = path.read_bytes()
    header_end = data.index(b"\n", len(MAGIC)) + 1
    cut = {"magic": 5, "after magic": len(MAGIC), "header": len(MAGIC) + 20,
           "after header": header_end, "blob": header_end + 100, "last byte": len(data) - 1}[where]
    path.write_bytes(data[:cut])
    assert_rejected(path, "truncated")


def test_directory_in_place_of_an_entry(store):
    entry_file(store).mkdir(parents=True)
    assert_rejected(entry_file(store), "cannot be read")


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads files whatever their mode")
def test_unreadable_entry(store):
    put(KEY, META, BLOBS)
    entry_file(store).chmod(0)
    assert_rejected(entry_file(store), "cannot be read")


# --- write failures -------------------------------------------------------------------


def test_put_under_a_regular_file_warns(tmp_path, monkeypatch):
    (tmp_path / "file").write_text("not a directory")
    directory = tmp_path / "file" / "cache"
    monkeypatch.setenv("TCIR_CACHE_DIR", str(directory))
    with pytest.warns(TcWarning, match="cannot write the cache entry") as record:
        put(KEY, META, BLOBS)
    assert str(entry_file(directory)) in str(record[0].message)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert get(KEY) is None  # a missing directory is a plain miss


def test_failed_rename_warns_and_removes_the_temp_file(store):
    entry_file(store).mkdir(parents=True)
    (entry_file(store) / "keep").write_text("a non-empty directory cannot be replaced")
    with pytest.warns(TcWarning, match="cannot write the cache entry"):
        put(KEY, META, BLOBS)
    assert sorted(p.name for p in store.iterdir()) == [f"{KEY}.tcir"]


def test_disk_full_warns_and_removes_the_temp_file(store, monkeypatch):
    def disk_full(src, dst):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(cache.os, "replace", disk_full)
    with pytest.warns(TcWarning, match="No space left on device") as record:
        put(KEY, META, BLOBS)
    assert str(entry_file(store)) in str(record[0].message)
    assert list(store.iterdir()) == []


# --- LRU eviction ---------------------------------------------------------------------


def fill(store, count):
    """`count` entries of equal size with mtimes 1000, 2000, ... (oldest first)."""
    keys = [cache_key({"n": i}) for i in range(count)]
    for i, key in enumerate(keys):
        put(key, {}, {"blob": bytes(1000)})
        os.utime(entry_file(store, key), (1000 * (i + 1), 1000 * (i + 1)))
    return keys, entry_file(store, keys[0]).stat().st_size


def present(store, keys):
    return [key for key in keys if entry_file(store, key).exists()]


def test_eviction_removes_the_least_recently_used(store, monkeypatch):
    keys, size = fill(store, 4)
    monkeypatch.setenv("TCIR_CACHE_MAX_BYTES", str(3 * size + size // 2))
    new = cache_key({"n": "new"})
    put(new, {}, {"blob": bytes(1000)})
    assert present(store, keys) == keys[2:]
    assert entry_file(store, new).exists()
    assert cache_info()["bytes"] <= 3 * size + size // 2


def test_a_hit_refreshes_recency(store, monkeypatch):
    keys, size = fill(store, 3)
    assert get(keys[0]) is not None
    monkeypatch.setenv("TCIR_CACHE_MAX_BYTES", str(3 * size))
    put(cache_key({"n": "new"}), {}, {"blob": bytes(1000)})
    assert present(store, keys) == [keys[0], keys[2]]


def test_eviction_keeps_the_new_entry_and_other_files(store, monkeypatch):
    keys, size = fill(store, 3)
    (store / "notes.txt").write_bytes(bytes(10 * size))
    monkeypatch.setenv("TCIR_CACHE_MAX_BYTES", "1")
    put(KEY, META, BLOBS)
    assert present(store, keys) == []
    assert get(KEY).blobs == BLOBS
    assert (store / "notes.txt").exists()


# --- cache_info and clear_cache -------------------------------------------------------


def test_cache_info_and_clear(store, monkeypatch):
    assert cache_info() == {"directory": str(store), "entries": 0, "bytes": 0,
                            "enabled": True, "max_bytes": 1 << 30}
    assert clear_cache() == 0  # no directory yet
    keys, size = fill(store, 3)
    monkeypatch.setenv("TCIR_CACHE_MAX_BYTES", "123456")
    assert cache_info() == {"directory": str(store), "entries": 3, "bytes": 3 * size,
                            "enabled": True, "max_bytes": 123456}
    foreign = ["notes.txt", "README.tcir", f"{KEY}.tcir.bak", ".hidden.tmp"]
    for name in foreign:
        (store / name).write_text("not tcir's")
    (store / "sub").mkdir()
    (store / f".{KEY}.abc_123.tmp").write_bytes(b"a write that died")
    assert clear_cache() == 3
    assert sorted(p.name for p in store.iterdir()) == sorted(foreign + ["sub"])
    assert cache_info()["entries"] == 0


def test_clear_tolerates_entries_vanishing(store, monkeypatch):
    fill(store, 2)
    listdir = os.listdir
    # A name listed but removed by another process before we get to it.
    monkeypatch.setattr(cache.os, "listdir", lambda d: listdir(d) + [f"{OTHER}.tcir"])
    assert clear_cache() == 2


# --- concurrency ----------------------------------------------------------------------

BIG = {"object": random.Random(0).randbytes(1 << 18), "plan": b"p" * 1000}


def hammer(write, rounds):
    """Put (if `write`) and get KEY `rounds` times; (wrong reads, hits, warnings)."""
    wrong = hits = 0
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for _ in range(rounds):
            if write:
                put(KEY, META, BIG)
            entry = get(KEY)
            if entry is not None:
                hits += 1
                wrong += entry.metadata != META or entry.blobs != BIG
    return wrong, hits, [str(w.message) for w in caught]


def churn(worker, rounds):
    """Put and get distinct keys under a small cap, racing other evictors."""
    wrong = 0
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for i in range(rounds):
            key = cache_key({"worker": worker, "i": i})
            put(key, {"i": i}, {"blob": bytes([i]) * 5000})
            entry = get(key)
            wrong += entry is not None and entry.blobs != {"blob": bytes([i]) * 5000}
    return wrong, [str(w.message) for w in caught]


def test_concurrent_writers_and_readers_of_one_key(store):
    context = multiprocessing.get_context("fork")  # fork: no re-import, so fast
    with context.Pool(8) as pool:
        results = pool.starmap(hammer, [(i % 2 == 0, 40) for i in range(8)])
    assert [(wrong, messages) for wrong, _, messages in results] == [(0, [])] * 8
    assert sum(hits for _, hits, _ in results) > 0
    assert [p.name for p in store.iterdir()] == [f"{KEY}.tcir"]
    assert get(KEY).blobs == BIG


def test_concurrent_eviction(store, monkeypatch):
    monkeypatch.setenv("TCIR_CACHE_MAX_BYTES", "30000")  # about five entries
    context = multiprocessing.get_context("fork")
    with context.Pool(8) as pool:
        results = pool.starmap(churn, [(i, 30) for i in range(8)])
    assert results == [(0, [])] * 8
    assert all(p.name.endswith(".tcir") for p in store.iterdir())
    assert cache_info()["entries"] >= 1
