"""Kernels called in forked children after the parent ran them on its thread pool.

A child forked from a process whose tcir pool was started has none of the pool's
threads: without the reset at fork (backends/cpu_parallel.py, `os.register_at_fork`)
its first parallel call would wait forever for chunks no thread runs. Locks held at
fork time by threads of the parent (LLVM's COMPILE_LOCK, the driver's IR_LOCK, a
build under way in the API's memo) must not be held in the child either.

Each scenario runs as a script in a fresh Python process with a timeout, so that a hang
is a failure instead of a stuck test run. The scripts run kernels big enough to be cut
into chunks (more than cpu_parallel.MIN_PARALLEL_INSTANCES statement instances) with
TCIR_NUM_THREADS=4, check that the parent's pool threads exist before forking, and
check every result against NumPy.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap

import pytest

from tcir.backends.cpu_parallel import MIN_PARALLEL_INSTANCES

TIMEOUT = 240  # seconds: a first compilation on a loaded machine takes a few
N = 64  # the matmul's N * N * N statement instances
assert N ** 3 >= 4 * MIN_PARALLEL_INSTANCES, "the kernel must run on several threads"

COMMON = f"""
import multiprocessing, os, sys, threading
import numpy as np
import tcir

N = {N}
SOURCE = '''
def matmul(float(M, K) A, float(K, N) B) -> (C) {{
    C(m, n) +=! A(m, r_k) * B(r_k, n)
}}
def scale(float(M, N) A, float s) -> (B) {{
    B(m, n) = A(m, n) * s
}}
'''
T = tcir.define(SOURCE)


def inputs(seed):
    rng = np.random.default_rng(seed)
    return rng.random((N, N), np.float32), rng.random((N, N), np.float32)


def check(seed, repeat=1):
    a, b = inputs(seed)
    for _ in range(repeat):
        c = T.matmul(a, b)
        np.testing.assert_allclose(c, a @ b, rtol=1e-4)
    return float(c.sum())


def pool_threads():
    return [t for t in threading.enumerate() if t.name.startswith("tcir")]


def parent_ran_in_parallel():
    check(0)
    assert pool_threads(), "the parent's call did not start the thread pool"
"""

SCRIPTS = {
    # multiprocessing's default start method on Linux
    "multiprocessing_fork": """
if __name__ == "__main__":
    parent_ran_in_parallel()
    context = multiprocessing.get_context("fork")
    with context.Pool(2) as pool:
        sums = pool.map(check, range(1, 5))
    assert sums == [check(s) for s in range(1, 5)], sums
    print("ok")
""",
    # spawn: a fresh interpreter imports this script and compiles (or loads) the kernel
    "multiprocessing_spawn": """
def child_pool_threads(seed):
    check(seed)
    return len(pool_threads())


if __name__ == "__main__":
    parent_ran_in_parallel()
    context = multiprocessing.get_context("spawn")
    with context.Pool(2) as pool:
        threads = pool.map(child_pool_threads, range(1, 3))
    assert all(n > 0 for n in threads), threads  # the children ran in parallel too
    print("ok")
""",
    "os_fork": """
if __name__ == "__main__":
    parent_ran_in_parallel()
    pid = os.fork()
    if pid == 0:
        try:
            check(1, repeat=3)
            assert pool_threads(), "the child did not run the kernel in parallel"
            T.scale(inputs(2)[0], 2.0)  # compiled in the child
        except BaseException as err:
            print("child failed:", repr(err), flush=True)
            os._exit(1)
        os._exit(0)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    check(3)  # the parent's pool still works
    print("ok")
""",
    # what a PyTorch DataLoader with workers does: a pool of forked workers, each
    # calling the kernel for many items
    "dataloader_workers": """
def item(seed):
    a, b = inputs(seed)
    return float(T.matmul(a, b).sum()), float((a @ b).sum())


if __name__ == "__main__":
    parent_ran_in_parallel()
    context = multiprocessing.get_context("fork")
    with context.Pool(4) as pool:
        for got, want in pool.imap_unordered(item, range(64), chunksize=2):
            assert abs(got - want) <= 1e-4 * abs(want), (got, want)
    print("ok")
""",
    # fork while other threads hold LLVM's and xDSL's locks (a compilation under way):
    # fork waits for them, and the child compiles a new kernel
    "fork_during_compilation": """
from tcir import driver
from tcir.backends import cpu


def hold(lock, held, release):
    with lock:
        held.set()
        release.wait(0.5)


if __name__ == "__main__":
    parent_ran_in_parallel()
    for lock in (cpu.COMPILE_LOCK, driver.IR_LOCK):
        held, release = threading.Event(), threading.Event()
        holder = threading.Thread(target=hold, args=(lock, held, release))
        holder.start()
        held.wait()
        pid = os.fork()
        if pid == 0:
            try:
                T.scale(np.ones((N, N + 1), np.float32), 3.0)  # a new layout: compiled here
                check(1)
            except BaseException as err:
                print("child failed:", repr(err), flush=True)
                os._exit(1)
            os._exit(0)
        holder.join()
        _, status = os.waitpid(pid, 0)
        assert os.waitstatus_to_exitcode(status) == 0
    print("ok")
""",
    # fork while another thread of the parent builds a kernel (holding its key's build
    # lock): the child builds that key itself instead of waiting for a thread it lacks
    "fork_during_build": """
from tcir import api

real = api.compile_kernel
parent = os.getpid()
building, release = threading.Event(), threading.Event()


def slow(*args, **kwargs):
    if os.getpid() == parent:
        building.set()
        release.wait(60)
    return real(*args, **kwargs)


if __name__ == "__main__":
    parent_ran_in_parallel()
    api.compile_kernel = slow
    a = np.ones((N + 2, N), np.float32)
    builder = threading.Thread(target=T.scale, args=(a, 2.0))
    builder.start()
    building.wait(60)
    pid = os.fork()
    if pid == 0:
        try:
            np.testing.assert_array_equal(T.scale(a, 2.0), a * 2)
            check(1)
        except BaseException as err:
            print("child failed:", repr(err), flush=True)
            os._exit(1)
        os._exit(0)
    try:
        _, status = os.waitpid(pid, 0)
    finally:
        release.set()
        builder.join()
    assert os.waitstatus_to_exitcode(status) == 0
    np.testing.assert_array_equal(T.scale(a, 2.0), a * 2)
    print("ok")
""",
}


@pytest.mark.parametrize("scenario", sorted(SCRIPTS))
def test_kernel_calls_in_child_processes(scenario, tmp_path):
    script = tmp_path / f"{scenario}.py"
    script.write_text(textwrap.dedent(COMMON) + textwrap.dedent(SCRIPTS[scenario]))
    env = {**os.environ, "TCIR_NUM_THREADS": "4"}
    # a session of its own, so that a hang kills the forked children too
    proc = subprocess.Popen([sys.executable, str(script)], cwd=tmp_path, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:
        stdout, stderr = proc.communicate(timeout=TIMEOUT)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        stdout, stderr = proc.communicate()
        pytest.fail(f"{scenario} hung (killed after {TIMEOUT} s); output:\n{stdout}\n{stderr}")
    finally:
        try:
            os.killpg(proc.pid, signal.SIGKILL)  # children left behind by a failure
        except ProcessLookupError:
            pass
    assert proc.returncode == 0, f"{scenario} failed:\n{stdout}\n{stderr}"
    assert stdout.strip().endswith("ok")
