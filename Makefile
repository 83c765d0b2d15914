# The README's commands. `make run` and `make test` each set up a virtualenv first.
# torch is installed before the project so pip keeps the local CPU build (2.13.0) instead
# of pulling a multi-GB CUDA build.
PYTHON ?= python3
VENV   ?= .venv
PY      = $(VENV)/bin/python
TORCH  ?= torch==2.13.0

.PHONY: setup run test test-all bench clean

setup: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet "$(TORCH)"
	$(PY) -m pip install --quiet -e ".[dev]"
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

clean:
	rm -rf $(VENV) .pytest_cache build *.egg-info
