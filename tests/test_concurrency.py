"""Threads and the API's kernel memo (tcir/api.py `_memoized`): a compiled kernel's calls
never wait for a compilation, a key is built once however many threads ask for it,
and a build that raises leaves the key to be built again. Also: `define` canonicalizes
its source once, not once per def.

The compilations are made slow, or counted, by wrapping `tcir.api.compile_kernel` (what
the API calls to compile or load a kernel); the orderings are proven with events,
never with timings. Every wait has a timeout, so that a deadlock fails the test.
"""

from __future__ import annotations

import threading

import numpy as np
import pytest

import tcir
from tcir import TcError, api

WAIT = 120  # seconds before a wait is taken for a deadlock

SOURCE = """
def scale(float(N) A, float s) -> (B) {
    B(i) = A(i) * s
}
def matmul(float(M, K) A, float(K, N) B) -> (C) {
    C(m, n) +=! A(m, r_k) * B(r_k, n)
}
"""


class Gate:
    """A wrapper of `compile_kernel` that counts its calls and, while closed, holds
    each call until `open()`."""

    def __init__(self, real, closed: bool = True, fail: int = 0):
        self.real = real
        self.calls = 0
        self.entered = threading.Event()
        self.opened = threading.Event()
        self.finished = threading.Event()
        self.fail = fail  # the first `fail` calls raise a TcError
        self.lock = threading.Lock()
        if not closed:
            self.opened.set()

    def open(self) -> None:
        self.opened.set()

    def __call__(self, *args, **kwargs):
        with self.lock:
            self.calls += 1
            failing = self.calls <= self.fail
        self.entered.set()
        assert self.opened.wait(WAIT), "the gate was never opened"
        try:
            if failing:
                raise TcError("the build failed")
            return self.real(*args, **kwargs)
        finally:
            self.finished.set()


def _start(target, *args) -> tuple[threading.Thread, list]:
    """A thread running `target(*args)`; the list gets its result or its exception."""
    outcome: list = []

    def run():
        try:
            outcome.append(target(*args))
        except BaseException as err:  # noqa: BLE001 - checked by the test
            outcome.append(err)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread, outcome


def test_calls_of_a_compiled_kernel_do_not_wait_for_another_compilation(monkeypatch):
    T = tcir.define(SOURCE)
    x = np.arange(16, dtype=np.float32)
    np.testing.assert_array_equal(T.scale(x, 2.0), x * 2)  # compiled (or loaded) now
    gate = Gate(api.compile_kernel)
    monkeypatch.setattr(api, "compile_kernel", gate)
    a = np.ones((96, 80), np.float32)
    b = np.ones((80, 72), np.float32)
    compiling, compiled = _start(T.matmul, a, b)  # held in the gate until opened
    try:
        assert gate.entered.wait(WAIT)
        hot, results = _start(lambda: [T.scale(x, float(i)) for i in range(200)])
        hot.join(WAIT)
        assert not hot.is_alive(), "calls of a compiled kernel waited for another kernel's compilation"
        assert not gate.finished.is_set()  # the calls all finished while the compilation was held
    finally:
        gate.open()
        compiling.join(WAIT)
    assert len(results) == 1 and not isinstance(results[0], BaseException), results
    for i, y in enumerate(results[0]):
        np.testing.assert_array_equal(y, x * np.float32(i))
    assert not compiling.is_alive() and not isinstance(compiled[0], BaseException), compiled
    np.testing.assert_array_equal(compiled[0], a @ b)
    assert gate.calls == 1  # the hot kernel was memoized: only matmul was built


