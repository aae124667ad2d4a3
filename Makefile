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

# `make test` runs on PostgreSQL and Redis; override either on the command line.
TEST_DATABASE_URL ?= postgres://postgres@127.0.0.1:5432/naravard
TEST_REDIS_URL ?= redis://127.0.0.1:6379/0

PYTEST_ARGS ?=
ARGS ?=

.PHONY: help venv install run messages ensure-gettext seed test check-services \
	ensure-chromium lint fmt migrate bench clean

help:
	@echo "make run      set up (venv, migrate, messages, static, demo data) and start"
	@echo "              the web server and a Celery worker on http://127.0.0.1:8000/"
	@echo "make test     ruff and pytest on PostgreSQL + Redis (PYTEST_ARGS=... to pass options)"
	@echo "make bench    performance figures (ARGS=... passed to manage.py bench)"
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

# --- Local run (SQLite and a file-system broker unless DATABASE_URL/REDIS_URL) --
run: export DEBUG := 1
run: export SECURE_COOKIES := 0
run: $(STAMP)
	$(MANAGE) migrate --noinput
	$(MAKE) --no-print-directory messages
	$(MANAGE) collectstatic --noinput --verbosity 0
	$(MANAGE) seed_demo
	scripts/run-local

messages: $(STAMP)
ifneq ($(strip $(LOCALE_DIRS)),)
	scripts/ensure-gettext
	$(MANAGE) compilemessages --ignore=$(VENV) --ignore=staticfiles --ignore=node_modules
else
	@echo "No locale/ directory: no messages to compile."
endif

ensure-gettext:
	scripts/ensure-gettext

seed: $(STAMP)
	$(MANAGE) seed_demo

migrate: $(STAMP)
	$(MANAGE) migrate

# --- Checks ---------------------------------------------------------------------
test: export DATABASE_URL ?= $(TEST_DATABASE_URL)
test: export REDIS_URL ?= $(TEST_REDIS_URL)
test: export SECURE_COOKIES ?= 0
test: $(STAMP)
	$(PY) scripts/check-services
	scripts/ensure-chromium
	$(MAKE) --no-print-directory messages
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/pytest $(PYTEST_ARGS)

check-services: export DATABASE_URL ?= $(TEST_DATABASE_URL)
check-services: export REDIS_URL ?= $(TEST_REDIS_URL)
check-services: $(STAMP)
	$(PY) scripts/check-services

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

clean:
	rm -rf $(VENV) staticfiles var .pytest_cache .ruff_cache .hypothesis *.egg-info test-results
	find . -name __pycache__ -type d -prune -exec rm -rf {} +
