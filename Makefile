# Every target that needs the environment depends on the stamp, so `make train` and `make test` each work alone
# on a fresh clone: the venv is created and the project installed (and its C module built) the first time, and
# again when pyproject.toml, setup.py or the C source changes. The old C module is removed first: the build is
# optional (no compiler: numpy runs the loops), so a failed build must not leave a stale module in its place.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
CONFIG ?= configs/dqn_cartpole.yaml
# Interpreters with stable-baselines3 and with sbx-rl for the speed comparison (see benchmarks/speed.py); optional.
SB3_PYTHON ?=
SBX_PYTHON ?=

.PHONY: install train test bench lint clean

install: $(STAMP)

$(STAMP): pyproject.toml setup.py neurenix/_accel/_fused.c
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	rm -f neurenix/_accel/_fused.*.so
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

train: $(STAMP)
	$(BIN)/neurenix train $(CONFIG)

test: $(STAMP)
	$(BIN)/python -m pytest -q

bench: $(STAMP)
	$(BIN)/python benchmarks/engine.py $(if $(SB3_PYTHON),--torch-python $(SB3_PYTHON))
	$(BIN)/python benchmarks/speed.py $(if $(SB3_PYTHON),--sb3-python $(SB3_PYTHON)) $(if $(SBX_PYTHON),--sbx-python $(SBX_PYTHON))
	$(BIN)/python benchmarks/learning.py
	$(BIN)/python benchmarks/vectorization.py
	$(BIN)/python benchmarks/memory.py
	$(BIN)/python benchmarks/memory.py --optimize-memory-usage
	$(BIN)/python benchmarks/memory.py --frame-stack
	$(BIN)/python benchmarks/scaling.py $(if $(SB3_PYTHON),--sb3-python $(SB3_PYTHON)) $(if $(SBX_PYTHON),--sbx-python $(SBX_PYTHON))

lint: $(STAMP)
	$(BIN)/ruff check neurenix neurenix_cli tests benchmarks
	$(BIN)/ruff format --check neurenix neurenix_cli tests benchmarks

clean:
	rm -rf $(VENV) build *.egg-info neurenix/_accel/_fused.*.so
