"""AIPerf's result files → tuneops metrics, read once (runner/loadgen/aiperf.py), and the
load generator's own shortfall detected from its send times."""

from __future__ import annotations

import dataclasses
import json
import shutil
from pathlib import Path

import pytest
from tuneops.runner.loadgen import aiperf

from tuneops.metrics import ACHIEVED_RATE, ERROR_RATE, METRICS, OFFERED_RATE, RequestSlo
from tuneops.metrics.goodput import GOOD_FRACTION, GOODPUT_OUTPUT_TOKENS, GOODPUT_REQUESTS
from tuneops.spec import Arrival, Load

FIXTURE = Path(__file__).resolve().parents[2] / "fixtures" / "aiperf" / "poisson-2rps"
POISSON = Load(rates=(2.0,), arrival=Arrival.POISSON, requests=60)


def records() -> list[dict]:
    return [json.loads(line) for line in (FIXTURE / aiperf.RECORDS).read_text().splitlines()]


def test_every_number_comes_from_aiperfs_files_under_tuneops_names():
    point = aiperf.read_point(FIXTURE, POISSON, 2.0)
    summary = json.loads((FIXTURE / aiperf.SUMMARY).read_text())
    assert point.ok and point.behind == ""
    assert point.metrics["ttft.p99"] == summary["time_to_first_token"]["p99"]
    assert point.metrics["ttft.mean"] == summary["time_to_first_token"]["avg"]
    assert point.metrics["tpot.p50"] == summary["inter_token_latency"]["p50"]
    assert point.metrics["e2e_latency.p90"] == summary["request_latency"]["p90"]
    assert point.metrics["output_throughput"] == summary["output_token_throughput"]["avg"]
    assert point.metrics["requests_per_s"] == summary["request_throughput"]["avg"]
    assert point.metrics[ERROR_RATE] == 0.0 and point.metrics["num_completed_requests"] == 60
    # every name is one the metric table knows (or a count the scorer reads)
    counts = {"num_requests", "num_completed_requests", "num_error_requests", "run_duration_s"}
    assert set(point.metrics) - counts <= set(METRICS)


def test_per_request_records_feed_the_intervals():
    point = aiperf.read_point(FIXTURE, POISSON, 2.0)
    assert {k: len(v) for k, v in point.records.items()} == {
        "ttft": 60, "tpot": 60, "e2e_latency": 60, "output_latency": 60,
        "output_inference_speed": 60}
    first = records()[0]["metrics"]
    assert point.records["output_latency"][0] == pytest.approx(
        first["request_latency"]["value"] - first["time_to_first_token"]["value"])


def test_offered_and_achieved_rate_are_both_reported():
    point = aiperf.read_point(FIXTURE, POISSON, 2.0)
    starts = sorted(r["metadata"]["request_start_ns"] for r in records())
    assert point.metrics[OFFERED_RATE] == 2.0
    assert point.metrics[ACHIEVED_RATE] == pytest.approx(59 / ((starts[-1] - starts[0]) / 1e9))


def test_a_generator_that_sent_too_slowly_is_flagged():
    # the same run, read as if 4 req/s had been offered: it sent at about 2
    point = aiperf.read_point(FIXTURE, POISSON, 4.0)
    assert "sent" in point.behind and "of the 4 offered" in point.behind


def test_late_sends_are_flagged(tmp_path):
    folder = tmp_path / "late"
    shutil.copytree(FIXTURE, folder)
    recs = records()
    for r in recs[::4]:  # a quarter of the sends 200 ms behind their schedule
        r["metadata"]["request_start_ns"] = r["metadata"]["credit_issued_ns"] + 200_000_000
    (folder / aiperf.RECORDS).write_text("\n".join(json.dumps(r) for r in recs) + "\n")
    point = aiperf.read_point(folder, POISSON, 2.0)
    assert "more than 50 ms behind their schedule" in point.behind
    # at 0.25 req/s (4 s gaps) the same lateness is a twentieth of a gap: not behind
    slow = Load(rates=(0.25,), arrival=Arrival.POISSON, requests=60)
    assert "schedule" not in aiperf.fell_behind(slow, 0.25, [], aiperf.lateness_ms(recs))


def test_poisson_randomness_alone_is_not_a_shortfall():
    # 60 Poisson gaps: the achieved rate's own sd is about 13 %; 10 % short is noise
    assert aiperf.fell_behind(POISSON, 2.0, [i / 1.8 for i in range(60)], []) == ""
    constant = Load(rates=(2.0,), arrival=Arrival.CONSTANT, requests=60)
    assert "short" in aiperf.fell_behind(constant, 2.0, [i / 1.8 for i in range(60)], [])


