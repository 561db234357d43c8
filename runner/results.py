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

COMPLETED = "completed"
FAILED_CONFIG = "failed_config"
FAILED_INFRA = "failed_infra"
FAILED_BENCHMARK = "failed_benchmark"
CANCELLED = "cancelled"
STATUSES = (COMPLETED, FAILED_CONFIG, FAILED_INFRA, FAILED_BENCHMARK, CANCELLED)

# metrics[scenario][concurrency] -> {metric name (tuneops.metrics): value}
Metrics = dict[str, dict[int, dict[str, float]]]


@dataclass
class SloCheck:
    metric: str
    limit: float
    bound: str  # "max" | "min"
    value: float | None
    violation: float  # 0 when met; else how far past the limit, relative to it (0.2 = 20 %)

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


@dataclass
class TrialResult:
    trial_id: str
    index: int
    params: dict[str, Any]
    args: dict[str, Any]
    status: str
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
    not_run: list[str] = field(default_factory=list)  # "scenario@level: not run: <why>"

    def as_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["gpus"] = list(self.gpus)
        d["metrics"] = {
            sc: {str(c): m for c, m in by_c.items()} for sc, by_c in self.metrics.items()
        }
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> TrialResult:
        d = dict(d)
        score = d.pop("score", None)
        if score is not None:
            checks = [SloCheck(**c) for c in score.pop("slo_checks", [])]
            score = Score(**score, slo_checks=checks)
        d["metrics"] = {
            sc: {int(c): m for c, m in by_c.items()} for sc, by_c in d.get("metrics", {}).items()
        }
        d["gpus"] = tuple(d.get("gpus", ()))
        return cls(**d, score=score)
