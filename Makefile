# Shield RAG — developer entry points. `make test` is what CI runs (.ci/run).
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
# redis-server for the Python tests, haproxy for the edge role's config and live tests; podman,
# runc and debootstrap for the systemd containers
# Molecule and the demo deploy onto (tests/images); shellcheck for ansible-test sanity's
# shellcheck test (skipped without it).
APT_PACKAGES := redis-server python3-venv podman runc debootstrap \
  prometheus prometheus-alertmanager prometheus-blackbox-exporter haproxy shellcheck
# Ansible reads and writes only inside the project: no stale copy of the collection in
# ~/.ansible can shadow this one, and shield.rag.* resolves to this checkout.
export ANSIBLE_HOME := $(CURDIR)/.cache/ansible
export ANSIBLE_COLLECTIONS_PATH := $(CURDIR)/.cache/collections
COLLECTION_LINK := .cache/collections/ansible_collections/shield/rag

.PHONY: test deps venv lint static sanity lock lock-check pytest molecule demo bench docs docs-lint clean

## test: install what is missing, lint, run every test and every Molecule scenario. The
## scenarios run in the foreground; lint and pytest run beside them, in a session of their own
## (killed as a group) at a lower CPU priority: nice $(CHECKS_NICE) for the session's scheduler
## group (/proc/self/autogroup, where the kernel groups by session) and for each process. They
## run on what the scenarios leave idle (about half of two cores: the hosts mostly wait on
## systemd, sockets and polls); a line says when they end (with the end of their log if they
## failed), and their whole output (build/checks.log) follows the scenarios'.
## SERIAL=1: one after another, in the foreground.
CHECKS_NICE ?= 10
test: deps venv $(COLLECTION_LINK)
ifdef SERIAL
	$(MAKE) --no-print-directory lint pytest molecule
else
	@mkdir -p build; \
	setsid bash -c 'echo $(CHECKS_NICE) >/proc/self/autogroup 2>/dev/null; \
	  nice -n $(CHECKS_NICE) $(MAKE) --no-print-directory -k lint pytest >build/checks.log 2>&1; \
	  s=$$?; if [ $$s = 0 ]; then echo "---- lint and pytest passed (build/checks.log) ----"; \
	  else echo "---- lint or pytest FAILED; the end of build/checks.log: ----"; \
	  tail -n 40 build/checks.log; echo "---- (the scenarios go on) ----"; fi; exit $$s' & \
	checks=$$!; trap 'kill -- -$$checks 2>/dev/null' INT TERM; \
	status=0; $(MAKE) --no-print-directory molecule || status=1; \
	checks_status=0; wait $$checks || checks_status=1; \
	echo "---- lint and pytest (build/checks.log) ----"; cat build/checks.log; \
	if [ $$checks_status != 0 ]; then echo "lint or pytest FAILED (above)" >&2; status=1; fi; \
	exit $$status
endif

