# Shield RAG — developer entry points. `make test` is what CI runs (.ci/run).
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
APT_PACKAGES := redis-server python3-venv
# Ansible reads and writes only inside the project: no stale copy of the collection in
# ~/.ansible can shadow this one, and shield.rag.* resolves to this checkout.
export ANSIBLE_HOME := $(CURDIR)/.cache/ansible
export ANSIBLE_COLLECTIONS_PATH := $(CURDIR)/.cache/collections
COLLECTION_LINK := .cache/collections/ansible_collections/shield/rag

.PHONY: test deps venv lint pytest demo clean

## test: install what is missing, lint, run every test
test: deps venv lint pytest

## deps: Debian packages the tests start as real processes
deps:
	@missing=""; for p in $(APT_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  echo "installing:$$missing"; \
	  $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get update -q && \
	  $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends $$missing; \
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
	PATH="$(CURDIR)/$(VENV)/bin:$$PATH" $(VENV)/bin/ansible-lint --profile production

$(COLLECTION_LINK):
	mkdir -p $(dir $@)
	ln -sfn ../../../.. $@

## pytest: unit and integration tests (real Redis, stand-ins, services on 127.0.0.1)
pytest: venv
	$(PY) -m pytest -p no:cacheprovider -ra

## demo: start the stack locally and answer a few queries
demo: deps venv
	$(PY) -m tests.demo

clean:
	rm -rf $(VENV) build dist *.egg-info .cache
