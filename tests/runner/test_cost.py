"""Cost per million tokens: priced per trial GPU type, with intervals over repeats, and
usable as the objective (lower first)."""

from __future__ import annotations

import pytest
from tuneops.runner import cost, stats

from tests.runner.report_helpers import doc_with
from tuneops.spec import from_document


def _exp(**gpus):
    doc = doc_with()
    doc["deployment"] = {"mode": "local", "gpus": {"count": 1, "type": "H100", **gpus}}
    return from_document(doc)


def test_the_experiments_price_before_the_table_and_the_trials_own_type():
    table = cost.price_table()
    assert cost.hourly_price(_exp(), {}, 2) == 2 * table["H100"]
    assert cost.hourly_price(_exp(pricePerHour=2.5), {}, 1) == 2.5
    per_type = _exp(pricePerHour={"H100": 2.5, "L40S": 0.9})
    assert cost.hourly_price(per_type, {"gpu-type": "L40S"}, 1) == 0.9  # the trial's type
    assert cost.hourly_price(per_type, {"gpu-type": "A100-80G"}, 1) == table["A100-80G"]
    assert cost.hourly_price(_exp(), {"gpu-type": "TPUv9"}, 1) is None  # unknown: no cost
    assert cost.hourly_price(_exp(), {}, 0) is None  # a CPU engine holds no GPU


def test_cost_per_million_tokens_with_an_interval_over_repeats():
    reps = [cost.add_costs({"output_throughput": v, "total_throughput": 2 * v}, 3.6)
            for v in (1000.0, 1100.0, 900.0)]
    assert reps[0]["cost_per_million_output_tokens"] == pytest.approx(1.0)  # 3.6 $/h / 3.6M
    assert reps[0]["cost_per_million_tokens"] == pytest.approx(0.5)
    metrics, spread = stats.summarize({"D(1,1)": {4: reps}})
    s = spread["D(1,1)"][4]["cost_per_million_output_tokens"]
    assert s.low < metrics["D(1,1)"][4]["cost_per_million_output_tokens"] < s.high
    assert cost.add_costs({"output_throughput": 0.0}, 3.6) == {"output_throughput": 0.0}
    assert "cost_per_million_output_tokens" not in cost.add_costs({"output_throughput": 5}, None)


def test_a_forged_price_is_refused_by_validate(tmp_path):
    from tuneops.cli import main

    src = (tmp_path / "e.yaml")
    text = open("experiments/examples/sim-gpu-cost.yaml").read()
    src.write_text(text.replace("{H100: 2.50, L40S: 0.90}", "{H100: -1, L40S: .inf}"))
    assert main(["validate", str(src)]) == 2
