"""Compare two results.json documents: the table the PR bot posts and `tuneops diff` prints.

Pure: documents in, Markdown out. The same trial id in both reports is compared directly
(the configuration did not change, only the measurement); otherwise best against best.
Each value carries its ± when the report recorded one; a change no larger than the two
measurements' combined ± is marked "within noise". A report without ± gets a fixed
relative band (NOISE_REL) and says so.
"""

from __future__ import annotations

import math
from typing import Any

from tuneops.runner.report.markdown import fmt

NOISE_REL = 0.03  # assumed relative noise when a report records no ± for a value


def _num(v: Any) -> float | None:
    return float(v) if isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(
        v) else None


def half_width(container: dict[str, Any] | None, key: str) -> float | None:
    """The ± recorded beside `container[key]`: what results.json writes (the score's
    `objective_low`/`objective_high`, an SLO check's `low`/`high`: the 95 % interval), or
    `<key>_pm` / `<key>_half_width` (a number), `<key>_ci` / `<key>_ci95` ([low, high]),
    `ci: {<key>: ...}`. None when absent (reports from before intervals)."""
    if not isinstance(container, dict):
        return None
    low, high = container.get(f"{key}_low"), container.get(f"{key}_high")
    if key == "value" and low is None and high is None:
        low, high = container.get("low"), container.get("high")
    if _num(low) is not None and _num(high) is not None:
        return abs(float(high) - float(low)) / 2
    for name in (f"{key}_pm", f"{key}_half_width"):
        if _num(container.get(name)) is not None:
            return abs(float(container[name]))
    nested = container.get("ci")
    candidates = [container.get(f"{key}_ci"), container.get(f"{key}_ci95")]
    if isinstance(nested, dict):
        candidates.append(nested.get(key))
    elif key in ("value", "objective"):
        candidates.append(nested)
    for c in candidates:
        if _num(c) is not None:
            return abs(float(c))
        if isinstance(c, (list, tuple)) and len(c) == 2 and all(_num(x) is not None for x in c):
            return abs(float(c[1]) - float(c[0])) / 2
        if isinstance(c, dict) and None not in (_num(c.get("low")), _num(c.get("high"))):
            return abs(float(c["high"]) - float(c["low"])) / 2
    return None


def trials_by_id(doc: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {t["trial_id"]: t for t in doc.get("trials", []) if isinstance(t, dict)
            and isinstance(t.get("trial_id"), str)}


def best_trial(doc: dict[str, Any]) -> dict[str, Any] | None:
    """The trial the report names best; None when it names none (a trial with an empty
    id is never the best by default)."""
    best = doc.get("best_trial_id")
    return trials_by_id(doc).get(best) if isinstance(best, str) and best else None


def _values(trial: dict[str, Any] | None) -> dict[str, tuple[float | None, float | None]]:
    """objective and each SLO metric → (value, ±) of one trial's score."""
    out: dict[str, tuple[float | None, float | None]] = {}
    score = (trial or {}).get("score") or {}
    out["objective"] = (_num(score.get("objective")), half_width(score, "objective"))
    for check in score.get("slo_checks") or []:
        if isinstance(check, dict) and isinstance(check.get("metric"), str):
            out[check["metric"]] = (_num(check.get("value")), half_width(check, "value"))
    return out


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


def params_text(trial: dict[str, Any] | None) -> str:
    if not trial:
        return "—"
    params = trial.get("params") or {}
    return ", ".join(f"`{k}={fmt(v)}`" for k, v in params.items()) or "(engine defaults)"


def comparison(new: dict[str, Any], old: dict[str, Any] | None, *,
               new_label: str = "this PR", old_label: str = "main") -> list[str]:
    """Markdown lines: best configuration, objective and SLOs with ±, and the delta vs `old`."""
    best = best_trial(new)
    obj = new.get("objective") or {}
    lines = []
    if best is None:
        lines += ["**No trial met every SLO.**", ""]
    else:
        lines += [f"**Best configuration:** `{best['trial_id']}` — {params_text(best)}", ""]
    old_trial, how = None, ""
    if old is not None:
        same = trials_by_id(old).get(best["trial_id"]) if best else None
        if same is not None and same.get("score"):
            old_trial = same
            how = f"same trial `{best['trial_id']}` in both: direct delta"
        else:
            old_trial = best_trial(old)
            how = "best vs best" + (f" (main's best: `{old_trial['trial_id']}` — "
                                    f"{params_text(old_trial)})" if old_trial else "")
    new_v, old_v = _values(best), _values(old_trial)
    slo_limits = {s.get("metric"): s for s in new.get("slos") or [] if isinstance(s, dict)}
    header = ["", new_label] + ([old_label, "Δ"] if old is not None else [])
    rows = []
    names = ["objective"] + [m for m in new_v if m != "objective"]
    if best is None:
        names = []
    for name in names:
        if name == "objective":
            label = f"`{obj.get('metric', '?')}` ({obj.get('direction', '?')}, objective)"
        else:
            s = slo_limits.get(name, {})
            bound = f"≤ {fmt(s['max'])}" if s.get("max") is not None else (
                f"≥ {fmt(s['min'])}" if s.get("min") is not None else "")
            label = f"`{name}` {bound} (SLO)"
        row = [label, with_pm(*new_v.get(name, (None, None)))]
        if old is not None:
            ov = old_v.get(name, (None, None))
            row += [with_pm(*ov), delta_text(new_v.get(name, (None, None)), ov)]
        rows.append(row)
    if rows:
        lines += ["| " + " | ".join(header) + " |",
                  "|" + "|".join(["---"] + ["--:"] * (len(header) - 1)) + "|",
                  *["| " + " | ".join(r) + " |" for r in rows], ""]
    if old is None:
        lines += [f"_No report of this experiment on {old_label} to compare with._", ""]
    else:
        run = (old.get("run") or {}).get("id", "?")
        lines += [f"Compared with {old_label}'s latest report `{run}`: {how}.", ""]
        if any("*" in r[-1] for r in rows):
            lines += [f"\\* no ± recorded: ±{NOISE_REL:.0%} assumed.", ""]
    return lines


def diff_text(a: dict[str, Any], b: dict[str, Any], *, a_label: str, b_label: str) -> str:
    """`tuneops diff A B`: B (the newer) against A, as the bot posts it."""
    name = (b.get("experiment") or {}).get("name", "?")
    head = [f"### `{name}`: `{(b.get('run') or {}).get('id', '?')}` vs "
            f"`{(a.get('run') or {}).get('id', '?')}`", ""]
    return "\n".join(head + comparison(b, a, new_label=b_label, old_label=a_label))
