"""Every equivalent mutant excluded from `make mutation` names exactly the mutants it means.

An entry is (module, operator, occurrence, line, reason). Code moves: a line added above
shifts every occurrence number, and an entry that no longer matches silently stops
excluding its mutant, or, worse, excludes another one (a `full[:8]` entry without an
occurrence excluded 8 -> 9 with 8 -> 7, and only the latter is equivalent). So each
entry must carry its occurrence(s), each must be a mutant of that operator on exactly that
line, and each reason is a one-line proof.
"""

from __future__ import annotations

import importlib.util
import sys
from functools import cache

import pytest
import tomllib

from tests.paths import ROOT

REPO = ROOT
ENTRIES = tomllib.loads((REPO / "tests" / "mutation_equivalents.toml").read_text())["equivalent"]


def _ops():
    spec = importlib.util.spec_from_file_location("mutation_ops", REPO / "scripts/mutation_ops.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


@cache
def _mutants(module: str) -> list[tuple[str, int, int]]:
    """(operator, occurrence, line number) of every mutant of `module`, both tools."""
    from cosmic_ray.commands.init import _all_work_items  # how `cosmic-ray init` numbers them

    out = [(w.mutations[0].operator_name, w.mutations[0].occurrence,
            w.mutations[0].start_pos[0]) for w in _all_work_items([REPO / module], {})]
    out += [(m.operator, m.occurrence, m.line)
            for m in _ops().mutants((REPO / module).read_text())]
    return out


def _id(eq: dict) -> str:
    return f"{eq['module']}:{eq['operator'].split('/')[-1]}:{eq.get('occurrence')}"


@pytest.mark.parametrize("eq", ENTRIES, ids=[_id(e) for e in ENTRIES])
def test_each_equivalent_names_existing_mutants_on_its_line(eq):
    assert set(eq) == {"module", "operator", "occurrence", "line", "reason"}, eq
    reason = eq["reason"].strip()
    assert reason and "\n" not in reason
    lines = (REPO / eq["module"]).read_text().splitlines()
    on_line = [(op, occ) for op, occ, row in _mutants(eq["module"])
               if lines[row - 1].strip() == eq["line"].strip()]
    assert on_line, f"no mutant on a line `{eq['line']}` in {eq['module']} any more"
    if eq["operator"] == "*":  # the one proof covers every mutant of the line
        assert eq["occurrence"] == "every"
        return
    wanted = eq["occurrence"] if isinstance(eq["occurrence"], list) else [eq["occurrence"]]
    assert wanted and all(isinstance(o, int) for o in wanted)
    for occ in wanted:
        assert (eq["operator"], occ) in on_line, (
            f"{eq['operator']} #{occ} is not on `{eq['line']}` (there: "
            f"{sorted(o for op, o in on_line if op == eq['operator'])})")


def test_no_two_entries_exclude_the_same_mutant():
    seen: set[tuple] = set()
    for eq in ENTRIES:
        occ = eq["occurrence"]
        for o in occ if isinstance(occ, list) else [occ]:
            key = (eq["module"], eq["operator"], eq["line"].strip(), o)
            assert key not in seen, key
            seen.add(key)
