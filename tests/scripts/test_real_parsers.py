"""Every rendered engine command, parsed by the engine's real argument parser.

SGLang 0.5.23 (`ServerArgs.add_cli_args`) and vLLM 0.33.0 (`vllm serve`) run in their
parser venvs (`make parser-venvs`, scripts/catalogs/venvs.py). These tests FAIL, never skip,
when a venv is missing: a suite that skips them proves nothing about what the engines get.

Covered: docker.json, docker-run.sh (after shell word splitting), the local command.json
argv and the OME runtime and InferenceService commands (after `$(VAR)` expansion), of every
example and of generated experiments that tune one flag of every kind in every mode, plus
fixed flags under their other spellings. Each fixed and tuned value must arrive in the
parsed namespace as intended. Validation is held to the same parsers: a value it accepts
must parse, and one it refuses must be refused.
"""

from __future__ import annotations

import pytest
from ruamel.yaml import YAML
from tuneops.renderers.command import flag_words

from tests import realparsers as rp
from tests.paths import ROOT
from tuneops import registry
from tuneops.checks_flags import _value_problem
from tuneops.validate import validate_file

ENGINES = ("sglang", "vllm")
EXAMPLES = [p for p in sorted((ROOT / "experiments" / "examples").glob("*.yaml"))
            if rp.load(p).engine.name in ENGINES]


@pytest.fixture(scope="session", autouse=True)
def parser_venvs():
    missing = [rp.venvs.missing_message(e) for e in ENGINES if not rp.venvs.ready(e)]
    if missing:
        pytest.fail("\n".join(missing), pytrace=False)


def check(exps) -> tuple[int, list[str], set[str]]:
    """(commands parsed, problems, file names seen) over experiments of one engine."""
    rendered = [(exp, c) for exp in exps for c in rp.commands(exp)]
    engine = exps[0].engine.name
    results = rp.parse(engine, [c.words for _, c in rendered])
    out = [p for (exp, c), r in zip(rendered, results, strict=True)
           for p in rp.problems(exp, c, r)]
    return len(rendered), out, {c.where.rpartition("/")[2] for _, c in rendered}


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.stem)
def test_examples_parse_and_deliver_every_value(path):
    count, problems, _ = check([rp.load(path)])
    assert count > 0
    assert problems == []


def test_there_is_an_example_per_engine():
    assert {rp.load(p).engine.name for p in EXAMPLES} == set(ENGINES)


@pytest.mark.slow
@pytest.mark.parametrize("engine", ENGINES)
def test_generated_experiments_cover_every_kind_of_flag(engine, tmp_path):
    exps = []
    for doc in rp.experiments(engine):
        path = tmp_path / f"{doc['metadata']['name']}.yaml"
        with path.open("w") as fh:
            YAML().dump(doc, fh)
        exp, diags = validate_file(path)
        assert diags == [], "\n".join(map(str, diags))
        exps.append(exp)
    kinds = {rp.kind(f) for f in registry.catalog(engine).flags.values()}
    tuned = {rp.kind(registry.catalog(engine).flags[p.name]) for e in exps for p in e.parameters}
    assert kinds - tuned <= {rp.kind(registry.catalog(engine).flags[n]) for n in rp.SKIP
                             if n in registry.catalog(engine).flags}
    count, problems, files = check(exps)
    assert files == {"docker.json", "docker-run.sh", "command.json", "inferenceservice.yaml",
                     "clusterservingruntime.yaml"}
    assert count > 150
    assert problems == []


def test_the_check_catches_a_lost_false_and_a_wrong_spelling():
    """The harness itself: what was rendered before this check existed is caught."""
    exp = rp.load(ROOT / "experiments" / "examples" / "vllm-docker.yaml")
    good = next(c for c in rp.commands(exp) if dict(c.flags)["enable-prefix-caching"] is False)
    lost = rp.Rendered(good.where, tuple(w for w in good.words
                                         if w != "--disable-prefix-caching"), good.flags)
    i = good.words.index("--tensor-parallel-size")
    short = rp.Rendered(good.where, (*good.words[:i], "--tp", *good.words[i + 1:]), good.flags)
    results = rp.parse("vllm", [good.words, lost.words, short.words])
    assert rp.problems(exp, good, results[0]) == []
    assert any("enable-prefix-caching=False: parsed None" in p
               for p in rp.problems(exp, lost, results[1]))
    assert "unrecognized arguments: --tp" in rp.problems(exp, short, results[2])[0]


