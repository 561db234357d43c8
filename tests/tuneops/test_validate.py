"""The validator rejects bad input with the right words at the right place, and lets good
input through untouched.

Each file in tests/bad/ is one malformed experiment whose header says what must be
reported: `# expect-path:` (the field path), `# expect:` (a substring of the message),
optionally `# expect-hint:`, `# expect-line:`, `# expect-column:`, `# expect-message:`
(the whole message, exactly) and `# expect-file:` (when the problem is in a file the
experiment names, relative to it).
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from jsonschema import Draft202012Validator
from tuneops.deployments.registry import deployment_modes

from tests.paths import ROOT
from tuneops import checks_schema, cli, errors, registry, schemas
from tuneops.metrics import METRICS, REQUEST_SLO_FIELDS
from tuneops.validate import load_experiment, validate_document, validate_file

BAD = sorted((ROOT / "tests" / "bad").glob("*.yaml"))
EXAMPLES = sorted((ROOT / "experiments" / "examples").glob("*.yaml"))
COMMENTED = ROOT / "experiments" / "examples" / "sglang-docker.yaml"  # the fully commented one
SCHEMA = schemas.load_json("experiment.schema.json")


def expectations(path: Path) -> dict[str, str]:
    out = {}
    for line in path.read_text().splitlines():
        if line.startswith("# expect"):
            key, _, value = line[2:].partition(": ")
            out[key] = value
    return out


def test_there_are_many_bad_cases():
    assert len(BAD) >= 30


# Token-shaped values are assembled here, not committed (secret scanners would flag them):
# a bad case names one as <<fake-...-token>> and runs from a copy with it filled in.
FAKE_TOKENS = {
    "<<fake-ghp-token>>": "ghp_" + "0123456789abcdefghij" + "ABCDEFGHIJklmnop",
    "<<fake-hf-token>>": "hf_" + "Ab3dEf6hIj9kLm2nOp5q" + "Rs8tUvWx1yZ2aB3c",
}


def materialize(path: Path, folder: Path) -> Path:
    text = path.read_text()
    if not any(p in text for p in FAKE_TOKENS):
        return path
    for placeholder, token in FAKE_TOKENS.items():
        text = text.replace(placeholder, token)
    out = folder / path.name
    out.write_text(text)
    return out


@pytest.mark.parametrize("path", BAD, ids=lambda p: p.stem)
def test_bad_experiment_is_rejected_with_its_message(path: Path, tmp_path: Path):
    want = expectations(path)
    path = materialize(path, tmp_path)
    exp, diags = validate_file(path)
    assert exp is None
    assert diags, "no diagnostics"
    matching = [
        d
        for d in diags
        if d.path == want["expect-path"]
        and want["expect"] in d.message
        and want.get("expect-hint", "") in d.hint
    ]
    assert matching, "\n".join(map(str, diags))
    d = matching[0]
    # a workload file's problem is at its line in that file (`# expect-file:`, relative)
    where = want.get("expect-file")
    assert d.file == (str((path.parent / where).resolve()) if where else str(path))
    if "expect-line" in want:
        assert d.line == int(want["expect-line"])
    if "expect-column" in want:
        assert d.column == int(want["expect-column"])
    if "expect-message" in want:
        assert d.message == want["expect-message"]
    with pytest.raises(errors.UserError) as info:
        load_experiment(path)
    assert info.value.exit_code == errors.EXIT_USAGE == 2
    assert want["expect"] in str(info.value)


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.stem)
def test_examples_are_valid(path: Path):
    exp, diags = validate_file(path)
    assert diags == []
    assert exp is not None and exp.source_file == str(path)


def test_binary_file(tmp_path: Path):
    path = tmp_path / "x.yaml"
    path.write_bytes(b"apiVersion: tuneops/v1\n\x00\x01\x02")
    _, diags = validate_file(path)
    assert [d.message for d in diags] == ["not a text file (contains NUL bytes)"]


def test_not_utf8(tmp_path: Path):
    path = tmp_path / "x.yaml"
    path.write_bytes(b"kind: \xff\xfe\n")
    _, diags = validate_file(path)
    assert diags[0].message == "not UTF-8 text (bad byte at offset 6)"


def test_missing_file(tmp_path: Path):
    _, diags = validate_file(tmp_path / "nope.yaml")
    assert diags[0].message.startswith("cannot read file")


def test_position_points_at_unknown_key(tmp_path: Path):
    text = COMMENTED.read_text().replace("  maxTrials: 48", "  maxTrails: 48")
    line = next(i for i, t in enumerate(text.splitlines(), 1) if "maxTrails" in t)
    path = tmp_path / "e.yaml"
    path.write_text(text)
    _, diags = validate_file(path)
    assert [(d.line, d.column, d.path, d.hint) for d in diags] == [
        (line, 3, "search.maxTrails", "did you mean 'maxTrials'?")
    ]
    assert str(diags[0]) == (
        f"{path}:{line}:3: search.maxTrails: unknown field 'maxTrails' (did you mean 'maxTrials'?)"
    )


def test_every_schema_error_is_reported_once(tmp_path: Path):
    text = (
        COMMENTED
        .read_text()
        .replace("kind: Experiment", "kind: Experimnt")
        .replace("  repeats: 1", "  repeats: 0")
        .replace("  ipc: host", "  ipc: hots")
        .replace("  maxTrials: 48", "  maxTrials: many")
    )
    path = tmp_path / "e.yaml"
    path.write_text(text)
    _, diags = validate_file(path)
    assert [d.path for d in diags] == [
        "kind",
        "deployment.docker.ipc",
        "benchmark.repeats",
        "search.maxTrials",
    ]
    assert [d.line for d in diags] == sorted(d.line for d in diags)
    assert diags[2].message == "must be at least 1, got 0"


def test_shell_and_template_syntax_pass_where_legal_and_stay_literal(tmp_path: Path):
    """Note for the renderer: these values must reach Docker/Kubernetes as these exact bytes,
    never through a shell or a second Jinja pass (render with autoescape off, values only as
    data, and the docker run line shlex-quoted)."""
    shell, jinja = "$(rm -rf /); `id` && echo $HOME | cat > /tmp/x", "{{ 7*7 }}{% raw %}"
    text = (
        COMMENTED
        .read_text()
        .replace('HF_HUB_OFFLINE: "1"', f"HF_HUB_OFFLINE: {json.dumps(shell)}\n    TPL: '{jinja}'")
        .replace("log-level: warning", f"log-level: warning\n    chat-template: '{jinja}'")
        .replace("{temperature: 0.0}", f"{{temperature: 0.0, stop: {json.dumps(shell)}}}")
    )
    text = re.sub(r"(?m)^  description: .*$", f"  description: {json.dumps(jinja + shell)}", text)
    path = tmp_path / "e.yaml"
    path.write_text(text)
    exp, diags = validate_file(path)
    assert diags == []
    assert exp.engine.env["HF_HUB_OFFLINE"] == shell
    assert exp.engine.env["TPL"] == jinja
    assert exp.engine.args["chat-template"] == jinja
    assert exp.benchmark.additional_request_params["stop"] == shell
    assert exp.description == jinja + shell


def test_config_file_is_read_relative_to_the_experiment(tmp_path: Path):
    (tmp_path / "cfg").mkdir()
    (tmp_path / "cfg" / "config.json").write_text(
        json.dumps(
            {
                "num_hidden_layers": 16,
                "hidden_size": 2048,
                "num_attention_heads": 32,
                "num_key_value_heads": 8,
                "intermediate_size": 8192,
                "vocab_size": 128256,
            }
        )
    )
    text = COMMENTED.read_text()
    start = text.index("  architecture:")
    end = text.index("engine:")
    text = text[:start] + "  configFile: cfg/config.json\n\n" + text[end:]
    good = tmp_path / "good.yaml"
    good.write_text(text)
    exp, diags = validate_file(good)
    assert diags == []
    arch = exp.model.architecture
    assert (arch.layers, arch.attention_heads, arch.kv_heads) == (16, 32, 8)
    assert 1.0e9 < arch.parameters < 1.6e9  # Llama-3.2-1B has 1.24e9
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        text.replace("  disable-radix-cache: {type: bool}", "  tp-size: [1, 3]").replace(
            "count: 1 ", "count: 4 "
        )
    )
    _, diags = validate_file(bad)
    assert [d.message for d in diags] == [
        "tp-size 3 does not divide the model's 32 attention heads"
    ]


def test_config_file_that_is_not_json(tmp_path: Path):
    (tmp_path / "config.json").write_text("secret: not json")
    text = COMMENTED.read_text()
    text = (
        text[: text.index("  architecture:")]
        + "  configFile: config.json\n"
        + text[text.index("engine:") :]
    )
    path = tmp_path / "e.yaml"
    path.write_text(text)
    _, diags = validate_file(path)
    assert [d.message for d in diags] == [
        "'config.json' is not valid JSON (Expecting value at line 1 column 1)"
    ]
    assert "secret" not in str(diags[0])  # the file's content is never echoed


@pytest.mark.parametrize("junk", [None, 0, "x", [], {}, [1], {"a": 1}, True, 1.5])
def test_any_section_of_any_type_gives_diagnostics_not_exceptions(junk):
    from ruamel.yaml import YAML

    sections = list(YAML(typ="rt").load(COMMENTED.read_text()))
    for section in sections:
        doc = YAML(typ="rt").load(COMMENTED.read_text())
        doc[section] = junk
        exp, diags = validate_document(doc, "e.yaml")
        assert (exp is None) == bool(diags), section
        if junk in (0, "x", True, 1.5, {"a": 1}):  # wrong for every section
            assert diags and all(d.message for d in diags), section
            assert diags[0].path.split(".")[0].split("[")[0] == section, diags


def test_cli_validate_exit_codes(tmp_path: Path, capsys):
    assert cli.main(["validate", str(COMMENTED)]) == 0
    assert capsys.readouterr().out == f"{COMMENTED}: ok\n"
    code = cli.main(["validate", "--format", "json", str(BAD[0])])
    assert code == errors.EXIT_USAGE
    report = json.loads(capsys.readouterr().out)
    assert report["files"][0]["ok"] is False and report["errors"] >= 1


def test_cli_validate_lists_at_most_max_diagnostics_in_both_formats(tmp_path: Path, capsys):
    """A generated file with many bad values prints a bounded report, the rest counted."""
    example = ROOT / "experiments" / "examples" / "sim-small.yaml"
    many = errors.MAX_DIAGNOSTICS + 20
    bogus = "".join(f"    bogus-flag-{i}: 1\n" for i in range(many))
    path = tmp_path / "many.yaml"
    path.write_text(example.read_text().replace("  args:\n", "  args:\n" + bogus, 1))
    assert cli.main(["validate", "--format", "json", str(path)]) == errors.EXIT_USAGE
    report = json.loads(capsys.readouterr().out)
    (entry,) = report["files"]
    assert report["errors"] == many
    assert len(entry["errors"]) + len(entry["warnings"]) == errors.MAX_DIAGNOSTICS
    assert entry["notShown"] == many - errors.MAX_DIAGNOSTICS
    assert "bogus-flag-0" in entry["errors"][0]["message"] + entry["errors"][0]["path"]
    assert cli.main(["validate", str(path)]) == errors.EXIT_USAGE
    err = capsys.readouterr().err
    assert sum("bogus-flag-" in line for line in err.splitlines()) == errors.MAX_DIAGNOSTICS
    assert f"... and {many - errors.MAX_DIAGNOSTICS} more problem(s) not shown" in err


# --- the schema itself -------------------------------------------------------------------


def test_schema_is_valid_draft_2020_12():
    Draft202012Validator.check_schema(SCHEMA)
    assert SCHEMA["$schema"] == "https://json-schema.org/draft/2020-12/schema"


def _walk(node, path=""):
    if isinstance(node, dict):
        yield path, node
        for key, value in node.items():
            yield from _walk(value, f"{path}/{key}")
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield from _walk(value, f"{path}/{i}")


def test_every_object_is_closed_and_every_field_described():
    for path, node in _walk(SCHEMA):
        if node.get("type") == "object" and "properties" in node:
            assert node.get("additionalProperties") is False, path
        for name, prop in (node.get("properties") or {}).items():
            if isinstance(prop, dict) and "$ref" not in prop and "/if" not in path:
                assert prop.get("description"), f"{path}/properties/{name}"


def test_enums_come_from_the_registry_and_metrics_tables():
    props = SCHEMA["properties"]
    # the committed schema names no engine (adding one is a table entry, nothing else);
    # validate adds the table's names
    assert "enum" not in props["engine"]["properties"]["name"]
    used = checks_schema.validator().schema["properties"]["engine"]["properties"]["name"]
    assert used["enum"] == list(registry.engine_names()) == sorted(registry.engines())
    assert props["deployment"]["properties"]["mode"]["enum"] == sorted(deployment_modes())
    assert tuple(props["search"]["properties"]["method"]["enum"]) == registry.SEARCH_METHODS
    assert props["objective"]["properties"]["metric"]["enum"] == sorted(METRICS)
    slo = props["slos"]["items"]
    assert slo["properties"]["metric"]["enum"] == sorted([*METRICS, *REQUEST_SLO_FIELDS])
    per_request = slo["allOf"][0]  # perRequest: the request fields; otherwise the table's
    assert per_request["then"]["properties"]["metric"]["enum"] == list(REQUEST_SLO_FIELDS)
    assert per_request["else"]["properties"]["metric"]["enum"] == sorted(METRICS)


def test_task_enum_matches_genai_bench():
    from tuneops.checks_benchmark import TASK_SCENARIOS

    tasks = SCHEMA["properties"]["benchmark"]["properties"]["task"]["enum"]
    assert sorted(tasks) == sorted(TASK_SCENARIOS)
    # Imported in a child: genai_bench monkey-patches the interpreter with gevent on import,
    # which breaks SSL and threads for every test that runs after it in this process.
    import subprocess
    import sys

    code = ("import json; from genai_bench.cli.validation import DEFAULT_SCENARIOS_BY_TASK as d;"
            "print(json.dumps(d))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    defaults_by_task = json.loads(out.stdout.strip().splitlines()[-1])
    assert sorted(defaults_by_task) == sorted(tasks)
    for task, defaults in defaults_by_task.items():
        from tuneops.checks_benchmark import scenario_problem

        assert [s for s in defaults if scenario_problem(s, task)] == [], task


def test_docs_are_generated_from_the_current_schema():
    import subprocess
    import sys

    script = ROOT / "scripts" / "make_experiment_doc.py"
    done = subprocess.run([sys.executable, str(script), "--check"], capture_output=True, text=True)
    assert done.returncode == 0, done.stdout


def _write(tmp_path: Path, **over) -> Path:
    doc = {
        "apiVersion": "tuneops/v1", "kind": "Experiment", "metadata": {"name": "noise"},
        "model": {"id": "model.gguf", "tokenizer": "assets/tokenizer",
                  "architecture": {"layers": 8, "attentionHeads": 8, "kvHeads": 4,
                                   "hiddenSize": 512, "parameters": 2.8e7, "dtypeBytes": 1}},
        "engine": {"name": "llamacpp"},
        "deployment": {"mode": "local", "gpus": {"count": 0}},
        "parameters": {"parallel": [1, 2]},
        "benchmark": {"trafficScenarios": ["D(64,64)"], "concurrency": [1]},
        "objective": {"metric": "output_throughput"},
    }
    for key, value in over.items():
        doc[key] = {**doc.get(key, {}), **value} if isinstance(value, dict) else value
    path = tmp_path / "noise.yaml"
    path.write_text(json.dumps(doc))
    return path


def test_a_p99_slo_from_too_few_requests_warns_but_runs(tmp_path: Path, capsys):
    from tuneops.validate import warnings_for

    path = _write(tmp_path, benchmark={"maxRequestsPerRun": 20, "repeats": 2},
                  slos=[{"metric": "ttft.p99", "max": 500}, {"metric": "ttft.p90", "max": 300}])
    exp, diags = validate_file(path)
    assert exp is not None and diags == []
    warns = warnings_for(path)
    assert [w.path for w in warns] == ["slos[0]"]  # p90 from 40 requests is fine; p99 is not
    assert "judged from at most 40 request(s)" in warns[0].message
    assert "a p99 needs at least 100" in warns[0].message
    assert warns[0].severity == "warning" and warns[0].line > 0
    assert cli.main(["validate", str(path)]) == 0
    err = capsys.readouterr().err
    assert "warning: slos[0]: ttft.p99" in err


def test_default_max_requests_is_enough_for_a_p99(tmp_path: Path):
    from tuneops.validate import warnings_for

    path = _write(tmp_path, slos=[{"metric": "ttft.p99", "max": 500}])
    assert load_experiment(path).benchmark.max_requests_per_run == 100
    assert warnings_for(path) == []


def test_adaptive_repeats_and_cpu_sets_parse(tmp_path: Path):
    path = _write(tmp_path, benchmark={"repeats": {"min": 2, "max": 5, "targetRelativeCI": 0.03}},
                  deployment={"cpus": {"engine": "0-2", "loadGenerator": [3]}},
                  search={"confirm": {"topK": 4, "rounds": 1}})
    exp = load_experiment(path)
    b = exp.benchmark
    assert (b.repeats, b.repeats_max, b.target_relative_ci, b.max_repeats) == (2, 5, 0.03, 5)
    assert exp.deployment.cpus.engine == (0, 1, 2) and exp.deployment.cpus.load_generator == (3,)
    assert (exp.search.confirm_top_k, exp.search.confirm_rounds) == (4, 1)
    off = load_experiment(_write(tmp_path, search={"confirm": False}))
    assert off.search.confirm_top_k == 0


def test_plain_repeats_keep_trial_ids(tmp_path: Path):
    """The adaptive form is new identity; a plain count hashes as before (committed
    manifests and resumable journals keep their trial ids)."""
    from tuneops.plan import make_plan

    one = make_plan(load_experiment(_write(tmp_path))).trials
    again = make_plan(load_experiment(_write(tmp_path, benchmark={"repeats": 1}))).trials
    adaptive = make_plan(load_experiment(_write(
        tmp_path, benchmark={"repeats": {"min": 1, "max": 3}}))).trials
    assert [t.id for t in one] == [t.id for t in again]
    assert not {t.id for t in one} & {t.id for t in adaptive}
