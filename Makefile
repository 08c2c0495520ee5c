# Two commands on a fresh machine: `make run` and `make test` (see README.md).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
HOST ?= 127.0.0.1
PORT ?= 8000
DEMO_CASES ?= 300

.PHONY: run test lint check bench bench-seed clean

$(BIN)/python:
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Python 3.11+ is needed; set PYTHON=python3.11")'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(VENV)/.installed-run: requirements.txt | $(BIN)/python
	$(BIN)/pip install --quiet -r requirements.txt
	touch $@

$(VENV)/.installed-dev: requirements.txt requirements-dev.txt | $(BIN)/python
	$(BIN)/pip install --quiet -r requirements-dev.txt
	touch $@ $(VENV)/.installed-run

run: $(VENV)/.installed-run
	$(BIN)/python manage.py compile_translations
	$(BIN)/python manage.py migrate --noinput
	$(BIN)/python manage.py seed_demo --cases $(DEMO_CASES)
	@echo ""
	@echo "Serving on http://$(HOST):$(PORT)/  (log in with a demo login above)"
	$(BIN)/python manage.py runserver $(HOST):$(PORT)

test: $(VENV)/.installed-dev
	$(BIN)/python manage.py compile_translations
	$(BIN)/python -m pytest $(PYTEST_ARGS)

lint: $(VENV)/.installed-dev
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/python manage.py makemigrations --check --dry-run
	$(BIN)/mypy cases reintegration tests
	$(BIN)/python manage.py spectacular --validate --fail-on-warn --file /dev/null

check: lint
	DJANGO_ENV=production SECRET_KEY=check-deploy-$$(date +%s)-a-long-random-looking-secret-value-xyz \
	FIELD_ENCRYPTION_KEYS=$$($(BIN)/python -c 'from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())') \
	BLIND_INDEX_KEY=check-deploy-blind-index-key ALLOWED_HOSTS=example.org EMAIL_URL=smtp://localhost:25 \
	AUDIT_CHAIN_KEYS=check-deploy-audit-chain-key-$$(date +%s)-not-a-real-one \
	AUDIT_CHECKPOINT_PATH=/nonexistent/check-deploy/audit-checkpoints.jsonl \
	$(BIN)/python manage.py check --deploy --fail-level WARNING

# The benchmark (bench/README.md): PostgreSQL in DATABASE_URL, Redis on 127.0.0.1,
# and wrk (installed here with apt-get when missing and run as root). BENCH_ARGS for options,
# e.g. make bench BENCH_ARGS="--cases 5000 --duration 5" or BENCH_ARGS="--keep" then "--reuse".
bench: $(VENV)/.installed-dev
	@command -v wrk >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    apt-get install -y -q wrk || { apt-get update -q && apt-get install -y -q wrk; }; \
	  else \
	    echo "make bench needs wrk: run 'sudo apt-get install wrk' (Debian/Ubuntu), then make bench again." >&2; \
	    exit 2; \
	  fi; }
	$(BIN)/python bench/run.py $(BENCH_ARGS)

bench-seed: $(VENV)/.installed-dev
	$(BIN)/python bench/seed.py

clean:
	rm -rf $(VENV) .venv-runtime-* db.sqlite3 staticfiles .pytest_cache
