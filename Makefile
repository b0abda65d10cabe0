# Two commands do everything on a fresh machine: `make demo` and `make test`.
SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
export PIP_DISABLE_PIP_VERSION_CHECK := 1
# Everything runs offline: the embedded model, MiniLM and WordNet come from packages.
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1
export TOKENIZERS_PARALLELISM := false

.PHONY: setup system demo test docker-up bench benchmark-report clean doctor

setup: $(STAMP)

# System packages (only when root and apt exists): Docker for the sandbox, WordNet 3.0 for nltk.
system:
	@if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	  need=""; \
	  command -v dockerd >/dev/null || need="$$need docker.io"; \
	  [ -f /usr/share/wordnet/data.noun ] || need="$$need wordnet-base"; \
	  [ -f /usr/share/wordnet/index.sense ] || need="$$need wordnet-sense-index"; \
	  if [ -n "$$need" ]; then \
	    echo "Installing system packages:$$need"; \
	    apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q $$need; \
	  fi; \
	fi

$(STAMP): setup.cfg pyproject.toml .ci/llama-wheel | system
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip wheel setuptools
	# torch first, pinned: the CPU wheel on disk (a plain `torch` pulls GBs of CUDA).
	$(PY) -m pip install -q torch==2.13.0
	# llama.cpp built portable (no native tuning) into ./wheels, never from pip's cache:
	# PROMPTGYM_LLAMA_BUILD=native|cuda for a tuned build (see README).
	bash .ci/llama-wheel $(PY)
	$(PY) -m pip install -q -e '.[dev]'
	# the set-up ends by checking, each in a subprocess, that the model, MiniLM and the sandbox work
	$(PY) -m promptgym.cli doctor
	touch $(STAMP)

docker-up: system
	@bash .ci/start-dockerd

doctor: setup
	$(PY) -m promptgym.cli doctor

demo: setup
	$(PY) -m promptgym.cli demo

test: setup docker-up
	$(PY) -m pytest tests $(PYTEST_ARGS)

bench: setup docker-up
	$(PY) benchmarks/executor_throughput.py

# docs/benchmark_report.md: train the learning benchmark's agents, benchmark them and the baselines, report
benchmark-report: setup
	PYTHONPATH=. $(PY) benchmarks/benchmark_report.py

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache
