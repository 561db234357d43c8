"""Cost as the tie-break, one table row per rule (runner/rankings.py `cost_key`, `by_cost`).

Within the tie set (feasible trials whose objective intervals overlap the best's) the
cheaper comes first when `objective.tieBreak` is cost, and it becomes the best. Cheaper is
the lower upper bound of the cost's 95 % interval (the point without one); an unknown cost
sorts after every known one; nothing outside the tie set moves.
"""

from __future__ import annotations

import pytest
from tuneops.runner import rankings, score
from tuneops.runner.results import COMPLETED, TrialResult

from tuneops.spec import from_document

TPUT, TTFT, COST = "output_throughput", "ttft.p99", "cost_per_million_output_tokens"
SC = "D(100,100)"


def make_exp(tie_break=None, price=None, gpu_param=False, metric=TPUT):
    gpus = {"count": 1} if gpu_param else {"count": 1, "type": "H100"}
    if price is not None:
        gpus["pricePerHour"] = price
    objective = {"metric": metric}
    if tie_break is not None:
        objective["tieBreak"] = tie_break
    params = {"max-running-requests": [8, 64]}
    if gpu_param:
        params["deployment.gpus.type"] = ["H100", "L40S"]
    return from_document({
        "metadata": {"name": "ties"},
        "model": {"id": "org/m", "tokenizer": "assets/tokenizer"},
        "engine": {"name": "sim", "version": "0.5.23"},
        "deployment": {"mode": "local", "gpus": gpus},
        "parameters": params,
        "benchmark": {"trafficScenarios": [SC], "concurrency": [1]},
        "objective": objective,
        "slos": [{"metric": TTFT, "max": 500}],
    })


def sp(lo, hi):
    return {"mean": (lo + hi) / 2, "low": lo, "high": hi, "n": 3, "method": "repeats"}


def trial(i, exp, tput, tput_iv, cost=None, cost_iv=None, ttft=100.0):
    """A measured trial: throughput with its interval; cost (None: unknown) with its
    interval (None: measured once)."""
    values = {TPUT: tput, TTFT: ttft}
    spread = {TPUT: sp(*tput_iv), TTFT: sp(ttft - 1, ttft + 1)}
    if cost is not None:
        values[COST] = cost
        if cost_iv is not None:
            spread[COST] = sp(*cost_iv)
    r = TrialResult(trial_id=f"t{i}", index=i, params={"x": i}, args={}, status=COMPLETED,
                    metrics={SC: {1: values}}, spread={SC: {1: spread}})
    r.score = score.score_result(exp, r)
    return r


# (rule, the tied runner-up's cost and interval, the best's cost and interval, who leads)
ROWS = [
    ("the cheaper tied trial leads", (0.5, (0.4, 0.6)), (1.0, (0.9, 1.1)), "t1"),
    ("the dearer tied trial stays behind", (2.0, (1.9, 2.1)), (1.0, (0.9, 1.1)), "t0"),
    ("the upper bound decides, not the point: a cheaper point with a wide interval loses",
     (0.8, (0.1, 1.5)), (1.0, (0.95, 1.05)), "t0"),
    ("the upper bound decides: a dearer point with a tight interval wins",
     (1.02, (1.0, 1.04)), (1.0, (0.5, 1.5)), "t1"),
    ("no cost interval (one measurement): its point is its bound", (0.5, None), (1.0, (0.9, 1.1)),
     "t1"),
    ("equal costs keep the objective's order", (1.0, (0.9, 1.1)), (1.0, (0.9, 1.1)), "t0"),
    ("the runner-up's cost unknown: it is never taken as cheap", (None, None), (1.0, (0.9, 1.1)),
     "t0"),
    ("the best's cost unknown: a priced tied trial leads", (1.0, (0.9, 1.1)), (None, None), "t1"),
]


@pytest.mark.parametrize(("rule", "other", "best", "leads"), ROWS, ids=[r[0] for r in ROWS])
def test_cost_breaks_a_tie(rule, other, best, leads):
    exp = make_exp(tie_break="cost")
    top = trial(0, exp, 500.0, (480, 520), *best)
    tied = trial(1, exp, 495.0, (470, 515), *other)
    behind = trial(2, exp, 100.0, (95, 105), 0.01, (0.005, 0.015))  # cheapest, not tied
    rk = rankings.ranking([behind, tied, top], exp)
    assert rk.best.trial_id == leads, rule
    assert rk.tie_ids[0] == leads and sorted(rk.tie_ids) == ["t0", "t1"], rule
    assert [r.trial_id for r in rk.trials][2] == "t2", rule  # outside the tie set: unmoved
    assert rk.tie_break == "cost"


def test_without_the_tie_break_the_objective_order_stands():
    exp = make_exp(tie_break="none", price=2.0)
    top = trial(0, exp, 500.0, (480, 520), 1.0, (0.9, 1.1))
    tied = trial(1, exp, 495.0, (470, 515), 0.5, (0.4, 0.6))
    rk = rankings.ranking([tied, top], exp)
    assert rk.best.trial_id == "t0" and rk.tie_ids == ["t0", "t1"]


def test_an_infeasible_trial_is_never_promoted_by_cost():
    exp = make_exp(tie_break="cost")
    top = trial(0, exp, 500.0, (480, 520), 1.0, (0.9, 1.1))
    cheap_slow = trial(1, exp, 505.0, (490, 520), 0.1, (0.05, 0.15), ttft=900.0)  # SLO missed
    rk = rankings.ranking([cheap_slow, top], exp)
    assert rk.best.trial_id == "t0" and rk.tie_ids == ["t0"]
    assert [r.trial_id for r in rk.trials] == ["t0", "t1"]


