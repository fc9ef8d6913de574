#!/usr/bin/env bash
# One session on a GPU machine (../shared/device/README.md): install what the machine
# lacks from .whl/, then the GPU tests, compute-sanitizer memcheck over the canonical
# examples, and the GPU benchmarks. Logs go to $OUT (or ./gpu-out).
#
#   bash benchmarks/gpu_session.sh [tests] [memcheck] [bench]   # no step named: all three
#
# Carry .whl (and .cuda: a CUDA_HOME with nvvm/libdevice/libdevice.10.bc, if the machine
# has no CUDA toolkit). Each step has a time limit (TEST_S, SANITIZER_S, BENCH_S
# seconds) so that a slow one leaves the others their logs; all three with the default
# limits take at most about 9.5 minutes, inside one device call's 10. On a budget,
# run `tests memcheck` in one call and `bench` (BENCH_S up to 560) in the next.
set -u
cd "$(dirname "$0")/.." || exit 1
steps=" ${*:-tests memcheck bench} "
for step in $steps; do
    case $step in tests | memcheck | bench) ;; *) echo "unknown step: $step (tests, memcheck, bench)"; exit 2 ;; esac
done
out=${OUT:-gpu-out}
mkdir -p "$out"
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl &&
    export PYTHONPATH=/tmp/site &&
    python3 -m pip install -q --no-index --no-deps --no-build-isolation -e . >"$out/install.log" 2>&1 || {
    echo "install failed"; cat "$out/install.log"; exit 1; }
[ -d .cuda ] && [ -z "${CUDA_HOME:-}" ] && [ ! -d /usr/local/cuda/nvvm ] && export CUDA_HOME=$PWD/.cuda
nvidia-smi -L | tee "$out/gpu.txt"
python3 -c "import llvmlite, torch; print('llvmlite', llvmlite.__version__, 'torch', torch.__version__)" | tee -a "$out/gpu.txt"

if [[ $steps == *" tests "* ]]; then
    echo "== pytest -m gpu"
    timeout "${TEST_S:-200}" python3 -m pytest -q -p no:cacheprovider -n 8 -m gpu -rs \
        tests/test_cuda_api.py tests/backends/test_cuda_runtime.py >"$out/pytest-gpu.log" 2>&1
    echo "pytest rc=$?"; tail -n 25 "$out/pytest-gpu.log"
fi

if [[ $steps == *" memcheck "* ]]; then
    echo "== compute-sanitizer memcheck"
    timeout "${SANITIZER_S:-100}" compute-sanitizer --tool memcheck --error-exitcode 3 \
        python3 -m pytest -q -p no:cacheprovider -m gpu -x tests/test_cuda_api.py -k "canonical and naive" \
        >"$out/memcheck.log" 2>&1
    echo "memcheck rc=$?"; grep -E "ERROR SUMMARY|passed|failed|Invalid" "$out/memcheck.log" | head -n 10
fi

if [[ $steps == *" bench "* ]]; then
    echo "== benchmarks"
    # --out is rewritten after every kernel: a run stopped by the limit keeps its rows
    timeout "${BENCH_S:-240}" python3 benchmarks/gpu.py --no-write --out "$out/benchmarks-gpu.md" >"$out/bench.log" 2>&1
    echo "bench rc=$?"; tail -n 30 "$out/bench.log"
fi
