"""The experiment as typed, immutable values, built from a schema-valid document.

Everything downstream (planning, rendering, running) reads these dataclasses, never the
raw YAML, so defaults are applied in exactly one place: here.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from dataclasses import dataclass, field, replace
from typing import Any

from tuneops.metrics import METRICS, Direction, RequestSlo, Slo, StrEnum

API_VERSION = "tuneops/v1"
KIND = "Experiment"


@dataclass(frozen=True)
class Architecture:
    layers: int
    attention_heads: int
    kv_heads: int
    hidden_size: int
    parameters: float
    dtype_bytes: float = 2  # 0.5 for 4-bit weights
    vocab_size: int | None = None

    @property
    def weight_bytes(self) -> float:
        return self.parameters * self.dtype_bytes


@dataclass(frozen=True)
class Model:
    id: str
    served_name: str
    tokenizer: str
    architecture: Architecture | None
    config_file: str | None = None


@dataclass(frozen=True)
class SecretRef:
    """Where an env value comes from instead of the experiment: the runner's own variable
    (`from_env`), or a Kubernetes Secret's key (`secret_name`, `secret_key`)."""

    from_env: str | None = None
    secret_name: str | None = None
    secret_key: str | None = None


@dataclass(frozen=True)
class EngineSpec:
    name: str
    image: str | None
    version: str | None
    args: dict[str, Any]
    env: dict[str, str]  # literal values only
    secret_env: dict[str, SecretRef] = field(default_factory=dict)  # by reference


@dataclass(frozen=True)
class Cpus:
    """deployment.cpus: CPU sets for a CPU engine and its load generator (common/cpus.py)."""

    engine: tuple[int, ...] = ()
    load_generator: tuple[int, ...] = ()
    isolate: bool = True


def parse_cpu_list(raw: Any) -> tuple[int, ...]:
    """[0, 1] or "0-3,6" -> (0, 1) / (0, 1, 2, 3, 6)."""
    if isinstance(raw, (list, tuple)):
        return tuple(sorted({int(c) for c in raw}))
    out: set[int] = set()
    for part in str(raw).replace(" ", "").split(","):
        if not part:
            continue
        lo, _, hi = part.partition("-")
        out.update(range(int(lo), int(hi or lo) + 1))
    return tuple(sorted(out))


@dataclass(frozen=True)
class Gpus:
    count: int
    devices: tuple[str, ...] | None
    type: str | None
    # USD per GPU-hour: one number, or {gpu type: number}; None = schemas/gpus.yaml's
    price_per_hour: float | dict[str, float] | None = None


# The one parameter that is not an engine flag: each trial's GPU type (one experiment
# compares H100 / H200 / L40S). Never passed to the engine as a flag (plan.trial_args); the
# trial's experiment (`Experiment.for_trial`) carries it as deployment.gpus.type.
GPU_TYPE_PARAM = "deployment.gpus.type"

# deployment's own fields; every other key is a mode's block (deployment.<mode>)
COMMON_DEPLOYMENT_KEYS = ("mode", "gpus", "startupTimeout", "cpus")


@dataclass(frozen=True)
class Deployment:
    mode: str
    gpus: Gpus
    startup_timeout_s: float
    options: dict[str, Any] = field(default_factory=dict)  # deployment.<mode>, as written
    # every mode's block (deployment.docker, deployment.ome, ...), as written: each mode
    # parses its own (deployments/<mode>/options.py); the spec knows none of them
    blocks: dict[str, Any] = field(default_factory=dict)
    cpus: Cpus | None = None


@dataclass(frozen=True)
class Param:
    """One tuned flag. `kind` is values | int | float | bool."""

    name: str
    kind: str
    values: tuple[Any, ...] | None = None
    low: float | None = None
    high: float | None = None
    step: float | None = None
    log: bool = False


