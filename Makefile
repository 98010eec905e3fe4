# The newcomer's two commands: `make run` and `make test`. Each does all of its own set-up.
SHELL := /bin/bash
VENV := .venv
BIN := $(VENV)/bin
HOST ?= 127.0.0.1
PORT ?= 8000
# The browser tests drive Debian's Chromium (installed by `make test` when missing).
CHROMIUM ?= /usr/bin/chromium

# The newest Python 3.12+ found on PATH or in pyenv's versions (a pyenv shim that cannot run is skipped).
PYTHON := $(shell for v in 3.14 3.13 3.12; do \
	for c in $$(command -v python$$v 2>/dev/null) $$(ls -d $${PYENV_ROOT:-$$HOME/.pyenv}/versions/$$v*/bin/python$$v 2>/dev/null | sort -V -r); do \
		if "$$c" -c 'import sys, venv; assert sys.version_info >= (3, 12)' >/dev/null 2>&1; then echo "$$c"; exit 0; fi; \
	done; done)

# The Ukrainian catalogue is kept as .po in git and compiled here (msgfmt, Debian's gettext).
MESSAGES := $(patsubst %.po,%.mo,$(wildcard locale/*/LC_MESSAGES/django.po))

.PHONY: run test lint bench bench-night bench-load night venv migrate seed worker beat clean messages

$(BIN)/.installed: requirements.txt
	@if [ ! -x $(BIN)/python ]; then \
		if [ -z "$(PYTHON)" ]; then echo "Python 3.12 or newer is needed (Django 6.1): install python3.13 (or 3.12) and run make again."; exit 1; fi; \
		echo "Building $(VENV) with $(PYTHON)"; \
		"$(PYTHON)" -m venv $(VENV); \
	fi
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --upgrade pip
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -r requirements.txt
	@touch $@

venv: $(BIN)/.installed

locale/%/LC_MESSAGES/django.mo: locale/%/LC_MESSAGES/django.po
	@command -v msgfmt >/dev/null || { echo "Installing gettext to compile the translations (apt-get)"; \
		if [ "$$(id -u)" = 0 ]; then apt-get install -y -q gettext >/dev/null; else sudo apt-get install -y -q gettext >/dev/null; fi; }
	msgfmt --check -o $@ $<

messages: $(MESSAGES)

migrate: venv messages
	$(BIN)/python manage.py migrate --noinput

seed: migrate
	SITE_URL=$${SITE_URL:-http://$(HOST):$(PORT)} $(BIN)/python manage.py seed_demo

run: seed
	@echo "Serving on http://$(HOST):$(PORT)/ (the client dashboard; admin at /admin/, API docs at /api/docs/)"
	SITE_URL=$${SITE_URL:-http://$(HOST):$(PORT)} $(BIN)/python manage.py runserver $(HOST):$(PORT)

$(CHROMIUM):
	@echo "Installing Chromium for the browser tests (apt-get)"
	@if [ "$$(id -u)" = 0 ]; then apt-get install -y -q chromium >/dev/null; else sudo apt-get install -y -q chromium >/dev/null; fi

test: venv messages $(CHROMIUM)
	CHROMIUM=$(CHROMIUM) $(BIN)/python -m pytest $(PYTEST_ARGS)

lint: venv
	$(BIN)/ruff check .

bench: venv
	$(BIN)/python bench/webhook.py $(BENCH_ARGS)

bench-night: venv
	$(BIN)/python bench/night.py $(BENCH_ARGS)

# The webhook and the API's busiest reads at once, on gunicorn, PostgreSQL and its own Redis (issue 17).
bench-load: venv
	$(BIN)/python bench/load.py $(BENCH_ARGS)

night: migrate
	$(BIN)/python manage.py run_nightly $(NIGHT_ARGS)

worker: venv
	$(BIN)/celery -A config worker -Q celery$${NIGHT_QUEUE:+,$$NIGHT_QUEUE} --loglevel=info

beat: venv
	$(BIN)/celery -A config beat --loglevel=info

clean:
	rm -rf $(VENV) db.sqlite3 .pytest_cache $(MESSAGES)

bench-broadcast: venv
	$(BIN)/python bench/broadcast.py $(BENCH_ARGS)