def test_ome_variables_expand_as_kubernetes_does():
    assert rp.k8s_expand("$(MODEL_PATH)", {"MODEL_PATH": "/m"}) == "/m"
    assert rp.k8s_expand("$$(MODEL_PATH) $$x $(UNSET)", {"MODEL_PATH": "/m"}) == \
        "$(MODEL_PATH) $x $(UNSET)"


# --------------------------------------------------------------------------- validation


def candidates(flag: registry.Flag) -> list:
    """Values to try: the choices, their near misses, and sizes in every spelling."""
    out: list = []
    if flag.choices:
        values = [c for c in flag.choices if c is not None]
        out += values[:6] + [v.swapcase() for v in values[:2] if isinstance(v, str)] + ["bogus"]
    if flag.type.startswith("int-or-"):
        out += [4096, "8k", "8K", "8Ki", "8M", "8m", "2.5k", "2.5K", "2.5Ki", "8x", "auto",
                "AUTO", "-1"]
    elif flag.type in ("int", "float") and not flag.choices:
        out += [2, 0.5, "x"]
    return out


MODEL = {"sglang": ["--model-path", "m"], "vllm": ["m"]}


@pytest.mark.slow
@pytest.mark.parametrize("engine", ENGINES)
def test_validation_accepts_what_the_engine_accepts_and_refuses_the_rest(engine):
    cat = registry.catalog(engine)
    cases = [(f, v) for f in cat.flags.values() if not f.boolean for v in candidates(f)]
    assert len(cases) > 200
    results = rp.parse(engine, [[*MODEL[engine], *flag_words(f.name, v, cat)]
                                for f, v in cases])
    disagree = []
    for (flag, value), result in zip(cases, results, strict=True):
        ours = _value_problem(flag, value) is None
        theirs = "error" not in result
        if ours != theirs:
            disagree.append(f"--{flag.name} {value!r}: validate "
                            f"{'accepts' if ours else 'refuses'}, the engine "
                            f"{'accepts' if theirs else 'refuses: ' + result['error']}")
    assert disagree == []


@pytest.mark.parametrize("engine", ENGINES)
def test_committed_catalog_matches_the_real_parser(engine, capsys):
    import make_catalogs

    assert make_catalogs.main(["--engine", engine, "--check"]) == 0, capsys.readouterr()


@pytest.mark.slow
def test_the_simulator_parses_what_is_rendered_for_sglang(tmp_path):
    """The simulator's parser is generated from SGLang's catalog: every kind of flag the
    renderer writes for SGLang (inverse spellings, sizes, JSON words, lists) parses there
    too, with the intended values."""
    from tuneops.engines.sim import config

    parser = config.build_parser(config.load_catalog())
    count = 0
    for doc in rp.experiments("sglang"):
        if doc["deployment"]["mode"] != "local":
            continue
        doc["engine"]["name"] = "sim"
        path = tmp_path / f"{doc['metadata']['name']}.yaml"
        with path.open("w") as fh:
            YAML().dump(doc, fh)
        exp, diags = validate_file(path)
        assert diags == [], "\n".join(map(str, diags))
        for c in rp.commands(exp):
            ns = vars(parser.parse_args(list(c.words)))
            assert rp.problems(exp, c, {"args": rp.fromparser_jsonable(ns)}) == []
            count += 1
    assert count > 40


def test_check_catches_a_catalog_that_drifted_from_the_parser(tmp_path, monkeypatch, capsys):
    import make_catalogs

    doc = make_catalogs.build_from_parser("sglang", build=False)
    doc["flags"]["dllm-fdfo"]["negations"] = []  # what the static reader used to miss
    (tmp_path / "sglang.json").write_text(make_catalogs.dumps(doc), encoding="utf-8")
    monkeypatch.setattr(make_catalogs, "OUT_DIR", tmp_path)
    assert make_catalogs.main(["--engine", "sglang", "--check"]) == 1
    assert "STALE" in capsys.readouterr().out
