# The README's commands. `make run` and `make test` each set up a virtualenv first.
# torch is installed before the project, so that pip keeps the torch it installed here
# instead of pulling another build for the project's `torch>=2.2`. Which build `torch==2.13.0`
# is depends on your index: on our CI machines a local CPU wheel; from the public index on
# Linux, a multi-GB CUDA build. For a CPU-only build elsewhere, point TORCH_INDEX at
# PyTorch's CPU wheel index:  make test TORCH_INDEX=<url of the CPU index>
PYTHON ?= python3
VENV   ?= .venv
PY      = $(VENV)/bin/python
TORCH  ?= torch==2.13.0
TORCH_INDEX ?=
TORCH_PIP_ARGS = $(if $(TORCH_INDEX),--index-url $(TORCH_INDEX),)

.PHONY: setup run test test-all bench clean

setup: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet $(TORCH_PIP_ARGS) "$(TORCH)"
	$(PY) -m pip install --quiet -e ".[dev,report,ray]"
	touch $@

# The main job: tune the seed document's MLP on the embedded Fashion-MNIST subset (CPU: minutes).
run: setup
	$(VENV)/bin/bo-hpo run experiments/mlp_fashion.toml

# The default test run (slow tests excluded; GPU tests skip without a GPU).
test: setup
	$(PY) -m pytest -q

test-all: setup
	$(PY) -m pytest -q -m "slow or not slow"

bench: setup
	$(PY) benchmarks/search_quality.py
	$(PY) benchmarks/evaluator_speed.py
	$(PY) benchmarks/store_overhead.py
	$(PY) benchmarks/kill_resume.py
	$(PY) benchmarks/parallel_speedup.py
	$(PY) benchmarks/report_build.py

clean:
	rm -rf $(VENV) .pytest_cache build *.egg-info
