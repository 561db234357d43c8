#!/usr/bin/env python3
"""Mutation testing of the pure core: do the tests decide the answer?

Each module that decides an answer (scoring, statistics, early stop, confirmation, the
results store, the PR comparison, redaction, the metric names, the constraint language,
the trial id, quoting, journal replay, search bookkeeping, the flag renderer) is mutated one
small change at a time and its own fast tests are run against every mutant; a mutant the
tests let through is a bug they would miss.

Two sets of operators: cosmic-ray's (one token: `<` -> `<=`, a `not` removed, a number
+-1, ...) and scripts/mutation_ops.py's (a dropped `and`/`or` operand, min <-> max, two
checks swapped, a guard always taken), which cosmic-ray cannot make.

One table at the end: per module, mutants scored, killed, survived, equivalent, import
errors and timeouts (the last two are neither kills nor survivors: a mutant that does not
import tests nothing, a timeout is reported so a slow test is seen), and the score killed /
(killed + survived). Exit status 1 when any module scores below 90 %.

The work happens in a copy of the tree under .cache/mutation (cosmic-ray edits the file it
mutates in place, and other test runs in the checkout must not see that). In the copy,
tuneops/runner, tuneops/renderers, ... are links to the top-level folders, so the mutated
file is the one `tuneops.runner.score` imports.

Not scored (marked skipped before the run, each with its reason):
- mutants inside type annotations (never evaluated: every module has
  `from __future__ import annotations`);
- binary-operator replacements by bitwise, shift and power operators (`EXCLUDED`): nobody
  writes `a << b` for `a + b`; they cost run time and only inflate the score;
- the equivalent mutants in tests/mutation_equivalents.toml, each with its occurrence and a
  one-line proof (tests/scripts/test_mutation_equivalents.py keeps them pointing at real mutants).

Each mutant runs first against the tests that execute its lines, and against the full set
only if they let it through (scripts/mutation_select.py; --no-select runs the full set every
time): the same outcomes, a fraction of the runs.

Usage: python scripts/mutation.py [MODULE ...] [--list] [--timeout S] [--survivors]
       [--sample N [--seed S]] [--rev REV] [--resume] [--survivors-only] [--report-only]
       [--no-select] [--jobs N]
CPU-heavy (a pytest process per mutant): run it per module, not in CI's test run; --sample
N scores N mutants per tool and module (a quick estimate). --report-only and
--survivors-only re-read the last full run (cosmic-ray's sessions and <module>.own.json, the
extra operators' outcomes); --survivors-only reruns only its survivors.
"""

from __future__ import annotations

import argparse
import ast
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import tomllib

sys.path.insert(0, str(Path(__file__).resolve().parent))
import mutation_select  # noqa: E402  (a sibling script, not a package)

ROOT = Path(__file__).resolve().parents[1]
SCRIPTS = ROOT / "scripts"  # also where pytest finds the mutation_builtins plugin
WORK = ROOT / ".cache" / "mutation"
EQUIVALENTS = ROOT / "tests" / "mutation_equivalents.toml"
LINKS = ("runner", "renderers", "schemas", "engines", "assets")  # tuneops/<name> -> ../<name>
# Python 3.11 keeps the AST constructor's recursion depth in state its threads share: two
# modules swept at once (--jobs) that parse at the same moment can die of "SystemError: AST
# constructor recursion depth mismatch" (python/cpython#106905, pytest-dev/pytest#10763;
# it stopped session 31's first one-command sweep). Every parse of a sweep's thread
# (here, in mutation_select and in mutation_ops) holds this lock.
AST_LOCK = threading.Lock()
EXCLUDED = re.compile(r"ReplaceBinaryOperator_\w+_(Pow|RShift|LShift|BitAnd|BitOr|BitXor)$")


@dataclass(frozen=True)
class Target:
    path: str  # relative to the repository root
    tests: tuple[str, ...]
    deciding: bool = True  # in `make mutation`'s default sweep (False: only when named)


