# Shield RAG — developer entry points. `make test` is what CI runs (.ci/run).
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
# redis-server for the Python tests; podman, runc and debootstrap for the systemd containers
# Molecule and the demo deploy onto (tests/images).
APT_PACKAGES := redis-server python3-venv podman runc debootstrap \
  prometheus prometheus-alertmanager prometheus-blackbox-exporter
# Ansible reads and writes only inside the project: no stale copy of the collection in
# ~/.ansible can shadow this one, and shield.rag.* resolves to this checkout.
export ANSIBLE_HOME := $(CURDIR)/.cache/ansible
export ANSIBLE_COLLECTIONS_PATH := $(CURDIR)/.cache/collections
COLLECTION_LINK := .cache/collections/ansible_collections/shield/rag

.PHONY: test deps venv lint pytest molecule demo bench clean

## test: install what is missing, lint, run every test and every Molecule scenario
test: deps venv lint pytest molecule

## deps: Debian packages the tests start as real processes
deps:
	@missing=""; for p in $(APT_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  echo "installing:$$missing"; \
	  $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get update -q && \
	  $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -q $$missing; \
	fi

## venv: the Python environment with the package and its test tools
venv: $(VENV)/.installed
$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install -q --upgrade pip
	$(VENV)/bin/pip install -q -e '.[test]'
	touch $@

## lint: ruff (lint and format check), ansible-lint (production profile)
lint: venv $(COLLECTION_LINK)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/lint-imports
	$(VENV)/bin/mypy
	PATH="$(CURDIR)/$(VENV)/bin:$$PATH" $(VENV)/bin/ansible-lint --profile production

$(COLLECTION_LINK):
	mkdir -p $(dir $@)
	ln -sfn ../../../.. $@

## pytest: unit and integration tests (real Redis, stand-ins, services on 127.0.0.1)
pytest: venv
	$(PY) -m pytest -p no:cacheprovider -ra

## molecule: Molecule scenarios on Debian 12 systemd containers (tests/molecule.sh)
MOLECULE_SCENARIOS ?= default grafana_alerts circuit_breakers async_jobs
molecule: deps venv
	bash tests/molecule.sh $(MOLECULE_SCENARIOS)

## demo: deploy the stack with playbooks/site.yml into one local systemd container (podman),
## ingest sample documents, print answers and URLs (tests/demo-stack.sh; re-run: re-converge)
demo: deps venv $(COLLECTION_LINK)
	bash tests/demo-stack.sh

## demo-local: the same demo with the services as local processes on 127.0.0.1 (no Ansible)
.PHONY: demo-local demo-stop
demo-local: deps venv
	$(PY) -m tests.demo

## demo-stop: remove the demo container (shield-demo) and nothing else
demo-stop:
	bash tests/demo-stack.sh stop

## bench: measure the stack against its floors on 127.0.0.1 (tests/bench), write
## docs/benchmarks/report.md and latency.png; not part of test (BENCH_ARGS=--quick: smoke run)
bench: deps venv $(COLLECTION_LINK)
	@$(PY) -c 'import matplotlib, locust' 2>/dev/null || $(VENV)/bin/pip install -q -e '.[bench]'
	$(PY) -m tests.bench $(BENCH_ARGS)

clean:
	rm -rf $(VENV) build dist *.egg-info .cache
