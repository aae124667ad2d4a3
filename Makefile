# Naravard: `make run` starts it on this machine, `make test` runs the checks.
# Recipes use tabs.

SHELL := /bin/bash
.SHELLFLAGS := -euo pipefail -c
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PY := $(BIN)/python
STAMP := $(VENV)/.installed
MANAGE := $(PY) manage.py

# Translation catalogues: the project's locale/ and any app's locale/.
LOCALE_DIRS := $(wildcard locale */locale)

# PostgreSQL and Redis for run, test, migrate and seed: DATABASE_URL and REDIS_URL
# when set, else the machine's (test) or embedded ones (naravard/localservices.py).
SERVICES := $(PY) -m naravard.localservices

PYTEST_ARGS ?=
ARGS ?=

# Without DEBUG the settings refuse to start with no SECRET_KEY (test, bench, migrate,
# seed, backup run as production does). On this machine they use a key of its own,
# made once in var/secret_key (never committed), unless SECRET_KEY is set.
ifeq ($(strip $(SECRET_KEY)),)
export SECRET_KEY = $(shell mkdir -p var && { test -s var/secret_key || $(PYTHON) -c 'import secrets; print(secrets.token_urlsafe(50))' > var/secret_key; } && cat var/secret_key)
endif

.PHONY: help venv install run messages ensure-gettext seed test \
	ensure-chromium lint fmt migrate bench backup restore-check clean

help:
	@echo "make run      set up (venv, migrate, messages, static, demo data) and start"
	@echo "              the web server and a Celery worker on http://127.0.0.1:8000/"
	@echo "              (embedded PostgreSQL and Redis unless DATABASE_URL/REDIS_URL)"
	@echo "make test     ruff and pytest on PostgreSQL + Redis (PYTEST_ARGS=... to pass options)"
	@echo "make bench    performance figures (ARGS=... passed to manage.py bench)"
	@echo "make backup   a dump of the database into var/backups/ (or BACKUP_DIR)"
	@echo "make restore-check  the restore drill: restore the newest dump and check it"
	@echo "make lint | fmt | migrate | clean"

# --- Python environment -------------------------------------------------------
$(PY):
	$(PYTHON) -m venv $(VENV)

# Reinstall only when pyproject.toml is newer than the stamp.
$(STAMP): pyproject.toml | $(PY)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

venv install: $(STAMP)

# --- Local run (embedded PostgreSQL and Redis unless DATABASE_URL/REDIS_URL) -----
# scripts/run-local migrates and seeds, then starts the web server and the worker.
run: export DEBUG := 1
run: export SECURE_COOKIES := 0
run: $(STAMP)
	$(MAKE) --no-print-directory messages
	$(MANAGE) collectstatic --noinput --verbosity 0
	$(SERVICES) run -- scripts/run-local

messages: $(STAMP)
ifneq ($(strip $(LOCALE_DIRS)),)
	scripts/ensure-gettext
	$(MANAGE) compilemessages --ignore=$(VENV) --ignore=staticfiles --ignore=node_modules
else
	@echo "No locale/ directory: no messages to compile."
endif

ensure-gettext:
	scripts/ensure-gettext

# The demo data is for a developer's machine (seed_demo refuses without DEBUG).
seed: export DEBUG := 1
seed: $(STAMP)
	$(SERVICES) run -- $(MANAGE) seed_demo

migrate: $(STAMP)
	$(SERVICES) run -- $(MANAGE) migrate

# --- Checks ---------------------------------------------------------------------
test: export SECURE_COOKIES ?= 0
test: $(STAMP)
	scripts/ensure-chromium
	$(MAKE) --no-print-directory messages
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(SERVICES) test -- $(BIN)/pytest $(PYTEST_ARGS)

ensure-chromium:
	scripts/ensure-chromium

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

fmt: $(STAMP)
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

bench: $(STAMP)
	$(MANAGE) bench $(ARGS)

# --- Backups (docs/operations.md) -----------------------------------------------
backup: $(STAMP)
	$(SERVICES) run -- $(MANAGE) backup

restore-check: $(STAMP)
	$(SERVICES) run -- $(MANAGE) restore_check $(ARGS)

# Keeps the local database, var/postgres/ (remove that folder to start afresh).
clean:
	rm -rf $(VENV) staticfiles .pytest_cache .ruff_cache .hypothesis *.egg-info test-results
	if [ -d var ]; then find var -mindepth 1 -maxdepth 1 ! -name postgres -exec rm -rf {} +; fi
	find . -name __pycache__ -type d -prune -exec rm -rf {} +