TARGETS = {
    "score": Target("runner/score.py", ("tests/runner/test_score.py",
                                        "tests/runner/test_score_rules.py",
                                        "tests/runner/test_score_mutants.py")),
    "expr": Target("tuneops/expr.py", ("tests/tuneops/test_expr.py",
                                       "tests/tuneops/test_expr_mutants.py")),
    "plan": Target("tuneops/plan.py", ("tests/tuneops/test_trial_identity.py",
                                       "tests/tuneops/test_space_plan.py")),
    "quoting": Target("renderers/quoting.py", ("tests/renderers/test_render_quoting.py",
                                               "tests/renderers/test_quoting_mutants.py")),
    "journal": Target("runner/journal.py", ("tests/runner/test_journal_replay.py",
                                            "tests/runner/test_journal.py")),
    # the search's rules that can lose the winner: pruning a trial, and leaving a point out
    # of the plan because the memory plan says it cannot start
    "prune": Target("runner/search/prune.py", ("tests/runner/search/test_prune_rules.py",
                                                "tests/runner/search/test_search_pruning.py")),
    "memory": Target("runner/search/memory.py", ("tests/runner/search/test_search_memory.py",
                                                 "tests/runner/search/test_search_memory_rules.py")),
    # the rest of the search package (samplers, the model's ranking, warm start) only picks
    # which point is measured next, never what the answer is; its quality is measured by
    # scripts/bench_search.py. 3,581 mutants: swept when named (MODULES=search), not by default
    "search": Target("runner/search", ("tests/runner/search/test_search.py",
                                       "tests/runner/search/test_search_mutants.py"),
                     deciding=False),
    "command": Target(
        "renderers/command.py",
        ("tests/renderers/test_command_words.py", "tests/deployments/docker/test_render.py"),
    ),
    # the rules added with intervals, reuse, redaction and comparison (issue 26)
    "stats": Target("runner/stats.py", ("tests/runner/test_stats.py",)),
    "levels": Target("runner/bench/levels.py", ("tests/runner/bench/test_bench_levels.py",)),
    "confirm": Target("runner/confirm.py", ("tests/runner/test_confirm.py",)),
    # the store's rules at unit speed; tests/runner/test_store.py (the same rules inside
    # the runner, about 2 minutes a run) would cost that per surviving mutant
    "store": Target("runner/store.py", ("tests/runner/test_store_rules.py",)),
    "compare": Target("tuneops/ci/compare.py",
                      ("tests/ci/test_compare.py", "tests/ci/test_compare_rates.py")),
    "secrets": Target("tuneops/secrets.py", ("tests/tuneops/test_secrets.py",)),
    # not tests/tuneops/test_validate.py: 20 s a run, and validation's own rules; the
    # metrics' meanings are pinned in their own files
    "metrics": Target("tuneops/metrics", ("tests/tuneops/test_metrics.py",
                                          "tests/tuneops/test_goodput.py",
                                          "tests/runner/test_score_rules.py",
                                          "tests/runner/test_stats.py")),
    # the ranking (Pareto front, tie set, tie-breaks), split out of score.py
    "rankings": Target("runner/rankings.py", ("tests/runner/test_score.py",
                                              "tests/runner/test_score_rules.py",
                                              "tests/runner/test_score_mutants.py",
                                              "tests/runner/test_tie_break.py")),
}
# -p mutation_builtins: the name cosmic-ray's ExceptionReplacer writes (that module says why)
PYTEST_FLAGS = ("-x", "-q", "-p", "no:cacheprovider", "-p", "mutation_builtins", "--no-header")
KILLED, SURVIVED, TIMEOUT = "killed", "survived", "timeout"
# Outcomes beside killed and survived, reported apart (never counted as kills): a mutant
# whose module no longer imports (or a test file that no longer collects), and one whose
# tests ran past the timeout.
IMPORT_ERROR = re.compile(r"errors? during collection|ImportError while importing|"
                          r"^E\s+(SyntaxError|IndentationError|NameError: name)", re.M)


