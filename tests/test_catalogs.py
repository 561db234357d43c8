"""Flag catalogs: the committed files, and the static readers that generate them.

The reader tests feed small inline sources (a fake server_args.py, a fake vLLM arg_utils)
to the real parsers, so they check the parsing rules rather than today's wheel.
"""

from __future__ import annotations

import json
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "scripts"))

import make_catalogs  # noqa: E402
from catalogs import common, sglang, vllm  # noqa: E402

CATALOGS = ROOT / "schemas" / "catalogs"
KEYS = {"type", "boolean", "choices", "default", "aliases", "nargs", "help"}


def load(engine: str) -> dict:
    return json.loads((CATALOGS / f"{engine}.json").read_text(encoding="utf-8"))


# --------------------------------------------------------------------------- committed files


@pytest.mark.parametrize("engine", ["sglang", "vllm"])
def test_committed_catalog_shape(engine):
    raw = (CATALOGS / f"{engine}.json").read_text(encoding="utf-8")
    doc = json.loads(raw)
    assert raw == common.dumps(doc), "not in the canonical serialization"
    assert doc["engine"] == engine
    assert doc["source"] == {
        "package": engine, "version": make_catalogs.VERSIONS[engine],
        "file": doc["source"]["file"], "generated_by": "scripts/make_catalogs.py"}
    assert doc["source"]["file"].startswith(f"{engine}/")
    names = list(doc["flags"])
    assert names == sorted(names) and len(names) > 200
    spellings = set()
    for name, flag in doc["flags"].items():
        assert set(flag) == KEYS, name
        assert not name.startswith("-")
        assert flag["type"] in common.FLAG_TYPES, name
        assert flag["boolean"] == (flag["type"] == "bool"), name
        assert flag["choices"] is None or (isinstance(flag["choices"], list) and flag["choices"])
        assert all(isinstance(a, str) and not a.startswith("-") for a in flag["aliases"])
        assert len(flag["help"]) <= common.HELP_MAX
        for spelling in [name, *flag["aliases"]]:
            assert spelling not in spellings, f"{spelling} names two flags"
            spellings.add(spelling)


SGLANG_EXPECTED = {
    "tp-size": ("int", False, ["tensor-parallel-size"]),
    "mem-fraction-static": ("float", False, []),
    "disable-radix-cache": ("bool", True, []),
    "enable-torch-compile": ("bool", True, []),
    "max-running-requests": ("int", False, []),
    "chunked-prefill-size": ("int", False, []),
    "schedule-policy": ("str", False, []),
    "model-path": ("str", False, ["model"]),
    "port": ("int", False, []),
}

VLLM_EXPECTED = {
    "tensor-parallel-size": ("int", False, ["tp"]),
    "gpu-memory-utilization": ("float", False, ["device-memory-utilization"]),
    "max-num-seqs": ("int", False, []),
    "max-num-batched-tokens": ("int", False, []),
    "enable-chunked-prefill": ("bool", True, []),
    "enforce-eager": ("bool", True, []),
    "block-size": ("int", False, []),
    "dtype": ("str", False, []),
    "kv-cache-dtype": ("str", False, []),
    "host": ("str", False, []),
    "port": ("int", False, []),
    "served-model-name": ("str", False, []),
}


@pytest.mark.parametrize("engine, expected", [("sglang", SGLANG_EXPECTED),
                                              ("vllm", VLLM_EXPECTED)])
def test_known_flags(engine, expected):
    flags = load(engine)["flags"]
    for name, (type_, boolean, aliases) in expected.items():
        assert name in flags, name
        got = flags[name]
        assert (got["type"], got["boolean"], got["aliases"]) == (type_, boolean, aliases), name


def test_sglang_choices_and_defaults():
    flags = load("sglang")["flags"]
    assert {"lpm", "fcfs", "random"} <= set(flags["schedule-policy"]["choices"])
    assert flags["tp-size"]["default"] == 1
    assert flags["disable-radix-cache"]["default"] is False
    # choices= naming a constant imported from another module of the wheel
    assert {"triton", "flashinfer", "fa3"} <= set(flags["attention-backend"]["choices"])
    # choices built by a helper that returns a list defined in yet another module
    assert "qwen3" in flags["reasoning-parser"]["choices"]


def test_vllm_choices_and_defaults():
    flags = load("vllm")["flags"]
    assert {"auto", "bfloat16", "float16"} <= set(flags["dtype"]["choices"])
    assert flags["port"]["default"] == 8000
    assert flags["tensor-parallel-size"]["default"] == 1
    assert 0 < flags["gpu-memory-utilization"]["default"] < 1
    # `CacheDType | str`: vLLM accepts registered dtypes too, so argparse has no choices
    assert flags["kv-cache-dtype"]["choices"] is None
    assert flags["served-model-name"]["nargs"] == "+"
    # mutation in add_cli_args: `kw["speculative_config"]["type"] = optional_type(json.loads)`
    assert flags["speculative-config"]["type"] == "json"
    assert "sc" in flags["speculative-config"]["aliases"]


# --------------------------------------------------------------------------- static readers

