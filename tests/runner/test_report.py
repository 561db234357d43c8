"""Run reports: schema-valid results.json, a report.md people and bots can read, plots."""

from __future__ import annotations

import json

import jsonschema
import pytest
from tuneops.runner import rankings, score
from tuneops.runner.report import markdown, provenance, results_json, write_report
from tuneops.runner.report.plots import TRADEOFF_FILE, param_file
from tuneops.runner.results import COMPLETED, STATUSES, TrialResult

from tests.runner.report_helpers import doc_with, make_exp, make_results, real_metrics
from tuneops.spec import from_document


@pytest.fixture
def written(tmp_path):
    exp = make_exp()
    results = make_results(exp)
    out = write_report(tmp_path / "reports" / exp.name / "run1", exp, results, run_id="run1",
                       manifests_root=tmp_path / "manifests")
    return exp, results, out


def test_results_json_validates_and_ranks(written):
    exp, results, out = written
    doc = json.loads((out / "results.json").read_text())
    results_json.validate(doc)
    assert doc["schema_version"] == 1 and doc["simulated"] is True
    assert doc["run"]["id"] == "run1"
    assert doc["experiment"]["name"] == exp.name
    ids = [t["trial_id"] for t in doc["trials"]]
    assert ids == ["trial000001", "trial000000", "trial000002", "trialfail2", "trialfail1"]
    assert [t["rank"] for t in doc["trials"]] == [1, 2, 3, 4, 5]
    assert doc["best_trial_id"] == "trial000001"
    assert doc["summary"] == {"trials": 5, "completed": 3, "feasible": 2, "failed": 2,
                              "reused": 0}
    assert all(t["reused_from"] is None for t in doc["trials"])  # all measured in this run
    best = doc["trials"][0]
    assert best["score"]["feasible"] and best["feasible"]
    assert set(best["metrics"]) == set(exp.benchmark.traffic_scenarios)
    assert set(best["metrics"]["D(20,10)"]) == {"1", "2"}
    assert doc["trials"][2]["score"]["feasible"] is False
    assert doc["trials"][3]["score"] is None and doc["trials"][3]["attempts"] == 3
    assert doc["objective"]["metric"] == "output_throughput_per_gpu"
    assert [s["metric"] for s in doc["slos"]] == ["ttft.p99", "error_rate"]
    assert doc["tools"]["genai_bench"] == "0.0.5"


def test_provenance_facts(written):
    _, _, out = written
    doc = json.loads((out / "results.json").read_text())
    # the repository of the working directory, or nulls outside one (tests/runner/test_provenance.py
    # checks both against a repository it makes)
    assert doc["git"] == provenance.git_facts()
    host = doc["hardware"]["host"]
    assert host["cpu_cores"] >= 1 and host["memory_bytes"] > 0
    assert doc["hardware"]["gpu_type"] == "H100" and doc["hardware"]["gpu_count"] == 1
    assert doc["engine"] == {**doc["engine"], "name": "sim", "image": "img:1", "simulated": True}
    assert doc["run"]["started_at"] == "2026-01-01T00:00:00Z"


def test_experiment_sha_recorded(tmp_path):
    f = tmp_path / "e.yaml"
    f.write_text("doc")
    exp = make_exp(source_file=str(f))
    info = provenance.collect(exp, run_id="r")
    # relative to where it lives (no repository here): a report holds no machine paths
    assert info["experiment"]["file"] == "e.yaml"
    assert info["experiment"]["sha256"] == exp.source_sha256 and len(exp.source_sha256) == 64


def test_simulated_banner_first_and_real_engine_has_none(written, tmp_path):
    _, _, out = written
    md = (out / "report.md").read_text()
    assert md.splitlines()[0] == f"# ⚠️ {markdown.BANNER}"
    exp = make_exp(engine="sglang")
    results = make_results(exp)
    for r in results:
        r.simulated = False
    real = write_report(tmp_path / "real", exp, results, run_id="r2", manifests_root=None)
    text = (real / "report.md").read_text()
    assert "SIMULATED" not in text
    assert json.loads((real / "results.json").read_text())["simulated"] is False


