# make test   - create the virtualenv, install what the tests need, run every test
# make lab    - a real swarm on this machine running the service (root, Linux; no cloud)
# make lab-down
# make vm-lab  - the same program on 3 QEMU VMs: cloud-init runs its user data, the mesh answers (root)
# make vm-lab-down
# make up     - pulumi up on AWS (needs the Pulumi CLI and AWS credentials)
# make roll   - replace every node of the stack, one at a time (a new AMI or user data); lab-roll: the lab's
# make lock   - recompile requirements.lock.txt and policy/requirements.txt from the ranges
# make lint   - ruff, pyright, shellcheck, actionlint, zizmor, cloud-init schema
# make bench  - print performance numbers
# make docs   - regenerate README.md's config table and Pulumi.yaml's config: from components/schema.py
SHELL := /bin/bash
VENV := .venv
PY := $(VENV)/bin/python
STACK ?= dev
LAB_HOSTS ?= 3
# make lab LAB_SET="workerCount=3 autolock=true": saved to the lab stack's config (as pulumi up -c)
LAB_SET ?=
PYTEST_ARGS ?=
IS_ROOT := $(shell [ "$$(id -u)" = 0 ] && echo yes)

# The exact builds: requirements.lock.txt (program + dev tools) and policy/requirements.txt
# (the policy pack), compiled with hashes by `make lock` from the hand-edited ranges
# (requirements.txt, requirements-dev.txt, policy/requirements.in).
LOCK := requirements.lock.txt
POLICY_LOCK := policy/requirements.txt
# PulumiPolicy.yaml's runtime.options.virtualenv, relative to policy/ (a test checks).
POLICY_VENV := policy/venv
# Exactly the lock: a fresh virtualenv (--clear), every requirement pinned and hashed
# (--require-hashes), nothing else (--no-deps: a dependency missing from the lock makes
# `pip check` fail instead of being fetched unpinned).
PIP_INSTALL_LOCK := pip install -q --disable-pip-version-check --require-hashes --no-deps -r
# `make lock`: pip-tools in a throwaway virtualenv, for Python 3.11 (CI's; the lock
# holds the hashes of every file of each version, so other platforms install it too).
# It keeps the pins already in the locks that still fit the ranges; upgrade with
#   make lock LOCK_ARGS=--upgrade   or   make lock LOCK_ARGS='--upgrade-package pulumi-aws'
LOCK_PYTHON ?= python3.11
PIP_TOOLS := pip-tools==7.6.2
LOCK_ARGS ?=
PIP_COMPILE_ARGS := --quiet --generate-hashes --allow-unsafe --strip-extras --no-emit-index-url --no-emit-find-links

.PHONY: venv policy-venv lock deps test test-unit lab lab-down lab-roll vm-lab-roll up roll preview destroy refresh lint bench vm-lab vm-lab-down docs

$(VENV)/.installed: $(LOCK)
	python3 -m venv --clear $(VENV)
	$(VENV)/bin/$(PIP_INSTALL_LOCK) $(LOCK)
	$(VENV)/bin/pip check
	touch $@

venv: $(VENV)/.installed

# The policy pack's virtualenv. `pulumi up --policy-pack policy` does not create it
# for a local pack (`pulumi install` in policy/ would); this target needs no Pulumi CLI.
$(POLICY_VENV)/.installed: $(POLICY_LOCK)
	python3 -m venv --clear $(POLICY_VENV)
	$(POLICY_VENV)/bin/$(PIP_INSTALL_LOCK) $(POLICY_LOCK)
	$(POLICY_VENV)/bin/pip check
	touch $@

policy-venv: $(POLICY_VENV)/.installed

lock:
	tmp=$$(mktemp -d) && trap 'rm -rf "$$tmp"' EXIT && \
	$(LOCK_PYTHON) -m venv "$$tmp" && \
	"$$tmp/bin/pip" install -q --disable-pip-version-check '$(PIP_TOOLS)' && \
	"$$tmp/bin/pip-compile" $(PIP_COMPILE_ARGS) $(LOCK_ARGS) --output-file=$(LOCK) requirements.lock.in && \
	(cd policy && "$$tmp/bin/pip-compile" $(PIP_COMPILE_ARGS) $(LOCK_ARGS) --output-file=requirements.txt requirements.in)

# Debian packages the tests use (shellcheck, cloud-init for schema checks) and the
# lab's (docker.io, openssh-server, ...). Needs root; without it the lab tests skip.
deps:
ifeq ($(IS_ROOT),yes)
	lab/hosts.sh install
else
	@echo "make deps: not root, so no apt installs; lab tests will be skipped"
endif

# Three pytest processes (.ci/suites.py): the namespace lab, the fast suites, the VM lab;
# a table of their wall times at the end; the VM lab beside the others (VM_LAB_BESIDE=0: after).
test: venv deps
	$(PY) .ci/suites.py $(PYTEST_ARGS)

# The fast suites on every core (pytest-xdist): the lab's tests cannot share their hosts,
# so `make test` runs everything in one process.
test-unit: venv
	$(PY) -m pytest -q -n auto tests/unit tests/program tests/policy

docs: venv
	$(PY) -m components.schema docs --write

lab: LAB_T0 := $(shell date +%s.%N)
lab: venv deps
	lab/hosts.sh up $(LAB_HOSTS)
	lab/hosts.sh image
	$(PY) -m lab.engine up $(foreach kv,$(LAB_SET),--set $(kv))
	LAB_T0=$(LAB_T0) $(PY) -m lab.summary

lab-down:
	lab/hosts.sh down
	rm -rf .ssh/lab

up: venv policy-venv
	pulumi stack select --create $(STACK)
	pulumi up --stack $(STACK) --policy-pack policy

preview: venv policy-venv
	pulumi preview --stack $(STACK) --policy-pack policy

# A rolling replacement: workers, then managers down to manager-1, one `pulumi up --replace`
# each (ops/roll.py); ROLL_ARGS='--only swarm-worker-2' limits it.
ROLL_ARGS ?=
roll: venv policy-venv
	$(PY) -m ops.roll --stack $(STACK) --policy-pack policy $(ROLL_ARGS)

lab-roll: venv
	$(PY) -m ops.roll --engine lab --stack lab $(ROLL_ARGS)

# make vm-lab first: every VM replaced by a new one, the mesh probed throughout (~30 min)
vm-lab-roll: venv
	$(PY) -m lab.vm roll

# A destroy skips the swarm's removal steps and the service's deletes (deleted with the
# VPC: the instances go anyway), so it needs no node to answer. --run-program: the
# program writes the deployer's SSH key (components/access.py); should a delete ever need
# the nodes, a machine where no `up` ran (a CI runner) has the key all the same.
destroy: venv
	pulumi destroy --stack $(STACK) --run-program

refresh: venv
	pulumi refresh --stack $(STACK) --run-program

lint: venv
	.ci/lint.sh

bench: venv deps
	$(PY) -m bench

# make vm-lab      - the same program on 3 QEMU VMs (Debian bookworm, TCG): cloud-init runs the
#                    program's user data, and the routing mesh answers on every node (~8 min)
# make vm-lab-down - stop every VM and server by PID; remove taps, bridge, disks (image cache kept)
vm-lab: venv deps
	$(PY) -m lab.vm up

vm-lab-down:
	if [ -x $(PY) ]; then $(PY) -m lab.vm down; else lab/vm/host.sh down && rm -rf .ssh/vmlab; fi