FAKE_SGLANG = {
    "sglang/__init__.py": "",
    "sglang/srt/__init__.py": "",
    "sglang/srt/arg_utils.py": """
        from typing import Annotated
        A = Annotated

        class Arg:
            pass

        def add_cli_args_from_dataclass(parser, cls):
            pass
    """,
    "sglang/srt/consts.py": """
        POLICIES = ["lpm", "fcfs"]
        EXTRA = ("dfs-weight",)
        ALL_POLICIES = POLICIES + list(EXTRA)
    """,
    "sglang/srt/server_args.py": """
        import argparse
        import dataclasses
        import json
        from typing import Optional, Literal
        from sglang.srt.arg_utils import A, Arg, add_cli_args_from_dataclass
        from sglang.srt.consts import ALL_POLICIES
        from sglang.srt import consts

        LOCAL = {"b", "a"}

        def parse_thing(s):
            return s

        @dataclasses.dataclass
        class ServerArgs:
            tp_size: int = 4
            mem_fraction_static: Optional[float] = 0.88
            disable_radix_cache: bool = False
            page_size: A[int, "Tokens per page. More words."] = 16
            mode: A[Literal["x", "y"], Arg(help="Mode.", aliases=["--m"])] = "x"
            hidden: A[int, Arg(help="no", no_cli=True)] = 0

            @staticmethod
            def add_cli_args(parser):
                add_cli_args_from_dataclass(parser, ServerArgs)
                parser.add_argument("--tp-size", "--tensor-parallel-size", type=int,
                                    default=ServerArgs.tp_size, help="TP. Second sentence.")
                parser.add_argument("--mem-fraction-static", type=float,
                                    default=ServerArgs.mem_fraction_static)
                parser.add_argument("--schedule-policy", choices=ALL_POLICIES, default="lpm")
                parser.add_argument("--letters", choices=LOCAL)
                parser.add_argument("--policies-too", choices=consts.POLICIES + ["x"])
                parser.add_argument("--disable-radix-cache", action="store_true")
                parser.add_argument("--fast", action=argparse.BooleanOptionalAction)
                parser.add_argument("--json-arg", type=json.loads, default=None)
                parser.add_argument("--custom", type=parse_thing, nargs="+")
                parser.add_argument("--opaque", choices=some_runtime_call())
                if sys.platform == "darwin":
                    parser.add_argument("--mac-only", type=int)
    """,
}


def _source(files: dict[str, str]) -> common.Source:
    return common.Source({k: textwrap.dedent(v) for k, v in files.items()})


def test_sglang_reader_on_inline_source():
    doc = common.catalog("sglang", "sglang", "0", "f",
                         sglang.flags(_source(FAKE_SGLANG)))
    flags = doc["flags"]
    assert flags["tp-size"] == {
        "type": "int", "boolean": False, "choices": None, "default": 4,
        "aliases": ["tensor-parallel-size"], "nargs": None, "help": "TP."}
    assert flags["mem-fraction-static"]["type"] == "float"
    assert flags["mem-fraction-static"]["default"] == 0.88
    assert flags["schedule-policy"]["choices"] == ["lpm", "fcfs", "dfs-weight"]
    assert flags["letters"]["choices"] == ["a", "b"]  # a set, sorted
    assert flags["policies-too"]["choices"] == ["lpm", "fcfs", "x"]
    assert flags["disable-radix-cache"]["boolean"] is True
    assert flags["fast"]["boolean"] is True
    assert flags["json-arg"]["type"] == "json"
    assert (flags["custom"]["type"], flags["custom"]["nargs"]) == ("str", "+")
    assert flags["opaque"]["choices"] is None and flags["opaque"]["type"] == "str"
    assert "mac-only" in flags
    # declared through annotations (add_cli_args_from_dataclass)
    assert flags["page-size"]["type"] == "int" and flags["page-size"]["default"] == 16
    assert flags["page-size"]["help"] == "Tokens per page."
    assert flags["mode"]["choices"] == ["x", "y"] and flags["mode"]["aliases"] == ["m"]
    assert "hidden" not in flags
    assert list(flags) == sorted(flags)