def copy_tree(name: str, rev: str | None = None) -> Path:
    """A copy of the checkout's files (tracked and new, not ignored; or those of commit
    `rev`) with the installed layout's tuneops/<name> links; one per module, so runs of two
    modules can overlap."""
    dest = WORK / f"tree-{name}"
    if dest.exists():
        shutil.rmtree(dest)
    if rev is not None:
        dest.mkdir(parents=True)
        archive = subprocess.run(["git", "archive", rev], cwd=ROOT, capture_output=True,
                                 check=True).stdout
        subprocess.run(["tar", "-x", "-C", str(dest)], input=archive, check=True)
        files = []
    else:
        files = subprocess.run(
            ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
            cwd=ROOT, capture_output=True, check=True,
        ).stdout.decode().split("\0")
    for name in filter(None, files):
        src = ROOT / name
        if not src.is_file():
            continue  # deleted in the work tree
        target = dest / name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(src, target)
    for name in LINKS:
        (dest / "tuneops" / name).symlink_to(Path("..") / name)
    return dest


def _annotation_lines(path: Path) -> set[tuple[int, int, int, int]]:
    """(start row, start col, end row, end col) of every annotation in a module."""
    spans = set()
    with AST_LOCK:
        module = ast.parse(path.read_text())
    for node in ast.walk(module):
        notes = []
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            notes.append(node.returns)
            a = node.args
            notes += [x.annotation for x in [*a.posonlyargs, *a.args, *a.kwonlyargs,
                                              a.vararg, a.kwarg] if x is not None]
        elif isinstance(node, ast.AnnAssign):
            notes.append(node.annotation)
        for n in notes:
            if n is not None:
                spans.add((n.lineno, n.col_offset, n.end_lineno, n.end_col_offset))
    return spans


def _inside(spec, spans) -> bool:
    (r, c), (er, ec) = spec.start_pos, spec.end_pos
    return any((r, c) >= (a, b) and (er, ec) <= (x, y) for a, b, x, y in spans)


def load_equivalents() -> list[dict]:
    if not EQUIVALENTS.exists():
        return []
    return tomllib.loads(EQUIVALENTS.read_text()).get("equivalent", [])


def _line(path: Path, row: int) -> str:
    return path.read_text().splitlines()[row - 1].strip()


def mark_unscored(session: Path, tree: Path, equivalents: list[dict]) -> dict[str, int]:
    """Mark annotation, excluded-operator and listed-equivalent mutants as skipped."""
    from cosmic_ray.work_db import WorkDB, use_db
    from cosmic_ray.work_item import WorkerOutcome, WorkResult

    counts = {"annotation": 0, "excluded operator": 0, "equivalent": 0}
    spans: dict[Path, set] = {}
    with use_db(str(session), WorkDB.Mode.open) as db:
        for item in list(db.pending_work_items):
            for spec in item.mutations:
                path = tree / spec.module_path
                if path not in spans:
                    spans[path] = _annotation_lines(path)
                line = _line(path, spec.start_pos[0])
                reason = None
                if _inside(spec, spans[path]):
                    reason, kind = "inside a type annotation (never evaluated)", "annotation"
                elif EXCLUDED.search(spec.operator_name):
                    reason, kind = "bitwise/shift/power replacement (not scored)", \
                        "excluded operator"
                else:
                    for eq in equivalents:
                        if (str(spec.module_path).endswith(eq["module"])
                                and eq["operator"] in ("*", spec.operator_name)
                                and eq["line"].strip() == line
                                and names_occurrence(eq, spec.occurrence)):
                            reason, kind = "equivalent: " + eq["reason"], "equivalent"
                            break
                if reason:
                    counts[kind] += 1
                    db.set_result(item.job_id, WorkResult(
                        worker_outcome=WorkerOutcome.SKIPPED, output=reason))
    return counts


