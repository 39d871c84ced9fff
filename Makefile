# nbprune: two commands set everything up on a fresh machine (Python 3.11, pip, make):
#   make book   -- venv + data + execute every chapter at PRESET (default cpu) against the committed results
#                  (results/PRESET/store: runs without weights; only missing runs train) + build the HTML book;
#                  make book FRESH=1 re-trains every run from an empty store and re-exports the results;
#                  at another PRESET the chapters go to build/rerun/PRESET (book/ and results/ untouched)
#                  unless REPLACE=1 (tools/execute_notebooks.py --replace-committed); CURVE=1 trains the
#                  budget curves' missing runs too (--curve; without it only the smoke preset trains them, so
#                  make book PRESET=paper trains the paper's rows and no curve)
#   make test   -- venv + ruff + every test (make pytest-all) + nbval on every chapter at the smoke preset + the
#                  smoke book built and checked in headless Chromium, then the committed book's HTML checked alike
# Other targets: make unit (the fast tier: the tests not marked slow, which train nothing; minutes),
# make pytest-all (every test), make lint (ruff), make html (re-render book/ without running experiments),
# make venv, make data, make clean.

PRESET ?= cpu
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
KERNEL := nbprune
# The workplace's CIFAR-10 copy is used when present and NBPRUNE_DATA is not set.
NBPRUNE_DATA ?= $(wildcard $(abspath ../shared/data/cifar10-jpeg.tar.gz))
export NBPRUNE_DATA
export MPLBACKEND := Agg
export PYDEVD_DISABLE_FILE_VALIDATION := 1

.PHONY: book test venv data notebooks html unit pytest-all lint nbval clean

book: venv data notebooks html

venv: $(STAMP)

$(STAMP): requirements.txt pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q -r requirements.txt
	$(PY) -m pip install -q --no-deps --no-build-isolation -e . || $(PY) -m pip install -q --no-deps -e .
	$(PY) -m ipykernel install --sys-prefix --name $(KERNEL) --display-name "Python (nbprune .venv)" >/dev/null
	touch $(STAMP)

data: venv
	$(VENV)/bin/nbprune data

# the run store the chapters use (NBPRUNE_STORE, default ./store); FRESH=1: an empty one, nothing imported
RESULTS_STORE := results/$(PRESET)/store
ifeq ($(FRESH),1)
STORE := build/fresh-store
FRESH_FLAG := --fresh
else
STORE ?= $(or $(NBPRUNE_STORE),store)
FRESH_FLAG :=
endif
# REPLACE=1: write book/ and results/PRESET/ even when PRESET is not the committed book's (cpu)
REPLACE_FLAG := $(if $(filter 1,$(REPLACE)),--replace-committed,)
# CURVE=1: train the chapters' budget curves (chapters 1, 2 and 5) where runs are missing
CURVE_FLAG := $(if $(filter 1,$(CURVE)),--curve,)

notebooks: venv
ifeq ($(FRESH),1)
	rm -rf $(STORE)
endif
	NBPRUNE_STORE=$(abspath $(STORE)) $(PY) tools/execute_notebooks.py --preset $(PRESET) --kernel $(KERNEL) --out book \
		--results-store $(RESULTS_STORE) $(FRESH_FLAG) $(REPLACE_FLAG) $(CURVE_FLAG)

html: venv
	$(VENV)/bin/jupyter-book build -W -n --keep-going .
	@echo "Book: $(abspath _build/html/index.html)"

test: venv lint pytest-all nbval smoke-book browser browser-book

.PHONY: smoke-book browser browser-book

# the book at the smoke preset in its own tree (book/ is not touched): build/smoke-book/_build/html
smoke-book: venv
	$(PY) tools/build_smoke_book.py --preset smoke --kernel $(KERNEL) --out build/smoke-book

# headless-Chromium checks of every page (tests/test_browser.py); NBPRUNE_HTML picks the built book
browser: venv
	NBPRUNE_BROWSER=1 NBPRUNE_HTML=$${NBPRUNE_HTML:-build/smoke-book/_build/html} $(PY) -m pytest -q -p no:cacheprovider tests/test_browser.py

# the same checks on the committed book's HTML
browser-book: html
	NBPRUNE_BROWSER=1 NBPRUNE_HTML=_build/html $(PY) -m pytest -q -p no:cacheprovider tests/test_browser.py

# the fast tier: every test not marked slow (nothing trains, no notebook runs); pytest.ini_options in pyproject.toml
unit: venv
	$(PY) -m pytest -q -m "not slow" tests

# every test: the fast tier and the slow one (models trained, notebooks executed)
pytest-all: venv
	$(PY) -m pytest -q tests

# style: ruff with pyproject.toml's [tool.ruff] (the version requirements.txt pins; .pre-commit-config.yaml runs it too)
lint: venv
	$(VENV)/bin/ruff check src tests tools

nbval: venv
	$(PY) tools/prepare_nbval.py --preset smoke --out build/nbval
	$(PY) -m pytest -q -p no:cacheprovider --nbval-lax --nbval-kernel-name $(KERNEL) build/nbval

clean:
	rm -rf _build build
