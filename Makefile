# graphflow developer tasks.
#   make demo   set everything up (venv .venv, Debian GL libraries) and run the eymo demo
#   make test   ruff, mypy, generated-code checks, pytest (sets up first if needed, including
#               the MediaPipe 0.10.21 reference venv .venv-mp that conformance tests compare with)
#   make fuzz   the differential suite against MediaPipe with FUZZ_EXAMPLES examples (10000)
# Setting up is idempotent and quick once done: the venv is reinstalled only when
# pyproject.toml or setup.py change, the compiled runtime rebuilt only when its sources do.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
INSTALLED := $(VENV)/.graphflow-installed
DEMO_OUTPUT := eymo-demo.mp4
FUZZ_EXAMPLES ?= 10000
FUZZ_SEED ?= 0

.PHONY: setup system native mpvenv demo test fuzz lint typecheck protos wheel clean

setup: system $(INSTALLED) native

system:
	bash scripts/setup_debian.sh

$(INSTALLED): pyproject.toml setup.py Makefile
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet -e '.[dev,ray]'
	touch $@

# The compiled runtime (docs/architecture.md): built only when its sources changed; where it
# cannot be built, scripts/build_native.py says so in one line and graphflow runs as Python.
native: $(INSTALLED)
	$(BIN)/python scripts/build_native.py || true

# The reference environment: scripts/mp_venv.sh checks it (a second) and builds it only when
# it is missing or broken.
mpvenv:
	bash scripts/mp_venv.sh

demo: setup
	$(BIN)/graphflow run eymo --input media/demo.mp4 --output $(DEMO_OUTPUT)
	@echo "wrote $(DEMO_OUTPUT)"

# GRAPHFLOW_REQUIRE_MEDIAPIPE turns a missing reference venv into a failure instead of a skip.
# The engine's tests once more with the runtime as Python: where the compiled runtime is built,
# the first run used it (docs/architecture.md).
test: setup lint typecheck protos mpvenv
	GRAPHFLOW_REQUIRE_MEDIAPIPE=1 $(BIN)/python -m pytest -q
	GRAPHFLOW_REQUIRE_MEDIAPIPE=1 GRAPHFLOW_NATIVE=0 $(BIN)/python -m pytest -q -p no:cacheprovider \
		tests/conformance tests/graphflow/test_graph.py tests/graphflow/test_runtime.py \
		tests/graphflow/test_fusion.py tests/graphflow/test_native.py

fuzz: setup mpvenv
	GRAPHFLOW_REQUIRE_MEDIAPIPE=1 GRAPHFLOW_FUZZ_EXAMPLES=$(FUZZ_EXAMPLES) \
		GRAPHFLOW_FUZZ_SEED=$(FUZZ_SEED) $(BIN)/python -m pytest -q -p no:cacheprovider \
		tests/conformance/test_differential.py

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