def sample_only(session: Path, n: int, seed: int = 0) -> int:
    """Leave `n` scored mutants pending, picked by `seed` from the mutants in source order
    (so the same source and seed give the same sample); mark the rest skipped. A sample the
    tests were written against overstates the module's score: check with another seed."""
    import random

    from cosmic_ray.work_db import WorkDB, use_db
    from cosmic_ray.work_item import WorkerOutcome, WorkResult

    with use_db(str(session), WorkDB.Mode.open) as db:
        items = sorted(db.pending_work_items, key=lambda i: (
            str(i.mutations[0].module_path), i.mutations[0].start_pos, i.mutations[0].end_pos,
            i.mutations[0].operator_name, i.mutations[0].occurrence))
        if len(items) <= n:
            return 0
        keep = {i.job_id for i in random.Random(seed).sample(items, n)}
        dropped = 0
        for item in items:
            if item.job_id not in keep:
                db.set_result(item.job_id, WorkResult(worker_outcome=WorkerOutcome.SKIPPED,
                                                      output="not sampled"))
                dropped += 1
        return dropped


def reopen_survivors(session: Path, tree: Path) -> int:
    """Make the survivors of the last run pending again (killed ones stay killed: tests are
    only ever added), and the mutants it skipped as equivalent: mark_unscored skips again
    those the equivalents file still lists, and an entry since corrected or removed gets
    its mutant run."""
    from cosmic_ray.work_db import WorkDB, WorkResultStorage, use_db
    from cosmic_ray.work_item import TestOutcome, WorkerOutcome

    with use_db(str(session), WorkDB.Mode.open) as db:
        survivors = [job for job, r in db.results if r.test_outcome == TestOutcome.SURVIVED
                     or (r.worker_outcome == WorkerOutcome.SKIPPED
                         and (r.output or "").startswith("equivalent:"))]
        with db._session_maker.begin() as sql:  # cosmic-ray has no public "clear one result"
            for job in survivors:
                sql.query(WorkResultStorage).filter_by(job_id=job).delete()
    return len(survivors)


def source_digest(tree: Path, target: Target) -> str:
    import hashlib

    root = tree / target.path
    files = sorted(root.rglob("*.py")) if root.is_dir() else [root]
    return hashlib.sha256(b"".join(f.read_bytes() for f in files)).hexdigest()


