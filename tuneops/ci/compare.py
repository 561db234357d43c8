"""Compare two results.json documents: the table the PR bot posts and `tuneops diff` prints.

Pure: documents in, Markdown out. The same trial id in both reports is compared directly
(the configuration did not change, only the measurement); otherwise best against best.
Each value carries its ± when the report recorded one (its 95 % interval, as the schema
spells it); a change no larger than the two measurements' combined ± is marked "within
noise". A report without ± gets a fixed relative band (NOISE_REL) and says so. An
open-loop report (benchmark.load) adds its capacity (max_slo_rate ± interval) and the
offered and achieved rate at the objective's point, and names its load; a base measured
under another load is still compared, with the change said. Reports
come in checked (runner/report/load.py), so fields are read as the schema defines them.
"""

from __future__ import annotations

import math
from typing import Any

from tuneops.ci import verdict
from tuneops.ci.escape import code
from tuneops.metrics import ACHIEVED_RATE, MAX_SLO_RATE, OFFERED_RATE, Direction, Slo, metric
from tuneops.runner.report.load import Report, ReportTrial
from tuneops.runner.report.markdown import fmt

NOISE_REL = 0.03  # assumed relative noise when a report records no ± for a value


def _num(v: Any) -> float | None:
    return float(v) if isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(
        v) else None


def half_width(low: Any, high: Any) -> float | None:
    """Half the 95 % interval [low, high] a report recorded beside a value (the score's
    `objective_low`/`objective_high`, an SLO check's `low`/`high`: the only spellings
    schemas/report.schema.json has), or None when it recorded none (a single
    measurement, or a report from before intervals)."""
    if _num(low) is None or _num(high) is None:
        return None
    return abs(float(high) - float(low)) / 2


def _values(trial: ReportTrial | None) -> dict[str, tuple[float | None, float | None]]:
    """objective and each SLO metric → (value, ±) of one trial's score."""
    out: dict[str, tuple[float | None, float | None]] = {}
    score = (trial.score if trial is not None else None) or {}
    out["objective"] = (_num(score.get("objective")),
                        half_width(score.get("objective_low"), score.get("objective_high")))
    for check in score.get("slo_checks", []):
        out[check["metric"]] = (_num(check["value"]),
                                half_width(check.get("low"), check.get("high")))
    return out


# Open-loop reports (benchmark.load, type rate): the capacity found and, at the objective's
# point, the rate asked for and the rate the load generator really sent at.
RATE_ROWS = ((MAX_SLO_RATE, "capacity"), (OFFERED_RATE, "offered, at the objective's point"),
             (ACHIEVED_RATE, "achieved, at the objective's point"))


def load_of(report: Report | None) -> dict[str, Any] | None:
    """The report's open-loop load (benchmark.load), None for closed-loop concurrency. The
    report schema leaves benchmark open, so anything else there is no rate load."""
    load = (report.doc.get("benchmark") or {}).get("load") if report is not None else None
    return load if isinstance(load, dict) and load.get("type") == "rate" else None


def _level(by_level: dict[str, Any], level: Any) -> str | None:
    """The metrics key (a level as results.json spells it) of the score's level."""
    want = _num(level)
    return next((k for k in by_level if want is not None and float(k) == want), None)


def _rate_values(report: Report, trial: ReportTrial | None
                 ) -> dict[str, tuple[float | None, float | None]]:
    """RATE_ROWS' metrics → (value, ±) at the objective's point of `trial` (the capacity
    is the same at every rate, so any does for it); {} for a closed-loop report."""
    if load_of(report) is None or trial is None or not trial.score:
        return {}
    obj = report.doc["objective"]
    metrics = trial.entry.get("metrics") or {}
    sc = obj.get("scenario") if obj.get("scenario") in metrics else next(iter(metrics), None)
    by_level = metrics.get(sc) or {}
    at = _level(by_level, trial.score.get("concurrency"))
    out: dict[str, tuple[float | None, float | None]] = {}
    for name, _ in RATE_ROWS:
        level = at if at is not None or name != MAX_SLO_RATE else next(iter(by_level), None)
        if name == obj["metric"] or level is None:
            continue  # the objective row shows it already
        spread = (((trial.entry.get("spread") or {}).get(sc) or {}).get(level) or {}).get(
            name) or {}
        out[name] = (_num(by_level[level].get(name)),
                     half_width(spread.get("low"), spread.get("high")))
    return out