@dataclass(frozen=True)
class Benchmark:
    task: str
    traffic_scenarios: tuple[str, ...]
    concurrency: tuple[int, ...]
    max_time_per_run_min: int
    max_requests_per_run: int
    warmup_requests: int = 2
    repeats: int = 1  # measurements of every point (adaptive: the least)
    dataset: str | None = None
    additional_request_params: dict[str, Any] = field(default_factory=dict)
    repeats_max: int | None = None  # adaptive repeats: the most (None: fixed `repeats`)
    target_relative_ci: float | None = None  # adaptive: stop at this half-width / value
    remeasure_contended: int = 0  # contended measurements retaken per trial, at most
    fresh_engine_per_repeat: bool = False  # each repeat on its own engine (runner.trial)
    # benchmark.sharedPrefix: genai-bench's --prefix-len (tokens) or --prefix-ratio (ratio)
    prefix_tokens: int | None = None
    prefix_ratio: float | None = None
    dataset_format: str = "genai-bench"  # or sharegpt (tuneops/workloads/sharegpt.py)
    multi_turn: bool = False  # sharegpt: every human turn, with its history
    trace: str | None = None  # a request trace (tuneops/workloads/trace.py)

    @property
    def max_repeats(self) -> int:
        return max(self.repeats_max or self.repeats, self.repeats)

    @property
    def repeats_identity(self) -> Any:
        """What trial ids hash: the plain count, or the adaptive form; with fresh engines
        per repeat, that wrapped (the interval then holds another variance)."""
        count: Any = self.repeats if self.repeats_max is None else {
            "min": self.repeats, "max": self.repeats_max,
            "targetRelativeCI": self.target_relative_ci}
        return {"repeats": count, "on": "freshEngine"} if self.fresh_engine_per_repeat \
            else count
    early_stop: bool = True
    keep_genai_bench_artifacts: bool = False
    # {search: bisect, low, high}: `concurrency` is then (low, high), the bracket searched
    concurrency_search: str | None = None
    load: Load | None = None  # open-loop request rates (then `concurrency` is empty)

    @property
    def max_levels(self) -> int:
        """Most concurrency levels (or rates) one scenario of a trial can measure."""
        if self.load is not None:
            return self.load.max_points
        if self.concurrency_search == "bisect":
            low, high = self.concurrency
            return 2 + math.ceil(math.log2(max(high - low, 1)))
        return len(self.concurrency)


class Arrival(StrEnum):
    """How an open-loop load spaces its requests (benchmark.load.arrival)."""

    CONSTANT = "constant"  # a fixed gap of 1/rate
    POISSON = "poisson"  # exponential gaps, mean 1/rate
    GAMMA = "gamma"  # gamma gaps of shape `burstiness`, mean 1/rate (< 1: burstier)


@dataclass(frozen=True)
class Load:
    """benchmark.load: open-loop arrivals at offered request rates (type rate), or a trace
    replayed at its own timestamps (type trace).

    `rates` are the listed rates (req/s); under `search: capacity` they are (low, high),
    the bracket searched. Each point runs for `duration_s` seconds or `requests` requests."""

    rates: tuple[float, ...]
    # "rate", or "trace": benchmark.trace replayed at its own timestamps (no rates here: the
    # point's offered rate is the trace's mean, tuneops/workloads/trace.py mean_rate)
    type: str = "rate"
    arrival: Arrival = Arrival.POISSON
    burstiness: float | None = None  # gamma only
    duration_s: float | None = None
    requests: int | None = None
    search: str | None = None  # "capacity"

    @property
    def max_points(self) -> int:
        """Most rates one scenario of a trial can measure: a capacity search bisects the
        ratio high/low down to 5 %, each rate up to 3 runs (runner/loadgen/capacity.py)."""
        if self.type == "trace":
            return 1
        if self.search == "capacity":
            low, high = self.rates
            steps = math.ceil(math.log2(max(math.log(high / low) / math.log1p(0.05), 1.0)))
            return 3 * (2 + steps)
        return len(self.rates)

    @property
    def as_dict(self) -> dict[str, Any]:
        """What trial ids hash and results.json records of the load."""
        if self.type == "trace":
            return {"type": "trace"}
        rates: Any = ({"search": self.search, "low": self.rates[0], "high": self.rates[1]}
                      if self.search else list(self.rates))
        return {"type": "rate", "rates": rates, "arrival": str(self.arrival),
                "burstiness": self.burstiness, "duration_s": self.duration_s,
                "requests": self.requests}

    @property
    def burstiness_or_one(self) -> float | None:
        """The gamma shape the arrival process draws with: None for constant gaps."""
        if self.arrival is Arrival.CONSTANT:
            return None
        return self.burstiness if self.arrival is Arrival.GAMMA else 1.0