## deps: Debian packages the tests start as real processes
deps:
	@missing=""; for p in $(APT_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  echo "installing:$$missing"; \
	  $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get update -q && \
	  $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -q $$missing; \
	fi

## venv: the Python environment with the package and its test tools: exactly
## requirements/dev.lock (hash-checked), then the package itself (editable, no dependencies)
venv: $(VENV)/.installed
$(VENV)/.installed: requirements/dev.lock pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install -q --upgrade pip
	$(VENV)/bin/pip install -q --require-hashes -r requirements/dev.lock
	$(VENV)/bin/pip install -q --no-deps -e .
	touch $@

## lock: regenerate requirements/*.lock from pyproject.toml with uv, keeping every pin the
## ranges still allow (UPGRADE=1: the newest versions the ranges allow). services.lock is the
## runtime set (the wheelhouse's); dev.lock and bench.lock add the test and bench extras on
## the same pins; installer.lock is uv (requirements/installer.in) at dev.lock's pin, which the
## wheelhouse carries for the hosts' installs. One universal lock for Python 3.11 (Debian 12)
## and 3.13 (Debian 13).
LOCKS := services dev bench installer
UV_COMPILE = $(abspath $(VENV))/bin/uv pip compile --quiet --universal --python-version 3.11 \
  --generate-hashes --custom-compile-command 'make lock' $(if $(UPGRADE),--upgrade)
define compile_locks
	cd $(1) && $(UV_COMPILE) pyproject.toml -o requirements/services.lock
	cd $(1) && $(UV_COMPILE) pyproject.toml --extra test -c requirements/services.lock \
	  -o requirements/dev.lock
	cd $(1) && $(UV_COMPILE) pyproject.toml --extra bench -c requirements/dev.lock \
	  -o requirements/bench.lock
	cd $(1) && $(UV_COMPILE) requirements/installer.in -c requirements/dev.lock \
	  -o requirements/installer.lock
endef
lock: venv
	$(call compile_locks,$(CURDIR))

## lock-check: the locks agree with pyproject.toml (recompiled in a scratch copy, compared)
lock-check: venv
	@tmp=$$(mktemp -d) && trap 'rm -rf "$$tmp"' EXIT && \
	mkdir "$$tmp/requirements" && cp pyproject.toml README.md "$$tmp/" && \
	cp $(LOCKS:%=requirements/%.lock) requirements/installer.in "$$tmp/requirements/" && \
	$(MAKE) --no-print-directory lock-compile LOCK_DIR="$$tmp" && \
	for f in $(LOCKS); do \
	  diff -u requirements/$$f.lock "$$tmp/requirements/$$f.lock" >&2 || stale=1; \
	done; \
	if [ -n "$${stale:-}" ]; then \
	  echo "requirements/*.lock do not match pyproject.toml: run 'make lock' and commit the locks" >&2; \
	  exit 1; \
	fi
.PHONY: lock-compile
lock-compile:
	$(call compile_locks,$(LOCK_DIR))

## lint: ruff (lint and format check), ansible-lint (production profile), the locks, the
## collection's docs (docs-lint), ansible-test sanity. Sanity (a minute on one core) runs
## beside the other checks; its output follows theirs.
lint: venv lock-check $(COLLECTION_LINK)
	@mkdir -p build; \
	$(MAKE) --no-print-directory sanity >build/sanity.log 2>&1 & sanity=$$!; \
	status=0; $(MAKE) --no-print-directory docs-lint static || status=1; \
	wait $$sanity || { status=1; echo "ansible-test sanity FAILED (build/sanity.log):" >&2; }; \
	cat build/sanity.log; exit $$status

## static: ruff, lint-imports (the layer contracts), mypy, ansible-lint
static: venv $(COLLECTION_LINK)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/lint-imports
	$(VENV)/bin/mypy
	PATH="$(CURDIR)/$(VENV)/bin:$$PATH" $(VENV)/bin/ansible-lint --profile production

## docs-lint: antsibull-docs' lint of what the docsite shows: every role's argument_specs,
## every module's and filter's documentation, docs/docsite (its pages and links) and their
## references to plugins of this collection and of ansible.builtin
docs-lint: venv $(COLLECTION_LINK)
	PATH="$(CURDIR)/$(VENV)/bin:$$PATH" $(VENV)/bin/antsibull-docs lint-collection-docs \
	  --plugin-docs --check-extra-docs-refs --validate-collection-refs dependent \
	  --disallow-unknown-collection-refs .

## docs: the collection's docsite, as Ansible's own collections have it, in build/docs/html
## (open build/docs/html/index.html): antsibull-docs writes the pages of the roles (from their
## argument_specs), modules, filters and docs/docsite/rst; the guides of docs/ join them as
## they are (MyST); Sphinx builds the HTML offline, a warning fails the build
DOCS_BUILD := build/docs
docs: venv $(COLLECTION_LINK)
	rm -rf $(DOCS_BUILD)
	mkdir -p $(DOCS_BUILD)/rst && chmod go-w $(DOCS_BUILD)/rst
	PATH="$(CURDIR)/$(VENV)/bin:$$PATH" $(VENV)/bin/antsibull-docs collection --use-current \
	  --fail-on-error --cleanup everything --dest-dir $(DOCS_BUILD)/rst shield.rag
	mkdir $(DOCS_BUILD)/rst/guides
	tar -C docs --exclude=./docsite -cf - . | tar -C $(DOCS_BUILD)/rst/guides -xf -
	cp docs/docsite/sphinx/index.rst $(DOCS_BUILD)/rst/
	$(VENV)/bin/sphinx-build -q -W --keep-going -c docs/docsite/sphinx -b html \
	  $(DOCS_BUILD)/rst $(DOCS_BUILD)/html

$(COLLECTION_LINK):
	mkdir -p $(dir $@)
	ln -sfn ../../../.. $@

## sanity: ansible-test sanity on the venv's Python (--local), tests/sanity/ignore-<version>.txt
## It runs in a scratch copy of the git-tracked files at <tmp>/ansible_collections/shield/rag
## (ansible-test wants that path, resolves the collection link, and inside this checkout would
## take the git files of the checkout's root). Each test's virtual environment gets pip from
## tests/sanity/get_pip.py (ensurepip; get-pip.py is not downloaded); the environments are
## kept in ~/.ansible/test/venv between runs.
SANITY_PYTHON = $(shell $(PY) -c 'import sys; print("%d.%d" % sys.version_info[:2])')
# The pip version ansible-test bootstraps (the name of the cached get-pip.py it looks for).
SANITY_PIP = $(shell $(PY) -c 'import types; from ansible_test._internal.python_requirements \
  import get_venv_packages as p; print(p(types.SimpleNamespace(version="$(SANITY_PYTHON)"))["pip"])')
sanity: venv
	mkdir -p ~/.ansible/test/cache
	cp tests/sanity/get_pip.py ~/.ansible/test/cache/get_pip_$(subst .,_,$(SANITY_PIP)).py
	@tmp=$$(mktemp -d) && trap 'rm -rf "$$tmp"' EXIT && \
	copy="$$tmp/ansible_collections/shield/rag" && mkdir -p "$$copy" && \
	git ls-files -z | xargs -0 cp --parents -a -t "$$copy" && \
	cd "$$copy" && PATH="$(CURDIR)/$(VENV)/bin:$$PATH" \
	  ansible-test sanity --local --python $(SANITY_PYTHON)

## pytest: unit and integration tests (real Redis, stand-ins, services on 127.0.0.1), on
## PYTEST_WORKERS pytest-xdist workers; a module, or a package of tests/conftest.py's
## WHOLE_PACKAGES, runs whole on one worker (PYTEST_WORKERS=0: all in this one process).
## Three on two cores: the tests wait on the processes they start a fifth of the time.
PYTEST_WORKERS ?= 3
pytest: venv
	$(PY) -m pytest -p no:cacheprovider -ra -n $(PYTEST_WORKERS) --dist loadfile

## molecule: Molecule scenarios on Debian 12 and 13 systemd containers (tests/molecule.sh)
MOLECULE_SCENARIOS ?= default grafana_alerts async_jobs lifecycle topology
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
	@$(PY) -c 'import matplotlib, locust' 2>/dev/null || \
	  $(VENV)/bin/pip install -q --require-hashes -r requirements/bench.lock
	$(PY) -m tests.bench $(BENCH_ARGS)

clean:
	rm -rf $(VENV) build dist *.egg-info .cache
