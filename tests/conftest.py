"""Shared pytest configuration: the hypothesis profiles (docs/testing.md).

HYPOTHESIS_PROFILE selects one (default `ci`):

  ci    what `make test` runs: few examples, derandomized (the same examples on every
        run, so a CI failure reproduces exactly), no example database.
  fuzz  what `make fuzz` runs: `FUZZ_SCALE` (default 50) times the examples of `ci`,
        random, with the example database in .hypothesis/ so that a failure found once
        is replayed first on the next run.
  dev   random like fuzz, with the examples of ci: a quick local exploration.

Property tests scale their example counts with `strategies.examples(n)` (n is the
count under `ci`), so one knob sets the budget of the whole suite.

The compilation cache is on, as for users, in a temporary directory of this test
process (`TCIR_CACHE_DIR`, inherited by the commands tests run): tests never read a
user's cache nor leave entries in it.
"""

import atexit
import os
import shutil
import tempfile

import pytest
from hypothesis import HealthCheck, Verbosity, settings

from tcir import TcError

_COMMON = dict(
    deadline=None,
    print_blob=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much],
)

settings.register_profile("ci", derandomize=True, database=None, **_COMMON)
settings.register_profile("dev", **_COMMON)
settings.register_profile("fuzz", report_multiple_bugs=False, **_COMMON)
settings.register_profile("verbose", verbosity=Verbosity.verbose, **_COMMON)

settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))

os.environ["TCIR_CACHE_DIR"] = tempfile.mkdtemp(prefix="tcir-test-cache-")
os.environ.pop("TCIR_CACHE", None)
atexit.register(shutil.rmtree, os.environ["TCIR_CACHE_DIR"], ignore_errors=True)


@pytest.fixture
def gpu():
    """The CUDA device 0; skips the test where there is none (tests marked `gpu`)."""
    from tcir.backends import cuda_runtime

    try:
        return cuda_runtime.require_gpu()
    except TcError as err:
        pytest.skip(err.message)