class LevelChoice(StrEnum):
    """How `objective.concurrency` picks the objective's point when it names no level."""

    BEST_FEASIBLE = "best_feasible"  # the best value among levels holding every SLO
    MEAN = "mean"  # the mean over levels
    HIGHEST = "max"  # the highest level measured


@dataclass(frozen=True)
class Objective:
    metric: str
    direction: Direction  # a string is taken as one; empty: the metric's own direction
    concurrency: int | str  # a level, or a LevelChoice
    scenario: str | None = None
    # how trials within the best's noise are ordered: "cost" (cheaper first) or "none"
    # (objective order); runner/rankings.py. from_document resolves the default.
    tie_break: str = "none"

    def __post_init__(self) -> None:
        object.__setattr__(self, "direction", Direction(self.direction or
                                                        _default_direction(self.metric)))


@dataclass(frozen=True)
class Search:
    method: str
    max_trials: int | None
    max_failed_trials: int | None
    parallel_trials: int
    time_budget_s: float | None
    seed: int
    confirm_top_k: int = 3  # confirmation phase: candidates re-measured (0: no phase)
    confirm_rounds: int = 2  # re-measurements of each at most
    # search.sampler (bayesian): the Optuna sampler, runner/search/samplers.py
    sampler: str | None = None  # None: tpe
    # search.pruning (bayesian): stop a trial whose objective is out of reach of the best
    # by more than this fraction (runner/search/prune.py); None: no pruning
    pruning_margin: float | None = None
    pruning_startup_trials: int = 5


@dataclass(frozen=True)
class Experiment:
    name: str
    description: str
    labels: dict[str, str]
    model: Model
    engine: EngineSpec
    deployment: Deployment
    parameters: tuple[Param, ...]
    constraints: tuple[str, ...]
    benchmark: Benchmark
    objective: Objective
    slos: tuple[Slo, ...]
    search: Search
    source_file: str = ""
    source_sha256: str = ""
    # ci.regressionThreshold, as a fraction: how much worse the PR bot tolerates (docs/ci.md)
    regression_threshold: float = 0.05
    # slos[] with perRequest: true: what makes one request good (tuneops/metrics/goodput.py);
    # they define goodput and are not judged as a run's SLOs
    request_slos: tuple[RequestSlo, ...] = ()

    @property
    def gpus_per_trial(self) -> int:
        g = self.deployment.gpus
        return len(g.devices) if g.devices else g.count

    @property
    def gpu_type_param(self) -> Param | None:
        """The `deployment.gpus.type` parameter, when trials compare GPU types."""
        return next((p for p in self.parameters if p.name == GPU_TYPE_PARAM), None)

    def gpu_type_for(self, params: dict[str, Any]) -> str | None:
        """A trial's GPU type: its own when the type is a parameter, else the fixed one."""
        own = params.get(GPU_TYPE_PARAM)
        return str(own) if own is not None else self.deployment.gpus.type

    def for_trial(self, params: dict[str, Any]) -> Experiment:
        """The experiment as one trial sees it: deployment.gpus.type is the trial's own, so
        every consumer of the type (price, genai-bench's --server-gpu-type, OME's node
        affinity) follows the trial without knowing the type can vary."""
        kind = self.gpu_type_for(params)
        if kind == self.deployment.gpus.type:
            return self
        gpus = replace(self.deployment.gpus, type=kind)
        return replace(self, deployment=replace(self.deployment, gpus=gpus))


