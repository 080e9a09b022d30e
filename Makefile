# mail_bruteforce_guard: `make demo` shows it on a local container fleet, `make test` proves it.
SHELL := /bin/bash
.DEFAULT_GOAL := help
VENV := .venv
BIN := $(CURDIR)/$(VENV)/bin
export PATH := $(BIN):$(PATH)
export ANSIBLE_CONFIG := $(CURDIR)/ansible.cfg
export PYTHONDONTWRITEBYTECODE := 1
SCENARIOS ?= default mail coexist

.PHONY: help setup lint unit molecule test demo bench clean

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-9s %s\n", $$1, $$2}'

setup: ## install everything the tests and the demo need (idempotent; seconds when done)
	@scripts/setup.sh

lint: setup ## ansible-lint (production profile), yamllint, ruff
	ruff check .
	ruff format --check .
	yamllint --strict .
	ansible-lint --profile production

unit: setup ## pytest: unit and integration tests (real ipset/iptables inside throwaway network namespaces)
	pytest

molecule: setup ## every molecule scenario in real podman containers
	@set -e; for s in $(SCENARIOS); do echo "== molecule test -s $$s"; molecule test -s $$s; done

test: setup lint unit molecule ## everything CI runs

demo: setup ## the whole story on a local container fleet: deploy, attack, report, shared bans
	@scripts/demo.sh

bench: setup ## throughput and memory against fail2ban, firewall batch apply, fleet merge, 100k bans
	@status=0; for b in bench_scan bench_firewall bench_merge bench_bans; do \
	  echo "== python tests/bench/$$b.py"; python tests/bench/$$b.py || status=1; echo; done; \
	if [ $$status -ne 0 ]; then echo "make bench: a target was missed (see MISSED above)"; fi; exit $$status

clean: ## remove the venv, the collection links and test leftovers (images are kept)
	-for s in $(SCENARIOS); do molecule destroy -s $$s; done
	rm -rf $(VENV) .collections .cache reports