def load_text(load: dict[str, Any] | None) -> str:
    """A rate load in a few words, every string from the report in a code span."""
    if load is None:
        return "closed-loop concurrency"
    rates = load.get("rates")
    if isinstance(rates, dict):
        what = (f"capacity search {fmt(_num(rates.get('low')))}–"
                f"{fmt(_num(rates.get('high')))} req/s")
    elif isinstance(rates, list):
        what = "rates " + ", ".join(fmt(_num(r)) for r in rates[:12]) + " req/s"
    else:
        what = "rates not recorded"
    burst = _num(load.get("burstiness"))
    arrival = code(load.get("arrival")) + (f" (burstiness {fmt(burst)})" if burst else "")
    return f"open loop, {arrival} arrivals, {what}"


def _same_load(a: dict[str, Any] | None, b: dict[str, Any] | None) -> bool:
    keys = ("type", "arrival", "burstiness", "rates", "requests", "duration_s")
    return (a is None) == (b is None) and (a is None or all(a.get(k) == b.get(k)
                                                            for k in keys))


def _up(direction: Direction) -> bool:
    """Is a higher value better (what the regression gate's judge asks)?"""
    return direction.better(1.0, 0.0)


def with_pm(value: float | None, pm: float | None) -> str:
    if value is None:
        return "—"
    return f"{fmt(value)} ± {fmt(pm)}" if pm is not None else fmt(value)


def delta_text(new: tuple[float | None, float | None],
               old: tuple[float | None, float | None]) -> str:
    (a, pa), (b, pb) = new, old
    if a is None or b is None:
        return "—"
    d = a - b
    rel = f" ({d / abs(b) * 100:+.1f} %)".replace("-", "−") if b else ""
    if pa is not None and pb is not None:
        noise, assumed = math.hypot(pa, pb), False
    elif pa is not None or pb is not None:
        # the one side's ± (0.0 when every repeat agreed is a ±, not a missing one)
        noise, assumed = (pa if pa is not None else pb), False
    else:
        noise, assumed = NOISE_REL * max(abs(a), abs(b)), True
    sign = "+" if d >= 0 else "−"
    text = f"{sign}{fmt(abs(d))}{rel}"
    if abs(d) <= noise:
        text += " _within noise_" + ("*" if assumed else "")
    return text


def params_text(trial: ReportTrial | None) -> str:
    if trial is None:
        return "—"
    return ", ".join(code(f"{k}={fmt(v) if _num(v) is not None else v}")
                     for k, v in trial.params.items()) or "(engine defaults)"


