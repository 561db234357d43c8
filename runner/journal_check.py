"""Journal records checked before a run trusts them: schema, plan, and experiment.

A journal is state on disk, and state on disk is input: a hand edit, a record copied from
another run, or a disk that returned garbage must not come back as a finished, feasible
trial (it would count toward --max-trials and could win). So before a resumed run replays
its journal, every complete line is checked here and the first bad one is refused with the
file, line and column, the field and what was allowed (exit 2). Nothing of a refused
journal is used: the run stops before it starts (`--fresh` starts a new one, leaving the
old journal as it is for a person to read).

Checked: JSON with finite numbers only (no NaN, no Infinity, no 1e999);
schemas/journal.schema.json (events, types, trial-id shape); a trial result's fields are
TrialResult's; the experiment hash of every run_started record is this experiment's; each
trial id is the id its own params give under this experiment (`plan.make_trial`), with the
experiment's parameters, and for grid search a point of the plan.
"""

from __future__ import annotations

import dataclasses
import json
import math
from functools import lru_cache
from typing import Any

from jsonschema import Draft202012Validator
from tuneops.runner.results import TrialResult

from tuneops import schemas
from tuneops.errors import Diagnostic, UserError
from tuneops.plan import make_plan, make_trial
from tuneops.spec import Experiment

HINT = "start a new run with --fresh (this journal is kept as it is for you to read)"
_RESULT_FIELDS = frozenset(f.name for f in dataclasses.fields(TrialResult))


@lru_cache(maxsize=1)
def _validator() -> Draft202012Validator:
    schema = schemas.load_json("journal.schema.json")
    Draft202012Validator.check_schema(schema)
    return Draft202012Validator(schema)


class _NotFinite(ValueError):
    pass


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise _NotFinite(f"the number {text} is not finite")
    return value


def _no_constant(text: str) -> float:
    raise _NotFinite(f"{text} is not a number JSON allows")


def _field(path: Any) -> str:
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


class Checker:
    """Checks one journal's lines, in order, for one experiment."""

    def __init__(self, file: str, exp: Experiment, experiment_hash: str) -> None:
        self.file = file
        self.exp = exp
        self.hash = experiment_hash
        self.names = {p.name for p in exp.parameters}
        self._grid_ids: frozenset[str] | None = None

    def fail(self, line: int, column: int, path: str, message: str) -> UserError:
        return UserError(
            [Diagnostic(self.file, line, column, path, message, HINT)],
            summary=f"{self.file}: a journal record tuneops did not write; "
            "nothing of this journal was used",
        )

    def record(self, raw: bytes, line: int) -> dict[str, Any]:
        """The parsed record of one complete line, or a UserError naming what is wrong."""
        try:
            rec = json.loads(raw, parse_float=_finite_float, parse_constant=_no_constant)
        except _NotFinite as exc:
            raise self.fail(line, 1, "", str(exc)) from None
        except json.JSONDecodeError as exc:
            raise self.fail(line, exc.colno, "", f"not JSON ({exc.msg})") from None
        except (ValueError, RecursionError) as exc:
            raise self.fail(line, 1, "", f"not JSON ({type(exc).__name__})") from None
        if not isinstance(rec, dict):
            raise self.fail(line, 1, "", "a record is a JSON object")
        errors = sorted(_validator().iter_errors(rec), key=lambda e: list(e.absolute_path))
        if errors:
            err = max(errors, key=lambda e: len(e.absolute_path))
            message = err.message if len(err.message) <= 200 else err.message[:199] + "…"
            raise self.fail(line, 1, _field(err.absolute_path), message)
        self._meaning(rec, line)
        return rec

    def _meaning(self, rec: dict[str, Any], line: int) -> None:
        event = rec["event"]
        if event == "run_started" and rec["experiment_hash"] != self.hash:
            raise self.fail(line, 1, "experiment_hash",
                            f"written for another experiment (hash {rec['experiment_hash'][:12]}"
                            f"…, this one is {self.hash[:12]}…)")
        if event == "trial_started" and "params" in rec:
            self._trial(rec["trial_id"], rec["params"], rec.get("index", 0), line, "params")
        if event == "trial_finished":
            result = rec["result"]
            unknown = sorted(set(result) - _RESULT_FIELDS)
            if unknown:
                raise self.fail(line, 1, f"result.{unknown[0]}", "not a trial result field")
            if rec.get("trial_id", result["trial_id"]) != result["trial_id"]:
                raise self.fail(line, 1, "result.trial_id", "differs from the record's trial_id")
            self._trial(result["trial_id"], result["params"], result["index"], line,
                        "result.params")
            try:
                TrialResult.from_dict(result)
            except (TypeError, ValueError) as exc:
                raise self.fail(line, 1, "result", f"not a trial result ({exc})") from None

    def _trial(self, trial_id: str, params: dict, index: int, line: int, where: str) -> None:
        if set(params) != self.names:
            raise self.fail(line, 1, where, f"names {sorted(params)}, the experiment's "
                            f"parameters are {sorted(self.names)}")
        try:
            derived = make_trial(self.exp, params, index).id
        except (TypeError, ValueError) as exc:
            raise self.fail(line, 1, where, f"cannot be a trial's parameters ({exc})") from None
        if derived != trial_id:
            raise self.fail(line, 1, where.replace("params", "trial_id"),
                            f"trial {trial_id} is not in this experiment's plan (its params "
                            f"give {derived})")
        if self.exp.search.method == "grid":
            if self._grid_ids is None:
                self._grid_ids = frozenset(t.id for t in make_plan(self.exp).trials)
            if trial_id not in self._grid_ids:
                raise self.fail(line, 1, where.replace("params", "trial_id"),
                                f"trial {trial_id} is not a point of this experiment's grid")