def test_report_sections(written):
    exp, _, out = written
    md = (out / "report.md").read_text()
    for heading in ("## Best configuration", "## All trials", "## Per-concurrency detail",
                    "## Failures", "## Provenance"):
        assert heading in md
    assert "Trial `trial000001`" in md
    assert "CUDA out of memory \\| oops" not in md  # reasons go in code blocks, unescaped
    assert "CUDA out of memory | oops" in md and "port in use" in md
    # the engine argv with the best trial's flags, since no manifests were rendered
    block = md.split("```sh\n", 1)[1].split("\n```", 1)[0]
    assert "tuneops.engines.sim" in block and "--max-running-requests 64" in block
    assert "--schedule-policy lpm" in block
    assert "![throughput_vs_latency](plots/throughput_vs_latency.png)" in md


def test_deploy_command_prefers_rendered_docker_line(tmp_path):
    exp = make_exp()
    results = make_results(exp)
    folder = tmp_path / "manifests" / exp.name / "trial000001"
    folder.mkdir(parents=True)
    (folder / "docker-run.sh").write_text("#!/bin/sh\n# comment\ndocker run --detach img:1 x\n")
    out = write_report(tmp_path / "r", exp, results, run_id="r",
                       manifests_root=tmp_path / "manifests")
    md = (out / "report.md").read_text()
    assert "```sh\ndocker run --detach img:1 x\n```" in md


def test_summary_table_is_gfm(written):
    exp, results, _ = written
    text = markdown.summary_table(rankings.ranking(results, exp), exp)
    lines = text.splitlines()
    assert len(lines) == 2 + len(results)
    assert all(ln.startswith("| ") and ln.endswith(" |") for ln in lines)
    ncols = lines[0].count(" | ")
    assert all(ln.count(" | ") == ncols for ln in lines)  # no unescaped pipes in cells
    assert set(lines[1].replace("|", "").split()) <= {"---", "--:"}
    assert "`trial000001`" in lines[2] and "feasible" in lines[2]
    assert "failed_config" in lines[-1]
    assert "❌ ttft.p99" in text and "✅ error_rate" in text
    # 10 requests cannot judge a p99 (it needs 100): the verdict says uncertain, not met
    assert "❔ ttft.p99" in text and "✅ ttft.p99" not in text


def test_summary_table_formats_the_order_it_is_given(written):
    """Rank once: a list is taken in its order (e.g. read back from results.json)."""
    exp, results, _ = written
    text = markdown.summary_table(list(reversed(results)), exp)
    rows = text.splitlines()[2:]
    assert f"`{results[-1].trial_id}`" in rows[0]


def test_plots_written_with_fixed_names(written):
    exp, _, out = written
    names = sorted(p.name for p in (out / "plots").iterdir())
    expected = sorted([TRADEOFF_FILE] + [param_file(p.name) for p in exp.parameters])
    assert names == expected
    for p in (out / "plots").iterdir():
        assert p.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and p.stat().st_size > 5000


def test_rewrite_replaces_atomically_and_leaves_no_temp(written):
    exp, results, out = written
    write_report(out, exp, results[:2], run_id="run1", manifests_root=None)
    doc = json.loads((out / "results.json").read_text())
    assert len(doc["trials"]) == 2
    assert [p.name for p in out.parent.iterdir()] == ["run1"]


def test_schema_violation_writes_nothing(tmp_path):
    exp = make_exp()
    info = provenance.collect(exp, run_id="r")
    info["git"]["commit"] = "not-a-sha"
    target = tmp_path / "rep" / "r"
    with pytest.raises(jsonschema.ValidationError):
        write_report(target, exp, make_results(exp), info)
    assert not target.exists()
    assert not any((tmp_path / "rep").iterdir()) if (tmp_path / "rep").exists() else True


def test_unmeasured_violation_written_as_null(tmp_path):
    exp = make_exp()
    r = TrialResult(trial_id="t", index=0, params={}, args={}, status=COMPLETED,
                    metrics={"D(20,10)": {1: {"output_throughput_per_gpu": 5.0}}})
    r.score = score.score_trial(exp, r.metrics)  # no ttft measured → infinite violation
    out = write_report(tmp_path / "r", exp, [r], run_id="r", manifests_root=None)
    text = (out / "results.json").read_text()
    doc = json.loads(text)
    assert doc["trials"][0]["score"]["violation"] is None
    assert "Infinity" not in text and "NaN" not in text
    assert doc["best_trial_id"] is None
    assert "No trial met every SLO" in (out / "report.md").read_text()


def test_empty_result_list_still_reports(tmp_path):
    exp = make_exp()
    out = write_report(tmp_path / "r", exp, [], run_id="r", manifests_root=None)
    doc = json.loads((out / "results.json").read_text())
    assert doc["trials"] == [] and doc["best_trial_id"] is None


