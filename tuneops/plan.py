"""From an experiment to trials: each grid point gets a content-addressed id.

The id hashes exactly what determines a measurement — the engine's flags as it parses them
(canonical names and values, tuneops/identity.py), its image (the digest when pinned) or
tuneops' own engine code, engine version, model, benchmark, and the version of tuneops'
measurement procedure — so a later run (or a run of a renamed experiment, or one that
spells a flag another way) recognises a trial it already finished, and changing the
benchmark, the engine's code or how tuneops measures makes every trial new.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

from tuneops import expr, identity, registry, space
from tuneops.deployments.registry import deployment_mode
from tuneops.spec import GPU_TYPE_PARAM, Experiment, canonical_json

ID_LENGTH = 12


@dataclass(frozen=True)
class Trial:
    id: str
    index: int  # position in the deterministic plan order (grid) or in sampling order
    params: dict[str, Any]  # the tuned values of this trial
    args: dict[str, Any]  # engine.args with params laid over them: every flag the engine gets


@dataclass(frozen=True)
class Plan:
    experiment: Experiment
    trials: tuple[Trial, ...]  # the whole grid (for grid search) after constraints
    grid_size: int  # before constraints

    @property
    def max_trials(self) -> int:
        cap = self.experiment.search.max_trials
        n = len(self.trials) if self.experiment.search.method == "grid" else (cap or 0)
        return min(n, cap) if cap else n

    def max_gpu_hours(self) -> float:
        """Upper bound: every trial starts as slowly as allowed (once, or once per repeat on
        fresh engines) and runs every benchmark point as often as allowed, then the
        confirmation phase re-measures its candidates (one repeat each, on a fresh engine)
        every round."""
        exp = self.experiment
        b = exp.benchmark
        bench_s = (
            len(b.traffic_scenarios) * b.max_levels * b.max_repeats
            * b.max_time_per_run_min * 60
        )
        starts = b.max_repeats if b.fresh_engine_per_repeat else 1
        per_trial_s = exp.deployment.startup_timeout_s * starts + bench_s
        total = self.max_trials * per_trial_s
        candidates = min(exp.search.confirm_top_k, self.max_trials)
        if candidates >= 2:
            total += candidates * exp.search.confirm_rounds * (
                exp.deployment.startup_timeout_s + bench_s / b.max_repeats)
        if exp.search.time_budget_s:
            total = min(total, exp.search.time_budget_s * max(exp.search.parallel_trials, 1))
        return total * max(exp.gpus_per_trial, 1) / 3600.0


def trial_args(exp: Experiment, params: dict[str, Any]) -> dict[str, Any]:
    """Every flag the engine gets: engine.args with the tuned flags over them. The GPU type
    parameter is no flag; a simulated engine is told the GPU it models through its own
    flag (schemas/engines.yaml gpu_type_flag), so the simulator runs the trial's type: the
    parameter's, else the fixed deployment.gpus.type (which the report, the price and the
    search's memory plan and predictions all read), else the engine's own default."""
    args = dict(exp.engine.args)
    args.update({k: v for k, v in params.items() if k != GPU_TYPE_PARAM})
    flag = registry.engines()[exp.engine.name].gpu_type_flag
    kind = exp.gpu_type_for(params)
    if flag and kind is not None:
        args[flag] = kind
    return args


def identity_facts(exp: Experiment) -> dict[str, Any]:
    """What produces a trial's numbers besides its flags, as results.json records it
    (`identity`): the measurement procedure's version, the image digest a pinned image
    names, and the digest of tuneops' own engine code (simulator, llama.cpp launcher)."""
    runs_image = deployment_mode(exp.deployment.mode).runs_image
    return {
        "procedure": identity.MEASUREMENT_PROCEDURE,
        "image_digest": identity.image_digest(exp.engine.image) if runs_image else None,
        "engine_code": identity.engine_code_digest(exp.engine.name),
    }


def trial_id(exp: Experiment, args: dict[str, Any], gpu_type: str | None = None) -> str:
    """`gpu_type`: the trial's own when it is a parameter (default: the fixed one)."""
    b, cpus = exp.benchmark, exp.deployment.cpus
    runs_image = deployment_mode(exp.deployment.mode).runs_image
    facts = identity_facts(exp)
    ident = {
        "procedure": facts["procedure"],
        "engine": exp.engine.name,
        "image": identity.image_identity(exp.engine.image) if runs_image else None,
        "engine_code": facts["engine_code"],
        "version": exp.engine.version,
        "model": exp.model.id,
        # genai-bench makes the prompts and counts the tokens with it
        "tokenizer": exp.model.tokenizer,
        # each flag once, under its canonical name, valued as the engine parses it
        "args": identity.canonical_args(registry.catalog(exp.engine.name), args),
        # literal values only: a secret (by reference) names a credential, not a setting
        "env": {k: exp.engine.env[k] for k in sorted(exp.engine.env)},
        # declared CPU sets (derived ones follow the machine, like everything unhashed here)
        "cpus": None if cpus is None else {
            "engine": list(cpus.engine), "load_generator": list(cpus.load_generator),
            "isolate": cpus.isolate},
        "gpus": exp.gpus_per_trial,
        "gpu_type": gpu_type or exp.deployment.gpus.type,
        "benchmark": {
            "task": b.task,
            "scenarios": list(b.traffic_scenarios),
            "concurrency": list(b.concurrency),
            "max_time": b.max_time_per_run_min,
            "max_requests": b.max_requests_per_run,
            "repeats": b.repeats_identity,
            "dataset": b.dataset,
            "params": b.additional_request_params,
            # another request mix, another trial; absent when unset (older ids unchanged)
            **({"shared_prefix": {"tokens": b.prefix_tokens, "ratio": b.prefix_ratio}}
               if b.prefix_tokens is not None or b.prefix_ratio is not None else {}),
            **({"dataset_format": b.dataset_format, "multi_turn": b.multi_turn}
               if b.dataset_format != "genai-bench" else {}),
            # goodput is counted while measuring: a trial reused from a run without these
            # bounds would carry none
            **({"request_slos": [r.as_dict() for r in exp.request_slos]}
               if exp.request_slos else {}),
            # open-loop load: hashed only when given, so concurrency trials keep their ids
            **({"load": b.load.as_dict} if b.load is not None else {}),
            # a replayed trace is the request mix (by path, as the dataset is)
            **({"trace": b.trace} if b.trace else {}),
        },
    }
    return hashlib.sha256(canonical_json(ident).encode()).hexdigest()[:ID_LENGTH]


def make_trial(exp: Experiment, params: dict[str, Any], index: int) -> Trial:
    args = trial_args(exp, params)
    return Trial(trial_id(exp, args, exp.gpu_type_for(params)), index, dict(params), args)


def constraint_checker(exp: Experiment):
    """A predicate over points: every constraint holds (names: params, engine args, gpus)."""
    compiled = [expr.parse(c) for c in exp.constraints]
    base = {**exp.engine.args, "gpus": exp.gpus_per_trial}

    def accept(point: dict[str, Any]) -> bool:
        env = {**base, **point}
        return all(c.evaluate(env) for c in compiled)

    return accept


def make_plan(exp: Experiment) -> Plan:
    accept = constraint_checker(exp)
    size = space.grid_size(exp.parameters)
    trials: list[Trial] = []
    if size:
        for i, point in enumerate(space.grid(exp.parameters, accept)):
            trials.append(make_trial(exp, point, i))
    return Plan(exp, tuple(trials), size)
