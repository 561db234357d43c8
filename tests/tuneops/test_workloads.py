"""Workload files: ShareGPT conversations and request traces, read once, every bad row
reported at its line; the shipped sample regenerates byte for byte from its seed."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from tests.paths import ROOT
from tuneops.workloads import mean_rate, prompts, read_sharegpt, read_trace

SAMPLE = ROOT / "assets" / "datasets" / "sharegpt-sample.json"
TRACE_SAMPLE = ROOT / "assets" / "datasets" / "trace-sample.jsonl"


def write(tmp_path, name, text):
    path = tmp_path / name
    path.write_text(text)
    return path


# ---------------------------------------------------------------- ShareGPT


def test_the_shipped_sample_is_valid_and_multi_turn():
    conversations, problems = read_sharegpt(SAMPLE)
    assert problems == [] and len(conversations) == 64
    multi = [c for c in conversations if sum(r == "human" for r, _ in c.turns) > 1]
    assert len(multi) >= 16  # enough multi-turn conversations to share prefixes


def test_the_shipped_sample_is_what_its_seeded_script_writes(tmp_path):
    out = tmp_path / "regenerated.json"
    subprocess.run([sys.executable, str(ROOT / "scripts" / "make_sharegpt_sample.py"),
                    "--out", str(out)], check=True, capture_output=True, timeout=60)
    assert out.read_bytes() == SAMPLE.read_bytes()


def test_the_shipped_trace_is_valid_and_bursty():
    rows, problems = read_trace(TRACE_SAMPLE)
    assert problems == [] and len(rows) == 119
    # its 4-second burst holds several times the requests of any quiet 4 seconds
    def within(a, b):
        return sum(a <= r.timestamp < b for r in rows)
    assert within(10, 14) >= 3 * max(within(0, 4), within(20, 24))
    assert 4 < mean_rate(rows) < 7
    assert len({r.input_tokens for r in rows}) > 50  # lengths vary request by request


def test_the_shipped_trace_is_what_its_seeded_script_writes(tmp_path):
    out = tmp_path / "regenerated.jsonl"
    subprocess.run([sys.executable, str(ROOT / "scripts" / "make_trace_sample.py"),
                    "--out", str(out)], check=True, capture_output=True, timeout=60)
    assert out.read_bytes() == TRACE_SAMPLE.read_bytes()


def test_single_turn_sends_first_human_turns_multi_turn_sends_every_turn_with_history():
    conversations, _ = read_sharegpt(SAMPLE)
    single = prompts(conversations)
    assert len(single) == len(conversations)
    assert single[0] == conversations[0].turns[0][1]
    multi = prompts(conversations, multi_turn=True)
    humans = sum(r == "human" for c in conversations for r, _ in c.turns)
    assert len(multi) == humans > len(single)
    # a later turn carries the whole conversation before it: the prefix the cache reuses
    conv = next(c for c in conversations if sum(r == "human" for r, _ in c.turns) > 1)
    i = prompts([conv], multi_turn=True)
    assert i[1].startswith("User: " + conv.turns[0][1]) and conv.turns[1][1] in i[1]
    assert i[1].endswith(conv.turns[2][1])


@pytest.mark.parametrize("text,line,words", [
    ('{"conversations": []}', 1, "one JSON array"),
    ('[\n {"conversations": [{"from": "human", "value": "a"}]},\n {"turns": []}\n]', 3,
     '{"conversations"'),
    ('[\n {"conversations": [{"from": "robot", "value": "a"}]}\n]', 2, "unknown role"),
    ('[\n {"conversations": [{"from": "gpt", "value": "a"}]}\n]', 2, "no human turn"),
    ('[\n {"conversations": [{"from": "human", "value": "a"}]}\n  oops\n]', 3,
     "expected , or ]"),
    ('[\n {"conversations": [{"from": "human", "value": "a"}]}\n] trailing', 3,
     "text after the closing ]"),
    ('[\n {"conversations": [{"from": "human", "value": 7}]}\n]', 2, "each turn is"),
    ("[]", 1, "no conversations"),
    ("[" * 100_000, 1, "nested too deep"),
])
def test_bad_sharegpt_records_are_reported_at_their_line(tmp_path, text, line, words):
    conversations, problems = read_sharegpt(write(tmp_path, "d.json", text))
    assert problems, "accepted"
    assert problems[0].line == line and words in problems[0].message


def test_unreadable_sharegpt_is_a_problem_not_a_crash(tmp_path):
    path = tmp_path / "latin1.json"
    path.write_bytes(b'[{"conversations": [{"from": "human", "value": "caf\xe9"}]}]')
    assert "cannot read it" in read_sharegpt(path)[1][0].message
    assert "cannot read it" in read_sharegpt(tmp_path / "missing.json")[1][0].message


# ---------------------------------------------------------------- traces


def test_a_good_trace_reads_in_order():
    rows, problems = read_trace(ROOT / "tests" / "bad" / "workloads" / "trace-ok.jsonl")
    assert problems == []
    assert [(r.timestamp, r.input_tokens, r.output_tokens) for r in rows] == [
        (0.0, 512, 128), (0.5, 64, 16)]


@pytest.mark.parametrize("row,words", [
    ("not json", "not JSON"),
    ("[1, 2, 3]", "a row is a JSON object"),
    ('{"timestamp": 1}', "missing input_tokens, output_tokens"),
    ('{"timestamp": -1, "input_tokens": 1, "output_tokens": 1}', "seconds >= 0"),
    ('{"timestamp": NaN, "input_tokens": 1, "output_tokens": 1}', "seconds >= 0"),
    ('{"timestamp": true, "input_tokens": 1, "output_tokens": 1}', "seconds >= 0"),
    ('{"timestamp": 1, "input_tokens": 0, "output_tokens": 1}', "input_tokens '0'"),
    ('{"timestamp": 1, "input_tokens": 1.5, "output_tokens": 1}', "input_tokens '1.5'"),
    ('{"timestamp": 1, "input_tokens": 1, "output_tokens": 1e99}', "output_tokens"),
    ('{"timestamp": 1, "input_tokens": 1, "output_tokens": true}', "output_tokens 'True'"),
    ('{"timestamp": 1, "input_tokens": 99999999999, "output_tokens": 1}', "input_tokens"),
    ("[" * 100_000, "not JSON"),
])
def test_bad_trace_rows_are_reported_at_their_line(tmp_path, row, words):
    good = json.dumps({"timestamp": 0, "input_tokens": 8, "output_tokens": 8})
    rows, problems = read_trace(write(tmp_path, "t.jsonl", f"{good}\n\n{row}\n{good}\n"))
    assert [p.line for p in problems] == [3] and words in problems[0].message
    assert len(rows) == 2  # the good rows around it still read


def test_a_broken_trace_stops_at_twenty_problems(tmp_path):
    rows, problems = read_trace(write(tmp_path, "t.jsonl", "x\n" * 1000))
    assert len(problems) == 20 and rows == []
    assert read_trace(write(tmp_path, "e.jsonl", "\n\n"))[1][0].message == "no requests"


def test_negative_tokens_and_a_too_large_trace_are_refused_at_their_line(tmp_path, monkeypatch):
    from tuneops.workloads import trace

    good = json.dumps({"timestamp": 0, "input_tokens": 8, "output_tokens": 8})
    bad = json.dumps({"timestamp": 1, "input_tokens": -5, "output_tokens": 8})
    problems = read_trace(write(tmp_path, "n.jsonl", f"{good}\n{bad}\n"))[1]
    assert [(p.line, "input_tokens '-5'" in p.message) for p in problems] == [(2, True)]
    monkeypatch.setattr(trace, "MAX_ROWS", 3)
    rows, problems = read_trace(write(tmp_path, "big.jsonl", f"{good}\n" * 5))
    assert [p.line for p in problems] == [4] and "more than 3 requests" in problems[0].message
    monkeypatch.setattr(trace, "MAX_FILE_BYTES", 10)
    assert "larger than" in read_trace(tmp_path / "big.jsonl")[1][0].message


def test_a_replay_offers_the_traces_mean_rate(tmp_path):
    from tuneops.workloads import mean_rate

    rows = read_trace(write(tmp_path, "t.jsonl", "".join(
        json.dumps({"timestamp": t, "input_tokens": 8, "output_tokens": 8}) + "\n"
        for t in (10.0, 10.0, 11.0, 14.0))))[0]
    assert mean_rate(rows) == pytest.approx(3 / 4.0)  # 3 gaps over 4 s; the origin is free
    assert mean_rate(rows[:2]) is None and mean_rate(rows[:1]) is None


# ---------------------------------------------------------------- trace replay, validated

TRACE_LOAD = """  trafficScenarios: [trace]
  trace: trace.jsonl
  load: {type: trace}
  warmupRequests: 2
