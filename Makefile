# ESS Bench: two commands set everything up.
#   make demo  - create .venv, install, run the smoke plan on the simulated station, sign, verify
#   make test  - create .venv if needed and run the whole test suite, one worker per core (pytest-xdist;
#                a module's tests stay on one worker so its shared fixtures are built once; modules are
#                handed out in the order tests/conftest.py gives them, longest first, not by test count)
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: demo test lint bench clean chromium postgres

# uv installs the same pinned ranges as pip, in parallel (fresh clone: about 9 s instead of 29 s); it does
# not compile bytecode for all of site-packages as pip does: the first import of each module used writes
# it (`make test` lets it). pip does the install if uv cannot be had.
$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	( $(BIN)/pip install --quiet 'uv>=0.13,<1' && \
	  $(BIN)/uv pip install --quiet --python $(BIN)/python -e '.[dev]' ) || \
	( $(BIN)/pip install --quiet --upgrade pip && $(BIN)/pip install --quiet -e '.[dev]' )
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/python -m bench.demo

# PYTHONDONTWRITEBYTECODE is emptied for the suite: it starts many Python processes (plan runs, batch
# modules, CLI runs), and without cached bytecode each one recompiles and assertion-rewrites the ~190
# modules it imports again (1.1-1.3 s of CPU per process; with the DBC parsed once, 23 % of the suite).
test: $(STAMP) chromium postgres
	PYTHONDONTWRITEBYTECODE= $(BIN)/python -m pytest -q -n auto --dist loadscope --no-loadscope-reorder --durations=10 tests

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

bench: $(STAMP)
	$(BIN)/python benchmarks/run_all.py

# The HTML report test (tests/report/test_report_browser.py) opens the report in the system Chromium,
# headless and offline; install it where apt is available (as root), else that one test is skipped.
chromium:
	@command -v chromium >/dev/null 2>&1 || command -v chromium-browser >/dev/null 2>&1 || \
	  ( [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1 && \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
	      chromium fonts-dejavu-core >/dev/null ) || \
	  echo "chromium not installed: the browser rendering test will be skipped"

# The fleet store tests (tests/fleet) and benchmarks/fleet_sync.py start a throwaway PostgreSQL 15 server
# (Debian's postgresql-15: initdb + pg_ctl in a temporary folder); install it where apt is available (as
# root), without the package's own cluster (nothing is left running), else those tests are skipped.
postgres:
	@[ -x /usr/lib/postgresql/15/bin/initdb ] || \
	  ( [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1 && \
	    mkdir -p /etc/postgresql-common && \
	    ( [ -e /etc/postgresql-common/createcluster.conf ] || \
	      echo "create_main_cluster = false" > /etc/postgresql-common/createcluster.conf ) && \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
	      -o Dpkg::Options::=--force-confold postgresql-15 >/dev/null && \
	    { pg_ctlcluster 15 main stop 2>/dev/null || true; } ) || \
	  echo "postgresql-15 not installed: the fleet store tests will be skipped"

clean:
	rm -rf $(VENV) build *.egg-info