def test_different_keys_build_at_the_same_time(monkeypatch):
    """A second key's build starts while the first one's is held: builds of different
    keys do not wait for each other (only the driver's IR and LLVM steps are serialized,
    and the gate holds the first build before those)."""
    T = tcir.define(SOURCE)
    gate = Gate(api.compile_kernel)
    monkeypatch.setattr(api, "compile_kernel", gate)
    first, out_first = _start(T.scale, np.ones(37, np.float32), 1.0)
    try:
        assert gate.entered.wait(WAIT)
        second_entered = threading.Event()
        real = gate.real

        def second_build(*args, **kwargs):
            second_entered.set()
            return real(*args, **kwargs)

        monkeypatch.setattr(api, "compile_kernel", second_build)
        second, out_second = _start(T.scale, np.ones(41, np.float32), 1.0)
        assert second_entered.wait(WAIT), "a build of another key waited for the first build"
        second.join(WAIT)
        assert not second.is_alive() and not gate.finished.is_set()
    finally:
        gate.open()
        first.join(WAIT)
    np.testing.assert_array_equal(out_first[0], np.ones(37, np.float32))
    np.testing.assert_array_equal(out_second[0], np.ones(41, np.float32))


def test_threads_asking_for_one_new_key_build_it_once(monkeypatch):
    T = tcir.define(SOURCE)
    kernel = T.matmul
    a = np.ones((24, 40), np.float32)
    b = np.ones((40, 56), np.float32)
    layout = kernel.prepare((a, b))[3]
    gate = Gate(api.compile_kernel)
    monkeypatch.setattr(api, "compile_kernel", gate)
    n = 8
    started = threading.Barrier(n + 1)

    def ask():
        started.wait(WAIT)
        return kernel._compiled(layout)

    threads = [_start(ask) for _ in range(n)]
    try:
        started.wait(WAIT)  # every thread is about to ask
        assert gate.entered.wait(WAIT)
    finally:
        gate.open()
        for thread, _ in threads:
            thread.join(WAIT)
    kernels = [outcome[0] for _, outcome in threads]
    assert not any(isinstance(k, BaseException) for k in kernels), kernels
    assert gate.calls == 1
    assert all(k is kernels[0] for k in kernels)
    assert kernel._compiled(layout) is kernels[0] and gate.calls == 1
    np.testing.assert_array_equal(kernel(a, b), a @ b)


def test_a_failed_build_is_retried(monkeypatch):
    T = tcir.define(SOURCE)
    x = np.ones(29, np.float32)
    gate = Gate(api.compile_kernel, closed=False, fail=2)
    monkeypatch.setattr(api, "compile_kernel", gate)
    for calls in (1, 2):  # each request builds again, and raises again cleanly
        with pytest.raises(TcError, match="the build failed"):
            T.scale(x, 3.0)
        assert gate.calls == calls
    np.testing.assert_array_equal(T.scale(x, 3.0), x * 3)  # the third build succeeds
    assert gate.calls == 3
    T.scale(x, 3.0)
    assert gate.calls == 3  # and is memoized


def test_a_waiting_thread_retries_a_build_that_failed_in_another(monkeypatch):
    T = tcir.define(SOURCE)
    x = np.ones(31, np.float32)
    gate = Gate(api.compile_kernel, fail=1)
    monkeypatch.setattr(api, "compile_kernel", gate)
    failing, out_failing = _start(T.scale, x, 2.0)
    try:
        assert gate.entered.wait(WAIT)
        waiting, out_waiting = _start(T.scale, x, 2.0)  # waits for the failing build
    finally:
        gate.open()
        failing.join(WAIT)
        waiting.join(WAIT)
    assert isinstance(out_failing[0], TcError) and "the build failed" in str(out_failing[0])
    np.testing.assert_array_equal(out_waiting[0], x * 2)
    assert gate.calls == 2


def test_define_canonicalizes_the_source_once(monkeypatch):
    source = "\n".join(f"def f{i}(float(N) A) -> (B) {{\n    B(i) = A(i) * {i}.0\n}}" for i in range(400))
    calls = []
    real = api.canonical_source

    def counted(text):
        calls.append(len(text))
        return real(text)

    monkeypatch.setattr(api, "canonical_source", counted)
    T = tcir.define(source)
    assert calls == [len(source)]
    assert len(dir(T)) == 400
    x = np.arange(8, dtype=np.float32)
    np.testing.assert_array_equal(T.f399(x), x * 399)
    assert calls == [len(source)]  # a call does not canonicalize it again
