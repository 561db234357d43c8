# tuneops — every target creates the virtual environment it needs first.
#   make run            tune a real llama.cpp server on this CPU (EXP=... for another experiment)
#   make test           run the whole test suite (starts a Docker engine if none answers)

PYTHON ?= $(shell for p in python3.12 python3.11 python3.10 python3; do \
            command -v $$p >/dev/null 2>&1 && $$p -c 'import sys; sys.exit(not ((3,10) <= sys.version_info[:2] < (3,13)))' 2>/dev/null && { echo $$p; break; }; done)
VENV    := .venv
BIN     := $(VENV)/bin
STAMP   := $(VENV)/.installed
EXP     ?= experiments/examples/quickstart.yaml
MODEL   := .cache/models/tuneops-llama-small-q8_0-s0.gguf
PYTEST_ARGS ?=

export HF_HUB_OFFLINE = 1
export TRANSFORMERS_OFFLINE = 1
export ENABLE_UI = false
export PATH := $(CURDIR)/$(BIN):$(PATH)

.PHONY: docs setup validate plan render check-rendered catalogs crds test lint run bench image system-deps docker-engine model clean

setup: $(STAMP) $(MODEL)

$(STAMP): pyproject.toml
	@test -n "$(PYTHON)" || { echo "need Python >=3.10,<3.13 (genai-bench's range)"; exit 1; }
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[bench,llamacpp,dev]'
	touch $(STAMP)

validate: setup
	$(BIN)/tuneops validate

plan: setup
	$(BIN)/tuneops plan $(EXP)

render: setup
	$(BIN)/tuneops render

check-rendered: setup
	$(BIN)/tuneops render --check

catalogs: setup
	$(BIN)/python scripts/make_catalogs.py --engine all

# The quickstart's model: a Llama GGUF generated from a seed (no model hub needed).
$(MODEL): $(STAMP) scripts/make_model.py
	$(BIN)/python scripts/make_model.py $(MODEL) --preset small

model: $(MODEL)

# OME's CRDs are vendored in schemas/crds/ome; refresh them from an OME checkout.
crds: setup
	@test -n "$(OME)" || { echo "usage: make crds OME=/path/to/ome-checkout"; exit 2; }
	$(BIN)/python scripts/vendor_ome_crds.py $(OME)

system-deps:
	@bash scripts/system_deps.sh

docker-engine: system-deps
	@bash scripts/start_dockerd.sh

image: setup docker-engine
	$(BIN)/python scripts/build_image.py

test: setup docker-engine
	$(BIN)/python -m pytest $(PYTEST_ARGS)

lint: setup
	$(BIN)/ruff check .
	@# import layers are checked on the tree as installed (tuneops.runner, tuneops.renderers, ...)
	rm -rf .cache/lint-tree
	$(BIN)/python -m pip install -q --no-deps --no-compile --target .cache/lint-tree . 2>/dev/null
	cd .cache/lint-tree && ../../$(BIN)/lint-imports ../../.importlinter
	$(BIN)/python scripts/make_experiment_doc.py --check
	$(BIN)/python scripts/make_catalogs.py --engine all --check

docs: setup
	$(BIN)/python scripts/make_experiment_doc.py

run: setup
	$(BIN)/tuneops run $(EXP)

bench: setup
	$(BIN)/python scripts/bench_validate.py
	$(BIN)/python scripts/bench_render.py
	$(BIN)/python scripts/bench_sim.py
	$(BIN)/python scripts/bench_runner.py
	$(BIN)/python scripts/bench_trial_cost.py

clean:
	rm -rf runs .pytest_cache .ruff_cache
