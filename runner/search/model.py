"""`search.method: model`: predict every point with the simulator's model, measure the best
prediction, calibrate the model to what was measured, and go on.

Why: on a GPU each trial costs minutes; the performance model (`predict.py`) already
orders configurations the way hardware does, so the first trials go where it points.

- Ranking. Each point's predicted metrics per load level (the objective's metric and every
  SLO's) give an expected objective: the level's value times the chance that its SLOs
  hold, each SLO judged as a probability — the prediction is taken as normal with a
  relative spread of `MARGIN` (10 %). Near a tight SLO a bare prediction flips
  feasibility; with the margin a point predicted 2 % inside a limit counts ~58 %, not 100 %.
  The level is the objective's own (`objective.concurrency`: a level, the best over levels,
  the mean or the highest). A point the memory plan says cannot start is left out
  (runner/search/memory.py; so is a point a measured start failure rules out, and the
  memory fraction is bisected after an OOM the model did not foresee).
- What a measurement says of other points. Where a point's raw predictions at a level
  equal a measured point's (the same state: a running-request cap above the level's
  clients, a memory fraction the batch never fills), the measured values stand in for
  the prediction there, with no spread: a sibling of a point that lost its SLO at a level
  loses it too. Without this, the margin kept a lost level's siblings worth 30-40 % and
  the search measured them one after another.
- Calibration. After each measurement, every predicted metric gets a correction
  `exp(a + b·log(tp) + c·log(level))` fitted by least squares to log(measured/predicted)
  over every measured level (ridge-pulled to no correction while measurements are few):
  the efficiency the model gets wrong overall (a), with tensor parallelism (all-reduce,
  b) and with load (c). The ranking is redone with it.
- Safety net. After the model's first MODEL_FIRST picks, every second trial is a
  space-filling pick (the next point of a randomly shifted Halton sequence, nearest unseen
  point), so a wrong model costs at most about twice what random search would.
- Warm start. Measured levels of related experiments' reports (same engine, model and GPU
  type, this host: runner/search/warm.py) calibrate the model before the first pick.
- Error report. `errors` lists, per measured trial, the objective predicted before it ran,
  the measured one, and the prediction of the calibrated model afterwards.

Needs a finite space of at most `domain.ENUMERATE_LIMIT` points and an engine with a
model (`predict.model_for`); otherwise `make_searcher` uses Bayesian search and says why.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
from tuneops.runner.results import FAILED_CONFIG, TrialResult
from tuneops.runner.search import warm
from tuneops.runner.search.base import SamplingSearcher, is_failure
from tuneops.runner.search.domain import finite_values
from tuneops.runner.search.memory import Inferred, StartLog, cannot_start, known_gpu
from tuneops.runner.search.predict import model_for, perf_model, predict, request_sizes

from tuneops.metrics import Bound, Direction
from tuneops.plan import Trial, make_trial, trial_args
from tuneops.spec import Experiment, LevelChoice

if TYPE_CHECKING:  # the store reads reports (and imports the report writers): only a type here
    from tuneops.runner.store import ResultStore

MARGIN = 0.10  # relative spread of a prediction when judging an SLO with it
MIN_SPREAD = 0.02  # the least relative spread the objective's prediction is given
MODEL_FIRST = 5  # trials picked by the model before the space-filling picks mix in
RIDGE = 1.0  # pull of the correction's slopes (and, weakly, its level) towards none


def unavailable(exp: Experiment, n_points: int | None) -> str | None:
    """Why `search.method: model` cannot run this experiment (None: it can)."""
    got = model_for(exp)
    if isinstance(got, str):
        return got
    if n_points is None:
        return "the space is continuous or larger than the model ranks (10,000 points)"
    return None


@dataclass
class PredictionError:
    trial_id: str
    predicted: float | None  # the objective predicted before the trial ran
    measured: float | None
    calibrated: float | None  # the calibrated model's prediction, after learning it

    @staticmethod
    def relative(pred: float | None, measured: float | None) -> float | None:
        if pred is None or measured is None or measured == 0:
            return None
        return (pred - measured) / abs(measured)

    @property
    def before(self) -> float | None:
        return self.relative(self.predicted, self.measured)

    @property
    def after(self) -> float | None:
        return self.relative(self.calibrated, self.measured)


def _frozen(args: dict[str, Any]) -> tuple:
    return tuple(sorted((k, tuple(v) if isinstance(v, list) else v) for k, v in args.items()))


@functools.lru_cache(maxsize=200_000)
def _prediction(gpu: str, model: str, args: tuple, levels: tuple[int, ...], prompt: int,
                output: int) -> tuple[int, tuple[dict[str, float], ...] | None]:
    """(tp, each level's predicted metrics or None when the server would not start), kept
    per process: a space is ranked once however many searches run over it (the benchmark)."""
    pm = perf_model(gpu, model, dict(args))
    if pm.plan.error:
        return pm.s.tp, None
    return pm.s.tp, tuple(predict(pm, c, prompt, output).values for c in levels)


_erf = np.vectorize(math.erf, otypes=[float])


def _normal_cdf(z: np.ndarray) -> np.ndarray:
    return 0.5 * (1.0 + _erf(np.asarray(z, dtype=float) / math.sqrt(2.0)))


def _normal_pdf(z: np.ndarray) -> np.ndarray:
    return np.exp(-0.5 * np.square(z)) / math.sqrt(2.0 * math.pi)


class Halton:
    """A Halton sequence in [0, 1)^d with a seeded random shift (Cranley-Patterson): evenly
    spread points, different per seed."""

    PRIMES = (2, 3, 5, 7, 11, 13, 17, 19, 23, 29, 31, 37, 41, 43, 47, 53, 59, 61, 67, 71)

    def __init__(self, dims: int, seed: int) -> None:
        self.bases = [self.PRIMES[k % len(self.PRIMES)] for k in range(dims)]
        self.shift = np.random.default_rng(seed).random(dims)
        self.n = 0

    def next(self) -> np.ndarray:
        self.n += 1
        out = []
        for base in self.bases:
            i, f, x = self.n, 1.0, 0.0
            while i:
                f /= base
                x += f * (i % base)
                i //= base
            out.append(x)
        return (np.array(out) + self.shift) % 1.0


class ModelSearcher(SamplingSearcher):
    method = "model"

    def __init__(self, exp, plan, *, max_trials=None) -> None:
        super().__init__(exp, plan, max_trials=max_trials)
        gpu, model = model_for(exp)
        scenario = exp.objective.scenario or exp.benchmark.traffic_scenarios[0]
        self.scenario = scenario
        prompt, output = request_sizes(scenario)
        self.levels = sorted(set(exp.benchmark.concurrency))
        self.metrics = sorted({exp.objective.metric, *(s.metric for s in exp.slos)})
        self.points = [point for _, point in self.feasible.points]
        self.ids = [tid for tid, _ in self.feasible.points]
        self.index = {tid: i for i, tid in enumerate(self.ids)}
        n, m = len(self.points), len(self.levels)
        self.raw = {name: np.full((n, m), np.nan) for name in self.metrics}
        self.tp = np.ones(n)
        self.starts = np.ones(n, dtype=bool)
        # left out of the search: the memory plan's refusals (memory.prefilter), then what
        # the run's start failures say about their groups (memory.StartLog); id -> why
        self.left_out: dict[str, str] = {}
        self.inferred: dict[str, Inferred] = {}
        self.start_log = StartLog(exp)
        for i, point in enumerate(self.points):
            tp, by_level = _prediction(gpu, model, _frozen(trial_args(exp, point)),
                                       tuple(self.levels), prompt, output)
            self.tp[i] = tp
            if by_level is None:
                self.starts[i] = False
                if (why := cannot_start(exp, point)) is not None:
                    self.left_out[self.ids[i]] = why
                continue
            for j, values in enumerate(by_level):
                for name in self.metrics:
                    self.raw[name][i, j] = values.get(name, np.nan)
        self.coef = {name: np.zeros(3) for name in self.metrics}
        # (metric, tp, level, measured, predicted): this run's levels and seeded ones
        self.observed: list[tuple[str, float, float, float, float]] = []
        self.gpu, self.model_name = gpu, model
        self.seeded: dict[str, int] = {}  # report -> trials of it that seeded the model
        self.errors: list[PredictionError] = []
        self._predicted: dict[str, float | None] = {}
        self.best: float | None = None  # best feasible measured objective (signed: higher)
        self.residuals: dict[str, np.ndarray] = {}
        self.state = self._level_states()
        self.pinned: dict[str, dict[tuple[int, int], float]] = {m: {} for m in self.metrics}
        self.expected = self._expected()
        dims = [len(finite_values(p)) for p in exp.parameters]
        self._halton = Halton(len(dims), self.seed)
        self._dims = dims
        self._grid = np.array([[finite_values(p).index(point[p.name]) for p in exp.parameters]
                               for point in self.points], dtype=float)
        self._asked = 0

    # -- prediction -------------------------------------------------------------------------
    def _corrected(self, name: str) -> np.ndarray:
        a, b, c = self.coef[name]
        logs = np.log(np.array(self.levels, dtype=float))
        return self.raw[name] * np.exp(a + b * np.log(self.tp)[:, None] + c * logs[None, :])

    def _pinned(self, name: str) -> tuple[np.ndarray, np.ndarray]:
        """The calibrated prediction of a metric per point and level, with the measured
        value wherever a point's level is in the same state as a measured one (`state`:
        the same raw predictions of every metric there, e.g. a running-request cap above
        the level's clients); and where that is so. The model cannot tell those cells from
        the measured one, so what was measured there is what it knows of them."""
        pred = self._corrected(name)
        known = np.zeros(pred.shape, dtype=bool)
        for (j, state), value in self.pinned[name].items():
            rows = self.state[:, j] == state
            pred[rows, j] = value
            known[rows, j] = True
        return pred, known

    def _expected(self) -> np.ndarray:
        """Each point's worth measuring next: the expected improvement of its objective over
        the best measured so far (the prediction taken as normal, its relative spread the
        calibration's residual, MARGIN until there is one), times the chance that its SLOs
        hold. Before anything is measured, the expected objective itself. A point the model
        knows exactly, like one already measured, has nothing left to offer."""
        obj, obj_known = self._pinned(self.exp.objective.metric)
        prob = np.ones_like(obj)
        for slo in self.exp.slos:
            pred, known = self._pinned(slo.metric)
            sd = np.maximum(np.abs(pred) * np.where(known, 1e-6, MARGIN), 1e-9)
            z = (slo.limit - pred) / sd if slo.bound is Bound.MAX else (pred - slo.limit) / sd
            prob *= np.nan_to_num(_normal_cdf(z), nan=0.0)
        sign = 1.0 if self.exp.objective.direction is Direction.MAXIMIZE else -1.0
        choice = self.exp.objective.concurrency
        if isinstance(choice, int) or str(choice).isdigit():
            j = self.levels.index(int(choice)) if int(choice) in self.levels else -1
            obj, prob = obj[:, j:j + 1], prob[:, j:j + 1]
        elif choice == LevelChoice.MEAN:
            obj, prob = np.nanmean(obj, axis=1)[:, None], np.prod(prob, axis=1)[:, None]
        elif choice == LevelChoice.HIGHEST:
            obj, prob = obj[:, -1:], prob[:, -1:]
        value = sign * obj
        if self.best is None:
            gain = value * prob if sign > 0 else value / np.maximum(prob, 1e-6)
        else:
            spread = np.where(obj_known, 1e-6, self._spread(self.exp.objective.metric))
            sd = np.maximum(np.abs(obj) * spread, 1e-9)
            z = (value - self.best) / sd
            improve = sd * _normal_pdf(z) + (value - self.best) * _normal_cdf(z)
            gain = prob * improve + 1e-6 * prob * value  # ties: the likelier, better point
        per = np.nanmax(np.where(np.isfinite(gain), gain, -np.inf), axis=1)
        return np.where(self.starts & np.isfinite(per), per, -np.inf)

    def _level_states(self) -> np.ndarray:
        """(points x levels): points with the same raw predictions of every metric at a level
        share a state number there."""
        out = np.zeros((len(self.points), len(self.levels)), dtype=int)
        for j in range(len(self.levels)):
            rows = np.stack([np.round(np.log(np.where(self.raw[n][:, j] > 0,
                                                      self.raw[n][:, j], np.nan)), 9)
                             for n in self.metrics], axis=1)
            _, inverse = np.unique(np.nan_to_num(rows, nan=-1e300), axis=0, return_inverse=True)
            out[:, j] = inverse.reshape(-1)
        return out

    def _spread(self, name: str) -> float:
        """The calibrated model's relative error on a metric: its residuals' RMS, within
        [MIN_SPREAD, MARGIN]; MARGIN before two measurements."""
        res = self.residuals.get(name)
        if res is None or len(res) < 2:
            return MARGIN
        return float(min(max(math.sqrt(float(np.mean(np.square(res)))), MIN_SPREAD), MARGIN))

    def predicted_objective(self, i: int) -> float | None:
        """The calibrated model's objective for point i at the objective's level rule,
        without the SLO probabilities (what a measurement would read)."""
        if not self.starts[i]:
            return None
        obj = self._corrected(self.exp.objective.metric)[i]
        choice = self.exp.objective.concurrency
        if isinstance(choice, int) or str(choice).isdigit():
            return float(obj[self.levels.index(int(choice))]) if int(choice) in self.levels \
                else None
        maximize = self.exp.objective.direction is Direction.MAXIMIZE
        if choice == LevelChoice.MEAN:
            return float(np.nanmean(obj))
        if choice == LevelChoice.HIGHEST:
            return float(obj[-1])
        ok = np.ones(len(self.levels), dtype=bool)  # best over levels predicted to hold
        for slo in self.exp.slos:
            pred = self._corrected(slo.metric)[i]
            ok &= pred <= slo.limit if slo.bound is Bound.MAX else pred >= slo.limit
        pool = obj[ok] if ok.any() else obj
        return float(np.nanmax(pool) if maximize else np.nanmin(pool))

    # -- proposing ------------------------------------------------------------------------
    def _propose(self) -> Trial | None:
        unseen = [i for i, tid in enumerate(self.ids)
                  if not self.seen(tid) and tid not in self.left_out]
        if not unseen:
            return None
        self._asked += 1
        k = self._asked
        if k > MODEL_FIRST and (k - MODEL_FIRST) % 2 == 0:
            i = self._space_filling(unseen)
        else:
            i = max(unseen, key=lambda u: self.expected[u])
        i = self._bisected(i, unseen)
        self._predicted[self.ids[i]] = self.predicted_objective(i)
        return make_trial(self.exp, self.points[i], self._next_index)

    def _bisected(self, i: int, unseen: list[int]) -> int:
        """The pick itself, unless its memory group has run out of memory at start and its
        fraction is among those still open: then the open fraction in the middle (of the
        points differing from it only there), so the group's highest fraction that starts
        is found in log2(n) starts (memory.StartLog.probe)."""
        name = self.start_log.fraction
        if name is None or name not in self.points[i]:
            return i
        rest = {k: v for k, v in self.points[i].items() if k != name}
        same = {u: self.points[u][name] for u in unseen
                if {k: v for k, v in self.points[u].items() if k != name} == rest}
        probe = self.start_log.probe(self.points[i], list(same.values()))
        if probe is None:
            return i
        return next(u for u, v in same.items() if v == probe)

    def _space_filling(self, unseen: list[int]) -> int:
        u = self._halton.next()
        target = np.floor(u * np.array(self._dims))
        spans = np.maximum(np.array(self._dims, dtype=float) - 1, 1)
        dist = np.sum(((self._grid[unseen] - target) / spans) ** 2, axis=1)
        return unseen[int(np.argmin(dist))]

    # -- learning -------------------------------------------------------------------------
    def _learn(self, result: TrialResult, trial: Trial | None) -> None:
        i = self.index.get(result.trial_id)
        if i is None:
            return
        measured = None
        if result.status == FAILED_CONFIG:  # a start failure speaks for its memory group
            self._learn_start(result.trial_id, result.params, result.reason or "")
        elif not is_failure(result):
            self.start_log.learn(result.trial_id, result.params, None)
            by_level = result.metrics.get(self.scenario, {})
            for j, level in enumerate(self.levels):
                for name in self.metrics:
                    v = by_level.get(level, {}).get(name)
                    raw = self.raw[name][i, j]
                    if isinstance(v, (int, float)) and v > 0 and math.isfinite(v) \
                            and np.isfinite(raw) and raw > 0:
                        self.observed.append((name, float(self.tp[i]), float(level),
                                              float(v), float(raw)))
                        self.pinned[name][(j, int(self.state[i, j]))] = float(v)
            if result.score is not None and result.score.objective is not None:
                measured = float(result.score.objective)
                if result.score.feasible:
                    sign = 1.0 if self.exp.objective.direction is Direction.MAXIMIZE else -1.0
                    self.best = max(self.best if self.best is not None else -math.inf,
                                    sign * measured)
            self._calibrate()
        self.errors.append(PredictionError(result.trial_id, self._predicted.get(result.trial_id),
                                           measured, self.predicted_objective(i)))

    def warm_start(self, store: ResultStore) -> list[str]:
        """Calibrate with the measured levels of related experiments (same engine, model and
        GPU type, this host: runner/search/warm.py) before the first pick; one note per
        report used, and per report passed over."""
        if known_gpu(self.exp, {}) != self.gpu:  # the model's guess is no hardware fact
            return ["search.method model: not seeded from related reports: the experiment "
                    "names no GPU type (deployment.gpus.type)"] if store.reports else []
        ids = set(self.ids) | set(self.finished)
        found = warm.related(self.exp, self.gpu, store, ids, self.metrics)
        added: dict[str, set[str]] = {}
        for lv in found.levels:
            if str(lv.args.get("gpu-type") or self.gpu) != self.gpu:
                continue
            try:
                pm = perf_model(self.gpu, self.model_name, lv.args)
                if pm.plan.error:
                    continue
                pred = predict(pm, lv.level, lv.prompt, lv.output).values
            except (ArithmeticError, KeyError, TypeError, ValueError):
                found.skipped.append(f"{lv.source}: trial {lv.trial_id}: args the model "
                                     "cannot read")
                continue
            for name, v in lv.metrics.items():
                raw = pred.get(name)
                if raw is not None and math.isfinite(raw) and raw > 0:
                    self.observed.append((name, float(max(pm.s.tp, 1)), float(lv.level), v,
                                          float(raw)))
                    added.setdefault(lv.source, set()).add(lv.trial_id)
        self.seeded = {k: len(v) for k, v in added.items()}
        if self.seeded:
            self._calibrate()
        notes = [f"search.method model: calibration seeded from {src} ({n} trial(s) of a "
                 "related experiment: same engine, model and GPU type)"
                 for src, n in self.seeded.items()]
        return notes + [f"search.method model: not seeded from {why}" for why in found.skipped]

    def report_block(self) -> dict[str, Any]:
        """What results.json records of the model search (`search`): the reports that
        seeded its calibration, the points it left out, and its prediction error per trial."""
        return {"method": "model",
                "seeded_from": [{"report": k, "trials": v} for k, v in self.seeded.items()],
                "left_out": [{"trial_id": k, "reason": v} for k, v in self.left_out.items()],
                "prediction_errors": self.summary()}

    def _learn_start(self, trial_id: str, params: dict[str, Any], reason: str) -> None:
        self.start_log.learn(trial_id, params, reason)
        for u, point in enumerate(self.points):
            tid = self.ids[u]
            if tid in self.left_out or self.seen(tid):
                continue
            if (got := self.start_log.verdict(point)) is not None:
                self.inferred[tid] = got
                self.left_out[tid] = got.reason
                self.starts[u] = False

    def memory_notes(self) -> list[str]:
        """The run's notes on points never started: how many the memory plan left out (each
        one is listed by `tuneops plan`), and each one a measured start failure ruled out."""
        out = []
        planned = len(self.left_out) - len(self.inferred)
        if planned:
            out.append(f"search.method model: {planned} point(s) left out before running: "
                       "the memory plan says they cannot start (listed by `tuneops plan`)")
        for tid, got in self.inferred.items():
            out.append(f"search.method model: {tid} not started: {got.reason}")
        return out

    def _calibrate(self) -> None:
        for name in self.metrics:
            rows = [(tp, c, v, raw) for n, tp, c, v, raw in self.observed if n == name]
            if not rows:
                continue
            x = np.array([[1.0, math.log(tp), math.log(c)] for tp, c, _, _ in rows])
            y = np.array([math.log(v / raw) for _, _, v, raw in rows])
            # ridge: the slopes stay near zero until the measurements span tp and load
            penalty = np.diag([0.1, RIDGE, RIDGE])
            self.coef[name] = np.linalg.solve(x.T @ x + penalty, x.T @ y)
            self.residuals[name] = y - x @ self.coef[name]
        self.expected = self._expected()

    def error_note(self) -> str | None:
        """One line for the run's notes: the objective's prediction error of each measured
        trial before it ran and after the model learned it."""
        parts = [f"{e.trial_id}: {e.before:+.1%} -> {e.after:+.1%}" for e in self.errors
                 if e.before is not None and e.after is not None]
        if not parts:
            return None
        return ("search.method model: objective predicted vs measured, before -> after "
                "calibration: " + "; ".join(parts))

    def summary(self) -> list[dict[str, Any]]:
        """Per measured trial: objective predicted before, measured, calibrated after, and
        the two relative errors (the report's prediction-error table)."""
        return [{"trial_id": e.trial_id, "predicted": e.predicted, "measured": e.measured,
                 "calibrated": e.calibrated, "error_before": e.before, "error_after": e.after}
                for e in self.errors]
