# wisesync developer commands. `make test` is the one test command (CI runs it via .ci/run).
SHELL := /bin/bash
VENV := .venv
KAFKA_DATA_DIR ?= .cache/kafka-dev

.PHONY: test setup install lint format demo kafka

## test: venv + installs, lint, then every test tier and plugin (scripts/test)
test:
	scripts/test

## install: the venv with wisesync and its plugins installed (no test tools)
install:
	scripts/test --install-only

## setup: only create the venv, install everything and fetch the Kafka jars
setup:
	scripts/test --setup-only

$(VENV)/bin/ruff:
	scripts/test --setup-only

## lint: ruff check + format check
lint: $(VENV)/bin/ruff
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

## format: apply ruff fixes and formatting
format: $(VENV)/bin/ruff
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

## demo: the end-to-end demo against the sandboxes (installs first; needs nothing else)
demo: install
	$(VENV)/bin/wisesync demo

## kafka: run a real Kafka broker by hand (prints its bootstrap address; Ctrl-C stops it)
kafka:
	$(VENV)/bin/python deploy/local/kafka.py start --data-dir $(KAFKA_DATA_DIR)
