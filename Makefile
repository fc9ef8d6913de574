# Quick start: `make demo` and `make test` work on a fresh machine with Python 3.11+.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: demo test install clean fuzz exhaustive

$(STAMP): pyproject.toml setup.py
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(PY) examples/demo.py

test: $(STAMP)
	$(PY) -m pytest -q -n 2 -p no:cacheprovider

clean:
	rm -rf $(VENV) build dist *.egg-info .hypothesis

# The property tests with the long hypothesis profile (docs/testing.md): FUZZ_SCALE
# times the CI example counts, random, failures kept in .hypothesis/ and replayed.
FUZZ_SCALE ?= 50
fuzz: $(STAMP)
	HYPOTHESIS_PROFILE=fuzz FUZZ_SCALE=$(FUZZ_SCALE) $(PY) -m pytest -q -n 2 -p no:cacheprovider \
		tests/test_fuzz_pipeline.py tests/frontend/test_fuzz_frontend.py tests/dialects/test_tc_dialect.py \
		tests/test_gpu_mapping.py::test_random_programs_under_random_options \
		tests/test_gpu_mapping.py::test_random_programs_ptx_with_shared_memory_assembles \
		tests/test_autodiff.py::test_gradients_of_random_programs

# The number-format sweeps too long for CI (docs/testing.md, "Exhaustive sweeps"): every
# float32 bit pattern to each named format against ml_dtypes, and every pair of values in
# every rounding mode against the exact reference. TCIR_EXHAUSTIVE_FORMATS=a,b narrows it.
exhaustive: $(STAMP)
	TCIR_EXHAUSTIVE=1 $(PY) -m pytest -q -p no:cacheprovider \
		tests/passes/test_lower_lowp_exhaustive.py tests/passes/test_lower_lowp.py
