# `make demo` and `make test` each create .venv on first use and install requirements.txt,
# every package at the exact version constraints.txt names, then the Chinese font hook.
PYTHON ?= python3
VENV := .venv
VPY := $(VENV)/bin/python
STAMP := $(VENV)/.requirements-installed
JOBS ?= 2
PEERS := $(VENV)/.peers-installed

.PHONY: demo demo-seeds demo-seeds-room studies peers test test-quick browser bench bench-captum bench-load bench-scale clean-demo constraints docs-figures check-docs

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

# Portable numerics (utils/numerics.py): the same CPU kernels on every machine, so that the figures the docs
# quote are what this gives anywhere (make check-docs).
demo: $(STAMP)
	$(VPY) -m pipeline.demo --numerics portable

# The studies README quotes (pipeline/studies.py): 3%, 10% and 20% of the takes mislabeled, at 500 Hz (10 seeds, every
# action retrained with 3 training seeds), 1000 Hz and 3000 Hz (5 seeds, lists scored), 24 takes per angle, with the
# cleanlab peer beside every cell. Hours on 2 cores; an interrupted run continues where it stopped.
studies: $(STAMP) $(PEERS)
	$(VPY) -m pipeline.studies --jobs $(JOBS) --output-dir demo_output/studies

# The same on one simulation: the demo generator, or the image-source room.
demo-seeds: $(STAMP) $(PEERS)
	$(VPY) -m pipeline.studies --jobs $(JOBS) --generators demo --output-dir demo_output/studies

demo-seeds-room: $(STAMP) $(PEERS)
	$(VPY) -m pipeline.studies --jobs $(JOBS) --generators room --output-dir demo_output/studies

# The benchmark-only packages of the cleanlab peer (benchmarks/bench_peers.py); the toolkit never imports them.
peers: $(PEERS)
$(PEERS): $(STAMP) benchmarks/requirements-peers.txt
	$(VPY) -m pip install -r benchmarks/requirements-peers.txt -c constraints.txt
	touch $(PEERS)

# Every test, the slow ones too (whole demos, torchrun, the browser, kills); CI runs this.
test: $(STAMP) browser
	$(VPY) -m pytest -q tests

# Without the tests marked slow (pytest.ini): about a minute and a half on a busy 2-core machine.
test-quick: $(STAMP)
	$(VPY) -m pytest -q -m "not slow" tests

# The review page's browser tests drive Debian's chromium with chromium-driver. Installed here when missing and
# this runs as root with apt-get; otherwise (or when the install fails) those tests skip, saying why, except
# under SINETONE_REQUIRE_BROWSER=1 (.ci/run), where they fail.
browser:
	@if [ -x /usr/bin/chromium ] && [ -x /usr/bin/chromedriver ]; then :; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	  echo "== headless Chromium for the review page's tests: apt-get install chromium chromium-driver"; \
	  { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium chromium-driver; } \
	    || echo "== could not install chromium: the browser tests will skip"; \
	else echo "== no /usr/bin/chromium and /usr/bin/chromedriver (apt-get install chromium chromium-driver as root):" \
	  "the browser tests will skip"; fi

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
	$(VPY) -m pipeline.demo --numerics portable
	$(VPY) docs/update_figures.py
	$(VPY) docs/update_figures.py --check

# ... or only check them against the last demo run (demo_output/seed_0/results.json; make demo runs first when
# there is none, as on a fresh clone).
RESULTS := demo_output/seed_0/results.json
$(RESULTS): | $(STAMP)
	$(VPY) -m pipeline.demo --numerics portable

check-docs: $(STAMP) | $(RESULTS)
	$(VPY) docs/update_figures.py --check