def test_a_simulated_trial_marks_the_report_simulated(tmp_path):
    exp = make_exp(engine="sglang")
    results = make_results(exp)  # trials carry simulated=True
    out = write_report(tmp_path / "r", exp, results, run_id="r", manifests_root=None)
    assert json.loads((out / "results.json").read_text())["simulated"] is True
    assert (out / "report.md").read_text().startswith(f"# ⚠️ {markdown.BANNER}")


def test_report_says_what_hardware_it_ran_on(written):
    _, _, out = written
    md = (out / "report.md").read_text()
    doc = json.loads((out / "results.json").read_text())
    line = next(ln for ln in md.splitlines() if ln.startswith("**Measured on:**"))
    assert "1 × H100 per trial (simulated)" in line
    assert str(doc["hardware"]["host"]["cpu_cores"]) + " cores" in line


def test_summary_md_is_the_pr_block(written):
    exp, _, out = written
    summary = (out / "summary.md").read_text()
    assert summary.startswith(f"### `{exp.name}` — run `run1`")
    assert markdown.BANNER in summary  # simulated results never lose their label
    assert "| # | trial |" in summary


def test_report_schema_allows_exactly_the_runners_statuses():
    """runner/results.py is the one list of trial statuses; the schema must not drift."""
    found = []

    def walk(node):
        if isinstance(node, dict):
            if "status" in node and isinstance(node["status"], dict) and "enum" in node["status"]:
                found.append(node["status"]["enum"])
            for v in node.values():
                walk(v)
        elif isinstance(node, list):
            for v in node:
                walk(v)

    walk(results_json.schema())
    assert found and all(tuple(enum) == STATUSES for enum in found)


# ---------------------------------------------------------------- noise in the report


def repeated(exp, i, params, samples_by_repeat, contended=False, command=()):
    """A completed trial measured once per entry of `samples_by_repeat` (its throughput
    scale over the real fixture), summarized the way the runner does."""
    from tuneops.runner.trial import summarize

    base = real_metrics(1.0)
    samples: dict = {}
    for scale in samples_by_repeat:
        for sc, by_c in base.items():
            for c, m in by_c.items():
                rep = {k: (v * scale if "throughput" in k else v) for k, v in m.items()}
                samples.setdefault(sc, {}).setdefault(c, []).append(rep)
    r = TrialResult(trial_id=f"rep{i}", index=i, params=params, args=params, status=COMPLETED,
                    samples=samples, measurements=len(samples_by_repeat), contended=contended,
                    host_load=[{"others_cpu_share": 0.5 if contended else 0.01,
                                "contended": contended}], command=list(command))
    summarize(exp, r)
    return r


def test_tie_set_is_named_at_the_top_and_values_carry_their_spread(tmp_path):
    exp = make_exp(slo_ms=1e9)
    a = repeated(exp, 0, {"max-running-requests": 8, "schedule-policy": "lpm"}, [1.0, 1.1, 0.9])
    b = repeated(exp, 1, {"max-running-requests": 64, "schedule-policy": "lpm"}, [1.02, 0.95, 1.0])
    c = repeated(exp, 2, {"max-running-requests": 8, "schedule-policy": "fcfs"}, [0.5, 0.51, 0.49])
    rk = rankings.ranking([a, b, c], exp)
    assert set(rk.tie_ids) == {"rep0", "rep1"}
    out = write_report(tmp_path / "r", exp, [a, b, c], run_id="r", ranking=rk)
    md = (out / "report.md").read_text()
    top = md.split("## All trials")[0]
    assert "## Tie set: 2 configurations within the noise" in top
    assert top.index("## Tie set") < top.index("## Best configuration")
    assert "`rep0`" in top and "`rep1`" in top and "`rep2`" not in top.split("## Best")[0]
    best = rk.best.score
    half = (best.objective_high - best.objective_low) / 2
    assert f"{markdown.fmt(best.objective)} ± {markdown.fmt(half)}" in md
    doc = json.loads((out / "results.json").read_text())
    results_json.validate(doc)
    assert doc["decision"]["tie_set"] == rk.tie_ids and doc["decision"]["separated"] is False
    first = doc["trials"][0]
    sp = first["spread"]["D(20,10)"]["1"]["output_throughput_per_gpu"]
    assert sp["n"] == 3 and sp["method"] == "repeats" and sp["low"] < sp["mean"] < sp["high"]
    assert first["score"]["objective_low"] == pytest.approx(best.objective_low)
    assert first["measurements"] == 3 and first["verdict"] in ("feasible", "uncertain")
    summary = (out / "summary.md").read_text()
    assert "**Tie set (2, within the noise):**" in summary


