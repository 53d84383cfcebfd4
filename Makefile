SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
PG_URL := postgres://postgres@127.0.0.1:5432/test
BENCH_DATABASE_URL ?= postgres://postgres@127.0.0.1:5432/voucherdesk_bench

# Tests use DATABASE_URL when set, else a PostgreSQL answering on 127.0.0.1:5432, else SQLite.
TEST_DATABASE_URL := $(or $(DATABASE_URL),$(shell (exec 3<>/dev/tcp/127.0.0.1/5432) 2>/dev/null && echo $(PG_URL)))
PYTEST_WORKERS ?= 2

.PHONY: run test lint bench worker beat chromium migrate demo clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet '.[dev]'
	touch $(STAMP)

migrate: $(STAMP)
	$(BIN)/python manage.py migrate --noinput

demo: migrate
	$(BIN)/python manage.py load_demo

run: demo
	$(BIN)/python manage.py runserver 127.0.0.1:8000

# Debian's Chromium for the browser tests (a test tool's own browser download cannot work
# here), and Pango, which WeasyPrint renders the pass PDFs with.
chromium:
	@if [ -x /usr/bin/chromium ]; then :; \
	elif [ "$$(id -u)" = 0 ]; then \
		echo "Installing Debian's chromium for the browser tests"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver libpango-1.0-0 libpangoft2-1.0-0 >/dev/null; \
	else echo "chromium is missing: run 'sudo apt-get install chromium chromium-driver' for the browser tests"; exit 1; fi

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/python manage.py makemigrations --check --dry-run

test: $(STAMP) chromium lint
	@echo "Database for tests: $(if $(TEST_DATABASE_URL),$(TEST_DATABASE_URL),SQLite (no PostgreSQL found; PostgreSQL-only tests are skipped))"
	$(if $(TEST_DATABASE_URL),DATABASE_URL=$(TEST_DATABASE_URL)) $(BIN)/python -m pytest -n $(PYTEST_WORKERS) --dist loadgroup

bench: $(STAMP)
	DATABASE_URL=$(BENCH_DATABASE_URL) $(BIN)/python benchmarks/run.py

worker: $(STAMP)
	$(BIN)/celery -A config worker --loglevel=info --queues=default,generation

beat: $(STAMP)
	$(BIN)/celery -A config beat --loglevel=info

clean:
	rm -rf $(VENV) db.sqlite3 staticfiles .pytest_cache .ruff_cache .hypothesis