def run_module(name: str, target: Target, tree: Path, timeout: float,
               report_only: bool = False, sample: int | None = None,
               survivors_only: bool = False, seed: int = 0, resume: bool = False,
               select: bool = True) -> dict:
    from cosmic_ray.work_db import WorkDB, use_db
    from cosmic_ray.work_item import TestOutcome, WorkerOutcome

    config = WORK / f"{name}.toml"
    session = WORK / f"{name}.sqlite"
    tests = " ".join(t for t in target.tests if (tree / t).exists())
    if not tests:  # an empty list would make pytest run every test under tests/
        sys.exit(f"{name}: none of its tests exist in this tree: {', '.join(target.tests)}")
    command = f"{sys.executable} -m pytest {' '.join(PYTEST_FLAGS)} {tests}"
    config.write_text(  # cosmic-ray's `init` wants a test command; `exec` is ours (Judge)
        "[cosmic-ray]\n"
        f'module-path = "{target.path}"\n'
        f"timeout = {timeout}\n"
        "excluded-modules = []\n"
        f'test-command = "{command}"\n'
        "[cosmic-ray.distributor]\nname = \"local\"\n"
    )
    cr = [sys.executable, "-m", "cosmic_ray.cli"]
    # no third-party pytest plugins (kmock alone imports aiohttp): a third of the time per
    # mutant; hypothesis runs without its plugin, on the "mutation" profile (tests/conftest.py)
    env = {**os.environ, "HYPOTHESIS_PROFILE": "mutation", "PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1"}
    started = time.monotonic()
    unscored = {}
    digest = WORK / f"{name}.source"
    if survivors_only:
        if not digest.exists() or digest.read_text() != source_digest(tree, target):
            sys.exit(f"{name}: {target.path} changed since the last full run: run it in full")
        reopen_survivors(session, tree)
        mark_unscored(session, tree, load_equivalents())
    elif resume and session.exists():  # cosmic-ray's exec runs only what is still pending
        mark_unscored(session, tree, load_equivalents())
    elif not report_only:
        session.unlink(missing_ok=True)
        subprocess.run([*cr, "init", str(config), str(session)], cwd=tree, check=True, env=env)
        digest.write_text(source_digest(tree, target))
        mark_unscored(session, tree, load_equivalents())
        if sample:
            sample_only(session, sample, seed)
    judge = None
    if not report_only:
        judge = Judge(name, target, tree, env, timeout, tests.split(), select)
        run_cosmic_ray(session, tree, judge)
    counts = {"killed": 0, "import errors": 0, "timeouts": 0}
    survivors, total = [], 0
    with use_db(str(session), WorkDB.Mode.open) as db:
        items = {item.job_id: item for item in db.work_items}
        for job_id, result in db.results:
            item = items[job_id]
            if result.worker_outcome == WorkerOutcome.SKIPPED:
                why = (result.output or "").split(":")[0]
                kind = next((k for k in ("annotation", "equivalent", "not sampled",
                                         "not Python") if k in why), "excluded operator")
                unscored[kind] = unscored.get(kind, 0) + 1
                continue
            total += 1
            if result.test_outcome == TestOutcome.SURVIVED:
                spec = item.mutations[0]
                survivors.append((spec.module_path, spec.start_pos[0], spec.operator_name,
                                  spec.occurrence,
                                  _line(tree / spec.module_path, spec.start_pos[0]),
                                  result.diff))
            else:
                counts[outcome(result.test_outcome == TestOutcome.INCOMPETENT,
                               result.output)] += 1
    own_file = WORK / f"{name}.own.json"  # the extra operators' outcomes of the last run
    if report_only:
        own = json.loads(own_file.read_text()) if own_file.exists() else None
    elif survivors_only and not own_file.exists():  # the last run stopped before them
        own = run_own_operators(target, tree, judge, None, seed)
        own_file.write_text(json.dumps(own))
    elif survivors_only:
        own = json.loads(own_file.read_text())
        again = run_own_operators(target, tree, judge, None, seed,
                                  only={(s[0], s[2], s[3]) for s in own["survivors"]})
        for kind, n in again["counts"].items():
            own["counts"][kind] += n
        own["total"] -= again["equivalent"]  # survivors now listed as equivalent
        own["equivalent"] += again["equivalent"]
        own["survivors"] = again["survivors"]
        own_file.write_text(json.dumps(own))
    else:
        own = run_own_operators(target, tree, judge, sample, seed)
        own_file.write_text(json.dumps(own))
    if own is not None:
        for kind, n in own["counts"].items():
            counts[kind] += n
        total += own["total"]
        survivors += [tuple(s) for s in own["survivors"]]
        unscored["equivalent"] = unscored.get("equivalent", 0) + own["equivalent"]
    return {"name": name, **counts, "total": total, "survivors": survivors,
            "unscored": unscored, "seconds": time.monotonic() - started,
            "runs": judge.runs if judge else None}


def run_tests(args: list[str], tree: Path, env: dict, timeout: float) -> tuple[str, str]:
    """(killed | survived | timeout, output) of one pytest run in the copy; a run past the
    timeout is stopped with its whole process group (tests may start children)."""
    proc = subprocess.Popen([sys.executable, "-m", "pytest", *PYTEST_FLAGS, *args], cwd=tree,
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True, start_new_session=True)
    try:
        output, _ = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate()
        return TIMEOUT, "timeout"  # cosmic-ray's word, read back by outcome()
    return (SURVIVED if proc.returncode == 0 else KILLED), output