@pytest.mark.parametrize("damage", ["missing", "not json", "errors only"])
def test_bad_result_files_are_a_reason_never_an_exception(tmp_path, damage):
    folder = tmp_path / "bad"
    shutil.copytree(FIXTURE, folder)
    if damage == "missing":
        (folder / aiperf.RECORDS).unlink()
    elif damage == "not json":
        (folder / aiperf.SUMMARY).write_text("{")
    else:
        recs = [{**r, "error": {"code": 503, "message": "overloaded"}} for r in records()]
        (folder / aiperf.RECORDS).write_text("\n".join(json.dumps(r) for r in recs) + "\n")
    point = aiperf.read_point(folder, POISSON, 2.0)
    assert not point.ok and point.reason


def test_the_command_offers_the_experiments_arrival_process():
    from tuneops.validate import load_experiment

    exp = load_experiment(Path("experiments/examples/sim-poisson.yaml"))
    cmd = aiperf.build_command(exp, "http://127.0.0.1:1/", "/tmp/x", scenario="D(100,200)",
                               rate=1.5, aiperf="aiperf", tokenizer="/tok")
    flags = dict(zip(cmd[2::2], cmd[3::2], strict=False))
    assert cmd[cmd.index("--request-rate") + 1] == "1.5"
    assert cmd[cmd.index("--arrival-pattern") + 1] == "poisson"
    assert cmd[cmd.index("--isl") + 1] == "100" and cmd[cmd.index("--osl") + 1] == "200"
    assert cmd[cmd.index("--request-count") + 1] == str(exp.benchmark.load.requests)
    assert "--url" in flags or "--url" in cmd
    gamma = Load(rates=(1.0,), arrival=Arrival.GAMMA, burstiness=0.5, requests=10)
    assert aiperf.arrival_flags(gamma) == ["--arrival-pattern", "gamma",
                                           "--arrival-smoothness", "0.5"]


# Goodput from AIPerf's own per-request export: each record of profile_export.jsonl
# (aiperf/common/models/record_models.py MetricRecordInfo: metadata, metrics as
# {value, unit}, error) is judged by the per-request SLOs.
TTFT_60 = RequestSlo("ttft", 60.0)
TPOT_7 = RequestSlo("tpot", 7.0)


def _good_by_hand(recs: list[dict], ttft_max: float, itl_max: float) -> tuple[int, int]:
    """(good requests, their output tokens), read straight off the records."""
    good = [r for r in recs if not r.get("error")
            and r["metrics"]["time_to_first_token"]["value"] <= ttft_max
            and r["metrics"]["inter_token_latency"]["value"] <= itl_max]
    return len(good), sum(r["metrics"]["output_sequence_length"]["value"] for r in good)


def test_goodput_judges_every_request_aiperf_recorded():
    recs = records()
    point = aiperf.read_point(FIXTURE, POISSON, 2.0, request_slos=(TTFT_60, TPOT_7))
    duration = json.loads((FIXTURE / aiperf.SUMMARY).read_text())["benchmark_duration"]["avg"]
    good, tokens = _good_by_hand(recs, 60.0, 7.0)
    assert 0 < good < len(recs)  # the bounds split this run: the test can tell them apart
    assert point.metrics[GOODPUT_REQUESTS] == pytest.approx(good / duration)
    assert point.metrics[GOODPUT_OUTPUT_TOKENS] == pytest.approx(tokens / duration)
    assert point.metrics[GOOD_FRACTION] == pytest.approx(good / len(recs))
    # without per-request SLOs there is no goodput: nothing says what a good request is
    assert GOODPUT_REQUESTS not in aiperf.read_point(FIXTURE, POISSON, 2.0).metrics


def test_failed_requests_and_unknown_units_are_never_good(tmp_path):
    folder = tmp_path / "bad-requests"
    shutil.copytree(FIXTURE, folder)
    recs = records()
    recs[0]["error"] = {"code": 503, "type": "Service Unavailable", "message": "overloaded"}
    recs[1]["metrics"]["time_to_first_token"]["unit"] = "furlongs"  # not a time: not judged
    recs[2]["metrics"]["time_to_first_token"] = {"value": 0.01, "unit": "sec"}  # 10 ms
    (folder / aiperf.RECORDS).write_text("\n".join(json.dumps(r) for r in recs) + "\n")
    rows = aiperf.goodput_records(recs)
    assert rows[0]["error"] and "ttft" not in rows[1] and rows[2]["ttft"] == pytest.approx(10)
    point = aiperf.read_point(folder, POISSON, 2.0, request_slos=(RequestSlo("ttft", 1e9),))
    assert point.metrics[GOOD_FRACTION] == pytest.approx(58 / 60)


