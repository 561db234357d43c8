"""Flag catalogs: the committed files, and the rules that turn a real parser's report into
catalog entries.

The committed files are checked for shape and for the facts that matter when rendering
(inverse spellings, vLLM's single-dash aliases, sizes, JSON types, choices). The rules are
checked on small inline parser reports, so they test the rules rather than today's engine.
Comparing the committed files with the real parsers needs the parser venvs:
tests/scripts/test_real_parsers.py.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from tests.paths import ROOT

sys.path.insert(0, str(ROOT / "scripts"))

import make_catalogs  # noqa: E402
from catalogs import fromparser  # noqa: E402

CATALOGS = ROOT / "schemas" / "catalogs"
KEYS = {"action", "aliases", "boolean", "choices", "default", "dest", "help", "nargs",
        "negations", "type"}
OPTIONAL = {"sizes", "size_decimals", "auto", "const", "folds_case"}
TYPES = {"int", "float", "str", "bool", "json", "json-or-str", "comma-list", "int-or-size",
         "int-or-auto", "int-or-size-or-auto"}
ACTIONS = {"store", "append", "extend", "store_true", "store_false", "boolean_optional",
           "enable_disable", "store_const", "count", "append_const"}


def load(engine: str) -> dict:
    return json.loads((CATALOGS / f"{engine}.json").read_text(encoding="utf-8"))


# --------------------------------------------------------------------------- committed files


@pytest.mark.parametrize("engine", ["sglang", "vllm"])
def test_committed_catalog_shape(engine):
    raw = (CATALOGS / f"{engine}.json").read_text(encoding="utf-8")
    doc = json.loads(raw)
    assert raw == make_catalogs.dumps(doc), "not in the canonical serialization"
    assert doc["engine"] == engine
    assert doc["source"]["version"] == make_catalogs.versions()[engine]
    assert doc["source"]["generated_by"] == "scripts/make_catalogs.py (the real parser)"
    names = list(doc["flags"])
    assert names == sorted(names) and len(names) > 200
    spellings: set[str] = set()
    for name, flag in doc["flags"].items():
        assert KEYS <= set(flag) <= KEYS | OPTIONAL, name
        assert not name.startswith("-")
        assert flag["type"] in TYPES and flag["action"] in ACTIONS, name
        assert flag["boolean"] == (flag["type"] == "bool"), name
        assert flag["choices"] is None or (isinstance(flag["choices"], list) and flag["choices"])
        assert all(a.startswith("-") for a in flag["aliases"] + flag["negations"]), name
        assert flag["negations"] == [] or flag["action"] in ("boolean_optional",
                                                             "enable_disable"), name
        assert len(flag["help"]) <= fromparser.HELP_MAX
        for spelling in [f"--{name}", *flag["aliases"], *flag["negations"]]:
            bare = spelling.lstrip("-")  # experiments write flags without dashes
            assert bare not in spellings, f"{bare} names two flags"
            spellings.add(bare)


# Counts the real parsers give (shared/REFERENCE.md measured the same: 531 / 559, 320 / 433).
COUNTS = {"sglang": (531, 559), "vllm": (320, 433)}


@pytest.mark.parametrize("engine", ["sglang", "vllm"])
def test_every_flag_and_spelling_of_the_real_parser(engine):
    flags = load(engine)["flags"]
    spellings = sum(1 + len(f["aliases"]) + len(f["negations"]) for f in flags.values())
    assert (len(flags), spellings) == COUNTS[engine]


SGLANG_EXPECTED = {  # name: (type, action, aliases, negations)
    "tp-size": ("int", "store", ["--tensor-parallel-size"], []),
    "mem-fraction-static": ("float", "store", [], []),
    "disable-radix-cache": ("bool", "store_true", [], []),
    "model-path": ("str", "store", ["--model"], []),
    "context-length": ("int-or-size", "store", [], []),
    "dllm-fdfo": ("bool", "boolean_optional", [], ["--no-dllm-fdfo"]),
    "enable-tf32-matmul": ("bool", "boolean_optional", [], ["--no-enable-tf32-matmul"]),
    "ep-size": ("int", "store", ["--expert-parallel-size", "--ep"], []),
}

VLLM_EXPECTED = {
    "tensor-parallel-size": ("int", "store", ["-tp"], []),
    "gpu-memory-utilization": ("float", "store", ["--device-memory-utilization"], []),
    "enable-chunked-prefill": ("bool", "enable_disable", [], ["--disable-chunked-prefill"]),
    "enable-prefix-caching": ("bool", "enable_disable", [], ["--disable-prefix-caching"]),
    "async-scheduling": ("bool", "enable_disable", [], ["--no-async-scheduling"]),
    "enable-expert-parallel": ("bool", "enable_disable", ["-ep"],
                               ["--disable-expert-parallel"]),
    "compilation-config": ("json", "store", ["-cc"], []),
    "allowed-origins": ("json", "store", [], []),
    "max-model-len": ("int-or-size-or-auto", "store", [], []),
    "max-num-batched-tokens": ("int-or-size", "store", [], []),
    "device-ids": ("comma-list", "store", [], []),
    "middleware": ("str", "append", [], []),
}


@pytest.mark.parametrize("engine, expected", [("sglang", SGLANG_EXPECTED),
                                              ("vllm", VLLM_EXPECTED)])
def test_known_flags(engine, expected):
    flags = load(engine)["flags"]
    for name, want in expected.items():
        got = flags[name]
        assert (got["type"], got["action"], got["aliases"], got["negations"]) == want, name


def test_inverse_spellings_where_leaving_a_flag_out_is_not_false():
    """The issue's count: 11 SGLang and 17 vLLM booleans default to None or True and have
    an inverse spelling; 4 SGLang store_true flags default to None and have none."""
    for engine, with_inverse, without in (("sglang", 11, 4), ("vllm", 17, 0)):
        flags = load(engine)["flags"]
        not_false = {n: f for n, f in flags.items()
                     if f["boolean"] and f["default"] is not False}
        assert sum(bool(f["negations"]) for f in not_false.values()) == with_inverse, engine
        assert sum(not f["negations"] for f in not_false.values()) == without, engine


def test_vllm_short_aliases_keep_their_single_dash():
    flags = load("vllm")["flags"]
    short = sorted(a for f in flags.values() for a in f["aliases"] if not a.startswith("--"))
    assert len(short) == 23
    assert {"-tp", "-pp", "-dp", "-q", "-cc", "-sc", "-ep", "-n", "-r"} <= set(short)


def test_choices_and_types_the_static_reader_got_wrong():
    sglang, vllm = load("sglang")["flags"], load("vllm")["flags"]
    assert sglang["kv-canary-real-data"]["choices"] == ["none", "partial", "all"]
    assert vllm["log-level"]["choices"] == ["CRITICAL", "ERROR", "WARNING", "INFO", "DEBUG",
                                            "NOTSET"]
    assert vllm["chat-template-content-format"]["choices"] == ["auto", "openai", "string"]
    assert vllm["mm-processor-device"]["choices"] == ["auto", "cpu"]
    assert vllm["lora-dtype"]["choices"] is None  # float32 is accepted too
    assert vllm["max-model-len"]["auto"] == -1
    # The engines disagree on sizes: SGLang's M is 10**6, vLLM's 2**20.
    assert (sglang["context-length"]["sizes"]["M"], vllm["max-model-len"]["sizes"]["M"]) == (
        10**6, 2**20)
    assert "Ki" in sglang["context-length"]["sizes"] and "Ki" not in vllm["max-model-len"]["sizes"]


# --------------------------------------------------------------------------- rules


def probes(**answers) -> dict:
    """A probe table: every probe word refused except the ones given (word=value)."""
    words = {"8": "8", "minus": "-1", "k8": "8k", "dec": "1.5", "auto": "auto", "true": "true",
             "word": "word", "csv": "a,b", "obj": '{"a":1}', "empty": "{}", "lst": '["a"]'}
    out = {w: {"error": "ValueError"} for w in words.values()}
    for key, value in answers.items():
        out[words[key]] = {"ok": value}
    return out


@pytest.mark.parametrize("answers, kind", [
    ({"8": 8, "minus": -1}, "int"),
    ({"8": 8, "k8": 8000}, "int-or-size"),
    ({"8": 8, "auto": -1}, "int-or-auto"),
    ({"8": 8, "k8": 8000, "auto": -1}, "int-or-size-or-auto"),
    ({"8": 8.0, "dec": 1.5}, "float"),
    ({"word": "word", "8": "8"}, "str"),
    ({"obj": {"a": 1}, "lst": ["a"], "8": 8}, "json"),
    ({"empty": {}}, "json"),  # a config dataclass: only its own keys, but a mapping
    ({"obj": {"a": 1}, "word": "word"}, "json-or-str"),
    ({"csv": ["a", "b"], "word": ["word"]}, "comma-list"),
    ({"true": True}, "bool"),
    ({}, "str"),  # refuses every probe: the parser decides
])
def test_value_kind_from_probes(answers, kind):
    assert fromparser.value_kind(probes(**answers)) == kind


def action(options, *, cls="_StoreAction", dest="x", default=None, nargs=None,
           probes_=None, sets=None, choices=None):
    return {"option_strings": options, "action": cls, "dest": dest, "default": default,
            "const": None, "nargs": nargs, "type": None, "choices": choices,
            "required": False, "help": "Help. More.", "probes": probes_, "sets": sets}


def test_entries_from_a_parser_report():
    report = {"actions": [
        action(["--tp-size", "--tensor-parallel-size", "-tp"], dest="tp_size", default=1,
               probes_=probes(**{"8": 8})),
        action(["--enable-x", "--disable-x", "-ex"], cls="EnableDisableAction",
               dest="enable_x", nargs=0,
               sets={"--enable-x": {"ok": True}, "--disable-x": {"ok": False},
                     "-ex": {"ok": True}}),
        action(["--fast", "--no-fast"], cls="BooleanOptionalAction", dest="fast", default=True,
               nargs=0, sets={"--fast": {"ok": True}, "--no-fast": {"ok": False}}),
        action(["--disable-y"], cls="_StoreFalseAction", dest="y", default=True, nargs=0,
               sets={"--disable-y": {"ok": False}}),
        action(["--old"], cls="DeprecatedStoreTrueAction", dest="old", default=False, nargs=0,
               sets={"--old": {"ok": True}}),
        action(["--mw"], cls="_AppendAction", dest="mw", probes_=probes(word="word")),
        action(["--ctx"], dest="ctx", probes_={**probes(**{"8": 8, "k8": 8000}),
                                                 "1k": {"ok": 1000}, "1Ki": {"ok": 1024},
                                                 "2.5k": {"ok": 2500}}),
        action([], dest="model_tag"),  # a positional (vLLM's model): tuneops' own
    ]}
    got = fromparser.entries(report)
    assert list(got) == ["ctx", "disable-y", "enable-x", "fast", "mw", "old", "tp-size"]
    assert got["tp-size"]["aliases"] == ["--tensor-parallel-size", "-tp"]
    assert got["tp-size"]["help"] == "Help."
    assert (got["enable-x"]["action"], got["enable-x"]["aliases"],
            got["enable-x"]["negations"]) == ("enable_disable", ["-ex"], ["--disable-x"])
    assert (got["fast"]["action"], got["fast"]["negations"]) == ("boolean_optional",
                                                                 ["--no-fast"])
    assert (got["disable-y"]["action"], got["disable-y"]["boolean"]) == ("store_false", True)
    assert got["old"]["action"] == "store_true"
    assert (got["mw"]["action"], got["mw"]["type"]) == ("append", "str")
    assert (got["ctx"]["type"], got["ctx"]["sizes"], got["ctx"]["size_decimals"]) == (
        "int-or-size", {"Ki": 1024, "k": 1000}, ["k"])


def test_standins_answer_what_the_parsers_import():
    """torch and the GPU packages are stand-ins: no CUDA, importable, subclassable."""
    code = (
        "import sys; sys.path.insert(0, 'scripts/catalogs'); import standins; "
        "standins.install(); import torch, triton; from torch import nn; "
        "import abc\n"
        "class M(nn.Module, abc.ABC): pass\n"
        "assert torch.cuda.is_available() is False and torch.version.cuda is None\n"
        "assert not hasattr(torch, 'npu') and -torch.finfo(torch.float8_e4m3fn).max is not None\n"
        "assert torch.compile(len) is len and torch.float16 == torch.float16\n"
        "print('ok')"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True,
                         text=True, check=False)
    assert out.stdout.strip() == "ok", out.stderr


def test_check_without_a_parser_venv_fails_with_the_way_to_build_it(monkeypatch, capsys):
    monkeypatch.setattr(make_catalogs.venvs, "CACHE", ROOT / ".cache" / "no-such-folder")
    assert make_catalogs.main(["--engine", "vllm", "--check"]) == 2
    assert "make parser-venvs" in capsys.readouterr().err