def test_a_cheap_trial_beyond_the_noise_is_not_promoted():
    exp = make_exp(tie_break="cost")
    top = trial(0, exp, 500.0, (480, 520), 1.0, (0.9, 1.1))
    far = trial(1, exp, 300.0, (290, 310), 0.1, (0.05, 0.15))
    rk = rankings.ranking([far, top], exp)
    assert rk.best.trial_id == "t0" and rk.tie_ids == ["t0"]


def test_a_cost_objective_breaks_ties_on_its_own_metric():
    exp = make_exp(tie_break="cost", metric="cost_per_million_tokens")
    name = "cost_per_million_tokens"

    def costed(i, value, iv, out_cost):
        r = TrialResult(trial_id=f"t{i}", index=i, params={}, args={}, status=COMPLETED,
                        metrics={SC: {1: {name: value, COST: out_cost, TTFT: 100.0}}},
                        spread={SC: {1: {name: sp(*iv), TTFT: sp(99, 101)}}})
        r.score = score.score_result(exp, r)
        return r

    best = costed(0, 1.00, (0.80, 1.30), out_cost=0.1)  # lowest point, widest interval
    other = costed(1, 1.05, (1.00, 1.10), out_cost=9.0)
    rk = rankings.ranking([best, other], exp)
    assert rk.tie_ids == ["t1", "t0"]  # by the objective's own upper bound, not output cost


@pytest.mark.parametrize(("tie_break", "price", "gpu_param", "want"), [
    (None, None, False, "none"),  # one GPU type, the table's price: cost mirrors throughput
    (None, 2.5, False, "cost"),  # the experiment names its price: it is about cost
    (None, None, True, "cost"),  # GPU types compared
    ("none", None, True, "none"),  # said explicitly
    ("cost", None, False, "cost"),
])
def test_the_default_tie_break(tie_break, price, gpu_param, want):
    assert make_exp(tie_break, price, gpu_param).objective.tie_break == want


def test_the_report_shows_the_cost_that_ordered_the_tie_set():
    from tuneops.runner.report import markdown

    exp = make_exp(tie_break="cost")
    top = trial(0, exp, 500.0, (480, 520), 1.0, (0.9, 1.1))
    tied = trial(1, exp, 495.0, (470, 515), 0.5, (0.4, 0.6))
    rk = rankings.ranking([tied, top], exp)
    text = "\n".join(markdown._decision(exp, rk, {}))
    assert f"| trial | parameters | {TPUT} | n | status | {COST} |" in text
    assert text.index("`t1`") < text.index("`t0`")  # cheaper first
    assert "0.5 ± 0.1 (at most 0.6)" in text and "Below: the cheapest of them." in text
    plain = "\n".join(markdown._decision(exp, rankings.ranking(
        [tied, top], make_exp(tie_break="none")), {}))
    assert COST not in plain and "Below: the first of them by point value." in plain


def test_a_regenerated_report_ranks_with_the_runs_tie_break():
    """`tuneops report` rebuilds the experiment from results.json: the tie-break the run
    applied comes back with it, even where the default would differ (the price the run
    was given is not recorded)."""
    from tuneops.runner.report import regenerate, results_json

    exp = make_exp(tie_break="cost")  # one GPU type, no price of its own: default none
    top = trial(0, exp, 500.0, (480, 520), 1.0, (0.9, 1.1))
    tied = trial(1, exp, 495.0, (470, 515), 0.5, (0.4, 0.6))
    hardware = {"gpu_count": 1, "gpu_type": "H100", "deployment": "local"}
    doc = results_json.build(exp, rankings.ranking([top, tied], exp), {
        "experiment": {"name": "ties"}, "engine": {"name": "sim"}, "hardware": hardware})
    assert doc["objective"]["tieBreak"] == "cost" and doc["decision"]["tie_break"] == "cost"
    rebuilt = regenerate.experiment(doc)
    assert rebuilt.objective.tie_break == "cost"
    assert rankings.ranking([top, tied], rebuilt).tie_ids == ["t1", "t0"]
    doc["objective"].pop("tieBreak")  # a report written before tieBreak: the default
    assert regenerate.experiment(doc).objective.tie_break == "none"


def test_only_the_tie_sets_own_places_change():
    """t1 is beyond the noise but ranks between two tied trials: it keeps its place (the
    confirmation phase takes the top k by place), the tied ones swap theirs."""
    exp = make_exp(tie_break="cost")
    top = trial(0, exp, 500.0, (499, 501), 1.0, (0.9, 1.1))
    between = trial(1, exp, 495.0, (494.5, 495.5), 0.1, (0.05, 0.15))  # not tied, cheapest
    wide = trial(2, exp, 470.0, (440, 510), 0.5, (0.4, 0.6))  # tied (reaches 501)
    rk = rankings.ranking([wide, between, top], exp)
    assert [r.trial_id for r in rk.trials] == ["t2", "t1", "t0"] and rk.best.trial_id == "t2"
    plain = make_exp(tie_break="none")
    assert [r.trial_id for r in rankings.ranking([wide, between, top], plain).trials] == [
        "t0", "t1", "t2"]


def test_a_tie_break_read_from_a_file_breaks_ties_by_cost():
    """Rule: `tieBreak: cost` as a YAML file spells it (a string of its own, not this
    module's constant) is compared by value: the cheaper tied trial leads."""
    from ruamel.yaml import YAML

    exp = make_exp(tie_break=YAML(typ="safe").load("tieBreak: cost\n")["tieBreak"])
    top = trial(0, exp, 500.0, (480, 520), 1.0, (0.9, 1.1))
    tied = trial(1, exp, 495.0, (470, 515), 0.5, (0.4, 0.6))
    assert rankings.ranking([tied, top], exp).tie_ids == ["t1", "t0"]
