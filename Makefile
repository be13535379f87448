# graphflow developer tasks.
#   make demo   set everything up (venv .venv, Debian GL libraries) and run the eymo demo
#   make test   ruff, mypy, generated-code checks, pytest (sets up first if needed)
# Setting up is idempotent and quick once done: the venv is reinstalled only when
# pyproject.toml or setup.py change.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
INSTALLED := $(VENV)/.graphflow-installed
DEMO_OUTPUT := eymo-demo.mp4

.PHONY: setup system demo test lint typecheck protos wheel clean

setup: system $(INSTALLED)

system:
	bash scripts/setup_debian.sh

$(INSTALLED): pyproject.toml setup.py Makefile
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet -e '.[dev,ray]'
	touch $@

demo: setup
	$(BIN)/graphflow run eymo --input media/demo.mp4 --output $(DEMO_OUTPUT)
	@echo "wrote $(DEMO_OUTPUT)"

test: setup lint typecheck protos
	$(BIN)/python -m pytest -q

lint: $(INSTALLED)
	$(BIN)/ruff check .

typecheck: $(INSTALLED)
	$(BIN)/mypy

protos: $(INSTALLED)
	$(BIN)/python scripts/gen_protos.py --check
	$(BIN)/python scripts/gen_calculator_index.py --check

wheel: $(INSTALLED)
	$(BIN)/python -m pip wheel . --no-deps --wheel-dir dist

clean:
	rm -rf build dist *.egg-info $(DEMO_OUTPUT)
