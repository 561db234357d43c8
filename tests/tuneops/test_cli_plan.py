"""`tuneops plan`: the trial table, the GPU-hour bound, and exit codes for bad input."""

from __future__ import annotations

import json

from tests.paths import ROOT
from tuneops import cli
from tuneops.plan import make_plan
from tuneops.validate import load_experiment

EXAMPLES = ROOT / "experiments" / "examples"


def test_plan_json_lists_every_trial_with_its_id_and_the_bound(capsys):
    path = EXAMPLES / "sglang-docker.yaml"
    assert cli.main(["plan", str(path), "--format", "json"]) == 0
    out = json.loads(capsys.readouterr().out)
    plan = make_plan(load_experiment(path))
    assert out["grid_size"] == 96 and len(out["trials"]) == 80  # 16 rejected by the constraint
    assert [t["id"] for t in out["trials"]] == [t.id for t in plan.trials]
    # 48 trials (maxTrials) x (900 s start-up + 2 scenarios x 3 levels x 2 min) x 1 GPU = 33.6 h,
    # capped by the 6 h time budget
    assert out["max_gpu_hours"] == 6.0


def test_plan_text_speaks_of_machine_hours_for_cpu_engines(capsys):
    assert cli.main(["plan", str(EXAMPLES / "quickstart.yaml")]) == 0
    out = capsys.readouterr().out
    assert "quickstart: 4 trial(s) (grid search)" in out
    # 4 x (3 fresh engines x 60 s start + 2 levels x 3 repeats x 60 s)
    # + confirmation: 3 x 1 x (60 + 2 x 60) = 2700 s
    assert "at most 4 trial(s), on the CPU: up to 0.75 machine-hours" in out


def test_plan_of_a_bad_file_exits_2_naming_the_field(tmp_path, capsys):
    bad = tmp_path / "bad.yaml"
    bad.write_text((EXAMPLES / "quickstart.yaml").read_text().replace("parallel:", "paralel:"))
    assert cli.main(["plan", str(bad)]) == 2
    err = capsys.readouterr().err
    assert "parameters.paralel: unknown llamacpp flag 'paralel' (did you mean 'parallel'?)" in err
