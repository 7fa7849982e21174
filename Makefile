# The Whiteboard: two commands for a newcomer.
#   make lab    a virtual environment (if there is none), the course installed, JupyterLab open
#   make test   the environment with the dev extras, then the whole suite, notebooks included
# Also: make bench (benchmarks against libCacheSim and SimPy), make notebooks (rebuild the
# learner and solution notebooks from notebooks/source/), make clean.

PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
PY     := $(BIN)/python
NBVAL  := -p no:cacheprovider --nbval-lax --nbval-cell-timeout=300 -q
NOTEBOOKS := $(wildcard notebooks/[0-9]*.ipynb)
SOLUTIONS := $(wildcard notebooks/solutions/[0-9]*.ipynb)

.PHONY: warmup lab test test-unit test-notebooks bench fidelity notebooks clean

$(PY):
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 10) else "The Whiteboard needs Python 3.10 or newer; this is " + sys.version.split()[0] + ". Run: make PYTHON=python3.11 ...")'
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip

$(VENV)/.course: pyproject.toml | $(PY)
	$(PY) -m pip install -q -e .
	@touch $@

$(VENV)/.dev: pyproject.toml | $(PY)
	$(PY) -m pip install -q -e ".[dev]"
	@touch $@ $(VENV)/.course

$(VENV)/.bench: pyproject.toml | $(PY)
	$(PY) -m pip install -q -e ".[dev,bench]"
	@touch $@ $(VENV)/.dev $(VENV)/.course

# psycopg is in the default install; an environment made before that gets it here.
# The filing room's data, built once (seeded) so that no lesson pays for it at its first click.
DATA := data/users.sqlite data/shop.sqlite data/capstone_day.npz

data/users.sqlite: | $(VENV)/.course
	$(PY) data/make_users.py

data/shop.sqlite: data/users.sqlite
	$(PY) data/make_shop.py

data/capstone_day.npz: | $(VENV)/.course
	$(PY) data/make_capstone_day.py

# Compile the kernels once (cached on disk; a few seconds when they already are), so that no
# lesson waits for the compiler and the notebooks' measured times are their own; and, where a
# C compiler exists, the simulate command's kernels ahead of time (simlab/_aot.py: the command
# then runs without importing Numba).
warmup: $(VENV)/.course
	$(PY) -m simlab.warmup

lab: $(VENV)/.course $(DATA) warmup
	@if [ -n "$$DATABASE_URL" ] && ! $(PY) -c "import psycopg" 2>/dev/null; then \
	  echo "DATABASE_URL is set: installing psycopg for the PostgreSQL filing room"; \
	  $(PY) -m pip install -q "psycopg[binary]>=3.1"; \
	fi
	$(BIN)/jupyter lab $$([ "$$(id -u)" = 0 ] && echo --allow-root) notebooks/00_welcome.ipynb

test: $(VENV)/.dev test-unit test-notebooks

# The notebook-level tests (run times, the browser, notebooks 10 and 11 without a redis-server
# binary) run in test-notebooks.
NOTEBOOK_TESTS := tests/test_notebook_times.py tests/test_browser.py \
                  tests/test_no_binary_notebooks.py

test-unit: $(VENV)/.dev warmup
	$(PY) -m pytest -p no:cacheprovider -q tests $(NOTEBOOK_TESTS:%=--ignore=%)

# Every notebook, learner and solution versions, against fakeredis and against a private real
# server. Solutions run with strict checks: a wrong answer in a solution fails the run.
# The learner notebooks on the learner's default path (fakeredis, SQLite) run in the two
# notebook tests: once with nbclient (each timed, under 20 s) and once in headless Chromium
# (every cell ran, no error or stderr output, no console error, 04's widgets redraw); both
# print markdown tables of the times. The real-server pass below keeps DATABASE_URL.
test-notebooks: $(VENV)/.dev $(DATA) warmup
	env -u REDIS_URL -u DATABASE_URL $(PY) -m pytest -p no:cacheprovider -q $(NOTEBOOK_TESTS)
	env -u REDIS_URL SIMLAB_STRICT_CHECKS=1 $(PY) -m pytest $(NBVAL) $(SOLUTIONS)
	@if command -v redis-server >/dev/null 2>&1; then \
	  $(BIN)/simlab with-server -- $(PY) -m pytest $(NBVAL) $(NOTEBOOKS) && \
	  SIMLAB_STRICT_CHECKS=1 $(BIN)/simlab with-server -- $(PY) -m pytest $(NBVAL) $(SOLUTIONS); \
	else \
	  echo "Skipping the notebooks against a real server: no redis-server binary on the PATH (apt install redis-server)."; \
	fi

bench: $(VENV)/.bench warmup
	$(PY) benchmarks/run.py

# The Redis model beside a private redis-server on CloudPhysics (when ../shared/traces is
# there) and real-like traces (up to an hour); exits 1 if a run is outside a tolerance.
fidelity: $(VENV)/.dev
	$(PY) benchmarks/fidelity.py

notebooks: $(VENV)/.dev
	$(PY) notebooks/build.py

# The course as a static site for reading (build/book/index.html): every notebook run once as
# the learner has it and once solved, with every output; reads offline. Takes minutes.
.PHONY: book
book: $(VENV)/.dev $(DATA)
	$(PY) notebooks/make_book.py

clean:
	rm -rf $(VENV) .pytest_cache build *.egg-info