FAKE_VLLM = {
    "vllm/__init__.py": "",
    "vllm/config/__init__.py": "",
    "vllm/config/utils.py": "def config(cls):\n    return cls\n",
    "vllm/config/cache.py": """
        from typing import Literal
        from pydantic import Field
        from vllm.config.utils import config

        BlockSize = Literal[8, 16, 32]
        CacheDType = Literal["auto", "fp8"]
        Mode = Literal["a", "b"]

        @config
        class CacheConfig:
            block_size: BlockSize | None = None
            '''Block size. More text.'''
            gpu_memory_utilization: float = Field(default=0.9, gt=0)
            cache_dtype: CacheDType | str = "auto"
            mode: Mode = "a"
            enable_prefix_caching: bool | None = None
            sizes: list[int] = Field(default_factory=lambda: [1, 2])
            extra: dict[str, int] | None = None
    """,
    "vllm/engine/__init__.py": "",
    "vllm/engine/arg_utils.py": """
        import argparse
        from vllm.config.cache import CacheConfig

        class EngineArgs:
            @staticmethod
            def add_cli_args(parser):
                cache_kwargs = get_kwargs(CacheConfig)
                group = parser.add_argument_group("Cache")
                group.add_argument("--block-size", **cache_kwargs["block_size"])
                group.add_argument("--gpu-memory-utilization", "-gmu",
                                   **cache_kwargs["gpu_memory_utilization"])
                group.add_argument("--kv-cache-dtype", **cache_kwargs["cache_dtype"])
                cache_kwargs["mode"]["choices"].remove("b")
                group.add_argument("--mode", **cache_kwargs["mode"])
                group.add_argument("--enable-prefix-caching",
                                   **{**cache_kwargs["enable_prefix_caching"], "default": True})
                group.add_argument("--sizes", **cache_kwargs["sizes"])
                group.add_argument("--extra", **cache_kwargs["extra"])
                parser.add_argument("--disable-log-stats", action="store_true")
                return parser

        class AsyncEngineArgs(EngineArgs):
            @staticmethod
            def add_cli_args(parser, async_args_only=False):
                if not async_args_only:
                    parser = EngineArgs.add_cli_args(parser)
                parser.add_argument("--enable-log-requests",
                                    action=argparse.BooleanOptionalAction, default=False)
                return parser
    """,
    "vllm/entrypoints/__init__.py": "",
    "vllm/entrypoints/common/__init__.py": "",
    "vllm/entrypoints/common/cli_args.py": """
        import json
        from dataclasses import dataclass
        from vllm.engine.arg_utils import AsyncEngineArgs

        @dataclass
        class FrontendArgs:
            port: int = 8000
            '''Port number.'''
            api_key: list[str] | None = None

            @classmethod
            def _customize_cli_kwargs(cls, kw):
                kw["api_key"]["type"] = json.loads
                del kw["api_key"]["nargs"]
                return kw

            @classmethod
            def add_cli_args(cls, parser):
                kw = get_kwargs(cls)
                kw = cls._customize_cli_kwargs(kw)
                for key, value in kw.items():
                    parser.add_argument(f"--{key.replace('_', '-')}", **value)
                return parser

        def make_arg_parser(parser):
            parser.add_argument("model_tag", nargs="?")
            parser.add_argument("--headless", action="store_true")
            parser = FrontendArgs.add_cli_args(parser)
            parser = AsyncEngineArgs.add_cli_args(parser)
            return parser
    """,
}


def test_vllm_reader_on_inline_source():
    specs, file = vllm.flags(_source(FAKE_VLLM))
    assert file == "vllm/entrypoints/common/cli_args.py"
    flags = common.catalog("vllm", "vllm", "0", file, specs)["flags"]
    assert set(flags) == {"block-size", "gpu-memory-utilization", "kv-cache-dtype", "mode",
                          "enable-prefix-caching", "sizes", "extra", "disable-log-stats",
                          "enable-log-requests", "headless", "port", "api-key"}
    assert flags["block-size"]["type"] == "int"
    assert flags["block-size"]["choices"] == [8, 16, 32]  # Literal alias, None dropped
    assert flags["block-size"]["help"] == "Block size."
    assert flags["gpu-memory-utilization"]["type"] == "float"
    assert flags["gpu-memory-utilization"]["default"] == 0.9
    assert flags["gpu-memory-utilization"]["aliases"] == ["gmu"]
    assert flags["kv-cache-dtype"]["choices"] is None  # Literal | str -> free string
    assert flags["mode"]["choices"] == ["a"]  # .remove("b") applied
    assert flags["enable-prefix-caching"]["boolean"] is True
    assert flags["enable-prefix-caching"]["default"] is True  # {**kw, "default": True}
    assert (flags["sizes"]["type"], flags["sizes"]["nargs"]) == ("int", "+")
    assert flags["sizes"]["default"] == [1, 2]
    assert flags["extra"]["type"] == "json"
    assert flags["enable-log-requests"]["boolean"] is True
    assert flags["port"]["default"] == 8000 and flags["port"]["help"] == "Port number."
    assert (flags["api-key"]["type"], flags["api-key"]["nargs"]) == ("json", None)


def test_short_help():
    assert common.short_help("Use it.  Then more.") == "Use it."
    assert common.short_help("e.g. a value, see `x`") == "e.g. a value, see `x`"
    assert len(common.short_help("word " * 100)) == common.HELP_MAX


# --------------------------------------------------------------------------- driver


@pytest.mark.slow
def test_check_matches_committed_and_detects_drift(tmp_path, monkeypatch, capsys):
    """--check regenerates SGLang from the (cached) wheel: equal now, 1 once edited."""
    assert make_catalogs.main(["--engine", "sglang", "--check"]) == 0
    stale = tmp_path / "sglang.json"
    doc = load("sglang")
    doc["flags"]["tp-size"]["default"] = 2
    stale.write_text(common.dumps(doc), encoding="utf-8")
    monkeypatch.setattr(make_catalogs, "OUT_DIR", tmp_path)
    assert make_catalogs.main(["--engine", "sglang", "--check"]) == 1
    assert "STALE" in capsys.readouterr().out
