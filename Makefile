# splitinfer — the two commands of the README contract:
#   make demo   bootstrap, then run the main job on the embedded default
#   make test   bootstrap, then ruff + mypy + pytest
# Both work on a fresh machine with nothing else done first.

SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
# torch/torchvision are declared as ranges in pyproject.toml; this is the pair we install
# and test with (the CPU machines we run on carry these two wheels locally).
TORCH_SPEC ?= torch==2.14.1 torchvision==0.29.1
FMNIST_DIR ?= /usr/share/datasets/fashion-mnist
STAMP := $(VENV)/.installed

.PHONY: venv data web test lint typecheck pytest demo bench clean help reliability

help:
	@echo "make demo   - set up .venv and run 'splitinfer demo'"
	@echo "make test   - set up .venv, then ruff, mypy and pytest"
	@echo "make clean  - remove .venv and caches"
	@echo "make reliability - full load, soak, fuzz, fault, bundle and access runs (see docs/reliability.md)"

$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip

# Re-install only when the project metadata changes (fast when present).
# torch + torchvision take ~5.5 GB in the venv: with less free space than that, stop with
# a clear message now rather than a half-installed venv and pip's "No space left on device".
NEED_GB ?= 7
$(STAMP): $(PY) pyproject.toml
	@if ! $(PY) -c "import torch, torchvision" >/dev/null 2>&1; then \
	  free_kb=$$(df -Pk $(VENV) | awk 'NR==2 {print $$4}'); \
	  if [ -n "$$free_kb" ] && [ "$$free_kb" -lt $$(( $(NEED_GB) * 1024 * 1024 )) ]; then \
	    echo "error: installing torch needs about $(NEED_GB) GB free beside $(VENV);" \
	         "only $$(( free_kb / 1024 )) MB are (df -h $(VENV)). Free some space, or" \
	         "set NEED_GB=0 to try anyway." >&2; exit 1; \
	  fi; \
	fi
	$(PY) -m pip install -q $(TORCH_SPEC)
	$(PY) -m pip install -q -e '.[all,dev]'
	@touch $(STAMP)

venv: $(STAMP)

data:
	@bash scripts/ensure-data.sh "$(FMNIST_DIR)"

# onnxruntime-web (npm, pinned, checksum) for the edge page, and Debian's chromium for the
# browser tests (see scripts/ensure-web.sh).
web:
	@bash scripts/ensure-web.sh

lint: venv
	$(VENV)/bin/ruff check src tests benchmarks scripts reliability
	$(VENV)/bin/ruff format --check src tests benchmarks scripts reliability

typecheck: venv
	$(VENV)/bin/mypy

# pytest exits 5 when it collected no tests: for us that is a failure, never a pass.
pytest: venv data web
	@set +e; $(PY) -m pytest $(PYTEST_ARGS); rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "pytest collected no tests: failing on purpose" >&2; exit 1; fi; \
	exit $$rc

test: lint typecheck pytest

demo: venv data web
	$(VENV)/bin/splitinfer demo

# The experiments -> reports/<date>/ (index.html, results.json, figures); BENCH_ARGS=--quick
# for the CI subset (reports/<date>-quick/).
bench: venv data
	$(VENV)/bin/splitinfer bench $(BENCH_ARGS)

# Full versions of tests/reliability against `splitinfer serve` (~20 min on 2 cores):
# figures -> reports/reliability/*.json, quoted in docs/reliability.md. atheris is optional.
reliability: venv data
	$(PY) -m reliability.load --json reports/reliability/load.json
	$(PY) -m reliability.load --soak --json reports/reliability/soak.json
	$(PY) -m reliability.fuzz
	$(PY) -m reliability.faults
	$(PY) -m reliability.access
	$(PY) -m reliability.atheris_fuzz --runs 200000
	$(PY) -m reliability.bundles

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache build src/*.egg-info
