# zaiban — everyday tasks. CI runs `make test` (see .ci/run) on a fresh clone.
#
#   make venv      .venv (python3.11) with the project and its dev tools, and the web pages'
#                  npm packages (node_modules, `npm ci`); skipped when up to date
#   make install   venv, and Chromium with CJK and emoji fonts (apt) for the browser tests,
#                  libfaketime (apt) for the fault tests whose clock is off
#   make infra     start the local Kafka broker and FerretDB store (zaiban infra up)
#   make up        the whole local platform (zaiban up): needs the venv only, no browser
#   make test      install (browser included), start the stack, run the test suite (fails if no test ran)
#   make lint      ruff + mypy
#   make bench     every benchmark on the local stack, each against its baseline (a few minutes)
#   make chaos     every fault scenario (zaiban chaos all) at full size, on a stack of its own
#   make down      stop the local stack
#
# Variables: PYTHON (python3.11), PYTEST_ARGS (extra pytest arguments, e.g. PYTEST_ARGS="-k infra"),
# TEST_WORKERS (3: test processes side by side, each test in its own namespace; 0 runs them in one).

SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON ?= python3.11
VENV ?= .venv
BIN := $(VENV)/bin
INSTALL_STAMP := $(VENV)/.zaiban-installed
NPM_STAMP := node_modules/.zaiban-installed
PYTEST_ARGS ?=
TEST_WORKERS ?= 3

.PHONY: help venv install browser faketime infra up test lint bench chaos down status

help:
	@sed -n '1,14s/^# \{0,1\}//p' $(firstword $(MAKEFILE_LIST))

# What running needs (up, infra, bench, lint): the venv. What testing needs too: the browser.
venv: $(INSTALL_STAMP) $(NPM_STAMP)

install: venv browser faketime

# The browser tests drive Debian's Chromium (Playwright's own browser download cannot work
# here), with CJK and emoji fonts so pages render as people see them; installed once, by apt,
# and only for the tests: `make up` never installs it.
BROWSER_PACKAGES := chromium fonts-wqy-microhei fonts-noto-color-emoji
browser:
	@if [ -x /usr/bin/chromium ] && command -v fc-list >/dev/null && fc-list :lang=zh | grep -q . \
		&& fc-list | grep -qi "color emoji"; then exit 0; fi; \
	command -v apt-get >/dev/null || { echo "make install: no /usr/bin/chromium (or no CJK font), and apt-get is not available: install Chromium and a CJK font with your system's package manager" >&2; exit 1; }; \
	if [ "$$(id -u)" = 0 ]; then sudo=""; else sudo="sudo"; fi; \
	mkdir -p .zaiban/logs; echo "apt-get install -y $(BROWSER_PACKAGES) (log: .zaiban/logs/apt-browser.log)"; \
	{ $$sudo apt-get update && DEBIAN_FRONTEND=noninteractive $$sudo apt-get install -y $(BROWSER_PACKAGES); } \
		> .zaiban/logs/apt-browser.log 2>&1 \
		|| { tail -n 20 .zaiban/logs/apt-browser.log >&2; echo "make install: could not install Chromium, see .zaiban/logs/apt-browser.log" >&2; exit 1; }

# The fault tests run a service with its clock minutes off (zaiban/chaos/clocks.py): Debian's
# libfaketime, preloaded into that process only; installed once, by apt, for the tests.
FAKETIME_LIBRARY := /usr/lib/*/faketime/libfaketimeMT.so.1
faketime:
	@if ls $(FAKETIME_LIBRARY) >/dev/null 2>&1; then exit 0; fi; \
	command -v apt-get >/dev/null || { echo "make install: no libfaketime ($(FAKETIME_LIBRARY)), and apt-get is not available: install libfaketime with your system's package manager" >&2; exit 1; }; \
	if [ "$$(id -u)" = 0 ]; then sudo=""; else sudo="sudo"; fi; \
	mkdir -p .zaiban/logs; echo "apt-get install -y faketime (log: .zaiban/logs/apt-faketime.log)"; \
	{ $$sudo apt-get update && DEBIAN_FRONTEND=noninteractive $$sudo apt-get install -y faketime; } \
		> .zaiban/logs/apt-faketime.log 2>&1 \
		|| { tail -n 20 .zaiban/logs/apt-faketime.log >&2; echo "make install: could not install libfaketime, see .zaiban/logs/apt-faketime.log" >&2; exit 1; }

# re-installs only when pyproject.toml changed (the package itself is installed editable)
$(INSTALL_STAMP): pyproject.toml
	@command -v $(PYTHON) >/dev/null || { echo "make install: $(PYTHON) is not on PATH (set PYTHON=...)" >&2; exit 1; }
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@mkdir -p .zaiban/logs
	@echo "pip install -e .[dev] into $(VENV) (log: .zaiban/logs/pip-install.log)"
	@$(BIN)/python -m pip install --disable-pip-version-check -e ".[dev]" > .zaiban/logs/pip-install.log 2>&1 \
		|| { tail -n 30 .zaiban/logs/pip-install.log >&2; echo "make install: pip install failed, see .zaiban/logs/pip-install.log" >&2; exit 1; }
	@touch $@

# The web pages' map library (Leaflet, leaflet.markercluster) is an npm package, pinned by
# package-lock.json: `npm ci` installs exactly that, again only when the lock changed.
$(NPM_STAMP): package.json package-lock.json
	@command -v npm >/dev/null && command -v node >/dev/null || { echo "make install: node and npm are not on PATH: install Node.js (18 or newer, with npm) for the web pages' map library (package.json)" >&2; exit 1; }
	@mkdir -p .zaiban/logs
	@echo "npm ci: the web pages' packages into node_modules (log: .zaiban/logs/npm-ci.log)"
	@npm ci > .zaiban/logs/npm-ci.log 2>&1 \
		|| { tail -n 30 .zaiban/logs/npm-ci.log >&2; echo "make install: npm ci failed, see .zaiban/logs/npm-ci.log" >&2; exit 1; }
	@touch $@

infra: venv
	$(BIN)/zaiban infra up

up: venv
	$(BIN)/zaiban up

test: install
	$(BIN)/zaiban infra up
	ZAIBAN_REQUIRE_TESTS=1 $(BIN)/python -m pytest -q -ra --strict-markers --durations=10 \
		-n $(TEST_WORKERS) --dist loadfile $(PYTEST_ARGS)

# both run even when the first fails; the target fails if either did
lint: venv
	@status=0; \
	echo "ruff check zaiban contracts services tests examples"; $(BIN)/ruff check zaiban contracts services tests examples || status=1; \
	echo "mypy"; $(BIN)/mypy || status=1; \
	exit $$status

# Not part of `make test`: figures go to .zaiban/bench/*.json (BENCH_ARGS: e.g. --profile).
BENCH_ARGS ?=
bench: venv
	$(BIN)/zaiban infra up
	$(BIN)/zaiban bench all $(BENCH_ARGS)

# Not part of `make test` either (its short versions are): every fault scenario at full size,
# on a stack of its own; figures to .zaiban/chaos/ (CHAOS_ARGS: e.g. --short, --seed 7).
CHAOS_ARGS ?=
chaos: install
	$(BIN)/zaiban infra up
	$(BIN)/zaiban chaos all $(CHAOS_ARGS)

down:
	@if [ -x $(BIN)/zaiban ]; then $(BIN)/zaiban infra down; else echo "no $(BIN)/zaiban: nothing to stop"; fi

status:
	@if [ -x $(BIN)/zaiban ]; then $(BIN)/zaiban infra status; else echo "no $(BIN)/zaiban: run make install"; fi
