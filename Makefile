# The two commands: `make demo` and `make test`. Both set up what is missing first: Debian's
# prometheus, prometheus-alertmanager and prometheus-node-exporter (services not started),
# chromium and its driver for the console's browser tests, postgresql for the webhook's replica
# tests (a throwaway cluster per run, never the system service), and a virtualenv.
SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
APT_PACKAGES := prometheus prometheus-alertmanager
PYTEST_ARGS ?=

.PHONY: help setup system-deps lint test demo demo-down bench clean

help:
	@echo "make demo   set up, start the example stack, run a fault scenario (demo-down stops it)"
	@echo "make test   set up, then ruff, ruff format --check, mypy --strict, import contracts, pytest"
	@echo "make bench  set up, then run every benchmark under bench/"

setup: system-deps $(STAMP)

# Installs only what is missing; needs root or sudo then. A policy-rc.d that refuses service
# starts keeps the packages' daemons from starting on machines that run an init system.
system-deps:
	@missing=""; \
	command -v prometheus >/dev/null || missing="$$missing prometheus"; \
	command -v promtool >/dev/null || missing="$$missing prometheus"; \
	{ command -v prometheus-alertmanager || command -v alertmanager; } >/dev/null \
	  || missing="$$missing prometheus-alertmanager"; \
	command -v amtool >/dev/null || missing="$$missing prometheus-alertmanager"; \
	command -v prometheus-pushgateway >/dev/null || missing="$$missing prometheus-pushgateway"; \
	command -v prometheus-node-exporter >/dev/null || missing="$$missing prometheus-node-exporter"; \
	command -v dockerd >/dev/null || missing="$$missing docker.io"; \
	[ -x /bin/busybox ] || missing="$$missing busybox-static"; \
	command -v wrk >/dev/null || missing="$$missing wrk"; \
	command -v chromium >/dev/null || missing="$$missing chromium"; \
	command -v chromedriver >/dev/null || missing="$$missing chromium-driver"; \
	ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || missing="$$missing postgresql"; \
	if [ -z "$$missing" ]; then exit 0; fi; \
	missing=$$(echo $$missing | tr ' ' '\n' | sort -u | tr '\n' ' '); \
	echo "installing Debian packages: $$missing"; \
	if [ "$$(id -u)" = 0 ]; then sudo=""; \
	elif command -v sudo >/dev/null; then sudo="sudo"; \
	else echo "error: installing $$missing needs root (or sudo)" >&2; exit 1; fi; \
	policy=/usr/sbin/policy-rc.d; made_policy=""; \
	if [ ! -e $$policy ]; then \
	  printf '#!/bin/sh\nexit 101\n' | $$sudo tee $$policy >/dev/null && $$sudo chmod +x $$policy; \
	  made_policy=1; \
	fi; \
	status=0; \
	$$sudo apt-get update -q >/dev/null && \
	  DEBIAN_FRONTEND=noninteractive $$sudo apt-get install -y -q --no-install-recommends $$missing \
	  >/dev/null || status=$$?; \
	if [ -n "$$made_policy" ]; then $$sudo rm -f $$policy; fi; \
	if [ $$status != 0 ]; then echo "error: apt-get install $$missing failed" >&2; exit 1; fi

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' \
	  || { echo "error: $(PYTHON) is older than 3.11" >&2; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --disable-pip-version-check -e '.[dev]'
	@touch $@

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/lint-imports

test: setup lint
	$(BIN)/pytest $(PYTEST_ARGS)

# The main job: the example's four regions on real Prometheus and Alertmanager, one fault
# scenario with its measured timeline; the stack stays up (make demo-down stops it).
demo: setup
	$(BIN)/globalmon validate examples/regions.yaml
	$(BIN)/globalmon generate examples/regions.yaml -o .demo/generated
	@if [ -f .demo/stack/stack.json ]; then $(BIN)/globalmon stack down --dir .demo/stack; fi
	$(BIN)/globalmon stack up --spec examples/regions.yaml --dir .demo/stack
	$(BIN)/globalmon stack scenario latency-spike --dir .demo/stack
	@echo
	@echo "The stack stays up: globalmon stack status --dir .demo/stack; make demo-down stops it."
	@$(BIN)/globalmon stack status --dir .demo/stack | grep '^console:' 

demo-down:
	@if [ -f .demo/stack/stack.json ]; then $(BIN)/globalmon stack down --dir .demo/stack; \
	else echo "no demo stack is up"; fi

bench: setup
	$(BIN)/pip install -q --disable-pip-version-check -e '.[dev,bench]'
	@set -e; for b in bench/[!_]*.py; do m=$$(basename $$b .py); echo "== bench.$$m"; $(BIN)/python -m bench.$$m; done

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache .hypothesis
