# Two commands on a fresh Debian machine: `make demo` and `make test` (README).
# Everything installs into .venv (torch 2.13.0 first: it comes from local disk as a CPU build;
# a plain `torch` requirement could pull a multi-GB CUDA build) and .venvs/gto (GTO for interop tests).

PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: setup demo test lint bench clean

$(VENV)/.installed: pyproject.toml tests/support/requirements-http.txt
	@command -v git-lfs >/dev/null 2>&1 || { $(SUDO) apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq git-lfs; }
	@# headless Chromium for tests/test_report_render.py (~25 s, ~155 MB of .debs, ~500 MB installed)
	@command -v chromium >/dev/null 2>&1 || { $(SUDO) apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq chromium >/dev/null; }
	@# GitHub CLI for tests/test_pr_flow.py (promote --pr with gh present but not logged in; ~10 MB)
	@command -v gh >/dev/null 2>&1 || { $(SUDO) apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq gh >/dev/null; }
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q torch==2.13.0
	$(PY) -m pip install -q -e '.[all,dev,bench]' -r tests/support/requirements-http.txt
	$(PY) -m tests.support.gto
	touch $@

# The tests also train on DataFrames, boosting libraries and a tiny BERT: pandas, pyarrow, xgboost-cpu, lightgbm, transformers
# (~65 MB of wheels, ~10 s; ~290 MB installed, pyarrow 170 MB of it), kept out of the demo's setup.
$(VENV)/.installed-test: $(VENV)/.installed pyproject.toml
	$(PY) -m pip install -q -e '.[all,dev,bench,test-models]'
	touch $@

setup: $(VENV)/.installed

demo: setup
	$(VENV)/bin/gitreg demo

# The venv's bin first on PATH for everything the tests start (gitreg, check-jsonschema); the tests also
# find them next to sys.executable, so a bare `.venv/bin/python -m pytest` works too.
test: $(VENV)/.installed-test
	PATH="$(abspath $(VENV))/bin:$$PATH" $(PY) -m ruff check .
	$(PY) -m mypy gitreg
	PATH="$(abspath $(VENV))/bin:$$PATH" $(PY) -m pytest -q

bench: setup
	$(PY) benchmarks/bench_list.py
	$(PY) benchmarks/bench_pull.py
	$(PY) benchmarks/bench_push.py
	$(PY) benchmarks/bench_eval.py
	$(PY) benchmarks/bench_gate.py

clean:
	rm -rf $(VENV) .venvs build *.egg-info
