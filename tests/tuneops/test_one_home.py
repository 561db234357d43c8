"""What a metric or SLO means is decided in tuneops/metrics/ only (issue 19, item 3).

Greps the source tree for the two re-derivations that used to be everywhere: taking a
metric name apart ("ttft.p99".split(".")) and deciding whether a bound is a max or a min
(or a direction a maximize or a minimize) from its string. The simulator (engines/) is a
standalone program and is not searched. The patterns are narrow enough to leave the
builtins alone: `max(values)` is fine, `max(v) if slo.max is not None else min(v)` is not.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SEARCHED = ("tuneops", "runner", "renderers", "deployments")
HOME = ROOT / "tuneops" / "metrics"  # the metric/SLO module
SKIPPED = (ROOT / "tuneops" / "engines",)
# Files whose dotted strings are not metric names, with the reason; only the dotted-name
# rule is lifted for them, every other rule still applies.
DOTTED_NOT_METRICS = {
    "deployments/ome/matcher.py": "version strings (OME's pkg/modelver), never metric names",
}

Q = r"""['"]"""
RULES = {
    "splits a dotted name": re.compile(r"\.(r?split|r?partition)\(\s*" + Q + r"\." + Q),
    "compares with a bound or direction string": re.compile(
        r"(==|!=|\bis\b(\s+not)?)\s*" + Q + r"(max|min|maximize|minimize)" + Q
        + "|" + Q + r"(max|min|maximize|minimize)" + Q + r"\s*(==|!=|\bif\b)"),
    "names a direction by its string": re.compile(Q + r"(maximize|minimize)" + Q),
    "chooses a bound from which limit is set": re.compile(r"\.(max|min)\s+is\s+(not\s+)?None"),
    "picks max() or min() by a condition": re.compile(
        r"\b(max|min)\b[^#\n]*\bif\b[^#\n]*\belse\s+(max|min)\b"),
    "tests which bound key is set": re.compile(
        r"(\[|\.get\()\s*" + Q + r"(max|min)" + Q + r"\s*[)\]]\s*is\s+(not\s+)?None"),
    "reads an SLO's bound key": re.compile(
        r"(?i:slo)[^#\n]*(\[|\.get\()\s*" + Q + r"(max|min)" + Q),
}


def _sources() -> list[Path]:
    out = []
    for top in SEARCHED:
        for path in sorted((ROOT / top).rglob("*.py")):
            if HOME in path.parents or any(skip in path.parents for skip in SKIPPED):
                continue
            out.append(path)
    return out


def offences(text: str) -> list[tuple[int, str, str]]:
    """(line number, rule, line) for every re-derivation in one file's code (comments and
    docstring lines that only talk about it are code-free and not matched)."""
    found = []
    for n, line in enumerate(text.splitlines(), 1):
        code = line.split("#", 1)[0]
        for rule, pattern in RULES.items():
            if pattern.search(code):
                found.append((n, rule, line.strip()))
    return found


def test_the_tree_is_searched():
    files = _sources()
    assert len(files) > 50
    assert not any(HOME in f.parents for f in files)
    assert (ROOT / "runner" / "score.py") in files


def test_no_metric_or_slo_meaning_is_rederived_outside_tuneops_metrics():
    bad = [f"{path.relative_to(ROOT)}:{n}: {rule}: {line}"
           for path in _sources() for n, rule, line in offences(path.read_text())
           if not (rule == "splits a dotted name"
                   and str(path.relative_to(ROOT)) in DOTTED_NOT_METRICS)]
    assert not bad, "ask tuneops.metrics (Metric, Slo, Bound, Direction) instead:\n" + \
        "\n".join(bad)


@pytest.mark.parametrize("line", [
    'stat = slo.metric.partition(".")[2]',
    'base = metric.split(".")[0]',
    "stat = slo.metric.rsplit('.', 1)[-1]",
    'base, _, stat = metric.rpartition(".")',
    'excess = value - limit if bound == "max" else limit - value',
    "bound = 'min' if x else 'max'",
    'bound, limit = ("max", slo.max) if slo.max is not None else ("min", slo.min)',
    'return max(vals) if slo.max is not None else min(vals)',
    'pick = max if slo.max is not None else min',
    'sign = [1.0 if d == "maximize" else -1.0 for d in directions]',
    'return METRICS.get(metric, "maximize")',
    "if c.bound is 'min':",
    'label = f"≤ {fmt(s[\'max\'])}" if s.get("max") is not None else ""',
    'if s.get("max") is not None:',
    'limits = [slo["min"] for slo in doc["slos"]]',
])
def test_the_rules_catch_each_old_rederivation(line):
    """Each line is one the module replaced (runner/score.py, levels.py, plots.py,
    markdown.py, tuneops/ci/compare.py): the rules must still see it."""
    assert offences(line), line


@pytest.mark.parametrize("line", [
    "worst = max(lv, key=lambda c: _total(per_level[c]))",
    "return min(counts) if counts else None",
    'hi = max(c for c, ok in held.items() if ok)',
    "idx = min(int(confidence * resamples), resamples - 1)",
    'if bench.repeats_max is not None and bench.repeats_max < bench.repeats:',
    '_FUNCS = {"min": min, "max": max, "abs": abs}',
    'return {"repeats": int(raw_repeats["min"])}',
    'path = "runner/score.py"',
    "version = text.strip()  # split('.') was here once",
])
def test_the_rules_leave_builtins_and_other_meanings_alone(line):
    assert not offences(line), line
