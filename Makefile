# mail_bruteforce_guard: `make demo` shows it on a local container fleet, `make test` proves it.
SHELL := /bin/bash
.DEFAULT_GOAL := help
VENV := .venv
BIN := $(CURDIR)/$(VENV)/bin
export PATH := $(BIN):$(PATH)
export ANSIBLE_CONFIG := $(CURDIR)/ansible.cfg
export PYTHONDONTWRITEBYTECODE := 1
SCENARIOS ?= default mail coexist

.PHONY: help setup lint unit molecule build adopt test demo bench clean

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-9s %s\n", $$1, $$2}'

setup: ## install everything the tests and the demo need (idempotent; seconds when done)
	@scripts/setup.sh

lint: setup ## ruff, yamllint, ansible-lint (production profile), ansible-test sanity
	ruff check .
	ruff format --check .
	yamllint --strict .
	ansible-lint --profile production
	scripts/sanity.sh

unit: setup ## pytest: unit and integration tests, in a throwaway network namespace (never this machine's firewall)
	scripts/in-netns.sh pytest
	@echo "== the plugin unit tests again under the minimum ansible-core ($$(.venv-min/bin/ansible --version | sed -n 1p))"
	scripts/in-netns.sh .venv-min/bin/python -m pytest -q tests/unit/plugins tests/integration/test_guard_ban_enforce.py

molecule: setup ## every molecule scenario in real podman containers
	@set -e; for s in $(SCENARIOS); do echo "== molecule test -s $$s"; molecule test -s $$s; done

build: setup ## the collection tarball a user installs (dist/mailsec-mail_bruteforce_guard-VERSION.tar.gz)
	@rm -rf dist && ansible-galaxy collection build --output-path dist | sed 's|$(CURDIR)/||'

adopt: build ## install dist/'s tarball as a user would, deploy by FQCN to Debian 12 containers (latest and minimum core)
	MBG_TARBALL="$$(ls dist/mailsec-mail_bruteforce_guard-*.tar.gz)" pytest tests/adopt

test: setup lint unit molecule adopt ## everything CI runs

demo: setup ## the whole story on a local container fleet: deploy, attack, report, shared bans
	@scripts/demo.sh

bench: setup ## throughput and memory against fail2ban, firewall batch apply, fleet merge, 100k bans, follow daemon
	@status=0; for b in bench_scan bench_firewall bench_merge bench_bans bench_follow; do \
	  echo "== python tests/bench/$$b.py"; python tests/bench/$$b.py || status=1; echo; done; \
	if [ $$status -ne 0 ]; then echo "make bench: a target was missed (see MISSED above)"; fi; exit $$status

clean: ## remove the venv, the collection links and test leftovers (images are kept)
	-for s in $(SCENARIOS); do molecule destroy -s $$s; done
	rm -rf $(VENV) .venv-min .collections .cache reports dist
