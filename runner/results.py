"""Trial outcomes as values (never exceptions), shared by the runner, scorer and reports.

A trial ends in exactly one status:
- completed: the engine served and genai-bench measured it (feasibility is separate)
- failed_config: the settings cannot work (OOM, rejected flag, crash at start) — not retried
- failed_infra: machinery failed after every retry (port, daemon, timeout)
- failed_benchmark: the engine served but the benchmark could not measure it
- cancelled: the run was interrupted before the trial finished (rerun on resume)
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from tuneops.metrics import Bound, StrEnum, TrialVerdict, Verdict


class Status(StrEnum):
    """How a trial ended (a string in results.json and the journal)."""

    COMPLETED = "completed"
    FAILED_CONFIG = "failed_config"
    FAILED_INFRA = "failed_infra"
    FAILED_BENCHMARK = "failed_benchmark"
    CANCELLED = "cancelled"


COMPLETED = Status.COMPLETED
FAILED_CONFIG = Status.FAILED_CONFIG
FAILED_INFRA = Status.FAILED_INFRA
FAILED_BENCHMARK = Status.FAILED_BENCHMARK
CANCELLED = Status.CANCELLED
STATUSES = tuple(Status)

# metrics[scenario][concurrency] -> {metric name (tuneops.metrics): value}
# The value is the mean over repeats (a percentile: that of every repeat's requests pooled).
Metrics = dict[str, dict[int, dict[str, float]]]


def level_text(level: float) -> str:
    """A load level as a JSON key: "8" for a concurrency or a whole rate, "2.5" otherwise."""
    return str(level_key(level))


def level_key(text: str | float) -> int | float:
    """A load level read back from JSON: a concurrency (int), or an offered request rate
    (req/s, benchmark.load) that is not whole (2.5)."""
    value = float(text)
    return int(value) if value.is_integer() else value


# SLO verdicts from an interval (tuneops.metrics.Slo.judge): the whole interval inside the
# limit, past it, or straddling it (or judged from too few requests).
MET, VIOLATED, UNCERTAIN = Verdict.MET, Verdict.VIOLATED, Verdict.UNCERTAIN
FEASIBLE, INFEASIBLE = TrialVerdict.FEASIBLE, TrialVerdict.INFEASIBLE  # or UNCERTAIN


@dataclass
class SloCheck:
    metric: str
    limit: float
    bound: Bound
    value: float | None
    violation: float  # 0 when met; else how far past the limit, relative to it (0.2 = 20 %)
    low: float | None = None  # 95 % interval of the value (None: spread unknown)
    high: float | None = None
    verdict: Verdict = Verdict.UNJUDGED  # from the interval ("" in old journals)
    requests: int | None = None  # requests the value was judged from (percentiles)
    min_requests: int | None = None  # what the percentile needs (p99: 100)

    def __post_init__(self) -> None:  # read back from JSON: strings become the enums
        self.bound = Bound(self.bound)
        self.verdict = Verdict(self.verdict or "")

    @property
    def met(self) -> bool:
        return self.value is not None and self.violation == 0.0


@dataclass
class Score:
    objective: float | None  # the objective metric's value (None when not measurable)
    feasible: bool
    violation: float  # total relative SLO violation at the objective's point (0 when feasible)
    concurrency: int | None  # the level the objective was taken at (None for mean)
    max_feasible_concurrency: int | None  # highest level meeting every SLO
    slo_checks: list[SloCheck] = field(default_factory=list)
    objective_low: float | None = None  # 95 % interval of the objective (None: unknown)
    objective_high: float | None = None
    objective_n: int = 1  # repeats behind the objective's value
    verdict: TrialVerdict = TrialVerdict.UNJUDGED  # from the SLO intervals

    def __post_init__(self) -> None:
        self.verdict = TrialVerdict(self.verdict or "")


@dataclass
class TrialResult:
    trial_id: str
    index: int
    params: dict[str, Any]
    args: dict[str, Any]
    status: Status
    reason: str = ""
    attempts: int = 1
    metrics: Metrics = field(default_factory=dict)
    score: Score | None = None
    gpus: tuple[str, ...] = ()
    started_at: str = ""
    finished_at: str = ""
    startup_s: float = 0.0
    warmup_s: float = 0.0
    benchmark_s: float = 0.0
    total_s: float = 0.0
    log_dir: str = ""
    simulated: bool = False
    reused_from: str = ""  # the report this result was taken from (runner/store.py); "" = measured
    placement: dict[str, str] = field(default_factory=dict)  # node / GPU the platform gave
    # Spread (runner.stats): spread[scenario][concurrency][metric] -> Spread.as_dict()
    spread: dict[str, dict[int, dict[str, dict[str, Any]]]] = field(default_factory=dict)
    # samples[scenario][concurrency] -> one {metric: value} per repeat (measurement order)
    samples: dict[str, dict[int, list[dict[str, float]]]] = field(default_factory=dict)
    # records[scenario][concurrency][request field] -> every request's value, repeats pooled
    # (latencies ms): what percentiles are bootstrapped from. Journal only, not results.json.
    records: dict[str, dict[int, dict[str, list[float]]]] = field(default_factory=dict)
    measurements: int = 0  # genai-bench invocations behind the samples (repeats, confirmation)
    confirmations: int = 0  # confirmation-phase re-measurements (each on a fresh engine)
    # Host load around each measurement (runner.hostload.window), and whether any was contended
    host_load: list[dict[str, Any]] = field(default_factory=list)
    contended: bool = False
    cpus: dict[str, list[int]] = field(default_factory=dict)  # {"engine": [...], "loadgen": [...]}
    command: list[str] = field(default_factory=list)  # the engine argv run (local mode)
    not_run: list[str] = field(default_factory=list)  # "scenario@level: not run: <why>"
    # Engine telemetry, one summary per kept measurement (runner/telemetry/summary.py)
    telemetry: list[dict[str, Any]] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["gpus"] = list(self.gpus)
        for key in ("metrics", "spread", "samples", "records"):
            d[key] = {sc: {level_text(c): m for c, m in by_c.items()}
                      for sc, by_c in getattr(self, key).items()}
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> TrialResult:
        d = dict(d)
        score = d.pop("score", None)
        if score is not None:
            checks = [SloCheck(**c) for c in score.pop("slo_checks", [])]
            score = Score(**score, slo_checks=checks)
        for key in ("metrics", "spread", "samples", "records"):
            d[key] = {sc: {level_key(c): m for c, m in by_c.items()}
                      for sc, by_c in d.get(key, {}).items()}
        d["gpus"] = tuple(d.get("gpus", ()))
        d["reused_from"] = d.get("reused_from") or ""
        if d.get("status") in Status._value2member_map_:
            d["status"] = Status(d["status"])
        return cls(**d, score=score)