class Judge:
    """Runs a module's tests against the mutant in place in the copy.

    With `select`, the tests that execute a mutated line (scripts/mutation_select.py) run
    first; only a mutant they let through runs the full set, and that run decides, so the
    outcome is the full set's either way. Without it, every mutant runs the full set. The
    first call is the coverage run, which is also the baseline: the tests must pass
    unmutated."""

    def __init__(self, name: str, target: Target, tree: Path, env: dict, timeout: float,
                 tests: list[str], select: bool) -> None:
        self.tree, self.timeout, self.tests = tree, timeout, tests
        # where pytest finds the mutation_builtins plugin of PYTEST_FLAGS
        env = {**env, "PYTHONPATH": os.pathsep.join(filter(None, (str(SCRIPTS),
                                                                  env.get("PYTHONPATH"))))}
        # no .pyc of a mutant: a restored file of the same size written within the same
        # second would load the mutant's cached bytecode
        self.env = {**env, "PYTHONDONTWRITEBYTECODE": "1"}
        self.args_file = WORK / f"{name}.selected"
        self.runs = {"selected": 0, "full": 0}
        map_file = WORK / f"{name}.coverage.json"
        files = [p.relative_to(tree).as_posix() for p in _own_module_files(tree, target)]
        baseline = subprocess.run(
            [sys.executable, str(SCRIPTS / "mutation_select.py"), str(map_file),
             *files, "--", *PYTEST_FLAGS, *tests],
            cwd=tree, env=env, capture_output=True, text=True)
        if baseline.returncode != 0:
            sys.exit(f"{name}: the tests fail without any mutation:\n"
                     f"{(baseline.stdout + baseline.stderr)[-3000:]}")
        self.map = json.loads(map_file.read_text()) if select else None

    def __call__(self, rel: str, source: str, first: int, last: int) -> tuple[str, str]:
        """Outcome of the mutant now in the copy, which changed lines first..last of file
        `rel` (whose unmutated text is `source`)."""
        if self.map is not None:
            with AST_LOCK:
                lines = mutation_select.statement_lines(source, first, last)
            selected = mutation_select.tests_for(self.map, rel, lines)
            if selected is not None:
                self.args_file.write_text("\n".join(selected) + "\n")
                self.runs["selected"] += 1
                status, output = run_tests([f"@{self.args_file}"], self.tree, self.env,
                                           self.timeout)
                if status != SURVIVED:
                    return status, output
        self.runs["full"] += 1
        return run_tests(self.tests, self.tree, self.env, self.timeout)


def run_cosmic_ray(session: Path, tree: Path, judge: Judge) -> None:
    """cosmic-ray's pending mutants, each applied in the copy (cosmic-ray's own code), judged,
    and recorded in its session as `cosmic-ray exec` would."""
    import difflib

    from cosmic_ray.mutating import use_mutation
    from cosmic_ray.plugins import get_operator
    from cosmic_ray.work_db import WorkDB, use_db
    from cosmic_ray.work_item import TestOutcome, WorkerOutcome, WorkResult

    with use_db(str(session), WorkDB.Mode.open) as db:
        for item in sorted(db.pending_work_items, key=lambda i: i.job_id):
            (spec,) = item.mutations
            operator = get_operator(spec.operator_name)(**(spec.operator_args or {}))
            path = tree / spec.module_path
            with use_mutation(path, operator, spec.occurrence) as (before, after):
                if after is None:  # no such mutant (cannot happen for an `init` item)
                    db.set_result(item.job_id, WorkResult(worker_outcome=WorkerOutcome.NO_TEST))
                    continue
                if why := not_python(after, spec.module_path):
                    db.set_result(item.job_id, WorkResult(worker_outcome=WorkerOutcome.SKIPPED,
                                                          output=why))
                    continue
                status, output = judge(Path(spec.module_path).as_posix(), before,
                                       spec.start_pos[0], spec.end_pos[0])
            diff = "\n".join(["--- mutation diff ---", *difflib.unified_diff(
                before.split("\n"), after.split("\n"), fromfile=f"a/{spec.module_path}",
                tofile=f"b/{spec.module_path}", lineterm="")])
            db.set_result(item.job_id, WorkResult(
                output=output, diff=diff, worker_outcome=WorkerOutcome.NORMAL,
                test_outcome=TestOutcome.SURVIVED if status == SURVIVED else TestOutcome.KILLED))


