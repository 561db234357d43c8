"""The regression gate's judgement of one change: better, worse, or the same within noise,
in the metric's own direction, and whether two reports may be compared at all.

- A change no larger than the measurements' combined ± (or, without one, the assumed
  relative band compare.NOISE_REL) is ＝: noise decides nothing.
- Beyond the noise, the direction decides: ✅ for a change the right way (more of a
  maximised objective, less of a minimised one; for an SLO metric, away from its bound's
  side), ❌ for the wrong way.
- A regression is a ❌ of the objective whose relative size also exceeds the experiment's
  `ci.regressionThreshold`: that fails the bot's required check unless a maintainer
  labels the pull request `tuneops:accept-regression` (tuneops/ci/commands.py).
- Reports are compared only on the same hardware (GPU type and count, deployment mode,
  CPU model and cores, memory to the GiB, machine): numbers from another host say
  nothing about this change.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

BETTER, WORSE, SAME = "✅", "❌", "＝"
ACCEPT_LABEL = "tuneops:accept-regression"


@dataclass(frozen=True)
class Change:
    mark: str  # BETTER | WORSE | SAME | "" (nothing to compare)
    relative: float | None  # (new - old) / |old|
    regression: bool


def judge(new: tuple[float | None, float | None], old: tuple[float | None, float | None],
          *, higher_is_better: bool, threshold: float | None, noise_rel: float) -> Change:
    """`new`/`old`: (value, ±). `threshold`: the objective's regression threshold (a
    fraction), None for metrics that never gate."""
    (a, pa), (b, pb) = new, old
    if a is None or b is None:
        return Change("", None, False)
    d = a - b
    rel = d / abs(b) if b else None
    if pa is not None and pb is not None:
        noise = math.hypot(pa, pb)
    elif pa is not None or pb is not None:
        noise = pa if pa is not None else pb
    else:
        noise = noise_rel * max(abs(a), abs(b))
    if abs(d) <= noise:
        return Change(SAME, rel, False)
    if (d > 0) == higher_is_better:
        return Change(BETTER, rel, False)
    beyond = threshold is not None and (rel is None or abs(rel) > threshold)
    return Change(WORSE, rel, beyond)


def fingerprint(doc: dict[str, Any]) -> tuple | None:
    """What must match for two reports' numbers to be compared; None when not recorded."""
    hw = doc.get("hardware")
    if not isinstance(hw, dict):
        return None
    host = hw.get("host") if isinstance(hw.get("host"), dict) else {}
    memory = host.get("memory_bytes")
    gib = round(memory / 2**30) if isinstance(memory, (int, float)) else None
    return (hw.get("gpu_type"), hw.get("gpu_count"), hw.get("deployment"),
            host.get("cpu_model"), host.get("cpu_cores"), gib, host.get("machine"))


def describe(fp: tuple | None) -> str:
    if fp is None:
        return "not recorded"
    gpu_type, gpus, mode, cpu, cores, gib, machine = fp
    gpu = f"{gpus}× {gpu_type}" if gpus else "no GPU"
    return f"{gpu}, {mode}, {cpu} ({cores} cores, {gib} GiB, {machine})"


def contention(trial: dict[str, Any] | None) -> str:
    """A line naming a contended measurement of `trial`, or "" when it ran undisturbed."""
    if not isinstance(trial, dict) or not trial.get("contended"):
        return ""
    loads = [x for x in trial.get("host_load") or [] if isinstance(x, dict)]
    worst = max((x.get("loadavg_1m_after") or 0 for x in loads), default=None)
    cpus = next((x.get("cpus") for x in loads if x.get("cpus")), None)
    load = f" (load {worst} on {cpus} CPUs)" if worst is not None and cpus else ""
    return f"contended measurement: other work shared the host{load}"