_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhd]?)\s*$")
_UNIT_S = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_duration(value: str | int | float | None) -> float | None:
    """'90m' -> 5400.0; plain numbers are seconds. Schema-valid input never fails here."""
    if value is None:
        return None
    if isinstance(value, (int, float)):
        return float(value)
    m = _DURATION.match(value)
    if not m:
        raise ValueError(f"not a duration: {value!r}")
    return float(m.group(1)) * _UNIT_S[m.group(2)]


def parse_param(name: str, raw: Any) -> Param:
    if isinstance(raw, list):
        return Param(name, "values", values=tuple(raw))
    kind = raw.get("type")
    if "values" in raw:
        return Param(name, "values", values=tuple(raw["values"]))
    if kind == "bool":
        return Param(name, "bool", values=(False, True))
    return Param(
        name,
        kind,
        low=raw["low"],
        high=raw["high"],
        step=raw.get("step"),
        log=bool(raw.get("log", False)),
    )


def _architecture(raw: dict | None) -> Architecture | None:
    if not raw:
        return None
    return Architecture(
        layers=int(raw["layers"]),
        attention_heads=int(raw["attentionHeads"]),
        kv_heads=int(raw.get("kvHeads", raw["attentionHeads"])),
        hidden_size=int(raw["hiddenSize"]),
        parameters=float(raw["parameters"]),
        dtype_bytes=float(raw.get("dtypeBytes", 2)),
        vocab_size=raw.get("vocabSize"),
    )


HF_CONFIG_REQUIRED = ("num_hidden_layers", "hidden_size", "num_attention_heads")
HF_CONFIG_OPTIONAL = ("num_key_value_heads", "intermediate_size", "vocab_size", "head_dim")