def not_python(source: str, filename: object) -> str | None:
    """Why a mutant's source is no Python at all (None: it compiles). cosmic-ray 8.7.0 takes
    the `**` of a dict display (`{**a, "k": 1}`) for a power operator (parso's
    `dictorsetmaker` is missing from its `_NON_BINARY_PARENTS`) and writes six mutants of
    each that do not compile. No test can kill or miss those: they are shown as not scored,
    with no pytest run, instead of as import errors."""
    try:
        with AST_LOCK:
            compile(source, str(filename), "exec")
    except SyntaxError as e:
        return f"not Python: {e.msg} (line {e.lineno})"
    return None


def outcome(incompetent: bool, output: str | None) -> str:
    """killed | timeouts | import errors, for a mutant whose tests did not pass."""
    text = output or ""
    if text.strip() == "timeout":  # cosmic-ray's word for a test run it killed
        return "timeouts"
    if incompetent or IMPORT_ERROR.search(text):
        return "import errors"
    return "killed"


def _own_module_files(tree: Path, target: Target) -> list[Path]:
    root = tree / target.path
    return sorted(root.rglob("*.py")) if root.is_dir() else [root]


def run_own_operators(target: Target, tree: Path, judge: Judge, sample: int | None,
                      seed: int, only: set[tuple[str, str, int]] | None = None) -> dict:
    """The mutants of scripts/mutation_ops.py (the slips cosmic-ray cannot make), each
    written into the copy, its tests run, and the file restored. `only`: (file, operator,
    occurrence) of the mutants to run (the last run's survivors), None for all."""
    import random

    sys.path.insert(0, str(SCRIPTS))
    import mutation_ops

    equivalents = load_equivalents()
    todo = []
    skipped = 0
    for path in _own_module_files(tree, target):
        source = path.read_text()
        rel = path.relative_to(tree).as_posix()
        with AST_LOCK:
            made = mutation_ops.mutants(source)
        for m in made:
            if only is not None and (rel, m.operator, m.occurrence) not in only:
                continue
            line = _line(path, m.line)
            if any(rel.endswith(eq["module"]) and eq["operator"] == m.operator
                   and eq["line"].strip() == line and names_occurrence(eq, m.occurrence)
                   for eq in equivalents):
                skipped += 1
                continue
            todo.append((path, source, rel, m))
    if sample and len(todo) > sample:
        todo = random.Random(seed).sample(todo, sample)
    counts = {"killed": 0, "import errors": 0, "timeouts": 0}
    survivors = []
    for path, source, rel, m in todo:
        try:
            path.write_text(m.source)
            status, output = judge(rel, source, *mutation_select.changed_lines(source, m.source))
        finally:
            path.write_text(source)
        if status == SURVIVED:
            survivors.append((rel, m.line, m.operator, m.occurrence, _line(path, m.line),
                              m.description))
        else:
            counts[outcome(False, output)] += 1
    return {"counts": counts, "total": len(todo), "survivors": survivors,
            "equivalent": skipped}


