"""The GPU benchmark's report (benchmarks/gpu.py): what it writes when variants fail.
Running it needs PyTorch with CUDA; its table is plain Python and checked here."""

import importlib.util
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def gpu_bench():
    spec = importlib.util.spec_from_file_location("gpu_bench", ROOT / "benchmarks" / "gpu.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _row(gpu_bench, entry, torch_s, tcir_s, failed):
    case = gpu_bench.Case(entry, entry, "N=4", lambda r: (), None, None)
    row = {"case": case, "torch": torch_s, "tcir": tcir_s, "failed": failed}
    if tcir_s is not None:
        row.update(preset="naive", compile=0.5)
    return row


def test_failed_variants_are_listed_and_left_out_of_the_mean(gpu_bench):
    rows = [_row(gpu_bench, "matmul", 0.001, 0.004, {"conv": "AssertionError: Tensor-likes are not close!"}),
            _row(gpu_bench, "softmax", 0.002, 0.001, {}),
            _row(gpu_bench, "maxpool2x2", 0.003, None, {"naive": "TcError: boom", "mlp": "TcError: boom"})]
    text = gpu_bench.table(rows)
    assert "| matmul | N=4 | naive | 0.004000 | 0.001000 | 0.250x | 0.50 |" in text
    assert "| maxpool2x2 | N=4 | every variant failed | — | 0.003000 | — | — |" in text
    # sqrt(0.25 * 2): the failed kernel has no ratio
    assert "over the 2 kernels measured: 0.707x" in text
    assert "- matmul (N=4), conv: AssertionError: Tensor-likes are not close!" in text
    assert "- maxpool2x2 (N=4), mlp: TcError: boom" in text


def test_no_failures_no_failure_list(gpu_bench):
    text = gpu_bench.table([_row(gpu_bench, "matmul", 0.001, 0.001, {})])
    assert "1.000x" in text and "failed" not in text


def test_first_line_of_an_error(gpu_bench):
    assert gpu_bench._first_line(ValueError("bad\nmore")) == "ValueError: bad"
    assert gpu_bench._first_line(RuntimeError()) == "RuntimeError: "


class _FakeTorch:
    class cuda:
        @staticmethod
        def synchronize():
            pass


def test_a_slow_variant_is_timed_by_its_warm_up_only(gpu_bench):
    calls = []
    seconds = gpu_bench.cuda_seconds(_FakeTorch, lambda: calls.append(time.sleep(0.01)), repeat=5, limit=0.001)
    assert len(calls) == 1 and seconds >= 0.01


def test_a_fast_variant_is_timed_repeat_times(gpu_bench):
    calls = []
    gpu_bench.cuda_seconds(_FakeTorch, lambda: calls.append(None), repeat=5, limit=1.0)
    assert len(calls) == 6  # the warm-up, then 5
