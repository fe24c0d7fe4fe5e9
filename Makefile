# Two commands for users: `make demo` and `make test`. Both install what they need first
# (Debian packages, the virtualenv, Node tools) and skip what is already installed.
SHELL := /bin/bash
VENV := .venv
PY := $(VENV)/bin/python
STAMP := .make
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
PYTHON ?= python3

# Tesseract + Japanese model, fonts for forms and synthetic handwriting, the reference `age`
# tool, Chromium for the review page tests, and headers to build tesserocr.
APT_PACKAGES := tesseract-ocr tesseract-ocr-jpn libtesseract-dev libleptonica-dev pkg-config g++ \
	fonts-noto-cjk fonts-klee fonts-seto age chromium nodejs

export OMP_THREAD_LIMIT := 1

.PHONY: setup demo test lint synth clean
setup: $(STAMP)/venv $(STAMP)/npm $(STAMP)/checkov

$(STAMP)/apt: Makefile
	@mkdir -p $(STAMP)
	@missing=$$(for p in $(APT_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || echo $$p; done); \
	if [ -n "$$missing" ]; then \
	  echo "installing Debian packages:" $$missing >&2; \
	  $(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq $$missing >&2; \
	fi
	@touch $@

$(STAMP)/venv: requirements.txt pyproject.toml $(STAMP)/apt
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -r requirements.txt
	$(PY) -m pip install -q --no-deps -e .
	@touch $@

# checkov (run over the synthesized template by tests/infra/test_checkov.py) in a venv of its
# own: it pins boto3/botocore 1.35, packaging 23 and networkx 2, older than the project's.
$(STAMP)/checkov: requirements-checkov.txt
	@test -x .venv-checkov/bin/python || $(PYTHON) -m venv .venv-checkov
	.venv-checkov/bin/python -m pip install -q -r requirements-checkov.txt
	@touch $@

$(STAMP)/npm: package.json package-lock.json $(STAMP)/apt
	npm ci --no-audit --no-fund --loglevel=error
	@touch $@

demo: setup
	$(VENV)/bin/yomitori demo --count 20

test: setup
	$(PY) -m pytest

lint: setup
	$(VENV)/bin/ruff check .

clean:
	rm -rf $(STAMP) $(VENV) .venv-checkov node_modules cdk.out demo-out
