"""What a person watching a run sees: trial i/n, each running trial's phase, elapsed, ETA.

Interactive terminals get a live rich display; CI and `--quiet` get one plain line per
event on stderr, so logs stay readable and greppable.
"""

from __future__ import annotations

import sys
import threading
import time

from rich.console import Console, Group
from rich.live import Live
from rich.table import Table
from tuneops.runner.results import COMPLETED, TrialResult

from tuneops.plan import Plan, Trial
from tuneops.spec import Experiment


def _fmt(seconds: float) -> str:
    seconds = int(seconds)
    return f"{seconds // 3600}:{seconds % 3600 // 60:02d}:{seconds % 60:02d}"


class Progress:
    def __init__(self, exp: Experiment, plan: Plan, *, quiet: bool, already: int = 0) -> None:
        self.exp = exp
        self.total = plan.max_trials or exp.search.max_trials or 0
        self.done = already
        self.finished_here = 0
        self.t0 = time.monotonic()
        self.running: dict[str, tuple[Trial, str, float]] = {}
        self.lock = threading.Lock()
        self.console = Console(stderr=True)
        self.quiet = quiet or not self.console.is_terminal
        self.live: Live | None = None

    # -- context -----------------------------------------------------------------
    def __enter__(self) -> Progress:
        if not self.quiet:
            self.live = Live(self._render(), console=self.console, refresh_per_second=4,
                             get_renderable=self._render)
            self.live.__enter__()
        else:
            self._say(f"run {self.exp.name}: up to {self.total} trial(s)"
                      + (f", {self.done} already finished" if self.done else ""))
        return self

    def __exit__(self, *exc: object) -> None:
        if self.live is not None:
            self.live.__exit__(None, None, None)

    # -- events ------------------------------------------------------------------
    def trial_started(self, trial: Trial) -> None:
        with self.lock:
            self.running[trial.id] = (trial, "queued", time.monotonic())
        self._say(f"[{self._counter()}] {trial.id} start {self._params(trial.params)}")

    def phase(self, trial_id: str, phase: str) -> None:
        with self.lock:
            if trial_id in self.running:
                trial, _, since = self.running[trial_id]
                self.running[trial_id] = (trial, phase, since)
        self._say(f"[{self._counter()}] {trial_id} {phase}")

    def trial_finished(self, result: TrialResult) -> None:
        with self.lock:
            self.running.pop(result.trial_id, None)
            self.done += 1
            self.finished_here += 1
        if result.status == COMPLETED and result.score is not None:
            s = result.score
            val = "n/a" if s.objective is None else f"{s.objective:.4g}"
            if s.objective_low is not None and s.objective_high is not None:
                val += f" ± {(s.objective_high - s.objective_low) / 2:.2g}"
            what = f"{self.exp.objective.metric}={val} " + ("feasible" if s.feasible else
                                                            "infeasible")
            if s.verdict == "uncertain":
                what += " (uncertain)"
            if result.contended:
                what += " [contended host]"
        else:
            what = f"{result.status}: {result.reason.splitlines()[0] if result.reason else ''}"
        self._say(f"[{self._counter()}] {result.trial_id} done in {result.total_s:.1f}s: {what}")

    # -- rendering ---------------------------------------------------------------
    def _counter(self) -> str:
        return f"{self.done}/{self.total}" if self.total else str(self.done)

    def eta(self) -> float | None:
        if not self.finished_here or not self.total:
            return None
        per_trial = (time.monotonic() - self.t0) / self.finished_here
        parallel = max(self.exp.search.parallel_trials, 1)
        return max(self.total - self.done, 0) * per_trial / parallel

    @staticmethod
    def _params(params: dict) -> str:
        return " ".join(f"{k}={v}" for k, v in params.items())

    def _say(self, line: str) -> None:
        if self.quiet:
            print(f"{_fmt(time.monotonic() - self.t0)} {line}", file=sys.stderr, flush=True)

    def _render(self) -> Group:
        elapsed = time.monotonic() - self.t0
        eta = self.eta()
        head = (f"[bold]{self.exp.name}[/] trials {self._counter()}  elapsed {_fmt(elapsed)}"
                + (f"  ETA {_fmt(eta)}" if eta is not None else ""))
        table = Table(box=None, show_header=True)
        table.add_column("trial")
        table.add_column("phase")
        table.add_column("for", justify="right")
        table.add_column("parameters")
        with self.lock:
            rows = list(self.running.values())
        for trial, phase, since in rows:
            table.add_row(trial.id, phase, _fmt(time.monotonic() - since),
                          self._params(trial.params))
        return Group(head, table)