"""


def trace_experiment(tmp_path, bench: str = TRACE_LOAD, rows: str | None = None,
                     objective: str = "goodput_requests_per_s"):
    """sim-poisson.yaml with its benchmark section replaced, and a trace beside it."""
    from tuneops.validate import validate_file

    text = (ROOT / "experiments" / "examples" / "sim-poisson.yaml").read_text()
    head, rest = text.split("benchmark:\n", 1)
    tail = rest[rest.index("objective:"):].replace("max_slo_rate", objective)
    tail = tail.replace("slos:\n", "slos:\n  - {metric: ttft, max: 500, perRequest: true}\n")
    write(tmp_path, "trace.jsonl", rows if rows is not None else "".join(
        json.dumps({"timestamp": t / 2, "input_tokens": 64, "output_tokens": 32}) + "\n"
        for t in range(20)))
    path = write(tmp_path, "exp.yaml", f"{head}benchmark:\n{bench}{tail}")
    return validate_file(path)


def errors(diags):
    return [(d.path, d.message) for d in diags if d.severity == "error"]


def test_a_trace_replay_validates(tmp_path):
    exp, diags = trace_experiment(tmp_path)
    assert errors(diags) == []
    assert exp.benchmark.load.type == "trace" and exp.benchmark.load.max_points == 1


@pytest.mark.parametrize("bench,where,words", [
    (TRACE_LOAD.replace("{type: trace}", "{type: trace, rates: [1, 2]}"),
     "benchmark.load.rates", "rates has no meaning there"),
    (TRACE_LOAD.replace("{type: trace}", "{type: trace, arrival: poisson}"),
     "benchmark.load.arrival", "arrival has no meaning there"),
    (TRACE_LOAD.replace("[trace]", '["D(50,50)"]'),
     "benchmark.trafficScenarios", "must be [trace]"),
    (TRACE_LOAD.replace("  trace: trace.jsonl\n", ""), "benchmark.load.type",
     "replays benchmark.trace, which is not given"),
    (TRACE_LOAD.replace("{type: trace}", "{type: rate, rates: [1], requests: 100}"),
     "benchmark.trafficScenarios[0]", "not at offered rates"),
    (TRACE_LOAD.replace("{type: trace}", "{type: rate, requests: 100}"),
     "benchmark.load.type", "type rate needs rates"),
])
def test_a_trace_replay_refuses_what_it_cannot_honour(tmp_path, bench, where, words):
    msgs = errors(trace_experiment(tmp_path, bench)[1])
    assert any(p == where and words in m for p, m in msgs), msgs


def test_a_trace_cannot_name_a_capacity_objective(tmp_path):
    msgs = errors(trace_experiment(tmp_path, objective="max_slo_rate")[1])
    assert any(p == "objective.metric" and "one point" in m for p, m in msgs), msgs


@pytest.mark.parametrize("rows,line,words", [
    ("", 1, "no requests"),
    ('{"timestamp": 2, "input_tokens": 8, "output_tokens": 8}\n'
     '{"timestamp": 1, "input_tokens": 8, "output_tokens": 8}\n', 2, "before the row above"),
    ('{"timestamp": 0, "input_tokens": 8, "output_tokens": -1}\n', 1, "output_tokens '-1'"),
])
def test_a_bad_trace_is_refused_at_its_file_and_line(tmp_path, rows, line, words):
    diags = trace_experiment(tmp_path, rows=rows)[1]
    found = [d for d in diags if d.file.endswith("trace.jsonl")]
    assert [(d.line, words in d.message) for d in found] == [(line, True)], diags


def test_a_trace_at_one_instant_has_no_rate(tmp_path):
    rows = '{"timestamp": 3, "input_tokens": 8, "output_tokens": 8}\n' * 2
    msgs = errors(trace_experiment(tmp_path, rows=rows)[1])
    assert any(p == "benchmark.trace" and "one instant" in m for p, m in msgs), msgs
