"""llama-server flags land on the right xllamacpp.CommonParams fields, and are real flags."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import pytest
import tuneops.engines.llamacpp.flags as lf
import xllamacpp as x
from tuneops.engines.llamacpp.launcher import build_params

from tests.paths import ROOT

REPO = ROOT
CATALOG = REPO / "schemas" / "catalogs" / "llamacpp.json"


def _engine_binary() -> bytes:
    return (Path(x.__file__).parent / "xllamacpp.abi3.so").read_bytes()


def _catalog_module():
    spec = importlib.util.spec_from_file_location("catalog_llamacpp",
                                                  REPO / "scripts/catalogs/llamacpp.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def _get(obj, dotted: str):
    for name in dotted.split("."):
        obj = getattr(obj, name)
    return obj


def test_every_flag_spelling_is_a_real_llama_server_flag():
    """The names come from llama.cpp's own arg table compiled into the wheel."""
    binary = _engine_binary()
    spellings = [s for f in lf.FLAGS for s in (f"--{f.name}", *f.aliases)]
    missing = [s for s in spellings if b"\0" + s.encode() + b"\0" not in binary]
    assert missing == []


def test_every_flag_targets_an_existing_commonparams_field_of_its_type():
    """Each flag's field exists in this xllamacpp and holds what the flag's type gives: an
    int flag an int field, a float a float, a switch a bool; a string flag may land in a
    string, a list/set of them, or an enum (cache types, flash-attn, load mode)."""
    params = x.CommonParams()
    holds = {"int": (int,), "float": (float,), "bool": (bool,), "str": (str, list, set)}
    wrong = []
    for f in lf.FLAGS:
        value = _get(params, f.field)
        is_enum = hasattr(type(value), "__members__")
        ok = isinstance(value, holds[f.type]) or (f.type == "str" and is_enum)
        if f.type == "int" and isinstance(value, bool):
            ok = False
        if not ok:
            wrong.append((f.name, f.field, type(value).__name__))
    assert wrong == []


def test_values_are_mapped_onto_commonparams():
    p = build_params([
        "-m", "/m.gguf", "--host", "127.0.0.2", "--port", "9001", "-a", "one,two",
        "-np", "3", "-c", "1024", "-b", "256", "-ub", "64", "-t", "2", "-tb", "1",
        "--threads-http", "4", "--poll", "0", "--poll-batch", "10",
        "-ctk", "q8_0", "-ctv", "q4_0", "-fa", "on", "-nocb", "--kv-unified",
        "--cache-reuse", "256", "-cram", "0", "--no-cache-prompt", "-sps", "0.5",
        "--load-mode", "mmap+mlock", "-n", "77", "-s", "42", "--ignore-eos", "--no-warmup",
        "--metrics", "-lv", "1",
    ])
    assert p.model.path == "/m.gguf"
    assert p.hostnames == ["127.0.0.2"]
    assert p.port == 9001
    assert p.model_alias == {"one", "two"}
    assert (p.n_parallel, p.n_ctx, p.n_batch, p.n_ubatch) == (3, 1024, 256, 64)
    assert (p.cpuparams.n_threads, p.cpuparams_batch.n_threads, p.n_threads_http) == (2, 1, 4)
    assert (p.cpuparams.poll, p.cpuparams_batch.poll) == (0, 10)
    assert p.cache_type_k == x.ggml_type.GGML_TYPE_Q8_0
    assert p.cache_type_v == x.ggml_type.GGML_TYPE_Q4_0
    assert p.flash_attn_type == x.llama_flash_attn_type.LLAMA_FLASH_ATTN_TYPE_ENABLED
    assert p.cont_batching is False
    assert p.kv_unified is True
    assert (p.n_cache_reuse, p.cache_ram_mib, p.cache_prompt) == (256, 0, False)
    assert p.slot_prompt_similarity == pytest.approx(0.5)
    assert p.load_mode == x.llama_load_mode.LLAMA_LOAD_MODE_MMAP_MLOCK
    assert (p.n_predict, p.sampling.seed, p.sampling.ignore_eos) == (77, 42, True)
    assert (p.warmup, p.endpoint_metrics, p.verbosity) == (False, True, 1)


def test_defaults_are_llama_servers_not_the_bindings():
    p = build_params(["-m", "/m.gguf"])
    assert p.n_parallel == -1  # llama-server: auto slots; CommonParams() alone says 1
    assert p.hostnames == ["127.0.0.1"]
    assert p.port == 8080
    assert p.cont_batching is True
    assert p.flash_attn_type == x.llama_flash_attn_type.LLAMA_FLASH_ATTN_TYPE_AUTO
    assert p.sampling.seed == x.LLAMA_DEFAULT_SEED


def test_last_of_a_flag_pair_wins():
    assert build_params(["-m", "m", "--no-cont-batching", "--cont-batching"]).cont_batching
    assert not build_params(["-m", "m", "-cb", "-nocb"]).cont_batching


def test_catalog_is_generated_from_the_launcher_table():
    catalog = _catalog_module().build()
    assert json.loads(CATALOG.read_text()) == catalog, "run: python scripts/catalogs/llamacpp.py"
    assert catalog["engine"] == "llamacpp"
    assert catalog["source"]["package"] == "xllamacpp"
    assert catalog["source"]["version"] == x.__version__
    flags = catalog["flags"]
    assert list(flags) == sorted(flags)
    assert set(flags) == {f.name for f in lf.FLAGS}
    for name, spec in flags.items():
        assert spec["type"] in {"int", "float", "str", "bool", "json"}, name
        assert spec["boolean"] == (spec["type"] == "bool"), name
        assert set(spec) == {"type", "boolean", "choices", "default", "aliases", "nargs", "help"}
    assert flags["cache-type-k"]["choices"] == lf.CACHE_TYPES
    assert flags["flash-attn"]["choices"] == ["on", "off", "auto"]
    assert flags["parallel"]["aliases"] == ["np"]
    assert flags["no-cont-batching"]["boolean"] is True


def test_every_catalog_choice_and_default_is_accepted_by_the_launcher():
    """Every choice is accepted (build_params exits 2 on a rejected one) and lands as a
    value of its own on the field (no two choices collapse); every catalog default is
    what the launcher sets without the flag."""
    flags = _catalog_module().build()["flags"]
    by_name = {f.name: f for f in lf.FLAGS}
    plain = build_params(["-m", "m"])
    checked = 0
    for name, spec in flags.items():
        if spec["boolean"] or name == "model":
            continue
        field = by_name[name].field
        if spec["choices"]:
            landed = [_get(build_params(["-m", "m", f"--{name}", str(c)]), field)
                      for c in spec["choices"]]
            assert len(set(map(repr, landed))) == len(spec["choices"]), (name, landed)
            checked += 1
        if spec["default"] is not None:
            got = _get(build_params(["-m", "m", f"--{name}", str(spec["default"])]), field)
            assert got == _get(plain, field), (name, spec["default"], got)
            checked += 1
    assert checked >= 10  # the catalog has choices and defaults to check
