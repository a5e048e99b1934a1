# `make demo` and `make test` each create .venv on first use and install requirements.txt.
PYTHON ?= python3
VENV := .venv
VPY := $(VENV)/bin/python
STAMP := $(VENV)/.requirements-installed
SEEDS ?= 0 1 2

.PHONY: demo demo-seeds test bench clean-demo

$(STAMP): requirements.txt
	test -x $(VPY) || $(PYTHON) -m venv $(VENV)
	$(VPY) -m pip install --quiet --upgrade pip
	$(VPY) -m pip install --quiet -r requirements.txt
	touch $(STAMP)

demo: $(STAMP)
	$(VPY) -m pipeline.demo

demo-seeds: $(STAMP)
	$(VPY) -m pipeline.multi_seed --seeds $(SEEDS)

test: $(STAMP)
	$(VPY) -m pytest -q tests

bench: $(STAMP)
	$(VPY) benchmarks/bench_tracin.py
	$(VPY) benchmarks/bench_data.py