def architecture_from_hf_config(config: dict) -> dict:
    """Map a Hugging Face config.json onto our architecture fields (parameters estimated).

    The caller checks first that the fields used (HF_CONFIG_REQUIRED, HF_CONFIG_OPTIONAL)
    are positive integers of bounded size: `intermediate_size: "aaaa"` would otherwise
    multiply a string."""
    layers = config["num_hidden_layers"]
    hidden = config["hidden_size"]
    heads = config["num_attention_heads"]
    kv = config.get("num_key_value_heads", heads)
    inter = config.get("intermediate_size", 4 * hidden)
    vocab = config.get("vocab_size", 32000)
    head_dim = config.get("head_dim", hidden // heads)
    attn = hidden * head_dim * (heads + 2 * kv) + heads * head_dim * hidden
    mlp = 3 * hidden * inter
    params = layers * (attn + mlp) + 2 * vocab * hidden
    return {
        "layers": layers,
        "attentionHeads": heads,
        "kvHeads": kv,
        "hiddenSize": hidden,
        "parameters": float(params),
        "vocabSize": vocab,
    }


DEFAULT_TARGET_RELATIVE_CI = 0.05


def _repeats(raw: Any) -> dict[str, Any]:
    if isinstance(raw, dict):
        return {"repeats": int(raw["min"]), "repeats_max": int(raw["max"]),
                "target_relative_ci": float(raw.get("targetRelativeCI",
                                                    DEFAULT_TARGET_RELATIVE_CI))}
    return {"repeats": int(raw)}


def _load(raw: dict | None) -> Load | None:
    """benchmark.load (schema-valid) as a Load; None when absent."""
    if not raw:
        return None
    if raw["type"] == "trace":
        # a trace's gaps are its own, fixed: no sampling randomness in the rate it offers
        # (runner/loadgen/aiperf.py judges the shortfall as for constant gaps)
        return Load(rates=(), type="trace", arrival=Arrival.CONSTANT)
    rates, arrival = raw.get("rates", ()), raw.get("arrival", "poisson")
    gamma = arrival.get("gamma") if isinstance(arrival, dict) else None
    return Load(
        rates=(float(rates["low"]), float(rates["high"])) if isinstance(rates, dict)
        else tuple(float(r) for r in rates),
        arrival=Arrival(Arrival.GAMMA if gamma is not None else arrival),
        burstiness=float(gamma["burstiness"]) if gamma is not None else None,
        duration_s=parse_duration(raw["duration"]) if "duration" in raw else None,
        requests=int(raw["requests"]) if "requests" in raw else None,
        search=rates.get("search") if isinstance(rates, dict) else None,
    )


def load_document(record: dict[str, Any]) -> dict[str, Any]:
    """benchmark.load as the experiment wrote it, from the record Load.as_dict put in
    results.json: what `tuneops report` needs to rebuild a rate report as a rate report
    (the inverse of _load over as_dict; a report that lost it would read its offered
    rates as concurrency levels)."""
    if record["type"] == "trace":
        return {"type": "trace"}
    rates = record["rates"]
    arrival = record["arrival"]
    doc: dict[str, Any] = {
        "type": "rate",
        "rates": dict(rates) if isinstance(rates, dict) else list(rates),
        "arrival": {"gamma": {"burstiness": record["burstiness"]}}
        if arrival == Arrival.GAMMA.value else arrival,
    }
    if record.get("duration_s") is not None:
        doc["duration"] = record["duration_s"]
    if record.get("requests") is not None:
        doc["requests"] = record["requests"]
    return doc


def _cpus(raw: dict | None) -> Cpus | None:
    if raw is None:
        return None
    return Cpus(engine=parse_cpu_list(raw.get("engine", [])),
                load_generator=parse_cpu_list(raw.get("loadGenerator", [])),
                isolate=bool(raw.get("isolate", True)))


def _confirm(raw: Any) -> dict[str, int]:
    if raw is False:
        return {"confirm_top_k": 0, "confirm_rounds": 0}
    raw = raw if isinstance(raw, dict) else {}
    return {"confirm_top_k": int(raw.get("topK", 3)), "confirm_rounds": int(raw.get("rounds", 2))}


def from_document(doc: dict, source_file: str = "", text: str = "") -> Experiment:
    """Build the typed experiment from a plain, schema-valid document."""
    md = doc["metadata"]
    model = doc["model"]
    eng = doc["engine"]
    dep = doc["deployment"]
    gpus = dep.get("gpus", {})
    bench = doc["benchmark"]
    obj = doc["objective"]
    search = doc.get("search", {})
    devices = gpus.get("devices")
    return Experiment(
        name=md["name"],
        description=md.get("description", ""),
        labels=dict(md.get("labels", {})),
        model=Model(
            id=model["id"],
            served_name=model.get("servedName") or model["id"].rstrip("/").split("/")[-1],
            tokenizer=model.get("tokenizer") or model["id"],
            architecture=_architecture(model.get("architecture")),
            config_file=model.get("configFile"),
        ),
        engine=EngineSpec(
            name=eng["name"],
            image=eng.get("image"),
            version=str(eng["version"]) if eng.get("version") is not None else None,
            args=dict(eng.get("args", {})),
            env={
                k: str(v)
                for k, v in eng.get("env", {}).items()
                if not isinstance(v, dict)
            },
            secret_env={
                k: _secret_ref(v) for k, v in eng.get("env", {}).items() if isinstance(v, dict)
            },
        ),
        deployment=Deployment(
            mode=dep["mode"],
            gpus=Gpus(
                count=len(devices) if devices else int(gpus.get("count", 0)),
                devices=tuple(str(d) for d in devices) if devices else None,
                type=gpus.get("type"),
                price_per_hour=(dict(gpus["pricePerHour"])
                                if isinstance(gpus.get("pricePerHour"), dict)
                                else gpus.get("pricePerHour")),
            ),
            startup_timeout_s=float(parse_duration(dep.get("startupTimeout", 600))),
            options=dict(dep.get(dep["mode"]) or {}),
            blocks={k: dict(v) for k, v in dep.items()
                    if k not in COMMON_DEPLOYMENT_KEYS and isinstance(v, dict)},
            cpus=_cpus(dep.get("cpus")),
        ),
        parameters=tuple(parse_param(k, v) for k, v in doc.get("parameters", {}).items()),
        constraints=tuple(doc.get("constraints", [])),
        benchmark=Benchmark(
            task=bench.get("task", "text-to-text"),
            traffic_scenarios=tuple(bench["trafficScenarios"]),
            concurrency=_levels(bench.get("concurrency", [])),
            max_time_per_run_min=int(bench.get("maxTimePerRun", 1)),
            max_requests_per_run=int(bench.get("maxRequestsPerRun", 100)),
            warmup_requests=int(bench.get("warmupRequests", 2)),
            **_repeats(bench.get("repeats", 1)),
            remeasure_contended=int(bench.get("remeasureContended", 0)),
            fresh_engine_per_repeat=bool(bench.get("freshEnginePerRepeat", False)),
            dataset=bench.get("dataset"),
            prefix_tokens=(bench.get("sharedPrefix") or {}).get("tokens"),
            prefix_ratio=(bench.get("sharedPrefix") or {}).get("ratio"),
            dataset_format=bench.get("datasetFormat", "genai-bench"),
            multi_turn=bool(bench.get("multiTurn", False)),
            trace=bench.get("trace"),
            additional_request_params=dict(bench.get("additionalRequestParams", {})),
            early_stop=bool(bench.get("earlyStop", True)),
            keep_genai_bench_artifacts=bool(bench.get("keepGenaiBenchArtifacts", False)),
            concurrency_search=(bench["concurrency"].get("search")
                                if isinstance(bench.get("concurrency"), dict) else None),
            load=_load(bench.get("load")),
        ),
        objective=Objective(
            metric=obj["metric"],
            direction=obj.get("direction") or _default_direction(obj["metric"]),
            concurrency=obj.get("concurrency", LevelChoice.BEST_FEASIBLE),
            scenario=obj.get("scenario"),
            tie_break=obj.get("tieBreak") or _default_tie_break(gpus, doc.get("parameters")),
        ),
        # an entry bounding a metric on both sides is two SLOs, each judged on its own
        slos=tuple(slo for s in doc.get("slos", []) if not s.get("perRequest")
                   for slo in Slo.from_entry(s)),
        request_slos=tuple(RequestSlo.from_entry(s) for s in doc.get("slos", [])
                           if s.get("perRequest")),
        search=Search(
            method=search.get("method", "grid"),
            max_trials=search.get("maxTrials"),
            max_failed_trials=search.get("maxFailedTrials"),
            parallel_trials=int(search.get("parallelTrials", 1)),
            time_budget_s=parse_duration(search.get("timeBudget")),
            seed=int(search.get("seed", 0)),
            **_confirm(search.get("confirm", True)),
            sampler=search.get("sampler"),
            pruning_margin=(float(search["pruning"].get("margin", 5)) / 100
                            if "pruning" in search else None),
            pruning_startup_trials=int(search.get("pruning", {}).get("startupTrials", 5)),
        ),
        source_file=source_file,
        source_sha256=hashlib.sha256(text.encode()).hexdigest() if text else "",
        regression_threshold=float(
            str((doc.get("ci") or {}).get("regressionThreshold", "5%")).rstrip("%")) / 100,
    )


def _default_tie_break(gpus: dict, parameters: dict | None) -> str:
    """Cost breaks ties when the experiment is about cost: it compares GPU types or names its
    own price. A price from schemas/gpus.yaml alone does not reorder a one-GPU-type flag
    search (within one type, cost only mirrors throughput)."""
    compares = GPU_TYPE_PARAM in (parameters or {})
    return "cost" if compares or gpus.get("pricePerHour") is not None else "none"


def _secret_ref(raw: dict) -> SecretRef:
    if "fromEnv" in raw:
        return SecretRef(from_env=raw["fromEnv"])
    ref = raw["secretKeyRef"]
    return SecretRef(secret_name=ref["name"], secret_key=ref["key"])


def _levels(value: list | dict) -> tuple[int, ...]:
    """Listed levels as given; a search's bracket as (low, high)."""
    if isinstance(value, dict):
        return (int(value["low"]), int(value["high"]))
    return tuple(int(c) for c in value)


def _default_direction(metric: str) -> Direction:
    return METRICS[metric].direction if metric in METRICS else Direction.MAXIMIZE


def canonical_json(value: Any) -> str:
    """The one canonical serialisation used for hashing (trial ids, file hashes)."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), default=str)