def test_rate_runs_hand_the_experiments_per_request_slos_to_the_reader(monkeypatch, tmp_path):
    # the sweep reads every point with exp.request_slos (runner/loadgen/rate.py)
    from tuneops.runner.loadgen import rate

    from tuneops.validate import load_experiment

    exp = load_experiment(Path("experiments/examples/sim-poisson.yaml"))
    seen = []
    real_read = aiperf.read_point

    def fake_read(folder, load, offered, *, gpu_count=1, request_slos=()):
        seen.append(tuple(request_slos))
        return real_read(FIXTURE, POISSON, 2.0, request_slos=request_slos)

    class Done:
        log_path = tmp_path / "log"

        def __init__(self, *a, **k):
            pass

        def wait(self, *a, **k):
            return 0, ""

    exp = dataclasses.replace(exp, request_slos=(TTFT_60,), benchmark=dataclasses.replace(
        exp.benchmark, load=dataclasses.replace(exp.benchmark.load, rates=(2.0,), search=None)))
    monkeypatch.setattr(aiperf, "read_point", fake_read)
    monkeypatch.setattr(rate, "BenchProcess", Done)
    monkeypatch.setattr(rate, "resolve_tokenizer", lambda exp: "/tok")
    outcome = rate.run(exp, "http://127.0.0.1:1", tmp_path, gpu_count=1, aiperf_cli=__file__)
    assert seen == [(TTFT_60,)]
    assert GOODPUT_REQUESTS in outcome.metrics["D(50,50)"][2.0]


# Trace replay: the trace handed to AIPerf in its mooncake_trace format
# (aiperf/dataset/loader/models.py MooncakeTrace: timestamp in ms, input_length,
# output_length) and replayed by its fixed schedule.

def trace_exp(trace: Path):
    from tuneops.spec import from_document

    return from_document({
        "metadata": {"name": "t"}, "model": {"id": "org/m", "servedName": "m"},
        "engine": {"name": "sim", "version": "0.5.23"},
        "deployment": {"mode": "local", "gpus": {"count": 1, "type": "H100"}},
        "benchmark": {"trafficScenarios": ["trace"], "trace": str(trace),
                      "load": {"type": "trace"}},
        "objective": {"metric": "output_throughput"}})


def test_a_trace_becomes_aiperfs_schedule_in_milliseconds(tmp_path):
    from tuneops.workloads import read_trace

    trace = tmp_path / "t.jsonl"
    trace.write_text('{"timestamp": 1.25, "input_tokens": 7, "output_tokens": 3}\n'
                     '{"timestamp": 2.5, "input_tokens": 9, "output_tokens": 1}\n')
    schedule = aiperf.write_schedule(read_trace(trace)[0], tmp_path / "s.jsonl")
    assert [json.loads(line) for line in schedule.read_text().splitlines()] == [
        {"timestamp": 1250.0, "input_length": 7, "output_length": 3},
        {"timestamp": 2500.0, "input_length": 9, "output_length": 1}]
    cmd = aiperf.build_trace_command(trace_exp(trace), "http://h:1/", tmp_path / "o",
                                     schedule=schedule, aiperf="aiperf", tokenizer="/tok")
    assert cmd[cmd.index("--input-file") + 1] == str(schedule.resolve())
    assert cmd[cmd.index("--custom-dataset-type") + 1] == "mooncake_trace"
    assert "--fixed-schedule" in cmd and "--fixed-schedule-auto-offset" in cmd
    # the trace's timestamps are the load: no rate, arrival or lengths of AIPerf's own
    assert not {"--request-rate", "--arrival-pattern", "--isl", "--request-count"} & set(cmd)


def test_a_trace_gone_bad_since_validate_is_a_reason_not_a_replay(tmp_path):
    from tuneops.runner.loadgen import rate

    trace = tmp_path / "t.jsonl"
    trace.write_text('{"timestamp": 0, "input_tokens": 7, "output_tokens": 3}\n'
                     '{"timestamp": -1, "input_tokens": 7, "output_tokens": 3}\n')
    outcome = rate.run(trace_exp(trace), "http://127.0.0.1:1", tmp_path / "o", gpu_count=1,
                       aiperf_cli=__file__)
    assert not outcome.ok and "cannot be replayed: line 2" in outcome.reason
    trace.unlink()
    outcome = rate.run(trace_exp(trace), "http://127.0.0.1:1", tmp_path / "o", gpu_count=1,
                       aiperf_cli=__file__)
    assert not outcome.ok and "no such file" in outcome.reason
