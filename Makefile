# splitinfer — the two commands of the README contract:
#   make demo   bootstrap, then run the main job on the embedded default
#   make test   bootstrap, then ruff + import layers + mypy + pytest (every tier)
#   make test-fast   the quick tier only: no `slow`, no `integration` tests (under a minute)
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

.PHONY: venv data web test test-fast lint lint-imports typecheck pytest demo bench clean help reliability proto

help:
	@echo "make demo   - set up .venv and run 'splitinfer demo'"
	@echo "make test   - set up .venv, then ruff, import-linter, mypy and pytest (all tiers)"
	@echo "make test-fast - pytest without the slow and integration tiers (under a minute)"
	@echo "make clean  - remove .venv and caches"
	@echo "make proto  - regenerate src/splitinfer/protocol/pb from proto/splitinfer.proto"
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

# The layer rules (apps > runtime > core; edge and cloud apart; codecs know no transport):
# the contracts are [tool.importlinter] in pyproject.toml.
lint-imports: venv
	$(VENV)/bin/lint-imports

typecheck: venv
	$(VENV)/bin/mypy

# pytest exits 5 when it collected no tests: for us that is a failure, never a pass.
pytest: venv data web
	@set +e; $(PY) -m pytest $(PYTEST_ARGS); rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "pytest collected no tests: failing on purpose" >&2; exit 1; fi; \
	exit $$rc

test: lint lint-imports typecheck pytest

# Unit tier: leaves out tests marked slow (training, big models) or integration (servers,
# subprocesses, Ray, the demo, ONNX, sweeps); `make test` runs them all.
test-fast: venv
	$(PY) -m pytest -q -m "not slow and not integration" $(PYTEST_ARGS)

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

# The gRPC stubs are checked in; regenerate them after editing proto/splitinfer.proto.
proto: venv
	PY=$(PY) RUFF=$(VENV)/bin/ruff bash scripts/gen-proto.sh

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache build src/*.egg-info
