# `make demo` and `make test` each create .venv on first use and install requirements.txt,
# every package at the exact version constraints.txt names, then the Chinese font hook.
PYTHON ?= python3
VENV := .venv
VPY := $(VENV)/bin/python
STAMP := $(VENV)/.requirements-installed
SEEDS ?= 0 1 2 3 4 5 6 7 8 9
TAKES ?= 24

.PHONY: demo demo-seeds demo-seeds-room test bench bench-captum bench-load bench-scale clean-demo constraints docs-figures check-docs

$(STAMP): requirements.txt constraints.txt utils/cjk_font.py
	@echo "== install 1/4: virtual environment $(VENV) ($(PYTHON))"
	test -x $(VPY) || $(PYTHON) -m venv $(VENV)
	@echo "== install 2/4: pip itself, at the version constraints.txt names"
	$(VPY) -m pip install --upgrade pip -c constraints.txt
	@echo "== install 3/4: requirements.txt with constraints.txt (torch and its CUDA libraries: a few GB, minutes)"
	$(VPY) -m pip install --progress-bar on -r requirements.txt -c constraints.txt
	@echo "== install 4/4: Noto Sans TC for matplotlib's Chinese labels"
	$(VPY) -m utils.cjk_font install
	touch $(STAMP)

demo: $(STAMP)
	$(VPY) -m pipeline.demo

# The multi-seed study README quotes: 10 seeds of 24 takes per angle, every model with 3 training seeds.
demo-seeds: $(STAMP)
	$(VPY) -m pipeline.multi_seed --seeds $(SEEDS) --takes $(TAKES) --output-dir demo_output/multi_seed

# The same on recordings of the second simulation (an image-source room).
demo-seeds-room: $(STAMP)
	$(VPY) -m pipeline.multi_seed --seeds $(SEEDS) --takes $(TAKES) --generator room --output-dir demo_output/multi_seed_room

test: $(STAMP)
	$(VPY) -m pytest -q tests

bench: $(STAMP)
	$(VPY) benchmarks/bench_help.py
	$(VPY) benchmarks/bench_tracin.py
	$(VPY) benchmarks/bench_data.py

# The demo idle, then beside two CPU-bound processes (a few minutes).
# Against Captum's TracInCP on the demo's 540 x 135 pairs, 30 checkpoints, median of 3 (Captum is
# installed for it alone; about 45 minutes on one thread).
bench-captum: $(STAMP)
	$(VPY) -m pip install -r benchmarks/requirements-bench.txt -c constraints.txt
	$(VPY) benchmarks/bench_captum.py --repeats 3

bench-load: $(STAMP)
	$(VPY) benchmarks/bench_load.py

# The whole pipeline at 2,000 recordings (train 30 epochs, TracIn, every criterion): time, memory, disk.
bench-scale: $(STAMP)
	$(VPY) benchmarks/bench_scale.py --takes 333

# Rewrite constraints.txt from the working .venv (after changing requirements.txt and installing).
constraints: $(STAMP)
	{ sed -n '1,2p' constraints.txt; $(VPY) -m pip freeze --all --exclude-editable; } > constraints.txt.new
	mv constraints.txt.new constraints.txt

# The seed-0 figures quoted in README.md and docs/tutorial.zh-TW.md: rerun the demo and write them in ...
docs-figures: $(STAMP)
	$(VPY) -m pipeline.demo
	$(VPY) docs/update_figures.py
	$(VPY) docs/update_figures.py --check

# ... or only check them against the last demo run (demo_output/seed_0/results.json).
check-docs: $(STAMP)
	$(VPY) docs/update_figures.py --check
