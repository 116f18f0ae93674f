# The front door: `make demo` runs the site, `make test` checks everything.
SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(VENV)/bin/pip
MANAGE := $(PY) manage.py

.PHONY: demo test lint format migrations-check pytest bench bench-scoring bench-runner bench-standings bench-web bench-votes bench-scale bench-uploads chaos clean

$(VENV)/bin/python:
	$(PYTHON) -c 'import sys; assert sys.version_info[:2] == (3, 11), "Atelier needs Python 3.11, found " + sys.version.split()[0]'
	$(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip

# Stamp files: reinstall only when a requirements file changes.
$(VENV)/.runtime-installed: requirements.txt | $(VENV)/bin/python
	$(PIP) install --quiet -r requirements.txt
	touch $@

$(VENV)/.dev-installed: requirements.txt requirements-dev.txt | $(VENV)/bin/python
	$(PIP) install --quiet -r requirements-dev.txt
	touch $(VENV)/.runtime-installed $@

demo: $(VENV)/.runtime-installed
	$(MANAGE) migrate --noinput
	$(MANAGE) load_demo
	scripts/run-demo

lint: $(VENV)/.dev-installed
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/lint-imports --no-cache

format: $(VENV)/.dev-installed
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

migrations-check: $(VENV)/.dev-installed
	$(MANAGE) makemigrations --check --dry-run

pytest: $(VENV)/.dev-installed
	OMP_NUM_THREADS=$${OMP_NUM_THREADS:-2} $(VENV)/bin/pytest $(PYTEST_ARGS)

test: lint migrations-check pytest

bench: bench-scoring bench-runner

bench-scoring: $(VENV)/.dev-installed
	$(PY) benchmarks/bench_scoring.py $(BENCH_ARGS)

bench-runner: $(VENV)/.dev-installed
	$(PY) benchmarks/bench_runner.py $(BENCH_ARGS)

bench-standings: $(VENV)/.dev-installed
	$(PY) benchmarks/bench_standings.py $(BENCH_ARGS)

bench-web: $(VENV)/.dev-installed
	$(PY) benchmarks/bench_web.py $(BENCH_ARGS)

bench-votes: $(VENV)/.dev-installed
	OMP_NUM_THREADS=$${OMP_NUM_THREADS:-2} $(PY) benchmarks/bench_votes.py $(BENCH_ARGS)

bench-scale: $(VENV)/.dev-installed
	$(PY) benchmarks/bench_scale.py $(BENCH_ARGS)

# Faults against a real stack on loopback (its own PostgreSQL, Redis, worker); CHAOS_ARGS=--rounds 2
chaos: $(VENV)/.dev-installed
	$(PY) benchmarks/chaos.py $(CHAOS_ARGS)

bench-uploads: $(VENV)/.dev-installed
	$(PY) benchmarks/bench_uploads.py $(BENCH_ARGS)

clean:
	rm -rf $(VENV) var .pytest_cache .ruff_cache