def names_occurrence(eq: dict, occurrence: int) -> bool:
    """Does an equivalent name this occurrence? It gives one number, a list (one proof for
    several mutants of an operator on one line), or "every" (operator "*": every mutant of
    the line); tests/scripts/test_mutation_equivalents.py checks each still names its line."""
    occ = eq.get("occurrence")
    if occ == "every":
        return True
    return occurrence in (occ if isinstance(occ, list) else [occ])


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("modules", nargs="*", help=f"some of {', '.join(TARGETS)} (default: all "
                    "but " + ", ".join(n for n, t in TARGETS.items() if not t.deciding) + ")")
    ap.add_argument("--timeout", type=float, default=60.0, help="seconds per mutant's tests")
    ap.add_argument("--survivors", action="store_true", help="print each survivor's diff")
    ap.add_argument("--rev", help="mutate the files of this commit (e.g. a baseline score)")
    ap.add_argument("--report-only", action="store_true",
                    help="report the last run's sessions again without running anything")
    ap.add_argument("--sample", type=int, metavar="N",
                    help="score N mutants per module, drawn with a fixed seed (a quick estimate)")
    ap.add_argument("--seed", type=int, default=0, help="which sample (with --sample)")
    ap.add_argument("--survivors-only", action="store_true",
                    help="rerun only the last run's survivors (after adding tests; the module's "
                    "source must be unchanged)")
    ap.add_argument("--resume", action="store_true",
                    help="go on with a full run that was stopped (same --rev): the mutants "
                    "already scored keep their outcome; the time shown is this run's only")
    ap.add_argument("--no-select", action="store_true",
                    help="run every mutant against the module's full test set (slower; the "
                    "outcomes are the same: see scripts/mutation_select.py)")
    ap.add_argument("--jobs", "-j", type=int, default=1, metavar="N",
                    help="sweep N modules at a time (each in its own copy of the tree)")
    ap.add_argument("--list", action="store_true", help="list the modules and their tests")
    args = ap.parse_args()
    if args.list:
        for name, t in TARGETS.items():
            when = "" if t.deciding else " (only when named)"
            print(f"{name:8} {t.path:24} {' '.join(t.tests)}{when}")
        return 0
    names = args.modules or [n for n, t in TARGETS.items() if t.deciding]
    unknown = [n for n in names if n not in TARGETS]
    if unknown:
        ap.error(f"unknown module(s) {unknown}; choose from {list(TARGETS)}")
    WORK.mkdir(parents=True, exist_ok=True)
    rows = []
    started, load = time.monotonic(), os.getloadavg()[0]
    trees = {n: WORK / f"tree-{n}" if args.report_only else copy_tree(n, args.rev)
             for n in names}

    def sweep(name: str) -> dict:
        return run_module(name, TARGETS[name], trees[name], args.timeout, args.report_only,
                          args.sample, args.survivors_only, args.seed, args.resume,
                          not args.no_select)

    # modules in parallel (each in its own copy); the mutants of one module one at a time
    with ThreadPoolExecutor(max_workers=max(1, args.jobs)) as pool:
        for name, r in zip(names, pool.map(sweep, names), strict=True):
            rows.append(r)
            runs = r["runs"] and (f"; {r['runs']['selected']} run(s) of the selected tests, "
                                  f"{r['runs']['full']} of the full set")
            print(f"{name}: {len(r['survivors'])} survivor(s), {r['seconds']:.0f}s"
                  f"{runs or ''}; not scored: "
                  + ", ".join(f"{v} {k}" for k, v in r["unscored"].items()), flush=True)
            for module_path, row, operator, occ, line, diff in r["survivors"]:
                print(f"    survived {module_path}:{row} {operator} #{occ}: {line}")
                if args.survivors and diff:
                    print("      " + "\n      ".join(diff.splitlines()[2:]))
    print(table(rows))
    print(f"wall time {time.monotonic() - started:.0f}s for {len(names)} module(s), "
          f"{args.jobs} at a time; load (1 min) {load:.1f} at the start, "
          f"{os.getloadavg()[0]:.1f} at the end")
    low = [r["name"] for r in rows if score_of(r) < 90.0]
    print("below 90 %: " + (", ".join(low) if low else "none"))
    return 1 if low else 0


def score_of(r: dict) -> float:
    """Killed over killed + survived: mutants that do not import and tests that time out
    are neither (they are shown apart)."""
    judged = r["killed"] + len(r["survivors"])
    return 100.0 * r["killed"] / judged if judged else 100.0


def table(rows: list[dict]) -> str:
    head = ("module", "mutants", "killed", "survived", "equivalent", "import errors",
            "timeouts", "score", "wall")
    lines = [head]
    for r in rows:
        lines.append((r["name"], str(r["total"]), str(r["killed"]), str(len(r["survivors"])),
                      str(r["unscored"].get("equivalent", 0)), str(r["import errors"]),
                      str(r["timeouts"]), f"{score_of(r):.1f} %", f"{r['seconds']:.0f}s"))
    widths = [max(len(row[i]) for row in lines) for i in range(len(head))]
    def fmt(row: tuple[str, ...]) -> str:
        cells = zip(row, widths, strict=True)
        return "  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(cells))

    return "\n".join(fmt(row) for row in lines)


if __name__ == "__main__":
    raise SystemExit(main())
