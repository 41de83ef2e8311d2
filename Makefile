# make test   - create the virtualenv, install what the tests need, run every test
# make lab    - a real swarm on this machine running the service (root, Linux; no cloud)
# make lab-down
# make vm-lab  - the same program on 3 QEMU VMs: cloud-init runs its user data, the mesh answers (root)
# make vm-lab-down
# make up     - pulumi up on AWS (needs the Pulumi CLI and AWS credentials)
# make lint   - ruff, pyright, shellcheck, actionlint, zizmor, cloud-init schema
# make bench  - print performance numbers
SHELL := /bin/bash
VENV := .venv
PY := $(VENV)/bin/python
STACK ?= dev
LAB_HOSTS ?= 3
# make lab LAB_SET="workerCount=3 autolock=true": saved to the lab stack's config (as pulumi up -c)
LAB_SET ?=
PYTEST_ARGS ?=
IS_ROOT := $(shell [ "$$(id -u)" = 0 ] && echo yes)

.PHONY: venv deps test test-unit lab lab-down up preview destroy lint bench vm-lab vm-lab-down

$(VENV)/.installed: requirements.txt requirements-dev.txt
	python3 -m venv $(VENV)
	$(VENV)/bin/pip install -q --disable-pip-version-check -r requirements-dev.txt
	touch $@

venv: $(VENV)/.installed

# Debian packages the tests use (shellcheck, cloud-init for schema checks) and the
# lab's (docker.io, openssh-server, ...). Needs root; without it the lab tests skip.
deps:
ifeq ($(IS_ROOT),yes)
	lab/hosts.sh install
else
	@echo "make deps: not root, so no apt installs; lab tests will be skipped"
endif

test: venv deps
	$(PY) -m pytest -q $(PYTEST_ARGS) tests

test-unit: venv
	$(PY) -m pytest -q tests/unit tests/program tests/policy

lab: LAB_T0 := $(shell date +%s.%N)
lab: venv deps
	lab/hosts.sh up $(LAB_HOSTS)
	lab/hosts.sh image
	$(PY) -m lab.engine up $(foreach kv,$(LAB_SET),--set $(kv))
	LAB_T0=$(LAB_T0) $(PY) -m lab.summary

lab-down:
	lab/hosts.sh down
	rm -rf .ssh/lab

up: venv
	pulumi stack select --create $(STACK)
	pulumi up --stack $(STACK) --policy-pack policy

preview: venv
	pulumi preview --stack $(STACK) --policy-pack policy

destroy:
	pulumi destroy --stack $(STACK)

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