def test_results_json_and_plots_share_the_rankings_pareto(written):
    exp, results, out = written
    doc = json.loads((out / "results.json").read_text())
    rk = rankings.ranking(results, exp)
    assert (doc["pareto"]["x"], doc["pareto"]["y"]) == rk.pareto_axes == rankings.pareto_axes(exp)
    assert doc["pareto"]["trial_ids"] == [r.trial_id for r in rk.pareto]


def test_contended_trials_are_flagged(tmp_path):
    exp = make_exp(slo_ms=1e9)
    a = repeated(exp, 0, {"max-running-requests": 8, "schedule-policy": "lpm"}, [1.0, 1.0],
                 contended=True)
    out = write_report(tmp_path / "r", exp, [a], run_id="r")
    md = (out / "report.md").read_text()
    assert "**Contended host.** 1 of 1 trial(s)" in md and "⚠️ contended" in md
    doc = json.loads((out / "results.json").read_text())
    assert doc["decision"]["contended_trials"] == ["rep0"]


def cpu_exp(tmp_path):
    return from_document({
        "metadata": {"name": "cpu-report"},
        "model": {"id": "m.gguf", "servedName": "m", "tokenizer": "assets/tokenizer"},
        "engine": {"name": "llamacpp"},
        "deployment": {"mode": "local", "gpus": {"count": 0}},
        "parameters": {"parallel": [1, 2]},
        "benchmark": {"trafficScenarios": ["D(20,10)"], "concurrency": [1, 2]},
        "objective": {"metric": "output_throughput"},
    })


def test_cpu_engine_report_has_no_per_gpu_column_and_deploys_the_command_it_ran(tmp_path):
    exp = cpu_exp(tmp_path)
    ran = ["taskset", "-c", "0", "/venv/bin/python", "-m", "tuneops.engines.llamacpp",
           "--model", "m.gguf", "--port", "8080", "--parallel", "2"]
    r = repeated(exp, 0, {"parallel": 2}, [1.0, 1.05], command=ran)
    out = write_report(tmp_path / "r", exp, [r], run_id="r", manifests_root=None)
    md = (out / "report.md").read_text()
    assert "out tok/s/GPU" not in md and "out tok/s" in md
    assert "taskset -c 0 /venv/bin/python -m tuneops.engines.llamacpp --model m.gguf" in md
    assert "the command tuneops ran" in md


def test_plot_points_are_named_by_parameters_on_discrete_axes():
    from tuneops.runner.report import plots

    exp = make_exp()
    r = TrialResult(trial_id="x" * 12, index=0, params={"max-running-requests": 8,
                                                        "schedule-policy": "lpm"},
                    args={}, status=COMPLETED)
    assert plots.point_label(r) == "max-running-requests=8 schedule-policy=lpm"
    by_name = {p.name: p for p in exp.parameters}
    assert plots.discrete(by_name["max-running-requests"], [8, 64])
    float_exp = from_document({**doc_with(parameters={"mem-fraction-static": {
        "type": "float", "low": 0.7, "high": 0.9}})})
    assert not plots.discrete(float_exp.parameters[0], [0.7, 0.8])


@pytest.mark.parametrize(("done", "noted"), [(13, True), (200, False)])
def test_a_throughput_from_few_requests_a_run_is_noted_as_coarse(tmp_path, done, noted):
    """genai-bench ends a run on a whole second: a throughput moves by one request's worth,
    1/N of it. 13 requests a run is a 8 % step, worth a note; 200 (0.5 %) is not."""
    from tuneops.runner.trial import summarize

    exp = make_exp(slo_ms=1e9)
    a = repeated(exp, 0, {"max-running-requests": 8, "schedule-policy": "lpm"}, [1.0, 1.1])
    for by_c in a.samples.values():
        for reps in by_c.values():
            for rep in reps:
                rep["num_completed_requests"] = float(done)
    summarize(exp, a)
    md = (write_report(tmp_path / "r", exp, [a], run_id="r") / "report.md").read_text()
    assert ("**Coarse throughput.**" in md) is noted
    if noted:
        assert "with as few as 13 requests a run, one step is 8 % of the value" in md
