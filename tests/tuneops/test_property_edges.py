"""Whatever validate accepts renders and runs: valid experiments at the edges of every field.

Hypothesis builds simulator experiments whose fields sit at their limits (the longest
name, label keys and values at 63 characters, the largest seed, parallelTrials,
concurrency, durations and counts the schema allows, env values full of `$`, quotes and
non-ASCII text, secrets by reference, finite floats at the double range's ends, deep but
allowed nesting). Every example must validate, plan, and render (Docker spec, docker-run.sh,
local command, and an OME twin checked against the vendored CRDs). A handful of them also
start one trial's engine on the simulator through the runner's own launch builder and
local backend, and must become healthy (the simulator refuses nothing here) or fail as a
trial failure, never with another exception.

Bounded for CI: `max_examples` below, no deadline per example (the machine is shared).
"""

from __future__ import annotations

import json
import sys

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from tuneops.deployments.common.backend import TrialFailure
from tuneops.deployments.local.backend import LocalBackend
from tuneops.renderers.render import render_experiment
from tuneops.runner.run import trial_launch

from tests import e2e_helpers as h
from tuneops.plan import make_plan
from tuneops.validate import validate_file

RENDER_EXAMPLES = 25
START_EXAMPLES = 4
_SETTINGS = dict(
    deadline=None, derandomize=True, database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

LABEL = st.from_regex(r"\A[a-z0-9]([-a-z0-9_.]{0,61}[a-z0-9])?\Z")
TEXT = st.text(
    st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"), max_size=80
)
ENV_NAME = st.from_regex(r"\A[A-Z_][A-Z0-9_]{0,20}\Z")


@st.composite
def edge_experiment(draw) -> dict:
    """Section overrides for e2e_helpers.BASE, each field drawn from its edges."""
    name_len = draw(st.sampled_from([1, 2, 63]))
    name = ("e" + "x" * (name_len - 2) + "1")[:name_len] if name_len > 1 else "e"
    labels = draw(st.dictionaries(LABEL, LABEL, max_size=3))
    env = draw(st.dictionaries(
        ENV_NAME,
        st.one_of(TEXT, st.integers(-(2**63), 2**63 - 1), st.booleans(),
                  st.sampled_from(["$(HOME)", "$$", "'\"`;|&", "a\nb", "ünï 🚀"])),
        max_size=4,
    ))
    env["TUNEOPS_EDGE_SECRET"] = {"fromEnv": "TUNEOPS_EDGE_SECRET_SOURCE"}
    seed = draw(st.sampled_from([0, 1, 2**32 - 1]))
    parallel = draw(st.sampled_from([1, 2, 256]))
    concurrency = draw(st.sampled_from([[1], [100000], [1, 2, 3], [99999, 100000]]))
    startup = draw(st.sampled_from([60, 2592000, "60s", "1m", "720h", "30d", 59.5]))
    budget = draw(st.sampled_from([None, 1e-9, 31536000, "999999999s", "1.5h"]))
    mrr = draw(st.lists(st.integers(1, 2**31 - 1), min_size=1, max_size=3, unique=True))
    extra = draw(st.dictionaries(
        st.from_regex(r"\A[a-z]{1,8}\Z"),
        st.one_of(st.floats(allow_nan=False, allow_infinity=False), st.integers(-2**63, 2**63 - 1),
                  TEXT, st.lists(st.integers(0, 9), max_size=3)),
        max_size=3,
    ))
    deep: dict = {"v": 1}
    for _ in range(draw(st.integers(0, 20))):
        deep = {"n": deep}
    return {
        "metadata": {"name": name, "labels": labels,
                     "description": draw(TEXT)},
        "engine": {"env": env, "args": {"gpu-type": "H100", "time-scale": 0.01}},
        "deployment": {"startupTimeout": startup,
                       "gpus": {"count": draw(st.sampled_from([0, 1, 8])), "type": "H100"}},
        "parameters": {"max-running-requests": mrr},
        "benchmark": {"concurrency": concurrency,
                      "maxRequestsPerRun": draw(st.sampled_from([1, 10000000])),
                      "maxTimePerRun": draw(st.sampled_from([1, 10080])),
                      "warmupRequests": draw(st.sampled_from([0, 100000])),
                      "repeats": draw(st.sampled_from([1, 100])),
                      "additionalRequestParams": {**extra, "deep": deep}},
        "objective": {"metric": "output_throughput", "direction": "maximize"},
        "search": {"method": "grid", "seed": seed, "parallelTrials": parallel,
                   "maxTrials": draw(st.sampled_from([1, 1000000])),
                   "maxFailedTrials": draw(st.sampled_from([0, 1000000])),
                   **({"timeBudget": budget} if budget is not None else {})},
    }


def _valid(tmp_path, sections: dict):
    path = h.write_experiment(tmp_path, sections["metadata"]["name"], **sections)
    exp, diags = validate_file(path)
    assert diags == [], "\n".join(map(str, diags)) + "\n" + path.read_text()
    return exp


def _ome_twin(tmp_path, sections: dict):
    """The same experiment on OME (secrets as Kubernetes Secret references)."""
    sections = json.loads(json.dumps(sections))
    sections["engine"]["env"]["TUNEOPS_EDGE_SECRET"] = {
        "secretKeyRef": {"name": "edge-secret", "key": "token"}
    }
    sections["engine"]["image"] = "tuneops/sim:latest"
    sections["deployment"]["mode"] = "ome"
    sections["deployment"]["ome"] = {
        "namespace": "edge", "baseModel": "llama-3-2-1b", "generateRuntime": True,
        "modelMetadata": {"architecture": "LlamaForCausalLM"},
        "benchmarkStorageUri": "pvc://bench/edge",
        # measured from the runner: OME's BenchmarkJob would drop additionalRequestParams
        "benchmarkIn": "runner",
    }
    # OME's Service `<name>-<12-char trial id>-engine` must fit 63 characters, and its
    # InferenceService name starts with a letter (deployments/ome/webhooks.py)
    sections["metadata"]["name"] = "o" + sections["metadata"]["name"][:41].strip("-") + "o"
    return _valid(tmp_path, sections)


@settings(max_examples=RENDER_EXAMPLES, **_SETTINGS)
@given(sections=edge_experiment())
def test_edge_experiments_validate_plan_and_render(tmp_path_factory, sections):
    tmp_path = tmp_path_factory.mktemp("edge")
    for exp in (_valid(tmp_path, sections), _ome_twin(tmp_path, sections)):
        plan = make_plan(exp)
        assert plan.trials
        summary = render_experiment(exp, tmp_path / "manifests")
        written = "".join(p.read_text() for p in summary.out_dir.rglob("*") if p.is_file())
        assert "TUNEOPS_EDGE_SECRET_SOURCE" in written or exp.deployment.mode == "ome"
        assert "edge-secret-value" not in written


@pytest.mark.slow
@settings(max_examples=START_EXAMPLES, **_SETTINGS)
@given(sections=edge_experiment())
def test_edge_experiments_start_a_trial_on_the_simulator(tmp_path_factory, monkeypatch,
                                                         sections):
    tmp_path = tmp_path_factory.mktemp("start")
    monkeypatch.setenv("TUNEOPS_RUNTIME_DIR", str(tmp_path / "runtime"))
    monkeypatch.setenv("TUNEOPS_EDGE_SECRET_SOURCE", "edge-secret-value")
    exp = _valid(tmp_path, sections)
    trial = make_plan(exp).trials[0]
    launch = trial_launch(exp, trial, owner=f"{exp.name}/edge", gpus=(), log_dir=tmp_path / "logs")
    assert launch.env["TUNEOPS_EDGE_SECRET"] == "edge-secret-value"
    assert "edge-secret-value" not in " ".join(launch.command)
    assert launch.command[0] == sys.executable
    backend = LocalBackend(grace_s=2)
    deployment = backend.start(launch)
    try:
        backend.wait_healthy(deployment, timeout_s=90)
    except TrialFailure as failure:  # a trial failure is a result; anything else is a bug
        pytest.fail(f"the simulator did not start: {failure}")
    finally:
        backend.stop(deployment)
    log = (tmp_path / "logs" / "engine.log").read_text()
    assert "edge-secret-value" not in log