def comparison(new: Report, old: Report | None, *,
               new_label: str = "this PR", old_label: str = "main",
               threshold: float = 0.05) -> list[str]:
    """Markdown lines: best configuration, objective and SLOs with ±, and the delta vs `old`
    with its verdict (tuneops/ci/verdict.py; `threshold`: the regression threshold). Both
    reports are read through the one loader (runner/report/load.py); every string from
    them is shown in a code span it cannot break out of (tuneops/ci/escape.py)."""
    best = new.best
    obj = new.doc["objective"]
    direction = Direction(obj["direction"])
    other_hw = ""
    if old is not None and verdict.fingerprint(new.doc) != verdict.fingerprint(old.doc):
        other_hw = (f"**not comparable: other hardware** ({new_label}: "
                    f"{code(verdict.describe(verdict.fingerprint(new.doc)))}; {old_label}: "
                    f"{code(verdict.describe(verdict.fingerprint(old.doc)))})")
        old = None
    lines = []
    if best is None:
        lines += ["**No trial met every SLO.**", ""]
    else:
        lines += [f"**Best configuration:** {code(best.trial_id)} — {params_text(best)}", ""]
    old_trial, how = None, ""
    if old is not None:
        same = old.by_id.get(best.trial_id) if best else None
        if same is not None and same.score:
            old_trial = same
            how = f"same trial {code(best.trial_id)} in both: direct delta"
        else:
            old_trial = old.best
            how = "best vs best" + (f" (main's best: {code(old_trial.trial_id)} — "
                                    f"{params_text(old_trial)})" if old_trial else "")
    new_v = {**_values(best), **_rate_values(new, best)}
    old_v = {**_values(old_trial), **(_rate_values(old, old_trial) if old is not None else {})}
    rate_names = {name: what for name, what in RATE_ROWS}
    slo_limits: dict[str, list[Slo]] = {}  # metric -> its bounds (results.json: one per entry)
    for entry in new.doc["slos"]:  # validated by the loader: every entry is an SLO
        for slo in Slo.from_entry(entry):
            slo_limits.setdefault(slo.metric, []).append(slo)
    header = ["", new_label] + ([old_label, "Δ"] if old is not None else [])
    rows = []
    names = ["objective"] + [m for m in new_v if m != "objective" and m not in rate_names]
    names += [m for m in rate_names if m in new_v]
    if best is None:
        names = []
    for name in names:
        if name == "objective":
            label = (f"{code(obj['metric'], table=True)} "
                     f"({code(direction.value, table=True)}, objective)")
            up = _up(direction)
        elif name in rate_names:
            label = f"{code(name, table=True)} ({rate_names[name]})"
            up = _up(metric(name).direction)
        else:
            bound = ", ".join(f"{s.bound.symbol} {fmt(s.limit)}" for s in slo_limits.get(name, []))
            label = f"{code(name, table=True)} {bound} (SLO)"
            up = _up(metric(name).direction)  # the SLO metric's own better way
        row = [label, with_pm(*new_v.get(name, (None, None)))]
        if old is not None:
            ov = old_v.get(name, (None, None))
            change = verdict.judge(new_v.get(name, (None, None)), ov, higher_is_better=up,
                                   threshold=threshold if name == "objective" else None,
                                   noise_rel=NOISE_REL)
            mark = change.mark + (" **regression**" if change.regression else "")
            row += [with_pm(*ov), f"{mark} {delta_text(new_v.get(name, (None, None)), ov)}"
                    .strip()]
        rows.append(row)
    if rows:
        lines += ["| " + " | ".join(header) + " |",
                  "|" + "|".join(["---"] + ["--:"] * (len(header) - 1)) + "|",
                  *["| " + " | ".join(r) + " |" for r in rows], ""]
    for who, trial in ((new_label, best), (old_label, old_trial)):
        note = verdict.contention(trial.entry if trial is not None else None)
        if note:
            lines += [f"⚠️ {who}: {note}.", ""]
    if load_of(new) is not None or load_of(old) is not None:
        lines += [f"Load: {load_text(load_of(new))}"
                  + ("" if old is None or _same_load(load_of(new), load_of(old)) else
                     f" · **the load changed** ({old_label}: {load_text(load_of(old))}): the "
                     "reports measure different traffic"), ""]
    if other_hw:
        lines += [other_hw, ""]
    elif old is None:
        lines += [f"_No report of this experiment on {old_label} to compare with._", ""]
    else:
        lines += [f"Compared with {old_label}'s latest report {code(old.run_id)}: {how}.", ""]
        if any("*" in r[-1] for r in rows):
            lines += [f"\\* no ± recorded: ±{NOISE_REL:.0%} assumed.", ""]
    return lines


def regressed(new: Report, old: Report | None, threshold: float) -> bool:
    """Is `new`'s best objective a regression against `old` (same hardware only)?"""
    if old is None or verdict.fingerprint(new.doc) != verdict.fingerprint(old.doc):
        return False
    best = new.best
    if best is None:
        return False
    same = old.by_id.get(best.trial_id)
    old_trial = same if same is not None and same.score else old.best
    up = _up(Direction(new.doc["objective"]["direction"]))
    return verdict.judge(_values(best)["objective"], _values(old_trial)["objective"],
                         higher_is_better=up, threshold=threshold,
                         noise_rel=NOISE_REL).regression


def diff_text(a: Report, b: Report, *, a_label: str, b_label: str) -> str:
    """`tuneops diff A B`: B (the newer) against A, as the bot posts it."""
    head = [f"### {code(b.experiment_name)}: {code(b.run_id)} vs {code(a.run_id)}", ""]
    return "\n".join(head + comparison(b, a, new_label=b_label, old_label=a_label))
