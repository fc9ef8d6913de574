"""isl's scheduler never ends a compilation: when it fails on a valid program or runs past
its time budget, the statements keep their original order, with a TcWarning
(tcir/polyhedral/schedule.py). Results are checked against the NumPy reference."""

import random
import warnings

import numpy as np
import pytest

import tcir
from tcir.errors import TcWarning
from tcir.frontend import check_source
from tcir.polyhedral import Fusion, ScheduleOptions, compute_schedule, model_from_source
from tcir.polyhedral import schedule as scheduling
from tcir.testing.reference import evaluate

PERMUTED_SELF_READ = """def f(float(N, N, N) A) -> (O) {
    O(i, j, k) = A(i, j, k)
    O(i, j, k) += O(i, k, s) + O(r, j, j) where s in 0:2, j in 0:2
}"""

CHAIN = "def chain(float(N, N) A) -> (T11) {\n    T0(i, j) = A(i, j)\n" + "".join(
    f"    T{k}(i, j) = T{k - 1}(j, i) + T{max(k - 2, 0)}(i, j) * A(j, i)\n" for k in range(1, 12)) + "}"


def compiled_with_warnings(source: str, entry: str, *inputs):
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        out = tcir.compile(source, entry, options="naive")(*inputs)
    return out, [str(w.message) for w in record if issubclass(w.category, TcWarning)]


def reference(source: str, entry: str, *inputs):
    return evaluate(check_source(source).defs[entry], *inputs)[0]


def test_the_permuted_self_read_falls_back_and_matches_the_reference():
    a = np.random.default_rng(0).random((3, 3, 3), dtype=np.float32)
    got, said = compiled_with_warnings(PERMUTED_SELF_READ, "f", a)
    assert any("isl's scheduler failed (unable to carry dependences) on 2 statement(s); they keep "
               "their original order" in w for w in said), said
    np.testing.assert_allclose(got, reference(PERMUTED_SELF_READ, "f", a), rtol=1e-5)


def random_self_reading_def(rng: random.Random) -> str:
    """A statement accumulating reads of its own target at permuted or constant indices."""
    names = ["i", "j", "k"]
    reads = []
    for _ in range(rng.randint(1, 3)):
        subs = [rng.choice(names + ["s", "r"]) for _ in range(3)]
        reads.append(f"O({', '.join(subs)})")
    op = rng.choice(["+=", "max="])
    return (f"def g(float(N, N, N) A) -> (O) {{\n    O(i, j, k) = A(i, j, k)\n"
            f"    O(i, j, k) {op} {' + '.join(reads)} where s in 0:2, r in 0:N\n}}")


@pytest.mark.parametrize("seed", range(12))
def test_random_self_reading_statements_match_the_reference(seed):
    source = random_self_reading_def(random.Random(seed))
    a = np.random.default_rng(seed).random((3, 3, 3), dtype=np.float32)
    got, said = compiled_with_warnings(source, "g", a)
    assert all("scheduler" in w for w in said), said
    np.testing.assert_allclose(got, reference(source, "g", a), rtol=1e-4)


@pytest.mark.parametrize("fusion", list(Fusion))
def test_a_child_process_schedules_as_this_process_does(monkeypatch, fusion):
    model = model_from_source(CHAIN)
    here = compute_schedule(model, ScheduleOptions(fusion=fusion)).schedule_map
    monkeypatch.setattr(scheduling, "IN_PROCESS_STATEMENTS", 0)
    there = compute_schedule(model, ScheduleOptions(fusion=fusion)).schedule_map
    assert here.is_equal(there)


def test_past_the_time_budget_the_original_order_is_used(monkeypatch):
    monkeypatch.setattr(scheduling, "IN_PROCESS_STATEMENTS", 0)
    monkeypatch.setattr(scheduling, "SCHEDULER_TIME_LIMIT_S", 0.001)
    a = np.random.default_rng(1).random((4, 4), dtype=np.float32)
    got, said = compiled_with_warnings(CHAIN, "chain", a)
    assert any("ran past its budget of 0.001 s on 12 statement(s)" in w for w in said), said
    np.testing.assert_allclose(got, reference(CHAIN, "chain", a), rtol=1e-4)


def test_a_child_that_dies_is_a_warning_too(monkeypatch):
    monkeypatch.setattr(scheduling, "IN_PROCESS_STATEMENTS", 0)
    monkeypatch.setattr(scheduling, "_CHILD", "import sys; sys.exit('isl crashed')")
    with pytest.warns(TcWarning, match=r"failed in its process \(isl crashed\) on 12 statement"):
        assert compute_schedule(model_from_source(CHAIN)).fallback


def test_the_caps_exist():
    """Compile time is bounded (issue 19): the scheduler's budget is a few seconds, and
    small defs are scheduled without starting a process."""
    assert 1 <= scheduling.SCHEDULER_TIME_LIMIT_S <= 60
    assert scheduling.IN_PROCESS_STATEMENTS >= 4
